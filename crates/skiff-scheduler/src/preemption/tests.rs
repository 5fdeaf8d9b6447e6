use super::*;
use crate::schedule::{schedule, ScheduleResult};
use crate::testing::{node, pod};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::{PodDisruptionBudgetSpec, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::BTreeMap;

fn nominate(p: &Pod, snap: &Snapshot) -> (Option<Nomination>, String) {
    match schedule(p, snap, &Profile::default(), &mut StdRng::seed_from_u64(9)) {
        ScheduleResult::Unschedulable(e) => (e.nomination.clone(), e.message()),
        other => panic!("expected Unschedulable, got {other:?}"),
    }
}

fn names(pods: &[Pod]) -> Vec<String> {
    pods.iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect()
}

fn pdb(name: &str, app: &str, allowed: i32) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            ..Default::default()
        },
        spec: Some(PodDisruptionBudgetSpec {
            selector: Some(LabelSelector {
                match_labels: Some(crate::labels::labels([("app", app)])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        status: Some(PodDisruptionBudgetStatus {
            disruptions_allowed: allowed,
            ..Default::default()
        }),
    }
}

#[test]
fn evicts_only_the_lowest_priority_pods_needed() {
    let nodes = [node("n").cpu("3").build()];
    let pods = [
        pod("p1").cpu("1").priority(1).node("n").build(),
        pod("p5").cpu("1").priority(5).node("n").build(),
        pod("p10").cpu("1").priority(10).node("n").build(),
    ];
    let (nom, _) = nominate(
        &pod("hi").cpu("1").priority(20).build(),
        &Snapshot::new(&nodes, &pods),
    );
    let nom = nom.expect("nomination");
    assert_eq!(nom.node, "n");
    assert_eq!(names(&nom.victims), vec!["p1"]);

    let (nom, _) = nominate(
        &pod("hi").cpu("2").priority(20).build(),
        &Snapshot::new(&nodes, &pods),
    );
    assert_eq!(names(&nom.expect("nomination").victims), vec!["p5", "p1"]);
}

#[test]
fn never_evicts_equal_or_higher_priority_pods() {
    let nodes = [node("n").cpu("2").build()];
    let pods = [
        pod("same").cpu("1").priority(20).node("n").build(),
        pod("low").cpu("1").priority(1).node("n").build(),
    ];
    let (nom, msg) = nominate(
        &pod("hi").cpu("2").priority(20).build(),
        &Snapshot::new(&nodes, &pods),
    );
    assert_eq!(nom, None);
    assert_eq!(
        msg,
        "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 Insufficient cpu."
    );
}

#[test]
fn prefers_the_node_whose_most_important_victim_is_least_important() {
    let nodes = [node("a").cpu("1").build(), node("b").cpu("1").build()];
    let pods = [
        pod("mid").cpu("1").priority(5).node("a").build(),
        pod("low").cpu("1").priority(1).node("b").build(),
    ];
    let (nom, _) = nominate(
        &pod("hi").cpu("1").priority(10).build(),
        &Snapshot::new(&nodes, &pods),
    );
    let nom = nom.expect("nomination");
    assert_eq!(
        (nom.node.as_str(), names(&nom.victims)),
        ("b", vec!["low".to_string()])
    );
}

#[test]
fn avoids_pdb_violations_when_another_node_works() {
    let nodes = [node("a").cpu("1").build(), node("b").cpu("1").build()];
    let pods = [
        pod("db")
            .label("app", "db")
            .cpu("1")
            .priority(1)
            .node("a")
            .build(),
        pod("web")
            .label("app", "web")
            .cpu("1")
            .priority(1)
            .node("b")
            .build(),
    ];
    let snap = Snapshot::new(&nodes, &pods).with_pdbs(vec![pdb("db", "db", 0)]);
    for seed in 0..8 {
        let r = schedule(
            &pod("hi").cpu("1").priority(10).build(),
            &snap,
            &Profile::default(),
            &mut StdRng::seed_from_u64(seed),
        );
        let ScheduleResult::Unschedulable(e) = r else {
            panic!("expected Unschedulable");
        };
        assert_eq!(
            e.nomination.map(|n| n.node),
            Some("b".to_string()),
            "seed {seed}"
        );
    }
    // With only protected pods left, preemption still proceeds and counts the violation.
    let only = Snapshot::new(&nodes[..1], &pods[..1]).with_pdbs(vec![pdb("db", "db", 0)]);
    let (nom, _) = nominate(&pod("hi").cpu("1").priority(10).build(), &only);
    assert_eq!(names(&nom.expect("nomination").victims), vec!["db"]);
}

#[test]
fn fewer_victims_win_when_priorities_tie() {
    let nodes = [node("a").cpu("2").build(), node("b").cpu("2").build()];
    let pods = [
        pod("a1").cpu("1").priority(1).node("a").build(),
        pod("a2").cpu("1").priority(1).node("a").build(),
        pod("b1").cpu("2").priority(1).node("b").build(),
    ];
    let (nom, _) = nominate(
        &pod("hi").cpu("2").priority(10).build(),
        &Snapshot::new(&nodes, &pods),
    );
    let nom = nom.expect("nomination");
    assert_eq!(
        (nom.node.as_str(), names(&nom.victims)),
        ("b", vec!["b1".to_string()])
    );
}

#[test]
fn preemption_can_resolve_anti_affinity() {
    let nodes = [node("n").cpu("4").build()];
    let pods = [pod("old").label("app", "web").priority(0).node("n").build()];
    let p = pod("new")
        .priority(100)
        .anti_affinity(&[("app", "web")], "kubernetes.io/hostname")
        .build();
    let (nom, msg) = nominate(&p, &Snapshot::new(&nodes, &pods));
    assert_eq!(
        msg,
        "0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules."
    );
    assert_eq!(names(&nom.expect("nomination").victims), vec!["old"]);
}

#[test]
fn lower_priority_nominations_on_the_chosen_node_are_cleared() {
    let nodes = [node("n").cpu("1").build()];
    let pods = [
        pod("low").cpu("1").priority(1).node("n").build(),
        pod("waiting").cpu("1").priority(2).nominated("n").build(),
    ];
    let (nom, _) = nominate(
        &pod("hi").cpu("1").priority(10).build(),
        &Snapshot::new(&nodes, &pods),
    );
    assert_eq!(
        names(&nom.expect("nomination").clear_nominations),
        vec!["waiting"]
    );
}

#[test]
fn waits_while_its_earlier_victims_terminate() {
    let nodes = [node("n").cpu("1").build()];
    let mut victim = pod("low")
        .cpu("1")
        .priority(1)
        .node("n")
        .terminating()
        .build();
    victim
        .status
        .get_or_insert_with(Default::default)
        .conditions = Some(vec![k8s_openapi::api::core::v1::PodCondition {
        type_: "DisruptionTarget".into(),
        status: "True".into(),
        reason: Some("PreemptionByScheduler".into()),
        ..Default::default()
    }]);
    let p = pod("hi").cpu("1").priority(10).nominated("n").build();
    let (nom, msg) = nominate(&p, &Snapshot::new(&nodes, &[victim]));
    assert_eq!(nom, None);
    assert_eq!(
        msg,
        "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to a terminating pod on the nominated node."
    );
}

fn infos(pods: &[Pod]) -> Vec<Arc<PodInfo>> {
    pods.iter()
        .map(|p| Arc::new(PodInfo::new(p.clone())))
        .collect()
}

#[test]
fn pdb_split_counts_down_the_budget_and_skips_disrupted_pods() {
    let pods = infos(&[
        pod("a").label("app", "db").build(),
        pod("b").label("app", "db").build(),
        pod("c").label("app", "db").build(),
        pod("other").label("app", "web").build(),
        pod("nolabels").build(),
    ]);
    let mut budget = pdb("db", "db", 1);
    if let Some(s) = budget.status.as_mut() {
        s.disrupted_pods = Some(BTreeMap::from([(
            "c".to_string(),
            Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
        )]));
    }
    let (violating, ok) = split_by_pdb_violation(&pods, &[budget]);
    let n = |v: &[Arc<PodInfo>]| v.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
    assert_eq!(n(&violating), vec!["b"]);
    assert_eq!(n(&ok), vec!["a", "c", "other", "nolabels"]);
}

#[test]
fn node_choice_follows_upstreams_criteria_in_order() {
    let pi = |name: &str, prio: i32, start: i64| {
        Arc::new(PodInfo::new(
            pod(name).priority(prio).start_time(start).build(),
        ))
    };
    let cand = |node: &str, victims: Vec<Arc<PodInfo>>, pdb: usize| Candidate {
        node: node.into(),
        victims,
        num_pdb_violations: pdb,
    };
    // 1. fewest PDB violations
    let c = [
        cand("x", vec![pi("a", 1, 0)], 1),
        cand("y", vec![pi("b", 9, 0)], 0),
    ];
    assert_eq!(pick_one(&c), 1);
    // 2. lowest highest priority
    let c = [
        cand("x", vec![pi("a", 5, 0)], 0),
        cand("y", vec![pi("b", 3, 0), pi("c", 3, 0)], 0),
    ];
    assert_eq!(pick_one(&c), 1);
    // 3. smallest priority sum
    let c = [
        cand("x", vec![pi("a", 3, 0), pi("b", 3, 0)], 0),
        cand("y", vec![pi("c", 3, 0), pi("d", 1, 0)], 0),
    ];
    assert_eq!(pick_one(&c), 1);
    // 5. latest start of the top-priority victims
    let c = [
        cand("x", vec![pi("a", 3, 100)], 0),
        cand("y", vec![pi("b", 3, 200)], 0),
    ];
    assert_eq!(pick_one(&c), 1);
    // 6. otherwise the first
    let c = [
        cand("x", vec![pi("a", 3, 100)], 0),
        cand("y", vec![pi("b", 3, 100)], 0),
    ];
    assert_eq!(pick_one(&c), 0);
    assert_eq!(num_candidates(50), 50);
    assert_eq!(num_candidates(5000), 500);
    assert_eq!(num_candidates(500), 100);
}
