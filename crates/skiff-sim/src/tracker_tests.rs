//! Tests of the pod tracker: event sequences in, API writes out.

use super::*;
use crate::options::SimOptions;
use crate::pod_plan::COMPLETE_AFTER;
use k8s_openapi::api::core::v1::{Container, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn t0() -> Timestamp {
    ts("2025-01-01T00:00:00Z")
}

fn secs(n: u64) -> Timestamp {
    t0().checked_add(Duration::from_secs(n)).unwrap()
}

/// Two registered nodes; node 1's heartbeat is stopped by annotation.
fn nodes() -> NodeTable {
    let t = NodeTable::new(&SimOptions::new(2));
    t.set_registered(0, "n0");
    t.set_registered(1, "n1");
    t.observe(1, true, false);
    t
}

fn tracker() -> Tracker {
    Tracker::new(2, crate::cidr::DEFAULT_POD_CIDR)
}

fn pod(name: &str, node: &str) -> Pod {
    let mut p = Pod {
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "c".into(),
                image: Some("nginx".into()),
                ..Default::default()
            }],
            node_name: Some(node.into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    p.metadata.name = Some(name.into());
    p.metadata.namespace = Some("default".into());
    p.metadata.uid = Some(format!("uid-{name}"));
    p
}

/// The pod with the status a Start patch would give it.
fn started(mut p: Pod, effects: &[Effect]) -> Pod {
    let Some(Effect::Patch { patch, .. }) = effects.first() else {
        panic!("expected a patch, got {effects:?}");
    };
    p.status = Some(serde_json::from_value(patch["status"].clone()).unwrap());
    p
}

fn pod_ip(effects: &[Effect]) -> String {
    match effects {
        [Effect::Patch { patch, .. }] => patch["status"]["podIP"].as_str().unwrap().to_string(),
        other => panic!("expected one patch, got {other:?}"),
    }
}

#[test]
fn a_pending_pod_on_a_live_node_is_started_with_the_next_ip() {
    let (mut tr, nodes) = (tracker(), nodes());
    let fx = tr.on_apply(pod("a", "sim-node-0"), &nodes, t0());
    let [Effect::Patch { pod: r, op, patch }] = fx.as_slice() else {
        panic!("{fx:?}");
    };
    assert_eq!((r.namespace(), r.name(), *op), ("default", "a", Op::Start));
    assert_eq!(patch["status"]["phase"], "Running");
    assert_eq!(patch["status"]["podIP"], "10.128.0.2");
    assert_eq!(patch["status"]["hostIP"], "10.127.0.1");
    assert_eq!(
        pod_ip(&tr.on_apply(pod("b", "sim-node-0"), &nodes, t0())),
        "10.128.0.3"
    );
}

#[test]
fn pods_elsewhere_or_on_dead_nodes_are_left_alone() {
    let (mut tr, nodes) = (tracker(), nodes());
    assert!(tr.on_apply(pod("a", "real-node"), &nodes, t0()).is_empty());
    assert!(tr.on_apply(pod("b", "sim-node-1"), &nodes, t0()).is_empty());
    let mut unbound = pod("c", "");
    unbound.spec.as_mut().unwrap().node_name = None;
    assert!(tr.on_apply(unbound, &nodes, t0()).is_empty());
    assert!(tr.is_empty());
}

#[test]
fn a_start_in_flight_is_not_sent_twice() {
    let (mut tr, nodes) = (tracker(), nodes());
    assert_eq!(tr.on_apply(pod("a", "sim-node-0"), &nodes, t0()).len(), 1);
    assert!(tr.on_apply(pod("a", "sim-node-0"), &nodes, t0()).is_empty());
}

#[test]
fn events_older_than_our_write_do_not_start_the_pod_again() {
    let (mut tr, nodes) = (tracker(), nodes());
    let mut a = pod("a", "sim-node-0");
    a.metadata.resource_version = Some("10".into());
    assert_eq!(tr.on_apply(a.clone(), &nodes, t0()).len(), 1);
    let r = PodRef::of(&a);
    tr.on_written(&r, "12");
    tr.on_result(&r, Op::Start, true, t0());
    a.metadata.resource_version = Some("11".into());
    assert!(tr.on_apply(a.clone(), &nodes, t0()).is_empty(), "stale");
    // A newer event that still shows the pod pending (someone reset it) starts it again.
    a.metadata.resource_version = Some("13".into());
    assert_eq!(pod_ip(&tr.on_apply(a, &nodes, t0())), "10.128.0.2");
}

#[test]
fn a_running_pod_is_not_patched_again_and_keeps_its_ip_after_a_restart() {
    let nodes = nodes();
    let mut first = tracker();
    let fx = first.on_apply(pod("a", "sim-node-0"), &nodes, t0());
    let running = started(pod("a", "sim-node-0"), &fx);
    // A new sim process lists the running pod and a new pending one.
    let mut tr = tracker();
    tr.on_init();
    assert!(
        tr.on_apply(pod("b", "sim-node-0"), &nodes, t0()).is_empty(),
        "held until listed"
    );
    assert!(tr.on_apply(running.clone(), &nodes, t0()).is_empty());
    let fx = tr.on_init_done(&nodes, t0());
    assert_eq!(
        pod_ip(&fx),
        "10.128.0.3",
        "10.128.0.2 stays with the running pod"
    );
    assert!(tr.on_apply(running, &nodes, secs(60)).is_empty());
}

#[test]
fn deleting_a_pod_frees_its_ip() {
    let (mut tr, nodes) = (tracker(), nodes());
    let a = pod("a", "sim-node-0");
    tr.on_apply(a.clone(), &nodes, t0());
    tr.on_delete(&a);
    assert!(tr.is_empty());
    tr.on_apply(pod("b", "sim-node-0"), &nodes, t0());
    let pools_used: u32 = tr.pools.iter().map(IpPool::in_use).sum();
    assert_eq!(pools_used, 1);
}

#[test]
fn a_pod_being_deleted_is_finalized_once() {
    let (mut tr, nodes) = (tracker(), nodes());
    let mut a = pod("a", "sim-node-0");
    a.metadata.deletion_timestamp = Some(Time(t0()));
    a.metadata.deletion_grace_period_seconds = Some(30);
    let fx = tr.on_apply(a.clone(), &nodes, t0());
    assert_eq!(
        fx,
        vec![Effect::Delete(PodRef {
            key: "default/a".into(),
            uid: "uid-a".into()
        })]
    );
    assert!(tr.on_apply(a.clone(), &nodes, t0()).is_empty());
    // Only finalizers hold it after the grace-0 delete: nothing more to do.
    tr.on_result(&PodRef::of(&a), Op::Delete, true, t0());
    a.metadata.deletion_grace_period_seconds = Some(0);
    a.metadata.finalizers = Some(vec!["example.com/x".into()]);
    assert!(tr.on_apply(a, &nodes, t0()).is_empty());
}

#[test]
fn complete_after_finishes_the_pod_when_due() {
    let (mut tr, nodes) = (tracker(), nodes());
    let mut a = pod("a", "sim-node-0");
    a.metadata.annotations = Some([(COMPLETE_AFTER.to_string(), "2s".to_string())].into());
    let fx = tr.on_apply(a.clone(), &nodes, t0());
    let running = started(a, &fx);
    tr.on_result(&PodRef::of(&running), Op::Start, true, t0());
    assert!(tr.on_apply(running.clone(), &nodes, secs(1)).is_empty());
    assert_eq!(tr.next_due(), Some(secs(2)));
    assert!(tr.due(&nodes, secs(1)).is_empty());
    let fx = tr.due(&nodes, secs(2));
    let [Effect::Fetch(r)] = fx.as_slice() else {
        panic!("{fx:?}");
    };
    let fx = tr.on_fetched(r, Some(running.clone()), &nodes, secs(2));
    let [Effect::Patch {
        op: Op::Finish,
        patch,
        ..
    }] = fx.as_slice()
    else {
        panic!("{fx:?}");
    };
    assert_eq!(patch["status"]["phase"], "Succeeded");
    // Once the watch shows it Succeeded, the IP is free and the pod forgotten.
    let mut done = running;
    done.status = Some(serde_json::from_value(patch["status"].clone()).unwrap());
    assert!(tr.on_apply(done, &nodes, secs(3)).is_empty());
    assert!(tr.is_empty());
}

#[test]
fn a_failed_write_is_retried_with_backoff() {
    let (mut tr, nodes) = (tracker(), nodes());
    let a = pod("a", "sim-node-0");
    tr.on_apply(a.clone(), &nodes, t0());
    tr.on_result(&PodRef::of(&a), Op::Start, false, t0());
    assert_eq!(tr.next_due(), Some(secs(2)));
    let fx = tr.due(&nodes, secs(2));
    assert!(matches!(fx.as_slice(), [Effect::Fetch(_)]));
    let r = PodRef::of(&a);
    assert_eq!(
        pod_ip(&tr.on_fetched(&r, Some(a), &nodes, secs(2))),
        "10.128.0.2"
    );
    // The pod vanished meanwhile: forgotten.
    tr.on_result(&r, Op::Start, false, secs(2));
    let fx = tr.due(&nodes, secs(10));
    assert_eq!(fx.len(), 1);
    assert!(tr.on_fetched(&r, None, &nodes, secs(10)).is_empty());
    assert!(tr.is_empty());
}

#[test]
fn a_relist_forgets_pods_it_no_longer_sees() {
    let (mut tr, nodes) = (tracker(), nodes());
    let fx = tr.on_apply(pod("a", "sim-node-0"), &nodes, t0());
    let a = started(pod("a", "sim-node-0"), &fx);
    tr.on_apply(pod("b", "sim-node-0"), &nodes, t0());
    tr.on_init();
    tr.on_apply(a, &nodes, t0());
    tr.on_init_done(&nodes, t0());
    assert_eq!(tr.len(), 1);
    assert_eq!(tr.pools[0].in_use(), 1);
}

#[test]
fn host_network_pods_use_the_node_ip() {
    let (mut tr, nodes) = (tracker(), nodes());
    let mut a = pod("a", "sim-node-0");
    a.spec.as_mut().unwrap().host_network = Some(true);
    assert_eq!(pod_ip(&tr.on_apply(a, &nodes, t0())), "10.127.0.1");
    assert_eq!(tr.pools[0].in_use(), 0);
}

#[test]
fn a_new_pod_with_an_old_name_replaces_the_old_one() {
    let (mut tr, nodes) = (tracker(), nodes());
    tr.on_apply(pod("a", "sim-node-0"), &nodes, t0());
    let mut again = pod("a", "sim-node-0");
    again.metadata.uid = Some("uid-a2".into());
    assert_eq!(pod_ip(&tr.on_apply(again, &nodes, t0())), "10.128.0.3");
    assert_eq!(tr.pools[0].in_use(), 1);
}

#[test]
fn a_finished_pod_is_not_touched() {
    let (mut tr, nodes) = (tracker(), nodes());
    let mut a = pod("a", "sim-node-0");
    a.status = Some(PodStatus {
        phase: Some("Failed".into()),
        ..Default::default()
    });
    assert!(tr.on_apply(a, &nodes, t0()).is_empty());
    assert!(tr.is_empty());
}
