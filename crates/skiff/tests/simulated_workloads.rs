//! Workload controllers against simulated nodes (`skiff sim`): rolling updates that keep
//! enough pods available, `kubectl rollout status|history|undo|pause|resume|restart`, the
//! progress deadline and minReadySeconds of Deployments, DaemonSets that follow
//! nodes, StatefulSets that create ordinals in order with their claims, Jobs that complete
//! or fail, and CronJobs that start Jobs.

mod common;
use common::{eventually, json, Server};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

const WEB: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 6
  strategy:
    rollingUpdate: {maxSurge: 1, maxUnavailable: 1}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: c
        image: web:1
"#;

#[test]
fn a_rolling_update_keeps_enough_pods_available_and_undo_restores_the_template() {
    let s = Server::start();
    let _sim = s.sim(4, &[]);
    s.apply_ok(&["apply", "-f", "-"], WEB);
    s.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);

    // Sample availability while the new image rolls out.
    let (stop, lowest) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicI64::new(i64::MAX)),
    );
    let sampler = {
        let (stop, lowest) = (stop.clone(), lowest.clone());
        let mut cmd = s.kubectl_cmd(&[
            "get",
            "deployment",
            "web",
            "-w",
            "-o",
            "jsonpath={.status.availableReplicas}{\"\\n\"}",
        ]);
        let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let n = line
                    .ok()
                    .and_then(|l| l.trim().parse::<i64>().ok())
                    .unwrap_or(0);
                lowest.fetch_min(n, Ordering::SeqCst);
                if stop.load(Ordering::SeqCst) {
                    break;
                }
            }
            let _ = child.kill();
            let _ = child.wait();
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(500));
    s.ok(&["set", "image", "deployment/web", "c=web:2"]);
    let out = s.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    stop.store(true, Ordering::SeqCst);
    s.ok(&["annotate", "deployment/web", "poke=1"]); // one more event ends the sampler
    let _ = sampler.join();
    let low = lowest.load(Ordering::SeqCst);
    assert!(low != i64::MAX, "the availability sampler saw no status");
    assert!(
        low >= 5,
        "availability dropped to {low} (replicas 6, maxUnavailable 1)"
    );
    let images = s.ok(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[*].spec.containers[0].image}",
    ]);
    assert!(images.split(' ').all(|i| i == "web:2"), "{images}");

    let history = s.ok(&["rollout", "history", "deployment/web"]);
    assert!(
        history.contains("REVISION") && history.contains('1') && history.contains('2'),
        "{history}"
    );
    s.ok(&["rollout", "undo", "deployment/web"]);
    s.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    let d = json(&s.ok(&["get", "deployment", "web", "-o", "json"]));
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "web:1"
    );
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "3"
    );
    eventually("old image everywhere again", || {
        let images = s.ok(&[
            "get",
            "pods",
            "-l",
            "app=web",
            "--field-selector",
            "status.phase=Running",
            "-o",
            "jsonpath={.items[*].spec.containers[0].image}",
        ]);
        images.split(' ').filter(|i| *i == "web:1").count() == 6 && !images.contains("web:2")
    });
}

fn count_lines(s: &Server, args: &[&str]) -> usize {
    s.ok(args).lines().filter(|l| !l.is_empty()).count()
}

#[test]
fn a_daemonset_covers_untainted_nodes_and_follows_new_ones() {
    let s = Server::start();
    let _sim = s.sim(3, &[]);
    let _tainted = s.sim(
        1,
        &["--name-prefix", "gpu-", "--taint", "gpu=yes:NoSchedule"],
    );
    s.apply_ok(
        &["apply", "-f", "-"],
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\nspec:\n  selector:\n    matchLabels: {app: agent}\n  template:\n    metadata:\n      labels: {app: agent}\n    spec:\n      containers:\n      - {name: c, image: agent:1}\n",
    );
    let nodes = || {
        let mut v: Vec<String> = s
            .ok(&[
                "get",
                "pods",
                "-l",
                "app=agent",
                "--field-selector",
                "status.phase=Running",
                "-o",
                "jsonpath={range .items[*]}{.spec.nodeName}{\"\\n\"}{end}",
            ])
            .lines()
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    eventually("one agent per untainted node", || {
        nodes() == ["sim-node-0", "sim-node-1", "sim-node-2"]
    });
    let _late = s.sim(1, &["--name-prefix", "late-"]);
    eventually("the new node gets an agent", || {
        nodes().len() == 4 && nodes().contains(&"late-0".to_string())
    });
    let ds = json(&s.ok(&["get", "daemonset", "agent", "-o", "json"]));
    eventually("DaemonSet status counts 4", || {
        let ds = json(&s.ok(&["get", "daemonset", "agent", "-o", "json"]));
        ds["status"]["desiredNumberScheduled"] == 4 && ds["status"]["numberReady"] == 4
    });
    assert_eq!(ds["metadata"]["name"], "agent");
    assert_eq!(
        count_lines(&s, &["get", "pods", "-l", "app=agent", "-o", "name"]),
        4
    );
}

#[test]
fn a_statefulset_creates_ordinals_in_order_with_their_claims() {
    let s = Server::start();
    let _sim = s.sim(3, &[]);
    // Record the order in which pods appear.
    let mut watch = s
        .kubectl_cmd(&[
            "get",
            "pods",
            "-l",
            "app=db",
            "-w",
            "-o",
            "jsonpath={.metadata.name}{\"\\n\"}",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = watch.stdout.take().unwrap();
    let seen = std::thread::spawn(move || {
        let mut order: Vec<String> = Vec::new();
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if !order.contains(&line) {
                order.push(line);
            }
            if order.len() == 3 {
                break;
            }
        }
        order
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    s.apply_ok(
        &["apply", "-f", "-"],
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\nspec:\n  serviceName: db\n  replicas: 3\n  selector:\n    matchLabels: {app: db}\n  template:\n    metadata:\n      labels: {app: db}\n    spec:\n      containers:\n      - name: c\n        image: db:1\n        volumeMounts: [{name: data, mountPath: /data}]\n  volumeClaimTemplates:\n  - metadata: {name: data}\n    spec:\n      accessModes: [ReadWriteOnce]\n      resources: {requests: {storage: 1Gi}}\n",
    );
    s.ok(&["rollout", "status", "statefulset/db", "--timeout=60s"]);
    let order = seen.join().unwrap();
    let _ = watch.kill();
    let _ = watch.wait();
    assert_eq!(order, ["db-0", "db-1", "db-2"]);
    let claims = s.ok(&["get", "pvc", "-o", "jsonpath={.items[*].metadata.name}"]);
    assert_eq!(claims, "data-db-0 data-db-1 data-db-2");
    let pod = json(&s.ok(&["get", "pod", "db-1", "-o", "json"]));
    assert_eq!(pod["spec"]["hostname"], "db-1");
    assert_eq!(
        pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "data-db-1"
    );
}

#[test]
fn jobs_complete_or_fail_and_a_cronjob_starts_jobs() {
    let s = Server::start();
    let _sim = s.sim(2, &[]);
    // The CronJob first: its minute boundary may be up to a minute away.
    s.apply_ok(
        &["apply", "-f", "-"],
        "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: tick\nspec:\n  schedule: \"*/1 * * * *\"\n  jobTemplate:\n    spec:\n      template:\n        metadata:\n          annotations: {sim.skiff.dev/complete-after: 1s}\n        spec:\n          restartPolicy: Never\n          containers:\n          - {name: c, image: tick:1}\n",
    );
    let job = |name: &str, annotation: &str, extra: &str| {
        format!("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\nspec:\n{extra}  template:\n    metadata:\n      annotations: {{{annotation}: 1s}}\n    spec:\n      restartPolicy: Never\n      containers:\n      - {{name: c, image: work:1}}\n")
    };
    s.apply_ok(
        &["apply", "-f", "-"],
        &job(
            "batch",
            "sim.skiff.dev/complete-after",
            "  completions: 5\n  parallelism: 2\n",
        ),
    );
    s.apply_ok(
        &["apply", "-f", "-"],
        &job("broken", "sim.skiff.dev/fail-after", "  backoffLimit: 0\n"),
    );
    s.ok(&[
        "wait",
        "job/batch",
        "--for=condition=Complete",
        "--timeout=60s",
    ]);
    let j = json(&s.ok(&["get", "job", "batch", "-o", "json"]));
    assert_eq!(j["status"]["succeeded"], 5);
    s.ok(&[
        "wait",
        "job/broken",
        "--for=condition=Failed",
        "--timeout=60s",
    ]);
    let j = json(&s.ok(&["get", "job", "broken", "-o", "json"]));
    let failed = j["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Failed")
        .cloned()
        .unwrap();
    assert_eq!(failed["reason"], "BackoffLimitExceeded");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(75);
    loop {
        let owners = s.ok(&[
            "get",
            "jobs",
            "-o",
            "jsonpath={.items[*].metadata.ownerReferences[0].name}",
        ]);
        if owners.contains("tick") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the CronJob started no Job"
        );
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    let cj = json(&s.ok(&["get", "cronjob", "tick", "-o", "json"]));
    eventually("the CronJob records its schedule", || {
        let cj = json(&s.ok(&["get", "cronjob", "tick", "-o", "json"]));
        cj["status"]["lastScheduleTime"].is_string()
    });
    assert_eq!(cj["metadata"]["name"], "tick");
}

/// A Deployment `name` (label `app: <name>`, image `<name>:1`) with `extra` spec lines (each
/// indented by two spaces).
fn deployment(name: &str, replicas: u32, extra: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: {replicas}\n{extra}  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - {{name: c, image: \"{name}:1\"}}\n"
    )
}

/// The Deployment as JSON.
fn get_deploy(s: &Server, name: &str) -> serde_json::Value {
    json(&s.ok(&["get", "deployment", name, "-o", "json"]))
}

/// The Deployment's condition of `type_` (Null when absent).
fn condition(d: &serde_json::Value, type_: &str) -> serde_json::Value {
    d["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_).cloned())
        .unwrap_or(serde_json::Value::Null)
}

/// Waits until the controller has observed the Deployment's current generation.
fn observed(s: &Server, name: &str) -> serde_json::Value {
    let last = std::cell::RefCell::new(serde_json::Value::Null);
    eventually(&format!("deployment {name} observed"), || {
        let d = get_deploy(s, name);
        let done = d["status"]["observedGeneration"] == d["metadata"]["generation"];
        *last.borrow_mut() = d;
        done
    });
    last.into_inner()
}

/// Names of the app's ReplicaSets and of its pods (not being deleted), each sorted.
fn sets_and_pods(s: &Server, app: &str) -> (Vec<String>, Vec<String>) {
    let names = |out: String| {
        let mut v: Vec<String> = out.split_whitespace().map(str::to_string).collect();
        v.sort();
        v
    };
    let sets = names(s.ok(&[
        "get",
        "replicasets",
        "-l",
        &format!("app={app}"),
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ]));
    let pods = json(&s.ok(&["get", "pods", "-l", &format!("app={app}"), "-o", "json"]));
    let mut live: Vec<String> = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    live.sort();
    (sets, live)
}

/// Applies [`deployment`], waits for its rollout and returns [`sets_and_pods`], checking that
/// there is one ReplicaSet with `replicas` pods.
fn rolled_out(s: &Server, name: &str, replicas: usize, extra: &str) -> (Vec<String>, Vec<String>) {
    s.apply_ok(
        &["apply", "-f", "-"],
        &deployment(name, replicas as u32, extra),
    );
    s.ok(&[
        "rollout",
        "status",
        &format!("deployment/{name}"),
        "--timeout=60s",
    ]);
    let (sets, pods) = sets_and_pods(s, name);
    assert_eq!((sets.len(), pods.len()), (1, replicas), "{sets:?} {pods:?}");
    (sets, pods)
}

/// The images of the app's running pods, sorted.
fn running_images(s: &Server, app: &str) -> Vec<String> {
    let mut v: Vec<String> = s
        .ok(&[
            "get",
            "pods",
            "-l",
            &format!("app={app}"),
            "--field-selector",
            "status.phase=Running",
            "-o",
            "jsonpath={.items[*].spec.containers[0].image}",
        ])
        .split_whitespace()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

#[test]
fn deployment_pause_holds_template_changes_until_resume() {
    let s = Server::start();
    let _sim = s.sim(2, &[]);
    let (sets, pods) = rolled_out(&s, "pz", 3, "");

    s.ok(&["rollout", "pause", "deployment/pz"]);
    eventually("Progressing=Unknown DeploymentPaused", || {
        let c = condition(&get_deploy(&s, "pz"), "Progressing");
        c["status"] == "Unknown"
            && c["reason"] == "DeploymentPaused"
            && c["message"] == "Deployment is paused"
    });

    // A template change while paused: observed, but no new ReplicaSet and no new pods.
    s.ok(&["set", "image", "deployment/pz", "c=pz:2"]);
    let d = observed(&s, "pz");
    assert_eq!(d["spec"]["paused"], true);
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(sets_and_pods(&s, "pz"), (sets.clone(), pods.clone()));
    assert_eq!(running_images(&s, "pz"), ["pz:1"; 3]);
    let d = get_deploy(&s, "pz");
    assert_eq!(condition(&d, "Progressing")["reason"], "DeploymentPaused");
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "1"
    );

    // Scaling still works while paused (on the old ReplicaSet).
    s.ok(&["scale", "deployment/pz", "--replicas=4"]);
    eventually("4 old pods while paused", || {
        running_images(&s, "pz") == ["pz:1"; 4]
    });
    assert_eq!(sets_and_pods(&s, "pz").0, sets);

    s.ok(&["rollout", "resume", "deployment/pz"]);
    let out = s.ok(&["rollout", "status", "deployment/pz", "--timeout=60s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    eventually("all pods on the new image", || {
        running_images(&s, "pz") == ["pz:2"; 4] && sets_and_pods(&s, "pz").1.len() == 4
    });
    let (after, _) = sets_and_pods(&s, "pz");
    assert_eq!(after.len(), 2, "{after:?}");
    let d = get_deploy(&s, "pz");
    let c = condition(&d, "Progressing");
    assert_eq!(c["status"], "True", "{c}");
    assert_eq!(c["reason"], "NewReplicaSetAvailable", "{c}");
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "2"
    );
}

#[test]
fn deployment_rollout_restart_replaces_every_pod() {
    let s = Server::start();
    let _sim = s.sim(2, &[]);
    let (sets, pods) = rolled_out(&s, "rs", 3, "");

    s.ok(&["rollout", "restart", "deployment/rs"]);
    let out = s.ok(&["rollout", "status", "deployment/rs", "--timeout=60s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    let d = get_deploy(&s, "rs");
    let restarted = d["spec"]["template"]["metadata"]["annotations"]
        ["kubectl.kubernetes.io/restartedAt"]
        .as_str()
        .expect("restartedAt set by kubectl")
        .to_string();
    eventually("three new pods, none of the old ones", || {
        let (_, now) = sets_and_pods(&s, "rs");
        now.len() == 3 && now.iter().all(|p| !pods.contains(p))
    });
    let (after, _) = sets_and_pods(&s, "rs");
    assert_eq!(after.len(), 2, "{after:?}");
    let new_rs: Vec<&String> = after.iter().filter(|n| !sets.contains(n)).collect();
    assert_eq!(new_rs.len(), 1, "{after:?}");
    let rs = json(&s.ok(&["get", "replicaset", new_rs[0], "-o", "json"]));
    assert_eq!(
        rs["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
        restarted.as_str()
    );
    assert_eq!(rs["spec"]["replicas"], 3);
    let old = json(&s.ok(&["get", "replicaset", &sets[0], "-o", "json"]));
    assert_eq!(old["spec"]["replicas"], 0);
    // Once the old pods are gone, every pod carries the restart annotation.
    eventually("only restarted pods left", || {
        let all = s.ok(&[
            "get",
            "pods",
            "-l",
            "app=rs",
            "-o",
            "jsonpath={range .items[*]}{.metadata.annotations.kubectl\\.kubernetes\\.io/restartedAt}{\"\\n\"}{end}",
        ]);
        all.lines().count() == 3 && all.lines().all(|l| l == restarted)
    });
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "2"
    );
}

#[test]
fn deployment_progress_deadline_exceeded_fails_rollout_status() {
    let s = Server::start();
    let _sim = s.sim(2, &[]);
    let (sets, _) = rolled_out(&s, "slow", 2, "  progressDeadlineSeconds: 5\n");

    // The new pods fit no node: they stay Pending and the rollout makes no progress.
    s.ok(&[
        "patch",
        "deployment/slow",
        "-p",
        r#"{"spec":{"template":{"spec":{"nodeSelector":{"skiff.dev/nowhere":"true"}}}}}"#,
    ]);
    let out = s.kubectl(&["rollout", "status", "deployment/slow", "--timeout=90s"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "rollout status succeeded: {stderr}");
    assert!(
        stderr.contains(r#"error: deployment "slow" exceeded its progress deadline"#),
        "{stderr}"
    );
    let (after, _) = sets_and_pods(&s, "slow");
    let new_rs: Vec<&String> = after.iter().filter(|n| !sets.contains(n)).collect();
    assert_eq!(new_rs.len(), 1, "{after:?}");
    let d = get_deploy(&s, "slow");
    let c = condition(&d, "Progressing");
    assert_eq!(c["status"], "False", "{c}");
    assert_eq!(c["reason"], "ProgressDeadlineExceeded", "{c}");
    assert_eq!(
        c["message"],
        format!("ReplicaSet \"{}\" has timed out progressing.", new_rs[0]),
        "{c}"
    );
    // The old pods still serve.
    assert_eq!(running_images(&s, "slow"), ["slow:1"; 2]);
    assert_eq!(condition(&d, "Available")["status"], "True");

    // Rolling back to the template that fits completes the rollout again.
    s.ok(&["rollout", "undo", "deployment/slow"]);
    let out = s.ok(&["rollout", "status", "deployment/slow", "--timeout=60s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    eventually("Progressing=True NewReplicaSetAvailable after undo", || {
        let c = condition(&get_deploy(&s, "slow"), "Progressing");
        c["status"] == "True" && c["reason"] == "NewReplicaSetAvailable"
    });
}

#[test]
fn deployment_min_ready_seconds_delays_availability() {
    const MIN_READY: i64 = 6;
    let s = Server::start();
    let _sim = s.sim(2, &[]);
    s.apply_ok(
        &["apply", "-f", "-"],
        &deployment("mr", 2, &format!("  minReadySeconds: {MIN_READY}\n")),
    );
    eventually("two ready replicas", || {
        get_deploy(&s, "mr")["status"]["readyReplicas"] == 2
    });
    // Ready is not yet available: the pods have been ready for less than minReadySeconds.
    let d = get_deploy(&s, "mr");
    let available = d["status"]["availableReplicas"].as_i64().unwrap_or(0);
    let pods = json(&s.ok(&["get", "pods", "-l", "app=mr", "-o", "json"]));
    let ready_since: Vec<i64> = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let c = p["status"]["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["type"] == "Ready")
                .unwrap();
            let t: k8s_openapi::jiff::Timestamp =
                c["lastTransitionTime"].as_str().unwrap().parse().unwrap();
            t.as_second()
        })
        .collect();
    let now = || k8s_openapi::jiff::Timestamp::now().as_second();
    let latest = *ready_since.iter().max().unwrap();
    if now() < latest + MIN_READY - 1 {
        assert_eq!(available, 0, "available before minReadySeconds: {d}");
        assert_eq!(condition(&d, "Available")["status"], "False", "{d}");
    }
    s.ok(&["rollout", "status", "deployment/mr", "--timeout=60s"]);
    let d = get_deploy(&s, "mr");
    assert_eq!(d["status"]["availableReplicas"], 2, "{d}");
    assert!(
        now() >= latest + MIN_READY,
        "available {}s after ready, minReadySeconds {MIN_READY}",
        now() - latest
    );
    assert_eq!(condition(&d, "Available")["status"], "True", "{d}");
}
