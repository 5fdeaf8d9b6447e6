//! Budget status (upstream `trySync`, `getExpectedPodCount`, `buildDisruptedPodMap`,
//! `countHealthyPods`, `updatePdbStatus`, `failSafe` and the `poddisruptionbudget` helpers).

use std::collections::BTreeMap;

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::SignedDuration;

use super::{ControllerScale, Step};
use crate::cached_pod::CachedPod;
use crate::ownership::controller_of;
use crate::pods;
use crate::Timestamp;

/// Upstream `DeletionTimeout`: how long an eviction's `disruptedPods` entry keeps its pod out
/// of the healthy count while the controller waits to see the pod deleted.
pub const DELETION_TIMEOUT: SignedDuration = SignedDuration::from_secs(120);

/// Upstream `policy.DisruptionAllowedCondition`.
pub const DISRUPTION_ALLOWED: &str = "DisruptionAllowed";
/// Upstream `policy.SufficientPodsReason`: the condition is True.
pub const SUFFICIENT_PODS: &str = "SufficientPods";
/// Upstream `policy.InsufficientPodsReason`: the condition is False.
pub const INSUFFICIENT_PODS: &str = "InsufficientPods";
/// Upstream `policy.SyncFailedReason`: the controller could not compute the status.
pub const SYNC_FAILED: &str = "SyncFailed";

/// What `minAvailable` / `maxUnavailable` come to (upstream `getExpectedPodCount`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpectedCount {
    /// `status.expectedPods`.
    pub expected_count: i32,
    /// `status.desiredHealthy`.
    pub desired_healthy: i32,
    /// Selected pods without a controller reference (they count for nothing in the scale sum).
    pub unmanaged_pods: Vec<String>,
}

/// Whether the budget's selector selects `pod` (same namespace; a null selector selects
/// nothing, an empty one everything, as in policy/v1; an invalid one nothing).
pub fn selects(pdb: &PodDisruptionBudget, pod: &CachedPod) -> bool {
    pdb.metadata.namespace == pod.metadata.namespace
        && matches!(selector_of(pdb), Ok(Some(sel)) if sel.matches(&labels_value(pod)))
}

fn selector_of(
    pdb: &PodDisruptionBudget,
) -> Result<Option<skiff_api::selector::LabelSelector>, String> {
    let Some(sel) = pdb.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
        return Ok(None);
    };
    let v = serde_json::to_value(sel).map_err(|e| e.to_string())?;
    skiff_api::selector::LabelSelector::from_object(&v).map(Some)
}

fn labels_value(pod: &CachedPod) -> serde_json::Value {
    serde_json::Value::Object(
        pod.metadata
            .labels
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    )
}

/// Upstream `getPodsForPdb`: the pods of the budget's namespace its selector selects.
pub(crate) fn select_pods<'a>(
    pdb: &PodDisruptionBudget,
    pods: &[&'a CachedPod],
) -> Result<Vec<&'a CachedPod>, String> {
    let Some(sel) = selector_of(pdb)? else {
        return Ok(Vec::new());
    };
    Ok(pods
        .iter()
        .copied()
        .filter(|p| p.metadata.namespace == pdb.metadata.namespace)
        .filter(|p| sel.matches(&labels_value(p)))
        .collect())
}

/// Upstream `intstr.GetScaledValueFromIntOrPercent(v, total, roundUp=true)`, with its errors.
fn scaled_value(v: &IntOrString, total: i32) -> Result<i32, String> {
    match v {
        IntOrString::Int(i) => Ok(*i),
        IntOrString::String(s) => {
            let Some(num) = s.strip_suffix('%') else {
                return Err(
                    "invalid value for IntOrString: invalid type: string is not a percentage"
                        .into(),
                );
            };
            let pct: i64 = num.parse().map_err(|_| {
                format!(
                    "invalid value for IntOrString: invalid value {s:?}: strconv.Atoi: parsing {num:?}: invalid syntax"
                )
            })?;
            let scaled = pct
                .saturating_mul(i64::from(total))
                .saturating_add(99)
                .div_euclid(100);
            Ok(i32::try_from(scaled).unwrap_or(i32::MAX))
        }
    }
}

/// Upstream `getExpectedScale`: the summed scale of the controllers of `pods`, each counted
/// once, plus the pods that have no controller.
fn expected_scale(
    pods: &[&CachedPod],
    controllers: &BTreeMap<String, ControllerScale>,
) -> Result<(i32, Vec<String>), String> {
    let mut scale: BTreeMap<&str, i32> = BTreeMap::new();
    let mut unmanaged = Vec::new();
    for pod in pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let Some(owner) = controller_of(&pod.metadata) else {
            unmanaged.push(name);
            continue;
        };
        let Some(found) = controllers.get(&owner.uid) else {
            return Err(format!("found no controllers for pod {name:?}"));
        };
        scale.entry(found.uid.as_str()).or_insert(found.replicas);
    }
    Ok((
        scale.values().fold(0i32, |a, b| a.saturating_add(*b)),
        unmanaged,
    ))
}

/// Upstream `getExpectedPodCount`: `maxUnavailable` (int or percent) and a percentage
/// `minAvailable` are measured against the owning controllers' scale; an integer
/// `minAvailable` against the number of selected pods. Percentages round up.
pub fn expected_pod_count(
    pdb: &PodDisruptionBudget,
    pods: &[&CachedPod],
    controllers: &BTreeMap<String, ControllerScale>,
) -> Result<ExpectedCount, String> {
    let spec = pdb.spec.clone().unwrap_or_default();
    let mut out = ExpectedCount::default();
    if let Some(max_unavailable) = spec.max_unavailable.as_ref() {
        (out.expected_count, out.unmanaged_pods) = expected_scale(pods, controllers)?;
        let max = scaled_value(max_unavailable, out.expected_count)?;
        out.desired_healthy = out.expected_count.saturating_sub(max).max(0);
    } else if let Some(min_available) = spec.min_available.as_ref() {
        match min_available {
            IntOrString::Int(i) => {
                out.desired_healthy = *i;
                out.expected_count = i32::try_from(pods.len()).unwrap_or(i32::MAX);
            }
            IntOrString::String(_) => {
                (out.expected_count, out.unmanaged_pods) = expected_scale(pods, controllers)?;
                out.desired_healthy = scaled_value(min_available, out.expected_count)?;
            }
        }
    }
    Ok(out)
}

fn add(t: Timestamp, d: SignedDuration) -> Timestamp {
    t.checked_add(d).unwrap_or(Timestamp::MAX)
}

/// The outcome of upstream `buildDisruptedPodMap`.
pub(crate) struct DisruptedPods {
    /// Entries still waiting for their pod's deletion.
    pub kept: BTreeMap<String, Time>,
    /// When the earliest kept entry expires.
    pub recheck: Option<Timestamp>,
    /// Pods whose entry expired without the pod being deleted (upstream's `NotDeleted` event).
    pub not_deleted: Vec<String>,
}

/// Upstream `buildDisruptedPodMap`: keep entries younger than [`DELETION_TIMEOUT`] whose pod
/// still exists and is not yet being deleted; drop the rest.
pub(crate) fn build_disrupted_pod_map(
    pdb: &PodDisruptionBudget,
    pods: &[&CachedPod],
    now: Timestamp,
) -> DisruptedPods {
    let mut out = DisruptedPods {
        kept: BTreeMap::new(),
        recheck: None,
        not_deleted: Vec::new(),
    };
    let Some(old) = pdb.status.as_ref().and_then(|s| s.disrupted_pods.as_ref()) else {
        return out;
    };
    for pod in pods {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let name = pod.metadata.name.clone().unwrap_or_default();
        let Some(at) = old.get(&name) else {
            continue;
        };
        let expected_deletion = add(at.0, DELETION_TIMEOUT);
        if expected_deletion < now {
            out.not_deleted.push(name);
        } else {
            if out.recheck.is_none_or(|r| expected_deletion < r) {
                out.recheck = Some(expected_deletion);
            }
            out.kept.insert(name, at.clone());
        }
    }
    out
}

/// Upstream `countHealthyPods`: ready pods that are neither being deleted nor recently
/// granted an eviction.
pub(crate) fn count_healthy_pods(
    pods: &[&CachedPod],
    disrupted: &BTreeMap<String, Time>,
    now: Timestamp,
) -> i32 {
    let healthy = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            let name = p.metadata.name.as_deref().unwrap_or_default();
            disrupted
                .get(name)
                .is_none_or(|at| add(at.0, DELETION_TIMEOUT) <= now)
        })
        .filter(|p| pods::is_ready(p))
        .count();
    i32::try_from(healthy).unwrap_or(i32::MAX)
}

/// Upstream `apimeta.SetStatusCondition`: the transition time moves only when the status does.
pub(crate) fn set_condition(conds: &mut Vec<Condition>, new: Condition) {
    match conds.iter_mut().find(|c| c.type_ == new.type_) {
        None => conds.push(new),
        Some(c) => {
            if c.status != new.status {
                c.status = new.status;
                c.last_transition_time = new.last_transition_time;
            }
            c.reason = new.reason;
            c.message = new.message;
            c.observed_generation = new.observed_generation;
        }
    }
}

/// Upstream `UpdateDisruptionAllowedCondition`: True/SufficientPods while disruptions are
/// allowed, False/InsufficientPods otherwise; the message stays empty.
pub(crate) fn update_disruption_allowed_condition(
    st: &mut PodDisruptionBudgetStatus,
    now: Timestamp,
) {
    let (status, reason) = if st.disruptions_allowed > 0 {
        ("True", SUFFICIENT_PODS)
    } else {
        ("False", INSUFFICIENT_PODS)
    };
    let observed_generation = st.observed_generation;
    set_condition(
        st.conditions.get_or_insert_with(Vec::new),
        Condition {
            type_: DISRUPTION_ALLOWED.into(),
            status: status.into(),
            reason: reason.into(),
            message: String::new(),
            observed_generation,
            last_transition_time: Time(now),
        },
    );
}

/// Upstream `ConditionsAreUpToDate`.
fn conditions_up_to_date(pdb: &PodDisruptionBudget, st: &PodDisruptionBudgetStatus) -> bool {
    let Some(c) = st
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == DISRUPTION_ALLOWED)
    else {
        return false;
    };
    if st.observed_generation.unwrap_or(0) != pdb.metadata.generation.unwrap_or(0) {
        return false;
    }
    if st.disruptions_allowed > 0 {
        c.status == "True" && c.reason == SUFFICIENT_PODS
    } else {
        c.status == "False" && c.reason == INSUFFICIENT_PODS
    }
}

/// Upstream `updatePdbStatus`: the new status, or `None` when the current one already says
/// the same. Disruptions are allowed only while something is expected.
pub(crate) fn updated_status(
    pdb: &PodDisruptionBudget,
    current_healthy: i32,
    desired_healthy: i32,
    expected_count: i32,
    disrupted: BTreeMap<String, Time>,
    now: Timestamp,
) -> Option<PodDisruptionBudgetStatus> {
    let mut allowed = current_healthy.saturating_sub(desired_healthy);
    if expected_count <= 0 || allowed <= 0 {
        allowed = 0;
    }
    let old = pdb.status.clone().unwrap_or_default();
    let old_disrupted = old.disrupted_pods.clone().unwrap_or_default();
    if old.current_healthy == current_healthy
        && old.desired_healthy == desired_healthy
        && old.expected_pods == expected_count
        && old.disruptions_allowed == allowed
        && old_disrupted == disrupted
        && old.observed_generation.unwrap_or(0) == pdb.metadata.generation.unwrap_or(0)
        && conditions_up_to_date(pdb, &old)
    {
        return None;
    }
    let mut st = PodDisruptionBudgetStatus {
        current_healthy,
        desired_healthy,
        expected_pods: expected_count,
        disruptions_allowed: allowed,
        disrupted_pods: (!disrupted.is_empty()).then_some(disrupted),
        observed_generation: pdb.metadata.generation.filter(|g| *g != 0),
        conditions: old.conditions,
    };
    update_disruption_allowed_condition(&mut st, now);
    Some(st)
}

/// Upstream `failSafe`: whatever else failed, set `disruptionsAllowed` to 0 and say why in a
/// False/SyncFailed condition, so evictions stop until a sync succeeds.
pub(crate) fn fail_safe(
    pdb: &PodDisruptionBudget,
    err: &str,
    now: Timestamp,
    mut steps: Vec<Step>,
) -> Vec<Step> {
    let old = pdb.status.clone().unwrap_or_default();
    let mut st = old.clone();
    st.disruptions_allowed = 0;
    let observed_generation = st.observed_generation;
    set_condition(
        st.conditions.get_or_insert_with(Vec::new),
        Condition {
            type_: DISRUPTION_ALLOWED.into(),
            status: "False".into(),
            reason: SYNC_FAILED.into(),
            message: err.to_string(),
            observed_generation,
            last_transition_time: Time(now),
        },
    );
    if st != old {
        steps.push(Step::Status(Box::new(st)));
    }
    steps.push(Step::Failed(err.to_string()));
    steps
}

/// Go's `%v` of a `*metav1.LabelSelector` (its generated `String()`), as upstream's
/// `UnmanagedPods` event prints it.
pub(crate) fn go_selector_string(sel: Option<&LabelSelector>) -> String {
    let Some(sel) = sel else {
        return "nil".into();
    };
    let labels: String = sel
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}: {v},"))
        .collect();
    let exprs: String = sel
        .match_expressions
        .iter()
        .flatten()
        .map(|e| {
            format!(
                "LabelSelectorRequirement{{Key:{},Operator:{},Values:[{}],}},",
                e.key,
                e.operator,
                e.values.as_deref().unwrap_or_default().join(" ")
            )
        })
        .collect();
    format!(
        "&LabelSelector{{MatchLabels:map[string]string{{{labels}}},MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}"
    )
}
