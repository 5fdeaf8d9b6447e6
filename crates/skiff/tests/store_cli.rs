//! `skiff store`: a snapshot taken while the server runs restores the objects it held,
//! `skiff store check` passes an intact store and names a damaged one in one line, and
//! `skiff store migrate --to etcd://` moves a one-machine cluster into etcd.

mod common;
use common::Server;
use skiff_store_etcd::testing::EtcdCluster;
use std::process::{Command, Output};

fn skiff(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(args)
        .output()
        .expect("run skiff")
}

#[track_caller]
fn ok(args: &[&str]) -> String {
    let out = skiff(args);
    assert!(
        out.status.success(),
        "skiff {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_snapshot_taken_while_serving_restores_the_cluster() {
    if common::on_etcd() {
        return; // this test is about the embedded store
    }
    let mut s = Server::start();
    let dir = s.data_dir().to_str().unwrap().to_string();
    s.ok(&["create", "configmap", "precious", "--from-literal=k=v1"]);
    let snap = s.data_dir().join("backup.snap");
    let out = ok(&[
        "store",
        "snapshot",
        "save",
        snap.to_str().unwrap(),
        "--data-dir",
        &dir,
    ]);
    assert!(out.contains("through the running server"), "{out}");
    // Changes after the snapshot are undone by restoring it.
    s.ok(&["delete", "configmap", "precious"]);
    s.ok(&["create", "configmap", "later"]);
    let err = skiff(&[
        "store",
        "snapshot",
        "restore",
        snap.to_str().unwrap(),
        "--data-dir",
        &dir,
    ]);
    assert!(!err.status.success());
    assert!(
        String::from_utf8_lossy(&err.stderr).contains("stop it before restoring"),
        "{}",
        String::from_utf8_lossy(&err.stderr)
    );
    s.stop();
    let check = ok(&["store", "check", "--data-dir", &dir]);
    assert!(check.contains(": ok — revision"), "{check}");
    let out = ok(&[
        "store",
        "snapshot",
        "restore",
        snap.to_str().unwrap(),
        "--data-dir",
        &dir,
    ]);
    assert!(out.contains("the previous store is kept as"), "{out}");
    s.launch(&[]);
    assert_eq!(
        s.ok(&["get", "cm", "precious", "-o", "jsonpath={.data.k}"]),
        "v1"
    );
    assert!(!s.kubectl(&["get", "cm", "later"]).status.success());
    // It keeps serving writes and watches on the restored store.
    s.ok(&["create", "configmap", "after-restore"]);

    // A snapshot of a stopped server comes from the file; a truncated one is refused.
    s.stop();
    let out = ok(&[
        "store",
        "snapshot",
        "save",
        snap.to_str().unwrap(),
        "--data-dir",
        &dir,
    ]);
    assert!(out.contains("from the store file"), "{out}");
    let bytes = std::fs::read(&snap).unwrap();
    std::fs::write(&snap, &bytes[..bytes.len() - 10]).unwrap();
    let err = skiff(&[
        "store",
        "snapshot",
        "restore",
        snap.to_str().unwrap(),
        "--data-dir",
        &dir,
    ]);
    assert!(!err.status.success());
    let msg = String::from_utf8_lossy(&err.stderr);
    assert!(msg.contains("not a usable Skiff snapshot"), "{msg}");
}

#[test]
fn check_names_a_damaged_store_in_one_line() {
    if common::on_etcd() {
        return;
    }
    let mut s = Server::start();
    for i in 0..50 {
        s.ok(&[
            "create",
            "configmap",
            &format!("c{i}"),
            "--from-literal=k=vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv",
        ]);
    }
    s.stop();
    let dir = s.data_dir().to_str().unwrap().to_string();
    let path = s.data_dir().join("db/state.redb");
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 8192] {
        *b ^= 0xa5;
    }
    std::fs::write(&path, &bytes).unwrap();
    let out = skiff(&["store", "check", "--data-dir", &dir]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("skiff:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("state.redb"), "{err}");
    assert!(
        lines[0].contains("damaged") || lines[0].contains("not a Skiff store"),
        "{err}"
    );
}

#[test]
fn migrate_moves_a_cluster_into_etcd() {
    if common::on_etcd() {
        return;
    }
    let mut s = Server::start();
    s.ok(&["create", "namespace", "team-a"]);
    s.ok(&[
        "create",
        "configmap",
        "moved",
        "-n",
        "team-a",
        "--from-literal=k=v",
    ]);
    s.ok(&["create", "service", "clusterip", "web", "--tcp=80:80"]);
    let ip = s.ok(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    s.stop();
    let etcd = EtcdCluster::start(1);
    let url = etcd.datastore_url();
    let dir = s.data_dir().to_str().unwrap().to_string();
    let out = ok(&["store", "migrate", "--to", &url, "--data-dir", &dir]);
    assert!(out.contains("copied"), "{out}");
    // Into a non-empty etcd: refused.
    let again = skiff(&["store", "migrate", "--to", &url, "--data-dir", &dir]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds a cluster"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    s.launch(&["--datastore", &url]);
    assert_eq!(
        s.ok(&[
            "get",
            "cm",
            "moved",
            "-n",
            "team-a",
            "-o",
            "jsonpath={.data.k}"
        ]),
        "v"
    );
    assert_eq!(
        s.ok(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]),
        ip
    );
    // The allocator's records moved too: a new Service gets another address.
    s.ok(&["create", "service", "clusterip", "api", "--tcp=80:80"]);
    assert_ne!(
        s.ok(&["get", "svc", "api", "-o", "jsonpath={.spec.clusterIP}"]),
        ip
    );
}
