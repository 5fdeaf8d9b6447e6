//! The real kubectl changing objects: patch (json, merge, strategic), label, annotate,
//! selectors, scale, edit, diff, delete with a finalizer, wait, watch and chunked lists.

mod common;
use common::{json, Server};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

#[test]
fn patch_with_every_patch_type() {
    let s = Server::start();
    let manifest = common::fixture("deployment.yaml");
    s.apply_ok(&["create", "-f", "-"], &manifest);
    s.ok(&[
        "patch",
        "deploy",
        "web",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":5}}"#,
    ]);
    s.ok(&["patch", "deploy", "web", "--type=json", "-p", r#"[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"nginx:1.26"}]"#]);
    // strategic: env is merged by its key `name`, so MODE stays and EXTRA is added
    s.ok(&["patch", "deploy", "web", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","env":[{"name":"EXTRA","value":"1"}]}]}}}}"#]);
    let d = json(&s.ok(&["get", "deploy", "web", "-o", "json"]));
    assert_eq!(d["spec"]["replicas"], 5);
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "nginx:1.26");
    let names: Vec<&str> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["EXTRA", "MODE"]);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // a json patch whose test fails is refused and changes nothing
    let err = s.fails(&[
        "patch",
        "deploy",
        "web",
        "--type=json",
        "-p",
        r#"[{"op":"test","path":"/spec/replicas","value":9}]"#,
    ]);
    assert!(!err.is_empty());
    assert_eq!(
        s.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "5"
    );
}

#[test]
fn labels_annotations_and_selectors() {
    let s = Server::start();
    for (n, tier) in [("a", "front"), ("b", "back"), ("c", "front")] {
        s.ok(&["create", "configmap", n]);
        s.ok(&["label", "configmap", n, &format!("tier={tier}")]);
    }
    s.ok(&["annotate", "configmap", "a", "owner=alice"]);
    assert_eq!(
        s.ok(&[
            "get",
            "cm",
            "-l",
            "tier=front",
            "-o",
            "jsonpath={.items[*].metadata.name}"
        ]),
        "a c"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "cm",
            "-l",
            "tier!=front,tier",
            "-o",
            "jsonpath={.items[*].metadata.name}"
        ]),
        "b"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "cm",
            "-l",
            "tier in (back,front)",
            "-o",
            "jsonpath={.items[*].metadata.name}"
        ]),
        "a b c"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "cm",
            "--field-selector",
            "metadata.name=b",
            "-o",
            "jsonpath={.items[*].metadata.name}"
        ]),
        "b"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "cm",
            "a",
            "-o",
            "jsonpath={.metadata.annotations.owner}"
        ]),
        "alice"
    );
    s.ok(&["label", "configmap", "a", "tier-"]);
    assert_eq!(
        s.ok(&[
            "get",
            "cm",
            "-l",
            "tier=front",
            "-o",
            "jsonpath={.items[*].metadata.name}"
        ]),
        "c"
    );
    let err = s.fails(&["label", "configmap", "b", "tier=front"]);
    assert!(err.contains("already has a value"), "{err}");
    let err = s.fails(&["get", "cm", "--field-selector", "data.x=1"]);
    assert!(err.contains("field label not supported"), "{err}");
}

#[test]
fn scale_changes_replicas_through_the_scale_subresource() {
    let s = Server::start();
    s.ok(&["create", "deployment", "web", "--image=nginx:1.25"]);
    assert!(s
        .ok(&["scale", "deploy", "web", "--replicas=7"])
        .contains("scaled"));
    assert_eq!(
        s.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "7"
    );
    let scale = json(&s.ok(&[
        "get",
        "--raw",
        "/apis/apps/v1/namespaces/default/deployments/web/scale",
    ]));
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"]["replicas"], 7);
    assert_eq!(scale["status"]["selector"], "app=web");
}

#[test]
fn edit_with_a_scripted_editor() {
    let s = Server::start();
    s.ok(&["create", "configmap", "ed", "--from-literal=color=red"]);
    let out = s
        .kubectl_cmd(&["edit", "configmap", "ed"])
        .env("KUBE_EDITOR", "sed -i s/red/blue/")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("edited"));
    assert_eq!(
        s.ok(&["get", "cm", "ed", "-o", "jsonpath={.data.color}"]),
        "blue"
    );
}

#[test]
fn diff_exits_one_on_a_difference() {
    let s = Server::start();
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\ndata:\n  a: one\n";
    s.apply_ok(&["apply", "-f", "-"], cm);
    let same = s.with_stdin(&["diff", "-f", "-"], cm);
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&same.stderr)
    );
    let diff = s.with_stdin(&["diff", "-f", "-"], &cm.replace("one", "two"));
    assert_eq!(
        diff.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&diff.stderr)
    );
    let text = String::from_utf8_lossy(&diff.stdout);
    assert!(
        text.contains("-  a: one") && text.contains("+  a: two"),
        "{text}"
    );
    // diff is a dry run: nothing changed
    assert_eq!(s.ok(&["get", "cm", "d", "-o", "jsonpath={.data.a}"]), "one");
}

#[test]
fn a_finalizer_holds_deletion_until_removed() {
    let s = Server::start();
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers: [example.com/hold]\n";
    s.apply_ok(&["create", "-f", "-"], cm);
    s.ok(&["delete", "cm", "held", "--wait=false"]);
    let obj = json(&s.ok(&["get", "cm", "held", "-o", "json"]));
    assert!(obj["metadata"]["deletionTimestamp"].is_string(), "{obj}");
    s.ok(&[
        "patch",
        "cm",
        "held",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    let err = s.fails(&["get", "cm", "held"]);
    assert!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );
    // plain deletes are immediate
    s.ok(&["create", "configmap", "gone"]);
    assert!(s.ok(&["delete", "cm", "gone"]).contains("deleted"));
    s.fails(&["get", "cm", "gone"]);
}

#[test]
fn wait_for_jsonpath() {
    let s = Server::start();
    s.ok(&["create", "configmap", "w", "--from-literal=state=pending"]);
    let mut waiter = s
        .kubectl_cmd(&[
            "wait",
            "configmap/w",
            "--for=jsonpath={.data.state}=done",
            "--timeout=30s",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    s.ok(&[
        "patch",
        "cm",
        "w",
        "--type=merge",
        "-p",
        r#"{"data":{"state":"done"}}"#,
    ]);
    let status = waiter.wait().unwrap();
    assert!(status.success());
}

#[test]
fn get_watch_sees_an_update() {
    let s = Server::start();
    s.ok(&["create", "configmap", "watched", "--from-literal=v=1"]);
    let mut child = s
        .kubectl_cmd(&[
            "get",
            "configmap",
            "watched",
            "-w",
            "--output-watch-events",
            "-o",
            "jsonpath={.type} {.object.data.v}{\"\\n\"}",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("initial event");
    assert_eq!(first, "ADDED 1");
    s.ok(&[
        "patch",
        "cm",
        "watched",
        "--type=merge",
        "-p",
        r#"{"data":{"v":"2"}}"#,
    ]);
    let second = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("update event");
    assert_eq!(second, "MODIFIED 2");
    let _ = child.kill();
    let _ = child.wait();
}

fn names_of(list: &serde_json::Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn chunked_lists_return_every_object() {
    let s = Server::start();
    let mut yaml = String::new();
    for i in 0..23 {
        yaml.push_str(&format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: chunk-{i:02}\n  labels: {{set: chunk}}\n"));
    }
    s.apply_ok(&["create", "-f", "-"], &yaml);
    let names = s.ok(&[
        "get",
        "cm",
        "-l",
        "set=chunk",
        "--chunk-size=5",
        "-o",
        "name",
    ]);
    assert_eq!(names.lines().count(), 23, "{names}");
    let raw = json(&s.ok(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/configmaps?limit=10",
    ]));
    assert_eq!(raw["items"].as_array().unwrap().len(), 10);
    assert!(raw["metadata"]["continue"].is_string());
    assert!(raw["metadata"]["remainingItemCount"].as_u64().unwrap() >= 13);
    // The pages after the first show the collection as the first page saw it, whatever
    // changed in between, like upstream's continue semantics.
    let first = json(&s.ok(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/configmaps?limit=10&labelSelector=set%3Dchunk",
    ]));
    let page_rv = first["metadata"]["resourceVersion"].clone();
    let mut seen: Vec<String> = names_of(&first);
    s.ok(&["delete", "cm", "chunk-15"]);
    s.apply_ok(
        &["create", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: chunk-99\n  labels: {set: chunk}\n",
    );
    let mut token = first["metadata"]["continue"].as_str().unwrap().to_string();
    loop {
        let page = json(&s.ok(&[
            "get",
            "--raw",
            &format!("/api/v1/namespaces/default/configmaps?limit=10&labelSelector=set%3Dchunk&continue={token}"),
        ]));
        assert_eq!(page["metadata"]["resourceVersion"], page_rv, "{page}");
        seen.extend(names_of(&page));
        match page["metadata"]["continue"].as_str() {
            Some(t) if !t.is_empty() => token = t.to_string(),
            _ => break,
        }
    }
    let want: Vec<String> = (0..23).map(|i| format!("chunk-{i:02}")).collect();
    assert_eq!(seen, want);
    // At resourceVersion "0" the watch cache answers and ignores the limit, like upstream
    // (what client-go reflectors' first lists rely on).
    let any = json(&s.ok(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/configmaps?limit=10&resourceVersion=0&labelSelector=set%3Dchunk",
    ]));
    assert_eq!(any["items"].as_array().unwrap().len(), 23, "{any}");
    assert!(any["metadata"].get("continue").is_none(), "{any}");
    // Without a selector the cache's stored bytes are served with the resourceVersion
    // spliced in: every item whole, with its own resourceVersion, the list's not older.
    let all = json(&s.ok(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/configmaps?resourceVersion=0",
    ]));
    let items = all["items"].as_array().unwrap();
    let list_rv: u64 = all["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let chunk: Vec<_> = items
        .iter()
        .filter(|i| i["metadata"]["labels"]["set"] == "chunk")
        .collect();
    assert_eq!(chunk.len(), 23, "{all}");
    for item in chunk {
        assert_eq!(item["kind"], "ConfigMap", "{item}");
        assert_eq!(item["apiVersion"], "v1", "{item}");
        let rv: u64 = item["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(rv > 0 && rv <= list_rv, "{item}");
    }
}

#[test]
fn custom_resource_definitions_round_trip() {
    let s = Server::start();
    let crd = common::fixture("crd.yaml");
    s.apply_ok(&["apply", "-f", "-"], &crd);
    s.ok(&[
        "wait",
        "crd/crontabs.stable.example.com",
        "--for=condition=Established",
        "--timeout=20s",
    ]);
    let ct = "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: nightly\nspec:\n  cronSpec: '0 3 * * *'\n  image: busybox\n";
    assert!(s
        .apply_ok(&["apply", "-f", "-"], ct)
        .contains("crontab.stable.example.com/nightly created"));
    let table = s.ok(&["get", "ct"]);
    assert!(table.lines().next().unwrap().contains("SPEC"), "{table}");
    assert!(table.contains("0 3 * * *"), "{table}");
    let obj = json(&s.ok(&["get", "crontabs", "nightly", "-o", "json"]));
    assert_eq!(obj["spec"]["replicas"], 1, "schema default applied: {obj}");
    let e = s.ok(&["explain", "crontab.spec"]);
    assert!(e.contains("cronSpec"), "{e}");
    // validation by the schema
    let bad = ct
        .replace("name: nightly", "name: bad")
        .replace("image: busybox", "image: busybox\n  replicas: 50");
    let out = s.with_stdin(&["apply", "-f", "-"], &bad);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("spec.replicas") && err.contains("less than or equal to 10"),
        "{err}"
    );
    s.ok(&["scale", "crontab", "nightly", "--replicas=3"]);
    assert_eq!(
        s.ok(&["get", "ct", "nightly", "-o", "jsonpath={.spec.replicas}"]),
        "3"
    );
    // deleting the CRD deletes its objects and stops serving it
    s.ok(&["delete", "crd", "crontabs.stable.example.com"]);
    let err = s.fails(&["get", "crontabs"]);
    assert!(
        err.contains("the server doesn't have a resource type")
            || err.contains("could not find the requested resource"),
        "{err}"
    );
    let versions = s.ok(&["api-versions"]);
    assert!(!versions.contains("stable.example.com"), "{versions}");
}
