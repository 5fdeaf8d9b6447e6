//! Scheduling against simulated nodes (`skiff sim`): anti-affinity spreads replicas over
//! distinct nodes and explains the one that fits nowhere, taints keep pods away unless
//! tolerated, a high-priority pod preempts a low-priority one on a full cluster, and a pod
//! follows its node-local volume (VolumeBinding) and waits for a claim that does not exist yet.

mod common;
use common::{eventually, json, Server};

fn deployment_with_anti_affinity(replicas: u32) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: spread
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: spread}}
  template:
    metadata:
      labels: {{app: spread}}
    spec:
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector:
              matchLabels: {{app: spread}}
            topologyKey: kubernetes.io/hostname
      containers:
      - name: c
        image: busybox:1
"#
    )
}

fn running_nodes(s: &Server, label: &str) -> Vec<String> {
    let out = s.ok(&[
        "get",
        "pods",
        "-l",
        label,
        "--field-selector",
        "status.phase=Running",
        "-o",
        "jsonpath={range .items[*]}{.spec.nodeName}{\"\\n\"}{end}",
    ]);
    out.lines().map(str::to_string).collect()
}

#[test]
fn anti_affinity_spreads_replicas_and_taints_keep_pods_away() {
    let s = Server::start();
    let _sim = s.sim(10, &[]);
    let _tainted = s.sim(
        1,
        &[
            "--name-prefix",
            "infra-",
            "--taint",
            "dedicated=infra:NoSchedule",
        ],
    );
    s.apply_ok(&["apply", "-f", "-"], &deployment_with_anti_affinity(10));
    eventually("10 replicas Running", || {
        running_nodes(&s, "app=spread").len() == 10
    });
    let mut nodes = running_nodes(&s, "app=spread");
    nodes.sort();
    nodes.dedup();
    assert_eq!(nodes.len(), 10, "one replica per node: {nodes:?}");
    assert!(
        nodes.iter().all(|n| n.starts_with("sim-node-")),
        "{nodes:?}"
    );

    // The 11th replica fits nowhere: upstream's message, counting every node.
    s.ok(&["scale", "deployment/spread", "--replicas=11"]);
    let pending = || {
        s.ok(&[
            "get",
            "pods",
            "-l",
            "app=spread",
            "--field-selector",
            "status.phase=Pending",
            "-o",
            "jsonpath={.items[*].status.conditions[?(@.type==\"PodScheduled\")].message}",
        ])
    };
    eventually("the 11th replica is explained", || !pending().is_empty());
    let msg = pending();
    assert!(
        msg.starts_with("0/11 nodes are available: 1 node(s) had untolerated taint {dedicated: infra}, 10 node(s) didn't match pod anti-affinity rules."),
        "{msg}"
    );

    // A pod tolerating the taint may go to the tainted node.
    s.apply_ok(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: tolerant\n  labels: {app: tolerant}\nspec:\n  nodeSelector: {kubernetes.io/hostname: infra-0}\n  tolerations:\n  - {key: dedicated, operator: Equal, value: infra, effect: NoSchedule}\n  containers:\n  - {name: c, image: busybox:1}\n",
    );
    eventually("the tolerant pod Running on infra-0", || {
        running_nodes(&s, "app=tolerant") == ["infra-0"]
    });
}

#[test]
fn a_high_priority_pod_preempts_a_low_priority_one() {
    let s = Server::start();
    let _sim = s.sim(1, &["--cpu", "1"]);
    s.apply_ok(
        &["apply", "-f", "-"],
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: high\nvalue: 1000\n---\napiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: low\nvalue: 10\n",
    );
    let pod = |name: &str, class: &str| {
        format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels: {{app: {name}}}\nspec:\n  priorityClassName: {class}\n  containers:\n  - name: c\n    image: busybox:1\n    resources:\n      requests: {{cpu: 800m}}\n")
    };
    s.apply_ok(&["apply", "-f", "-"], &pod("victim", "low"));
    eventually("the low-priority pod Running", || {
        running_nodes(&s, "app=victim") == ["sim-node-0"]
    });
    s.apply_ok(&["apply", "-f", "-"], &pod("important", "high"));
    eventually("the high-priority pod Running in its place", || {
        running_nodes(&s, "app=important") == ["sim-node-0"]
    });
    let gone = s.kubectl(&["get", "pod", "victim"]);
    assert!(!gone.status.success(), "the victim was preempted");
    let events = s.ok(&["get", "events", "-o", "json"]);
    let events = json(&events);
    let reasons: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["involvedObject"]["name"] == "important")
        .filter_map(|e| e["reason"].as_str())
        .collect();
    assert!(reasons.contains(&"FailedScheduling"), "{reasons:?}");
}

#[test]
fn a_pod_follows_its_local_volume_and_waits_for_its_claim() {
    let s = Server::start();
    let _sim = s.sim(3, &[]);
    // A node-local volume on sim-node-2, claimed by name (pre-bound, no class).
    s.apply_ok(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: local-2}\nspec:\n  capacity: {storage: 1Gi}\n  accessModes: [ReadWriteOnce]\n  hostPath: {path: /tmp/local-2}\n  nodeAffinity:\n    required:\n      nodeSelectorTerms:\n      - matchExpressions:\n        - {key: kubernetes.io/hostname, operator: In, values: [sim-node-2]}\n---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\nspec:\n  storageClassName: \"\"\n  volumeName: local-2\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 1Gi}}\n",
    );
    let pod = |name: &str, claim: &str| {
        format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels: {{app: {name}}}\nspec:\n  containers: [{{name: c, image: busybox:1}}]\n  volumes:\n  - name: v\n    persistentVolumeClaim: {{claimName: {claim}}}\n")
    };
    s.apply_ok(&["apply", "-f", "-"], &pod("user", "data"));
    eventually("the pod Running on the volume's node", || {
        running_nodes(&s, "app=user") == ["sim-node-2"]
    });

    // A claim that does not exist yet: Pending with upstream's reason ...
    s.apply_ok(&["apply", "-f", "-"], &pod("early", "later"));
    let message = || {
        s.ok(&[
            "get",
            "pod",
            "early",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].message}",
        ])
    };
    eventually("the missing claim explained", || !message().is_empty());
    assert!(
        message().contains("persistentvolumeclaim \"later\" not found"),
        "{}",
        message()
    );
    // ... and scheduled as soon as the claim appears (not at the next periodic retry).
    s.apply_ok(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: shared}\nspec:\n  capacity: {storage: 1Gi}\n  accessModes: [ReadWriteMany]\n  hostPath: {path: /tmp/shared}\n---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: later}\nspec:\n  storageClassName: \"\"\n  volumeName: shared\n  accessModes: [ReadWriteMany]\n  resources: {requests: {storage: 1Gi}}\n",
    );
    eventually("the waiting pod Running", || {
        running_nodes(&s, "app=early").len() == 1
    });
}
