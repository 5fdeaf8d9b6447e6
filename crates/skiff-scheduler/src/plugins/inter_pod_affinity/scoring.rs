//! InterPodAffinity PreScore/Score: sums preferred-term weights per topology value, in both
//! directions (the incoming pod's terms and the existing pods' terms), then scales to 0–100.

use super::{merge_namespaces, InterPodAffinity};
use crate::framework::{CycleState, NodeScore, PreScore, Score, Status, MAX_NODE_SCORE};
use crate::labels::Labels;
use crate::pod_info::{AffinityTerm, PodInfo, WeightedAffinityTerm};
use crate::snapshot::{NodeInfo, Snapshot};
use std::collections::HashMap;

/// topology key -> topology value -> score.
type TopologyScore = HashMap<String, HashMap<String, i64>>;

#[derive(Clone, Debug)]
struct PreScoreState(TopologyScore);

fn process_term(
    scores: &mut TopologyScore,
    term: &AffinityTerm,
    weight: i64,
    pod: &PodInfo,
    ns_labels: &Labels,
    node: &NodeInfo,
) {
    if term.matches(pod, ns_labels) {
        if let Some(v) = node.labels().get(&term.topology_key) {
            *scores
                .entry(term.topology_key.clone())
                .or_default()
                .entry(v.clone())
                .or_default() += weight;
        }
    }
}

fn process_terms(
    scores: &mut TopologyScore,
    terms: &[WeightedAffinityTerm],
    pod: &PodInfo,
    ns_labels: &Labels,
    node: &NodeInfo,
    sign: i64,
) {
    for t in terms {
        process_term(
            scores,
            &t.term,
            i64::from(t.weight) * sign,
            pod,
            ns_labels,
            node,
        );
    }
}

impl PreScore for InterPodAffinity {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Status {
        if nodes.is_empty() {
            return Status::success();
        }
        let has_constraints = !pod.preferred_affinity_terms.is_empty()
            || !pod.preferred_anti_affinity_terms.is_empty();
        if self.ignore_preferred_terms_of_existing_pods && !has_constraints {
            return Status::skip();
        }
        let merge = |terms: &[WeightedAffinityTerm]| -> Vec<WeightedAffinityTerm> {
            let plain: Vec<AffinityTerm> = terms.iter().map(|t| t.term.clone()).collect();
            merge_namespaces(&plain, snapshot)
                .into_iter()
                .zip(terms)
                .map(|(term, t)| WeightedAffinityTerm {
                    term,
                    weight: t.weight,
                })
                .collect()
        };
        let affinity = merge(&pod.preferred_affinity_terms);
        let anti_affinity = merge(&pod.preferred_anti_affinity_terms);
        let ns_labels = snapshot.namespace_labels(&pod.namespace);
        let none = Labels::new();
        let mut scores = TopologyScore::new();
        let visit = |n: &&NodeInfo| has_constraints || n.has_pods_with_affinity();
        for node in snapshot.nodes().iter().filter(visit) {
            if node.labels().is_empty() {
                continue;
            }
            for existing in node.pods() {
                if !has_constraints && !existing.has_affinity() {
                    continue;
                }
                // The incoming pod's preferences about existing pods.
                process_terms(&mut scores, &affinity, existing, &none, node, 1);
                process_terms(&mut scores, &anti_affinity, existing, &none, node, -1);
                // Existing pods' rules about the incoming pod.
                if self.hard_pod_affinity_weight > 0 {
                    for t in &existing.required_affinity_terms {
                        process_term(
                            &mut scores,
                            t,
                            self.hard_pod_affinity_weight,
                            pod,
                            &ns_labels,
                            node,
                        );
                    }
                }
                process_terms(
                    &mut scores,
                    &existing.preferred_affinity_terms,
                    pod,
                    &ns_labels,
                    node,
                    1,
                );
                process_terms(
                    &mut scores,
                    &existing.preferred_anti_affinity_terms,
                    pod,
                    &ns_labels,
                    node,
                    -1,
                );
            }
        }
        if scores.is_empty() {
            return Status::skip();
        }
        state.write(PreScoreState(scores));
        Status::success()
    }
}

impl Score for InterPodAffinity {
    fn score(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let Some(s) = state.read::<PreScoreState>() else {
            return Ok(0);
        };
        Ok(s.0
            .iter()
            .filter_map(|(key, values)| node.labels().get(key).and_then(|v| values.get(v)))
            .sum())
    }

    fn normalize(
        &self,
        state: &CycleState,
        _pod: &PodInfo,
        scores: &mut [NodeScore],
    ) -> Result<(), Status> {
        if state.read::<PreScoreState>().is_none_or(|s| s.0.is_empty()) {
            return Ok(());
        }
        let min = scores.iter().map(|s| s.score).min().unwrap_or(0);
        let max = scores.iter().map(|s| s.score).max().unwrap_or(0);
        let diff = max - min;
        for s in scores.iter_mut() {
            s.score = if diff > 0 {
                (MAX_NODE_SCORE as f64 * ((s.score - min) as f64 / diff as f64)) as i64
            } else {
                0
            };
        }
        Ok(())
    }
}
