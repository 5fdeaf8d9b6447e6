//! PodTopologySpread PreScore/Score: fewer matching pods in a node's domains scores higher,
//! each constraint weighted by `ln(domains + 2)`.

use super::{count_matching, node_has_all_keys, selector_id, Constraint, PodTopologySpread};
use crate::framework::{CycleState, NodeScore, PreScore, Score, Status, MAX_NODE_SCORE};
use crate::plugins::node_affinity::RequiredNodeAffinity;
use crate::plugins::LABEL_HOSTNAME;
use crate::pod_info::PodInfo;
use crate::snapshot::{NodeInfo, Snapshot};
use std::collections::{BTreeSet, HashMap};

/// Upstream `preScoreState`.
#[derive(Clone, Debug)]
struct PreScoreState {
    constraints: Vec<Constraint>,
    ignored_nodes: BTreeSet<String>,
    /// Per constraint: topology value -> matching pods (hostname counted at Score time).
    counts: Vec<HashMap<String, i64>>,
    weights: Vec<f64>,
    /// Per hostname constraint: matching pods per feasible node, by node generation (counted
    /// here with one lock of the memo, so that Score reads without locking).
    host_counts: Vec<Option<HashMap<u64, i64, super::BuildHostKeyHasher>>>,
}

/// Upstream `topologyNormalizingWeight`: `ln(size + 2)`.
fn normalizing_weight(size: usize) -> f64 {
    (size as f64 + 2.0).ln()
}

/// Upstream `scoreForCount`.
fn score_for_count(count: i64, max_skew: i32, weight: f64) -> f64 {
    count as f64 * weight + f64::from(max_skew - 1)
}

impl PreScore for PodTopologySpread {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Status {
        if nodes.is_empty() || snapshot.nodes().is_empty() {
            return Status::skip();
        }
        let own = pod
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.topology_spread_constraints.as_ref())
            .is_some_and(|c| !c.is_empty());
        let require_all = own || !self.system_defaulted;
        let constraints = match self.constraints(pod, snapshot, "ScheduleAnyway") {
            Ok(c) => c,
            Err(e) => return Status::error(format!("get constraints from pod: {e}")),
        };
        if constraints.is_empty() {
            return Status::skip();
        }
        let mut ignored_nodes = BTreeSet::new();
        let mut counts: Vec<HashMap<String, i64>> = vec![HashMap::new(); constraints.len()];
        for node in nodes {
            if require_all && !node_has_all_keys(node, &constraints) {
                ignored_nodes.insert(node.name().to_string());
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                // Hostname domains are counted at Score time; a node without the key is in
                // no domain of the constraint (upstream skips it too).
                if c.topology_key == LABEL_HOSTNAME {
                    continue;
                }
                if let Some(v) = node.labels().get(&c.topology_key) {
                    counts[i].entry(v.clone()).or_default();
                }
            }
        }
        let weights = constraints
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let size = if c.topology_key == LABEL_HOSTNAME {
                    nodes.len() - ignored_nodes.len()
                } else {
                    counts[i].len()
                };
                normalizing_weight(size)
            })
            .collect();
        let affinity = RequiredNodeAffinity::of(&pod.pod);
        // Matching pods per domain, over every node (not only the feasible ones). Skipped
        // when no constraint has a domain to count, e.g. nodes without zone labels.
        let any_domain = counts.iter().any(|c| !c.is_empty());
        for node in snapshot.nodes().iter().filter(|_| any_domain) {
            if require_all && !node_has_all_keys(node, &constraints) {
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                let Some(n) = node
                    .labels()
                    .get(&c.topology_key)
                    .and_then(|v| counts[i].get_mut(v))
                else {
                    continue;
                };
                if c.includes(pod, node, &affinity) {
                    *n += count_matching(node.pods(), &c.selector, &pod.namespace);
                }
            }
        }
        let host_counts = constraints
            .iter()
            .map(|c| {
                (c.topology_key == LABEL_HOSTNAME).then(|| {
                    let id = selector_id(&c.selector, &pod.namespace);
                    self.host_counts.count_all(
                        nodes.iter().copied().filter(|n| {
                            !ignored_nodes.contains(n.name())
                                && n.labels().contains_key(LABEL_HOSTNAME)
                        }),
                        &c.selector,
                        id,
                        &pod.namespace,
                    )
                })
            })
            .collect();
        state.write(PreScoreState {
            constraints,
            ignored_nodes,
            counts,
            weights,
            host_counts,
        });
        Status::success()
    }
}

impl Score for PodTopologySpread {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let Some(s) = state.read::<PreScoreState>() else {
            return Ok(0);
        };
        if s.ignored_nodes.contains(node.name()) {
            return Ok(0);
        }
        let mut score = 0.0;
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(v) = node.labels().get(&c.topology_key) else {
                continue;
            };
            let count = if let Some(counted) = &s.host_counts[i] {
                match counted.get(&node.generation()) {
                    Some(n) => *n,
                    // Not among the nodes PreScore was given: count it now.
                    None => count_matching(node.pods(), &c.selector, &pod.namespace),
                }
            } else {
                s.counts[i].get(v).copied().unwrap_or(0)
            };
            score += score_for_count(count, c.max_skew, s.weights[i]);
        }
        Ok(score.round() as i64)
    }

    fn normalize(
        &self,
        state: &CycleState,
        _pod: &PodInfo,
        scores: &mut [NodeScore],
    ) -> Result<(), Status> {
        let Some(s) = state.read::<PreScoreState>() else {
            return Ok(());
        };
        let counted = || {
            scores
                .iter()
                .filter(|n| !s.ignored_nodes.contains(&*n.name))
        };
        let min = counted().map(|n| n.score).min().unwrap_or(0);
        let max = counted().map(|n| n.score).max().unwrap_or(0).max(0);
        for n in scores.iter_mut() {
            n.score = if s.ignored_nodes.contains(&*n.name) {
                0
            } else if max == 0 {
                MAX_NODE_SCORE
            } else {
                let v = i128::from(MAX_NODE_SCORE)
                    * (i128::from(max) + i128::from(min) - i128::from(n.score))
                    / i128::from(max);
                v as i64
            };
        }
        Ok(())
    }
}
