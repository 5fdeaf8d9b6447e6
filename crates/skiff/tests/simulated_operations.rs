//! Operations against simulated nodes (`skiff sim`): a node that stops heartbeating is
//! tainted and its pods are evicted and replaced; a PodDisruptionBudget blocks evictions
//! (`kubectl drain`); Services get Endpoints and EndpointSlices; ResourceQuotas report usage.

mod common;
use common::{eventually, json, Server};

fn deployment(name: &str, replicas: u32) -> String {
    format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: c\n        image: {name}:1\n        ports: [{{name: http, containerPort: 8080}}]\n        resources: {{requests: {{cpu: 100m, memory: 64Mi}}}}\n")
}

/// `node=pod` for the Running pods with `label` that are not being deleted.
fn placement(s: &Server, label: &str) -> Vec<(String, String)> {
    let items = json(&s.ok(&["get", "pods", "-l", label, "-o", "json"]));
    items["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p["metadata"]["deletionTimestamp"].is_null() && p["status"]["phase"] == "Running"
        })
        .map(|p| {
            (
                p["spec"]["nodeName"].as_str().unwrap_or("").to_string(),
                p["metadata"]["name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_silent_node_is_tainted_and_its_pods_are_evicted_and_replaced() {
    let s = Server::start_with(&[
        "--node-monitor-grace-period",
        "4s",
        "--default-unreachable-toleration-seconds",
        "2",
    ]);
    let _sim = s.sim(3, &["--heartbeat-interval", "1"]);
    s.apply_ok(&["apply", "-f", "-"], &deployment("app", 6));
    eventually("6 pods Running", || placement(&s, "app=app").len() == 6);
    let victim_node = placement(&s, "app=app")[0].0.clone();
    let victims: Vec<String> = placement(&s, "app=app")
        .into_iter()
        .filter(|(n, _)| *n == victim_node)
        .map(|(_, p)| p)
        .collect();
    assert!(!victims.is_empty());
    s.ok(&[
        "annotate",
        "node",
        &victim_node,
        "sim.skiff.dev/heartbeat=stop",
    ]);

    eventually("the node is Unknown and tainted unreachable", || {
        let n = json(&s.ok(&["get", "node", &victim_node, "-o", "json"]));
        let ready = n["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .cloned()
            .unwrap_or_default();
        let taints = n["spec"]["taints"].to_string();
        ready["status"] == "Unknown"
            && ready["reason"] == "NodeStatusUnknown"
            && taints.contains("node.kubernetes.io/unreachable")
            && taints.contains("NoExecute")
    });
    eventually("its pods evicted and replaced elsewhere", || {
        let now = placement(&s, "app=app");
        now.len() == 6
            && now.iter().all(|(n, _)| *n != victim_node)
            && victims.iter().all(|v| now.iter().all(|(_, p)| p != v))
    });
    // The evicted pods were marked for deletion (they stay Terminating: their kubelet is gone).
    let p = json(&s.ok(&["get", "pod", &victims[0], "-o", "json"]));
    assert!(p["metadata"]["deletionTimestamp"].is_string(), "{p}");
    let conds = p["status"]["conditions"].to_string();
    assert!(
        conds.contains("DisruptionTarget") && conds.contains("DeletionByTaintManager"),
        "{conds}"
    );
    // The condition was added to the pod's others (the kubelet's stay).
    assert!(
        conds.contains("PodScheduled") && conds.contains("\"Ready\""),
        "{conds}"
    );

    // Heartbeats again: Ready, untainted.
    s.ok(&["annotate", "node", &victim_node, "sim.skiff.dev/heartbeat-"]);
    eventually("the node recovers", || {
        let n = json(&s.ok(&["get", "node", &victim_node, "-o", "json"]));
        !n["spec"]["taints"].to_string().contains("unreachable")
    });
}

#[test]
fn a_disruption_budget_blocks_evictions_until_it_allows_them() {
    let s = Server::start();
    let _sim = s.sim(2, &[]);
    s.apply_ok(&["apply", "-f", "-"], &deployment("guarded", 2));
    s.ok(&["rollout", "status", "deployment/guarded", "--timeout=60s"]);
    s.apply_ok(
        &["apply", "-f", "-"],
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: guard\nspec:\n  minAvailable: 2\n  selector:\n    matchLabels: {app: guarded}\n",
    );
    eventually("the budget is computed", || {
        let b = json(&s.ok(&["get", "pdb", "guard", "-o", "json"]));
        b["status"]["observedGeneration"] == 1 && b["status"]["currentHealthy"] == 2
    });
    let b = json(&s.ok(&["get", "pdb", "guard", "-o", "json"]));
    assert_eq!(b["status"]["disruptionsAllowed"], 0);
    assert_eq!(b["status"]["desiredHealthy"], 2);
    assert_eq!(b["status"]["expectedPods"], 2);

    // A direct eviction answers 429 with upstream's message and cause.
    let pod = placement(&s, "app=guarded")[0].1.clone();
    let body = format!("{{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{{\"name\":\"{pod}\",\"namespace\":\"default\"}}}}");
    let out = s.with_stdin(
        &[
            "create",
            "--raw",
            &format!("/api/v1/namespaces/default/pods/{pod}/eviction"),
            "-f",
            "-",
        ],
        &body,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Cannot evict pod as it would violate the pod's disruption budget"),
        "{err}"
    );
    // kubectl drain is refused too (and retries until its timeout).
    let node = placement(&s, "app=guarded")[0].0.clone();
    let out = s.kubectl(&["drain", &node, "--timeout=3s", "--ignore-daemonsets"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("disruption budget"), "{err}");

    // Once the budget allows one disruption, the drain evicts.
    s.ok(&[
        "patch",
        "pdb",
        "guard",
        "--type=merge",
        "-p",
        "{\"spec\":{\"minAvailable\":1}}",
    ]);
    eventually("the budget allows one", || {
        let b = json(&s.ok(&["get", "pdb", "guard", "-o", "json"]));
        b["status"]["disruptionsAllowed"] == 1
    });
    let out = s.ok(&["drain", &node, "--timeout=30s", "--ignore-daemonsets"]);
    assert!(out.contains("evicted") || out.contains("drained"), "{out}");
    eventually("no guarded pod left on the drained node", || {
        placement(&s, "app=guarded").iter().all(|(n, _)| *n != node)
    });
}

#[test]
fn services_get_endpoints_and_slices_and_quotas_report_usage() {
    let s = Server::start();
    let _sim = s.sim(2, &[]);
    s.apply_ok(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: budget\nspec:\n  hard: {pods: \"10\", requests.cpu: \"2\", requests.memory: 1Gi, services: \"5\", count/deployments.apps: \"4\"}\n",
    );
    s.apply_ok(&["apply", "-f", "-"], &deployment("api", 3));
    s.apply_ok(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\nspec:\n  selector: {app: api}\n  ports:\n  - {name: web, port: 80, targetPort: http}\n",
    );
    s.ok(&["rollout", "status", "deployment/api", "--timeout=60s"]);
    let ips = || {
        let mut v: Vec<String> = s
            .ok(&[
                "get",
                "pods",
                "-l",
                "app=api",
                "--field-selector",
                "status.phase=Running",
                "-o",
                "jsonpath={range .items[*]}{.status.podIP}{\"\\n\"}{end}",
            ])
            .lines()
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    eventually("Endpoints list the three pod IPs on the named port", || {
        let ep = json(&s.ok(&["get", "endpoints", "api", "-o", "json"]));
        let mut got: Vec<String> = ep["subsets"][0]["addresses"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| x["ip"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default();
        got.sort();
        got.len() == 3 && got == ips() && ep["subsets"][0]["ports"][0]["port"] == 8080
    });
    let slices = json(&s.ok(&[
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=api",
        "-o",
        "json",
    ]));
    let slice = &slices["items"][0];
    assert_eq!(slice["addressType"], "IPv4");
    assert_eq!(slice["endpoints"].as_array().unwrap().len(), 3);
    assert_eq!(slice["endpoints"][0]["conditions"]["ready"], true);
    assert_eq!(slice["ports"][0]["port"], 8080);
    assert_eq!(slice["metadata"]["ownerReferences"][0]["kind"], "Service");

    eventually(
        "the quota counts pods, requests, services and deployments",
        || {
            let q = json(&s.ok(&["get", "resourcequota", "budget", "-o", "json"]));
            let u = &q["status"]["used"];
            u["pods"] == "3"
                && u["requests.cpu"] == "300m"
                && u["requests.memory"] == "192Mi"
                && u["services"] == "2"
                && u["count/deployments.apps"] == "1"
        },
    );
    let described = s.ok(&["describe", "quota", "budget"]);
    assert!(
        described.contains("requests.cpu") && described.contains("300m"),
        "{described}"
    );

    // No pods: the Endpoints keep no subsets at all, as upstream encodes it.
    s.ok(&["scale", "deployment/api", "--replicas=0"]);
    eventually("Endpoints without subsets", || {
        let ep = json(&s.ok(&["get", "endpoints", "api", "-o", "json"]));
        ep.get("subsets").is_none()
    });
}
