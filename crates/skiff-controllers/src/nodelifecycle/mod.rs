//! The node lifecycle planner (upstream `pkg/controller/nodelifecycle`, with the taint
//! eviction of `pkg/controller/tainteviction`): notice kubelets that stopped heartbeating, set
//! their conditions to Unknown, keep condition taints in step with conditions, mark pods on
//! unreachable nodes not ready, and delete pods that do not tolerate a node's NoExecute taints.
//!
//! Upstream remembers, per node, when *it* last saw a heartbeat change (its own clock, so
//! kubelet clock skew does not matter). Here that memory is [`State`]: the driver passes the
//! previous [`Outcome::state`] into the next [`Observed::state`].
//!
//! # Example
//!
//! ```no_run
//! use k8s_openapi::api::coordination::v1::Lease;
//! use k8s_openapi::api::core::v1::Node;
//! use skiff_controllers::cached_pod::CachedPod;
//! use skiff_controllers::nodelifecycle::{plan, Observed, Options, State, Step};
//!
//! fn sync(nodes: &[Node], leases: &[Lease], pods: &[CachedPod], state: &mut State, now: skiff_controllers::Timestamp) {
//!     let obs = Observed {
//!         nodes: nodes.iter().collect(),
//!         leases: leases.iter().collect(),
//!         pods: pods.iter().collect(),
//!         state: state.clone(),
//!         options: Options::default(),
//!         now,
//!     };
//!     let outcome = plan(&obs);
//!     *state = outcome.state; // keep it, whatever happens to the steps
//!     for step in outcome.steps {
//!         match step {
//!             Step::UpdateNodeStatus { node, conditions } => { /* PUT node status */ }
//!             Step::SetTaints { node, taints } => { /* update spec.taints */ }
//!             Step::DeletePod { namespace, name, uid } => { /* DisruptionTarget, then delete */ }
//!             _ => {}
//!         }
//!     }
//! }
//! ```

pub mod health;
pub mod taint_eviction;
pub mod taints;

#[cfg(test)]
mod eviction_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, PodCondition, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::cached_pod::CachedPod;
use crate::event::Event;
use crate::pods;
use crate::Timestamp;

pub use taint_eviction::{verdict, Verdict};

/// Event source of node events (upstream's recorder component).
pub const CONTROLLER_NAME: &str = "node-controller";
/// Namespace of the kubelets' heartbeat Leases (one per node, named after it).
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";
/// Label that keeps a node out of the zone disruption count.
pub const EXCLUDE_DISRUPTION_LABEL: &str = "node.kubernetes.io/exclude-disruption";
/// `Ready`
pub const NODE_READY: &str = "Ready";

/// Upstream's default `--node-monitor-grace-period` (50 s since v1.32; 40 s before).
pub const DEFAULT_NODE_MONITOR_GRACE_PERIOD: Duration = Duration::from_secs(50);
/// Upstream's default `--node-startup-grace-period`.
pub const DEFAULT_NODE_STARTUP_GRACE_PERIOD: Duration = Duration::from_secs(60);

/// The controller's flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// How long without a heartbeat before a node's conditions become Unknown.
    pub node_monitor_grace_period: Duration,
    /// The same for a node that never posted a Ready condition, counted from its creation.
    pub node_startup_grace_period: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            node_monitor_grace_period: DEFAULT_NODE_MONITOR_GRACE_PERIOD,
            node_startup_grace_period: DEFAULT_NODE_STARTUP_GRACE_PERIOD,
        }
    }
}

/// What the controller remembers about one node between syncs (upstream `nodeHealthData`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeHealth {
    /// The node's uid (for the `RemovingNode` event once it is gone).
    pub uid: String,
    /// Upstream `probeTimestamp`: our clock's time of the last heartbeat change seen.
    pub probe_timestamp: Timestamp,
    /// Whether the node's Ready condition existed at the last change.
    pub ready_posted: bool,
    /// The Ready condition's `lastHeartbeatTime` at the last change.
    pub ready_heartbeat: Option<Timestamp>,
    /// The Lease's `renewTime` last seen.
    pub lease_renew_time: Option<Timestamp>,
    /// Since when the node has carried NoExecute taints without interruption (the start of
    /// every toleration countdown on it).
    pub no_execute_since: Option<Timestamp>,
}

/// The controller's memory between syncs, to be kept by the driver.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// Per node name.
    pub nodes: BTreeMap<String, NodeHealth>,
    /// Whether, at the last sync, no counted node was Ready (upstream's "master disruption
    /// mode": NoExecute taints are lifted and none added).
    pub full_disruption: bool,
}

/// Everything the node lifecycle planner may look at, gathered from caches by the driver.
#[derive(Clone, Debug)]
pub struct Observed<'a> {
    /// All nodes.
    pub nodes: Vec<&'a Node>,
    /// The Leases of [`NODE_LEASE_NAMESPACE`] (matched to nodes by name).
    pub leases: Vec<&'a Lease>,
    /// Pods bound to nodes (`spec.nodeName` set).
    pub pods: Vec<&'a CachedPod>,
    /// The previous sync's [`Outcome::state`] (empty at start).
    pub state: State,
    /// The controller's flags.
    pub options: Options,
    /// The time of this sync.
    pub now: Timestamp,
}

/// A pod named by a step.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PodRef {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its uid (use it as a delete precondition).
    pub uid: String,
}

impl PodRef {
    fn of(pod: &CachedPod) -> Self {
        let m = &pod.metadata;
        Self {
            namespace: m.namespace.clone().unwrap_or_default(),
            name: m.name.clone().unwrap_or_default(),
            uid: m.uid.clone().unwrap_or_default(),
        }
    }
}

/// One thing the driver must do, in order; the planner never performs it.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Record this event on the node.
    NodeEvent {
        /// The node's name.
        node: String,
        /// The node's uid.
        uid: String,
        /// The event (source [`CONTROLLER_NAME`]).
        event: Event,
    },
    /// Write the node's status with these conditions (all of them, some set to Unknown).
    UpdateNodeStatus {
        /// The node's name.
        node: String,
        /// Its complete new `status.conditions`.
        conditions: Vec<NodeCondition>,
    },
    /// Replace the node's `spec.taints` with these.
    SetTaints {
        /// The node's name.
        node: String,
        /// Its complete new taints.
        taints: Vec<Taint>,
    },
    /// Set these pods' Ready condition to False ([`not_ready_condition`] computes the condition).
    MarkPodsNotReady {
        /// The node they run on.
        node: String,
        /// The pods.
        pods: Vec<PodRef>,
    },
    /// Record this event on the pod.
    PodEvent {
        /// The pod.
        pod: PodRef,
        /// The event.
        event: Event,
    },
    /// Delete the pod for a NoExecute taint: first add the condition of
    /// [`taint_eviction::disruption_target_condition`], then delete with the uid as
    /// precondition.
    DeletePod {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// Its uid.
        uid: String,
    },
    /// Sync again after this long (a grace period or a toleration runs out).
    RequeueAfter(Duration),
}

/// The steps of one sync and the memory to keep for the next.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// What the driver must do, in order.
    pub steps: Vec<Step>,
    /// What to pass as [`Observed::state`] next time.
    pub state: State,
}

/// Upstream `MarkPodsNotReady` for one pod: its Ready condition turned False and transitioned
/// `now` (what the driver merges into the pod's conditions), or `None` when it has no Ready
/// condition or it is already False.
pub fn not_ready_condition(pod: &CachedPod, now: Timestamp) -> Option<PodCondition> {
    let cond = pod
        .status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == NODE_READY)?;
    if cond.status == "False" {
        return None;
    }
    Some(PodCondition {
        status: "False".into(),
        last_transition_time: Some(Time(now)),
        ..cond.clone()
    })
}

fn name_of(node: &Node) -> String {
    node.metadata.name.clone().unwrap_or_default()
}

fn wait(until: Timestamp, now: Timestamp) -> Duration {
    let nanos = pods::nanos(until) - pods::nanos(now);
    Duration::from_nanos(u64::try_from(nanos.max(0)).unwrap_or(u64::MAX))
}

/// Pure: same observation (and state), same outcome.
pub fn plan(obs: &Observed<'_>) -> Outcome {
    let now = obs.now;
    let mut steps = Vec::new();
    let mut state = State::default();
    let mut due: Option<Timestamp> = None;
    let mut requeue_at = |t: Timestamp| due = Some(due.map_or(t, |d: Timestamp| d.min(t)));

    let leases: BTreeMap<&str, &Lease> = obs
        .leases
        .iter()
        .filter(|l| {
            l.metadata
                .namespace
                .as_deref()
                .is_none_or(|ns| ns == NODE_LEASE_NAMESPACE)
        })
        .map(|l| (l.metadata.name.as_deref().unwrap_or_default(), *l))
        .collect();
    let mut checked = Vec::new();
    for node in &obs.nodes {
        let name = name_of(node);
        let saved = obs.state.nodes.get(&name);
        if saved.is_none() {
            steps.push(node_event(
                node,
                "RegisteredNode",
                format!("Registered Node {name} in Controller"),
            ));
        }
        let c = health::check(
            node,
            leases.get(name.as_str()).copied(),
            saved,
            &obs.options,
            now,
        );
        if let Some(at) = c.expires_at {
            requeue_at(
                at.checked_add(k8s_openapi::jiff::SignedDuration::from_nanos(1))
                    .unwrap_or(at),
            );
        }
        checked.push((*node, c));
    }

    // Upstream `handleDisruption`, at cluster scope: every zone fully disrupted means no
    // counted node is Ready.
    let counted: Vec<_> = checked
        .iter()
        .filter(|(n, _)| {
            !n.metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key(EXCLUDE_DISRUPTION_LABEL))
        })
        .collect();
    let full_disruption = !counted.is_empty()
        && counted
            .iter()
            .all(|(_, c)| c.current_ready.as_deref() != Some("True"));

    let mut by_node: BTreeMap<&str, Vec<&CachedPod>> = BTreeMap::new();
    for pod in &obs.pods {
        if let Some(n) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
            by_node.entry(n).or_default().push(pod);
        }
    }

    for (node, c) in checked {
        let name = name_of(node);
        let mut health = c.health;
        if let Some(conditions) = &c.conditions {
            steps.push(Step::UpdateNodeStatus {
                node: name.clone(),
                conditions: conditions.clone(),
            });
        }
        let current = c.current_ready.as_deref();
        if current.is_some_and(|s| s != "True") && c.observed_ready == "True" {
            steps.push(node_event(
                node,
                "NodeNotReady",
                format!("Node {name} status is now: NodeNotReady"),
            ));
        }
        let conditions = c.conditions.clone().unwrap_or_else(|| {
            node.status
                .as_ref()
                .and_then(|s| s.conditions.clone())
                .unwrap_or_default()
        });
        let old_taints = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        let no_execute = taints::no_execute_for(current, full_disruption);
        let new_taints = taints::reconcile(node, &conditions, no_execute, now);
        if let Some(t) = &new_taints {
            steps.push(Step::SetTaints {
                node: name.clone(),
                taints: t.clone(),
            });
        }
        let pods_here = by_node.get(name.as_str()).cloned().unwrap_or_default();
        if current == Some("Unknown") {
            let marked: Vec<&CachedPod> = pods_here
                .iter()
                .copied()
                .filter(|p| not_ready_condition(p, now).is_some())
                .collect();
            if !marked.is_empty() {
                steps.push(Step::MarkPodsNotReady {
                    node: name.clone(),
                    pods: marked.iter().map(|p| PodRef::of(p)).collect(),
                });
                for p in marked {
                    steps.push(Step::PodEvent {
                        pod: PodRef::of(p),
                        event: Event::warning("NodeNotReady", "Node is not ready"),
                    });
                }
            }
        }

        // Taint eviction acts on NoExecute taints that are on the node and stay there.
        let kept = new_taints.as_ref().unwrap_or(&old_taints);
        let effective: Vec<Taint> = taint_eviction::no_execute_taints(&old_taints)
            .into_iter()
            .filter(|t| kept.iter().any(|k| k.key == t.key && k.effect == t.effect))
            .collect();
        health.no_execute_since = if effective.is_empty() {
            None
        } else {
            let first_added = effective
                .iter()
                .filter_map(|t| t.time_added.as_ref())
                .map(|t| t.0)
                .min();
            let seen = health.no_execute_since.unwrap_or(now);
            Some(first_added.map_or(seen, |a| a.min(seen)))
        };
        if let Some(since) = health.no_execute_since {
            for pod in pods_here
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
            {
                let start = taint_eviction::exposed_since(pod, since);
                match verdict(pod, &effective, start, now) {
                    Verdict::DeleteNow => {
                        let r = PodRef::of(pod);
                        steps.push(Step::PodEvent {
                            pod: r.clone(),
                            event: Event::normal(
                                "TaintManagerEviction",
                                format!("Marking for deletion Pod {}/{}", r.namespace, r.name),
                            ),
                        });
                        steps.push(Step::DeletePod {
                            namespace: r.namespace,
                            name: r.name,
                            uid: r.uid,
                        });
                    }
                    Verdict::DeleteAt(at) => requeue_at(at),
                    Verdict::Stay => {}
                }
            }
        }
        state.nodes.insert(name, health);
    }

    for (name, gone) in &obs.state.nodes {
        if !state.nodes.contains_key(name) {
            steps.push(Step::NodeEvent {
                node: name.clone(),
                uid: gone.uid.clone(),
                event: Event::normal(
                    "RemovingNode",
                    format!("Removing Node {name} from Controller"),
                ),
            });
        }
    }
    if obs.state.full_disruption && !full_disruption {
        // Leaving disruption mode: every node gets a fresh grace period.
        for h in state.nodes.values_mut() {
            h.probe_timestamp = now;
        }
    }
    state.full_disruption = full_disruption;
    if let Some(at) = due {
        steps.push(Step::RequeueAfter(wait(at, now)));
    }
    Outcome { steps, state }
}

fn node_event(node: &Node, reason: &str, message: String) -> Step {
    Step::NodeEvent {
        node: name_of(node),
        uid: node.metadata.uid.clone().unwrap_or_default(),
        event: Event::normal(reason, message),
    }
}
