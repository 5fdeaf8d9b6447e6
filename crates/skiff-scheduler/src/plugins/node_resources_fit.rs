//! NodeResourcesFit: the pod's requests must fit the node's free allocatable; nodes are
//! scored by how much stays free (LeastAllocated, the default) or is used (MostAllocated).

use crate::framework::{
    ActionType, ClusterEvent, CycleState, EventResource, Filter, Plugin, PreFilter,
    PreFilterResult, PreScore, Score, Status, MAX_NODE_SCORE,
};
use crate::pod_info::PodInfo;
use crate::resource::{is_scalar_resource_name, Resources, CPU, EPHEMERAL_STORAGE, MEMORY};
use crate::snapshot::{NodeInfo, Snapshot};
use std::collections::BTreeSet;

/// A resource a scorer looks at, with its weight (upstream `config.ResourceSpec`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceSpec {
    /// Resource name.
    pub name: String,
    /// Weight in the weighted average.
    pub weight: i64,
}

/// Upstream default scoring resources: cpu and memory, weight 1 each.
pub fn default_resources() -> Vec<ResourceSpec> {
    vec![
        ResourceSpec {
            name: CPU.into(),
            weight: 1,
        },
        ResourceSpec {
            name: MEMORY.into(),
            weight: 1,
        },
    ]
}

/// How NodeResourcesFit scores (upstream `ScoringStrategyType`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ScoringStrategy {
    /// Favor nodes with more free resources (the default: spreads load).
    #[default]
    LeastAllocated,
    /// Favor nodes with less free resources (bin packing).
    MostAllocated,
}

/// The resource-fit filter and scorer (upstream `noderesources.Fit`).
#[derive(Clone, Debug)]
pub struct NodeResourcesFit {
    /// Extended resources not checked by the filter.
    pub ignored_resources: BTreeSet<String>,
    /// Extended-resource groups (the part before `/`) not checked by the filter.
    pub ignored_resource_groups: BTreeSet<String>,
    /// Scoring strategy.
    pub strategy: ScoringStrategy,
    /// Resources the scorer looks at.
    pub resources: Vec<ResourceSpec>,
}

impl Default for NodeResourcesFit {
    fn default() -> Self {
        NodeResourcesFit {
            ignored_resources: BTreeSet::new(),
            ignored_resource_groups: BTreeSet::new(),
            strategy: ScoringStrategy::LeastAllocated,
            resources: default_resources(),
        }
    }
}

impl NodeResourcesFit {
    /// Upstream plugin name.
    pub const NAME: &'static str = "NodeResourcesFit";
    /// Reason when the node's pod count is exhausted.
    pub const TOO_MANY_PODS: &'static str = "Too many pods";
}

/// One resource the node lacks (upstream `InsufficientResource`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InsufficientResource {
    /// Resource name.
    pub name: String,
    /// `Insufficient <name>` or `Too many pods`.
    pub reason: String,
    /// Whether even an empty node could not hold the pod (preemption cannot help).
    pub unresolvable: bool,
}

/// Upstream `fitsRequest`: every resource the node lacks for `req`.
pub fn fits_request(
    req: &Resources,
    node: &NodeInfo,
    ignored: &BTreeSet<String>,
    ignored_groups: &BTreeSet<String>,
) -> Vec<InsufficientResource> {
    let mut out = Vec::new();
    let alloc = &node.allocatable;
    let used = &node.requested;
    if node.pods().len() as i64 + 1 > alloc.allowed_pod_number {
        out.push(InsufficientResource {
            name: "pods".into(),
            reason: NodeResourcesFit::TOO_MANY_PODS.into(),
            unresolvable: false,
        });
    }
    if req.is_zero() {
        return out;
    }
    let mut check = |name: &str, want: i64, have: i64, in_use: i64| {
        if want > 0 && want > have.saturating_sub(in_use) {
            out.push(InsufficientResource {
                name: name.into(),
                reason: format!("Insufficient {name}"),
                unresolvable: want > have,
            });
        }
    };
    check(CPU, req.milli_cpu, alloc.milli_cpu, used.milli_cpu);
    check(MEMORY, req.memory, alloc.memory, used.memory);
    check(
        EPHEMERAL_STORAGE,
        req.ephemeral_storage,
        alloc.ephemeral_storage,
        used.ephemeral_storage,
    );
    for (name, want) in &req.scalar {
        let group = name.split('/').next().unwrap_or("");
        if name.contains('/')
            && !name.starts_with("requests.")
            && (ignored.contains(name) || ignored_groups.contains(group))
        {
            continue;
        }
        check(name, *want, alloc.get(name), used.get(name));
    }
    out
}

#[derive(Clone)]
struct PreFilterState(Resources);

#[derive(Clone)]
struct PreScoreState(Vec<i64>);

/// A pod's request for one scored resource: actual requests, or with the scoring defaults.
pub(crate) fn pod_request(pod: &PodInfo, resource: &str, use_requested: bool) -> i64 {
    if use_requested {
        pod.requests.get(resource)
    } else {
        pod.non_zero_requests.get(resource)
    }
}

/// Upstream `calculateResourceAllocatableRequest`: (allocatable, requested incl. the pod).
pub(crate) fn allocatable_and_requested(
    node: &NodeInfo,
    resource: &str,
    pod_request: i64,
    use_requested: bool,
) -> (i64, i64) {
    let requested = if use_requested {
        &node.requested
    } else {
        &node.non_zero_requested
    };
    if pod_request == 0 && is_scalar_resource_name(resource) {
        return (0, 0);
    }
    let alloc = &node.allocatable;
    match resource {
        CPU => (
            alloc.milli_cpu,
            requested.milli_cpu.saturating_add(pod_request),
        ),
        MEMORY => (alloc.memory, requested.memory.saturating_add(pod_request)),
        EPHEMERAL_STORAGE => (
            alloc.ephemeral_storage,
            node.requested.ephemeral_storage.saturating_add(pod_request),
        ),
        name => match alloc.scalar.get(name) {
            Some(a) => (*a, node.requested.get(name).saturating_add(pod_request)),
            None => (0, 0),
        },
    }
}

/// Upstream `resourceAllocationScorer.score`: gathers (requested, allocatable) per resource
/// and hands them to a scorer.
pub(crate) fn resource_allocation_score(
    node: &NodeInfo,
    resources: &[ResourceSpec],
    pod_requests: &[i64],
    use_requested: bool,
    scorer: impl Fn(&[i64], &[i64]) -> i64,
) -> Result<i64, Status> {
    if resources.is_empty() {
        return Err(Status::error("resources not found"));
    }
    // This runs for every scored node on every cycle: the usual handful of resources is
    // gathered on the stack.
    const INLINE: usize = 8;
    let (mut req_inline, mut alloc_inline) = ([0i64; INLINE], [0i64; INLINE]);
    let (mut req_heap, mut alloc_heap) = (Vec::new(), Vec::new());
    let (requested, allocatable): (&mut [i64], &mut [i64]) = if resources.len() <= INLINE {
        (
            &mut req_inline[..resources.len()],
            &mut alloc_inline[..resources.len()],
        )
    } else {
        req_heap.resize(resources.len(), 0);
        alloc_heap.resize(resources.len(), 0);
        (&mut req_heap, &mut alloc_heap)
    };
    for (i, r) in resources.iter().enumerate() {
        let want = pod_requests.get(i).copied().unwrap_or(0);
        let (alloc, req) = allocatable_and_requested(node, &r.name, want, use_requested);
        if alloc == 0 {
            continue;
        }
        allocatable[i] = alloc;
        requested[i] = req;
    }
    Ok(scorer(requested, allocatable))
}

/// Weighted average over resources of `per_resource(requested, capacity)`.
fn weighted(
    resources: &[ResourceSpec],
    requested: &[i64],
    allocatable: &[i64],
    per_resource: fn(i64, i64) -> i64,
) -> i64 {
    let (mut total, mut weights) = (0i64, 0i64);
    for (i, r) in resources.iter().enumerate() {
        if allocatable[i] == 0 {
            continue;
        }
        total = total
            .saturating_add(per_resource(requested[i], allocatable[i]).saturating_mul(r.weight));
        weights = weights.saturating_add(r.weight);
    }
    if weights == 0 {
        0
    } else {
        total / weights
    }
}

/// Upstream `leastRequestedScore`: `(capacity - requested) * 100 / capacity`, 0 when overcommitted.
pub fn least_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    ((i128::from(capacity) - i128::from(requested)) * i128::from(MAX_NODE_SCORE)
        / i128::from(capacity)) as i64
}

/// Upstream `mostRequestedScore`: `requested * 100 / capacity`, capped at capacity.
pub fn most_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 {
        return 0;
    }
    let requested = requested.clamp(0, capacity);
    ((i128::from(requested) * i128::from(MAX_NODE_SCORE)) / i128::from(capacity)) as i64
}

impl Plugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![
            ClusterEvent::new(
                EventResource::AssignedPod,
                ActionType::DELETE.or(ActionType::UPDATE_POD_SCALE_DOWN),
            ),
            ClusterEvent::new(
                EventResource::Node,
                ActionType::ADD.or(ActionType::UPDATE_NODE_ALLOCATABLE),
            ),
        ]
    }
}

impl PreFilter for NodeResourcesFit {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _snapshot: &Snapshot,
    ) -> Result<PreFilterResult, Status> {
        state.write(PreFilterState(pod.requests.clone()));
        Ok(PreFilterResult::AllNodes)
    }
}

impl Filter for NodeResourcesFit {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let req = state
            .read::<PreFilterState>()
            .map(|s| &s.0)
            .unwrap_or(&pod.requests);
        let lacking = fits_request(
            req,
            node,
            &self.ignored_resources,
            &self.ignored_resource_groups,
        );
        if lacking.is_empty() {
            return Status::success();
        }
        let code = if lacking.iter().any(|r| r.unresolvable) {
            crate::framework::Code::UnschedulableAndUnresolvable
        } else {
            crate::framework::Code::Unschedulable
        };
        Status::new(code, lacking.into_iter().map(|r| r.reason))
    }
}

impl PreScore for NodeResourcesFit {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _nodes: &[&NodeInfo],
        _snapshot: &Snapshot,
    ) -> Status {
        let reqs = self
            .resources
            .iter()
            .map(|r| pod_request(pod, &r.name, false))
            .collect();
        state.write(PreScoreState(reqs));
        Status::success()
    }
}

impl Score for NodeResourcesFit {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let computed: Vec<i64>;
        let reqs = match state.read::<PreScoreState>() {
            Some(s) => &s.0,
            None => {
                computed = self
                    .resources
                    .iter()
                    .map(|r| pod_request(pod, &r.name, false))
                    .collect();
                &computed
            }
        };
        let per_resource = match self.strategy {
            ScoringStrategy::LeastAllocated => least_requested_score,
            ScoringStrategy::MostAllocated => most_requested_score,
        };
        resource_allocation_score(node, &self.resources, reqs, false, |req, alloc| {
            weighted(&self.resources, req, alloc, per_resource)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::testing::{node, pod, prefilter_and_filter, score_all};

    #[test]
    fn filter_reports_every_insufficient_resource() {
        let nodes = [
            node("small").cpu("1").memory("1Gi").pods(2).build(),
            node("gpu")
                .cpu("4")
                .memory("8Gi")
                .extended("example.com/gpu", "1")
                .build(),
        ];
        let existing = [
            pod("a").cpu("600m").memory("512Mi").node("small").build(),
            pod("b").node("small").build(),
        ];
        let cases = [
            (
                pod("p").cpu("500m").build(),
                "small",
                Code::Unschedulable,
                vec!["Too many pods", "Insufficient cpu"],
            ),
            (
                pod("p").cpu("2").build(),
                "small",
                Code::UnschedulableAndUnresolvable,
                vec!["Too many pods", "Insufficient cpu"],
            ),
            (
                pod("p").memory("600Mi").build(),
                "gpu",
                Code::Success,
                vec![],
            ),
            (
                pod("p").extended("example.com/gpu", "2").build(),
                "gpu",
                Code::UnschedulableAndUnresolvable,
                vec!["Insufficient example.com/gpu"],
            ),
            (
                pod("p").extended("example.com/gpu", "1").build(),
                "gpu",
                Code::Success,
                vec![],
            ),
            (
                pod("p").ephemeral("1Gi").build(),
                "gpu",
                Code::UnschedulableAndUnresolvable,
                vec!["Insufficient ephemeral-storage"],
            ),
        ];
        for (p, n, code, reasons) in cases {
            let st = prefilter_and_filter(&NodeResourcesFit::default(), &p, &nodes, &existing, n);
            assert_eq!(
                (st.code(), st.reasons().to_vec()),
                (
                    code,
                    reasons.iter().map(|s| s.to_string()).collect::<Vec<_>>()
                ),
                "{n}"
            );
        }
    }

    #[test]
    fn ignored_extended_resources_are_not_checked() {
        let nodes = [node("n").cpu("4").build()];
        let p = pod("p").extended("example.com/fpga", "1").build();
        let fit = NodeResourcesFit {
            ignored_resource_groups: BTreeSet::from(["example.com".to_string()]),
            ..Default::default()
        };
        assert!(prefilter_and_filter(&fit, &p, &nodes, &[], "n").is_success());
        assert!(
            !prefilter_and_filter(&NodeResourcesFit::default(), &p, &nodes, &[], "n").is_success()
        );
    }

    #[test]
    fn least_allocated_scores_free_share_with_scoring_defaults() {
        // n1: 4 cpu / 8Gi, 1 cpu + 2Gi used; n2 empty. The pod asks 1 cpu, 2Gi.
        let nodes = [
            node("n1").cpu("4").memory("8Gi").build(),
            node("n2").cpu("4").memory("8Gi").build(),
        ];
        let existing = [pod("a").cpu("1").memory("2Gi").node("n1").build()];
        let p = pod("p").cpu("1").memory("2Gi").build();
        // n1: cpu (4000-2000)*100/4000=50, mem 50 -> 50; n2: 75, 75 -> 75.
        assert_eq!(
            score_all(&NodeResourcesFit::default(), &p, &nodes, &existing),
            vec![("n1", 50), ("n2", 75)]
        );
        // A pod without requests counts as 100m / 200Mi.
        let empty = pod("e").build();
        // n2: cpu (4000-100)*100/4000 = 97, mem (8192-200)*100/8192 = 97.
        assert_eq!(
            score_all(&NodeResourcesFit::default(), &empty, &nodes, &existing)[1],
            ("n2", 97)
        );
    }

    #[test]
    fn most_allocated_prefers_fuller_nodes() {
        let nodes = [
            node("n1").cpu("4").memory("8Gi").build(),
            node("n2").cpu("4").memory("8Gi").build(),
        ];
        let existing = [pod("a").cpu("1").memory("2Gi").node("n1").build()];
        let p = pod("p").cpu("1").memory("2Gi").build();
        let fit = NodeResourcesFit {
            strategy: ScoringStrategy::MostAllocated,
            ..Default::default()
        };
        assert_eq!(
            score_all(&fit, &p, &nodes, &existing),
            vec![("n1", 50), ("n2", 25)]
        );
    }

    #[test]
    fn requested_score_formulas() {
        assert_eq!(least_requested_score(0, 0), 0);
        assert_eq!(least_requested_score(5, 4), 0);
        assert_eq!(least_requested_score(1, 4), 75);
        assert_eq!(most_requested_score(5, 4), 100);
        assert_eq!(most_requested_score(1, 4), 25);
    }
}
