//! `skiff server --datastore etcd://…` against a real etcd (Debian's etcd-server, started by
//! the test on free loopback ports): kubectl works, objects sit under kube-apiserver's key
//! layout, state outlives the server, and two servers on one etcd serve one cluster — a write
//! through one is seen by a watch through the other, ClusterIPs stay unique, and the
//! controllers run once.

mod common;
use common::{eventually, json, Server};
use skiff_store_etcd::testing::EtcdCluster;
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn etcdctl(cluster: &EtcdCluster, args: &[&str]) -> String {
    let out = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={}", cluster.endpoints().join(",")))
        .args(args)
        .output()
        .expect("run etcdctl (apt-get install etcd-client)");
    assert!(
        out.status.success(),
        "etcdctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn kubectl_works_on_etcd_and_state_outlives_the_server() {
    let etcd = EtcdCluster::start(1);
    let url = etcd.datastore_url();
    let mut s = Server::start_with(&["--datastore", &url]);
    assert!(
        s.logs()
            .contains(&format!("skiff: state in etcd at {}", etcd.endpoints()[0])),
        "{}",
        s.logs()
    );
    s.ok(&["create", "configmap", "kept", "--from-literal=k=v"]);
    s.ok(&["create", "namespace", "team-a"]);
    // kube-apiserver's layout, etcd's revision as the resourceVersion
    let keys = etcdctl(
        &etcd,
        &["get", "/registry/configmaps/default/kept", "-w", "json"],
    );
    let kv = &json(&keys)["kvs"][0];
    let rv = s.ok(&[
        "get",
        "cm",
        "kept",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    assert_eq!(kv["mod_revision"].to_string(), rv);
    let names = etcdctl(
        &etcd,
        &["get", "/registry/namespaces/", "--prefix", "--keys-only"],
    );
    assert!(names.contains("/registry/namespaces/team-a"), "{names}");

    // A new server process (even with a fresh data dir for the store) finds everything.
    s.stop();
    s.launch(&["--datastore", &url]);
    assert_eq!(
        s.ok(&["get", "cm", "kept", "-o", "jsonpath={.data.k}"]),
        "v"
    );
    // Watches resume from etcd's history.
    s.ok(&["label", "cm", "kept", "x=1"]);
    let out = s.ok(&[
        "get",
        "--raw",
        &format!(
            "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}&timeoutSeconds=1"
        ),
    ]);
    let first = json(out.lines().next().expect("a watch event"));
    assert_eq!(first["type"], "MODIFIED", "{out}");
    assert_eq!(first["object"]["metadata"]["labels"]["x"], "1");
}

#[test]
fn two_servers_on_one_etcd_serve_one_cluster() {
    let etcd = EtcdCluster::start(1);
    let url = etcd.datastore_url();
    let a = Server::start_with(&["--datastore", &url]);
    let b = Server::start_sharing(&a, &["--datastore", &url]);

    // A watch through B sees a write through A.
    let mut watch = b
        .kubectl_cmd(&["get", "configmaps", "--watch-only", "-o", "name"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl watch");
    std::thread::sleep(std::time::Duration::from_millis(500));
    a.ok(&["create", "configmap", "from-a"]);
    let mut line = String::new();
    BufReader::new(watch.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("a watch line");
    let _ = watch.kill();
    let _ = watch.wait();
    assert_eq!(line.trim(), "configmap/from-a");

    // ClusterIPs allocated through both servers at once never collide.
    let create = |s: &Server, range: std::ops::Range<usize>| {
        for i in range {
            s.ok(&[
                "create",
                "service",
                "clusterip",
                &format!("s{i}"),
                "--tcp=80:80",
            ]);
        }
    };
    std::thread::scope(|scope| {
        scope.spawn(|| create(&a, 0..15));
        scope.spawn(|| create(&b, 15..30));
    });
    let ips = a.ok(&[
        "get",
        "services",
        "-o",
        "jsonpath={.items[*].spec.clusterIP}",
    ]);
    let ips: Vec<&str> = ips.split_whitespace().collect();
    let unique: HashSet<&&str> = ips.iter().collect();
    assert_eq!(ips.len(), 31, "30 services and `kubernetes`: {ips:?}");
    assert_eq!(unique.len(), ips.len(), "duplicate ClusterIPs: {ips:?}");

    // One controller manager leads, so a ReplicaSet gets exactly its replicas (two acting
    // controllers would race and create more).
    let holder = |s: &Server| {
        let out = s.kubectl(&[
            "get",
            "lease",
            "-n",
            "kube-system",
            "kube-controller-manager",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    eventually("a controller-manager leader", || !holder(&a).is_empty());
    assert_eq!(holder(&a), holder(&b));
    b.apply_ok(
        &["apply", "-f", "-"],
        "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: web}\nspec:\n  replicas: 5\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: c, image: busybox}]}\n",
    );
    let pods = || {
        let out = a.ok(&["get", "pods", "-l", "app=web", "-o", "name"]);
        out.lines().count()
    };
    eventually("5 pods", || pods() == 5);
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(pods(), 5);
}

#[test]
fn an_etcd_that_requires_client_certificates() {
    let etcd = EtcdCluster::start_tls(1);
    let url = etcd.datastore_url();
    let tls = etcd.tls().expect("a TLS cluster").clone();
    let path = |p: &Option<std::path::PathBuf>| p.as_ref().unwrap().to_str().unwrap().to_string();
    let (ca, cert, key) = (path(&tls.ca), path(&tls.cert), path(&tls.key));
    let s = Server::start_with(&[
        "--datastore",
        &url,
        "--datastore-cafile",
        &ca,
        "--datastore-certfile",
        &cert,
        "--datastore-keyfile",
        &key,
    ]);
    s.ok(&["create", "configmap", "over-tls"]);
    assert!(
        s.logs().contains("state in etcd at https://127.0.0.1:"),
        "{}",
        s.logs()
    );

    // Without the client certificate etcd refuses the connection: one clear line.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args([
            "server",
            "--disable-agent",
            "--secure-port",
            "0",
            "--datastore",
            &url,
        ])
        .args(["--datastore-cafile", &ca, "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("run skiff");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("skiff:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("etcd"), "{err}");
}
