//! The scheduling framework's vocabulary: statuses, per-cycle state and the extension-point
//! traits (PreFilter, Filter, PreScore, Score, PostFilter) plugins implement.

pub use crate::events::{ActionType, ClusterEvent, EventResource};

use crate::pod_info::PodInfo;
use crate::snapshot::{NodeInfo, Snapshot};
use k8s_openapi::api::core::v1::Pod;
use std::any::{Any, TypeId};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Upstream `framework.MaxNodeScore`: scores are normalized to `0..=100`.
pub const MAX_NODE_SCORE: i64 = 100;
/// Upstream `framework.MinNodeScore`.
pub const MIN_NODE_SCORE: i64 = 0;

/// Outcome class of a plugin call (upstream `framework.Code`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    /// The plugin ran and the pod may proceed.
    Success,
    /// An internal error; the scheduling attempt is abandoned.
    Error,
    /// The pod does not fit now; preemption might help.
    Unschedulable,
    /// The pod does not fit and preemption cannot change that.
    UnschedulableAndUnresolvable,
    /// PreFilter/PreScore: the plugin has nothing to do for this pod; its later points are skipped.
    Skip,
}

/// A plugin's verdict with human-readable reasons (upstream `framework.Status`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    code: Code,
    reasons: Vec<String>,
    plugin: &'static str,
}

impl Default for Status {
    fn default() -> Self {
        Status::success()
    }
}

impl Status {
    /// A status with a code and reasons.
    pub fn new(code: Code, reasons: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Status {
            code,
            reasons: reasons.into_iter().map(Into::into).collect(),
            plugin: "",
        }
    }

    /// Success.
    pub fn success() -> Self {
        Status {
            code: Code::Success,
            reasons: Vec::new(),
            plugin: "",
        }
    }

    /// Skip.
    pub fn skip() -> Self {
        Status {
            code: Code::Skip,
            ..Status::success()
        }
    }

    /// `Unschedulable` with one reason.
    pub fn unschedulable(reason: impl Into<String>) -> Self {
        Status::new(Code::Unschedulable, [reason.into()])
    }

    /// `UnschedulableAndUnresolvable` with one reason.
    pub fn unresolvable(reason: impl Into<String>) -> Self {
        Status::new(Code::UnschedulableAndUnresolvable, [reason.into()])
    }

    /// `Error` with a message.
    pub fn error(msg: impl Into<String>) -> Self {
        Status::new(Code::Error, [msg.into()])
    }

    /// Records which plugin produced the status.
    pub fn with_plugin(mut self, plugin: &'static str) -> Self {
        self.plugin = plugin;
        self
    }

    /// The code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The reasons, in order.
    pub fn reasons(&self) -> &[String] {
        &self.reasons
    }

    /// The plugin that produced the status (empty if none).
    pub fn plugin(&self) -> &'static str {
        self.plugin
    }

    /// Reasons joined with `", "` (upstream `Message()`).
    pub fn message(&self) -> String {
        self.reasons.join(", ")
    }

    /// True for `Success`.
    pub fn is_success(&self) -> bool {
        self.code == Code::Success
    }

    /// True for `Unschedulable` and `UnschedulableAndUnresolvable`.
    pub fn is_rejected(&self) -> bool {
        matches!(
            self.code,
            Code::Unschedulable | Code::UnschedulableAndUnresolvable
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message())
    }
}

/// Data a plugin keeps between its extension points within one cycle.
pub trait StateData: Any + Send + Sync {
    /// Copies the data (preemption evaluates each node on a copy of the state).
    fn clone_box(&self) -> Box<dyn StateData>;
    /// Upcast for reading.
    fn as_any(&self) -> &dyn Any;
    /// Upcast for updating.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any + Clone + Send + Sync> StateData for T {
    fn clone_box(&self) -> Box<dyn StateData> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Typed per-cycle storage, one value per type (upstream `framework.CycleState`).
///
/// Read once per plugin and node on every cycle, so it is built for lookups: a handful of
/// entries scanned by `TypeId` (no hashing), and the skipped plugins as short lists compared
/// by name length first.
#[derive(Default)]
pub struct CycleState {
    data: Vec<(TypeId, Box<dyn StateData>)>,
    skip_filter: Vec<&'static str>,
    skip_score: Vec<&'static str>,
}

impl Clone for CycleState {
    fn clone(&self) -> Self {
        CycleState {
            data: self
                .data
                .iter()
                .map(|(k, v)| (*k, v.as_ref().clone_box()))
                .collect(),
            skip_filter: self.skip_filter.clone(),
            skip_score: self.skip_score.clone(),
        }
    }
}

impl fmt::Debug for CycleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CycleState")
            .field("entries", &self.data.len())
            .field("skip_filter", &self.skip_filter)
            .field("skip_score", &self.skip_score)
            .finish()
    }
}

impl CycleState {
    /// Empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores a value, replacing any earlier value of the same type.
    pub fn write<T: Any + Clone + Send + Sync>(&mut self, value: T) {
        let id = TypeId::of::<T>();
        match self.data.iter_mut().find(|(t, _)| *t == id) {
            Some((_, v)) => *v = Box::new(value),
            None => self.data.push((id, Box::new(value))),
        }
    }

    /// Reads the value of a type.
    pub fn read<T: Any>(&self) -> Option<&T> {
        let id = TypeId::of::<T>();
        self.data
            .iter()
            .find(|(t, _)| *t == id)
            .and_then(|(_, b)| b.as_ref().as_any().downcast_ref())
    }

    /// Updates the value of a type in place.
    pub fn read_mut<T: Any>(&mut self) -> Option<&mut T> {
        let id = TypeId::of::<T>();
        self.data
            .iter_mut()
            .find(|(t, _)| *t == id)
            .and_then(|(_, b)| b.as_mut().as_any_mut().downcast_mut())
    }

    pub(crate) fn skip_filter(&mut self, plugin: &'static str) {
        if !self.filter_skipped(plugin) {
            self.skip_filter.push(plugin);
        }
    }

    pub(crate) fn filter_skipped(&self, plugin: &'static str) -> bool {
        self.skip_filter.contains(&plugin)
    }

    pub(crate) fn skip_score(&mut self, plugin: &'static str) {
        if !self.score_skipped(plugin) {
            self.skip_score.push(plugin);
        }
    }

    pub(crate) fn score_skipped(&self, plugin: &'static str) -> bool {
        self.skip_score.contains(&plugin)
    }
}

/// What a PreFilter plugin concluded about the candidate nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PreFilterResult {
    /// Every node remains a candidate.
    AllNodes,
    /// Only these nodes can fit (e.g. node affinity on `metadata.name`).
    Nodes(BTreeSet<String>),
    /// The plugin does not apply to this pod; its Filter is skipped.
    Skip,
}

/// A node's score from one plugin, or the weighted total.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeScore {
    /// Node name.
    pub name: std::sync::Arc<str>,
    /// Score.
    pub score: i64,
}

/// Common to every plugin: its upstream name and the events it cares about.
pub trait Plugin: Send + Sync {
    /// The upstream plugin name (also `const NAME` on each plugin).
    fn name(&self) -> &'static str;

    /// Cluster events that may make a pod this plugin rejected schedulable again
    /// (upstream `EventsToRegister`).
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        Vec::new()
    }
}

/// Runs once per cycle before filtering; may precompute cycle state or reject the pod.
pub trait PreFilter: Plugin {
    /// Precomputes state for Filter. `Err` rejects the pod for every node.
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> Result<PreFilterResult, Status>;

    /// Updates precomputed state as if `added` ran on `node` (preemption, nominated pods).
    fn add_pod(&self, _state: &mut CycleState, _pod: &PodInfo, _added: &PodInfo, _node: &NodeInfo) {
    }

    /// Updates precomputed state as if `removed` no longer ran on `node`.
    fn remove_pod(
        &self,
        _state: &mut CycleState,
        _pod: &PodInfo,
        _removed: &PodInfo,
        _node: &NodeInfo,
    ) {
    }
}

/// Decides whether the pod can run on one node.
pub trait Filter: Plugin {
    /// `Success`, or a rejection with reasons.
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status;
}

/// Runs once per cycle before scoring, over the feasible nodes.
pub trait PreScore: Plugin {
    /// `Success`, `Skip` (the plugin's Score is skipped) or `Error`.
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Status;
}

/// Ranks feasible nodes.
pub trait Score: Plugin {
    /// The raw score of a node.
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status>;

    /// Maps raw scores into `0..=MAX_NODE_SCORE` (upstream `NormalizeScore`); identity by default.
    fn normalize(
        &self,
        _state: &CycleState,
        _pod: &PodInfo,
        _scores: &mut [NodeScore],
    ) -> Result<(), Status> {
        Ok(())
    }
}

/// A node chosen by preemption and the pods to evict for it.
#[derive(Clone, Debug, PartialEq)]
pub struct Nomination {
    /// The node to set as the pod's `status.nominatedNodeName`.
    pub node: String,
    /// Pods to delete (lowest importance last, as upstream orders them).
    pub victims: Vec<Pod>,
    /// Lower-priority pods nominated to the same node whose nomination must be cleared.
    pub clear_nominations: Vec<Pod>,
}

/// Everything a PostFilter plugin may look at after filtering found no node.
pub struct PostFilterContext<'a> {
    /// The profile (PostFilter plugins re-run its filters).
    pub profile: &'a crate::profile::Profile,
    /// State after PreFilter.
    pub state: &'a CycleState,
    /// The pod.
    pub pod: &'a PodInfo,
    /// The snapshot.
    pub snapshot: &'a Snapshot,
    /// Why each node was rejected.
    pub statuses: &'a NodeStatuses,
}

/// Runs when no node fits, to make the pod schedulable later (preemption).
pub trait PostFilter: Plugin {
    /// A nomination, and a status whose message is appended to the failure message.
    fn post_filter(
        &self,
        cx: &PostFilterContext<'_>,
        rng: &mut dyn rand::RngCore,
    ) -> (Option<Nomination>, Status);
}

/// Per-node rejection statuses, with one status standing for every node not listed
/// (upstream `NodeToStatus`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeStatuses {
    /// Statuses of nodes that were evaluated.
    pub nodes: BTreeMap<String, Status>,
    /// Status of every node not in `nodes`.
    pub absent: Status,
}

impl Default for NodeStatuses {
    fn default() -> Self {
        NodeStatuses {
            nodes: BTreeMap::new(),
            absent: Status::new(Code::UnschedulableAndUnresolvable, Vec::<String>::new()),
        }
    }
}

impl NodeStatuses {
    /// The status of a node.
    pub fn get(&self, node: &str) -> &Status {
        self.nodes.get(node).unwrap_or(&self.absent)
    }

    /// Upstream's histogram: `"<count> <reason>"` entries sorted as strings, for `total` nodes.
    pub fn reason_histogram(&self, total: usize) -> Vec<String> {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for s in self.nodes.values() {
            for r in s.reasons() {
                *counts.entry(r).or_default() += 1;
            }
        }
        let absent = total.saturating_sub(self.nodes.len());
        if absent > 0 {
            for r in self.absent.reasons() {
                *counts.entry(r).or_default() += absent;
            }
        }
        let mut out: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct Counter(u32);

    #[test]
    fn cycle_state_is_typed_and_clones_deeply() {
        let mut s = CycleState::new();
        assert!(s.read::<Counter>().is_none());
        s.write(Counter(1));
        let copy = s.clone();
        if let Some(c) = s.read_mut::<Counter>() {
            c.0 = 2;
        }
        assert_eq!(s.read::<Counter>(), Some(&Counter(2)));
        assert_eq!(copy.read::<Counter>(), Some(&Counter(1)));
    }

    #[test]
    fn reason_histogram_counts_absent_nodes_and_sorts_as_strings() {
        let mut st = NodeStatuses {
            absent: Status::unresolvable("node(s) didn't satisfy plugin(s) [NodeAffinity]"),
            ..Default::default()
        };
        st.nodes
            .insert("a".into(), Status::unschedulable("Insufficient cpu"));
        st.nodes.insert(
            "b".into(),
            Status::new(
                Code::Unschedulable,
                ["Insufficient cpu", "Insufficient memory"],
            ),
        );
        assert_eq!(
            st.reason_histogram(12),
            vec![
                "1 Insufficient memory",
                "10 node(s) didn't satisfy plugin(s) [NodeAffinity]",
                "2 Insufficient cpu",
            ]
        );
    }
}
