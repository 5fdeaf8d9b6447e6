//! The node agent against a real containerd (started by the agent itself): registration,
//! node status true to the machine, the Lease, the pod CIDR and CNI config, containerd
//! supervision and adoption across agent restarts. Needs root and Debian's containerd, runc
//! and containernetworking-plugins (`.ci/run` installs them).

mod common;
use common::pods::{busybox_pod, field, http_get, images, import_busybox, ready};
use common::{alive, eventually, json, Server};

#[test]
fn an_agent_runs_containerd_and_keeps_a_ready_node_registered() {
    let s = Server::start();
    let mut a = s.agent(
        "agent-a",
        &[
            "--reserved-memory",
            "256Mi",
            "--node-label",
            "team=infra",
            "--cni-bridge",
            "sktest-a",
        ],
    );
    eventually("the agent's node Ready", || ready(&s, "agent-a"));
    // The agent re-executed itself (same pid) with mimalloc's settings for a small idle heap.
    let environ = std::fs::read(format!("/proc/{}/environ", a.pid().unwrap())).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    for setting in ["MIMALLOC_PURGE_DELAY=0", "MIMALLOC_ARENA_EAGER_COMMIT=0"] {
        assert!(
            environ.split('\0').any(|v| v == setting),
            "{setting} in {environ}"
        );
    }

    let n = json(&s.ok(&["get", "node", "agent-a", "-o", "json"]));
    let info = &n["status"]["nodeInfo"];
    let runtime = info["containerRuntimeVersion"].as_str().unwrap();
    assert!(runtime.starts_with("containerd://1."), "{runtime}");
    assert!(!info["kernelVersion"].as_str().unwrap().is_empty());
    assert!(!info["osImage"].as_str().unwrap().is_empty());
    assert_eq!(info["operatingSystem"], "linux");
    let labels = &n["metadata"]["labels"];
    assert_eq!(labels["kubernetes.io/hostname"], "agent-a");
    assert_eq!(labels["kubernetes.io/os"], "linux");
    assert_eq!(labels["team"], "infra");
    let cap = &n["status"]["capacity"];
    assert_eq!(cap["pods"], "110");
    let cpus: u32 = cap["cpu"].as_str().unwrap().parse().unwrap();
    assert!(cpus >= 1);
    let kib = |q: &serde_json::Value| -> u64 {
        q.as_str()
            .unwrap()
            .strip_suffix("Ki")
            .unwrap()
            .parse()
            .unwrap()
    };
    let mem = kib(&cap["memory"]);
    let alloc = kib(&n["status"]["allocatable"]["memory"]);
    assert_eq!(
        mem - alloc,
        (256 + 100) * 1024,
        "reserved 256Mi + eviction threshold 100Mi"
    );
    for t in ["MemoryPressure", "DiskPressure", "PIDPressure"] {
        let c = n["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == t)
            .unwrap_or_else(|| panic!("no {t} condition"));
        assert_eq!(c["status"], "False", "{t}");
    }
    // The control plane gave the node a /24 of the cluster CIDR; the agent wrote the CNI
    // config for it, which is what made containerd's network (and so the node) ready.
    let cidr = n["spec"]["podCIDR"].as_str().unwrap();
    assert!(
        cidr.starts_with("10.42.") && cidr.ends_with("/24"),
        "{cidr}"
    );
    let conflist = std::fs::read_to_string(a.data_dir.join("agent/cni/net.d/10-skiff.conflist"))
        .expect("CNI config");
    assert!(conflist.contains(cidr), "{conflist}");

    // The Lease is held by the node and renewed.
    let renew = || {
        s.ok(&[
            "get",
            "lease",
            "-n",
            "kube-node-lease",
            "agent-a",
            "-o",
            "jsonpath={.spec.holderIdentity} {.spec.renewTime}",
        ])
    };
    let first = renew();
    assert!(first.starts_with("agent-a "), "{first}");
    eventually("the Lease renewed", || renew() != first);

    // The sandbox image was built from busybox and imported; an image archive built here
    // imports with `skiff images import` and is listed.
    let ls = images(&a.data_dir, &["ls"]);
    assert!(
        ls.lines()
            .any(|l| l.starts_with("registry.k8s.io/pause ") && l.contains(" 3.6 ")),
        "{ls}"
    );
    import_busybox(&a.data_dir);
    let ls = images(&a.data_dir, &["ls"]);
    assert!(
        ls.lines()
            .any(|l| l.starts_with("skiff.test/busybox ") && l.contains(" v1 ")),
        "{ls}"
    );

    // A pod sandbox runs on that containerd: the pause image starts (so the containerd config
    // suits this machine) and CNI gives it an address in the node's pod CIDR.
    let socket = a.data_dir.join("agent/containerd/containerd.sock");
    let ip = sandbox_ip(&socket);
    let prefix = cidr.trim_end_matches("0/24");
    assert!(ip.starts_with(prefix), "sandbox IP {ip} outside {cidr}");

    // containerd killed: the agent starts a new one and the node stays Ready.
    let old = a.containerd_pid().expect("containerd pid file");
    assert!(alive(old));
    common::signal(old, "KILL");
    eventually("containerd restarted", || {
        a.containerd_pid().is_some_and(|p| p != old && alive(p))
    });
    let restarted = a.containerd_pid().unwrap();
    eventually("the node Ready after the restart", || ready(&s, "agent-a"));

    // The agent killed and started again: it adopts the running containerd.
    a.kill();
    assert!(alive(restarted), "containerd must outlive the agent");
    a.launch();
    eventually("the restarted agent adopts containerd", || {
        a.logs().contains("adopted the running containerd")
    });
    assert_eq!(a.containerd_pid(), Some(restarted));
    eventually("the node Ready with the adopted containerd", || {
        ready(&s, "agent-a")
    });

    // SIGTERM: the agent stops its containerd and exits cleanly.
    let status = a.terminate().expect("agent exit status");
    assert!(status.success(), "agent exit: {status:?}\n{}", a.logs());
    assert!(
        !alive(restarted),
        "containerd still running after the agent stopped"
    );
    // The sandbox's CNI bridge is the only thing the test left on the host.
    let _ = std::process::Command::new("ip")
        .args(["link", "del", "sktest-a"])
        .status();
}

#[test]
fn an_agent_joins_with_the_servers_token_and_a_wrong_token_is_refused() {
    let s = Server::start();
    let token = std::fs::read_to_string(s.data_dir().join("node-token")).expect("node-token");
    assert!(token.starts_with("K10"), "{token}");
    // The CA is served unauthenticated, and hashes to the token's pin.
    let ca = s.ok(&["get", "--raw", "/cacerts"]);
    assert!(ca.contains("BEGIN CERTIFICATE"));
    let a = s.joined_agent("joiner", &["--cni-bridge", "sktest-j"]);
    eventually("the joined node Ready", || ready(&s, "joiner"));
    let lease = s.ok(&[
        "get",
        "lease",
        "-n",
        "kube-node-lease",
        "joiner",
        "-o",
        "name",
    ]);
    assert_eq!(lease.trim(), "lease.coordination.k8s.io/joiner");
    drop(a);

    let run = |token: &str| {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_skiff"))
            .args([
                "agent",
                "--server",
                &s.url(),
                "--token",
                token,
                "--data-dir",
            ])
            .arg(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let (pin, _) = token.trim().split_once("::").unwrap();
    let err = run(&format!("{pin}::node:not-the-secret"));
    assert!(
        err.contains("refused the token (401 Unauthorized)"),
        "{err}"
    );
    let err = run(&format!("K10{}::node:x", "0".repeat(64)));
    assert!(
        err.contains("does not have the CA this token was issued for"),
        "{err}"
    );
    let err = run("garbage");
    assert!(err.contains("not a join token"), "{err}");
    // A wrong bearer token is 401 for any request, like upstream.
    let out = std::process::Command::new(common::kubectl_bin())
        .args([
            "--kubeconfig",
            "/dev/null",
            "--insecure-skip-tls-verify",
            "--token",
            "nope",
        ])
        .args(["--server", &s.url(), "get", "ns"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("You must be logged in to the server"),
        "{err}"
    );
}

#[test]
fn an_agent_without_containerd_says_what_to_install() {
    let s = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(["agent", "--kubeconfig"])
        .arg(&s.kubeconfig)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--containerd", "/nonexistent/containerd"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot run /nonexistent/containerd")
            && err.contains("apt-get install containerd"),
        "{err}"
    );
}

#[test]
fn nodes_get_distinct_pod_cidrs_from_the_cluster_cidr() {
    let s = Server::start_with(&["--cluster-cidr", "10.99.0.0/16"]);
    // A node that registers with its own range keeps it, and the range is never given again.
    s.apply_ok(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: own\nspec:\n  podCIDR: 10.99.0.0/24\n  podCIDRs: [10.99.0.0/24]\n",
    );
    for name in ["n1", "n2", "n3"] {
        s.apply_ok(
            &["apply", "-f", "-"],
            &format!("apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n"),
        );
    }
    let cidrs = || {
        s.ok(&[
            "get",
            "nodes",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}={.spec.podCIDR}{\"\\n\"}{end}",
        ])
    };
    eventually("every node has a pod CIDR", || {
        cidrs().lines().all(|l| !l.ends_with('='))
    });
    let text = cidrs();
    let mut seen = std::collections::BTreeSet::new();
    for line in text.lines() {
        let (name, cidr) = line.split_once('=').unwrap();
        assert!(
            cidr.starts_with("10.99.") && cidr.ends_with(".0/24"),
            "{line}"
        );
        assert!(seen.insert(cidr.to_string()), "duplicate range: {text}");
        if name == "own" {
            assert_eq!(cidr, "10.99.0.0/24");
        }
    }
    assert_eq!(seen.len(), 4);
    // A bad flag is one clear line.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(["server", "--cluster-cidr", "10.99.0.0/33"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid IPv4 CIDR"));
}

/// Runs a pod sandbox through CRI, returns its IP, and removes it again.
fn sandbox_ip(socket: &std::path::Path) -> String {
    use k8s_cri::v1::{
        PodSandboxConfig, PodSandboxMetadata, PodSandboxStatusRequest, RemovePodSandboxRequest,
        RunPodSandboxRequest, StopPodSandboxRequest,
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut cri = skiff_agent::cri::Cri::connect(socket).await.unwrap();
        let config = PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: "probe".into(),
                uid: "probe-uid".into(),
                namespace: "default".into(),
                attempt: 0,
            }),
            hostname: "probe".into(),
            ..Default::default()
        };
        let id = cri
            .runtime
            .run_pod_sandbox(RunPodSandboxRequest {
                config: Some(config),
                runtime_handler: String::new(),
            })
            .await
            .expect("RunPodSandbox")
            .into_inner()
            .pod_sandbox_id;
        let status = cri
            .runtime
            .pod_sandbox_status(PodSandboxStatusRequest {
                pod_sandbox_id: id.clone(),
                verbose: false,
            })
            .await
            .expect("PodSandboxStatus")
            .into_inner()
            .status
            .expect("sandbox status");
        assert_eq!(status.state, 0, "sandbox not ready: {status:?}");
        let ip = status.network.map(|n| n.ip).unwrap_or_default();
        cri.runtime
            .stop_pod_sandbox(StopPodSandboxRequest {
                pod_sandbox_id: id.clone(),
            })
            .await
            .expect("StopPodSandbox");
        cri.runtime
            .remove_pod_sandbox(RemovePodSandboxRequest { pod_sandbox_id: id })
            .await
            .expect("RemovePodSandbox");
        ip
    })
}

#[test]
fn the_agent_runs_pods_restarts_crashing_ones_and_cleans_up_deleted_ones() {
    // Its own cluster CIDR and bridge: agent tests run side by side on one host.
    let s = Server::start_with(&["--cluster-cidr", "10.77.0.0/16"]);
    let mut a = s.agent("runner", &["--cni-bridge", "sktest-r"]);
    eventually("the node Ready", || ready(&s, "runner"));
    import_busybox(&a.data_dir);

    s.apply_ok(
        &["apply", "-f", "-"],
        &busybox_pod(
            "web",
            "Always",
            "mkdir -p /www && echo hello from skiff > /www/index.html && exec httpd -f -p 8080 -h /www",
        ),
    );
    s.apply_ok(
        &["apply", "-f", "-"],
        &busybox_pod("once", "Never", "exit 3"),
    );
    s.apply_ok(
        &["apply", "-f", "-"],
        &busybox_pod("crash", "Always", "exit 1"),
    );
    s.ok(&["wait", "pod/web", "--for=condition=Ready", "--timeout=60s"]);
    let cidr = s.ok(&["get", "node", "runner", "-o", "jsonpath={.spec.podCIDR}"]);
    let ip = field(&s, "web", ".status.podIP");
    assert!(
        ip.starts_with(cidr.trim_end_matches("0/24")),
        "pod IP {ip} outside {cidr}"
    );
    assert_eq!(field(&s, "web", ".status.phase"), "Running");
    // The kubelet's events, as `kubectl describe` shows them.
    let events = |pod: &str| common::pods::events(&s, pod);
    eventually("Created and Started events", || {
        let e = events("web");
        e.contains("Created: Created container: main")
            && e.contains("Started: Started container main")
    });
    assert!(
        events("web").contains(
            "Pulled: Container image \"skiff.test/busybox:v1\" already present on machine"
        ),
        "{}",
        events("web")
    );
    // The host reaches the pod's server through the pod network.
    eventually("httpd answers on the pod IP", || {
        http_get(&format!("{ip}:8080")).contains("hello from skiff")
    });
    assert_eq!(field(&s, "web", ".spec.nodeName"), "runner");
    let id = field(&s, "web", ".status.containerStatuses[0].containerID");
    assert!(id.starts_with("containerd://"), "{id}");

    // restartPolicy Never: the exit code is the pod's end.
    eventually("the failing pod Failed", || {
        field(&s, "once", ".status.phase") == "Failed"
    });
    let t = field(
        &s,
        "once",
        ".status.containerStatuses[0].state.terminated.exitCode",
    );
    assert_eq!(t, "3");
    // restartPolicy Always: restarted, then held in CrashLoopBackOff.
    eventually("the crashing pod in CrashLoopBackOff", || {
        field(
            &s,
            "crash",
            ".status.containerStatuses[0].state.waiting.reason",
        ) == "CrashLoopBackOff"
    });
    let restarts: u32 = field(&s, "crash", ".status.containerStatuses[0].restartCount")
        .parse()
        .unwrap();
    assert!(restarts >= 1);

    // A hostPort reaches the same server from the host (CNI portmap).
    let hostport = busybox_pod(
        "hp",
        "Always",
        "mkdir -p /www && echo via hostPort > /www/index.html && exec httpd -f -p 80 -h /www",
    )
        + "    ports:\n    - {containerPort: 80, hostPort: 18080, hostIP: 127.0.0.1}\n";
    s.apply_ok(&["apply", "-f", "-"], &hostport);
    s.ok(&["wait", "pod/hp", "--for=condition=Ready", "--timeout=60s"]);
    eventually("httpd answers on the hostPort", || {
        http_get("127.0.0.1:18080").contains("via hostPort")
    });
    s.ok(&["delete", "pod", "hp", "--timeout=30s"]);
    assert!(
        http_get("127.0.0.1:18080").is_empty(),
        "the hostPort still answers after the pod was deleted"
    );

    // The environment: envFrom a ConfigMap, a Secret key, the downward API, $(VAR) expansion;
    // the pod serves what it got.
    s.ok(&["create", "configmap", "cfg", "--from-literal=MODE=fast"]);
    s.ok(&[
        "create",
        "secret",
        "generic",
        "creds",
        "--from-literal=password=s3cr3t",
    ]);
    let env_pod = busybox_pod(
        "envpod",
        "Always",
        "mkdir -p /www && echo \"$MODE $PASS $ME $GREETING\" > /www/index.html && exec httpd -f -p 8080 -h /www",
    ) + "    envFrom:\n    - configMapRef: {name: cfg}\n    env:\n    - name: PASS\n      valueFrom: {secretKeyRef: {name: creds, key: password}}\n    - name: ME\n      valueFrom: {fieldRef: {fieldPath: metadata.name}}\n    - {name: GREETING, value: \"hi-$(ME)\"}\n";
    s.apply_ok(&["apply", "-f", "-"], &env_pod);
    s.ok(&[
        "wait",
        "pod/envpod",
        "--for=condition=Ready",
        "--timeout=60s",
    ]);
    let env_ip = field(&s, "envpod", ".status.podIP");
    eventually("the pod serves its environment", || {
        http_get(&format!("{env_ip}:8080")).contains("fast s3cr3t envpod hi-envpod")
    });
    // A missing ConfigMap key is the kubelet's CreateContainerConfigError.
    let bad_env = busybox_pod("badenv", "Always", "sleep 3600")
        + "    env:\n    - name: X\n      valueFrom: {configMapKeyRef: {name: cfg, key: nope}}\n";
    s.apply_ok(&["apply", "-f", "-"], &bad_env);
    let w = ".status.containerStatuses[0].state.waiting";
    eventually("CreateContainerConfigError", || {
        field(&s, "badenv", &format!("{w}.reason")) == "CreateContainerConfigError"
    });
    assert_eq!(
        field(&s, "badenv", &format!("{w}.message")),
        "couldn't find key nope in ConfigMap default/cfg"
    );
    s.ok(&["delete", "pod", "envpod", "badenv", "--timeout=30s"]);

    // Over its memory limit, a container is OOMKilled (exit 137).
    let oom = busybox_pod(
        "oom",
        "Never",
        "x=$(head -c 200000000 /dev/zero | tr '\\000' a); echo ${#x}",
    ) + "    resources:\n      limits: {memory: 20Mi}\n";
    s.apply_ok(&["apply", "-f", "-"], &oom);
    eventually("the memory hog Failed", || {
        field(&s, "oom", ".status.phase") == "Failed"
    });
    let t = ".status.containerStatuses[0].state.terminated";
    assert_eq!(field(&s, "oom", &format!("{t}.reason")), "OOMKilled");
    assert_eq!(field(&s, "oom", &format!("{t}.exitCode")), "137");
    s.ok(&["delete", "pod", "oom", "--timeout=30s"]);

    // An image that cannot be pulled: ErrImagePull, then ImagePullBackOff.
    let missing = busybox_pod("nopull", "Always", "true").replace("busybox:v1", "missing:v1");
    s.apply_ok(&["apply", "-f", "-"], &missing);
    eventually("ImagePullBackOff", || {
        field(
            &s,
            "nopull",
            ".status.containerStatuses[0].state.waiting.reason",
        ) == "ImagePullBackOff"
    });
    assert_eq!(field(&s, "nopull", ".status.phase"), "Pending");
    let e = events("nopull");
    assert!(
        e.contains("Pulling: Pulling image \"skiff.test/missing:v1\"")
            && e.contains("Failed: Failed to pull image \"skiff.test/missing:v1\"")
            && e.contains("Failed: Error: ErrImagePull"),
        "{e}"
    );

    // An agent restart adopts the running pod: same container, still Running.
    a.kill();
    a.launch();
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(
        field(&s, "web", ".status.containerStatuses[0].containerID"),
        id
    );
    assert_eq!(field(&s, "web", ".status.phase"), "Running");
    // ...and its server still answers.
    eventually("httpd answers on the pod IP", || {
        http_get(&format!("{ip}:8080")).contains("hello from skiff")
    });

    // Deleting a pod stops its containers and removes its sandbox, then the pod object.
    let uid = field(&s, "web", ".metadata.uid");
    s.ok(&["delete", "pod", "web", "--timeout=30s"]);
    assert!(
        events("web").contains("Killing: Stopping container main"),
        "{}",
        events("web")
    );
    let socket = a.data_dir.join("agent/containerd/containerd.sock");
    // Like the kubelet, the pod object may go once its containers are stopped; its sandbox
    // is removed in the same sync or, at the latest, as an orphan.
    eventually("the deleted pod's sandbox removed", || {
        sandboxes_of(&socket, Some(&uid)) == 0
    });
    s.ok(&["delete", "pod", "once", "crash", "nopull", "--timeout=30s"]);
    // Finished pods are deleted at once by the API server: the agent removes their sandboxes
    // as orphans.
    eventually("every sandbox removed", || sandboxes_of(&socket, None) == 0);
    drop(a);
    let _ = std::process::Command::new("ip")
        .args(["link", "del", "sktest-r"])
        .status();
}

/// How many sandboxes CRI has for the pod with `uid` (or at all).
fn sandboxes_of(socket: &std::path::Path, uid: Option<&str>) -> usize {
    use k8s_cri::v1::{ListPodSandboxRequest, PodSandboxFilter};
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut cri = skiff_agent::cri::Cri::connect(socket).await.unwrap();
        let filter = PodSandboxFilter {
            label_selector: uid
                .map(|u| [("io.kubernetes.pod.uid".to_string(), u.to_string())].into())
                .unwrap_or_default(),
            ..Default::default()
        };
        cri.runtime
            .list_pod_sandbox(ListPodSandboxRequest {
                filter: Some(filter),
            })
            .await
            .unwrap()
            .into_inner()
            .items
            .len()
    })
}
