//! One scheduling cycle for one pod: prefilter → filter → (postfilter) → prescore → score →
//! normalize → weighted sum → pick the best node, ties broken by the caller's RNG.

use crate::framework::{Code, CycleState, NodeStatuses, Nomination, PostFilterContext, Status};
use crate::plugins::SchedulingGates;
use crate::pod_info::PodInfo;
use crate::profile::{NodeTotal, Profile, ScoreTable};
use crate::snapshot::{NodeInfo, Snapshot};
use k8s_openapi::api::core::v1::Pod;
use rand::Rng;
use std::collections::BTreeSet;
use std::fmt;

/// Upstream `minFeasibleNodesToFind`: clusters smaller than this are always searched fully.
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// Upstream `minFeasibleNodesPercentageToFind`: the adaptive percentage never goes below 5%.
pub const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: usize = 5;
/// Upstream `ErrNoNodesAvailable`.
pub const NO_NODES_AVAILABLE: &str = "no nodes available to schedule pods";

/// Where the pod goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The chosen node.
    pub node: String,
    /// Nodes evaluated by the filters.
    pub evaluated_nodes: usize,
    /// Nodes that passed the filters.
    pub feasible_nodes: usize,
    /// Scores of the feasible nodes (empty when there was nothing to compare).
    pub scores: ScoreTable,
}

/// Why no node fits (upstream `FitError` with its `Diagnosis`).
#[derive(Clone, Debug, PartialEq)]
pub struct FitError {
    /// Nodes in the snapshot.
    pub num_all_nodes: usize,
    /// Per-node rejections (nodes rejected by PreFilter share `statuses.absent`).
    pub statuses: NodeStatuses,
    /// Plugins that rejected the pod somewhere (requeue on their events).
    pub unschedulable_plugins: BTreeSet<&'static str>,
    /// The PreFilter rejection message, if PreFilter rejected the pod.
    pub pre_filter_msg: String,
    /// The PostFilter (preemption) message.
    pub post_filter_msg: String,
    /// The node preemption nominated and the victims to evict, if any.
    pub nomination: Option<Nomination>,
}

impl FitError {
    /// Upstream `FitError.Error()`:
    /// `0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, 2 Insufficient cpu. preemption: …`.
    pub fn message(&self) -> String {
        if self.num_all_nodes == 0 {
            return NO_NODES_AVAILABLE.to_string();
        }
        let mut msg = format!("0/{} nodes are available:", self.num_all_nodes);
        if !self.pre_filter_msg.is_empty() {
            msg.push_str(&format!(" {}.", self.pre_filter_msg));
        } else {
            let hist = self.statuses.reason_histogram(self.num_all_nodes);
            if !hist.is_empty() {
                msg.push_str(&format!(" {}.", hist.join(", ")));
            }
        }
        if !self.post_filter_msg.is_empty() {
            msg.push_str(&format!(" {}", self.post_filter_msg));
        }
        msg
    }

    /// Whether some node rejected the pod only with `Unschedulable` (so evicting pods could help).
    pub fn preemption_may_help(&self) -> bool {
        let explicit = self
            .statuses
            .nodes
            .values()
            .any(|s| s.code() == Code::Unschedulable);
        let absent = self.statuses.nodes.len() < self.num_all_nodes
            && self.statuses.absent.code() == Code::Unschedulable;
        explicit || absent
    }
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

/// The outcome of [`schedule`].
#[derive(Clone, Debug, PartialEq)]
pub enum ScheduleResult {
    /// Bind the pod to this node.
    Scheduled(Placement),
    /// The pod has scheduling gates; it is not considered until they are removed.
    Gated {
        /// Gate names.
        gates: Vec<String>,
        /// `waiting for scheduling gates: [a b]`.
        message: String,
    },
    /// No node fits now.
    Unschedulable(FitError),
    /// A plugin failed; retry after the error backoff.
    Error(Status),
}

/// Upstream `numFeasibleNodesToFind`.
pub fn num_feasible_nodes_to_find(percentage: Option<u32>, all: usize) -> usize {
    if all < MIN_FEASIBLE_NODES_TO_FIND {
        return all;
    }
    let pct = match percentage.filter(|p| *p > 0) {
        Some(p) => (p as usize).min(100),
        None => 50usize
            .saturating_sub(all / 125)
            .max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND),
    };
    (all * pct / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// Schedules one pod against a snapshot.
///
/// ```no_run
/// use skiff_scheduler::{schedule, Profile, ScheduleResult, Snapshot};
/// use rand::SeedableRng;
/// # let (nodes, pods, pod) = (vec![], vec![], k8s_openapi::api::core::v1::Pod::default());
/// let snapshot = Snapshot::new(&nodes, &pods);
/// let mut rng = rand::rngs::StdRng::seed_from_u64(7);
/// match schedule(&pod, &snapshot, &Profile::default(), &mut rng) {
///     ScheduleResult::Scheduled(p) => println!("bind to {}", p.node),
///     ScheduleResult::Unschedulable(e) => println!("FailedScheduling: {e}"),
///     other => println!("{other:?}"),
/// }
/// ```
pub fn schedule(
    pod: &Pod,
    snapshot: &Snapshot,
    profile: &Profile,
    rng: &mut impl Rng,
) -> ScheduleResult {
    let gates = SchedulingGates::gates(pod);
    if !gates.is_empty() {
        return ScheduleResult::Gated {
            message: SchedulingGates::pre_enqueue(pod).message(),
            gates,
        };
    }
    let pod = snapshot.pod_info(pod);
    let all = snapshot.nodes();
    if all.is_empty() {
        return ScheduleResult::Unschedulable(FitError {
            num_all_nodes: 0,
            statuses: NodeStatuses::default(),
            unschedulable_plugins: BTreeSet::new(),
            pre_filter_msg: String::new(),
            post_filter_msg: String::new(),
            nomination: None,
        });
    }
    let mut state = CycleState::new();
    let mut diagnosis = FitError {
        num_all_nodes: all.len(),
        statuses: NodeStatuses::default(),
        unschedulable_plugins: BTreeSet::new(),
        pre_filter_msg: String::new(),
        post_filter_msg: String::new(),
        nomination: None,
    };

    let candidates: Vec<&NodeInfo> = match profile.run_pre_filter(&mut state, &pod, snapshot) {
        Err(st) if st.is_rejected() => {
            diagnosis.pre_filter_msg = st.message();
            diagnosis.unschedulable_plugins.insert(st.plugin());
            diagnosis.statuses.absent = st;
            return fail(diagnosis, profile, &state, &pod, snapshot, rng);
        }
        Err(st) => return ScheduleResult::Error(st),
        Ok(None) => all.iter().collect(),
        Ok(Some(narrowed)) => {
            let list: Vec<&str> = narrowed.plugins.iter().copied().collect();
            diagnosis.statuses.absent = Status::unresolvable(format!(
                "node(s) didn't satisfy plugin(s) [{}]",
                list.join(" ")
            ));
            diagnosis.unschedulable_plugins.extend(narrowed.plugins);
            all.iter()
                .filter(|n| narrowed.nodes.contains(n.name()))
                .collect()
        }
    };

    // A node nominated by an earlier preemption is tried first.
    if let Some(nominated) = pod.nominated_node_name().and_then(|n| snapshot.get(n)) {
        if candidates.iter().any(|c| c.name() == nominated.name()) {
            let st = profile.run_filter_with_nominated(&state, &pod, nominated, snapshot);
            if st.is_success() {
                return ScheduleResult::Scheduled(Placement {
                    node: nominated.name().to_string(),
                    evaluated_nodes: 1,
                    feasible_nodes: 1,
                    scores: ScoreTable::default(),
                });
            }
            if st.code() == Code::Error {
                return ScheduleResult::Error(st);
            }
        }
    }

    let want = num_feasible_nodes_to_find(profile.percentage_of_nodes_to_score, candidates.len());
    let start = if candidates.is_empty() {
        0
    } else {
        rng.random_range(0..candidates.len())
    };
    let mut feasible: Vec<&NodeInfo> = Vec::new();
    for i in 0..candidates.len() {
        if feasible.len() >= want {
            break;
        }
        let node = candidates[(start + i) % candidates.len()];
        let st = profile.run_filter_with_nominated(&state, &pod, node, snapshot);
        match st.code() {
            Code::Success => feasible.push(node),
            Code::Error => return ScheduleResult::Error(st),
            _ => {
                diagnosis.unschedulable_plugins.insert(st.plugin());
                diagnosis.statuses.nodes.insert(node.name().to_string(), st);
            }
        }
    }
    let evaluated_nodes = feasible.len() + diagnosis.statuses.nodes.len();
    if feasible.is_empty() {
        return fail(diagnosis, profile, &state, &pod, snapshot, rng);
    }
    if feasible.len() == 1 {
        return ScheduleResult::Scheduled(Placement {
            node: feasible[0].name().to_string(),
            evaluated_nodes,
            feasible_nodes: 1,
            scores: ScoreTable::default(),
        });
    }
    if let Err(st) = profile.run_pre_score(&mut state, &pod, &feasible, snapshot) {
        return ScheduleResult::Error(st);
    }
    let scores = match profile.run_score(&state, &pod, &feasible) {
        Ok(s) => s,
        Err(st) => return ScheduleResult::Error(st),
    };
    let node = select_host(&scores.nodes, rng);
    ScheduleResult::Scheduled(Placement {
        node,
        evaluated_nodes,
        feasible_nodes: feasible.len(),
        scores,
    })
}

/// Upstream `selectHost`: the highest total; among equal totals each is equally likely
/// (reservoir sampling with the caller's RNG).
fn select_host(scores: &[NodeTotal], rng: &mut impl Rng) -> String {
    let mut best: Option<&NodeTotal> = None;
    let mut ties = 0u32;
    for s in scores {
        match best {
            Some(b) if s.total < b.total => {}
            Some(b) if s.total == b.total => {
                ties += 1;
                if rng.random_range(0..ties) == 0 {
                    best = Some(s);
                }
            }
            _ => {
                best = Some(s);
                ties = 1;
            }
        }
    }
    best.map(|b| b.name.to_string()).unwrap_or_default()
}

/// Runs PostFilter (preemption) and returns the failure.
fn fail(
    mut diagnosis: FitError,
    profile: &Profile,
    state: &CycleState,
    pod: &PodInfo,
    snapshot: &Snapshot,
    rng: &mut impl Rng,
) -> ScheduleResult {
    let cx = PostFilterContext {
        profile,
        state,
        pod,
        snapshot,
        statuses: &diagnosis.statuses,
    };
    let (nomination, st) = profile.run_post_filter(&cx, rng);
    if st.code() == Code::Error {
        return ScheduleResult::Error(st);
    }
    diagnosis.post_filter_msg = st.message();
    diagnosis.nomination = nomination;
    diagnosis.unschedulable_plugins.remove("");
    ScheduleResult::Unschedulable(diagnosis)
}

#[cfg(test)]
mod tests;
