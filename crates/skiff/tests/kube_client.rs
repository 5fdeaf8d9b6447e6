//! The kube crate (kube-rs) as a client: watch with bookmarks and resume, paginated lists,
//! server-side apply, the status subresource and a dynamic client on a custom resource.

mod common;
use common::Server;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::discovery::ApiResource;
use serde_json::json;
use std::time::Duration;

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}})).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_with_bookmarks_and_resume() {
    let s = Server::start();
    let api: Api<ConfigMap> = Api::namespaced(s.client().await, "default");
    let list = api.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.unwrap();
    let mut stream = api
        .watch(&WatchParams::default().timeout(30), &rv)
        .await
        .unwrap()
        .boxed();
    api.create(&PostParams::default(), &cm("w1")).await.unwrap();
    let mut added_rv = None;
    let mut saw_bookmark = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while (added_rv.is_none() || !saw_bookmark) && tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), stream.try_next()).await {
            Ok(Ok(Some(WatchEvent::Added(o)))) => added_rv = o.metadata.resource_version,
            Ok(Ok(Some(WatchEvent::Bookmark(_)))) => saw_bookmark = added_rv.is_some(),
            Ok(Ok(Some(_))) => {}
            other => panic!("watch ended: {other:?}"),
        }
    }
    let added_rv = added_rv.expect("ADDED seen");
    assert!(saw_bookmark, "a bookmark after the event");
    drop(stream);
    // changes made while nobody watched are replayed when resuming from the last version seen
    api.create(&PostParams::default(), &cm("w2")).await.unwrap();
    api.delete("w1", &Default::default()).await.unwrap();
    let mut resumed = api
        .watch(&WatchParams::default().timeout(10), &added_rv)
        .await
        .unwrap()
        .boxed();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(10), resumed.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            WatchEvent::Added(o) => seen.push(format!("ADDED {}", o.metadata.name.unwrap())),
            WatchEvent::Deleted(o) => seen.push(format!("DELETED {}", o.metadata.name.unwrap())),
            WatchEvent::Modified(o) => seen.push(format!("MODIFIED {}", o.metadata.name.unwrap())),
            _ => {}
        }
    }
    assert_eq!(seen, vec!["ADDED w2", "DELETED w1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paginated_list_sees_a_consistent_snapshot() {
    let s = Server::start();
    let api: Api<ConfigMap> = Api::namespaced(s.client().await, "default");
    for i in 0..12 {
        api.create(&PostParams::default(), &cm(&format!("p{i:02}")))
            .await
            .unwrap();
    }
    let first = api.list(&ListParams::default().limit(5)).await.unwrap();
    assert_eq!(first.items.len(), 5);
    let token = first.metadata.continue_.clone().expect("continue token");
    // created after the first page: not part of the snapshot
    api.create(&PostParams::default(), &cm("p99"))
        .await
        .unwrap();
    let mut names: Vec<String> = first
        .items
        .iter()
        .map(|c| c.metadata.name.clone().unwrap())
        .collect();
    let mut token = Some(token);
    while let Some(t) = token {
        let page = api
            .list(&ListParams::default().limit(5).continue_token(&t))
            .await
            .unwrap();
        names.extend(page.items.iter().map(|c| c.metadata.name.clone().unwrap()));
        token = page.metadata.continue_.filter(|c| !c.is_empty());
    }
    names.retain(|n| n != "kube-root-ca.crt");
    assert_eq!(names.len(), 12, "{names:?}");
    assert!(!names.contains(&"p99".to_string()));
}

/// Metadata-only lists (`PartialObjectMetadataList`, what the garbage collector and
/// `kubectl get` with `--show-kind`-less metadata informers read) carry each object's whole
/// metadata and nothing else, whole, in pages and with a label selector.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_lists_match_the_objects() {
    let s = Server::start();
    let api: Api<ConfigMap> = Api::namespaced(s.client().await, "default");
    for i in 0..7 {
        let mut c = cm(&format!("m{i}"));
        c.metadata.labels = Some([("half".to_string(), (i % 2).to_string())].into());
        c.metadata.annotations = Some([("note".to_string(), format!("n{i}"))].into());
        api.create(&PostParams::default(), &c).await.unwrap();
    }
    for params in [
        ListParams::default(),
        ListParams::default().labels("half=1"),
    ] {
        let full = api.list(&params).await.unwrap();
        let mut pages = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut p = params.clone().limit(3);
            if let Some(t) = &token {
                p = p.continue_token(t);
            }
            let page = api.list_metadata(&p).await.unwrap();
            assert!(page.items.len() <= 3);
            pages.extend(page.items);
            token = page.metadata.continue_.filter(|c| !c.is_empty());
            if token.is_none() {
                break;
            }
        }
        let whole = api.list_metadata(&params).await.unwrap();
        assert_eq!(whole.items.len(), full.items.len());
        assert_eq!(pages.len(), full.items.len());
        for (listed, object) in [&whole.items, &pages]
            .into_iter()
            .flat_map(|items| items.iter().zip(&full.items))
        {
            assert_eq!(listed.metadata, object.metadata);
            assert_eq!(
                listed.types.as_ref().map(|t| t.kind.as_str()),
                Some("PartialObjectMetadata")
            );
        }
    }
    let selected = api
        .list_metadata(&ListParams::default().labels("half=1"))
        .await
        .unwrap();
    assert_eq!(selected.items.len(), 3);
    // No data travels: the raw list has only apiVersion, kind and metadata per item.
    let raw: serde_json::Value = s
        .client()
        .await
        .request(
            http::Request::get("/api/v1/namespaces/default/configmaps?limit=2")
                .header(
                    "Accept",
                    "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
                )
                .body(Vec::new())
                .unwrap(),
        )
        .await
        .unwrap();
    let items = raw["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    for item in items {
        let mut keys: Vec<&str> = item
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort();
        assert_eq!(keys, ["apiVersion", "kind", "metadata"], "{item}");
        assert!(item["metadata"]["resourceVersion"]
            .as_str()
            .is_some_and(|v| !v.is_empty()));
    }
}

/// Patches start from the watch cache's copy (upstream's GuaranteedUpdate), which may trail
/// the store: a patch made right after a write, naming the resourceVersion that write
/// returned, must still apply (the server retries from the store), never answer 409; a patch
/// that is a no-op only on the stale copy must still be written; and a stale resourceVersion
/// must still be refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patches_right_after_writes_see_them() {
    let s = Server::start();
    let api: Api<ConfigMap> = Api::namespaced(s.client().await, "default");
    let mut current = api.create(&PostParams::default(), &cm("rw")).await.unwrap();
    for i in 0..300 {
        let rv = current.metadata.resource_version.clone().unwrap();
        let patch = json!({"metadata": {"resourceVersion": rv}, "data": {"i": i.to_string()}});
        current = api
            .patch("rw", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("patch {i} at {rv}: {e}"));
        assert_eq!(current.data.as_ref().unwrap()["i"], i.to_string());
        // A binding-like change right behind it: JSON patch with a test of the last value.
        let test = json!([
            {"op": "test", "path": "/data/i", "value": i.to_string()},
            {"op": "add", "path": "/data/j", "value": i.to_string()},
        ]);
        let p = serde_json::from_value(test).unwrap();
        api.patch("rw", &PatchParams::default(), &Patch::<()>::Json(p))
            .await
            .unwrap_or_else(|e| panic!("json patch {i}: {e}"));
        // A patch that would be a no-op on a stale copy (k back to "v" right after it became
        // "w") must still be written: the stored object (GET reads the store) shows it.
        for k in ["w", "v"] {
            let back = json!({"data": {"k": k}});
            api.patch("rw", &PatchParams::default(), &Patch::Merge(&back))
                .await
                .unwrap_or_else(|e| panic!("patch k={k} in round {i}: {e}"));
        }
        current = api.get("rw").await.unwrap();
        assert_eq!(current.data.as_ref().unwrap()["k"], "v", "round {i}");
    }
    let stale = json!({"metadata": {"resourceVersion": "1"}, "data": {"i": "x"}});
    let err = api
        .patch("rw", &PatchParams::default(), &Patch::Merge(&stale))
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(e) => assert_eq!((e.code, e.reason.as_str()), (409, "Conflict")),
        other => panic!("{other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_and_status_subresource() {
    // No controller manager: the Deployment controller would write the object (its revision
    // annotation, its status) between the steps below — seen once on etcd as a second apply
    // returning a newer resourceVersion.
    let s = Server::start_with(&["--disable-controller-manager"]);
    let api: Api<Deployment> = Api::namespaced(s.client().await, "default");
    let d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "ssa"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "ssa"}},
                 "template": {"metadata": {"labels": {"app": "ssa"}}, "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}}
    });
    let pp = PatchParams::apply("tester");
    let applied = api.patch("ssa", &pp, &Patch::Apply(&d)).await.unwrap();
    assert_eq!(applied.spec.as_ref().unwrap().replicas, Some(2));
    let mf = applied.metadata.managed_fields.clone().unwrap();
    assert_eq!(mf[0].manager.as_deref(), Some("tester"));
    assert_eq!(mf[0].operation.as_deref(), Some("Apply"));
    // applying the same configuration again changes nothing
    let again = api.patch("ssa", &pp, &Patch::Apply(&d)).await.unwrap();
    assert_eq!(
        again.metadata.resource_version,
        applied.metadata.resource_version
    );
    // status is written only through /status, and does not bump the generation
    let status = json!({"status": {"replicas": 2, "readyReplicas": 1, "observedGeneration": 1}});
    let st = api
        .patch_status("ssa", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    assert_eq!(st.status.as_ref().unwrap().ready_replicas, Some(1));
    assert_eq!(st.metadata.generation, Some(1));
    let ignored = json!({"spec": {"replicas": 2}, "status": {"readyReplicas": 9}});
    let main = api
        .patch("ssa", &PatchParams::default(), &Patch::Merge(&ignored))
        .await
        .unwrap();
    assert_eq!(
        main.status.unwrap().ready_replicas,
        Some(1),
        "status is ignored on the main resource"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_client_on_a_custom_resource() {
    let s = Server::start();
    let crd = common::fixture("crd.yaml");
    s.apply_ok(&["apply", "-f", "-"], &crd);
    let client = s.client().await;
    let ar = ApiResource {
        group: "stable.example.com".into(),
        version: "v1".into(),
        api_version: "stable.example.com/v1".into(),
        kind: "CronTab".into(),
        plural: "crontabs".into(),
    };
    let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &ar);
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "stable.example.com/v1", "kind": "CronTab",
        "metadata": {"name": "dyn"}, "spec": {"cronSpec": "*/5 * * * *", "image": "x", "unknownField": true}
    }))
    .unwrap();
    let created = api.create(&PostParams::default(), &obj).await.unwrap();
    assert_eq!(created.data["spec"]["replicas"], 1);
    assert!(
        created.data["spec"].get("unknownField").is_none(),
        "pruned: {:?}",
        created.data
    );
    let list = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    let patched = api
        .patch_status(
            "dyn",
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {"replicas": 4}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.data["status"]["replicas"], 4);
    api.delete("dyn", &Default::default()).await.unwrap();
    assert!(api.get_opt("dyn").await.unwrap().is_none());
}
