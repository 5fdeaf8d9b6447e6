//! Node health (upstream `tryUpdateNodeHealth`): heartbeats seen on the controller's own clock,
//! and the conditions set to Unknown once none arrived within the grace period.

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{NodeHealth, Options, NODE_READY};
use crate::Timestamp;

/// Upstream's conditions set to Unknown when the kubelet goes silent (NetworkUnavailable is
/// left alone: the control plane manages it).
pub const MONITORED_CONDITIONS: [&str; 4] =
    ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// Reason of a condition the controller turned Unknown.
pub const NODE_STATUS_UNKNOWN: &str = "NodeStatusUnknown";
/// Message of a condition the controller turned Unknown.
pub const NODE_STATUS_UNKNOWN_MESSAGE: &str = "Kubelet stopped posting node status.";
/// Reason of a condition the kubelet never posted.
pub const NODE_STATUS_NEVER_UPDATED: &str = "NodeStatusNeverUpdated";
/// Message of a condition the kubelet never posted.
pub const NODE_STATUS_NEVER_UPDATED_MESSAGE: &str = "Kubelet never posted node status.";

/// What one node's health check concluded.
pub(crate) struct Checked {
    /// What to remember about the node.
    pub health: NodeHealth,
    /// New conditions to write, when the Ready condition changes.
    pub conditions: Option<Vec<NodeCondition>>,
    /// Ready status before this check (`Unknown` when the node never posted one).
    pub observed_ready: String,
    /// Ready status after this check; `None` while a node that never posted is within its
    /// startup grace period.
    pub current_ready: Option<String>,
    /// When the grace period runs out, if it has not yet.
    pub expires_at: Option<Timestamp>,
}

fn ready_of(conds: &[NodeCondition]) -> Option<&NodeCondition> {
    conds.iter().find(|c| c.type_ == NODE_READY)
}

fn time(t: &Option<Time>) -> Option<Timestamp> {
    t.as_ref().map(|t| t.0)
}

fn add(t: Timestamp, d: std::time::Duration) -> Timestamp {
    k8s_openapi::jiff::SignedDuration::try_from(d)
        .ok()
        .and_then(|d| t.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

/// Upstream `tryUpdateNodeHealth`. The probe timestamp moves to `now` whenever the Ready
/// condition's `lastHeartbeatTime` or the lease's `renewTime` changed since the last check
/// (or the controller sees the node for the first time); the kubelet's clock is never
/// compared with ours. Past the grace period, the monitored conditions become Unknown.
pub(crate) fn check(
    node: &Node,
    lease: Option<&Lease>,
    saved: Option<&NodeHealth>,
    opts: &Options,
    now: Timestamp,
) -> Checked {
    let created = node.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let conds = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let current = ready_of(&conds);
    let (observed, grace) = match current {
        Some(c) => (c.clone(), opts.node_monitor_grace_period),
        None => (
            NodeCondition {
                type_: NODE_READY.into(),
                status: "Unknown".into(),
                last_heartbeat_time: node.metadata.creation_timestamp.clone(),
                last_transition_time: node.metadata.creation_timestamp.clone(),
                ..Default::default()
            },
            opts.node_startup_grace_period,
        ),
    };
    let heartbeat = current.and_then(|c| time(&c.last_heartbeat_time));
    let mut health = match saved {
        Some(s) => s.clone(),
        None => NodeHealth {
            uid: String::new(),
            // A node that never posted is measured from its creation; one that did, from now.
            probe_timestamp: if current.is_none() {
                created.unwrap_or(now)
            } else {
                now
            },
            ready_posted: current.is_some(),
            ready_heartbeat: heartbeat,
            lease_renew_time: None,
            no_execute_since: None,
        },
    };
    health.uid = node.metadata.uid.clone().unwrap_or_default();
    if let Some(saved) = saved {
        // Ready appeared, disappeared, or its heartbeat moved.
        let changed = saved.ready_posted != current.is_some()
            || (current.is_some() && saved.ready_heartbeat != heartbeat);
        if changed {
            health.probe_timestamp = now;
            health.ready_posted = current.is_some();
            health.ready_heartbeat = heartbeat;
        }
    }
    let renew = lease
        .and_then(|l| l.spec.as_ref())
        .and_then(|s| s.renew_time.as_ref())
        .map(|t| t.0);
    if let Some(renew) = renew {
        if health.lease_renew_time.is_none_or(|seen| seen < renew) {
            health.lease_renew_time = Some(renew);
            health.probe_timestamp = now;
        }
    }

    let deadline = add(health.probe_timestamp, grace);
    let mut out = Checked {
        conditions: None,
        observed_ready: observed.status.clone(),
        current_ready: current.map(|c| c.status.clone()),
        expires_at: (now <= deadline).then_some(deadline),
        health,
    };
    if now > deadline {
        let updated = unknown_conditions(node, conds.clone(), now);
        let new_ready = ready_of(&updated).cloned();
        out.current_ready = new_ready.as_ref().map(|c| c.status.clone());
        if new_ready.as_ref() != Some(&observed) {
            out.conditions = Some(updated);
        }
    }
    out
}

/// The node's conditions with every monitored one set to Unknown (missing ones added with
/// upstream's "never posted" reason); transition times move to `now` only for conditions that
/// change, heartbeats stay.
fn unknown_conditions(
    node: &Node,
    mut conds: Vec<NodeCondition>,
    now: Timestamp,
) -> Vec<NodeCondition> {
    for ty in MONITORED_CONDITIONS {
        match conds.iter_mut().find(|c| c.type_ == ty) {
            None => conds.push(NodeCondition {
                type_: ty.into(),
                status: "Unknown".into(),
                reason: Some(NODE_STATUS_NEVER_UPDATED.into()),
                message: Some(NODE_STATUS_NEVER_UPDATED_MESSAGE.into()),
                last_heartbeat_time: node.metadata.creation_timestamp.clone(),
                last_transition_time: Some(Time(now)),
            }),
            Some(c) if c.status != "Unknown" => {
                c.status = "Unknown".into();
                c.reason = Some(NODE_STATUS_UNKNOWN.into());
                c.message = Some(NODE_STATUS_UNKNOWN_MESSAGE.into());
                c.last_transition_time = Some(Time(now));
            }
            Some(_) => {}
        }
    }
    conds
}
