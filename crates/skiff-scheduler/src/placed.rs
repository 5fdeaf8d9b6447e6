//! The slim copy of a pod the snapshot keeps once the pod is on a node.
//!
//! A [`PodInfo`](crate::pod_info::PodInfo) parses what the plugins need (requests, host ports,
//! affinity terms, labels) when it is built. After that, a pod placed on a node is only read
//! through the accessors of `PodInfo` and by preemption (its name, namespace and uid to evict
//! it, its priority, start time, deletion and `DisruptionTarget` condition). Keeping the whole
//! object for every running pod multiplies the scheduler's memory by the size of fields no
//! plugin reads (environment, probes, mounts, container statuses…), so placed pods keep only
//! what [`slim`] lists, and [`info`] drops even the containers once their requests and host
//! ports are parsed. Pods waiting to be scheduled keep everything.
//!
//! ```
//! # use k8s_openapi::api::core::v1::Pod;
//! let pod: Pod = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"}},
//!     "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "web:1",
//!         "env": [{"name": "MODE", "value": "prod"}]}]},
//!     "status": {"phase": "Running", "podIP": "10.42.0.7"},
//! })).unwrap();
//! let slim = skiff_scheduler::placed::slim(&pod);
//! assert_eq!(slim.metadata.labels, pod.metadata.labels);
//! let spec = slim.spec.as_ref().unwrap();
//! assert_eq!(spec.node_name.as_deref(), Some("n1"));
//! assert!(spec.containers[0].env.is_none());
//! assert!(slim.status.as_ref().unwrap().pod_ip.is_none());
//! ```

use crate::pod_info::PodInfo;
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The [`PodInfo`] of a pod on a node, parsed from [`slim`] of it, keeping no containers: after
/// parsing, nothing reads a placed pod's containers (a `Container` alone is 2 KB in memory).
/// Nor its object's labels (parsed into [`PodInfo::labels`], which selectors, preemption's
/// disruption budgets and the snapshot read), owners, tolerations, node selector or spread
/// constraints: those are read only of the pod being scheduled. About 1 KB less per
/// running pod (a `BTreeMap`'s first node alone is over 500 bytes).
pub fn info(pod: &Pod, priority: i32) -> PodInfo {
    let mut info = PodInfo::with_priority(slim(pod), priority);
    info.pod.metadata.labels = None;
    info.pod.metadata.owner_references = None;
    if let Some(spec) = info.pod.spec.as_mut() {
        spec.containers = Vec::new();
        spec.init_containers = None;
        spec.tolerations = None;
        spec.node_selector = None;
        spec.topology_spread_constraints = None;
    }
    info
}

/// The parts of `pod` read once it is placed (see the module documentation).
pub fn slim(pod: &Pod) -> Pod {
    let m = &pod.metadata;
    Pod {
        metadata: ObjectMeta {
            name: m.name.clone(),
            namespace: m.namespace.clone(),
            uid: m.uid.clone(),
            labels: m.labels.clone(),
            owner_references: m.owner_references.clone(),
            creation_timestamp: m.creation_timestamp.clone(),
            deletion_timestamp: m.deletion_timestamp.clone(),
            ..Default::default()
        },
        spec: pod.spec.as_ref().map(slim_spec),
        status: pod.status.as_ref().map(|s| PodStatus {
            phase: s.phase.clone(),
            start_time: s.start_time.clone(),
            nominated_node_name: s.nominated_node_name.clone(),
            conditions: kept(&s.conditions, |c| c.type_ == "DisruptionTarget"),
            ..Default::default()
        }),
    }
}

fn slim_spec(s: &PodSpec) -> PodSpec {
    PodSpec {
        node_name: s.node_name.clone(),
        scheduler_name: s.scheduler_name.clone(),
        priority: s.priority,
        priority_class_name: s.priority_class_name.clone(),
        preemption_policy: s.preemption_policy.clone(),
        affinity: s.affinity.clone(),
        tolerations: s.tolerations.clone(),
        node_selector: s.node_selector.clone(),
        topology_spread_constraints: s.topology_spread_constraints.clone(),
        overhead: s.overhead.clone(),
        host_network: s.host_network,
        containers: s.containers.iter().map(slim_container).collect(),
        init_containers: s
            .init_containers
            .as_ref()
            .map(|cs| cs.iter().map(slim_container).collect()),
        // Only volumes that name storage: projected, configMap, secret and emptyDir volumes
        // are not scheduling constraints.
        volumes: kept(&s.volumes, |v| {
            v.persistent_volume_claim.is_some() || v.ephemeral.is_some()
        }),
        ..Default::default()
    }
}

/// The items of `list` that `keep` accepts; None when there are none.
fn kept<T: Clone>(list: &Option<Vec<T>>, keep: impl Fn(&T) -> bool) -> Option<Vec<T>> {
    let kept: Vec<T> = list.iter().flatten().filter(|x| keep(x)).cloned().collect();
    (!kept.is_empty()).then_some(kept)
}

fn slim_container(c: &Container) -> Container {
    Container {
        name: c.name.clone(),
        image: c.image.clone(),
        resources: c.resources.clone(),
        ports: c.ports.clone(),
        restart_policy: c.restart_policy.clone(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::pod;

    #[test]
    fn a_slim_pod_parses_to_the_same_scheduling_facts() {
        let full = pod("p")
            .namespace("team")
            .label("app", "web")
            .cpu("250m")
            .memory("64Mi")
            .sidecar("log", &[("cpu", "50m")])
            .overhead(&[("cpu", "10m")])
            .host_port(8080)
            .priority(5)
            .node("n1")
            .phase("Running")
            .start_time(100)
            .anti_affinity(&[("app", "web")], "kubernetes.io/hostname")
            .toleration("dedicated", "Equal", "web", "NoSchedule")
            .node_selector("disk", "ssd")
            .build();
        let (a, b) = (PodInfo::new(full.clone()), info(&full, 5));
        let spec = b.pod.spec.as_ref().expect("spec");
        assert!(spec.containers.is_empty());
        assert!(spec.tolerations.is_none() && spec.node_selector.is_none());
        // The labels live once, parsed.
        assert!(b.pod.metadata.labels.is_none());
        assert_eq!(a.requests, b.requests);
        assert_eq!(a.non_zero_requests, b.non_zero_requests);
        assert_eq!(a.host_ports, b.host_ports);
        assert_eq!(a.labels, b.labels);
        assert_eq!(a.key(), b.key());
        assert_eq!(a.uid, b.uid);
        assert_eq!(a.priority, b.priority);
        assert_eq!(a.node_name(), b.node_name());
        assert_eq!(a.start_time(), b.start_time());
        assert_eq!(
            a.required_anti_affinity_terms.len(),
            b.required_anti_affinity_terms.len()
        );
        assert!(b.has_affinity());
    }

    #[test]
    fn only_the_disruption_target_condition_and_storage_volumes_stay() {
        let mut full: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "annotations": {"a": "b"}},
            "spec": {"containers": [{"name": "c"}], "volumes": [
                {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                {"name": "token", "projected": {"sources": []}},
            ]},
            "status": {"conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"},
            ]},
        }))
        .expect("pod");
        let s = slim(&full);
        assert!(s.metadata.annotations.is_none());
        let conditions = s.status.and_then(|s| s.conditions).expect("conditions");
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].type_, "DisruptionTarget");
        let volumes = s.spec.and_then(|s| s.volumes).expect("volumes");
        assert_eq!(volumes.len(), 1);
        assert_eq!(volumes[0].name, "data");
        full.status = None;
        assert!(slim(&full).status.is_none());
    }
}
