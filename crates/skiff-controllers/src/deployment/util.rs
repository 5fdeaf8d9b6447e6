//! Deployment helpers from upstream `deployment/util/deployment_util.go`: annotation names,
//! condition reasons, maxSurge/maxUnavailable resolution, revisions and ReplicaSet orderings.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use crate::hash::POD_TEMPLATE_HASH_LABEL;
use crate::Timestamp;

/// Upstream `RevisionAnnotation`: the rollout sequence number of a ReplicaSet (and, copied,
/// of its Deployment).
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// Upstream `RevisionHistoryAnnotation`: earlier revisions a ReplicaSet served (rollbacks).
pub const REVISION_HISTORY_ANNOTATION: &str = "deployment.kubernetes.io/revision-history";
/// Upstream `DesiredReplicasAnnotation`: the Deployment's replicas when the RS was last scaled.
pub const DESIRED_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/desired-replicas";
/// Upstream `MaxReplicasAnnotation`: replicas + maxSurge when the RS was last scaled.
pub const MAX_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/max-replicas";
/// kubectl's last-applied annotation, never copied to ReplicaSets.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Upstream `apps.DeprecatedRollbackTo`, never copied to ReplicaSets.
pub const DEPRECATED_ROLLBACK_TO: &str = "deprecated.deployment.rollback.to";
/// Upstream `maxRevHistoryLengthInChars`.
pub const MAX_REV_HISTORY_LENGTH_IN_CHARS: usize = 2000;

/// Condition type `Available`.
pub const AVAILABLE: &str = "Available";
/// Condition type `Progressing`.
pub const PROGRESSING: &str = "Progressing";
/// Condition type `ReplicaFailure`.
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

/// Progressing: one of the ReplicaSets was updated as part of the rollout.
pub const REPLICA_SET_UPDATED_REASON: &str = "ReplicaSetUpdated";
/// Progressing: the Deployment created its new ReplicaSet.
pub const NEW_REPLICA_SET_REASON: &str = "NewReplicaSetCreated";
/// Progressing: the Deployment found (or adopted) its new ReplicaSet.
pub const FOUND_NEW_RS_REASON: &str = "FoundNewReplicaSet";
/// Progressing: the new ReplicaSet is available.
pub const NEW_RS_AVAILABLE_REASON: &str = "NewReplicaSetAvailable";
/// Progressing=False: no progress within progressDeadlineSeconds.
pub const TIMED_OUT_REASON: &str = "ProgressDeadlineExceeded";
/// Progressing=Unknown: the Deployment is paused.
pub const PAUSED_DEPLOY_REASON: &str = "DeploymentPaused";
/// Progressing=Unknown: the Deployment was resumed.
pub const RESUMED_DEPLOY_REASON: &str = "DeploymentResumed";
/// Available=True.
pub const MINIMUM_REPLICAS_AVAILABLE: &str = "MinimumReplicasAvailable";
/// Available=False.
pub const MINIMUM_REPLICAS_UNAVAILABLE: &str = "MinimumReplicasUnavailable";

/// Upstream's defaults for fields the API server defaults (apps/v1).
pub const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;
/// Default progressDeadlineSeconds.
pub const DEFAULT_PROGRESS_DEADLINE_SECONDS: i32 = 600;
/// Default maxSurge and maxUnavailable.
pub const DEFAULT_MAX_SURGE_UNAVAILABLE: &str = "25%";

/// The largest replica count the planner reasons about: every count it reads is clamped
/// here, so sums over any number of ReplicaSets stay far from `i32` overflow.
pub const MAX_REPLICAS: i32 = 1 << 20;

/// `spec.replicas` (defaulted to 1).
pub fn replicas(d: &Deployment) -> i32 {
    d.spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1)
        .clamp(0, MAX_REPLICAS)
}

/// A ReplicaSet's `spec.replicas` (defaulted to 1).
pub fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1)
        .clamp(0, MAX_REPLICAS)
}

/// Sets a ReplicaSet's `spec.replicas`.
pub fn set_rs_replicas(rs: &mut ReplicaSet, n: i32) {
    rs.spec.get_or_insert_with(Default::default).replicas = Some(n);
}

/// `status.replicas`, `readyReplicas`, `availableReplicas` of a ReplicaSet.
pub fn rs_counts(rs: &ReplicaSet) -> (i32, i32, i32) {
    let c = |v: i32| v.clamp(0, MAX_REPLICAS);
    rs.status.as_ref().map_or((0, 0, 0), |s| {
        (
            c(s.replicas),
            c(s.ready_replicas.unwrap_or(0)),
            c(s.available_replicas.unwrap_or(0)),
        )
    })
}

/// Whether the strategy is RollingUpdate (the default).
pub fn is_rolling_update(d: &Deployment) -> bool {
    strategy_type(d) == "RollingUpdate"
}

/// The strategy type, `RollingUpdate` when unset.
pub fn strategy_type(d: &Deployment) -> &str {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("RollingUpdate")
}

/// Upstream `intstr.GetValueFromIntOrPercent`: an int, or a percentage of `total` rounded up
/// or down. `None` for a malformed value (validation rejects those).
pub fn value_from_int_or_percent(v: &IntOrString, total: i32, round_up: bool) -> Option<i32> {
    match v {
        IntOrString::Int(i) => Some(*i),
        IntOrString::String(s) => {
            let pct: i64 = s.strip_suffix('%')?.parse().ok()?;
            let prod = pct.checked_mul(i64::from(total))?;
            let v = if round_up {
                (prod + 99).div_euclid(100)
            } else {
                prod.div_euclid(100)
            };
            i32::try_from(v).ok()
        }
    }
}

/// Upstream `ResolveFenceposts`: maxSurge rounds up, maxUnavailable rounds down, and if both
/// come out 0 maxUnavailable becomes 1 so the rollout can progress.
pub fn resolve_fenceposts(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    desired: i32,
) -> (i32, i32) {
    let zero = IntOrString::Int(0);
    let surge = value_from_int_or_percent(max_surge.unwrap_or(&zero), desired, true).unwrap_or(0);
    let unavailable =
        value_from_int_or_percent(max_unavailable.unwrap_or(&zero), desired, false).unwrap_or(0);
    let (surge, unavailable) = (
        surge.clamp(0, MAX_REPLICAS),
        unavailable.clamp(0, MAX_REPLICAS),
    );
    if surge == 0 && unavailable == 0 {
        return (0, 1);
    }
    (surge, unavailable)
}

fn rolling_params(d: &Deployment) -> (IntOrString, IntOrString) {
    let ru = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    let default = || IntOrString::String(DEFAULT_MAX_SURGE_UNAVAILABLE.into());
    (
        ru.and_then(|r| r.max_surge.clone()).unwrap_or_else(default),
        ru.and_then(|r| r.max_unavailable.clone())
            .unwrap_or_else(default),
    )
}

/// Upstream `MaxSurge`: 0 unless RollingUpdate.
pub fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling_update(d) {
        return 0;
    }
    let (s, u) = rolling_params(d);
    resolve_fenceposts(Some(&s), Some(&u), replicas(d)).0
}

/// Upstream `MaxUnavailable`: 0 unless RollingUpdate with replicas, at most replicas.
pub fn max_unavailable(d: &Deployment) -> i32 {
    if !is_rolling_update(d) || replicas(d) == 0 {
        return 0;
    }
    let (s, u) = rolling_params(d);
    resolve_fenceposts(Some(&s), Some(&u), replicas(d))
        .1
        .min(replicas(d))
}

/// Whether progress is tracked (`progressDeadlineSeconds` set, not MaxInt32).
pub fn has_progress_deadline(d: &Deployment) -> bool {
    progress_deadline(d) != i32::MAX
}

/// progressDeadlineSeconds (defaulted to 600).
pub fn progress_deadline(d: &Deployment) -> i32 {
    d.spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECONDS)
}

/// revisionHistoryLimit (defaulted to 10); `None` when all revisions are kept (MaxInt32).
pub fn revision_history_limit(d: &Deployment) -> Option<i32> {
    let l = d
        .spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .unwrap_or(DEFAULT_REVISION_HISTORY_LIMIT);
    (l != i32::MAX).then_some(l.max(0))
}

/// minReadySeconds.
pub fn min_ready_seconds(d: &Deployment) -> i32 {
    d.spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
}

/// Upstream `Revision`: the revision annotation as a number (0 when absent, `None` when
/// unparsable).
pub fn revision(rs: &ReplicaSet) -> Option<i64> {
    match rs
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REVISION_ANNOTATION))
    {
        None => Some(0),
        Some(v) => v.parse().ok(),
    }
}

/// Upstream `MaxRevision` over `rss`, skipping unparsable revisions.
pub fn max_revision<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    rss.into_iter()
        .filter_map(revision)
        .max()
        .unwrap_or(0)
        .max(0)
}

/// Upstream `ReplicaSetsByCreationTimestamp`: older first, then by name.
pub fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    let ta = a.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let tb = b.metadata.creation_timestamp.as_ref().map(|t| t.0);
    ta.cmp(&tb)
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// Upstream `ReplicaSetsByRevision`: lower revision first, ties (or unparsable) by creation.
pub fn by_revision(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    match (revision(a), revision(b)) {
        (Some(x), Some(y)) if x != y => x.cmp(&y),
        _ => by_creation(a, b),
    }
}

/// Drops nulls, empty lists and empty objects, so "unset" and "empty" compare equal as in
/// upstream's semantic equality.
fn prune(v: &mut Value) -> bool {
    match v {
        Value::Null => false,
        Value::Array(a) => {
            for x in a.iter_mut() {
                prune(x);
            }
            !a.is_empty()
        }
        Value::Object(m) => {
            m.retain(|_, x| prune(x));
            !m.is_empty()
        }
        _ => true,
    }
}

/// The template as comparable JSON, without the pod-template-hash label.
fn comparable(t: &PodTemplateSpec) -> Value {
    let mut t = t.clone();
    if let Some(l) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        l.remove(POD_TEMPLATE_HASH_LABEL);
    }
    let mut v = serde_json::to_value(&t).unwrap_or(Value::Null);
    prune(&mut v);
    v
}

/// Upstream `EqualIgnoreHash`: templates equal apart from the pod-template-hash label.
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    comparable(a) == comparable(b)
}

/// A ReplicaSet's pod template (empty when unset).
pub fn rs_template(rs: &ReplicaSet) -> PodTemplateSpec {
    rs.spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .unwrap_or_default()
}

/// Upstream's `annotationsToSkip`.
pub fn skip_copy_annotation(key: &str) -> bool {
    matches!(
        key,
        LAST_APPLIED_ANNOTATION
            | REVISION_ANNOTATION
            | REVISION_HISTORY_ANNOTATION
            | DESIRED_REPLICAS_ANNOTATION
            | MAX_REPLICAS_ANNOTATION
            | DEPRECATED_ROLLBACK_TO
    )
}

/// Upstream `SetReplicasAnnotations`; true when something changed.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let a = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let mut updated = false;
    for (k, v) in [
        (DESIRED_REPLICAS_ANNOTATION, desired),
        (MAX_REPLICAS_ANNOTATION, max),
    ] {
        let v = v.to_string();
        if a.get(k) != Some(&v) {
            a.insert(k.into(), v);
            updated = true;
        }
    }
    updated
}

/// Upstream `ReplicasAnnotationsNeedUpdate`.
pub fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    let a = rs.metadata.annotations.as_ref();
    let get = |k: &str| a.and_then(|a| a.get(k)).cloned();
    get(DESIRED_REPLICAS_ANNOTATION) != Some(desired.to_string())
        || get(MAX_REPLICAS_ANNOTATION) != Some(max.to_string())
}

/// An integer annotation of a ReplicaSet.
pub fn int_annotation(rs: &ReplicaSet, key: &str) -> Option<i32> {
    rs.metadata
        .annotations
        .as_ref()?
        .get(key)?
        .parse::<i32>()
        .ok()
        .map(|v| v.clamp(0, MAX_REPLICAS))
}

/// Upstream `SetNewReplicaSetAnnotations`: copy the Deployment's annotations (but the skipped
/// ones), raise the revision to `new_revision` keeping earlier ones in revision-history (a
/// rollback), and on creation set the replicas annotations. True when something changed.
pub fn set_new_rs_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
) -> bool {
    let mut changed = false;
    let a = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if skip_copy_annotation(k) || a.get(k) == Some(v) {
            continue;
        }
        a.insert(k.clone(), v.clone());
        changed = true;
    }
    let old = a.get(REVISION_ANNOTATION).cloned();
    let old_int = match old.as_deref() {
        None | Some("") => 0,
        Some(s) => match s.parse::<i64>() {
            Ok(v) => v,
            Err(_) => return false,
        },
    };
    if old_int < new_revision {
        a.insert(REVISION_ANNOTATION.into(), new_revision.to_string());
        changed = true;
        if let Some(old) = old {
            let history = a
                .get(REVISION_HISTORY_ANNOTATION)
                .cloned()
                .unwrap_or_default();
            if history.is_empty() {
                a.insert(REVISION_HISTORY_ANNOTATION.into(), old);
            } else {
                let mut parts: Vec<&str> = history.split(',').collect();
                let mut total = history.len() + old.len() + 1;
                let mut start = 0;
                while total > MAX_REV_HISTORY_LENGTH_IN_CHARS && start < parts.len() {
                    total -= parts[start].len() + 1;
                    start += 1;
                }
                if total <= MAX_REV_HISTORY_LENGTH_IN_CHARS {
                    parts = parts.split_off(start);
                    parts.push(&old);
                    let joined = parts.join(",");
                    a.insert(REVISION_HISTORY_ANNOTATION.into(), joined);
                }
            }
        }
    }
    if !exists && set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)) {
        changed = true;
    }
    changed
}

/// A condition stamped `now` (both update and transition times).
pub fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    now: Timestamp,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// The condition of `type_`, if any.
pub fn get_condition<'a>(st: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    st.conditions.iter().flatten().find(|c| c.type_ == type_)
}

/// Upstream `SetDeploymentCondition`: no change when status and reason already match; the
/// transition time survives when only the reason changes.
pub fn set_condition(st: &mut DeploymentStatus, mut cond: DeploymentCondition) {
    if let Some(cur) = get_condition(st, &cond.type_) {
        if cur.status == cond.status && cur.reason == cond.reason {
            return;
        }
        if cur.status == cond.status {
            cond.last_transition_time = cur.last_transition_time.clone();
        }
    }
    remove_condition(st, &cond.type_.clone());
    st.conditions.get_or_insert_with(Vec::new).push(cond);
}

/// Upstream `RemoveDeploymentCondition`.
pub fn remove_condition(st: &mut DeploymentStatus, type_: &str) {
    if let Some(c) = st.conditions.as_mut() {
        c.retain(|c| c.type_ != type_);
        if c.is_empty() {
            st.conditions = None;
        }
    }
}

/// Upstream `NewRSNewReplicas`: how far the new ReplicaSet may grow now (RollingUpdate: up to
/// replicas + maxSurge pods in total; Recreate: all at once).
pub fn new_rs_new_replicas(d: &Deployment, all: &[&ReplicaSet], new_rs: &ReplicaSet) -> i32 {
    if !is_rolling_update(d) {
        return replicas(d);
    }
    let current: i32 = all
        .iter()
        .map(|rs| rs_replicas(rs))
        .fold(0i32, i32::saturating_add);
    let max_total = replicas(d) + max_surge(d);
    if current >= max_total {
        return rs_replicas(new_rs);
    }
    let up = (max_total - current).min(replicas(d) - rs_replicas(new_rs));
    rs_replicas(new_rs) + up
}

/// Upstream `IsSaturated`: the new RS holds all replicas, believes so, and all are available.
pub fn is_saturated(d: &Deployment, rs: Option<&ReplicaSet>) -> bool {
    let Some(rs) = rs else { return false };
    let Some(desired) = int_annotation(rs, DESIRED_REPLICAS_ANNOTATION) else {
        return false;
    };
    rs_replicas(rs) == replicas(d) && desired == replicas(d) && rs_counts(rs).2 == replicas(d)
}

/// Upstream `DeploymentComplete`.
pub fn deployment_complete(d: &Deployment, st: &DeploymentStatus) -> bool {
    let r = replicas(d);
    st.updated_replicas.unwrap_or(0) == r
        && st.replicas.unwrap_or(0) == r
        && st.available_replicas.unwrap_or(0) == r
        && st.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// Upstream `DeploymentProgressing`: more updated, ready or available pods, or fewer old ones.
pub fn deployment_progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let g = |v: Option<i32>| v.unwrap_or(0);
    let old_old = g(old.replicas) - g(old.updated_replicas);
    let new_old = g(new.replicas) - g(new.updated_replicas);
    g(new.updated_replicas) > g(old.updated_replicas)
        || new_old < old_old
        || g(new.ready_replicas) > g(old.ready_replicas)
        || g(new.available_replicas) > g(old.available_replicas)
}

/// Upstream `DeploymentTimedOut`: the Progressing condition was last updated more than
/// progressDeadlineSeconds before `now` (and is neither complete nor already timed out).
pub fn deployment_timed_out(d: &Deployment, new: &DeploymentStatus, now: Timestamp) -> bool {
    if !has_progress_deadline(d) {
        return false;
    }
    let Some(c) = get_condition(new, PROGRESSING) else {
        return false;
    };
    match c.reason.as_deref() {
        Some(NEW_RS_AVAILABLE_REASON) => return false,
        Some(TIMED_OUT_REASON) => return true,
        _ => {}
    }
    let Some(from) = c.last_update_time.as_ref() else {
        return false;
    };
    crate::pods::nanos(from.0) + i128::from(progress_deadline(d)) * 1_000_000_000
        < crate::pods::nanos(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pct(s: &str) -> IntOrString {
        IntOrString::String(s.into())
    }

    #[test]
    fn percentages_round_surge_up_and_unavailable_down() {
        assert_eq!(
            resolve_fenceposts(Some(&pct("25%")), Some(&pct("25%")), 10),
            (3, 2)
        );
        assert_eq!(
            resolve_fenceposts(Some(&pct("25%")), Some(&pct("25%")), 1),
            (1, 0)
        );
        assert_eq!(
            resolve_fenceposts(Some(&pct("0%")), Some(&pct("1%")), 2),
            (0, 1)
        );
        assert_eq!(
            resolve_fenceposts(Some(&IntOrString::Int(0)), Some(&IntOrString::Int(0)), 5),
            (0, 1)
        );
        assert_eq!(resolve_fenceposts(None, Some(&pct("bogus")), 5), (0, 1));
    }

    proptest! {
        #[test]
        fn fenceposts_stay_within_bounds(surge in 0i32..=100, unavail in 0i32..=100, desired in 0i32..1000) {
            let (s, u) = resolve_fenceposts(Some(&pct(&format!("{surge}%"))), Some(&pct(&format!("{unavail}%"))), desired);
            prop_assert!(s >= 0 && u >= 0);
            prop_assert!(s + u >= 1, "a rollout must always be able to move");
            prop_assert!(s <= desired && u <= desired.max(1));
            prop_assert!(i64::from(s) * 100 >= i64::from(surge) * i64::from(desired));
            prop_assert!(u == 1 || i64::from(u) * 100 <= i64::from(unavail) * i64::from(desired));
        }
    }

    #[test]
    fn revision_history_keeps_earlier_revisions_within_the_length_limit() {
        let d = Deployment::default();
        let mut rs = ReplicaSet::default();
        rs.metadata.annotations = Some(BTreeMap::from([(REVISION_ANNOTATION.into(), "1".into())]));
        assert!(set_new_rs_annotations(&d, &mut rs, 3, true));
        assert!(set_new_rs_annotations(&d, &mut rs, 5, true));
        let a = rs.metadata.annotations.unwrap();
        assert_eq!(a[REVISION_ANNOTATION], "5");
        assert_eq!(a[REVISION_HISTORY_ANNOTATION], "1,3");
    }
}
