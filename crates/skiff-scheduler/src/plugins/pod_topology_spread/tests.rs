use super::*;
use crate::framework::{Code, CycleState, PreFilter, PreFilterResult};
use crate::snapshot::Workloads;
use crate::testing::{node, pod, prefilter_and_filter, score_all, score_all_in};
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::{Node, Pod, Service, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};

const ZONE: &str = LABEL_TOPOLOGY_ZONE;

fn nodes() -> Vec<Node> {
    vec![
        node("a1").label(ZONE, "a").build(),
        node("a2").label(ZONE, "a").build(),
        node("b1").label(ZONE, "b").build(),
        node("nozone").build(),
    ]
}

fn codes(p: &Pod, existing: &[Pod]) -> Vec<(String, Code)> {
    nodes()
        .iter()
        .map(|n| {
            let name = n.metadata.name.clone().unwrap_or_default();
            let st =
                prefilter_and_filter(&PodTopologySpread::default(), p, &nodes(), existing, &name);
            (name, st.code())
        })
        .collect()
}

fn want(v: &[(&str, Code)]) -> Vec<(String, Code)> {
    v.iter().map(|(n, c)| (n.to_string(), *c)).collect()
}

fn web(name: &str, node_name: &str) -> Pod {
    pod(name).label("app", "web").node(node_name).build()
}

#[test]
fn do_not_schedule_limits_skew_across_zones() {
    // zone a has 2 web pods, zone b has 0: with maxSkew 1 only zone b fits.
    let existing = [web("w1", "a1"), web("w2", "a2")];
    let p = pod("p")
        .label("app", "web")
        .spread(1, ZONE, "DoNotSchedule", &[("app", "web")])
        .build();
    assert_eq!(
        codes(&p, &existing),
        want(&[
            ("a1", Code::Unschedulable),
            ("a2", Code::Unschedulable),
            ("b1", Code::Success),
            ("nozone", Code::UnschedulableAndUnresolvable),
        ])
    );
    let st = prefilter_and_filter(
        &PodTopologySpread::default(),
        &p,
        &nodes(),
        &existing,
        "nozone",
    );
    assert_eq!(st.reasons(), [PodTopologySpread::ERR_NODE_LABEL]);
    let st = prefilter_and_filter(&PodTopologySpread::default(), &p, &nodes(), &existing, "a1");
    assert_eq!(st.reasons(), [PodTopologySpread::ERR_CONSTRAINTS]);
}

#[test]
fn min_domains_treats_the_global_minimum_as_zero() {
    // One web pod in zone a, zone b empty, but minDomains 3 > 2 domains: min is 0, so a
    // second pod in zone a has skew 2 > 1 and zone b has skew 1.
    let existing = [web("w1", "a1")];
    let p = pod("p")
        .label("app", "web")
        .spread_min_domains(1, ZONE, &[("app", "web")], 3)
        .build();
    let got = codes(&p, &existing);
    assert_eq!(got[0].1, Code::Unschedulable);
    assert_eq!(got[2].1, Code::Success);
}

#[test]
fn node_affinity_policy_honor_excludes_unselected_nodes_from_counting() {
    // The pod only wants zone a nodes; zone b's pods must not count as a domain.
    let existing = [web("w1", "a1"), web("w2", "b1"), web("w3", "b1")];
    let p = pod("p")
        .label("app", "web")
        .node_selector(ZONE, "a")
        .spread(1, LABEL_HOSTNAME, "DoNotSchedule", &[("app", "web")])
        .build();
    // hostname domains among zone-a nodes: a1=1, a2=0 -> a1 skew 2, a2 skew 1.
    let got = codes(&p, &existing);
    assert_eq!(got[0].1, Code::Unschedulable);
    assert_eq!(got[1].1, Code::Success);
}

#[test]
fn taints_policy_honor_skips_untolerated_nodes() {
    let tainted = vec![
        node("a1").label(ZONE, "a").build(),
        node("b1")
            .label(ZONE, "b")
            .taint("k", "v", "NoSchedule")
            .build(),
    ];
    let existing = [web("w1", "a1")];
    let honor = pod("p")
        .label("app", "web")
        .spread_taints_honor(1, ZONE, &[("app", "web")])
        .build();
    // With b1 excluded, zone a is the only domain: min 1, skew 1 ≤ 1.
    let st = prefilter_and_filter(
        &PodTopologySpread::default(),
        &honor,
        &tainted,
        &existing,
        "a1",
    );
    assert!(st.is_success());
    let ignore = pod("p")
        .label("app", "web")
        .spread(1, ZONE, "DoNotSchedule", &[("app", "web")])
        .build();
    let st = prefilter_and_filter(
        &PodTopologySpread::default(),
        &ignore,
        &tainted,
        &existing,
        "a1",
    );
    assert_eq!(st.code(), Code::Unschedulable);
}

#[test]
fn pods_without_constraints_skip_the_filter() {
    let snap = Snapshot::new(&nodes(), &[]);
    let r = PodTopologySpread::default().pre_filter(
        &mut CycleState::new(),
        &PodInfo::new(pod("p").build()),
        &snap,
    );
    assert_eq!(r, Ok(PreFilterResult::Skip));
}

#[test]
fn schedule_anyway_scores_emptier_domains_higher() {
    let existing = [web("w1", "a1"), web("w2", "a2"), web("w3", "a1")];
    let p = pod("p")
        .label("app", "web")
        .spread(1, ZONE, "ScheduleAnyway", &[("app", "web")])
        .build();
    // Two zone domains -> weight ln(4); zone a count 3 -> 4.16 -> 4; zone b 0 -> 0; nozone ignored.
    // normalize: max 4, min 0 -> a: 100*(4+0-4)/4 = 0, b: 100, nozone 0.
    assert_eq!(
        score_all(&PodTopologySpread::default(), &p, &nodes(), &existing),
        vec![("a1", 0), ("a2", 0), ("b1", 100), ("nozone", 0)]
    );
}

fn owned_by_rs(p: Pod) -> Pod {
    let mut p = p;
    p.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ReplicaSet".into(),
        name: "web-rs".into(),
        uid: "rs-uid".into(),
        controller: Some(true),
        ..Default::default()
    }]);
    p
}

fn workloads() -> Workloads {
    Workloads {
        replica_sets: vec![ReplicaSet {
            metadata: ObjectMeta {
                name: Some("web-rs".into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                selector: LabelSelector {
                    match_labels: Some(crate::labels::labels([("app", "web")])),
                    ..Default::default()
                },
                ..Default::default()
            }),
            ..Default::default()
        }],
        services: vec![Service {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                selector: Some(crate::labels::labels([("tier", "front")])),
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[test]
fn default_selector_merges_services_and_the_controller() {
    let snap = Snapshot::new(&nodes(), &[]).with_workloads(workloads());
    let p = PodInfo::new(owned_by_rs(
        pod("p").label("app", "web").label("tier", "front").build(),
    ));
    let sel = default_selector(&p, &snap);
    assert!(sel.matches(&crate::labels::labels([("app", "web"), ("tier", "front")])));
    assert!(!sel.matches(&crate::labels::labels([("app", "web")])));
    assert!(!sel.matches(&crate::labels::labels([("tier", "front")])));
    // A pod nobody selects or owns gets no default constraints.
    let lone = PodInfo::new(pod("lone").label("x", "y").build());
    assert!(default_selector(&lone, &snap).is_empty());
}

#[test]
fn default_constraints_spread_replica_set_pods_by_hostname() {
    let existing = [
        owned_by_rs(web("w1", "a1")),
        owned_by_rs(web("w2", "a1")),
        owned_by_rs(web("w3", "a2")),
    ];
    let p = owned_by_rs(pod("p").label("app", "web").build());
    let snap = Snapshot::new(&nodes(), &existing).with_workloads(Workloads {
        services: Vec::new(),
        ..workloads()
    });
    let scores = score_all_in(&PodTopologySpread::default(), &p, &snap);
    // Fewer replicas -> higher score; the node without a zone still takes part.
    let by_name: HashMap<_, _> = scores.into_iter().collect();
    assert!(by_name["b1"] > by_name["a2"], "{by_name:?}");
    assert!(by_name["a2"] > by_name["a1"], "{by_name:?}");
    assert!(by_name["nozone"] > by_name["a1"], "{by_name:?}");
}

#[test]
fn remembered_hostname_counts_follow_pods_added_between_cycles() {
    let plugin = PodTopologySpread::default();
    let p = owned_by_rs(pod("p").label("app", "web").build());
    let mut snap =
        Snapshot::new(&nodes(), &[owned_by_rs(web("w1", "a1"))]).with_workloads(Workloads {
            services: Vec::new(),
            ..workloads()
        });
    let before: HashMap<_, _> = score_all_in(&plugin, &p, &snap).into_iter().collect();
    assert!(before["b1"] > before["a1"], "{before:?}");
    // Two more replicas land on b1: the same plugin (and its memo) must now prefer a1's
    // neighbours over b1.
    assert!(snap.assume(&owned_by_rs(web("w2", "b1")), "b1"));
    assert!(snap.assume(&owned_by_rs(web("w3", "b1")), "b1"));
    let after: HashMap<_, _> = score_all_in(&plugin, &p, &snap).into_iter().collect();
    assert!(after["b1"] < after["a1"], "{after:?}");
    assert!(after["a2"] > after["b1"], "{after:?}");
}

#[test]
fn remembered_hostname_counts_follow_replaced_relabelled_terminating_and_removed_pods() {
    let plugin = PodTopologySpread::default();
    let incoming = owned_by_rs(pod("p").label("app", "web").build());
    let workloads = || Workloads {
        services: Vec::new(),
        ..workloads()
    };
    let mut model = vec![owned_by_rs(web("w1", "a1")), owned_by_rs(web("w2", "b1"))];
    let mut snap = Snapshot::new(&nodes(), &model).with_workloads(workloads());
    // After each change, the long-lived plugin and snapshot score like a fresh plugin on a
    // snapshot built from the resulting pods.
    let check = |snap: &Snapshot, model: &[Pod], step: &str| {
        let kept = score_all_in(&plugin, &incoming, snap);
        let fresh_snap = Snapshot::new(&nodes(), model).with_workloads(workloads());
        let fresh = score_all_in(&PodTopologySpread::default(), &incoming, &fresh_snap);
        assert_eq!(kept, fresh, "after {step}");
    };
    check(&snap, &model, "the start");
    let set = |snap: &mut Snapshot, model: &mut Vec<Pod>, p: Pod| {
        model.retain(|m| m.metadata.name != p.metadata.name);
        snap.set_pod(&p);
        model.push(p);
    };
    // A status update (same labels) replaces in place.
    let running = owned_by_rs(
        pod("w2")
            .label("app", "web")
            .node("b1")
            .phase("Running")
            .build(),
    );
    set(&mut snap, &mut model, running);
    check(&snap, &model, "a status update");
    // Appended pods are counted on top of what was remembered.
    for name in ["w3", "w4"] {
        set(&mut snap, &mut model, owned_by_rs(web(name, "b1")));
    }
    check(&snap, &model, "two pods added to b1");
    // A pod relabelled out of the selector, one that starts terminating, one removed.
    let relabelled = owned_by_rs(pod("w3").label("app", "other").node("b1").build());
    set(&mut snap, &mut model, relabelled);
    check(&snap, &model, "a relabelled pod");
    let terminating = owned_by_rs(
        pod("w4")
            .label("app", "web")
            .node("b1")
            .terminating()
            .build(),
    );
    set(&mut snap, &mut model, terminating);
    check(&snap, &model, "a terminating pod");
    assert!(snap.remove_pod("default/w2"));
    model.retain(|m| m.metadata.name.as_deref() != Some("w2"));
    check(&snap, &model, "a removed pod");
}

use std::collections::HashMap;
