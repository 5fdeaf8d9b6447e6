//! Pod facts shared by the planners: activity, readiness, availability after minReadySeconds,
//! and upstream's orderings of pods to delete (`ActivePods`, `ActivePodsWithRanks`).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::cached_pod::CachedPod;
use crate::Timestamp;

/// `Pending`
pub const PHASE_PENDING: &str = "Pending";
/// `Running`
pub const PHASE_RUNNING: &str = "Running";
/// `Succeeded`
pub const PHASE_SUCCEEDED: &str = "Succeeded";
/// `Failed`
pub const PHASE_FAILED: &str = "Failed";
/// `Unknown`
pub const PHASE_UNKNOWN: &str = "Unknown";

/// The annotation users set to steer scale-down (upstream `controller.kubernetes.io/pod-deletion-cost`).
pub const POD_DELETION_COST_ANNOTATION: &str = "controller.kubernetes.io/pod-deletion-cost";

const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// The pod's phase, empty when unset.
pub fn phase(pod: &CachedPod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

/// Succeeded or Failed.
pub fn is_terminal(pod: &CachedPod) -> bool {
    matches!(phase(pod), PHASE_SUCCEEDED | PHASE_FAILED)
}

/// Upstream `controller.IsPodActive`: not terminal and not being deleted.
pub fn is_active(pod: &CachedPod) -> bool {
    !is_terminal(pod) && pod.metadata.deletion_timestamp.is_none()
}

/// Upstream `controller.IsPodTerminating`: being deleted but not yet terminal.
pub fn is_terminating(pod: &CachedPod) -> bool {
    !is_terminal(pod) && pod.metadata.deletion_timestamp.is_some()
}

/// Upstream `podutil.IsPodReady`: the Ready condition is True.
pub fn is_ready(pod: &CachedPod) -> bool {
    ready_condition(pod).is_some_and(|(status, _)| status == "True")
}

/// The Ready condition's status and last transition time.
fn ready_condition(pod: &CachedPod) -> Option<(&str, Option<Timestamp>)> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| {
            (
                c.status.as_str(),
                c.last_transition_time.as_ref().map(|t| t.0),
            )
        })
}

/// When a ready pod became ready (the Ready condition's last transition), if known.
pub fn ready_since(pod: &CachedPod) -> Option<Timestamp> {
    match ready_condition(pod) {
        Some(("True", t)) => t,
        _ => None,
    }
}

/// The Ready condition's last transition when it is False (the kubelet's mark of a pod
/// turning terminal).
pub fn not_ready_since(pod: &CachedPod) -> Option<Timestamp> {
    match ready_condition(pod) {
        Some(("False", t)) => t,
        _ => None,
    }
}

/// Upstream `podutil.IsPodAvailable`: ready, and either `min_ready_seconds` is 0 or the pod
/// has been ready for strictly longer than it.
pub fn is_available(pod: &CachedPod, min_ready_seconds: i32, now: Timestamp) -> bool {
    if !is_ready(pod) {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    ready_since(pod)
        .is_some_and(|t| nanos(t) + i128::from(min_ready_seconds) * NANOS_PER_SECOND < nanos(now))
}

/// Seconds until a ready pod becomes available, when it is ready but not yet available.
pub fn seconds_until_available(
    pod: &CachedPod,
    min_ready_seconds: i32,
    now: Timestamp,
) -> Option<i64> {
    if !is_ready(pod) || is_available(pod, min_ready_seconds, now) {
        return None;
    }
    let since = ready_since(pod)?;
    let due = nanos(since) + i128::from(min_ready_seconds) * NANOS_PER_SECOND;
    let left = (due - nanos(now)).max(0) / NANOS_PER_SECOND + 1;
    i64::try_from(left).ok()
}

/// Nanoseconds since the Unix epoch.
pub fn nanos(t: Timestamp) -> i128 {
    t.as_nanosecond()
}

fn creation(pod: &CachedPod) -> Option<Timestamp> {
    pod.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

/// Upstream `podPhaseToOrdinal`: Pending < Unknown < Running (others rank with Pending).
fn phase_ordinal(pod: &CachedPod) -> u8 {
    match phase(pod) {
        PHASE_UNKNOWN => 1,
        PHASE_RUNNING => 2,
        _ => 0,
    }
}

fn node_name(pod: &CachedPod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or_default()
}

/// Upstream `maxContainerRestarts`: the highest restart count of regular containers and of
/// sidecars (restartable init containers).
fn max_restarts(pod: &CachedPod) -> (i32, i32) {
    let Some(status) = pod.status.as_ref() else {
        return (0, 0);
    };
    let regular = status
        .container_statuses
        .iter()
        .flatten()
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0);
    let sidecars: Vec<&str> = pod
        .spec
        .iter()
        .flat_map(|s| s.init_containers.iter().flatten())
        .filter(|c| c.restart_policy.as_deref() == Some("Always"))
        .map(|c| c.name.as_str())
        .collect();
    let sidecar = status
        .init_container_statuses
        .iter()
        .flatten()
        .filter(|c| sidecars.contains(&c.name.as_str()))
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0);
    (regular, sidecar)
}

/// Upstream `afterOrZero`: a missing time sorts first, otherwise the later one first.
fn after_or_zero(a: Option<Timestamp>, b: Option<Timestamp>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => b.cmp(&a),
    }
}

/// Upstream `logarithmicRankDiff`: compares ages on a log2 scale of nanoseconds, so pods of
/// similar age tie and the tie is broken by uid.
fn log_rank(t: Timestamp, now: Timestamp) -> i64 {
    let d = nanos(now) - nanos(t);
    if d > 0 {
        (d as f64).log2() as i64
    } else {
        -1
    }
}

/// How two timestamps compare for deletion: with `now`, upstream's logarithmic buckets
/// (`LogarithmicScaleDown`, on by default), otherwise `afterOrZero`.
fn time_order(
    a: Option<Timestamp>,
    b: Option<Timestamp>,
    now: Option<Timestamp>,
) -> Option<Ordering> {
    if a == b {
        return None;
    }
    match (a, b, now) {
        (Some(ta), Some(tb), Some(now)) => {
            let diff = log_rank(ta, now) - log_rank(tb, now);
            Some(if diff == 0 {
                Ordering::Equal
            } else if diff < 0 {
                Ordering::Less
            } else {
                Ordering::Greater
            })
        }
        _ => Some(after_or_zero(a, b)),
    }
}

fn deletion_cost(pod: &CachedPod) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(POD_DELETION_COST_ANNOTATION))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn uid(pod: &CachedPod) -> &str {
    pod.metadata.uid.as_deref().unwrap_or_default()
}

fn name(pod: &CachedPod) -> &str {
    pod.metadata.name.as_deref().unwrap_or_default()
}

/// Upstream `controller.ActivePods.Less`: which pod to delete first. Unassigned before
/// assigned, Pending < Unknown < Running, not ready before ready, ready for less time first,
/// more restarts first, newer first. Ties fall back to the name so the order is total.
pub fn active_pods_order(a: &CachedPod, b: &CachedPod) -> Ordering {
    let (na, nb) = (node_name(a), node_name(b));
    if na != nb && (na.is_empty() || nb.is_empty()) {
        return if na.is_empty() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    phase_ordinal(a)
        .cmp(&phase_ordinal(b))
        .then_with(|| is_ready(a).cmp(&is_ready(b)))
        .then_with(|| {
            if is_ready(a) && is_ready(b) && ready_since(a) != ready_since(b) {
                after_or_zero(ready_since(a), ready_since(b))
            } else {
                Ordering::Equal
            }
        })
        .then_with(|| restarts_order(a, b))
        .then_with(|| {
            if creation(a) != creation(b) {
                after_or_zero(creation(a), creation(b))
            } else {
                Ordering::Equal
            }
        })
        .then_with(|| name(a).cmp(name(b)))
}

fn restarts_order(a: &CachedPod, b: &CachedPod) -> Ordering {
    let (ra, sa) = max_restarts(a);
    let (rb, sb) = max_restarts(b);
    rb.cmp(&ra).then(sb.cmp(&sa))
}

/// Sorts pods in upstream `ActivePods` order (the first ones are deleted first).
pub fn sort_active_pods(pods: &mut [&CachedPod]) {
    pods.sort_by(|a, b| active_pods_order(a, b));
}

/// Upstream `ActivePodsWithRanks.Less` where a pod's rank is the number of active related pods
/// on its node: unassigned first, then phase, readiness, lower deletion cost, doubled-up nodes
/// first, shorter ready time, more restarts, newer (logarithmic buckets with `now`), uid.
fn ranked_order(a: (&CachedPod, usize), b: (&CachedPod, usize), now: Timestamp) -> Ordering {
    let ((pa, ra), (pb, rb)) = (a, b);
    let (na, nb) = (node_name(pa), node_name(pb));
    if na != nb && (na.is_empty() || nb.is_empty()) {
        return if na.is_empty() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    phase_ordinal(pa)
        .cmp(&phase_ordinal(pb))
        .then_with(|| is_ready(pa).cmp(&is_ready(pb)))
        .then_with(|| deletion_cost(pa).cmp(&deletion_cost(pb)))
        .then_with(|| rb.cmp(&ra))
        .then_with(|| {
            if is_ready(pa) && is_ready(pb) {
                match time_order(ready_since(pa), ready_since(pb), Some(now)) {
                    Some(Ordering::Equal) => uid(pa).cmp(uid(pb)),
                    Some(o) => o,
                    None => Ordering::Equal,
                }
            } else {
                Ordering::Equal
            }
        })
        .then_with(|| restarts_order(pa, pb))
        .then_with(|| match time_order(creation(pa), creation(pb), Some(now)) {
            Some(Ordering::Equal) => uid(pa).cmp(uid(pb)),
            Some(o) => o,
            None => Ordering::Equal,
        })
        .then_with(|| name(pa).cmp(name(pb)))
}

/// Upstream `getPodsToDelete`: the `count` pods to remove first when scaling down, ranked by
/// `ActivePodsWithRanks` with ranks from `related` (active pods of the same owner family on
/// the same node).
pub fn pods_to_delete<'a>(
    pods: &[&'a CachedPod],
    related: &[&CachedPod],
    count: usize,
    now: Timestamp,
) -> Vec<&'a CachedPod> {
    let mut on_node: BTreeMap<&str, usize> = BTreeMap::new();
    for p in related.iter().filter(|p| is_active(p)) {
        *on_node.entry(node_name(p)).or_default() += 1;
    }
    let mut ranked: Vec<(&CachedPod, usize)> = pods
        .iter()
        .map(|p| (*p, on_node.get(node_name(p)).copied().unwrap_or(0)))
        .collect();
    if count < ranked.len() {
        ranked.sort_by(|a, b| ranked_order(*a, *b, now));
    }
    ranked.into_iter().take(count).map(|(p, _)| p).collect()
}

/// Upstream `GetPodFromTemplate` as a template: the pod's labels, annotations, finalizers and
/// spec come from `template`, its name from `generate_name`, and `owner` becomes its
/// controller reference.
pub fn pod_template_for(
    template: &PodTemplateSpec,
    generate_name: String,
    owner: OwnerReference,
) -> PodTemplateSpec {
    let src = template.metadata.clone().unwrap_or_default();
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            generate_name: Some(generate_name),
            labels: src.labels,
            annotations: src.annotations,
            finalizers: src.finalizers,
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        }),
        spec: template.spec.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn availability_waits_strictly_longer_than_min_ready_seconds() {
        let p = pod("p").ready_since(t(100)).build();
        assert!(is_available(&p, 0, t(100)));
        assert!(!is_available(&p, 10, t(110)));
        assert!(is_available(&p, 10, t(111)));
        assert_eq!(seconds_until_available(&p, 10, t(105)), Some(6));
        assert!(!is_available(&pod("q").build(), 0, t(0)));
    }

    #[test]
    fn scale_down_removes_unscheduled_then_pending_then_not_ready_pods_first() {
        let now = t(10_000);
        let running_ready = pod("a").node("n1").running().ready_since(t(10)).build();
        let running = pod("b").node("n1").running().build();
        let pending = pod("c").node("n1").build();
        let unscheduled = pod("d").running().build();
        let all = [&running_ready, &running, &pending, &unscheduled];
        let order = pods_to_delete(&all, &all, 3, now);
        assert_eq!(crate::ownership::names(&order), ["d", "c", "b"]);
    }

    #[test]
    fn scale_down_prefers_doubled_up_nodes_and_lower_deletion_cost() {
        let now = t(10_000);
        let a = pod("a").node("n1").running().ready_since(t(10)).build();
        let b = pod("b").node("n1").running().ready_since(t(10)).build();
        let c = pod("c").node("n2").running().ready_since(t(10)).build();
        let all = [&c, &a, &b];
        let first = pods_to_delete(&all, &all, 1, now);
        assert_ne!(crate::ownership::names(&first), ["c"]);
        let cheap = pod("cheap")
            .node("n2")
            .running()
            .ready_since(t(10))
            .annotation(POD_DELETION_COST_ANNOTATION, "-5")
            .build();
        let all = [&a, &b, &cheap];
        assert_eq!(
            crate::ownership::names(&pods_to_delete(&all, &all, 1, now)),
            ["cheap"]
        );
    }

    #[test]
    fn scale_down_prefers_recently_ready_pods_across_log_buckets() {
        let now = t(100_000);
        let old = pod("old").node("n1").running().ready_since(t(10)).build();
        let young = pod("young")
            .node("n2")
            .running()
            .ready_since(t(99_990))
            .build();
        let all = [&old, &young];
        assert_eq!(
            crate::ownership::names(&pods_to_delete(&all, &all, 1, now)),
            ["young"]
        );
    }

    #[test]
    fn active_pods_order_puts_more_restarts_first() {
        let a = pod("a").node("n").running().restarts(1).build();
        let b = pod("b").node("n").running().restarts(5).build();
        let mut v = vec![&a, &b];
        sort_active_pods(&mut v);
        assert_eq!(crate::ownership::names(&v), ["b", "a"]);
    }
}
