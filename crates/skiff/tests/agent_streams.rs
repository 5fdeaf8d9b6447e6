//! `skiff server` as a one-machine cluster (its embedded agent) and kubectl's streams through
//! the API server to the agent: logs (follow, tail, previous, timestamps, limit-bytes, errors),
//! exec (exit codes, a TTY), cp both ways, attach, port-forward. Needs root and Debian's
//! containerd, runc and containernetworking-plugins (`.ci/run` installs them).

mod common;
use common::pods::{busybox_pod, field, http_get, import_busybox, one_node_cluster, ready};
use common::{eventually, Server};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Reads lines from a child's stdout until `want` matches one or `timeout` passes; returns
/// every line read.
fn read_until(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    want: impl Fn(&str) -> bool,
    timeout: Duration,
) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        match lines.next() {
            Some(Ok(l)) => {
                let done = want(&l);
                seen.push(l);
                if done {
                    break;
                }
            }
            _ => break,
        }
    }
    seen
}

const WEB: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: skiff.test/busybox:v1
        command: [sh, -c, 'mkdir -p /www && echo hello through port-forward > /www/index.html && exec httpd -f -p 8080 -h /www']
";

#[test]
fn a_one_machine_cluster_serves_kubectl_logs_exec_cp_attach_and_port_forward() {
    let s = Server::start_with_agent(&[
        "--node-name",
        "solo",
        "--cni-bridge",
        "sktest-s",
        "--cluster-cidr",
        "10.78.0.0/16",
    ]);
    // The server is a node itself: its embedded agent registers and turns Ready.
    eventually("the server's own node Ready", || ready(&s, "solo"));
    let port = s.ok(&[
        "get",
        "node",
        "solo",
        "-o",
        "jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}",
    ]);
    let port: u16 = port.parse().expect("a kubelet port");
    assert_ne!(port, 0);
    // Only the API server (a client certificate from the cluster CA) may use the agent.
    let out = std::process::Command::new("curl")
        .args(["-sk", "--max-time", "5"])
        .arg(format!("https://127.0.0.1:{port}/healthz"))
        .output()
        .unwrap();
    assert!(
        !out.status.success() && !String::from_utf8_lossy(&out.stdout).contains("ok"),
        "the agent answered a client without a certificate"
    );
    import_busybox(s.dir.path());

    s.apply_ok(
        &["apply", "-f", "-"],
        &busybox_pod(
            "ticker",
            "Always",
            "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done",
        ),
    );
    s.apply_ok(
        &["apply", "-f", "-"],
        &busybox_pod("crasher", "Always", "echo run-once; sleep 1; exit 1"),
    );
    s.apply_ok(&["apply", "-f", "-"], WEB);
    eventually("ticker running", || {
        field(&s, "ticker", ".status.phase") == "Running"
    });

    // logs: plain, --tail, --timestamps, --limit-bytes
    eventually("ticker logged five lines", || {
        s.kubectl(&["logs", "ticker"])
            .stdout
            .split(|b| *b == b'\n')
            .count()
            > 5
    });
    let all = s.ok(&["logs", "ticker"]);
    assert!(all.starts_with("tick 0\ntick 1\n"), "{all}");
    let tail = s.ok(&["logs", "ticker", "--tail=2"]);
    assert_eq!(tail.lines().count(), 2, "{tail}");
    assert!(tail.lines().all(|l| l.starts_with("tick ")), "{tail}");
    let stamped = s.ok(&["logs", "ticker", "--timestamps", "--tail=1"]);
    let (ts, rest) = stamped.split_once(' ').unwrap();
    assert!(ts.starts_with("20") && ts.ends_with('Z'), "{stamped}");
    assert!(rest.starts_with("tick "), "{stamped}");
    assert_eq!(s.ok(&["logs", "ticker", "--limit-bytes=6"]), "tick 0");
    let since = s.ok(&["logs", "ticker", "--since=1s"]);
    assert!(
        !since.contains("tick 0\n"),
        "--since=1s shows the first line"
    );

    // logs -f streams lines written after it started
    let mut follow = s
        .kubectl_cmd(&["logs", "-f", "ticker", "--tail=1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    let first: u64 = read_until(&mut lines, |_| true, Duration::from_secs(10))
        .first()
        .and_then(|l| l.strip_prefix("tick ")?.parse().ok())
        .expect("a first line from logs -f");
    let seen = read_until(
        &mut lines,
        |l| {
            l.strip_prefix("tick ")
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| n >= first + 5)
        },
        Duration::from_secs(15),
    );
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(
        seen.last()
            .and_then(|l| l.strip_prefix("tick ")?.parse::<u64>().ok())
            .is_some_and(|n| n >= first + 5),
        "logs -f did not stream new lines after tick {first}: {seen:?}"
    );

    // logs errors: no previous container; an unknown container
    let err = s.fails(&["logs", "ticker", "--previous"]);
    assert!(
        err.contains("previous terminated container \"main\" in pod \"ticker\" not found"),
        "{err}"
    );
    let err = s.fails(&["logs", "ticker", "-c", "nope"]);
    assert!(
        err.contains("container nope is not valid for pod ticker"),
        "{err}"
    );
    // --previous shows the last run of a restarted container
    eventually("crasher restarted", || {
        field(&s, "crasher", ".status.containerStatuses[0].restartCount")
            .parse::<u32>()
            .is_ok_and(|n| n >= 1)
    });
    assert_eq!(s.ok(&["logs", "crasher", "--previous"]), "run-once\n");

    // exec: output, exit codes, a TTY
    assert_eq!(
        s.ok(&["exec", "ticker", "--", "echo", "hi there"]),
        "hi there\n"
    );
    let out = s.kubectl(&["exec", "ticker", "--", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let piped = s.with_stdin(&["exec", "-i", "ticker", "--", "cat"], "through stdin\n");
    assert_eq!(String::from_utf8_lossy(&piped.stdout), "through stdin\n");
    let kubectl_it = format!(
        "KUBECONFIG={} {} exec -it ticker -- sh -c 'test -t 0 && echo is-a-tty; tty'",
        s.kubeconfig.display(),
        common::kubectl_bin()
    );
    let tty = std::process::Command::new("script")
        .args(["-qec", &kubectl_it, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let tty_out = String::from_utf8_lossy(&tty.stdout);
    assert!(
        tty_out.contains("is-a-tty") && tty_out.contains("/dev/pts/"),
        "exec -it: {tty_out} {}",
        String::from_utf8_lossy(&tty.stderr)
    );

    // cp both ways (tar over exec)
    let local = s.dir.path().join("payload.txt");
    let payload: String = (0..2000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&local, &payload).unwrap();
    s.ok(&["cp", local.to_str().unwrap(), "ticker:/tmp/payload.txt"]);
    let back = s.dir.path().join("back.txt");
    s.ok(&["cp", "ticker:/tmp/payload.txt", back.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&back).unwrap(), payload);

    // attach streams the running container's output
    let mut attach = s
        .kubectl_cmd(&["attach", "ticker"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut attached = BufReader::new(attach.stdout.take().unwrap()).lines();
    let seen = read_until(
        &mut attached,
        |l| l.starts_with("tick "),
        Duration::from_secs(10),
    );
    let _ = attach.kill();
    let _ = attach.wait();
    assert!(
        seen.iter().any(|l| l.starts_with("tick ")),
        "attach showed no output: {seen:?}"
    );

    // port-forward to the Deployment's pod, two connections in a row, and the pod IP
    s.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    let mut pf = s
        .kubectl_cmd(&["port-forward", "deployment/web", ":8080"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pf_lines = BufReader::new(pf.stdout.take().unwrap()).lines();
    let banner = read_until(
        &mut pf_lines,
        |l| l.contains("Forwarding from"),
        Duration::from_secs(15),
    );
    let local_port = banner
        .iter()
        .find_map(|l| {
            l.strip_prefix("Forwarding from 127.0.0.1:")?
                .split_whitespace()
                .next()?
                .parse::<u16>()
                .ok()
        })
        .unwrap_or_else(|| panic!("no port-forward banner: {banner:?}"));
    for _ in 0..2 {
        let got = http_get(&format!("127.0.0.1:{local_port}"));
        assert!(got.contains("hello through port-forward"), "{got}");
    }
    let _ = pf.kill();
    let _ = pf.wait();
    let ip = s.ok(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[0].status.podIP}",
    ]);
    assert!(http_get(&format!("{ip}:8080")).contains("hello through port-forward"));

    s.ok(&["delete", "deployment", "web"]);
    s.ok(&["delete", "pod", "ticker", "crasher", "--timeout=60s"]);
    drop(s);
    let _ = std::process::Command::new("ip")
        .args(["link", "del", "sktest-s"])
        .status();
}

const PROBED: &str = "apiVersion: v1
kind: Pod
metadata:
  name: probed
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: skiff.test/busybox:v1
    command: [sh, -c, 'mkdir -p /www && echo up > /www/index.html && exec httpd -f -p 8080 -h /www']
    ports:
    - {name: http, containerPort: 8080}
    startupProbe:
      tcpSocket: {port: http}
      periodSeconds: 1
    readinessProbe:
      httpGet: {path: /ready, port: 8080}
      periodSeconds: 1
      failureThreshold: 1
  - name: doomed
    image: skiff.test/busybox:v1
    command: [sleep, '3600']
    livenessProbe:
      exec:
        command: [cat, /tmp/healthy]
      periodSeconds: 1
      failureThreshold: 2
";

#[test]
fn probes_restart_unhealthy_containers_and_gate_readiness_and_runtime_classes_pick_the_runtime() {
    let s = one_node_cluster("prober", "sktest-p", "10.80.0.0/16");
    s.apply_ok(&["apply", "-f", "-"], PROBED);
    let status = |name: &str, path: &str| {
        field(
            &s,
            "probed",
            &format!(".status.containerStatuses[?(@.name==\"{name}\")].{path}"),
        )
    };
    // startup (tcpSocket on a named port) passes; readiness (httpGet /ready: 404) holds Ready
    eventually("web started", || status("web", "started") == "true");
    assert_eq!(status("web", "ready"), "false");
    assert_eq!(
        field(
            &s,
            "probed",
            ".status.conditions[?(@.type==\"Ready\")].status"
        ),
        "False"
    );
    s.ok(&[
        "exec",
        "probed",
        "-c",
        "web",
        "--",
        "sh",
        "-c",
        "echo ok > /www/ready",
    ]);
    eventually("web ready once /ready answers", || {
        status("web", "ready") == "true"
    });
    // the liveness probe (exec) fails twice: the container is killed and restarted
    eventually("doomed restarted by its liveness probe", || {
        status("doomed", "restartCount")
            .parse::<u32>()
            .is_ok_and(|n| n >= 1)
    });
    let probe_events = || {
        s.ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=probed",
            "-o",
            "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}",
        ])
    };
    // Events are written in the background, like the kubelet's: wait for the last one.
    eventually("the Killing event", || probe_events().contains("Killing: "));
    let events = probe_events();
    assert!(
        events.contains("Unhealthy: Liveness probe failed: cat: can't open '/tmp/healthy'"),
        "{events}"
    );
    assert!(
        events
            .contains("Unhealthy: Readiness probe failed: HTTP probe failed with statuscode: 404"),
        "{events}"
    );
    assert!(
        events.contains("Killing: Container doomed failed liveness probe, will be restarted"),
        "{events}"
    );
    // readiness is re-checked: removing /ready makes the pod unready again
    s.ok(&["exec", "probed", "-c", "web", "--", "rm", "/www/ready"]);
    eventually("web unready again", || status("web", "ready") == "false");
    // repeated probe failures are one event with a count, as kubectl describe shows them
    let counts = s.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=probed,reason=Unhealthy",
        "-o",
        "jsonpath={.items[*].count}",
    ]);
    assert!(
        counts
            .split_whitespace()
            .any(|c| c.parse::<u32>().unwrap_or(0) > 1),
        "no repeated event was folded: {counts}"
    );
    s.ok(&["delete", "pod", "probed", "--timeout=60s"]);

    // RuntimeClass: crun runs a pod; an unknown class is an event, and the pod waits
    s.apply_ok(
        &["apply", "-f", "-"],
        "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: crun\nhandler: crun\n",
    );
    let with_class = |name: &str, class: &str| {
        busybox_pod(name, "Always", "sleep 3600")
            .replace("spec:\n", &format!("spec:\n  runtimeClassName: {class}\n"))
    };
    s.apply_ok(&["apply", "-f", "-"], &with_class("oncrun", "crun"));
    // A pod naming a class that does not exist is refused (the RuntimeClass admission).
    let refused = s.with_stdin(&["apply", "-f", "-"], &with_class("noclass", "missing"));
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr).trim(),
        "Error from server (Forbidden): error when creating \"STDIN\": pods \"noclass\" is forbidden: pod rejected: RuntimeClass \"missing\" not found"
    );
    // A class deleted after the pod was admitted: held back by a scheduling gate until the
    // class is gone, the pod then reaches the node, which reports the missing class.
    s.apply_ok(
        &["apply", "-f", "-"],
        "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: missing\nhandler: runc\n",
    );
    let gated = with_class("noclass", "missing").replace(
        "spec:\n",
        "spec:\n  schedulingGates: [{name: skiff.test/hold}]\n",
    );
    s.apply_ok(&["apply", "-f", "-"], &gated);
    s.ok(&["delete", "runtimeclass", "missing"]);
    s.ok(&[
        "patch",
        "pod",
        "noclass",
        "--type=json",
        "-p",
        r#"[{"op": "remove", "path": "/spec/schedulingGates"}]"#,
    ]);
    eventually("the crun pod running", || {
        field(&s, "oncrun", ".status.phase") == "Running"
    });
    let uid = field(&s, "oncrun", ".metadata.uid");
    let socket = s.dir.path().join("agent/containerd/containerd.sock");
    assert_eq!(sandbox_handler(&socket, &uid), "crun");
    assert_eq!(
        s.ok(&["exec", "oncrun", "--", "echo", "via crun"]),
        "via crun\n"
    );
    eventually(
        "a FailedCreatePodSandBox event for the unknown class",
        || {
            s.ok(&[
                "get",
                "events",
                "--field-selector",
                "involvedObject.name=noclass,reason=FailedCreatePodSandBox",
                "-o",
                "jsonpath={.items[*].message}",
            ])
            .contains(
                "Failed to create pod sandbox: runtimeclass.node.k8s.io \"missing\" not found",
            )
        },
    );
    assert_eq!(field(&s, "noclass", ".status.phase"), "Pending");
    s.ok(&["delete", "pod", "oncrun", "noclass", "--timeout=60s"]);
}

/// The CRI runtime handler of the pod sandbox with `uid` (from its verbose status).
fn sandbox_handler(socket: &std::path::Path, uid: &str) -> String {
    use k8s_cri::v1::{ListPodSandboxRequest, PodSandboxFilter, PodSandboxStatusRequest};
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut cri = skiff_agent::cri::Cri::connect(socket).await.unwrap();
        let filter = PodSandboxFilter {
            label_selector: [("io.kubernetes.pod.uid".to_string(), uid.to_string())].into(),
            ..Default::default()
        };
        let items = cri
            .runtime
            .list_pod_sandbox(ListPodSandboxRequest {
                filter: Some(filter),
            })
            .await
            .unwrap()
            .into_inner()
            .items;
        let sandbox = items.first().expect("a sandbox for the pod");
        let info = cri
            .runtime
            .pod_sandbox_status(PodSandboxStatusRequest {
                pod_sandbox_id: sandbox.id.clone(),
                verbose: true,
            })
            .await
            .unwrap()
            .into_inner()
            .info;
        let v: serde_json::Value = serde_json::from_str(&info["info"]).unwrap();
        v["runtimeHandler"].as_str().unwrap_or_default().to_string()
    })
}
