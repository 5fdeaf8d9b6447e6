//! DefaultPreemption: when no node fits, find a node where evicting lower-priority pods
//! makes room, choosing the victims and the node the way upstream does.
//!
//! Per node: remove every lower-priority pod, check the pod fits, then reprieve as many as
//! possible (PDB-protected first, most important first). Across nodes: fewest PDB
//! violations, then the lowest highest-victim priority, the smallest priority sum, the
//! fewest victims, and the most recently started victims.

use crate::framework::{
    Code, CycleState, NodeStatuses, Nomination, Plugin, PostFilter, PostFilterContext, Status,
};
use crate::labels::Selector;
use crate::pod_info::PodInfo;
use crate::profile::Profile;
use crate::schedule::FitError;
use crate::snapshot::{NodeInfo, Snapshot};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::jiff::Timestamp;
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Upstream default `MinCandidateNodesPercentage`.
pub const MIN_CANDIDATE_NODES_PERCENTAGE: usize = 10;
/// Upstream default `MinCandidateNodesAbsolute`.
pub const MIN_CANDIDATE_NODES_ABSOLUTE: usize = 100;

/// Status message of a node without lower-priority pods.
pub const NO_VICTIMS: &str = "No preemption victims found for incoming pod";
/// Status of nodes where evicting pods cannot help.
pub const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";

/// The preemption PostFilter plugin (upstream `defaultpreemption.DefaultPreemption`).
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultPreemption;

impl DefaultPreemption {
    /// Upstream plugin name.
    pub const NAME: &'static str = "DefaultPreemption";
}

/// A node where preemption would work, and at what cost.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// Node name.
    pub node: String,
    /// Pods to evict, most important first.
    pub victims: Vec<Arc<PodInfo>>,
    /// How many victims are protected by an exhausted PodDisruptionBudget.
    pub num_pdb_violations: usize,
}

impl Plugin for DefaultPreemption {
    fn name(&self) -> &'static str {
        Self::NAME
    }
}

impl PostFilter for DefaultPreemption {
    fn post_filter(
        &self,
        cx: &PostFilterContext<'_>,
        rng: &mut dyn rand::RngCore,
    ) -> (Option<Nomination>, Status) {
        let (nomination, st) = preempt(cx, rng);
        let msg = st.message();
        if msg.is_empty() {
            (nomination, st)
        } else {
            (
                nomination,
                Status::new(st.code(), [format!("preemption: {msg}")]),
            )
        }
    }
}

/// Upstream `PodEligibleToPreemptOthers`; `Err` carries the reason.
fn eligible(cx: &PostFilterContext<'_>) -> Result<(), &'static str> {
    let pod = cx.pod;
    if pod.preemption_never() {
        return Err("not eligible due to preemptionPolicy=Never.");
    }
    if let Some(nominated) = pod.nominated_node_name() {
        if cx.statuses.get(nominated).code() == Code::UnschedulableAndUnresolvable {
            return Ok(());
        }
        if let Some(node) = cx.snapshot.get(nominated) {
            let terminating = node
                .pods()
                .iter()
                .any(|p| p.priority < pod.priority && terminating_by_preemption(p));
            if terminating {
                return Err("not eligible due to a terminating pod on the nominated node.");
            }
        }
    }
    Ok(())
}

/// Upstream `podTerminatingByPreemption`.
fn terminating_by_preemption(p: &PodInfo) -> bool {
    p.terminating()
        && p.pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "DisruptionTarget"))
            .is_some_and(|c| {
                c.status == "True" && c.reason.as_deref() == Some("PreemptionByScheduler")
            })
}

/// Upstream `Evaluator.Preempt`, returning the nomination or the reason preemption failed.
pub fn preempt(
    cx: &PostFilterContext<'_>,
    rng: &mut dyn rand::RngCore,
) -> (Option<Nomination>, Status) {
    if let Err(reason) = eligible(cx) {
        return (None, Status::unschedulable(reason));
    }
    let all = cx.snapshot.nodes();
    let potential: Vec<&NodeInfo> = all
        .iter()
        .filter(|n| cx.statuses.get(n.name()).code() == Code::Unschedulable)
        .collect();
    let (candidates, statuses) = if potential.is_empty() {
        (Vec::new(), NodeStatuses::default())
    } else {
        let offset = rand::Rng::random_range(rng, 0..potential.len());
        dry_run(cx, &potential, offset, num_candidates(potential.len()))
    };
    if candidates.is_empty() {
        let mut statuses = statuses;
        statuses.absent = Status::unresolvable(NOT_HELPFUL);
        let fit = FitError {
            num_all_nodes: all.len(),
            statuses,
            unschedulable_plugins: BTreeSet::new(),
            pre_filter_msg: String::new(),
            post_filter_msg: String::new(),
            nomination: None,
        };
        return (None, Status::unschedulable(fit.message()));
    }
    let best = pick_one(&candidates);
    let c = &candidates[best];
    let clear_nominations = cx
        .snapshot
        .nominated_pods(&c.node)
        .iter()
        .filter(|p| p.priority < cx.pod.priority)
        .map(|p| p.pod.clone())
        .collect();
    let nomination = Nomination {
        node: c.node.clone(),
        victims: c.victims.iter().map(|v| v.pod.clone()).collect(),
        clear_nominations,
    };
    (Some(nomination), Status::success())
}

/// Upstream `calculateNumCandidates`.
pub fn num_candidates(nodes: usize) -> usize {
    (nodes * MIN_CANDIDATE_NODES_PERCENTAGE / 100)
        .max(MIN_CANDIDATE_NODES_ABSOLUTE)
        .min(nodes)
}

/// Upstream `DryRunPreemption`: candidates (PDB-respecting first) and the failures.
fn dry_run(
    cx: &PostFilterContext<'_>,
    potential: &[&NodeInfo],
    offset: usize,
    wanted: usize,
) -> (Vec<Candidate>, NodeStatuses) {
    let mut non_violating = Vec::new();
    let mut violating = Vec::new();
    let mut statuses = NodeStatuses::default();
    for i in 0..potential.len() {
        let node = potential[(offset + i) % potential.len()];
        match select_victims_on_node(cx.profile, cx.state, cx.pod, node, cx.snapshot) {
            Ok((victims, num_pdb_violations)) if !victims.is_empty() => {
                let c = Candidate {
                    node: node.name().to_string(),
                    victims,
                    num_pdb_violations,
                };
                if num_pdb_violations == 0 {
                    non_violating.push(c);
                } else {
                    violating.push(c);
                }
                if !non_violating.is_empty() && non_violating.len() + violating.len() >= wanted {
                    break;
                }
            }
            Ok(_) => {
                let msg = format!("expected at least one victim pod on node {:?}", node.name());
                statuses
                    .nodes
                    .insert(node.name().to_string(), Status::error(msg));
            }
            Err(st) => {
                statuses.nodes.insert(node.name().to_string(), st);
            }
        }
    }
    non_violating.extend(violating);
    (non_violating, statuses)
}

/// Upstream `MoreImportantPod`: higher priority, then earlier start (unstarted pods last).
fn more_important(a: &PodInfo, b: &PodInfo) -> Ordering {
    b.priority
        .cmp(&a.priority)
        .then_with(|| start_key(a).cmp(&start_key(b)))
}

/// Start time for ordering, with "not started" as later than any start.
fn start_key(p: &PodInfo) -> (bool, Option<Timestamp>) {
    let t = p.start_time();
    (t.is_none(), t)
}

/// Upstream `SelectVictimsOnNode`: the fewest, least important pods whose eviction lets
/// the pod fit, and how many of them violate a PodDisruptionBudget.
pub fn select_victims_on_node(
    profile: &Profile,
    state: &CycleState,
    pod: &PodInfo,
    node: &NodeInfo,
    snapshot: &Snapshot,
) -> Result<(Vec<Arc<PodInfo>>, usize), Status> {
    let mut node = node.clone();
    let mut state = state.clone();
    let mut potential: Vec<Arc<PodInfo>> = node
        .pods()
        .iter()
        .filter(|p| p.priority < pod.priority)
        .cloned()
        .collect();
    if potential.is_empty() {
        return Err(Status::unresolvable(NO_VICTIMS));
    }
    for v in &potential {
        node.remove_pod(&v.key());
        profile.run_remove_pod(&mut state, pod, v, &node);
    }
    let st = profile.run_filter_with_nominated(&state, pod, &node, snapshot);
    if !st.is_success() {
        return Err(st);
    }
    potential.sort_by(|a, b| more_important(a, b));
    let (violating, non_violating) = split_by_pdb_violation(&potential, snapshot.pdbs());
    let mut victims = Vec::new();
    let mut num_violating = 0;
    let mut reprieve = |p: &Arc<PodInfo>, victims: &mut Vec<Arc<PodInfo>>| -> bool {
        node.add_pod(p.clone());
        profile.run_add_pod(&mut state, pod, p, &node);
        let fits = profile
            .run_filter_with_nominated(&state, pod, &node, snapshot)
            .is_success();
        if !fits {
            node.remove_pod(&p.key());
            profile.run_remove_pod(&mut state, pod, p, &node);
            victims.push(p.clone());
        }
        fits
    };
    for p in &violating {
        if !reprieve(p, &mut victims) {
            num_violating += 1;
        }
    }
    for p in &non_violating {
        reprieve(p, &mut victims);
    }
    if !violating.is_empty() && !non_violating.is_empty() {
        victims.sort_by(|a, b| more_important(a, b));
    }
    Ok((victims, num_violating))
}

/// Upstream `filterPodsWithPDBViolation`: splits pods (order kept) into those whose eviction
/// would exceed a budget's `disruptionsAllowed` and the rest.
pub fn split_by_pdb_violation(
    pods: &[Arc<PodInfo>],
    pdbs: &[PodDisruptionBudget],
) -> (Vec<Arc<PodInfo>>, Vec<Arc<PodInfo>>) {
    let mut allowed: Vec<i64> = pdbs
        .iter()
        .map(|p| {
            p.status
                .as_ref()
                .map_or(0, |s| i64::from(s.disruptions_allowed))
        })
        .collect();
    let selectors: Vec<Option<Selector>> = pdbs
        .iter()
        .map(|p| {
            Selector::from_label_selector(p.spec.as_ref().and_then(|s| s.selector.as_ref()))
                .ok()
                .filter(|s| !s.is_empty())
        })
        .collect();
    let (mut violating, mut non_violating) = (Vec::new(), Vec::new());
    for pod in pods {
        let mut violated = false;
        if !pod.labels.is_empty() {
            for (i, pdb) in pdbs.iter().enumerate() {
                if pdb.metadata.namespace.as_deref().unwrap_or("default") != pod.namespace {
                    continue;
                }
                if !selectors[i]
                    .as_ref()
                    .is_some_and(|s| s.matches(&pod.labels))
                {
                    continue;
                }
                let disrupted = pdb
                    .status
                    .as_ref()
                    .and_then(|s| s.disrupted_pods.as_ref())
                    .is_some_and(|d| d.contains_key(&pod.name));
                if disrupted {
                    continue;
                }
                allowed[i] -= 1;
                if allowed[i] < 0 {
                    violated = true;
                }
            }
        }
        if violated {
            violating.push(pod.clone());
        } else {
            non_violating.push(pod.clone());
        }
    }
    (violating, non_violating)
}

/// Upstream `GetEarliestPodStartTime`: the earliest start among the highest-priority victims.
fn earliest_start_of_top_priority(victims: &[Arc<PodInfo>]) -> (bool, Option<Timestamp>) {
    let top = victims.iter().map(|v| v.priority).max().unwrap_or(0);
    victims
        .iter()
        .filter(|v| v.priority == top)
        .map(|v| start_key(v))
        .min()
        .unwrap_or((true, None))
}

/// Upstream `pickOneNodeForPreemption`: index of the best candidate.
pub fn pick_one(candidates: &[Candidate]) -> usize {
    let mut remaining: Vec<usize> = (0..candidates.len()).collect();
    let highest = |c: &Candidate| {
        c.victims
            .iter()
            .map(|v| v.priority)
            .max()
            .unwrap_or(i32::MIN)
    };
    let sum = |c: &Candidate| -> i64 {
        c.victims
            .iter()
            .map(|v| i64::from(v.priority) + i64::from(i32::MAX) + 1)
            .sum()
    };
    // Each criterion keeps the candidates with the best (smallest) key.
    type Key = Box<dyn Fn(&Candidate) -> (i64, (bool, Option<Timestamp>))>;
    let criteria: Vec<Key> = vec![
        Box::new(|c| (c.num_pdb_violations as i64, (false, None))),
        Box::new(move |c| (i64::from(highest(c)), (false, None))),
        Box::new(move |c| (sum(c), (false, None))),
        Box::new(|c| (c.victims.len() as i64, (false, None))),
        // Latest start first: invert by comparing the negated key below.
        Box::new(|c| (0, earliest_start_of_top_priority(&c.victims))),
    ];
    for (i, key) in criteria.iter().enumerate() {
        if remaining.len() <= 1 {
            break;
        }
        let latest_first = i == criteria.len() - 1;
        let best = remaining
            .iter()
            .map(|&r| key(&candidates[r]))
            .reduce(|a, b| {
                let better = if latest_first { b > a } else { b < a };
                if better {
                    b
                } else {
                    a
                }
            });
        remaining.retain(|&r| Some(key(&candidates[r])) == best);
    }
    remaining.first().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests;
