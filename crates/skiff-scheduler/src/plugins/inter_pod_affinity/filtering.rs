//! InterPodAffinity PreFilter/Filter: counts, per topology pair, the pods that satisfy the
//! incoming pod's required terms and the existing pods whose anti-affinity rejects it.

use super::{merge_namespaces, InterPodAffinity, TopologyCounts};
use crate::framework::{CycleState, Filter, PreFilter, PreFilterResult, Status};
use crate::labels::Labels;
use crate::pod_info::{AffinityTerm, PodInfo};
use crate::snapshot::{NodeInfo, Snapshot};

/// Upstream `preFilterState`.
#[derive(Clone, Debug, Default)]
pub(super) struct PreFilterState {
    affinity_terms: Vec<AffinityTerm>,
    anti_affinity_terms: Vec<AffinityTerm>,
    namespace_labels: Labels,
    /// Pairs where an existing pod's required anti-affinity matches the incoming pod.
    existing_anti_affinity: TopologyCounts,
    /// Pairs holding pods that match all the incoming pod's affinity terms.
    affinity: TopologyCounts,
    /// Pairs holding pods that match one of the incoming pod's anti-affinity terms.
    anti_affinity: TopologyCounts,
}

/// Upstream `podMatchesAllAffinityTerms`.
fn matches_all(terms: &[AffinityTerm], pod: &PodInfo) -> bool {
    let none = Labels::new();
    !terms.is_empty() && terms.iter().all(|t| t.matches(pod, &none))
}

impl PreFilterState {
    /// Upstream `updateWithPod`: accounts `other` on `node` with `delta` (+1 add, -1 remove).
    fn update_with_pod(
        &mut self,
        incoming: &PodInfo,
        other: &PodInfo,
        node: &NodeInfo,
        delta: i64,
    ) {
        for t in &other.required_anti_affinity_terms {
            if t.matches(incoming, &self.namespace_labels) {
                self.existing_anti_affinity
                    .update(node, &t.topology_key, delta);
            }
        }
        if matches_all(&self.affinity_terms, other) {
            for t in &self.affinity_terms {
                self.affinity.update(node, &t.topology_key, delta);
            }
        }
        let none = Labels::new();
        for t in &self.anti_affinity_terms {
            if t.matches(other, &none) {
                self.anti_affinity.update(node, &t.topology_key, delta);
            }
        }
    }
}

impl PreFilter for InterPodAffinity {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> Result<PreFilterResult, Status> {
        if let Some(e) = &pod.parse_error {
            return Err(Status::unresolvable(format!("parsing pod: {e}")));
        }
        let mut s = PreFilterState {
            affinity_terms: merge_namespaces(&pod.required_affinity_terms, snapshot),
            anti_affinity_terms: merge_namespaces(&pod.required_anti_affinity_terms, snapshot),
            namespace_labels: snapshot.namespace_labels(&pod.namespace),
            ..Default::default()
        };
        let none = Labels::new();
        let own_terms = !s.affinity_terms.is_empty() || !s.anti_affinity_terms.is_empty();
        // Without terms of its own, only existing pods' required anti-affinity matters.
        let visit = |n: &&NodeInfo| own_terms || n.has_pods_with_required_anti_affinity();
        for node in snapshot.nodes().iter().filter(visit) {
            for existing in node.pods() {
                for t in &existing.required_anti_affinity_terms {
                    if t.matches(pod, &s.namespace_labels) {
                        s.existing_anti_affinity.update(node, &t.topology_key, 1);
                    }
                }
                if !own_terms {
                    continue;
                }
                if matches_all(&s.affinity_terms, existing) {
                    for t in &s.affinity_terms {
                        s.affinity.update(node, &t.topology_key, 1);
                    }
                }
                for t in &s.anti_affinity_terms {
                    if t.matches(existing, &none) {
                        s.anti_affinity.update(node, &t.topology_key, 1);
                    }
                }
            }
        }
        if s.existing_anti_affinity.is_empty() && !own_terms {
            return Ok(PreFilterResult::Skip);
        }
        state.write(s);
        Ok(PreFilterResult::AllNodes)
    }

    fn add_pod(&self, state: &mut CycleState, pod: &PodInfo, added: &PodInfo, node: &NodeInfo) {
        if let Some(s) = state.read_mut::<PreFilterState>() {
            s.update_with_pod(pod, added, node, 1);
        }
    }

    fn remove_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        removed: &PodInfo,
        node: &NodeInfo,
    ) {
        if let Some(s) = state.read_mut::<PreFilterState>() {
            s.update_with_pod(pod, removed, node, -1);
        }
    }
}

/// Upstream `satisfyPodAffinity`.
fn satisfies_affinity(s: &PreFilterState, pod: &PodInfo, node: &NodeInfo) -> bool {
    let mut pods_exist = true;
    for t in &s.affinity_terms {
        let Some(v) = node.labels().get(&t.topology_key) else {
            // All topology labels must exist on the node.
            return false;
        };
        if s.affinity.get(&t.topology_key, v) <= 0 {
            pods_exist = false;
        }
    }
    // The first pod of a group with affinity to itself may go anywhere with the topologies.
    pods_exist || (s.affinity.is_empty() && matches_all(&s.affinity_terms, pod))
}

/// Upstream `satisfyPodAntiAffinity`.
fn satisfies_anti_affinity(s: &PreFilterState, node: &NodeInfo) -> bool {
    s.anti_affinity.is_empty()
        || !s.anti_affinity_terms.iter().any(|t| {
            node.labels()
                .get(&t.topology_key)
                .is_some_and(|v| s.anti_affinity.get(&t.topology_key, v) > 0)
        })
}

/// Upstream `satisfyExistingPodsAntiAffinity`.
fn satisfies_existing_anti_affinity(s: &PreFilterState, node: &NodeInfo) -> bool {
    s.existing_anti_affinity.is_empty()
        || !node
            .labels()
            .iter()
            .any(|(k, v)| s.existing_anti_affinity.get(k, v) > 0)
}

impl Filter for InterPodAffinity {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<PreFilterState>() else {
            return Status::error(format!(
                "reading \"PreFilter{}\" from cycleState: not found",
                Self::NAME
            ));
        };
        if !satisfies_affinity(s, pod, node) {
            return Status::unresolvable(Self::ERR_AFFINITY);
        }
        if !satisfies_anti_affinity(s, node) {
            return Status::unschedulable(Self::ERR_ANTI_AFFINITY);
        }
        if !satisfies_existing_anti_affinity(s, node) {
            return Status::unschedulable(Self::ERR_EXISTING_ANTI_AFFINITY);
        }
        Status::success()
    }
}
