//! The controller manager inside `skiff server`: namespace lifecycle, default ServiceAccounts,
//! and leader election on a Lease.

mod common;
use common::{eventually, json, Server};

#[test]
fn deleting_a_namespace_deletes_everything_in_it() {
    let s = Server::start();
    let crd = common::fixture("crd.yaml");
    s.apply_ok(&["apply", "-f", "-"], &crd);
    s.ok(&["create", "namespace", "doomed"]);
    s.ok(&["create", "configmap", "c", "-n", "doomed"]);
    s.ok(&[
        "create",
        "deployment",
        "d",
        "--image=busybox:1",
        "-n",
        "doomed",
    ]);
    s.apply_ok(&["apply", "-n", "doomed", "-f", "-"], "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: ct\nspec:\n  cronSpec: '* * * * *'\n");
    // kubectl waits for the namespace to be gone
    let out = s.ok(&["delete", "namespace", "doomed", "--timeout=60s"]);
    assert!(out.contains("namespace \"doomed\" deleted"), "{out}");
    s.fails(&["get", "namespace", "doomed"]);
    let left = json(&s.ok(&["get", "--raw", "/apis/stable.example.com/v1/crontabs"]));
    assert_eq!(left["items"].as_array().unwrap().len(), 0, "{left}");
    let cms = json(&s.ok(&["get", "--raw", "/api/v1/configmaps"]));
    assert!(cms["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["metadata"]["namespace"] != "doomed"));
    // the name can be used again
    s.ok(&["create", "namespace", "doomed"]);
}

#[test]
fn every_namespace_gets_a_default_service_account_back() {
    let s = Server::start();
    s.ok(&["create", "namespace", "team"]);
    s.ok(&[
        "wait",
        "-n",
        "team",
        "serviceaccount/default",
        "--for=create",
        "--timeout=30s",
    ]);
    s.ok(&["delete", "serviceaccount", "default", "-n", "team"]);
    eventually("the default ServiceAccount to come back", || {
        s.kubectl(&["get", "sa", "default", "-n", "team"])
            .status
            .success()
    });
}

#[test]
fn a_claim_made_while_no_class_is_default_gets_the_default_class_later() {
    let s = Server::start();
    s.ok(&[
        "wait",
        "storageclass/local-path",
        "--for=create",
        "--timeout=30s",
    ]);
    let default = "storageclass.kubernetes.io/is-default-class";
    s.ok(&[
        "annotate",
        "storageclass",
        "local-path",
        &format!("{default}=false"),
        "--overwrite",
    ]);
    s.apply_ok(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: early\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 1Gi}}\n",
    );
    let class = || {
        s.ok(&[
            "get",
            "pvc",
            "early",
            "-o",
            "jsonpath={.spec.storageClassName}",
        ])
    };
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(class(), "", "no class is the default yet");
    s.ok(&[
        "annotate",
        "storageclass",
        "local-path",
        &format!("{default}=true"),
        "--overwrite",
    ]);
    eventually("the claim to get the default class", || {
        class() == "local-path"
    });
}

#[test]
fn the_controller_manager_and_the_scheduler_hold_their_leases() {
    let s = Server::start();
    holds_its_lease(&s, "kube-controller-manager", "controllers");
    holds_its_lease(&s, "kube-scheduler", "scheduler");
}

/// The Lease `kube-system/<lease>` is held by the server, and a second process
/// (`skiff <subcommand>`) waits instead of taking over.
fn holds_its_lease(s: &Server, lease_name: &str, subcommand: &str) {
    s.ok(&[
        "wait",
        "-n",
        "kube-system",
        &format!("lease/{lease_name}"),
        "--for=create",
        "--timeout=30s",
    ]);
    let lease = json(&s.ok(&[
        "get",
        "lease",
        lease_name,
        "-n",
        "kube-system",
        "-o",
        "json",
    ]));
    assert!(lease["spec"]["holderIdentity"]
        .as_str()
        .unwrap()
        .contains('_'));
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 15);
    // a second manager (`skiff controllers`) waits instead of taking over
    let mut other = std::process::Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args([subcommand, "--kubeconfig"])
        .arg(&s.kubeconfig)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(4));
    let again = json(&s.ok(&[
        "get",
        "lease",
        lease_name,
        "-n",
        "kube-system",
        "-o",
        "json",
    ]));
    assert_eq!(
        again["spec"]["holderIdentity"],
        lease["spec"]["holderIdentity"]
    );
    assert_eq!(
        again["spec"]["leaseTransitions"],
        lease["spec"]["leaseTransitions"]
    );
    let _ = other.kill();
    let _ = other.wait();
}
