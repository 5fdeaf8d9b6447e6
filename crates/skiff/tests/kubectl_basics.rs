//! The real kubectl against `skiff server`: discovery, get and its output formats, create,
//! apply, describe, explain, api-resources, and a restart that keeps every object.

mod common;
use common::{json, Server};

#[test]
fn first_start_has_system_namespaces_service_accounts_and_health() {
    let s = Server::start();
    let ns = s.ok(&[
        "get",
        "namespaces",
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ]);
    for want in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(
            ns.split_whitespace().any(|n| n == want),
            "{want} missing from {ns}"
        );
    }
    let sas = s.ok(&[
        "get",
        "serviceaccounts",
        "-A",
        "-o",
        "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {end}",
    ]);
    for want in [
        "default/default",
        "kube-system/default",
        "kube-public/default",
        "kube-node-lease/default",
    ] {
        assert!(sas.contains(want), "{want} missing from {sas}");
    }
    assert_eq!(s.ok(&["get", "--raw", "/readyz"]), "ok");
    assert_eq!(s.ok(&["get", "--raw", "/livez"]), "ok");
    let v = json(&s.ok(&["version", "-o", "json"]));
    assert_eq!(v["serverVersion"]["major"], "1");
    assert_eq!(v["serverVersion"]["minor"], "33");
    let svc = json(&s.ok(&["get", "svc", "kubernetes", "-o", "json"]));
    assert_eq!(svc["spec"]["clusterIP"], "10.43.0.1");
}

#[test]
fn api_resources_and_versions_list_the_ga_groups() {
    let s = Server::start();
    let versions = s.ok(&["api-versions"]);
    for gv in [
        "v1",
        "apps/v1",
        "batch/v1",
        "autoscaling/v2",
        "autoscaling/v1",
        "policy/v1",
        "rbac.authorization.k8s.io/v1",
        "coordination.k8s.io/v1",
        "discovery.k8s.io/v1",
        "events.k8s.io/v1",
        "networking.k8s.io/v1",
        "storage.k8s.io/v1",
        "scheduling.k8s.io/v1",
        "node.k8s.io/v1",
        "certificates.k8s.io/v1",
        "admissionregistration.k8s.io/v1",
        "apiextensions.k8s.io/v1",
    ] {
        assert!(
            versions.lines().any(|l| l == gv),
            "{gv} missing from api-versions:\n{versions}"
        );
    }
    let res = s.ok(&["api-resources", "--no-headers"]);
    let line = res
        .lines()
        .find(|l| l.starts_with("deployments "))
        .expect("deployments listed");
    assert!(
        line.contains("deploy")
            && line.contains("apps/v1")
            && line.contains("true")
            && line.contains("Deployment"),
        "{line}"
    );
    let nodes = res
        .lines()
        .find(|l| l.starts_with("nodes "))
        .expect("nodes listed");
    assert!(nodes.contains("false"), "nodes are cluster-scoped: {nodes}");
}

#[test]
fn create_commands_and_short_names_work() {
    let s = Server::start();
    assert!(s
        .ok(&["create", "namespace", "team-a"])
        .contains("namespace/team-a created"));
    s.ok(&[
        "create",
        "configmap",
        "cfg",
        "-n",
        "team-a",
        "--from-literal=k=v",
    ]);
    s.ok(&[
        "create",
        "secret",
        "generic",
        "sec",
        "-n",
        "team-a",
        "--from-literal=password=hunter2",
    ]);
    s.ok(&[
        "create",
        "deployment",
        "web",
        "-n",
        "team-a",
        "--image=nginx:1.25",
        "--replicas=3",
    ]);
    s.ok(&[
        "create",
        "service",
        "clusterip",
        "web",
        "-n",
        "team-a",
        "--tcp=80:8080",
    ]);
    let all = s.ok(&["get", "po,svc,deploy", "-n", "team-a"]);
    assert!(
        all.contains("service/web") && all.contains("deployment.apps/web"),
        "{all}"
    );
    let cm = json(&s.ok(&["get", "cm", "cfg", "-n", "team-a", "-o", "json"]));
    assert_eq!(cm["data"]["k"], "v");
    let sec = json(&s.ok(&["get", "secret", "sec", "-n", "team-a", "-o", "json"]));
    assert_eq!(sec["type"], "Opaque");
    assert_eq!(sec["data"]["password"], "aHVudGVyMg==");
    let d = json(&s.ok(&["get", "deploy", "web", "-n", "team-a", "-o", "json"]));
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
    assert_eq!(d["metadata"]["generation"], 1);
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(d["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst");
    let svc = json(&s.ok(&["get", "svc", "web", "-n", "team-a", "-o", "json"]));
    let ip = svc["spec"]["clusterIP"].as_str().unwrap();
    assert!(ip.starts_with("10.43."), "{ip}");
    assert_eq!(svc["spec"]["clusterIPs"][0], ip);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 8080);
    assert_eq!(svc["spec"]["sessionAffinity"], "None");
    // a second service never gets the same IP
    s.ok(&[
        "create",
        "service",
        "clusterip",
        "web2",
        "-n",
        "team-a",
        "--tcp=80:8080",
    ]);
    let ip2 = s.ok(&[
        "get",
        "svc",
        "web2",
        "-n",
        "team-a",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    assert_ne!(ip, ip2);
}

#[test]
fn get_output_formats() {
    let s = Server::start();
    s.ok(&["create", "deployment", "web", "--image=nginx:1.25"]);
    let table = s.ok(&["get", "deploy"]);
    let header = table.lines().next().unwrap();
    for col in ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"] {
        assert!(header.contains(col), "{header}");
    }
    let wide = s.ok(&["get", "deploy", "-o", "wide"]);
    assert!(wide.lines().next().unwrap().contains("IMAGES"), "{wide}");
    assert!(wide.contains("nginx:1.25"), "{wide}");
    let yaml = s.ok(&["get", "deploy", "web", "-o", "yaml"]);
    assert!(
        yaml.contains("kind: Deployment") && yaml.contains("name: web"),
        "{yaml}"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}"
        ]),
        "nginx:1.25"
    );
    let cc = s.ok(&[
        "get",
        "deploy",
        "-o",
        "custom-columns=N:.metadata.name,R:.spec.replicas",
    ]);
    assert_eq!(
        cc.lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        vec!["web", "1"]
    );
    let name = s.ok(&["get", "deploy", "-o", "name"]);
    assert_eq!(name.trim(), "deployment.apps/web");
}

#[test]
fn apply_creates_then_is_unchanged_then_configures() {
    let s = Server::start();
    let manifest = common::fixture("deployment.yaml");
    assert!(s
        .apply_ok(&["apply", "-f", "-"], &manifest)
        .contains("deployment.apps/web created"));
    assert!(s
        .apply_ok(&["apply", "-f", "-"], &manifest)
        .contains("deployment.apps/web unchanged"));
    let changed = manifest
        .replace("value: blue", "value: green")
        .replace("replicas: 2", "replicas: 4");
    assert!(s
        .apply_ok(&["apply", "-f", "-"], &changed)
        .contains("deployment.apps/web configured"));
    let d = json(&s.ok(&["get", "deploy", "web", "-o", "json"]));
    assert_eq!(d["spec"]["replicas"], 4);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"],
        "green"
    );
    assert_eq!(d["metadata"]["generation"], 2);
    assert!(
        d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .is_string()
    );
    // removing the env list from the manifest removes it from the object (three-way merge)
    let removed = changed.replace(
        "        env:\n        - name: MODE\n          value: green\n",
        "",
    );
    s.apply_ok(&["apply", "-f", "-"], &removed);
    let d = json(&s.ok(&["get", "deploy", "web", "-o", "json"]));
    assert!(
        d["spec"]["template"]["spec"]["containers"][0]
            .get("env")
            .is_none(),
        "{d}"
    );
}

#[test]
fn server_side_apply_detects_conflicts_between_managers() {
    let s = Server::start();
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\ndata:\n  a: one\n";
    assert!(s
        .apply_ok(
            &["apply", "--server-side", "--field-manager=alice", "-f", "-"],
            cm
        )
        .contains("serverside-applied"));
    let other = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\ndata:\n  a: two\n";
    let out = s.with_stdin(
        &["apply", "--server-side", "--field-manager=bob", "-f", "-"],
        other,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("conflict") && err.contains("alice") && err.contains(".data.a"),
        "{err}"
    );
    s.apply_ok(
        &[
            "apply",
            "--server-side",
            "--field-manager=bob",
            "--force-conflicts",
            "-f",
            "-",
        ],
        other,
    );
    let got = json(&s.ok(&["get", "cm", "shared", "-o", "json", "--show-managed-fields"]));
    assert_eq!(got["data"]["a"], "two");
    let managers: Vec<&str> = got["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["manager"].as_str().unwrap())
        .collect();
    assert!(managers.contains(&"bob"), "{managers:?}");
}

#[test]
fn describe_and_explain() {
    let s = Server::start();
    s.ok(&["create", "configmap", "cfg", "--from-literal=key=value"]);
    let d = s.ok(&["describe", "configmap", "cfg"]);
    assert!(
        d.contains("Name:") && d.contains("cfg") && d.contains("key"),
        "{d}"
    );
    let e = s.ok(&["explain", "deployment.spec.replicas"]);
    assert!(e.contains("replicas") && e.contains("integer"), "{e}");
    let e = s.ok(&["explain", "pods.spec.containers"]);
    assert!(e.contains("image"), "{e}");
}

#[test]
fn restart_keeps_every_object() {
    let mut s = Server::start();
    s.ok(&["create", "namespace", "keep"]);
    for i in 0..20 {
        s.ok(&[
            "create",
            "configmap",
            &format!("c{i}"),
            "-n",
            "keep",
            &format!("--from-literal=i={i}"),
        ]);
    }
    let before = s.ok(&[
        "get",
        "cm",
        "-n",
        "keep",
        "-o",
        "jsonpath={.items[*].metadata.resourceVersion}",
    ]);
    let status = s.stop().expect("stopped");
    assert!(status.success(), "clean shutdown on SIGTERM: {status}");
    s.launch(&[]);
    let after = s.ok(&[
        "get",
        "cm",
        "-n",
        "keep",
        "-o",
        "jsonpath={.items[*].metadata.resourceVersion}",
    ]);
    assert_eq!(before, after);
    assert_eq!(
        s.ok(&["get", "cm", "c7", "-n", "keep", "-o", "jsonpath={.data.i}"]),
        "7"
    );
    // writes continue with higher revisions
    s.ok(&["create", "configmap", "later", "-n", "keep"]);
    let rv: i64 = s
        .ok(&[
            "get",
            "cm",
            "later",
            "-n",
            "keep",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ])
        .parse()
        .unwrap();
    let max_before: i64 = before
        .split_whitespace()
        .map(|r| r.parse::<i64>().unwrap())
        .max()
        .unwrap();
    assert!(rv > max_before);
}
