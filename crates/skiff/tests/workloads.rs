//! The ReplicaSet and Deployment controllers inside `skiff server` (no nodes run the pods yet,
//! so pods stay Pending: the checks are about objects, ownership and rollout bookkeeping).

mod common;
use common::{eventually, json, Server};
use std::time::Duration;

/// Names of the objects of `what` matching `label`, space-separated.
fn names(s: &Server, what: &str, label: &str) -> String {
    s.ok(&[
        "get",
        what,
        "-l",
        label,
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ])
}

/// How many objects of `what` match `label`.
fn count(s: &Server, what: &str, label: &str) -> usize {
    names(s, what, label).split_whitespace().count()
}

#[test]
fn a_deployment_creates_a_replicaset_that_creates_pods() {
    let s = Server::start();
    s.ok(&[
        "create",
        "deployment",
        "web",
        "--image=busybox:1",
        "--replicas=3",
    ]);
    eventually("3 pods", || count(&s, "pods", "app=web") == 3);
    let rs = json(&s.ok(&["get", "rs", "-l", "app=web", "-o", "json"]));
    let rs = &rs["items"][0];
    assert_eq!(rs["metadata"]["ownerReferences"][0]["kind"], "Deployment");
    assert_eq!(rs["metadata"]["ownerReferences"][0]["controller"], true);
    assert_eq!(
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "1"
    );
    let hash = rs["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(rs["metadata"]["name"].as_str().unwrap().ends_with(&hash));
    let pods = json(&s.ok(&["get", "pods", "-l", "app=web", "-o", "json"]));
    for p in pods["items"].as_array().unwrap() {
        assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
        assert_eq!(p["metadata"]["labels"]["pod-template-hash"], hash.as_str());
    }
    eventually("deployment status", || {
        s.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.status.replicas}/{.status.updatedReplicas}",
        ]) == "3/3"
    });
    // scaling down deletes pods (they are not bound, so they go at once)
    s.ok(&["scale", "deploy", "web", "--replicas=1"]);
    eventually("1 pod", || count(&s, "pods", "app=web") == 1);
    // a deleted pod is replaced
    let name = s.ok(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]);
    s.ok(&["delete", "pod", &name]);
    eventually("a replacement", || {
        let names = names(&s, "pods", "app=web");
        names.split_whitespace().count() == 1 && !names.contains(&name)
    });
}

#[test]
fn a_new_template_starts_a_rolling_update_with_a_second_revision() {
    let s = Server::start();
    s.ok(&[
        "create",
        "deployment",
        "roll",
        "--image=busybox:1",
        "--replicas=2",
    ]);
    eventually("first replicaset", || count(&s, "rs", "app=roll") == 1);
    s.ok(&["set", "image", "deploy/roll", "busybox=busybox:2"]);
    eventually("second replicaset", || count(&s, "rs", "app=roll") == 2);
    // maxSurge 25% of 2 rounds up to 1: one new pod while the old pods stay (none is available)
    eventually("surge pod", || {
        s.ok(&["get", "rs", "-l", "app=roll", "-o", "jsonpath={range .items[*]}{.spec.template.spec.containers[0].image}={.spec.replicas} {end}"])
            .split_whitespace()
            .collect::<std::collections::BTreeSet<_>>()
            == ["busybox:1=2", "busybox:2=1"].into_iter().collect()
    });
    let history = s.ok(&["rollout", "history", "deployment/roll"]);
    assert!(history.contains('1') && history.contains('2'), "{history}");
    assert_eq!(
        s.ok(&[
            "get",
            "deploy",
            "roll",
            "-o",
            "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}"
        ]),
        "2"
    );
}

#[test]
fn deleting_a_deployment_cascades_in_background_and_foreground_and_orphan_keeps_children() {
    let s = Server::start();
    for name in ["bg", "fg", "orph"] {
        s.ok(&[
            "create",
            "deployment",
            name,
            "--image=busybox:1",
            "--replicas=2",
        ]);
    }
    for name in ["bg", "fg", "orph"] {
        let label = format!("app={name}");
        eventually("pods", || count(&s, "pods", &label) == 2);
    }
    s.ok(&["delete", "deployment", "bg"]);
    eventually("background cascade", || {
        names(&s, "rs", "app=bg").is_empty() && names(&s, "pods", "app=bg").is_empty()
    });

    s.ok(&[
        "delete",
        "deployment",
        "fg",
        "--cascade=foreground",
        "--timeout=60s",
    ]);
    s.fails(&["get", "deployment", "fg"]);
    eventually("foreground cascade", || {
        names(&s, "rs", "app=fg").is_empty() && names(&s, "pods", "app=fg").is_empty()
    });

    s.ok(&[
        "delete",
        "deployment",
        "orph",
        "--cascade=orphan",
        "--timeout=60s",
    ]);
    s.fails(&["get", "deployment", "orph"]);
    let rs = json(&s.ok(&["get", "rs", "-l", "app=orph", "-o", "json"]));
    assert_eq!(
        rs["items"].as_array().unwrap().len(),
        1,
        "the ReplicaSet stays"
    );
    assert!(
        rs["items"][0]["metadata"]
            .get("ownerReferences")
            .is_none_or(|r| r.as_array().is_none_or(|a| a.is_empty())),
        "{rs}"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(count(&s, "pods", "app=orph"), 2, "its pods stay");
}
