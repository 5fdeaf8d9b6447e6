//! NodeResourcesBalancedAllocation: prefers nodes whose cpu and memory would be used in
//! similar proportions, `score = (1 - std(fractions)) * 100`.

use crate::framework::{CycleState, Plugin, PreScore, Score, Status, MAX_NODE_SCORE};
use crate::plugins::node_resources_fit::{
    default_resources, pod_request, resource_allocation_score, ResourceSpec,
};
use crate::pod_info::PodInfo;
use crate::snapshot::{NodeInfo, Snapshot};

/// The balance scorer (upstream `noderesources.BalancedAllocation`).
#[derive(Clone, Debug)]
pub struct NodeResourcesBalancedAllocation {
    /// Resources compared (weights are not used by this scorer).
    pub resources: Vec<ResourceSpec>,
}

impl Default for NodeResourcesBalancedAllocation {
    fn default() -> Self {
        NodeResourcesBalancedAllocation {
            resources: default_resources(),
        }
    }
}

impl NodeResourcesBalancedAllocation {
    /// Upstream plugin name.
    pub const NAME: &'static str = "NodeResourcesBalancedAllocation";
}

#[derive(Clone)]
struct PreScoreState(Vec<i64>);

/// Upstream `balancedResourceScorer`.
pub fn balanced_resource_score(requested: &[i64], allocatable: &[i64]) -> i64 {
    let fraction = |(r, a): (&i64, &i64)| (*r as f64 / *a as f64).min(1.0);
    let fractions = || {
        requested
            .iter()
            .zip(allocatable)
            .filter(|(_, a)| **a != 0)
            .map(fraction)
    };
    let std = match fractions().count() {
        0 | 1 => 0.0,
        2 => {
            let mut two = fractions();
            let (a, b) = (two.next().unwrap_or(0.0), two.next().unwrap_or(0.0));
            ((a - b) / 2.0).abs()
        }
        n => {
            let mean = fractions().sum::<f64>() / n as f64;
            let var = fractions().map(|f| (f - mean) * (f - mean)).sum::<f64>() / n as f64;
            var.sqrt()
        }
    };
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

impl Plugin for NodeResourcesBalancedAllocation {
    fn name(&self) -> &'static str {
        Self::NAME
    }
}

impl PreScore for NodeResourcesBalancedAllocation {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _nodes: &[&NodeInfo],
        _snapshot: &Snapshot,
    ) -> Status {
        let reqs: Vec<i64> = self
            .resources
            .iter()
            .map(|r| pod_request(pod, &r.name, true))
            .collect();
        if reqs.iter().all(|r| *r == 0) {
            // Best-effort pods are not balanced (upstream issue 129138).
            return Status::skip();
        }
        state.write(PreScoreState(reqs));
        Status::success()
    }
}

impl Score for NodeResourcesBalancedAllocation {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let computed: Vec<i64>;
        let reqs = match state.read::<PreScoreState>() {
            Some(s) => &s.0,
            None => {
                computed = self
                    .resources
                    .iter()
                    .map(|r| pod_request(pod, &r.name, true))
                    .collect();
                if computed.iter().all(|v| *v == 0) {
                    return Ok(0);
                }
                &computed
            }
        };
        resource_allocation_score(node, &self.resources, reqs, true, balanced_resource_score)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::PreScore;
    use crate::testing::{node, pod, score_all};

    #[test]
    fn balanced_score_formula() {
        assert_eq!(balanced_resource_score(&[2, 2], &[4, 4]), 100);
        // fractions 0.75 and 0.25 -> std 0.25 -> 75
        assert_eq!(balanced_resource_score(&[3, 1], &[4, 4]), 75);
        // overcommit is capped at 1
        assert_eq!(balanced_resource_score(&[8, 4], &[4, 4]), 100);
        // three resources: fractions 0, .5, 1 -> std sqrt(1/6) = .408 -> 59
        assert_eq!(balanced_resource_score(&[0, 2, 4], &[4, 4, 4]), 59);
        assert_eq!(balanced_resource_score(&[1, 1], &[0, 0]), 100);
    }

    #[test]
    fn prefers_the_node_the_pod_balances() {
        // n1 is cpu-heavy already: 3 of 4 cpu, 1 of 8Gi; n2 is memory-heavy: 1 cpu, 6Gi.
        let nodes = [
            node("n1").cpu("4").memory("8Gi").build(),
            node("n2").cpu("4").memory("8Gi").build(),
        ];
        let existing = [
            pod("a").cpu("3").memory("1Gi").node("n1").build(),
            pod("b").cpu("1").memory("6Gi").node("n2").build(),
        ];
        // The pod needs 1 cpu and 1Gi: n1 -> cpu 1.0, mem .25 => 62; n2 -> .5, .875 => 81.
        let p = pod("p").cpu("1").memory("1Gi").build();
        assert_eq!(
            score_all(
                &NodeResourcesBalancedAllocation::default(),
                &p,
                &nodes,
                &existing
            ),
            vec![("n1", 62), ("n2", 81)]
        );
    }

    #[test]
    fn best_effort_pods_skip_balancing() {
        let snap = Snapshot::new(&[node("n").cpu("1").build()], &[]);
        let mut state = CycleState::new();
        let st = NodeResourcesBalancedAllocation::default().pre_score(
            &mut state,
            &PodInfo::new(pod("p").build()),
            &[],
            &snap,
        );
        assert_eq!(st, Status::skip());
    }
}
