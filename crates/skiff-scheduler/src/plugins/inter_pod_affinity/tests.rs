use super::*;
use crate::framework::{Code, Filter, PreFilter};
use crate::pod_info::PodInfo;
use crate::testing::{node, pod, prefilter_and_filter, score_all};
use k8s_openapi::api::core::v1::{Node, Pod};

const HOST: &str = "kubernetes.io/hostname";
const ZONE: &str = "topology.kubernetes.io/zone";

fn zoned_nodes() -> Vec<Node> {
    vec![
        node("a1").label(ZONE, "a").build(),
        node("a2").label(ZONE, "a").build(),
        node("b1").label(ZONE, "b").build(),
        node("nozone").build(),
    ]
}

fn fitting(p: &Pod, nodes: &[Node], existing: &[Pod]) -> Vec<(String, Code)> {
    nodes
        .iter()
        .map(|n| {
            let name = n.metadata.name.clone().unwrap_or_default();
            let st = prefilter_and_filter(&InterPodAffinity::default(), p, nodes, existing, &name);
            (name, st.code())
        })
        .collect()
}

fn codes(v: &[(&str, Code)]) -> Vec<(String, Code)> {
    v.iter().map(|(n, c)| (n.to_string(), *c)).collect()
}

#[test]
fn required_affinity_follows_matching_pods_by_zone() {
    let existing = [pod("db").label("app", "db").node("a2").build()];
    let p = pod("web").affinity(&[("app", "db")], ZONE).build();
    assert_eq!(
        fitting(&p, &zoned_nodes(), &existing),
        codes(&[
            ("a1", Code::Success),
            ("a2", Code::Success),
            ("b1", Code::UnschedulableAndUnresolvable),
            ("nozone", Code::UnschedulableAndUnresolvable),
        ])
    );
    let st = prefilter_and_filter(
        &InterPodAffinity::default(),
        &p,
        &zoned_nodes(),
        &existing,
        "b1",
    );
    assert_eq!(st.reasons(), [InterPodAffinity::ERR_AFFINITY]);
}

#[test]
fn first_pod_of_a_self_affine_group_may_go_anywhere_with_the_topology() {
    let p = pod("web")
        .label("app", "web")
        .affinity(&[("app", "web")], ZONE)
        .build();
    assert_eq!(
        fitting(&p, &zoned_nodes(), &[]),
        codes(&[
            ("a1", Code::Success),
            ("a2", Code::Success),
            ("b1", Code::Success),
            ("nozone", Code::UnschedulableAndUnresolvable),
        ])
    );
    // Without self-match it cannot start anywhere.
    let other = pod("web").affinity(&[("app", "db")], ZONE).build();
    assert!(fitting(&other, &zoned_nodes(), &[])
        .iter()
        .all(|(_, c)| *c == Code::UnschedulableAndUnresolvable));
}

#[test]
fn required_anti_affinity_avoids_matching_pods_and_respects_namespaces() {
    let existing = [
        pod("w1").label("app", "web").node("a1").build(),
        pod("w2")
            .namespace("other")
            .label("app", "web")
            .node("b1")
            .build(),
    ];
    let p = pod("web").anti_affinity(&[("app", "web")], ZONE).build();
    assert_eq!(
        fitting(&p, &zoned_nodes(), &existing),
        codes(&[
            ("a1", Code::Unschedulable),
            ("a2", Code::Unschedulable),
            ("b1", Code::Success),
            ("nozone", Code::Success),
        ])
    );
}

#[test]
fn existing_pods_anti_affinity_is_symmetric() {
    let existing = [pod("loner")
        .anti_affinity(&[("app", "web")], HOST)
        .node("a1")
        .build()];
    let p = pod("web").label("app", "web").build();
    let st = prefilter_and_filter(
        &InterPodAffinity::default(),
        &p,
        &zoned_nodes(),
        &existing,
        "a1",
    );
    assert_eq!(
        (st.code(), st.reasons().to_vec()),
        (
            Code::Unschedulable,
            vec![InterPodAffinity::ERR_EXISTING_ANTI_AFFINITY.to_string()]
        )
    );
    assert!(prefilter_and_filter(
        &InterPodAffinity::default(),
        &p,
        &zoned_nodes(),
        &existing,
        "a2"
    )
    .is_success());
}

#[test]
fn add_and_remove_pod_update_the_counts() {
    let nodes = zoned_nodes();
    let existing = [pod("w1").label("app", "web").node("a1").build()];
    let snap = crate::snapshot::Snapshot::new(&nodes, &existing);
    let p = PodInfo::new(pod("web").anti_affinity(&[("app", "web")], HOST).build());
    let plugin = InterPodAffinity::default();
    let mut state = crate::framework::CycleState::new();
    assert!(plugin.pre_filter(&mut state, &p, &snap).is_ok());
    let a1 = snap.get("a1").expect("a1");
    assert_eq!(plugin.filter(&state, &p, a1).code(), Code::Unschedulable);
    let victim = a1.pods()[0].clone();
    plugin.remove_pod(&mut state, &p, &victim, a1);
    assert!(plugin.filter(&state, &p, a1).is_success());
    plugin.add_pod(&mut state, &p, &victim, a1);
    assert_eq!(plugin.filter(&state, &p, a1).code(), Code::Unschedulable);
}

#[test]
fn pods_without_affinity_skip_the_filter() {
    let snap = crate::snapshot::Snapshot::new(&zoned_nodes(), &[]);
    let mut state = crate::framework::CycleState::new();
    let r =
        InterPodAffinity::default().pre_filter(&mut state, &PodInfo::new(pod("p").build()), &snap);
    assert_eq!(r, Ok(crate::framework::PreFilterResult::Skip));
}

#[test]
fn preferred_terms_score_by_topology() {
    let existing = [
        pod("db").label("app", "db").node("a1").build(),
        pod("cache").label("app", "cache").node("b1").build(),
    ];
    let p = pod("web")
        .preferred_affinity(80, &[("app", "db")], ZONE)
        .preferred_anti_affinity(20, &[("app", "cache")], ZONE)
        .build();
    // zone a: +80, zone b: -20, nozone: 0 -> min -20, max 80.
    assert_eq!(
        score_all(&InterPodAffinity::default(), &p, &zoned_nodes(), &existing),
        vec![("a1", 100), ("a2", 100), ("b1", 0), ("nozone", 20)]
    );
}

#[test]
fn existing_pods_required_affinity_attracts_matching_pods() {
    let existing = [pod("sidecar-host")
        .affinity(&[("app", "web")], HOST)
        .node("b1")
        .build()];
    let p = pod("web").label("app", "web").build();
    assert_eq!(
        score_all(&InterPodAffinity::default(), &p, &zoned_nodes(), &existing),
        vec![("a1", 0), ("a2", 0), ("b1", 100), ("nozone", 0)]
    );
}
