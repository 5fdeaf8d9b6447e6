//! Taint eviction, toleration matching and DefaultTolerationSeconds tests.

use k8s_openapi::api::core::v1::Toleration;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::taint_eviction::*;
use super::taints::*;
use super::tests::{lease, node, pod_on, run, seen, with_taints};
use super::*;
use crate::testing::t;

fn deleted(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::DeletePod { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

fn requeue(steps: &[Step]) -> Option<Duration> {
    steps.iter().find_map(|s| match s {
        Step::RequeueAfter(d) => Some(*d),
        _ => None,
    })
}

/// A node kept alive by its lease at `now`, carrying `taints`.
fn tainted(taints: &[(&str, &str, Option<Timestamp>)], now: Timestamp) -> (Node, Lease, State) {
    let n = with_taints(node("n1", "True", t(0)), taints);
    let state = seen(&[&n], t(0));
    (n, lease("n1", now), state)
}

#[test]
fn a_pod_that_does_not_tolerate_a_no_execute_taint_is_deleted_now() {
    let (n, l, state) = tainted(&[("dedicated", NO_EXECUTE, Some(t(100)))], t(100));
    let p = pod_on("p", "n1", &[]);
    let out = run(&[&n], &[&l], &[&p], state, t(100));
    assert_eq!(
        out.steps[..2],
        [
            Step::PodEvent {
                pod: PodRef {
                    namespace: "default".into(),
                    name: "p".into(),
                    uid: "uid-p".into()
                },
                event: Event::normal("TaintManagerEviction", "Marking for deletion Pod default/p"),
            },
            Step::DeletePod {
                namespace: "default".into(),
                name: "p".into(),
                uid: "uid-p".into()
            },
        ]
    );
}

#[test]
fn toleration_seconds_count_from_the_taint() {
    let (n, l, state) = tainted(&[("dedicated", NO_EXECUTE, Some(t(100)))], t(130));
    let p = pod_on("p", "n1", &[("dedicated", NO_EXECUTE, Some(60))]);
    let out = run(&[&n], &[&l], &[&p], state.clone(), t(130));
    assert!(deleted(&out.steps).is_empty());
    assert_eq!(requeue(&out.steps), Some(Duration::from_secs(30)));
    assert_eq!(out.state.nodes["n1"].no_execute_since, Some(t(100)));
    let out = run(&[&n], &[&lease("n1", t(160))], &[&p], out.state, t(160));
    assert_eq!(deleted(&out.steps), ["p"]);
}

#[test]
fn a_pod_tolerating_without_seconds_stays_forever() {
    let (n, l, state) = tainted(&[("dedicated", NO_EXECUTE, Some(t(0)))], t(99_999));
    let p = pod_on("p", "n1", &[("dedicated", "", None)]);
    let out = run(&[&n], &[&l], &[&p], state, t(99_999));
    assert!(deleted(&out.steps).is_empty());
    // Only the node's own grace period asks for another look.
    assert_eq!(
        requeue(&out.steps),
        Some(Duration::from_secs(50) + Duration::from_nanos(1))
    );
}

#[test]
fn the_shortest_toleration_in_use_wins() {
    let (n, l, state) = tainted(
        &[
            ("a", NO_EXECUTE, Some(t(100))),
            ("b", NO_EXECUTE, Some(t(100))),
            ("c", NO_SCHEDULE, None),
        ],
        t(100),
    );
    // a forever, b for 20 s: due at 120. The NoSchedule taint plays no part.
    let p = pod_on(
        "p",
        "n1",
        &[("a", NO_EXECUTE, None), ("b", NO_EXECUTE, Some(20))],
    );
    let out = run(&[&n], &[&l], &[&p], state, t(100));
    assert_eq!(requeue(&out.steps), Some(Duration::from_secs(20)));
}

#[test]
fn the_countdown_starts_when_the_pod_arrived_if_it_came_after_the_taint() {
    let (n, l, state) = tainted(&[("dedicated", NO_EXECUTE, Some(t(100)))], t(300));
    let mut p = pod_on("late", "n1", &[("dedicated", NO_EXECUTE, Some(60))]);
    p.metadata.creation_timestamp = Some(Time(t(280)));
    let out = run(&[&n], &[&l], &[&p], state, t(300));
    assert!(deleted(&out.steps).is_empty());
    assert_eq!(requeue(&out.steps), Some(Duration::from_secs(40)));
}

#[test]
fn a_taint_without_time_added_counts_from_when_the_controller_first_saw_it() {
    let (n, l, state) = tainted(&[("dedicated", NO_EXECUTE, None)], t(100));
    let p = pod_on("p", "n1", &[("dedicated", NO_EXECUTE, Some(60))]);
    let out = run(&[&n], &[&l], &[&p], state, t(100));
    assert_eq!(out.state.nodes["n1"].no_execute_since, Some(t(100)));
    let out = run(&[&n], &[&lease("n1", t(150))], &[&p], out.state, t(150));
    assert_eq!(out.state.nodes["n1"].no_execute_since, Some(t(100)));
    assert!(deleted(&out.steps).is_empty());
    let out = run(&[&n], &[&lease("n1", t(161))], &[&p], out.state, t(161));
    assert_eq!(deleted(&out.steps), ["p"]);
}

#[test]
fn swapping_not_ready_for_unreachable_keeps_the_countdown() {
    let n = with_taints(
        node("n1", "True", t(0)),
        &[(TAINT_NOT_READY, NO_EXECUTE, Some(t(100)))],
    );
    let mut n = n;
    for c in n.status.as_mut().unwrap().conditions.as_mut().unwrap() {
        if c.type_ == "Ready" {
            c.status = "False".into();
        }
    }
    let p = pod_on("p", "n1", &[("", NO_EXECUTE, Some(300))]);
    let h = node("h", "True", t(0));
    let state = seen(&[&n, &h], t(0));
    let out = run(
        &[&n, &h],
        &[&lease("n1", t(150)), &lease("h", t(150))],
        &[&p],
        state,
        t(150),
    );
    assert_eq!(out.state.nodes["n1"].no_execute_since, Some(t(100)));
    // The kubelet goes quiet; the controller sets Ready Unknown and swaps in unreachable
    // (timeAdded 300).
    let mut swapped = with_taints(n.clone(), &[(TAINT_UNREACHABLE, NO_EXECUTE, Some(t(300)))]);
    for c in swapped
        .status
        .as_mut()
        .unwrap()
        .conditions
        .as_mut()
        .unwrap()
    {
        if c.type_ == "Ready" {
            c.status = "Unknown".into();
        }
    }
    let out = run(
        &[&swapped, &h],
        &[&lease("n1", t(300)), &lease("h", t(300))],
        &[&p],
        out.state,
        t(300),
    );
    assert_eq!(out.state.nodes["n1"].no_execute_since, Some(t(100)));
    assert!(deleted(&out.steps).is_empty());
    let out = run(
        &[&swapped, &h],
        &[&lease("n1", t(400)), &lease("h", t(400))],
        &[&p],
        out.state,
        t(400),
    );
    assert_eq!(deleted(&out.steps), ["p"], "due at 100 + 300");
}

#[test]
fn taints_this_sync_lifts_evict_nobody() {
    // Ready again: the unreachable NoExecute taint is being removed, so nobody is deleted.
    let (n, l, state) = tainted(&[(TAINT_UNREACHABLE, NO_EXECUTE, Some(t(0)))], t(500));
    let p = pod_on("p", "n1", &[]);
    let out = run(&[&n], &[&l], &[&p], state, t(500));
    assert!(deleted(&out.steps).is_empty());
    assert!(matches!(out.steps.first(), Some(Step::SetTaints { taints, .. }) if taints.is_empty()));
    assert_eq!(out.state.nodes["n1"].no_execute_since, None);
}

#[test]
fn pods_already_being_deleted_are_left_alone() {
    let (n, l, state) = tainted(&[("dedicated", NO_EXECUTE, Some(t(100)))], t(100));
    let mut p = pod_on("p", "n1", &[]);
    p.metadata.deletion_timestamp = Some(Time(t(99)));
    let out = run(&[&n], &[&l], &[&p], state, t(100));
    assert!(deleted(&out.steps).is_empty());
}

fn tol(
    key: Option<&str>,
    op: &str,
    value: Option<&str>,
    effect: Option<&str>,
    secs: Option<i64>,
) -> Toleration {
    Toleration {
        key: key.map(String::from),
        operator: Some(op.into()),
        value: value.map(String::from),
        effect: effect.map(String::from),
        toleration_seconds: secs,
    }
}

fn taint(key: &str, value: Option<&str>, effect: &str) -> Taint {
    Taint {
        key: key.into(),
        value: value.map(String::from),
        effect: effect.into(),
        time_added: None,
    }
}

#[test]
fn toleration_matching_follows_upstream() {
    let gpu = taint("gpu", Some("a100"), NO_EXECUTE);
    let cases = [
        (tol(None, "Exists", None, None, None), true),
        (
            tol(Some("gpu"), "Exists", None, Some(NO_EXECUTE), None),
            true,
        ),
        (tol(Some("gpu"), "Equal", Some("a100"), None, None), true),
        (tol(Some("gpu"), "Equal", Some("h100"), None, None), false),
        (
            tol(Some("gpu"), "Exists", None, Some(NO_SCHEDULE), None),
            false,
        ),
        (tol(Some("cpu"), "Exists", None, None, None), false),
    ];
    for (t, want) in cases {
        assert_eq!(
            matching_tolerations(std::slice::from_ref(&gpu), std::slice::from_ref(&t)).is_some(),
            want,
            "{t:?}"
        );
    }
    // The first toleration that matches is the one in use.
    let tols = [
        tol(Some("gpu"), "Exists", None, None, Some(10)),
        tol(None, "Exists", None, None, None),
    ];
    let used = matching_tolerations(&[gpu], &tols).unwrap();
    assert_eq!(min_toleration_seconds(&used), Some(10));
}

#[test]
fn non_positive_toleration_seconds_mean_now() {
    let zero = tol(None, "Exists", None, None, Some(0));
    let neg = tol(None, "Exists", None, None, Some(-5));
    let forever = tol(None, "Exists", None, None, None);
    assert_eq!(min_toleration_seconds(&[&forever, &zero]), Some(0));
    assert_eq!(min_toleration_seconds(&[&neg]), Some(0));
    assert_eq!(min_toleration_seconds(&[&forever]), None);
}

#[test]
fn not_ready_condition_flips_only_a_ready_condition() {
    let p = pod_on("p", "n1", &[]);
    let ready = not_ready_condition(&p, t(77)).unwrap();
    assert_eq!(
        (ready.type_.as_str(), ready.status.as_str()),
        ("Ready", "False")
    );
    assert_eq!(ready.last_transition_time, Some(Time(t(77))));
    let pending = crate::testing::pod("q").build();
    assert!(not_ready_condition(&pending, t(77)).is_none());
}

#[test]
fn disruption_target_condition_matches_upstream() {
    let c = disruption_target_condition(t(5));
    assert_eq!(c.type_, "DisruptionTarget");
    assert_eq!(c.reason.as_deref(), Some("DeletionByTaintManager"));
    assert_eq!(
        c.message.as_deref(),
        Some("Taint manager: deleting due to NoExecute taint")
    );
}
