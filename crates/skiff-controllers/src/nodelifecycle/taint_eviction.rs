//! Taint-based eviction (upstream `pkg/controller/tainteviction`): pods on a node with NoExecute
//! taints they do not tolerate are deleted at once; pods tolerating them for
//! `tolerationSeconds` are deleted when that runs out; pods tolerating them without a limit stay.

use k8s_openapi::api::core::v1::{PodCondition, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::SignedDuration;

use super::taints::NO_EXECUTE;
use crate::cached_pod::CachedPod;
use crate::daemonset::fit::tolerates;
use crate::Timestamp;

/// Event source of the deletions (upstream's controller name).
pub const TAINT_EVICTION_CONTROLLER: &str = "taint-eviction-controller";
/// Pod condition type the driver sets before deleting (upstream `v1.DisruptionTarget`).
pub const DISRUPTION_TARGET: &str = "DisruptionTarget";
/// Reason of that condition.
pub const DELETION_BY_TAINT_MANAGER: &str = "DeletionByTaintManager";
/// Message of that condition.
pub const DELETION_BY_TAINT_MANAGER_MESSAGE: &str =
    "Taint manager: deleting due to NoExecute taint";

/// The condition upstream patches onto a pod before deleting it for a NoExecute taint.
pub fn disruption_target_condition(now: Timestamp) -> PodCondition {
    PodCondition {
        type_: DISRUPTION_TARGET.into(),
        status: "True".into(),
        reason: Some(DELETION_BY_TAINT_MANAGER.into()),
        message: Some(DELETION_BY_TAINT_MANAGER_MESSAGE.into()),
        last_transition_time: Some(Time(now)),
        ..Default::default()
    }
}

/// Upstream `v1helper.GetMatchingTolerations`: for each taint the first toleration that
/// tolerates it, or `None` when some taint is not tolerated.
pub fn matching_tolerations<'a>(
    taints: &[Taint],
    tolerations: &'a [Toleration],
) -> Option<Vec<&'a Toleration>> {
    taints
        .iter()
        .map(|taint| tolerations.iter().find(|t| tolerates(t, taint)))
        .collect()
}

/// Upstream `getMinTolerationTime` over the tolerations in use: the smallest
/// `tolerationSeconds` (0 when any is zero or negative, or none are in use), `None` when
/// every one tolerates forever.
pub fn min_toleration_seconds(used: &[&Toleration]) -> Option<i64> {
    if used.is_empty() {
        return Some(0);
    }
    let mut min: Option<i64> = None;
    for secs in used.iter().filter_map(|t| t.toleration_seconds) {
        if secs <= 0 {
            return Some(0);
        }
        min = Some(min.map_or(secs, |m| m.min(secs)));
    }
    min
}

/// What happens to one pod on a node with NoExecute taints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Delete it now.
    DeleteNow,
    /// Delete it at this time.
    DeleteAt(Timestamp),
    /// It tolerates the taints forever.
    Stay,
}

/// The NoExecute taints among `taints`.
pub fn no_execute_taints(taints: &[Taint]) -> Vec<Taint> {
    taints
        .iter()
        .filter(|t| t.effect == NO_EXECUTE)
        .cloned()
        .collect()
}

/// Upstream `processPodOnNode` without timers: `taints` are the node's NoExecute taints and
/// `since` when they started (the node's first NoExecute taint, or the pod's creation if
/// later); the pod is due `since + min(tolerationSeconds)`.
pub fn verdict(pod: &CachedPod, taints: &[Taint], since: Timestamp, now: Timestamp) -> Verdict {
    if taints.is_empty() {
        return Verdict::Stay;
    }
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or_default();
    let Some(used) = matching_tolerations(taints, tolerations) else {
        return Verdict::DeleteNow;
    };
    let Some(secs) = min_toleration_seconds(&used) else {
        return Verdict::Stay;
    };
    let due = since
        .checked_add(SignedDuration::from_secs(secs))
        .unwrap_or(Timestamp::MAX);
    if due <= now {
        Verdict::DeleteNow
    } else {
        Verdict::DeleteAt(due)
    }
}

/// When the pod started to be exposed to taints present on its node `since`.
pub(crate) fn exposed_since(pod: &CachedPod, since: Timestamp) -> Timestamp {
    pod.metadata
        .creation_timestamp
        .as_ref()
        .map_or(since, |c| c.0.max(since))
}
