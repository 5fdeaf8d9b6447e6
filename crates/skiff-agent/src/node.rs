//! PURE: the Node the agent registers, its status and its Lease, from [`Machine`] facts,
//! the runtime's state and the agent's settings. No I/O, no clock: `now` is passed in.
//!
//! ```
//! use skiff_agent::machine::Machine;
//! use skiff_agent::node::{capacity, Settings};
//! let m = Machine { cpus: 2, memory_total: 8 << 30, ..Default::default() };
//! let cap = capacity(&m, &Settings::default());
//! assert_eq!(cap["cpu"].0, "2");
//! assert_eq!(cap["pods"].0, "110");
//! ```

use crate::cri::RuntimeStatus;
use crate::machine::{self, Machine};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{
    DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeSpec, NodeStatus,
    NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use std::collections::BTreeMap;

/// Namespace of node Leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
/// `nodeInfo.kubeletVersion` of agent nodes (what `kubectl get nodes` shows as VERSION).
pub const KUBELET_VERSION: &str = concat!("v1.33.0+skiff-", env!("CARGO_PKG_VERSION"));
/// The kubelet's default hard eviction threshold `memory.available<100Mi`.
pub const EVICTION_MEMORY_AVAILABLE: u64 = 100 << 20;
/// The kubelet's default hard eviction threshold `nodefs.available<10%`.
pub const EVICTION_NODEFS_AVAILABLE_PERCENT: u64 = 10;
/// PIDPressure when fewer than this percentage of `pid_max` is left (upstream has no default
/// threshold; this one keeps the condition meaningful).
pub const PID_AVAILABLE_PERCENT: u64 = 5;

/// What the agent's flags decide about its Node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Maximum pods (capacity and allocatable `pods`).
    pub max_pods: u32,
    /// CPU held back from pods, millicores (kube-reserved + system-reserved).
    pub reserved_cpu_millis: u64,
    /// Memory held back from pods, bytes.
    pub reserved_memory: u64,
    /// Ephemeral storage held back from pods, bytes.
    pub reserved_ephemeral_storage: u64,
    /// Extra labels.
    pub labels: BTreeMap<String, String>,
    /// Port of the agent's HTTPS endpoint (`status.daemonEndpoints.kubeletEndpoint.Port`;
    /// 0: none published).
    pub kubelet_port: u16,
    /// Where this node keeps local-path volumes (published as an annotation for the
    /// provisioner; None: not published).
    pub local_path_dir: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_pods: 110,
            reserved_cpu_millis: 0,
            reserved_memory: 0,
            reserved_ephemeral_storage: 0,
            labels: BTreeMap::new(),
            kubelet_port: 0,
            local_path_dir: None,
        }
    }
}

fn kib(bytes: u64) -> Quantity {
    Quantity(format!("{}Ki", bytes / 1024))
}

fn millis(m: u64) -> Quantity {
    if m.is_multiple_of(1000) {
        Quantity((m / 1000).to_string())
    } else {
        Quantity(format!("{m}m"))
    }
}

/// `status.capacity`: what the machine has.
pub fn capacity(m: &Machine, s: &Settings) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".into(), Quantity(m.cpus.to_string())),
        ("memory".into(), kib(m.memory_total)),
        ("ephemeral-storage".into(), kib(m.disk_total)),
        ("pods".into(), Quantity(s.max_pods.to_string())),
        ("hugepages-1Gi".into(), Quantity("0".into())),
        ("hugepages-2Mi".into(), Quantity("0".into())),
    ])
}

/// `status.allocatable`: capacity minus reservations minus the hard eviction thresholds, as
/// the kubelet computes it.
pub fn allocatable(m: &Machine, s: &Settings) -> BTreeMap<String, Quantity> {
    let mut a = capacity(m, s);
    let cpu = (u64::from(m.cpus) * 1000).saturating_sub(s.reserved_cpu_millis);
    let memory = m
        .memory_total
        .saturating_sub(s.reserved_memory)
        .saturating_sub(EVICTION_MEMORY_AVAILABLE);
    let disk = m
        .disk_total
        .saturating_sub(s.reserved_ephemeral_storage)
        .saturating_sub(m.disk_total / 100 * EVICTION_NODEFS_AVAILABLE_PERCENT);
    a.insert("cpu".into(), millis(cpu));
    a.insert("memory".into(), kib(memory));
    a.insert("ephemeral-storage".into(), kib(disk));
    a
}

/// The standard node labels plus the extra ones (standard labels win).
pub fn labels(name: &str, s: &Settings) -> BTreeMap<String, String> {
    let mut l = s.labels.clone();
    for (k, v) in [
        ("kubernetes.io/hostname", name),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", machine::arch()),
        ("beta.kubernetes.io/os", "linux"),
        ("beta.kubernetes.io/arch", machine::arch()),
    ] {
        l.insert(k.into(), v.into());
    }
    l
}

/// The node's annotations: where its local-path volumes live.
pub fn annotations(s: &Settings) -> BTreeMap<String, String> {
    s.local_path_dir
        .iter()
        .map(|d| (LOCAL_PATH_DIR_ANNOTATION.to_string(), d.clone()))
        .collect()
}

/// The annotation naming the node's local-path directory (read by the provisioner).
pub const LOCAL_PATH_DIR_ANNOTATION: &str = "skiff.dev/local-path-dir";

/// The Node as first created (status goes through `/status`).
pub fn node_object(name: &str, s: &Settings) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels(name, s)),
            annotations: Some(annotations(s)).filter(|a| !a.is_empty()),
            ..Default::default()
        },
        spec: Some(NodeSpec::default()),
        status: None,
    }
}

/// `status.nodeInfo`.
pub fn node_info(m: &Machine, container_runtime_version: &str) -> NodeSystemInfo {
    NodeSystemInfo {
        architecture: machine::arch().into(),
        boot_id: m.boot_id.clone(),
        container_runtime_version: container_runtime_version.into(),
        kernel_version: m.kernel_version.clone(),
        kube_proxy_version: String::new(),
        kubelet_version: KUBELET_VERSION.into(),
        machine_id: m.machine_id.clone(),
        operating_system: "linux".into(),
        os_image: m.os_image.clone(),
        system_uuid: m.machine_id.clone(),
        swap: None,
    }
}

/// What the agent observed of its runtime: its status, or why it could not be asked.
pub type RuntimeObservation<'a> = Result<&'a RuntimeStatus, &'a str>;

/// The Ready condition's status, reason and message, as the kubelet words them.
pub fn readiness(runtime: RuntimeObservation<'_>) -> (bool, &'static str, String) {
    match runtime {
        Err(e) => (
            false,
            "KubeletNotReady",
            format!("container runtime is down: {e}"),
        ),
        Ok(r) if !r.runtime_ready.status => (
            false,
            "KubeletNotReady",
            format!(
                "container runtime status check may not have completed yet: RuntimeReady=false reason:{} message:{}",
                r.runtime_ready.reason, r.runtime_ready.message
            ),
        ),
        Ok(r) if !r.network_ready.status => (
            false,
            "KubeletNotReady",
            format!(
                "container runtime network not ready: NetworkReady=false reason:{} message:{}",
                r.network_ready.reason, r.network_ready.message
            ),
        ),
        Ok(_) => (true, "KubeletReady", "kubelet is posting ready status".into()),
    }
}

/// The four node conditions from the facts. `previous` are the conditions on the server: a
/// condition whose status did not change keeps its `lastTransitionTime`.
pub fn conditions(
    m: &Machine,
    runtime: RuntimeObservation<'_>,
    previous: &[NodeCondition],
    now: Timestamp,
) -> Vec<NodeCondition> {
    let memory_pressure = m.memory_total > 0 && m.memory_available < EVICTION_MEMORY_AVAILABLE;
    let disk_pressure = m.disk_total > 0
        && m.disk_available * 100 < m.disk_total * EVICTION_NODEFS_AVAILABLE_PERCENT;
    let pid_pressure = m.pid_max > 0
        && m.pid_max.saturating_sub(m.pids_in_use) * 100 < m.pid_max * PID_AVAILABLE_PERCENT;
    let (ready, ready_reason, ready_message) = readiness(runtime);
    let pick = |bad: bool, yes: (&str, &str), no: (&str, &str)| -> (String, String, String) {
        let (reason, message) = if bad { yes } else { no };
        let status = if bad { "True" } else { "False" };
        (status.into(), reason.into(), message.into())
    };
    let all = [
        (
            "MemoryPressure",
            pick(
                memory_pressure,
                (
                    "KubeletHasInsufficientMemory",
                    "kubelet has insufficient memory available",
                ),
                (
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                ),
            ),
        ),
        (
            "DiskPressure",
            pick(
                disk_pressure,
                ("KubeletHasDiskPressure", "kubelet has disk pressure"),
                ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ),
        ),
        (
            "PIDPressure",
            pick(
                pid_pressure,
                (
                    "KubeletHasInsufficientPID",
                    "kubelet has insufficient PID available",
                ),
                (
                    "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available",
                ),
            ),
        ),
        (
            "Ready",
            (
                if ready { "True" } else { "False" }.into(),
                ready_reason.into(),
                ready_message,
            ),
        ),
    ];
    all.into_iter()
        .map(|(type_, (status, reason, message))| {
            let since = previous
                .iter()
                .find(|c| c.type_ == type_ && c.status == status)
                .and_then(|c| c.last_transition_time.clone())
                .unwrap_or(Time(now));
            NodeCondition {
                type_: type_.into(),
                status,
                reason: Some(reason),
                message: Some(message),
                last_heartbeat_time: Some(Time(now)),
                last_transition_time: Some(since),
            }
        })
        .collect()
}

/// The full node status.
pub fn node_status(
    name: &str,
    m: &Machine,
    s: &Settings,
    runtime: RuntimeObservation<'_>,
    container_runtime_version: &str,
    previous: &[NodeCondition],
    now: Timestamp,
) -> NodeStatus {
    let mut addresses = Vec::new();
    if let Some(ip) = m.address {
        addresses.push(NodeAddress {
            type_: "InternalIP".into(),
            address: ip.to_string(),
        });
    }
    addresses.push(NodeAddress {
        type_: "Hostname".into(),
        address: name.into(),
    });
    NodeStatus {
        capacity: Some(capacity(m, s)),
        allocatable: Some(allocatable(m, s)),
        conditions: Some(conditions(m, runtime, previous, now)),
        addresses: Some(addresses),
        node_info: Some(node_info(m, container_runtime_version)),
        daemon_endpoints: (s.kubelet_port != 0).then(|| NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint {
                port: i32::from(s.kubelet_port),
            }),
        }),
        ..Default::default()
    }
}

/// The node's Lease in kube-node-lease, owned by the Node (it goes when the node does).
pub fn lease(name: &str, node_uid: &str, duration_secs: i32, now: Timestamp) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(LEASE_NAMESPACE.into()),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "Node".into(),
                name: name.into(),
                uid: node_uid.into(),
                ..Default::default()
            }]),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(name.into()),
            lease_duration_seconds: Some(duration_secs),
            renew_time: Some(MicroTime(now)),
            ..Default::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cri::Condition;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn machine() -> Machine {
        Machine {
            hostname: "h1".into(),
            cpus: 2,
            memory_total: 8 << 30,
            memory_available: 4 << 30,
            disk_total: 100 << 30,
            disk_available: 50 << 30,
            pid_max: 4_194_304,
            pids_in_use: 500,
            kernel_version: "6.1.0".into(),
            os_image: "Debian GNU/Linux 12 (bookworm)".into(),
            machine_id: "abc".into(),
            boot_id: "b".into(),
            address: Some("10.0.0.5".parse().unwrap()),
        }
    }

    fn ready_runtime() -> RuntimeStatus {
        let ok = Condition {
            status: true,
            ..Default::default()
        };
        RuntimeStatus {
            runtime_ready: ok.clone(),
            network_ready: ok,
        }
    }

    fn cond<'a>(cs: &'a [NodeCondition], t: &str) -> &'a NodeCondition {
        cs.iter().find(|c| c.type_ == t).unwrap()
    }

    #[test]
    fn allocatable_subtracts_reservations_and_eviction_thresholds() {
        let s = Settings {
            reserved_cpu_millis: 100,
            reserved_memory: 256 << 20,
            ..Default::default()
        };
        let m = machine();
        let a = allocatable(&m, &s);
        assert_eq!(a["cpu"].0, "1900m");
        let mem_kib = ((8u64 << 30) - (256 << 20) - (100 << 20)) / 1024;
        assert_eq!(a["memory"].0, format!("{mem_kib}Ki"));
        let disk_kib = ((100u64 << 30) - (100u64 << 30) / 100 * 10) / 1024;
        assert_eq!(a["ephemeral-storage"].0, format!("{disk_kib}Ki"));
        assert_eq!(a["pods"].0, "110");
        assert_eq!(
            capacity(&m, &s)["memory"].0,
            format!("{}Ki", (8u64 << 30) / 1024)
        );
    }

    #[test]
    fn a_healthy_machine_and_runtime_make_a_ready_node() {
        let now = ts("2026-01-01T00:00:00Z");
        let rt = ready_runtime();
        let cs = conditions(&machine(), Ok(&rt), &[], now);
        assert_eq!(cs.len(), 4);
        let r = cond(&cs, "Ready");
        assert_eq!(
            (r.status.as_str(), r.reason.as_deref()),
            ("True", Some("KubeletReady"))
        );
        for t in ["MemoryPressure", "DiskPressure", "PIDPressure"] {
            assert_eq!(cond(&cs, t).status, "False", "{t}");
        }
    }

    #[test]
    fn pressure_follows_the_eviction_thresholds() {
        let rt = ready_runtime();
        let now = ts("2026-01-01T00:00:00Z");
        let m = Machine {
            memory_available: 50 << 20,
            disk_available: 5 << 30,
            pids_in_use: 4_100_000,
            ..machine()
        };
        let cs = conditions(&m, Ok(&rt), &[], now);
        let mp = cond(&cs, "MemoryPressure");
        assert_eq!(
            (mp.status.as_str(), mp.reason.as_deref()),
            ("True", Some("KubeletHasInsufficientMemory"))
        );
        assert_eq!(cond(&cs, "DiskPressure").status, "True");
        assert_eq!(cond(&cs, "PIDPressure").status, "True");
    }

    #[test]
    fn runtime_problems_make_the_node_not_ready_with_the_kubelets_words() {
        let now = ts("2026-01-01T00:00:00Z");
        let mut rt = ready_runtime();
        rt.network_ready = Condition {
            status: false,
            reason: "NetworkPluginNotReady".into(),
            message: "Network plugin returns error: cni plugin not initialized".into(),
        };
        let cs = conditions(&machine(), Ok(&rt), &[], now);
        let r = cond(&cs, "Ready");
        assert_eq!(r.status, "False");
        assert_eq!(r.reason.as_deref(), Some("KubeletNotReady"));
        assert_eq!(
            r.message.as_deref(),
            Some("container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized")
        );
        let down = conditions(&machine(), Err("connection refused"), &[], now);
        assert_eq!(
            cond(&down, "Ready").message.as_deref(),
            Some("container runtime is down: connection refused")
        );
    }

    #[test]
    fn transition_time_moves_only_when_the_status_changes() {
        let rt = ready_runtime();
        let t0 = ts("2026-01-01T00:00:00Z");
        let t1 = ts("2026-01-01T00:00:10Z");
        let first = conditions(&machine(), Ok(&rt), &[], t0);
        let second = conditions(&machine(), Ok(&rt), &first, t1);
        let r = cond(&second, "Ready");
        assert_eq!(r.last_transition_time, Some(Time(t0)));
        assert_eq!(r.last_heartbeat_time, Some(Time(t1)));
        let down = conditions(&machine(), Err("gone"), &second, t1);
        assert_eq!(cond(&down, "Ready").last_transition_time, Some(Time(t1)));
    }

    #[test]
    fn node_carries_the_standard_labels_and_info() {
        let s = Settings {
            labels: BTreeMap::from([
                ("team".to_string(), "a".to_string()),
                ("kubernetes.io/hostname".to_string(), "spoofed".to_string()),
            ]),
            ..Default::default()
        };
        let n = node_object("h1", &s);
        let l = n.metadata.labels.unwrap();
        assert_eq!(l["kubernetes.io/hostname"], "h1");
        assert_eq!(l["kubernetes.io/os"], "linux");
        assert_eq!(l["kubernetes.io/arch"], machine::arch());
        assert_eq!(l["team"], "a");
        let rt = ready_runtime();
        let st = node_status(
            "h1",
            &machine(),
            &s,
            Ok(&rt),
            "containerd://1.6.20",
            &[],
            ts("2026-01-01T00:00:00Z"),
        );
        let info = st.node_info.unwrap();
        assert_eq!(info.container_runtime_version, "containerd://1.6.20");
        assert_eq!(info.os_image, "Debian GNU/Linux 12 (bookworm)");
        let addrs = st.addresses.unwrap();
        assert_eq!(addrs[0].type_, "InternalIP");
        assert_eq!(addrs[0].address, "10.0.0.5");
        assert_eq!(addrs[1].type_, "Hostname");
    }

    #[test]
    fn lease_is_owned_by_its_node() {
        let l = lease("h1", "uid-1", 40, ts("2026-01-01T00:00:00Z"));
        assert_eq!(l.metadata.namespace.as_deref(), Some(LEASE_NAMESPACE));
        assert_eq!(l.metadata.owner_references.unwrap()[0].uid, "uid-1");
        assert_eq!(l.spec.unwrap().lease_duration_seconds, Some(40));
    }
}
