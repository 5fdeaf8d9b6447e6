//! A scheduling profile: which plugins run at each extension point, in which order, with
//! which score weights; and the framework loops that run them (upstream `frameworkImpl`).

use crate::framework::{
    ClusterEvent, Code, CycleState, Filter, NodeScore, Nomination, Plugin, PostFilter,
    PostFilterContext, PreFilter, PreFilterResult, PreScore, Score, Status, MAX_NODE_SCORE,
    MIN_NODE_SCORE,
};
use crate::plugins::{
    ImageLocality, InterPodAffinity, NodeAffinity, NodeName, NodePorts,
    NodeResourcesBalancedAllocation, NodeResourcesFit, NodeUnschedulable, PodTopologySpread,
    SchedulingGates, TaintToleration, VolumeBinding,
};
use crate::pod_info::PodInfo;
use crate::preemption::DefaultPreemption;
use crate::snapshot::{NodeInfo, Snapshot};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

/// Upstream `v1.DefaultSchedulerName`.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// Default score weights from upstream `getDefaultPlugins` (pkg/scheduler/apis/config/v1/default_plugins.go).
pub mod weights {
    /// TaintToleration.
    pub const TAINT_TOLERATION: i64 = 3;
    /// NodeAffinity.
    pub const NODE_AFFINITY: i64 = 2;
    /// NodeResourcesFit.
    pub const NODE_RESOURCES_FIT: i64 = 1;
    /// PodTopologySpread.
    pub const POD_TOPOLOGY_SPREAD: i64 = 2;
    /// InterPodAffinity.
    pub const INTER_POD_AFFINITY: i64 = 2;
    /// NodeResourcesBalancedAllocation.
    pub const BALANCED_ALLOCATION: i64 = 1;
    /// ImageLocality.
    pub const IMAGE_LOCALITY: i64 = 1;
}

/// One feasible node's total score.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeTotal {
    /// Node name.
    pub name: Arc<str>,
    /// Sum of the plugins' weighted scores.
    pub total: i64,
}

/// The scores of the feasible nodes (upstream's `[]NodePluginScores`) as one table: a cycle
/// scores hundreds of nodes, and a list per node was an allocation per node per cycle.
///
/// ```
/// # use skiff_scheduler::profile::ScoreTable;
/// let t = ScoreTable::default();
/// assert!(t.nodes.is_empty() && t.node("n1").is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScoreTable {
    /// The Score plugins that ran, in profile order.
    pub plugins: Vec<&'static str>,
    /// Each feasible node's total, in the order the nodes were scored.
    pub nodes: Vec<NodeTotal>,
    /// Weighted scores, node-major: node `i` by plugin `j` at `i * plugins.len() + j`.
    weighted: Vec<i64>,
}

impl ScoreTable {
    /// The total of the node called `name`, if it was scored.
    pub fn node(&self, name: &str) -> Option<&NodeTotal> {
        self.position(name).map(|i| &self.nodes[i])
    }

    /// `(plugin, weighted score)` of the node called `name`, in profile order.
    pub fn plugin_scores(&self, name: &str) -> Vec<(&'static str, i64)> {
        let Some(i) = self.position(name) else {
            return Vec::new();
        };
        let width = self.plugins.len();
        self.plugins
            .iter()
            .copied()
            .zip(self.weighted[i * width..(i + 1) * width].iter().copied())
            .collect()
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| &*n.name == name)
    }
}

/// Candidate nodes narrowed by PreFilter plugins (upstream `PreFilterResult.NodeNames`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Narrowed {
    /// The only nodes that can fit.
    pub nodes: BTreeSet<String>,
    /// The plugins that narrowed them.
    pub plugins: BTreeSet<&'static str>,
}

/// The plugins of one scheduler profile, per extension point.
#[derive(Clone)]
pub struct Profile {
    /// The `spec.schedulerName` this profile serves.
    pub scheduler_name: String,
    /// Percentage of nodes to find feasible before scoring (upstream
    /// `percentageOfNodesToScore`; `None` is upstream's adaptive default).
    pub percentage_of_nodes_to_score: Option<u32>,
    pre_filters: Vec<Arc<dyn PreFilter>>,
    filters: Vec<Arc<dyn Filter>>,
    pre_scores: Vec<Arc<dyn PreScore>>,
    scores: Vec<(Arc<dyn Score>, i64)>,
    post_filters: Vec<Arc<dyn PostFilter>>,
    events: BTreeMap<&'static str, Vec<ClusterEvent>>,
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |v: Vec<&'static str>| v;
        f.debug_struct("Profile")
            .field("scheduler_name", &self.scheduler_name)
            .field(
                "pre_filter",
                &names(self.pre_filters.iter().map(|p| p.name()).collect()),
            )
            .field(
                "filter",
                &names(self.filters.iter().map(|p| p.name()).collect()),
            )
            .field(
                "pre_score",
                &names(self.pre_scores.iter().map(|p| p.name()).collect()),
            )
            .field(
                "score",
                &self
                    .scores
                    .iter()
                    .map(|(p, w)| (p.name(), *w))
                    .collect::<Vec<_>>(),
            )
            .field(
                "post_filter",
                &names(self.post_filters.iter().map(|p| p.name()).collect()),
            )
            .finish()
    }
}

impl Default for Profile {
    /// Upstream's default plugins, order and weights.
    fn default() -> Self {
        let fit = Arc::new(NodeResourcesFit::default());
        let taints = Arc::new(TaintToleration);
        let node_affinity = Arc::new(NodeAffinity);
        let ports = Arc::new(NodePorts);
        let spread = Arc::new(PodTopologySpread::default());
        let pod_affinity = Arc::new(InterPodAffinity::default());
        let balanced = Arc::new(NodeResourcesBalancedAllocation::default());
        let images = Arc::new(ImageLocality);
        let volumes = Arc::new(VolumeBinding);
        let mut p = Profile::empty(DEFAULT_SCHEDULER_NAME);
        p.register(&SchedulingGates);
        p.filter(Arc::new(NodeUnschedulable))
            .filter(Arc::new(NodeName))
            .filter(taints.clone())
            .pre_score(taints.clone())
            .score(taints, weights::TAINT_TOLERATION)
            .pre_filter(node_affinity.clone())
            .filter(node_affinity.clone())
            .pre_score(node_affinity.clone())
            .score(node_affinity, weights::NODE_AFFINITY)
            .pre_filter(ports.clone())
            .filter(ports)
            .pre_filter(fit.clone())
            .filter(fit.clone())
            .pre_score(fit.clone())
            .score(fit, weights::NODE_RESOURCES_FIT)
            .pre_filter(volumes.clone())
            .filter(volumes)
            .pre_filter(spread.clone())
            .filter(spread.clone())
            .pre_score(spread.clone())
            .score(spread, weights::POD_TOPOLOGY_SPREAD)
            .pre_filter(pod_affinity.clone())
            .filter(pod_affinity.clone())
            .pre_score(pod_affinity.clone())
            .score(pod_affinity, weights::INTER_POD_AFFINITY)
            .post_filter(Arc::new(DefaultPreemption))
            .pre_score(balanced.clone())
            .score(balanced, weights::BALANCED_ALLOCATION)
            .pre_score(images.clone())
            .score(images, weights::IMAGE_LOCALITY);
        p
    }
}

impl Profile {
    /// A profile with no plugins; add them with the builder methods.
    pub fn empty(scheduler_name: &str) -> Self {
        Profile {
            scheduler_name: scheduler_name.to_string(),
            percentage_of_nodes_to_score: None,
            pre_filters: Vec::new(),
            filters: Vec::new(),
            pre_scores: Vec::new(),
            scores: Vec::new(),
            post_filters: Vec::new(),
            events: BTreeMap::new(),
        }
    }

    fn register(&mut self, p: &dyn Plugin) {
        self.events
            .entry(p.name())
            .or_insert_with(|| p.events_to_register());
    }

    /// Appends a PreFilter plugin.
    pub fn pre_filter(&mut self, p: Arc<dyn PreFilter>) -> &mut Self {
        self.register(p.as_ref());
        self.pre_filters.push(p);
        self
    }

    /// Appends a Filter plugin.
    pub fn filter(&mut self, p: Arc<dyn Filter>) -> &mut Self {
        self.register(p.as_ref());
        self.filters.push(p);
        self
    }

    /// Appends a PreScore plugin.
    pub fn pre_score(&mut self, p: Arc<dyn PreScore>) -> &mut Self {
        self.register(p.as_ref());
        self.pre_scores.push(p);
        self
    }

    /// Appends a Score plugin with its weight.
    pub fn score(&mut self, p: Arc<dyn Score>, weight: i64) -> &mut Self {
        self.register(p.as_ref());
        self.scores.push((p, weight));
        self
    }

    /// Appends a PostFilter plugin.
    pub fn post_filter(&mut self, p: Arc<dyn PostFilter>) -> &mut Self {
        self.register(p.as_ref());
        self.post_filters.push(p);
        self
    }

    /// Whether this profile schedules the pod (`spec.schedulerName`, default `default-scheduler`).
    pub fn handles(&self, pod: &k8s_openapi::api::core::v1::Pod) -> bool {
        let name = pod
            .spec
            .as_ref()
            .and_then(|s| s.scheduler_name.as_deref())
            .filter(|n| !n.is_empty())
            .unwrap_or(DEFAULT_SCHEDULER_NAME);
        name == self.scheduler_name
    }

    /// Cluster events each plugin registered, for the scheduling queue.
    pub fn cluster_events(&self) -> &BTreeMap<&'static str, Vec<ClusterEvent>> {
        &self.events
    }

    /// Upstream `RunPreFilterPlugins`: `Ok(Some(nodes, plugins))` when plugins narrowed the
    /// candidate nodes; `Err` with the first rejection or error.
    pub(crate) fn run_pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> Result<Option<Narrowed>, Status> {
        let mut narrowed: Option<BTreeSet<String>> = None;
        let mut narrowing = BTreeSet::new();
        for p in &self.pre_filters {
            match p.pre_filter(state, pod, snapshot) {
                Ok(PreFilterResult::Skip) => state.skip_filter(p.name()),
                Ok(PreFilterResult::AllNodes) => {}
                Ok(PreFilterResult::Nodes(names)) => {
                    narrowing.insert(p.name());
                    let merged: BTreeSet<String> = match narrowed.take() {
                        None => names,
                        Some(prev) => prev.intersection(&names).cloned().collect(),
                    };
                    if merged.is_empty() {
                        let list: Vec<&str> = narrowing.iter().copied().collect();
                        let msg = if list.len() == 1 {
                            format!("node(s) didn't satisfy plugin {}", list[0])
                        } else {
                            format!(
                                "node(s) didn't satisfy plugin(s) [{}] simultaneously",
                                list.join(" ")
                            )
                        };
                        return Err(Status::unresolvable(msg).with_plugin(p.name()));
                    }
                    narrowed = Some(merged);
                }
                Err(s) if s.is_rejected() => return Err(s.with_plugin(p.name())),
                Err(s) => {
                    return Err(Status::error(format!(
                        "running PreFilter plugin {:?}: {}",
                        p.name(),
                        s.message()
                    ))
                    .with_plugin(p.name()))
                }
            }
        }
        Ok(narrowed.map(|nodes| Narrowed {
            nodes,
            plugins: narrowing,
        }))
    }

    /// Upstream `RunFilterPlugins`: the first non-success status, tagged with its plugin.
    pub(crate) fn run_filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        for p in &self.filters {
            if state.filter_skipped(p.name()) {
                continue;
            }
            let st = p.filter(state, pod, node);
            if st.is_success() {
                continue;
            }
            if !st.is_rejected() {
                return Status::error(format!(
                    "running {:?} filter plugin: {}",
                    p.name(),
                    st.message()
                ))
                .with_plugin(p.name());
            }
            return st.with_plugin(p.name());
        }
        Status::success()
    }

    /// Upstream `RunPreFilterExtensionAddPod`.
    pub(crate) fn run_add_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        added: &PodInfo,
        node: &NodeInfo,
    ) {
        for p in &self.pre_filters {
            if !state.filter_skipped(p.name()) {
                p.add_pod(state, pod, added, node);
            }
        }
    }

    /// Upstream `RunPreFilterExtensionRemovePod`.
    pub(crate) fn run_remove_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        removed: &PodInfo,
        node: &NodeInfo,
    ) {
        for p in &self.pre_filters {
            if !state.filter_skipped(p.name()) {
                p.remove_pod(state, pod, removed, node);
            }
        }
    }

    /// Upstream `RunFilterPluginsWithNominatedPods`: when pods of equal or higher priority are
    /// nominated to the node, the pod must fit both with them and without them.
    pub(crate) fn run_filter_with_nominated(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
        snapshot: &Snapshot,
    ) -> Status {
        let nominated: Vec<_> = snapshot
            .nominated_pods(node.name())
            .iter()
            .filter(|n| n.priority >= pod.priority && n.key() != pod.key())
            .collect();
        if nominated.is_empty() {
            return self.run_filter(state, pod, node);
        }
        let mut state_with = state.clone();
        let mut node_with = node.clone();
        for n in nominated {
            node_with.add_pod(n.clone());
            self.run_add_pod(&mut state_with, pod, n, &node_with);
        }
        let st = self.run_filter(&state_with, pod, &node_with);
        if !st.is_success() {
            return st;
        }
        self.run_filter(state, pod, node)
    }

    /// Upstream `RunPreScorePlugins`.
    pub(crate) fn run_pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Result<(), Status> {
        for p in &self.pre_scores {
            let st = p.pre_score(state, pod, nodes, snapshot);
            match st.code() {
                Code::Success => {}
                Code::Skip => state.skip_score(p.name()),
                _ => {
                    return Err(Status::error(format!(
                        "running PreScore plugin {:?}: {}",
                        p.name(),
                        st.message()
                    ))
                    .with_plugin(p.name()))
                }
            }
        }
        Ok(())
    }

    /// Upstream `RunScorePlugins`: raw scores, normalization, range check, weights.
    pub(crate) fn run_score(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
    ) -> Result<ScoreTable, Status> {
        // One score list, reused by every plugin (this loop runs for hundreds of nodes on
        // every cycle): the names are shared with the snapshot, not copied.
        let mut scores: Vec<NodeScore> = nodes
            .iter()
            .map(|n| NodeScore {
                name: n.shared_name().clone(),
                score: 0,
            })
            .collect();
        let active: Vec<&(Arc<dyn Score>, i64)> = self
            .scores
            .iter()
            .filter(|(p, _)| !state.score_skipped(p.name()))
            .collect();
        let width = active.len();
        let mut weighted = vec![0; nodes.len() * width];
        let mut totals = vec![0; nodes.len()];
        for (column, (p, weight)) in active.iter().enumerate() {
            for (n, slot) in nodes.iter().zip(scores.iter_mut()) {
                slot.score = p.score(state, pod, n).map_err(|e| {
                    Status::error(format!(
                        "running Score plugin {:?}: {}",
                        p.name(),
                        e.message()
                    ))
                    .with_plugin(p.name())
                })?;
            }
            p.normalize(state, pod, &mut scores).map_err(|e| {
                Status::error(format!(
                    "running Normalize on Score plugin {:?}: {}",
                    p.name(),
                    e.message()
                ))
                .with_plugin(p.name())
            })?;
            for (i, (s, total)) in scores.iter().zip(totals.iter_mut()).enumerate() {
                if !(MIN_NODE_SCORE..=MAX_NODE_SCORE).contains(&s.score) {
                    return Err(Status::error(format!(
                        "plugin {:?} returns an invalid score {}, it should in the range of [{}, {}] after normalizing",
                        p.name(),
                        s.score,
                        MIN_NODE_SCORE,
                        MAX_NODE_SCORE
                    ))
                    .with_plugin(p.name()));
                }
                let w = s.score * weight;
                weighted[i * width + column] = w;
                *total += w;
            }
        }
        Ok(ScoreTable {
            plugins: active.iter().map(|(p, _)| p.name()).collect(),
            nodes: scores
                .into_iter()
                .zip(totals)
                .map(|(s, total)| NodeTotal {
                    name: s.name,
                    total,
                })
                .collect(),
            weighted,
        })
    }

    /// Upstream `RunPostFilterPlugins`: the first success wins; otherwise the reasons of all.
    pub(crate) fn run_post_filter(
        &self,
        cx: &PostFilterContext<'_>,
        rng: &mut dyn rand::RngCore,
    ) -> (Option<Nomination>, Status) {
        let mut reasons = Vec::new();
        let mut result = None;
        let mut rejector = "";
        for p in &self.post_filters {
            let (r, st) = p.post_filter(cx, rng);
            match st.code() {
                Code::Success => return (r, st.with_plugin(p.name())),
                Code::UnschedulableAndUnresolvable => return (r, st.with_plugin(p.name())),
                Code::Unschedulable => {
                    if r.is_some() {
                        result = r;
                    }
                    reasons.extend(st.reasons().iter().cloned());
                    if rejector.is_empty() {
                        rejector = p.name();
                    }
                }
                _ => return (None, Status::error(st.message()).with_plugin(p.name())),
            }
        }
        (
            result,
            Status::new(Code::Unschedulable, reasons).with_plugin(rejector),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_wires_upstreams_plugins_and_weights() {
        let p = Profile::default();
        let names = |v: &[&'static str]| v.to_vec();
        let filters: Vec<_> = p.filters.iter().map(|f| f.name()).collect();
        assert_eq!(
            filters,
            names(&[
                "NodeUnschedulable",
                "NodeName",
                "TaintToleration",
                "NodeAffinity",
                "NodePorts",
                "NodeResourcesFit",
                "VolumeBinding",
                "PodTopologySpread",
                "InterPodAffinity",
            ])
        );
        let scores: Vec<_> = p.scores.iter().map(|(s, w)| (s.name(), *w)).collect();
        assert_eq!(
            scores,
            vec![
                ("TaintToleration", 3),
                ("NodeAffinity", 2),
                ("NodeResourcesFit", 1),
                ("PodTopologySpread", 2),
                ("InterPodAffinity", 2),
                ("NodeResourcesBalancedAllocation", 1),
                ("ImageLocality", 1),
            ]
        );
        assert_eq!(
            p.post_filters.iter().map(|f| f.name()).collect::<Vec<_>>(),
            vec!["DefaultPreemption"]
        );
        assert!(p.cluster_events().contains_key("SchedulingGates"));
        assert!(p.handles(&crate::testing::pod("p").build()));
    }
}
