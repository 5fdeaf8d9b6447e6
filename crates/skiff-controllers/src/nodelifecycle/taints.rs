//! Condition taints (upstream `doNoScheduleTaintingPass`, `processTaintBaseEviction`,
//! `markNodeAsReachable`): NoSchedule taints mirror the node's conditions, and the NoExecute
//! not-ready/unreachable taint mirrors its Ready condition.

use k8s_openapi::api::core::v1::{Node, NodeCondition, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::Timestamp;

/// `node.kubernetes.io/not-ready`: Ready is False.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// `node.kubernetes.io/unreachable`: Ready is Unknown.
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// `node.kubernetes.io/memory-pressure`: MemoryPressure is True.
pub const TAINT_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
/// `node.kubernetes.io/disk-pressure`: DiskPressure is True.
pub const TAINT_DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
/// `node.kubernetes.io/pid-pressure`: PIDPressure is True.
pub const TAINT_PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
/// `node.kubernetes.io/network-unavailable`: NetworkUnavailable is True.
pub const TAINT_NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";
/// `node.kubernetes.io/unschedulable`: `spec.unschedulable` is set.
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// `NoSchedule`
pub const NO_SCHEDULE: &str = "NoSchedule";
/// `NoExecute`
pub const NO_EXECUTE: &str = "NoExecute";

/// Upstream `nodeConditionToTaintKeyStatusMap`: the taint a condition in a status calls for.
pub fn condition_taint_key(condition_type: &str, status: &str) -> Option<&'static str> {
    match (condition_type, status) {
        ("Ready", "False") => Some(TAINT_NOT_READY),
        ("Ready", "Unknown") => Some(TAINT_UNREACHABLE),
        ("MemoryPressure", "True") => Some(TAINT_MEMORY_PRESSURE),
        ("DiskPressure", "True") => Some(TAINT_DISK_PRESSURE),
        ("NetworkUnavailable", "True") => Some(TAINT_NETWORK_UNAVAILABLE),
        ("PIDPressure", "True") => Some(TAINT_PID_PRESSURE),
        _ => None,
    }
}

/// Keys of the NoSchedule taints this controller owns (upstream `taintKeyToNodeConditionMap`
/// plus unschedulable).
const NO_SCHEDULE_KEYS: [&str; 7] = [
    TAINT_NOT_READY,
    TAINT_UNREACHABLE,
    TAINT_MEMORY_PRESSURE,
    TAINT_DISK_PRESSURE,
    TAINT_PID_PRESSURE,
    TAINT_NETWORK_UNAVAILABLE,
    TAINT_UNSCHEDULABLE,
];

/// Which NoExecute taint the node should carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NoExecute {
    /// Leave the NoExecute taints as they are (no Ready condition yet).
    Leave,
    /// Carry this one of not-ready/unreachable and not the other.
    Taint(&'static str),
    /// Carry neither (Ready, or every zone is fully disrupted).
    Clear,
}

/// Upstream `processTaintBaseEviction` in one level-triggered rule.
pub(crate) fn no_execute_for(ready: Option<&str>, full_disruption: bool) -> NoExecute {
    match ready {
        None => NoExecute::Leave,
        Some(_) if full_disruption => NoExecute::Clear,
        Some("False") => NoExecute::Taint(TAINT_NOT_READY),
        Some("Unknown") => NoExecute::Taint(TAINT_UNREACHABLE),
        Some(_) => NoExecute::Clear,
    }
}

fn has(taints: &[Taint], key: &str, effect: &str) -> bool {
    taints.iter().any(|t| t.key == key && t.effect == effect)
}

fn taint(key: &str, effect: &str, now: Timestamp) -> Taint {
    Taint {
        key: key.into(),
        effect: effect.into(),
        value: None,
        // Upstream `SwapNodeControllerTaint` stamps every taint it adds.
        time_added: Some(Time(now)),
    }
}

/// The node's taints after mirroring `conditions` (the node's conditions after this sync) and
/// the NoExecute decision; `None` when nothing changes. Taints the controller does not own
/// are kept in place; new ones are appended with `timeAdded = now`.
pub(crate) fn reconcile(
    node: &Node,
    conditions: &[NodeCondition],
    no_execute: NoExecute,
    now: Timestamp,
) -> Option<Vec<Taint>> {
    let old = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let mut want_no_schedule: Vec<&str> = conditions
        .iter()
        .filter_map(|c| condition_taint_key(&c.type_, &c.status))
        .collect();
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        want_no_schedule.push(TAINT_UNSCHEDULABLE);
    }
    let mut taints: Vec<Taint> = old
        .iter()
        .filter(|t| {
            let owned_no_schedule =
                t.effect == NO_SCHEDULE && NO_SCHEDULE_KEYS.contains(&t.key.as_str());
            if owned_no_schedule {
                return want_no_schedule.contains(&t.key.as_str());
            }
            let owned_no_execute = t.effect == NO_EXECUTE
                && [TAINT_NOT_READY, TAINT_UNREACHABLE].contains(&t.key.as_str());
            match no_execute {
                _ if !owned_no_execute => true,
                NoExecute::Leave => true,
                NoExecute::Taint(key) => t.key == key,
                NoExecute::Clear => false,
            }
        })
        .cloned()
        .collect();
    for key in want_no_schedule {
        if !has(&taints, key, NO_SCHEDULE) {
            taints.push(taint(key, NO_SCHEDULE, now));
        }
    }
    if let NoExecute::Taint(key) = no_execute {
        if !has(&taints, key, NO_EXECUTE) {
            taints.push(taint(key, NO_EXECUTE, now));
        }
    }
    (taints != old).then_some(taints)
}
