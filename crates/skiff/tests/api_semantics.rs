//! API semantics beyond the happy path: compaction and 410, initial-events watches, selector
//! transitions in watches, dry runs, delete-collection, allocator reuse, generation, namespaces
//! that are terminating, and CRDs with several versions or cluster scope.

mod common;
use common::{json, Server};
use futures::{StreamExt, TryStreamExt};
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::{json, Value};
use std::time::Duration;

async fn raw(client: &kube::Client, method: &str, path: &str, body: Value) -> (u16, String) {
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(kube::client::Body::from(bytes))
        .unwrap();
    let resp = client.send(req).await.expect("transport");
    let code = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (code, String::from_utf8_lossy(&body).into_owned())
}

fn cm(name: &str, labels: Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compacted_history_answers_410() {
    let s = Server::start_with(&["--compaction-interval", "300ms"]);
    let c = s.client().await;
    let api: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let first = api
        .create(&PostParams::default(), &cm("old", json!({})))
        .await
        .unwrap();
    let old_rv = first.metadata.resource_version.unwrap();
    // keep writing across several compaction ticks
    for i in 0..8 {
        api.create(&PostParams::default(), &cm(&format!("n{i}"), json!({})))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let (code, body) = raw(&c, "GET", &format!("/api/v1/namespaces/default/configmaps?resourceVersion={old_rv}&resourceVersionMatch=Exact"), Value::Null).await;
    assert_eq!(code, 410, "{body}");
    assert!(
        body.contains("Expired") && body.contains("too old resource version"),
        "{body}"
    );
    let (code, body) = raw(
        &c,
        "GET",
        &format!("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={old_rv}"),
        Value::Null,
    )
    .await;
    assert_eq!(code, 200);
    let ev: Value = serde_json::from_str(body.lines().next().unwrap()).unwrap();
    assert_eq!(ev["type"], "ERROR");
    assert_eq!(ev["object"]["code"], 410);
    assert_eq!(ev["object"]["reason"], "Expired");
    // the current state is intact (kube-root-ca.crt, published by the controller manager,
    // is not ours)
    let ours = api.list(&ListParams::default()).await.unwrap().items;
    let ours = ours
        .iter()
        .filter(|c| c.metadata.name.as_deref() != Some("kube-root-ca.crt"));
    assert_eq!(ours.count(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_events_end_with_an_annotated_bookmark() {
    let s = Server::start();
    let c = s.client().await;
    let api: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    for n in ["a", "b"] {
        api.create(&PostParams::default(), &cm(n, json!({})))
            .await
            .unwrap();
    }
    let (code, body) = raw(
        &c,
        "GET",
        "/api/v1/namespaces/default/configmaps?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1",
        Value::Null,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let events: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["object"]["metadata"]["name"] != "kube-root-ca.crt")
        .collect();
    let names: Vec<&str> = events
        .iter()
        .take(2)
        .map(|e| e["object"]["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["a", "b"]);
    assert_eq!(events[2]["type"], "BOOKMARK");
    assert_eq!(
        events[2]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    // without resourceVersionMatch=NotOlderThan it is refused
    let (code, _) = raw(
        &c,
        "GET",
        "/api/v1/namespaces/default/configmaps?watch=1&sendInitialEvents=true",
        Value::Null,
    )
    .await;
    assert_eq!(code, 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_leaving_a_label_selector_is_deleted_from_the_watch() {
    let s = Server::start();
    let api: Api<ConfigMap> = Api::namespaced(s.client().await, "default");
    api.create(&PostParams::default(), &cm("x", json!({"team": "a"})))
        .await
        .unwrap();
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut w = api
        .watch(&WatchParams::default().labels("team=a").timeout(20), &rv)
        .await
        .unwrap()
        .boxed();
    api.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"team": "b"}}})),
    )
    .await
    .unwrap();
    api.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"team": "a"}}})),
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(10), w.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            WatchEvent::Deleted(o) => {
                seen.push(format!("DELETED {}", o.metadata.labels.unwrap()["team"]))
            }
            WatchEvent::Added(o) => {
                seen.push(format!("ADDED {}", o.metadata.labels.unwrap()["team"]))
            }
            WatchEvent::Modified(_) => seen.push("MODIFIED".into()),
            _ => {}
        }
    }
    assert_eq!(seen, vec!["DELETED b", "ADDED a"]);
}

#[test]
fn dry_runs_persist_nothing() {
    let s = Server::start();
    let out = s.ok(&[
        "create",
        "namespace",
        "dry",
        "--dry-run=server",
        "-o",
        "json",
    ]);
    assert_eq!(json(&out)["metadata"]["name"], "dry");
    s.fails(&["get", "namespace", "dry"]);
    s.apply_ok(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\ndata:\n  a: one\n",
    );
    s.ok(&[
        "patch",
        "cm",
        "keep",
        "--type=merge",
        "-p",
        r#"{"data":{"a":"two"}}"#,
        "--dry-run=server",
    ]);
    s.ok(&["delete", "cm", "keep", "--dry-run=server"]);
    assert_eq!(
        s.ok(&["get", "cm", "keep", "-o", "jsonpath={.data.a}"]),
        "one"
    );
}

#[test]
fn delete_collection_by_label() {
    let s = Server::start();
    let mut yaml = String::new();
    for (n, set) in [("a", "blue"), ("b", "blue"), ("c", "green")] {
        yaml.push_str(&format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {n}\n  labels: {{set: {set}}}\n"));
    }
    s.apply_ok(&["apply", "-f", "-"], &yaml);
    let out = s.ok(&["delete", "cm", "-l", "set=blue"]);
    assert!(
        out.contains("\"a\" deleted") && out.contains("\"b\" deleted"),
        "{out}"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "cm",
            "-l",
            "set",
            "-o",
            "jsonpath={.items[*].metadata.name}"
        ]),
        "c"
    );
    let raw = json(&s.ok(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/configmaps?labelSelector=set",
    ]));
    assert_eq!(raw["items"].as_array().unwrap().len(), 1);
}

#[test]
fn a_deleted_services_cluster_ip_can_be_reused() {
    let s = Server::start();
    let svc = |name: &str| {
        format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  clusterIP: 10.43.7.7\n  ports:\n  - port: 80\n")
    };
    s.apply_ok(&["create", "-f", "-"], &svc("one"));
    let out = s.with_stdin(&["create", "-f", "-"], &svc("two"));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("provided IP is already allocated"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.ok(&["delete", "svc", "one"]);
    s.apply_ok(&["create", "-f", "-"], &svc("two"));
    assert_eq!(
        s.ok(&["get", "svc", "two", "-o", "jsonpath={.spec.clusterIP}"]),
        "10.43.7.7"
    );
    let np = "apiVersion: v1\nkind: Service\nmetadata:\n  name: np\nspec:\n  type: NodePort\n  ports:\n  - port: 80\n";
    s.apply_ok(&["create", "-f", "-"], np);
    let port: u32 = s
        .ok(&[
            "get",
            "svc",
            "np",
            "-o",
            "jsonpath={.spec.ports[0].nodePort}",
        ])
        .parse()
        .unwrap();
    assert!((30000..=32767).contains(&port));
}

#[test]
fn generation_moves_with_the_spec_only() {
    let s = Server::start();
    s.ok(&["create", "deployment", "g", "--image=busybox:1"]);
    s.ok(&["label", "deploy", "g", "x=y"]);
    assert_eq!(
        s.ok(&[
            "get",
            "deploy",
            "g",
            "-o",
            "jsonpath={.metadata.generation}"
        ]),
        "1"
    );
    s.ok(&["set", "image", "deploy/g", "busybox=busybox:2"]);
    assert_eq!(
        s.ok(&[
            "get",
            "deploy",
            "g",
            "-o",
            "jsonpath={.metadata.generation}"
        ]),
        "2"
    );
}

#[test]
fn a_terminating_namespace_accepts_no_new_objects() {
    let s = Server::start();
    s.ok(&["create", "namespace", "going"]);
    // an object with a finalizer keeps the namespace terminating until it is released
    s.apply_ok(
        &["create", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  namespace: going\n  finalizers: [example.com/hold]\n",
    );
    s.ok(&["delete", "namespace", "going", "--wait=false"]);
    assert_eq!(
        s.ok(&["get", "ns", "going", "-o", "jsonpath={.status.phase}"]),
        "Terminating"
    );
    let err = s.fails(&["create", "configmap", "late", "-n", "going"]);
    assert!(err.contains("because it is being terminated"), "{err}");
    s.ok(&[
        "wait",
        "ns/going",
        "--for=jsonpath={.status.conditions[?(@.type==\"NamespaceFinalizersRemaining\")].status}=True",
        "--timeout=30s",
    ]);
    let ns = json(&s.ok(&["get", "ns", "going", "-o", "json"]));
    let cond = ns["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "NamespaceFinalizersRemaining")
        .unwrap()
        .clone();
    assert_eq!(
        cond["message"],
        "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
    );
    s.ok(&[
        "patch",
        "cm",
        "held",
        "-n",
        "going",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    s.ok(&["wait", "ns/going", "--for=delete", "--timeout=30s"]);
}

#[test]
fn crds_with_two_versions_and_cluster_scope() {
    let s = Server::start();
    let crd = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Cluster
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer}}}
  - name: v2
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer}}}
"#;
    s.apply_ok(&["apply", "-f", "-"], crd);
    s.apply_ok(
        &["apply", "-f", "-"],
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  size: 3\n",
    );
    let v2 = json(&s.ok(&["get", "--raw", "/apis/example.com/v2/widgets/w"]));
    assert_eq!(v2["apiVersion"], "example.com/v2");
    assert_eq!(v2["spec"]["size"], 3);
    let list = json(&s.ok(&["get", "--raw", "/apis/example.com/v2/widgets"]));
    assert_eq!(list["items"][0]["apiVersion"], "example.com/v2");
    let res = s.ok(&["api-resources", "--api-group=example.com", "--no-headers"]);
    assert!(
        res.contains("widgets") && res.contains("false"),
        "cluster-scoped: {res}"
    );
    let (_, stderr) = {
        let o = s.kubectl(&["get", "widgets", "-n", "default"]);
        (o.status, String::from_utf8_lossy(&o.stdout).into_owned())
    };
    assert!(stderr.contains('w'), "{stderr}");
}

#[test]
fn events_are_shared_between_core_and_events_k8s_io() {
    let s = Server::start();
    let ev = "apiVersion: v1\nkind: Event\nmetadata:\n  name: e1\ninvolvedObject:\n  kind: Pod\n  name: p\n  namespace: default\nreason: Started\nmessage: started the container\ntype: Normal\nsource:\n  component: kubelet\n";
    s.apply_ok(&["create", "-f", "-"], ev);
    let new = json(&s.ok(&[
        "get",
        "--raw",
        "/apis/events.k8s.io/v1/namespaces/default/events/e1",
    ]));
    assert_eq!(new["apiVersion"], "events.k8s.io/v1");
    assert_eq!(new["note"], "started the container");
    assert_eq!(new["regarding"]["name"], "p");
    let ev2 = "apiVersion: events.k8s.io/v1\nkind: Event\nmetadata:\n  name: e2\neventTime: \"2026-01-01T00:00:00.000000Z\"\nreportingController: example.com/ctl\nreportingInstance: ctl-1\naction: Reconcile\nregarding:\n  kind: Pod\n  name: p\n  namespace: default\nreason: Synced\nnote: synced it\ntype: Normal\n";
    s.apply_ok(&["create", "-f", "-"], ev2);
    let core = json(&s.ok(&[
        "get",
        "events",
        "-o",
        "json",
        "--field-selector",
        "involvedObject.name=p",
    ]));
    let messages: Vec<&str> = core["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, vec!["started the container", "synced it"]);
}

#[test]
fn horizontal_pod_autoscalers_convert_between_v1_and_v2() {
    let s = Server::start();
    s.ok(&["create", "deployment", "web", "--image=busybox:1"]);
    s.ok(&[
        "autoscale",
        "deployment",
        "web",
        "--max=5",
        "--cpu-percent=60",
    ]);
    let v2 = json(&s.ok(&[
        "get",
        "--raw",
        "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/web",
    ]));
    assert_eq!(
        v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
        60
    );
    let v1 = json(&s.ok(&[
        "get",
        "--raw",
        "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/web",
    ]));
    assert_eq!(v1["apiVersion"], "autoscaling/v1");
    assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 60);
    assert_eq!(v1["spec"]["maxReplicas"], 5);
    let table = s.ok(&["get", "hpa"]);
    assert!(table.contains("web") && table.contains("cpu"), "{table}");
}
