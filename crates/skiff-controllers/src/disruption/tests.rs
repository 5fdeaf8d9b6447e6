//! Disruption planner tests.

use std::collections::BTreeMap;

use k8s_openapi::api::policy::v1::PodDisruptionBudgetSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta, Time,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::*;
use crate::testing::*;

pub(super) fn pdb(name: &str) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            generation: Some(1),
            ..Default::default()
        },
        spec: Some(PodDisruptionBudgetSpec {
            selector: Some(LabelSelector {
                match_labels: Some(labels(&[("app", "web")])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        status: None,
    }
}

fn min_available(mut p: PodDisruptionBudget, v: IntOrString) -> PodDisruptionBudget {
    p.spec.get_or_insert_with(Default::default).min_available = Some(v);
    p
}

fn max_unavailable(mut p: PodDisruptionBudget, v: IntOrString) -> PodDisruptionBudget {
    p.spec.get_or_insert_with(Default::default).max_unavailable = Some(v);
    p
}

fn pct(s: &str) -> IntOrString {
    IntOrString::String(s.into())
}

/// A ready pod of `app=web` controlled by the ReplicaSet with uid `rs`.
pub(super) fn web(name: &str, rs: &str) -> CachedPod {
    pod(name)
        .label("app", "web")
        .owner("ReplicaSet", rs, rs)
        .ready_since(t(10))
        .build()
}

fn scales(entries: &[(&str, &str, i32)]) -> BTreeMap<String, ControllerScale> {
    entries
        .iter()
        .map(|(pod_owner, uid, replicas)| {
            (
                pod_owner.to_string(),
                ControllerScale {
                    uid: uid.to_string(),
                    replicas: *replicas,
                },
            )
        })
        .collect()
}

fn run(
    pdb: &PodDisruptionBudget,
    pods: &[CachedPod],
    controllers: BTreeMap<String, ControllerScale>,
    now: Timestamp,
) -> Vec<Step> {
    plan(&Observed {
        pdb,
        pods: pods.iter().collect(),
        controllers,
        now,
    })
}

fn status_of(steps: &[Step]) -> Option<PodDisruptionBudgetStatus> {
    steps.iter().find_map(|s| match s {
        Step::Status(st) => Some((**st).clone()),
        _ => None,
    })
}

fn events(steps: &[Step]) -> Vec<(String, String)> {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::Event(e) => Some((e.reason.clone(), e.message.clone())),
            _ => None,
        })
        .collect()
}

pub(super) fn condition(st: &PodDisruptionBudgetStatus) -> (String, String, String) {
    let c = st
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == DISRUPTION_ALLOWED)
        .expect("condition");
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

#[test]
fn integer_min_available_counts_selected_ready_pods() {
    let budget = min_available(pdb("web"), IntOrString::Int(2));
    let not_ready = pod("c").label("app", "web").running().build();
    let other = pod("x").label("app", "db").ready_since(t(10)).build();
    let pods = [
        web("a", "rs"),
        web("b", "rs"),
        web("d", "rs"),
        not_ready,
        other,
    ];
    let st = status_of(&run(&budget, &pods, BTreeMap::new(), t(100))).unwrap();
    assert_eq!(
        (st.current_healthy, st.desired_healthy, st.expected_pods),
        (3, 2, 4)
    );
    assert_eq!(st.disruptions_allowed, 1);
    assert_eq!(st.observed_generation, Some(1));
    assert_eq!(st.disrupted_pods, None);
    assert_eq!(
        condition(&st),
        ("True".into(), SUFFICIENT_PODS.into(), String::new())
    );
}

#[test]
fn an_up_to_date_status_is_not_written_again() {
    let mut budget = min_available(pdb("web"), IntOrString::Int(1));
    let pods = [web("a", "rs"), web("b", "rs")];
    let st = status_of(&run(&budget, &pods, BTreeMap::new(), t(100))).unwrap();
    budget.status = Some(st);
    let steps = run(&budget, &pods, BTreeMap::new(), t(200));
    assert!(status_of(&steps).is_none(), "{steps:?}");
    // A new generation is observed even when the numbers stay.
    budget.metadata.generation = Some(2);
    let st = status_of(&run(&budget, &pods, BTreeMap::new(), t(300))).unwrap();
    assert_eq!(st.observed_generation, Some(2));
}

#[test]
fn percentage_min_available_is_measured_against_the_controller_scale_rounding_up() {
    let budget = min_available(pdb("web"), pct("50%"));
    // Only two pods exist, but their Deployment wants 5: 50% of 5 rounds up to 3.
    let pods = [web("a", "rs1"), web("b", "rs2")];
    let controllers = scales(&[("rs1", "deploy", 5), ("rs2", "deploy", 5)]);
    let st = status_of(&run(&budget, &pods, controllers, t(100))).unwrap();
    assert_eq!(
        (st.expected_pods, st.desired_healthy, st.current_healthy),
        (5, 3, 2)
    );
    assert_eq!(st.disruptions_allowed, 0);
    assert_eq!(
        condition(&st),
        ("False".into(), INSUFFICIENT_PODS.into(), String::new())
    );
}

#[test]
fn max_unavailable_subtracts_from_the_summed_scale_of_distinct_controllers() {
    let budget = max_unavailable(pdb("web"), pct("30%"));
    let pods = [web("a", "rs"), web("b", "rs"), web("c", "sts")];
    let controllers = scales(&[("rs", "rs", 6), ("sts", "sts", 4)]);
    let st = status_of(&run(&budget, &pods, controllers, t(100))).unwrap();
    // 30% of 10 = 3 → 7 must stay healthy; only 3 are.
    assert_eq!((st.expected_pods, st.desired_healthy), (10, 7));
    assert_eq!(st.disruptions_allowed, 0);

    let budget = max_unavailable(pdb("web"), IntOrString::Int(1));
    let controllers = scales(&[("rs", "rs", 2), ("sts", "sts", 1)]);
    let st = status_of(&run(&budget, &pods, controllers, t(100))).unwrap();
    assert_eq!(
        (st.expected_pods, st.desired_healthy, st.disruptions_allowed),
        (3, 2, 1)
    );
}

#[test]
fn a_pod_whose_controller_cannot_be_resolved_fails_safe() {
    let mut budget = max_unavailable(pdb("web"), IntOrString::Int(1));
    budget.status = Some(PodDisruptionBudgetStatus {
        disruptions_allowed: 2,
        current_healthy: 3,
        observed_generation: Some(1),
        ..Default::default()
    });
    let pods = [web("a", "rs"), web("b", "gone")];
    let steps = run(&budget, &pods, scales(&[("rs", "rs", 3)]), t(100));
    let err = "found no controllers for pod \"b\"";
    assert_eq!(
        events(&steps),
        [(
            "CalculateExpectedPodCountFailed".to_string(),
            format!("Failed to calculate the number of expected pods: {err}")
        )]
    );
    let st = status_of(&steps).unwrap();
    assert_eq!(st.disruptions_allowed, 0);
    assert_eq!(st.current_healthy, 3, "the rest of the status is kept");
    assert_eq!(
        condition(&st),
        ("False".into(), SYNC_FAILED.into(), err.to_string())
    );
    assert_eq!(steps.last(), Some(&Step::Failed(err.into())));
}

#[test]
fn a_malformed_percentage_fails_safe_with_upstreams_error() {
    let budget = min_available(pdb("web"), pct("half"));
    let steps = run(&budget, &[web("a", "rs")], scales(&[("rs", "rs", 1)]), t(1));
    let st = status_of(&steps).unwrap();
    assert_eq!(
        condition(&st).2,
        "invalid value for IntOrString: invalid type: string is not a percentage"
    );
    let budget = min_available(pdb("web"), pct("x%"));
    let steps = run(&budget, &[web("a", "rs")], scales(&[("rs", "rs", 1)]), t(1));
    assert!(matches!(steps.last(), Some(Step::Failed(m)) if m.contains("invalid value \"x%\"")));
}

#[test]
fn unmanaged_pods_are_reported_but_do_not_fail_the_sync() {
    let budget = max_unavailable(pdb("web"), IntOrString::Int(1));
    let orphan = pod("o").label("app", "web").ready_since(t(1)).build();
    let pods = [web("a", "rs"), orphan];
    let steps = run(&budget, &pods, scales(&[("rs", "rs", 1)]), t(100));
    let ev = events(&steps);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].0, "UnmanagedPods");
    assert!(ev[0].1.starts_with(
        "Pods selected by this PodDisruptionBudget (selector: &LabelSelector{MatchLabels:map[string]string{app: web,},MatchExpressions:[]LabelSelectorRequirement{},}) were found to be unmanaged."
    ));
    let st = status_of(&steps).unwrap();
    assert_eq!((st.expected_pods, st.current_healthy), (1, 2));
    assert!(!steps.iter().any(|s| matches!(s, Step::Failed(_))));
}

#[test]
fn no_matching_pods_is_an_event_and_no_disruption() {
    let budget = min_available(pdb("web"), IntOrString::Int(0));
    let steps = run(&budget, &[], BTreeMap::new(), t(1));
    assert_eq!(
        events(&steps),
        [("NoPods".to_string(), "No matching pods found".to_string())]
    );
    let st = status_of(&steps).unwrap();
    assert_eq!((st.expected_pods, st.disruptions_allowed), (0, 0));
}

#[test]
fn pods_being_deleted_are_not_healthy() {
    let budget = min_available(pdb("web"), IntOrString::Int(1));
    let mut leaving = web("b", "rs");
    leaving.metadata.deletion_timestamp = Some(Time(t(50)));
    let st = status_of(&run(
        &budget,
        &[web("a", "rs"), leaving],
        BTreeMap::new(),
        t(100),
    ))
    .unwrap();
    assert_eq!((st.current_healthy, st.expected_pods), (1, 2));
    assert_eq!(st.disruptions_allowed, 0);
}

#[test]
fn recent_evictions_are_not_healthy_until_they_expire() {
    let mut budget = min_available(pdb("web"), IntOrString::Int(1));
    let mut deleted = web("d", "rs");
    deleted.metadata.deletion_timestamp = Some(Time(t(90)));
    budget.status = Some(PodDisruptionBudgetStatus {
        disrupted_pods: Some(BTreeMap::from([
            ("a".to_string(), Time(t(60))),  // young: kept, a not healthy
            ("b".to_string(), Time(t(-30))), // 130 s old: expired, dropped with an event
            ("d".to_string(), Time(t(80))),  // already being deleted: dropped
            ("z".to_string(), Time(t(90))),  // no such pod: dropped
        ])),
        ..Default::default()
    });
    let pods = [web("a", "rs"), web("b", "rs"), web("c", "rs"), deleted];
    let steps = run(&budget, &pods, BTreeMap::new(), t(100));
    let st = status_of(&steps).unwrap();
    assert_eq!(
        st.disrupted_pods,
        Some(BTreeMap::from([("a".to_string(), Time(t(60)))]))
    );
    assert_eq!(st.current_healthy, 2, "b and c");
    assert!(steps.contains(&Step::PodEvent {
        pod: "b".into(),
        event: Event::warning(
            "NotDeleted",
            "Pod was expected by PDB default/default to be deleted but it wasn't"
        ),
    }));
    // a's entry expires at 60 + 120 = 180.
    assert_eq!(
        steps.last(),
        Some(&Step::RequeueAfter(Duration::from_secs(80)))
    );
}

#[test]
fn the_condition_transition_time_moves_only_when_its_status_flips() {
    let mut budget = min_available(pdb("web"), IntOrString::Int(1));
    let pods = [web("a", "rs"), web("b", "rs")];
    budget.status = status_of(&run(&budget, &pods, BTreeMap::new(), t(100)));
    let since = |b: &PodDisruptionBudget| {
        b.status.as_ref().unwrap().conditions.as_ref().unwrap()[0]
            .last_transition_time
            .clone()
    };
    assert_eq!(since(&budget), Time(t(100)));
    // A third pod: still allowed, condition unchanged.
    let more = [web("a", "rs"), web("b", "rs"), web("c", "rs")];
    budget.status = status_of(&run(&budget, &more, BTreeMap::new(), t(200)));
    assert_eq!(since(&budget), Time(t(100)));
    // Down to one: not allowed any more, the transition is now.
    budget.status = status_of(&run(&budget, &pods[..1], BTreeMap::new(), t(300)));
    assert_eq!(since(&budget), Time(t(300)));
}

#[test]
fn selectors_follow_policy_v1() {
    let mut everything = min_available(pdb("all"), IntOrString::Int(0));
    everything.spec.as_mut().unwrap().selector = Some(LabelSelector::default());
    let mut nothing = min_available(pdb("none"), IntOrString::Int(0));
    nothing.spec.as_mut().unwrap().selector = None;
    let mut elsewhere = web("far", "rs");
    elsewhere.metadata.namespace = Some("other".into());
    let pods = [web("a", "rs"), pod("b").build(), elsewhere];
    let count = |b: &PodDisruptionBudget| {
        status_of(&run(b, &pods, BTreeMap::new(), t(1)))
            .unwrap()
            .expected_pods
    };
    assert_eq!(count(&everything), 2);
    assert_eq!(count(&nothing), 0);
    assert_eq!(count(&min_available(pdb("web"), IntOrString::Int(0))), 1);
}

#[test]
fn an_invalid_selector_fails_safe() {
    let mut budget = pdb("web");
    budget.spec.as_mut().unwrap().selector = Some(LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: "app".into(),
            operator: "Near".into(),
            values: None,
        }]),
        ..Default::default()
    });
    let steps = run(&budget, &[web("a", "rs")], BTreeMap::new(), t(1));
    assert_eq!(events(&steps)[0].0, "NoPods");
    assert!(events(&steps)[0]
        .1
        .contains("\"Near\" is not a valid label selector operator"));
    assert!(matches!(steps.last(), Some(Step::Failed(_))));
}

#[test]
fn go_selector_string_prints_expressions() {
    let sel = LabelSelector {
        match_labels: Some(labels(&[("b", "2"), ("a", "1")])),
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: "tier".into(),
            operator: "In".into(),
            values: Some(vec!["x".into(), "y".into()]),
        }]),
    };
    assert_eq!(
        status::go_selector_string(Some(&sel)),
        "&LabelSelector{MatchLabels:map[string]string{a: 1,b: 2,},MatchExpressions:[]LabelSelectorRequirement{LabelSelectorRequirement{Key:tier,Operator:In,Values:[x y],},},}"
    );
    assert_eq!(status::go_selector_string(None), "nil");
}
