//! PodTopologySpread PreFilter/Filter: matching pods per domain for each `DoNotSchedule`
//! constraint, and the skew check `matches + self - globalMin ≤ maxSkew`.

use super::{count_matching, node_has_all_keys, Constraint, PodTopologySpread};
use crate::framework::{CycleState, Filter, PreFilter, PreFilterResult, Status};
use crate::plugins::node_affinity::RequiredNodeAffinity;
use crate::pod_info::PodInfo;
use crate::snapshot::{NodeInfo, Snapshot};
use std::collections::HashMap;

/// Upstream `criticalPaths`: the two smallest (domain, count) pairs; `[0]` holds the minimum.
#[derive(Clone, Debug, PartialEq, Eq)]
struct CriticalPaths([(String, i64); 2]);

impl CriticalPaths {
    fn new() -> Self {
        CriticalPaths([
            (String::new(), i64::from(i32::MAX)),
            (String::new(), i64::from(i32::MAX)),
        ])
    }

    fn update(&mut self, value: &str, num: i64) {
        let p = &mut self.0;
        let existing = if p[0].0 == value {
            Some(0)
        } else if p[1].0 == value {
            Some(1)
        } else {
            None
        };
        match existing {
            Some(i) => {
                p[i].1 = num;
                if p[0].1 > p[1].1 {
                    p.swap(0, 1);
                }
            }
            None if num < p[0].1 => {
                p[1] = p[0].clone();
                p[0] = (value.to_string(), num);
            }
            None if num < p[1].1 => p[1] = (value.to_string(), num),
            None => {}
        }
    }
}

/// Upstream `preFilterState`.
#[derive(Clone, Debug)]
pub(super) struct PreFilterState {
    constraints: Vec<Constraint>,
    critical_paths: Vec<CriticalPaths>,
    /// Per constraint: topology value -> matching pods.
    counts: Vec<HashMap<String, i64>>,
    affinity: RequiredNodeAffinity,
}

impl PreFilterState {
    /// Upstream `minMatchNum`: the global minimum, 0 while fewer than `minDomains` domains exist.
    fn min_match(&self, i: usize) -> i64 {
        if (self.counts[i].len() as i64) < i64::from(self.constraints[i].min_domains) {
            0
        } else {
            self.critical_paths[i].0[0].1
        }
    }

    /// Upstream `updateWithPod`.
    fn update_with_pod(
        &mut self,
        incoming: &PodInfo,
        other: &PodInfo,
        node: &NodeInfo,
        delta: i64,
    ) {
        if other.namespace != incoming.namespace || !node_has_all_keys(node, &self.constraints) {
            return;
        }
        for i in 0..self.constraints.len() {
            let c = &self.constraints[i];
            if !c.selector.matches(&other.labels) || !c.includes(incoming, node, &self.affinity) {
                continue;
            }
            let v = node
                .labels()
                .get(&c.topology_key)
                .cloned()
                .unwrap_or_default();
            let n = self.counts[i].entry(v.clone()).or_default();
            *n += delta;
            let n = *n;
            self.critical_paths[i].update(&v, n);
        }
    }
}

impl PreFilter for PodTopologySpread {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> Result<PreFilterResult, Status> {
        let constraints = self
            .constraints(pod, snapshot, "DoNotSchedule")
            .map_err(|e| Status::error(format!("get constraints from pod: {e}")))?;
        if constraints.is_empty() {
            return Ok(PreFilterResult::Skip);
        }
        let affinity = RequiredNodeAffinity::of(&pod.pod);
        let mut counts = vec![HashMap::new(); constraints.len()];
        for node in snapshot.nodes() {
            if !node_has_all_keys(node, &constraints) {
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if !c.includes(pod, node, &affinity) {
                    continue;
                }
                let v = node
                    .labels()
                    .get(&c.topology_key)
                    .cloned()
                    .unwrap_or_default();
                *counts[i].entry(v).or_default() +=
                    count_matching(node.pods(), &c.selector, &pod.namespace);
            }
        }
        let critical_paths = counts
            .iter()
            .map(|m: &HashMap<String, i64>| {
                let mut p = CriticalPaths::new();
                let mut sorted: Vec<_> = m.iter().collect();
                sorted.sort();
                for (v, n) in sorted {
                    p.update(v, *n);
                }
                p
            })
            .collect();
        state.write(PreFilterState {
            constraints,
            critical_paths,
            counts,
            affinity,
        });
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

impl Filter for PodTopologySpread {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<PreFilterState>() else {
            return Status::error(format!(
                "reading \"PreFilter{}\" from cycleState: not found",
                Self::NAME
            ));
        };
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(value) = node.labels().get(&c.topology_key) else {
                return Status::unresolvable(Self::ERR_NODE_LABEL);
            };
            let self_match = i64::from(c.selector.matches(&pod.labels));
            let matching = s.counts[i].get(value).copied().unwrap_or(0);
            let skew = matching + self_match - s.min_match(i);
            if skew > i64::from(c.max_skew) {
                return Status::unschedulable(Self::ERR_CONSTRAINTS);
            }
        }
        Status::success()
    }
}

#[cfg(test)]
mod tests {
    use super::CriticalPaths;

    #[test]
    fn critical_paths_track_the_minimum() {
        let mut p = CriticalPaths::new();
        p.update("a", 3);
        p.update("b", 1);
        p.update("c", 2);
        assert_eq!(p.0[0], ("b".to_string(), 1));
        p.update("b", 4);
        assert_eq!(p.0[0], ("c".to_string(), 2));
    }
}
