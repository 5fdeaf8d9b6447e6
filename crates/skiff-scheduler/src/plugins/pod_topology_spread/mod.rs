//! PodTopologySpread: `DoNotSchedule` constraints as a filter (skew ≤ maxSkew, minDomains,
//! node inclusion policies), `ScheduleAnyway` and cluster-default constraints as a score.

mod filtering;
mod scoring;

use crate::framework::{ActionType, ClusterEvent, EventResource, Plugin};
use crate::labels::{Labels, Operator, Requirement, Selector};
use crate::plugins::node_affinity::RequiredNodeAffinity;
use crate::plugins::taint_toleration::{do_not_schedule, find_untolerated};
use crate::plugins::{LABEL_HOSTNAME, LABEL_TOPOLOGY_ZONE};
use crate::pod_info::PodInfo;
use crate::snapshot::{NodeInfo, Snapshot};
use k8s_openapi::api::core::v1::TopologySpreadConstraint;
use std::collections::HashMap;
use std::sync::Arc;

/// The topology-spread filter and scorer (upstream `podtopologyspread.PodTopologySpread`).
#[derive(Clone, Debug)]
pub struct PodTopologySpread {
    /// Constraints applied to pods that declare none but belong to a Service, ReplicaSet,
    /// ReplicationController or StatefulSet.
    pub default_constraints: Vec<TopologySpreadConstraint>,
    /// Whether `default_constraints` are the system defaults (then nodes lacking a zone
    /// label still take part in hostname spreading).
    pub system_defaulted: bool,
    /// Matching-pod counts per node remembered between cycles.
    host_counts: HostCounts,
}

/// Matching pods per (node pods epoch, selector and namespace), with how many of the node's
/// pods were counted: while a node's [`NodeInfo::pods_epoch`] stays, its pods are the
/// counted ones plus pods appended since, so a later cycle counts only those. Pods of many
/// workloads are scheduled interleaved, so between two pods of one workload most nodes
/// gained a pod of another; scoring by hostname counts on every feasible node, which is
/// otherwise the scheduler's largest cost on big clusters.
#[derive(Clone, Debug, Default)]
struct HostCounts(Arc<std::sync::Mutex<HashMap<HostKey, Counted, BuildHostKeyHasher>>>);

/// A memo entry: `matching` of the node's first `pods` pods match.
#[derive(Clone, Copy, Debug)]
struct Counted {
    pods: u32,
    matching: u32,
}

/// Keys are already well-mixed 64-bit numbers (a generation and a SipHash fingerprint), so
/// the memo hashes them with one multiply instead of SipHash: it is probed once per node.
#[derive(Default)]
struct HostKeyHasher(u64);

impl std::hash::Hasher for HostKeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type BuildHostKeyHasher = std::hash::BuildHasherDefault<HostKeyHasher>;

/// (node pods epoch, selector fingerprint): epochs are unique across nodes and copies.
type HostKey = (u64, u64);

/// Entries kept before the memo starts over (about nodes × workloads being scheduled; ~11 MB).
const HOST_COUNTS_LIMIT: usize = 400_000;

impl HostCounts {
    /// Upstream `countPodsMatchSelector` on each of `nodes`, through the memo (locked once);
    /// the counts are keyed by node generation, which is how Score finds its node.
    fn count_all<'a>(
        &self,
        nodes: impl Iterator<Item = &'a NodeInfo>,
        selector: &Selector,
        selector_id: u64,
        namespace: &str,
    ) -> HashMap<u64, i64, BuildHostKeyHasher> {
        let mut memo = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = HashMap::with_hasher(BuildHostKeyHasher::default());
        for node in nodes {
            let pods = node.pods();
            let key = (node.pods_epoch(), selector_id);
            let n = match memo.get_mut(&key) {
                Some(c) if c.pods as usize <= pods.len() => {
                    let added = count_matching(&pods[c.pods as usize..], selector, namespace);
                    c.pods = pods.len() as u32;
                    c.matching += added as u32;
                    i64::from(c.matching)
                }
                _ => {
                    let n = count_matching(pods, selector, namespace);
                    if memo.len() >= HOST_COUNTS_LIMIT {
                        memo.clear();
                    }
                    let counted = Counted {
                        pods: pods.len() as u32,
                        matching: n as u32,
                    };
                    memo.insert(key, counted);
                    n
                }
            };
            out.insert(node.generation(), n);
        }
        out
    }
}

/// A fingerprint of a selector and a namespace, for [`HostCounts`].
fn selector_id(selector: &Selector, namespace: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    format!("{selector:?}").hash(&mut h);
    namespace.hash(&mut h);
    h.finish()
}

/// Upstream `systemDefaultConstraints`: hostname maxSkew 3, zone maxSkew 5, both `ScheduleAnyway`.
pub fn system_default_constraints() -> Vec<TopologySpreadConstraint> {
    let c = |key: &str, skew| TopologySpreadConstraint {
        topology_key: key.into(),
        max_skew: skew,
        when_unsatisfiable: "ScheduleAnyway".into(),
        ..Default::default()
    };
    vec![c(LABEL_HOSTNAME, 3), c(LABEL_TOPOLOGY_ZONE, 5)]
}

impl Default for PodTopologySpread {
    fn default() -> Self {
        PodTopologySpread {
            default_constraints: system_default_constraints(),
            system_defaulted: true,
            host_counts: HostCounts::default(),
        }
    }
}

impl PodTopologySpread {
    /// Upstream plugin name.
    pub const NAME: &'static str = "PodTopologySpread";
    /// Upstream `ErrReasonConstraintsNotMatch`.
    pub const ERR_CONSTRAINTS: &'static str =
        "node(s) didn't match pod topology spread constraints";
    /// Upstream `ErrReasonNodeLabelNotMatch`.
    pub const ERR_NODE_LABEL: &'static str =
        "node(s) didn't match pod topology spread constraints (missing required label)";
}

impl Plugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn events_to_register(&self) -> Vec<ClusterEvent> {
        let pod_changes = ActionType::ADD
            .or(ActionType::UPDATE_POD_LABEL)
            .or(ActionType::DELETE);
        vec![
            ClusterEvent::new(EventResource::AssignedPod, pod_changes),
            ClusterEvent::new(EventResource::UnscheduledPod, ActionType::UPDATE_POD_LABEL),
            ClusterEvent::new(
                EventResource::Node,
                ActionType::ADD
                    .or(ActionType::DELETE)
                    .or(ActionType::UPDATE_NODE_LABEL)
                    .or(ActionType::UPDATE_NODE_TAINT),
            ),
        ]
    }
}

/// A parsed constraint (upstream `topologySpreadConstraint`).
#[derive(Clone, Debug)]
pub(crate) struct Constraint {
    max_skew: i32,
    topology_key: String,
    selector: Selector,
    min_domains: i32,
    honor_node_affinity: bool,
    honor_node_taints: bool,
}

impl Constraint {
    /// Upstream `matchNodeInclusionPolicies`.
    fn includes(&self, pod: &PodInfo, node: &NodeInfo, affinity: &RequiredNodeAffinity) -> bool {
        if self.honor_node_affinity && !affinity.matches(node) {
            return false;
        }
        !(self.honor_node_taints
            && find_untolerated(node.taints(), pod.tolerations(), do_not_schedule).is_some())
    }
}

/// Upstream `nodeLabelsMatchSpreadConstraints`: the node has every topology key.
fn node_has_all_keys(node: &NodeInfo, constraints: &[Constraint]) -> bool {
    constraints
        .iter()
        .all(|c| node.labels().contains_key(&c.topology_key))
}

/// Upstream `countPodsMatchSelector`: non-terminating pods of the namespace matching the selector.
fn count_matching(pods: &[Arc<PodInfo>], selector: &Selector, namespace: &str) -> i64 {
    if selector.is_empty() {
        return 0;
    }
    pods.iter()
        .filter(|p| !p.terminating() && p.namespace == namespace && selector.matches(&p.labels))
        .count() as i64
}

/// Upstream `filterTopologySpreadConstraints`: the constraints with the given action, with
/// `matchLabelKeys` merged into the selector.
fn parse_constraints(
    constraints: &[TopologySpreadConstraint],
    pod_labels: &Labels,
    action: &str,
) -> Result<Vec<Constraint>, String> {
    let mut out = Vec::new();
    for c in constraints
        .iter()
        .filter(|c| c.when_unsatisfiable == action)
    {
        let mut selector = Selector::from_label_selector(c.label_selector.as_ref())?;
        let keyed: Vec<Requirement> = c
            .match_label_keys
            .iter()
            .flatten()
            .filter_map(|k| {
                pod_labels.get(k).map(|v| Requirement {
                    key: k.clone(),
                    op: Operator::In,
                    values: vec![v.clone()],
                })
            })
            .collect();
        selector.add(keyed);
        out.push(Constraint {
            max_skew: c.max_skew,
            topology_key: c.topology_key.clone(),
            selector,
            min_domains: c.min_domains.unwrap_or(1),
            honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
            honor_node_taints: c.node_taints_policy.as_deref() == Some("Honor"),
        });
    }
    Ok(out)
}

/// Upstream `helper.DefaultSelector`: the merged selectors of the Services selecting the pod
/// and of its controlling ReplicationController, ReplicaSet or StatefulSet.
pub fn default_selector(pod: &PodInfo, snapshot: &Snapshot) -> Selector {
    let w = snapshot.workloads();
    let mut set = Labels::new();
    for svc in &w.services {
        if svc.metadata.namespace.as_deref().unwrap_or("default") != pod.namespace {
            continue;
        }
        if let Some(sel) = svc.spec.as_ref().and_then(|s| s.selector.as_ref()) {
            if Selector::from_map(sel).matches(&pod.labels) {
                set.extend(sel.clone());
            }
        }
    }
    let mut selector = Selector::from_map(&set);
    let owner = pod
        .pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true));
    let Some(owner) = owner else {
        return selector;
    };
    let same = |ns: &Option<String>, name: &Option<String>| {
        ns.as_deref().unwrap_or("default") == pod.namespace && name.as_deref() == Some(&owner.name)
    };
    match (owner.api_version.as_str(), owner.kind.as_str()) {
        ("v1", "ReplicationController") => {
            let rc = w
                .replication_controllers
                .iter()
                .find(|rc| same(&rc.metadata.namespace, &rc.metadata.name));
            if let Some(sel) = rc
                .and_then(|rc| rc.spec.as_ref())
                .and_then(|s| s.selector.as_ref())
            {
                set.extend(sel.clone());
                selector = Selector::from_map(&set);
            }
        }
        ("apps/v1", "ReplicaSet") => {
            let rs = w
                .replica_sets
                .iter()
                .find(|rs| same(&rs.metadata.namespace, &rs.metadata.name));
            if let Some(spec) = rs.and_then(|rs| rs.spec.as_ref()) {
                add_requirements(&mut selector, &spec.selector);
            }
        }
        ("apps/v1", "StatefulSet") => {
            let ss = w
                .stateful_sets
                .iter()
                .find(|ss| same(&ss.metadata.namespace, &ss.metadata.name));
            if let Some(spec) = ss.and_then(|ss| ss.spec.as_ref()) {
                add_requirements(&mut selector, &spec.selector);
            }
        }
        _ => {}
    }
    selector
}

fn add_requirements(
    selector: &mut Selector,
    sel: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
) {
    if let Ok(Selector::All(reqs)) = Selector::from_label_selector(Some(sel)) {
        selector.add(reqs);
    }
}

impl PodTopologySpread {
    /// Upstream `getConstraints` / `buildDefaultConstraints` for one action.
    fn constraints(
        &self,
        pod: &PodInfo,
        snapshot: &Snapshot,
        action: &str,
    ) -> Result<Vec<Constraint>, String> {
        let own = pod
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.topology_spread_constraints.as_deref())
            .unwrap_or(&[]);
        if !own.is_empty() {
            return parse_constraints(own, &pod.labels, action);
        }
        let mut constraints = parse_constraints(&self.default_constraints, &pod.labels, action)?;
        if constraints.is_empty() {
            return Ok(constraints);
        }
        let selector = default_selector(pod, snapshot);
        if selector.is_empty() {
            return Ok(Vec::new());
        }
        for c in &mut constraints {
            c.selector = selector.clone();
        }
        Ok(constraints)
    }
}

#[cfg(test)]
mod tests;
