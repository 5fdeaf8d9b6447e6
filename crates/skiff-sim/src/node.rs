//! Pure construction of what a simulated kubelet writes about its node: the Node object, its
//! status (conditions, addresses, nodeInfo), and its Lease in `kube-node-lease`.

use crate::cidr;
use crate::ids;
use crate::options::SimOptions;
use k8s_openapi::api::core::v1::{
    DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeSpec, NodeStatus,
    NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use std::net::Ipv4Addr;

/// Namespace of node Leases (upstream's `kube-node-lease`).
pub use skiff_agent::node::LEASE_NAMESPACE;
/// Annotation that stops a node's heartbeat at runtime when set to `"stop"`.
pub const HEARTBEAT_ANNOTATION: &str = "sim.skiff.dev/heartbeat";
/// The value of [`HEARTBEAT_ANNOTATION`] that stops the heartbeat.
pub const HEARTBEAT_STOP: &str = "stop";
/// Label every sim node carries (`type=skiff-sim`), used to watch only our nodes.
pub const TYPE_LABEL: (&str, &str) = ("type", "skiff-sim");
/// `status.nodeInfo.kubeletVersion` of sim nodes.
pub const KUBELET_VERSION: &str = "v1.33.0-skiff-sim";
/// `status.nodeInfo.containerRuntimeVersion` of sim nodes.
pub const RUNTIME_VERSION: &str = "sim://1.0";
/// Field manager of the sim's writes.
pub const FIELD_MANAGER: &str = "skiff-sim";

/// Whether a node's annotations ask for its heartbeat to stop.
pub fn heartbeat_stopped(node: &Node) -> bool {
    node.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(HEARTBEAT_ANNOTATION))
        .is_some_and(|v| v == HEARTBEAT_STOP)
}

/// The InternalIP of node `i` (0.0.0.0 only beyond [`cidr::MAX_NODES`], which validation
/// rules out).
pub fn internal_ip(i: u32) -> Ipv4Addr {
    cidr::node_ip(i).unwrap_or(Ipv4Addr::UNSPECIFIED)
}

/// The labels node `i` is created with: the configured ones, then the sim's own, which win.
pub fn labels(opts: &SimOptions, name: &str) -> std::collections::BTreeMap<String, String> {
    let mut labels = opts.labels.clone();
    for (k, v) in [
        ("kubernetes.io/hostname", name),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
        ("beta.kubernetes.io/os", "linux"),
        ("beta.kubernetes.io/arch", "amd64"),
        TYPE_LABEL,
    ] {
        labels.insert(k.into(), v.into());
    }
    labels
}

/// Node `i` as created: name, labels, taints and pod CIDR (status is written separately
/// through `/status`, which is where the API server takes it from).
pub fn node_object(opts: &SimOptions, i: u32) -> Node {
    let name = opts.node_name(i);
    let pod_cidr = opts.pod_cidr.nth_24(i).map(|c| c.to_string());
    Node {
        metadata: ObjectMeta {
            labels: Some(labels(opts, &name)),
            name: Some(name),
            ..Default::default()
        },
        spec: Some(NodeSpec {
            pod_cidrs: pod_cidr.clone().map(|c| vec![c]),
            pod_cidr,
            taints: (!opts.taints.is_empty()).then(|| opts.taints.clone()),
            ..Default::default()
        }),
        status: None,
    }
}

/// The four conditions a healthy kubelet posts, with `lastTransitionTime` = `since`.
pub fn conditions(now: Timestamp, since: Timestamp) -> Vec<NodeCondition> {
    let cond = |type_: &str, status: &str, reason: &str, message: &str| NodeCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_heartbeat_time: Some(Time(now)),
        last_transition_time: Some(Time(since)),
    };
    vec![
        cond(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        cond(
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure",
        ),
        cond(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
        ),
        cond(
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status",
        ),
    ]
}

/// The full status of node `i`.
pub fn node_status(opts: &SimOptions, i: u32, now: Timestamp, since: Timestamp) -> NodeStatus {
    let name = opts.node_name(i);
    NodeStatus {
        capacity: Some(opts.capacity.clone()),
        allocatable: Some(opts.allocatable.clone()),
        conditions: Some(conditions(now, since)),
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".into(),
                address: internal_ip(i).to_string(),
            },
            NodeAddress {
                type_: "Hostname".into(),
                address: name.clone(),
            },
        ]),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint { port: 10250 }),
        }),
        node_info: Some(NodeSystemInfo {
            architecture: "amd64".into(),
            boot_id: ids::uuid_like(&format!("boot/{name}")),
            container_runtime_version: RUNTIME_VERSION.into(),
            kernel_version: "6.1.0-skiff-sim".into(),
            kube_proxy_version: String::new(),
            kubelet_version: KUBELET_VERSION.into(),
            machine_id: ids::hex64(&format!("machine/{name}"))[..32].to_string(),
            operating_system: "linux".into(),
            os_image: "Skiff Simulated Node".into(),
            system_uuid: ids::uuid_like(&format!("system/{name}")),
            swap: None,
        }),
        ..Default::default()
    }
}

/// The merge patch writing the full status of node `i`.
pub fn status_patch(
    opts: &SimOptions,
    i: u32,
    now: Timestamp,
    since: Timestamp,
) -> serde_json::Value {
    serde_json::json!({ "status": node_status(opts, i, now, since) })
}

/// The merge patch refreshing only the conditions (the periodic heartbeat).
pub fn conditions_patch(now: Timestamp, since: Timestamp) -> serde_json::Value {
    serde_json::json!({ "status": { "conditions": conditions(now, since) } })
}

/// When an existing node's Ready condition turned True, if it is True now.
pub fn ready_since(node: &Node) -> Option<Timestamp> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")
        .map(|c| {
            c.last_transition_time
                .as_ref()
                .map_or(Timestamp::UNIX_EPOCH, |t| t.0)
        })
}

/// The Lease of node `name` (owned by the Node with `uid`, so it goes when the node does):
/// the real agent's, so simulated and real nodes heartbeat alike.
pub use skiff_agent::node::lease;

/// The merge patch renewing a Lease (also re-asserting holder, duration and owner).
pub fn renew_patch(name: &str, uid: &str, duration_secs: i32, now: Timestamp) -> serde_json::Value {
    let l = lease(name, uid, duration_secs, now);
    serde_json::json!({
        "metadata": { "ownerReferences": l.metadata.owner_references },
        "spec": l.spec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn node_carries_sim_labels_over_configured_ones() {
        let mut opts = SimOptions::new(3);
        opts.labels.insert("type".into(), "other".into());
        opts.labels.insert("zone".into(), "z1".into());
        opts.taints
            .push(crate::options::parse_taint("k=v:NoSchedule").unwrap());
        let n = node_object(&opts, 2);
        let labels = n.metadata.labels.unwrap();
        assert_eq!(n.metadata.name.as_deref(), Some("sim-node-2"));
        assert_eq!(labels["kubernetes.io/hostname"], "sim-node-2");
        assert_eq!(labels["type"], "skiff-sim");
        assert_eq!(labels["zone"], "z1");
        let spec = n.spec.unwrap();
        assert_eq!(spec.pod_cidr.as_deref(), Some("10.128.2.0/24"));
        assert_eq!(spec.pod_cidrs, Some(vec!["10.128.2.0/24".to_string()]));
        assert_eq!(spec.taints.unwrap()[0].key, "k");
    }

    #[test]
    fn status_reports_a_ready_node() {
        let opts = SimOptions::new(1);
        let (now, since) = (ts("2025-01-01T00:01:00Z"), ts("2025-01-01T00:00:00Z"));
        let s = node_status(&opts, 0, now, since);
        let conds = s.conditions.unwrap();
        let ready = conds.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.status, "True");
        assert_eq!(ready.reason.as_deref(), Some("KubeletReady"));
        assert_eq!(
            ready.message.as_deref(),
            Some("kubelet is posting ready status")
        );
        assert_eq!(ready.last_transition_time, Some(Time(since)));
        assert_eq!(ready.last_heartbeat_time, Some(Time(now)));
        for t in ["MemoryPressure", "DiskPressure", "PIDPressure"] {
            assert_eq!(conds.iter().find(|c| c.type_ == t).unwrap().status, "False");
        }
        let addrs = s.addresses.unwrap();
        assert_eq!(addrs[0].address, "10.127.0.1");
        assert_eq!(addrs[1].address, "sim-node-0");
        let info = s.node_info.unwrap();
        assert_eq!(info.kubelet_version, "v1.33.0-skiff-sim");
        assert_eq!(info.container_runtime_version, "sim://1.0");
        assert!(!info.machine_id.is_empty() && !info.boot_id.is_empty());
        assert_eq!(s.capacity.unwrap()["pods"].0, "110");
    }

    #[test]
    fn status_patch_serializes_times_as_rfc3339() {
        let now = ts("2025-01-01T00:00:00Z");
        let p = conditions_patch(now, now);
        assert_eq!(
            p["status"]["conditions"][3]["lastHeartbeatTime"],
            "2025-01-01T00:00:00Z"
        );
    }

    #[test]
    fn lease_is_held_by_the_node_and_owned_by_it() {
        let now = ts("2025-01-01T00:00:00.123456Z");
        let l = lease("sim-node-0", "uid-1", 40, now);
        assert_eq!(l.metadata.namespace.as_deref(), Some("kube-node-lease"));
        let owner = &l.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("Node", "uid-1"));
        let v = serde_json::to_value(&l).unwrap();
        assert_eq!(v["spec"]["renewTime"], "2025-01-01T00:00:00.123456Z");
        assert_eq!(v["spec"]["holderIdentity"], "sim-node-0");
        assert_eq!(v["spec"]["leaseDurationSeconds"], 40);
        let p = renew_patch("sim-node-0", "uid-1", 40, now);
        assert_eq!(p["spec"]["renewTime"], "2025-01-01T00:00:00.123456Z");
        assert_eq!(p["metadata"]["ownerReferences"][0]["name"], "sim-node-0");
    }

    #[test]
    fn heartbeat_annotation_is_read() {
        let mut n = Node::default();
        assert!(!heartbeat_stopped(&n));
        n.metadata.annotations =
            Some([(HEARTBEAT_ANNOTATION.to_string(), "stop".to_string())].into());
        assert!(heartbeat_stopped(&n));
    }

    #[test]
    fn ready_since_reads_the_ready_transition() {
        let opts = SimOptions::new(1);
        let since = ts("2025-01-01T00:00:00Z");
        let n = Node {
            status: Some(node_status(&opts, 0, since, since)),
            ..Default::default()
        };
        assert_eq!(ready_since(&n), Some(since));
        assert_eq!(ready_since(&Node::default()), None);
    }
}
