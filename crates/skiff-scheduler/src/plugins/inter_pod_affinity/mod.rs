//! InterPodAffinity: required pod affinity/anti-affinity as a filter (including the
//! anti-affinity of pods already running), preferred terms as a score.

mod filtering;
mod scoring;

use crate::framework::{ActionType, ClusterEvent, EventResource, Plugin};
use crate::labels::Selector;
use crate::pod_info::AffinityTerm;
use crate::snapshot::{NodeInfo, Snapshot};
use std::collections::HashMap;

/// The inter-pod affinity filter and scorer (upstream `interpodaffinity.InterPodAffinity`).
#[derive(Clone, Copy, Debug)]
pub struct InterPodAffinity {
    /// Weight of an existing pod's *required* affinity term matching the incoming pod, in
    /// scoring (upstream `HardPodAffinityWeight`, default 1).
    pub hard_pod_affinity_weight: i64,
    /// Ignore existing pods' preferred terms when the incoming pod has none.
    pub ignore_preferred_terms_of_existing_pods: bool,
}

/// Upstream default `HardPodAffinityWeight`.
pub const DEFAULT_HARD_POD_AFFINITY_WEIGHT: i64 = 1;

impl Default for InterPodAffinity {
    fn default() -> Self {
        InterPodAffinity {
            hard_pod_affinity_weight: DEFAULT_HARD_POD_AFFINITY_WEIGHT,
            ignore_preferred_terms_of_existing_pods: false,
        }
    }
}

impl InterPodAffinity {
    /// Upstream plugin name.
    pub const NAME: &'static str = "InterPodAffinity";
    /// Upstream `ErrReasonExistingAntiAffinityRulesNotMatch`.
    pub const ERR_EXISTING_ANTI_AFFINITY: &'static str =
        "node(s) didn't satisfy existing pods anti-affinity rules";
    /// Upstream `ErrReasonAffinityRulesNotMatch`.
    pub const ERR_AFFINITY: &'static str = "node(s) didn't match pod affinity rules";
    /// Upstream `ErrReasonAntiAffinityRulesNotMatch`.
    pub const ERR_ANTI_AFFINITY: &'static str = "node(s) didn't match pod anti-affinity rules";
}

impl Plugin for InterPodAffinity {
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
                ActionType::ADD.or(ActionType::UPDATE_NODE_LABEL),
            ),
        ]
    }
}

/// Counts per topology pair (`(key, value)`), entries dropped when they reach zero.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TopologyCounts(HashMap<(String, String), i64>);

impl TopologyCounts {
    fn update(&mut self, node: &NodeInfo, key: &str, delta: i64) {
        if let Some(v) = node.labels().get(key) {
            let pair = (key.to_string(), v.clone());
            let e = self.0.entry(pair.clone()).or_default();
            *e += delta;
            if *e == 0 {
                self.0.remove(&pair);
            }
        }
    }

    fn get(&self, key: &str, value: &str) -> i64 {
        self.0
            .get(&(key.to_string(), value.to_string()))
            .copied()
            .unwrap_or(0)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Upstream `mergeAffinityTermNamespacesIfNotEmpty`: the incoming pod's non-empty
/// namespace selectors are resolved to namespace names up front.
fn merge_namespaces(terms: &[AffinityTerm], snapshot: &Snapshot) -> Vec<AffinityTerm> {
    terms
        .iter()
        .map(|t| {
            let mut t = t.clone();
            if !t.namespace_selector.is_empty() {
                for (ns, labels) in snapshot.namespaces() {
                    if t.namespace_selector.matches(labels) {
                        t.namespaces.insert(ns.clone());
                    }
                }
                t.namespace_selector = Selector::Nothing;
            }
            t
        })
        .collect()
}

#[cfg(test)]
mod tests;
