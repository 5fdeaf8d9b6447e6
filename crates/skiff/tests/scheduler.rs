//! The scheduler inside `skiff server`: pods are bound to nodes that fit, and pods that fit
//! nowhere get upstream's PodScheduled=False message and a FailedScheduling event.

mod common;
use common::{json, Server};

fn node(name: &str, cpu: &str, taint: Option<&str>) -> String {
    let taints = taint.map_or(String::new(), |t| {
        format!("  taints:\n  - key: {t}\n    value: \"true\"\n    effect: NoSchedule\n")
    });
    format!(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels:\n    kubernetes.io/hostname: {name}\nspec:\n{taints}status:\n  capacity: {{cpu: \"{cpu}\", memory: 8Gi, pods: \"110\"}}\n  allocatable: {{cpu: \"{cpu}\", memory: 8Gi, pods: \"110\"}}\n  conditions:\n  - type: Ready\n    status: \"True\"\n"
    )
}

fn pod(name: &str, cpu: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: c\n    image: busybox:1\n    resources:\n      requests:\n        cpu: \"{cpu}\"\n")
}

#[test]
fn pods_are_bound_to_nodes_that_fit_and_others_explain_why_not() {
    let s = Server::start();
    s.apply_ok(&["create", "-f", "-"], &node("small", "1", None));
    s.apply_ok(
        &["create", "-f", "-"],
        &node("tainted", "8", Some("dedicated")),
    );
    s.apply_ok(&["create", "-f", "-"], &pod("fits", "500m"));
    s.ok(&[
        "wait",
        "pod/fits",
        "--for=jsonpath={.spec.nodeName}=small",
        "--timeout=30s",
    ]);
    let p = json(&s.ok(&["get", "pod", "fits", "-o", "json"]));
    let cond = p["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "PodScheduled")
        .unwrap()
        .clone();
    assert_eq!(cond["status"], "True");
    // upstream's Scheduled event, written right after the binding
    let scheduled = || {
        s.ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=fits,reason=Scheduled",
            "-o",
            "jsonpath={.items[*].type} {.items[*].source.component}: {.items[*].message}",
        ])
    };
    common::eventually("the Scheduled event", || scheduled().contains("assigned"));
    assert_eq!(
        scheduled(),
        "Normal default-scheduler: Successfully assigned default/fits to small"
    );

    s.apply_ok(&["create", "-f", "-"], &pod("too-big", "2"));
    s.ok(&[
        "wait",
        "pod/too-big",
        "--for=condition=PodScheduled=False",
        "--timeout=30s",
    ]);
    let p = json(&s.ok(&["get", "pod", "too-big", "-o", "json"]));
    let cond = p["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "PodScheduled")
        .unwrap()
        .clone();
    assert_eq!(cond["reason"], "Unschedulable");
    let msg = cond["message"].as_str().unwrap();
    assert!(
        msg.starts_with("0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {dedicated: true}."),
        "{msg}"
    );
    let events = s.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=too-big",
        "-o",
        "jsonpath={.items[*].reason}",
    ]);
    assert!(events.contains("FailedScheduling"), "{events}");

    // a node that fits arrives: the pending pod is retried and bound
    s.apply_ok(&["create", "-f", "-"], &node("big", "4", None));
    s.ok(&[
        "wait",
        "pod/too-big",
        "--for=jsonpath={.spec.nodeName}=big",
        "--timeout=60s",
    ]);
}

#[test]
fn admission_gives_pods_their_priority_and_default_tolerations() {
    let s = Server::start_with(&["--default-unreachable-toleration-seconds", "7"]);
    // The built-in classes exist; a pod naming one gets its value.
    let classes = s.ok(&["get", "priorityclasses", "-o", "name"]);
    assert!(
        classes.contains("priorityclass.scheduling.k8s.io/system-node-critical"),
        "{classes}"
    );
    let critical = pod("critical", "1m").replace(
        "spec:\n",
        "spec:\n  priorityClassName: system-cluster-critical\n",
    );
    s.apply_ok(&["create", "-f", "-"], &critical);
    let p = json(&s.ok(&["get", "pod", "critical", "-o", "json"]));
    assert_eq!(p["spec"]["priority"], 2_000_000_000);
    assert_eq!(p["spec"]["preemptionPolicy"], "PreemptLowerPriority");
    let tolerations: Vec<(String, i64)> = p["spec"]["tolerations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["key"].as_str().unwrap().to_string(),
                t["tolerationSeconds"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        tolerations,
        [
            ("node.kubernetes.io/not-ready".to_string(), 300),
            ("node.kubernetes.io/unreachable".to_string(), 7)
        ]
    );
    // An unknown class is refused like upstream.
    let unknown = pod("lost", "1m").replace("spec:\n", "spec:\n  priorityClassName: gold\n");
    let out = s.with_stdin(&["create", "-f", "-"], &unknown);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Error from server (Forbidden)")
            && err.contains("no PriorityClass with name gold was found"),
        "{err}"
    );
    // A globalDefault class applies to pods naming none.
    s.apply_ok(
        &["create", "-f", "-"],
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: everyday\nvalue: 42\nglobalDefault: true\n",
    );
    s.apply_ok(&["create", "-f", "-"], &pod("plain", "1m"));
    let p = json(&s.ok(&["get", "pod", "plain", "-o", "json"]));
    assert_eq!(p["spec"]["priority"], 42);
    assert_eq!(p["spec"]["priorityClassName"], "everyday");
}
