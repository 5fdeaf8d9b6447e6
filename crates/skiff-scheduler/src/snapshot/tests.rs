//! Tests of the scheduler snapshot.

use super::*;
use crate::testing::{node, pod};

#[test]
fn accounts_bound_pods_and_skips_terminal_and_unknown() {
    let nodes = [node("n1").cpu("4").memory("8Gi").build()];
    let pods = [
        pod("a")
            .cpu("500m")
            .memory("1Gi")
            .host_port(80)
            .node("n1")
            .build(),
        pod("b").node("n1").build(),
        pod("done").cpu("1").node("n1").phase("Succeeded").build(),
        pod("elsewhere").cpu("1").node("n9").build(),
        pod("pending").cpu("1").build(),
        pod("nominee").cpu("1").nominated("n1").build(),
    ];
    let snap = Snapshot::new(&nodes, &pods);
    let n1 = snap.get("n1").expect("n1");
    assert_eq!(n1.pods().len(), 2);
    assert_eq!(n1.requested.milli_cpu, 500);
    assert_eq!(n1.requested.memory, 1 << 30);
    assert_eq!(n1.non_zero_requested.milli_cpu, 600);
    assert_eq!(n1.non_zero_requested.memory, (1 << 30) + (200 << 20));
    assert_eq!(n1.allocatable.milli_cpu, 4000);
    assert_eq!(n1.allocatable.allowed_pod_number, 110);
    assert_eq!(n1.used_ports().len(), 1);
    assert_eq!(snap.nominated_pods("n1").len(), 1);
}

#[test]
fn remove_pod_restores_the_accounting() {
    let nodes = [node("n1").cpu("4").build()];
    let snap = Snapshot::new(
        &nodes,
        &[pod("a").cpu("1").host_port(80).node("n1").build()],
    );
    let mut n1 = snap.get("n1").cloned().expect("n1");
    assert!(n1.remove_pod("default/a").is_some());
    assert!(n1.remove_pod("default/a").is_none());
    assert_eq!(n1.requested, Resources::default());
    assert!(n1.used_ports().is_empty());
    assert_eq!(n1.non_zero_requested.memory, 0);
}

#[test]
fn nodes_know_whether_they_hold_pods_with_affinity() {
    let nodes = [node("n1").build(), node("n2").build()];
    let pods = [
        pod("anti")
            .anti_affinity(&[("app", "db")], "kubernetes.io/hostname")
            .node("n1")
            .build(),
        pod("soft")
            .preferred_affinity(5, &[("app", "db")], "kubernetes.io/hostname")
            .node("n2")
            .build(),
        pod("plain").node("n2").build(),
    ];
    let snap = Snapshot::new(&nodes, &pods);
    let (n1, n2) = (snap.get("n1").expect("n1"), snap.get("n2").expect("n2"));
    assert!(n1.has_pods_with_affinity() && n1.has_pods_with_required_anti_affinity());
    assert!(n2.has_pods_with_affinity() && !n2.has_pods_with_required_anti_affinity());
    let mut n1 = n1.clone();
    assert!(n1.remove_pod("default/anti").is_some());
    assert!(!n1.has_pods_with_affinity() && !n1.has_pods_with_required_anti_affinity());
}

#[test]
fn host_port_conflicts_follow_upstream() {
    let mut used = HostPortInfo::default();
    let hp = |ip: &str, proto: &str, port| HostPort {
        ip: ip.into(),
        protocol: proto.into(),
        port,
    };
    used.add(&hp("10.0.0.1", "TCP", 80));
    assert!(used.conflicts(&hp("10.0.0.1", "TCP", 80)));
    assert!(used.conflicts(&hp("0.0.0.0", "TCP", 80)));
    assert!(!used.conflicts(&hp("10.0.0.2", "TCP", 80)));
    assert!(!used.conflicts(&hp("10.0.0.1", "UDP", 80)));
    used.add(&hp("0.0.0.0", "UDP", 53));
    assert!(used.conflicts(&hp("10.0.0.9", "UDP", 53)));
    assert!(!used.conflicts(&hp("0.0.0.0", "TCP", 0)));
}

#[test]
fn image_states_count_nodes_per_name() {
    let nodes = [
        node("n1").image("nginx:1.25", 100).build(),
        node("n2")
            .image("nginx:1.25", 100)
            .image("redis:7", 50)
            .build(),
    ];
    let snap = Snapshot::new(&nodes, &[]);
    let n2 = snap.get("n2").expect("n2");
    assert_eq!(
        n2.image_states().get("nginx:1.25"),
        Some(&ImageStateSummary {
            size: 100,
            num_nodes: 2
        })
    );
    assert_eq!(
        n2.image_states().get("redis:7").map(|s| s.num_nodes),
        Some(1)
    );
    assert!(snap
        .get("n1")
        .expect("n1")
        .image_states()
        .get("redis:7")
        .is_none());
}

#[test]
fn assume_moves_a_nominated_pod_onto_the_node() {
    let nodes = [node("n1").cpu("4").build()];
    let p = pod("p").cpu("1").nominated("n1").build();
    let mut snap = Snapshot::new(&nodes, std::slice::from_ref(&p));
    assert!(snap.assume(&p, "n1"));
    assert!(snap.nominated_pods("n1").is_empty());
    assert_eq!(snap.get("n1").map(|n| n.requested.milli_cpu), Some(1000));
    assert!(!snap.assume(&p, "nope"));
    assert!(snap.remove_pod("default/p"));
    assert_eq!(snap.get("n1").map(|n| n.requested.milli_cpu), Some(0));
}

#[test]
fn incremental_updates_match_a_fresh_snapshot() {
    let n1 = node("n1").cpu("4").image("app:v1", 10).build();
    let n2 = node("n2").cpu("2").image("app:v1", 10).build();
    let a = pod("a").cpu("1").node("n1").build();
    let b = pod("b").cpu("1").node("n2").build();
    let mut snap = Snapshot::new(std::slice::from_ref(&n1), std::slice::from_ref(&a));
    snap.set_node(n2.clone());
    snap.set_pod(&b);
    // Moving `a` replaces it rather than double-counting.
    let a_moved = pod("a").cpu("1").node("n2").build();
    snap.set_pod(&a_moved);
    let fresh = Snapshot::new(&[n1.clone(), n2.clone()], &[b.clone(), a_moved.clone()]);
    let view = |s: &Snapshot| {
        s.nodes()
            .iter()
            .map(|n| {
                (
                    n.name().to_string(),
                    n.requested.milli_cpu,
                    n.pods().len(),
                    n.image_states().clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(view(&snap), view(&fresh));
    // A relabelled node keeps its pods; a removed node no longer counts for images.
    snap.set_node(node("n2").cpu("2").label("zone", "a").build());
    assert_eq!(snap.get("n2").map(|n| n.pods().len()), Some(2));
    assert!(snap.remove_node("n2"));
    assert!(!snap.remove_node("n2"));
    assert_eq!(
        snap.get("n1")
            .map(|n| n.image_states().get("app:v1").map(|s| s.num_nodes)),
        Some(Some(1))
    );
    assert!(snap.get("n2").is_none());
    // Its pods come back with it, as do pods that arrived before their node.
    snap.set_pod(&pod("early").cpu("1").node("n3").build());
    snap.set_node(node("n2").cpu("2").build());
    snap.set_node(node("n3").cpu("2").build());
    assert_eq!(snap.get("n2").map(|n| n.pods().len()), Some(2));
    assert_eq!(snap.get("n3").map(|n| n.requested.milli_cpu), Some(1000));
    // Terminal pods leave.
    snap.set_pod(&pod("a").cpu("1").node("n1").build());
    snap.set_pod(&pod("a").cpu("1").node("n1").phase("Succeeded").build());
    assert_eq!(snap.get("n1").map(|n| n.pods().len()), Some(0));
}

#[test]
fn the_pods_epoch_changes_only_when_earlier_pods_stop_counting_the_same() {
    let nodes = [node("n1").cpu("4").build(), node("n2").cpu("4").build()];
    let web = |name: &str| pod(name).label("app", "web").cpu("1").node("n1");
    let mut snap = Snapshot::new(&nodes, &[web("a").build()]);
    let epoch = |s: &Snapshot| s.get("n1").unwrap().pods_epoch();
    let generation = |s: &Snapshot| s.get("n1").unwrap().generation();
    let (e0, g0) = (epoch(&snap), generation(&snap));
    // Appending keeps the epoch; the generation moves on every change.
    snap.set_pod(&web("b").build());
    assert_eq!(epoch(&snap), e0);
    assert_ne!(generation(&snap), g0);
    // A status update in place keeps it too, and re-accounts the pod's requests.
    let g1 = generation(&snap);
    snap.set_pod(&web("a").phase("Running").cpu("2").build());
    assert_eq!(epoch(&snap), e0);
    assert_ne!(generation(&snap), g1);
    assert_eq!(snap.get("n1").unwrap().requested.milli_cpu, 3000);
    assert_eq!(snap.get("n1").unwrap().pods().len(), 2);
    // So does a node update (the same pods in the same order).
    snap.set_node(node("n1").cpu("8").label("x", "y").build());
    assert_eq!(epoch(&snap), e0);
    // A copy gets its own epoch.
    assert_ne!(snap.get("n1").unwrap().clone().pods_epoch(), e0);
    // Relabelling, terminating, moving and removing change it.
    let mut last = e0;
    let changes = [
        web("a").label("app", "api").build(),
        web("a").label("app", "api").terminating().build(),
        pod("b").label("app", "web").cpu("1").node("n2").build(),
    ];
    for p in changes {
        snap.set_pod(&p);
        assert_ne!(epoch(&snap), last, "{:?}", p.metadata.name);
        last = epoch(&snap);
    }
    assert!(snap.remove_pod("default/a"));
    assert_ne!(epoch(&snap), last);
    assert_eq!(snap.get("n1").unwrap().requested.milli_cpu, 0);
    assert_eq!(snap.get("n2").unwrap().requested.milli_cpu, 1000);
}
