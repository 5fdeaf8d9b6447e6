use super::*;
use crate::testing::{node, pod};
use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm};
use rand::rngs::StdRng;
use rand::SeedableRng;

mod prop;

const HOST: &str = "kubernetes.io/hostname";

fn run(p: &Pod, snap: &Snapshot) -> ScheduleResult {
    schedule(p, snap, &Profile::default(), &mut StdRng::seed_from_u64(1))
}

fn unschedulable(r: ScheduleResult) -> FitError {
    match r {
        ScheduleResult::Unschedulable(e) => e,
        other => panic!("expected Unschedulable, got {other:?}"),
    }
}

fn scheduled(r: ScheduleResult) -> Placement {
    match r {
        ScheduleResult::Scheduled(p) => p,
        other => panic!("expected Scheduled, got {other:?}"),
    }
}

#[test]
fn failure_message_counts_reasons_like_upstream() {
    let nodes = [
        node("cp")
            .cpu("4")
            .taint("node-role.kubernetes.io/control-plane", "", "NoSchedule")
            .build(),
        node("w1").cpu("4").build(),
        node("w2").cpu("4").build(),
    ];
    let pods = [
        pod("a").cpu("3500m").node("w1").build(),
        pod("b").cpu("3500m").node("w2").build(),
    ];
    let err = unschedulable(run(
        &pod("p").cpu("1").build(),
        &Snapshot::new(&nodes, &pods),
    ));
    assert_eq!(
        err.message(),
        "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, \
         2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, \
         2 No preemption victims found for incoming pod."
    );
    assert!(err.preemption_may_help());
    assert_eq!(
        err.unschedulable_plugins,
        BTreeSet::from(["NodeResourcesFit", "TaintToleration"])
    );
    assert_eq!(err.nomination, None);
}

#[test]
fn anti_affinity_on_hostname_spreads_replicas_one_per_node() {
    let nodes: Vec<_> = (0..10)
        .map(|i| node(&format!("n{i}")).cpu("4").build())
        .collect();
    let mut snap = Snapshot::new(&nodes, &[]);
    let replica = |i: usize| {
        pod(&format!("web-{i}"))
            .label("app", "web")
            .cpu("100m")
            .anti_affinity(&[("app", "web")], HOST)
            .build()
    };
    let mut used = BTreeSet::new();
    let mut rng = StdRng::seed_from_u64(42);
    for i in 0..10 {
        let p = replica(i);
        let placed = scheduled(schedule(&p, &snap, &Profile::default(), &mut rng));
        assert!(used.insert(placed.node.clone()), "{} reused", placed.node);
        assert!(snap.assume(&p, &placed.node));
    }
    assert_eq!(used.len(), 10);
    let err = unschedulable(schedule(&replica(10), &snap, &Profile::default(), &mut rng));
    assert_eq!(
        err.message(),
        "0/10 nodes are available: 10 node(s) didn't match pod anti-affinity rules. \
         preemption: 0/10 nodes are available: 10 No preemption victims found for incoming pod."
    );
}

#[test]
fn gated_pods_are_not_scheduled() {
    let snap = Snapshot::new(&[node("n").cpu("1").build()], &[]);
    assert_eq!(
        run(&pod("p").gate("wait").build(), &snap),
        ScheduleResult::Gated {
            gates: vec!["wait".into()],
            message: "waiting for scheduling gates: [wait]".into()
        }
    );
}

#[test]
fn no_nodes_is_upstreams_no_nodes_available() {
    let err = unschedulable(run(&pod("p").build(), &Snapshot::new(&[], &[])));
    assert_eq!(err.message(), "no nodes available to schedule pods");
}

#[test]
fn picks_the_least_allocated_node() {
    let nodes = [
        node("busy").cpu("4").memory("8Gi").build(),
        node("idle").cpu("4").memory("8Gi").build(),
    ];
    let pods = [pod("x").cpu("3").memory("6Gi").node("busy").build()];
    let placed = scheduled(run(
        &pod("p").cpu("500m").memory("1Gi").build(),
        &Snapshot::new(&nodes, &pods),
    ));
    assert_eq!(placed.node, "idle");
    assert_eq!((placed.evaluated_nodes, placed.feasible_nodes), (2, 2));
    let idle = placed.scores.node("idle").expect("idle scored");
    let busy = placed.scores.node("busy").expect("busy scored");
    assert!(idle.total > busy.total, "{:?}", placed.scores);
    // The totals are the sums of the per-plugin weighted scores.
    for n in ["idle", "busy"] {
        let per_plugin = placed.scores.plugin_scores(n);
        assert_eq!(per_plugin.len(), placed.scores.plugins.len());
        let sum: i64 = per_plugin.iter().map(|(_, s)| s).sum();
        assert_eq!(sum, placed.scores.node(n).unwrap().total);
    }
    assert!(placed.scores.plugin_scores("nowhere").is_empty());
}

#[test]
fn ties_are_broken_by_the_rng() {
    let nodes = [node("a").cpu("4").build(), node("b").cpu("4").build()];
    let snap = Snapshot::new(&nodes, &[]);
    let p = pod("p").cpu("1").build();
    let picks: BTreeSet<String> = (0..32)
        .map(|seed| {
            scheduled(schedule(
                &p,
                &snap,
                &Profile::default(),
                &mut StdRng::seed_from_u64(seed),
            ))
            .node
        })
        .collect();
    assert_eq!(picks, BTreeSet::from(["a".to_string(), "b".to_string()]));
    // Same seed, same answer.
    let again = |seed| {
        scheduled(schedule(
            &p,
            &snap,
            &Profile::default(),
            &mut StdRng::seed_from_u64(seed),
        ))
        .node
    };
    assert_eq!(again(3), again(3));
}

fn pinned_to(name: &str) -> NodeSelectorTerm {
    NodeSelectorTerm {
        match_expressions: None,
        match_fields: Some(vec![NodeSelectorRequirement {
            key: "metadata.name".into(),
            operator: "In".into(),
            values: Some(vec![name.into()]),
        }]),
    }
}

#[test]
fn daemonset_style_pinning_reports_other_nodes_as_not_satisfying_node_affinity() {
    let nodes = [
        node("n1").cpu("1").build(),
        node("n2").cpu("4").build(),
        node("n3").cpu("4").build(),
    ];
    let p = pod("ds")
        .cpu("2")
        .required_node_terms(vec![pinned_to("n1")])
        .build();
    let err = unschedulable(run(&p, &Snapshot::new(&nodes, &[])));
    assert_eq!(
        err.message(),
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't satisfy plugin(s) [NodeAffinity]. \
         preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    );
    let fits = pod("ds")
        .cpu("2")
        .required_node_terms(vec![pinned_to("n2")])
        .build();
    let placed = scheduled(run(&fits, &Snapshot::new(&nodes, &[])));
    assert_eq!((placed.node.as_str(), placed.evaluated_nodes), ("n2", 1));
}

#[test]
fn prefilter_rejection_uses_the_prefilter_message() {
    let nodes = [node("n1").build(), node("n2").build()];
    let conflict = NodeSelectorTerm {
        match_expressions: None,
        match_fields: Some(vec![
            NodeSelectorRequirement {
                key: "metadata.name".into(),
                operator: "In".into(),
                values: Some(vec!["n1".into()]),
            },
            NodeSelectorRequirement {
                key: "metadata.name".into(),
                operator: "In".into(),
                values: Some(vec!["n2".into()]),
            },
        ]),
    };
    let p = pod("p").required_node_terms(vec![conflict]).build();
    let err = unschedulable(run(&p, &Snapshot::new(&nodes, &[])));
    assert_eq!(
        err.message(),
        "0/2 nodes are available: pod affinity terms conflict. \
         preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    );
    assert!(!err.preemption_may_help());
}

#[test]
fn preemption_policy_never_says_so() {
    let nodes = [node("n").cpu("1").build()];
    let pods = [pod("low").cpu("1").priority(0).node("n").build()];
    let p = pod("p").cpu("1").priority(100).preemption_never().build();
    let err = unschedulable(run(&p, &Snapshot::new(&nodes, &pods)));
    assert_eq!(
        err.message(),
        "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."
    );
}

#[test]
fn successful_preemption_nominates_without_a_postfilter_message() {
    let nodes = [node("n").cpu("2").build()];
    let pods = [
        pod("low").cpu("1").priority(1).node("n").build(),
        pod("mid").cpu("1").priority(5).node("n").build(),
    ];
    let p = pod("p").cpu("1").priority(100).build();
    let err = unschedulable(run(&p, &Snapshot::new(&nodes, &pods)));
    assert_eq!(
        err.message(),
        "0/1 nodes are available: 1 Insufficient cpu."
    );
    let nom = err.nomination.expect("nomination");
    assert_eq!(nom.node, "n");
    let victims: Vec<_> = nom
        .victims
        .iter()
        .filter_map(|v| v.metadata.name.clone())
        .collect();
    assert_eq!(victims, vec!["low".to_string()]);
}

#[test]
fn the_nominated_node_is_tried_first() {
    let nodes = [
        node("roomy").cpu("8").build(),
        node("nominated").cpu("2").build(),
    ];
    let p = pod("p").cpu("1").nominated("nominated").build();
    let placed = scheduled(run(&p, &Snapshot::new(&nodes, &[])));
    assert_eq!(
        (placed.node.as_str(), placed.evaluated_nodes),
        ("nominated", 1)
    );
}

#[test]
fn higher_priority_nominated_pods_hold_their_room() {
    let nodes = [node("n").cpu("4").build()];
    let nominee = pod("nominee").cpu("3").priority(10).nominated("n").build();
    let p = pod("p").cpu("2").priority(0).build();
    let err = unschedulable(run(
        &p,
        &Snapshot::new(&nodes, std::slice::from_ref(&nominee)),
    ));
    assert_eq!(
        err.message(),
        "0/1 nodes are available: 1 Insufficient cpu. \
         preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    );
    // A pod of higher priority than the nominee may take the room.
    let urgent = pod("urgent").cpu("2").priority(20).build();
    assert_eq!(
        scheduled(run(&urgent, &Snapshot::new(&nodes, &[nominee]))).node,
        "n"
    );
}

#[test]
fn feasible_node_search_is_adaptive_on_large_clusters() {
    assert_eq!(num_feasible_nodes_to_find(None, 50), 50);
    assert_eq!(num_feasible_nodes_to_find(None, 100), 100);
    assert_eq!(num_feasible_nodes_to_find(None, 1000), 420);
    assert_eq!(num_feasible_nodes_to_find(None, 5000), 500);
    assert_eq!(num_feasible_nodes_to_find(None, 6000), 300);
    assert_eq!(num_feasible_nodes_to_find(Some(10), 5000), 500);
    assert_eq!(num_feasible_nodes_to_find(Some(1), 5000), 100);
}

#[test]
fn plugin_errors_abort_the_cycle() {
    // An invalid preferred node-affinity term is an error at PreScore.
    let nodes = [node("a").build(), node("b").build()];
    let bad = NodeSelectorTerm {
        match_expressions: Some(vec![NodeSelectorRequirement {
            key: "k".into(),
            operator: "Bogus".into(),
            values: None,
        }]),
        match_fields: None,
    };
    let p = pod("p").preferred_node_term(10, bad).build();
    match run(&p, &Snapshot::new(&nodes, &[])) {
        ScheduleResult::Error(st) => assert_eq!(st.plugin(), "NodeAffinity"),
        other => panic!("expected Error, got {other:?}"),
    }
}
