//! Eviction subresource decision tests.

use std::collections::BTreeMap;

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};

use super::eviction::*;
use super::tests::{condition, pdb, web};
use super::INSUFFICIENT_PODS;
use crate::cached_pod::CachedPod;
use crate::testing::{pod, t};

fn with_status(
    mut p: PodDisruptionBudget,
    allowed: i32,
    current: i32,
    desired: i32,
) -> PodDisruptionBudget {
    p.status = Some(PodDisruptionBudgetStatus {
        disruptions_allowed: allowed,
        current_healthy: current,
        desired_healthy: desired,
        expected_pods: current,
        observed_generation: p.metadata.generation,
        ..Default::default()
    });
    p
}

#[test]
fn granting_an_eviction_decrements_and_records_the_pod() {
    let budget = with_status(pdb("web"), 2, 3, 1);
    let st = check_eviction(&budget, "a", t(500)).unwrap();
    assert_eq!(st.disruptions_allowed, 1);
    assert_eq!(
        st.disrupted_pods,
        Some(BTreeMap::from([("a".to_string(), Time(t(500)))]))
    );
    assert!(st.conditions.is_none(), "condition untouched while allowed");

    let budget = with_status(pdb("web"), 1, 3, 2);
    let st = check_eviction(&budget, "a", t(500)).unwrap();
    assert_eq!(st.disruptions_allowed, 0);
    assert_eq!(
        condition(&st),
        ("False".into(), INSUFFICIENT_PODS.into(), String::new())
    );
}

#[test]
fn an_exhausted_budget_denies_with_upstreams_cause() {
    let budget = with_status(pdb("web"), 0, 2, 2);
    let denied = check_eviction(&budget, "a", t(1)).unwrap_err();
    assert_eq!(
        denied,
        EvictionDenied::TooManyRequests {
            message: "Cannot evict pod as it would violate the pod's disruption budget.".into(),
            cause: "The disruption budget web needs 2 healthy pods and has 2 currently".into(),
            retry_after_seconds: 0,
        }
    );
    assert_eq!(denied.code(), 429);
}

#[test]
fn a_budget_the_controller_has_not_seen_yet_denies() {
    let mut budget = with_status(pdb("web"), 5, 5, 0);
    budget.metadata.generation = Some(2);
    let denied = check_eviction(&budget, "a", t(1)).unwrap_err();
    assert_eq!(
        denied,
        EvictionDenied::TooManyRequests {
            message: EVICTION_DENIED_MESSAGE.into(),
            cause: "The disruption budget web is still being processed by the server.".into(),
            retry_after_seconds: 10,
        }
    );
}

#[test]
fn negative_allowances_and_huge_disrupted_maps_are_forbidden() {
    let budget = with_status(pdb("web"), -1, 0, 0);
    let denied = check_eviction(&budget, "a", t(1)).unwrap_err();
    assert_eq!(denied.code(), 403);
    assert_eq!(
        denied.message(),
        "poddisruptionbudget.policy \"web\" is forbidden: pdb disruptions allowed is negative"
    );
    let mut budget = with_status(pdb("web"), 1, 1, 0);
    budget.status.as_mut().unwrap().disrupted_pods = Some(
        (0..=MAX_DISRUPTED_POD_SIZE)
            .map(|i| (format!("p{i}"), Time(t(1))))
            .collect(),
    );
    assert!(check_eviction(&budget, "a", t(1))
        .unwrap_err()
        .message()
        .ends_with(
            "DisruptedPods map too big - too many evictions not confirmed by PDB controller"
        ));
}

#[test]
fn pending_terminal_and_deleting_pods_skip_budgets() {
    let budget = with_status(pdb("web"), 0, 0, 3);
    let pdbs = [&budget];
    let pending = pod("a").label("app", "web").build();
    assert_eq!(
        decide(&pending, &pdbs, t(1)),
        Decision::Delete {
            enforce_resource_version: true
        }
    );
    let done = pod("b").label("app", "web").succeeded().build();
    assert_eq!(
        decide(&done, &pdbs, t(1)),
        Decision::Delete {
            enforce_resource_version: false
        }
    );
    let mut leaving = web("c", "rs");
    leaving.metadata.deletion_timestamp = Some(Time(t(1)));
    assert!(can_ignore_pdb(&leaving));
    let stranger = pod("d").running().ready_since(t(1)).build();
    assert_eq!(
        decide(&stranger, &pdbs, t(1)),
        Decision::Delete {
            enforce_resource_version: false
        }
    );
}

#[test]
fn a_ready_pod_consumes_the_budget() {
    let budget = with_status(pdb("web"), 1, 3, 2);
    let pdbs = [&budget];
    match decide(&web("a", "rs"), &pdbs, t(7)) {
        Decision::DecrementThenDelete { pdb, status } => {
            assert_eq!(pdb.metadata.name.as_deref(), Some("web"));
            assert_eq!(status.disruptions_allowed, 0);
        }
        other => panic!("{other:?}"),
    }
    let exhausted = with_status(pdb("web"), 0, 2, 2);
    assert!(matches!(
        decide(&web("a", "rs"), &[&exhausted], t(7)),
        Decision::Denied(EvictionDenied::TooManyRequests { .. })
    ));
    let other = with_status(pdb("other"), 1, 3, 2);
    assert_eq!(
        decide(&web("a", "rs"), &[&budget, &other], t(7)),
        Decision::MultipleBudgets
    );
}

#[test]
fn unready_pods_go_free_while_the_budget_is_healthy_or_always_allowed() {
    let unready = pod("u").label("app", "web").running().build();
    // IfHealthyBudget (default): the application is not disrupted → delete without decrement.
    let healthy = with_status(pdb("web"), 0, 2, 2);
    assert_eq!(
        decide(&unready, &[&healthy], t(1)),
        Decision::Delete {
            enforce_resource_version: true
        }
    );
    // Disrupted application: the budget decides (and has nothing left).
    let disrupted = with_status(pdb("web"), 0, 1, 2);
    assert!(matches!(
        decide(&unready, &[&disrupted], t(1)),
        Decision::Denied(_)
    ));
    // desiredHealthy 0 does not count as healthy for this rule.
    let zero = with_status(pdb("web"), 0, 0, 0);
    assert!(matches!(
        decide(&unready, &[&zero], t(1)),
        Decision::Denied(_)
    ));
    // AlwaysAllow: always free.
    let mut always = with_status(pdb("web"), 0, 1, 2);
    always.spec.as_mut().unwrap().unhealthy_pod_eviction_policy = Some(ALWAYS_ALLOW.into());
    assert_eq!(
        decide(&unready, &[&always], t(1)),
        Decision::Delete {
            enforce_resource_version: true
        }
    );
}

#[test]
fn matching_pdbs_use_the_pods_namespace_and_labels() {
    let mut everything = pdb("all");
    everything.spec.as_mut().unwrap().selector = Some(LabelSelector::default());
    let mut nothing = pdb("none");
    nothing.spec.as_mut().unwrap().selector = None;
    let mut elsewhere = pdb("far");
    elsewhere.metadata.namespace = Some("other".into());
    let web_pdb = pdb("web");
    let all = [&everything, &nothing, &elsewhere, &web_pdb];
    let names = |p: &CachedPod| {
        matching_pdbs(p, &all)
            .iter()
            .map(|b| b.metadata.name.clone().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&web("a", "rs")), ["all", "web"]);
    assert_eq!(names(&pod("b").build()), ["all"]);
}
