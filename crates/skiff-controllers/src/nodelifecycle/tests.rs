//! Node lifecycle planner tests: heartbeats, Unknown conditions, taints, disruption mode.

use k8s_openapi::api::coordination::v1::LeaseSpec;
use k8s_openapi::api::core::v1::{NodeSpec, NodeStatus, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};

use super::health::*;
use super::taints::*;
use super::*;
use crate::testing::{labels, pod, t};

/// A node created at t(0) whose kubelet posted Ready=`status` with heartbeat `hb`, plus the
/// three pressure conditions False and NetworkUnavailable False.
pub(super) fn node(name: &str, status: &str, hb: Timestamp) -> Node {
    let cond = |ty: &str, st: &str| NodeCondition {
        type_: ty.into(),
        status: st.into(),
        reason: Some("KubeletSays".into()),
        message: Some("kubelet".into()),
        last_heartbeat_time: Some(Time(hb)),
        last_transition_time: Some(Time(t(1))),
    };
    Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            uid: Some(format!("uid-{name}")),
            creation_timestamp: Some(Time(t(0))),
            ..Default::default()
        },
        spec: Some(NodeSpec::default()),
        status: Some(NodeStatus {
            conditions: Some(vec![
                cond("Ready", status),
                cond("MemoryPressure", "False"),
                cond("DiskPressure", "False"),
                cond("PIDPressure", "False"),
                cond("NetworkUnavailable", "False"),
            ]),
            ..Default::default()
        }),
    }
}

pub(super) fn with_taints(mut n: Node, taints: &[(&str, &str, Option<Timestamp>)]) -> Node {
    n.spec.get_or_insert_with(Default::default).taints = Some(
        taints
            .iter()
            .map(|(k, e, at)| Taint {
                key: k.to_string(),
                effect: e.to_string(),
                value: None,
                time_added: at.map(Time),
            })
            .collect(),
    );
    n
}

pub(super) fn lease(name: &str, renew: Timestamp) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(NODE_LEASE_NAMESPACE.into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            renew_time: Some(MicroTime(renew)),
            ..Default::default()
        }),
    }
}

/// A ready pod on `node` with these tolerations (key, effect, seconds).
pub(super) fn pod_on(name: &str, node: &str, tols: &[(&str, &str, Option<i64>)]) -> CachedPod {
    let mut p = pod(name).node(node).ready_since(t(1)).build();
    p.spec.as_mut().unwrap().tolerations = Some(
        tols.iter()
            .map(|(k, e, s)| Toleration {
                key: (!k.is_empty()).then(|| k.to_string()),
                operator: Some("Exists".into()),
                effect: (!e.is_empty()).then(|| e.to_string()),
                toleration_seconds: *s,
                value: None,
            })
            .collect(),
    );
    p
}

/// A Ready node `h` whose lease was renewed at `now`: it keeps the cluster out of
/// disruption mode (where no NoExecute taint is added).
pub(super) fn bystander(now: Timestamp) -> (Node, Lease) {
    (node("h", "True", t(0)), lease("h", now))
}

/// State as if the controller had seen every node's heartbeat change at `at`.
pub(super) fn seen(nodes: &[&Node], at: Timestamp) -> State {
    let mut state = State::default();
    for n in nodes {
        let ready = n
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
        state.nodes.insert(
            n.metadata.name.clone().unwrap(),
            NodeHealth {
                uid: n.metadata.uid.clone().unwrap_or_default(),
                probe_timestamp: at,
                ready_posted: ready.is_some(),
                ready_heartbeat: ready
                    .and_then(|c| c.last_heartbeat_time.as_ref())
                    .map(|t| t.0),
                lease_renew_time: None,
                no_execute_since: None,
            },
        );
    }
    state
}

pub(super) fn run(
    nodes: &[&Node],
    leases: &[&Lease],
    pods: &[&CachedPod],
    state: State,
    now: Timestamp,
) -> Outcome {
    plan(&Observed {
        nodes: nodes.to_vec(),
        leases: leases.to_vec(),
        pods: pods.to_vec(),
        state,
        options: Options::default(),
        now,
    })
}

pub(super) fn without_requeue(steps: &[Step]) -> Vec<&Step> {
    steps
        .iter()
        .filter(|s| !matches!(s, Step::RequeueAfter(_)))
        .collect()
}

fn status_update(steps: &[Step]) -> Option<&Vec<NodeCondition>> {
    steps.iter().find_map(|s| match s {
        Step::UpdateNodeStatus { conditions, .. } => Some(conditions),
        _ => None,
    })
}

pub(super) fn taints_set(steps: &[Step]) -> Option<Vec<(String, String)>> {
    steps.iter().find_map(|s| match s {
        Step::SetTaints { taints, .. } => Some(
            taints
                .iter()
                .map(|t| (t.key.clone(), t.effect.clone()))
                .collect(),
        ),
        _ => None,
    })
}

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn a_new_healthy_node_is_registered_and_checked_again_when_its_grace_runs_out() {
    let n = node("n1", "True", t(95));
    let out = run(&[&n], &[], &[], State::default(), t(100));
    assert_eq!(
        out.steps,
        [
            Step::NodeEvent {
                node: "n1".into(),
                uid: "uid-n1".into(),
                event: Event::normal("RegisteredNode", "Registered Node n1 in Controller"),
            },
            Step::RequeueAfter(Duration::from_secs(50) + Duration::from_nanos(1)),
        ]
    );
    // The kubelet's heartbeat time is not ours: the probe is our `now`.
    assert_eq!(out.state.nodes["n1"].probe_timestamp, t(100));
}

#[test]
fn a_silent_node_turns_unknown_strictly_after_the_grace_period() {
    let n = node("n1", "True", t(100));
    let (h, hl) = bystander(t(150));
    let state = seen(&[&n, &h], t(100));
    let ready_pod = pod_on("p", "n1", &[]);
    let out = run(&[&n, &h], &[&hl], &[&ready_pod], state.clone(), t(150));
    assert!(without_requeue(&out.steps).is_empty(), "{:?}", out.steps);

    let out = run(&[&n, &h], &[&hl], &[&ready_pod], state, t(151));
    let conds = status_update(&out.steps).expect("status update");
    for c in conds {
        if c.type_ == "NetworkUnavailable" {
            assert_eq!(c.status, "False", "left to the control plane");
            continue;
        }
        assert_eq!(c.status, "Unknown", "{}", c.type_);
        assert_eq!(c.reason.as_deref(), Some(NODE_STATUS_UNKNOWN));
        assert_eq!(
            c.message.as_deref(),
            Some("Kubelet stopped posting node status.")
        );
        assert_eq!(c.last_heartbeat_time, Some(Time(t(100))), "heartbeat kept");
        assert_eq!(c.last_transition_time, Some(Time(t(151))));
    }
    assert!(out.steps.contains(&Step::NodeEvent {
        node: "n1".into(),
        uid: "uid-n1".into(),
        event: Event::normal("NodeNotReady", "Node n1 status is now: NodeNotReady"),
    }));
    assert_eq!(
        taints_set(&out.steps),
        Some(kv(&[
            (TAINT_UNREACHABLE, NO_SCHEDULE),
            (TAINT_UNREACHABLE, NO_EXECUTE)
        ]))
    );
    assert!(out.steps.contains(&Step::MarkPodsNotReady {
        node: "n1".into(),
        pods: vec![PodRef {
            namespace: "default".into(),
            name: "p".into(),
            uid: "uid-p".into()
        }],
    }));
    assert!(out.steps.iter().any(|s| matches!(s,
        Step::PodEvent { event, .. } if event.reason == "NodeNotReady" && event.message == "Node is not ready")));
}

#[test]
fn planning_again_on_the_result_changes_nothing() {
    let n = node("n1", "True", t(100));
    let p = pod_on("p", "n1", &[("", "", None)]); // tolerates everything forever
    let out = run(&[&n], &[], &[&p], seen(&[&n], t(100)), t(200));
    assert!(out.state.full_disruption, "the only node is not ready");
    // Apply the steps the way the API server would.
    let mut n2 = n.clone();
    let mut p2 = p.clone();
    for s in &out.steps {
        match s {
            Step::UpdateNodeStatus { conditions, .. } => {
                n2.status.as_mut().unwrap().conditions = Some(conditions.clone())
            }
            Step::SetTaints { taints, .. } => {
                n2.spec.as_mut().unwrap().taints = Some(taints.clone())
            }
            Step::MarkPodsNotReady { .. } => {
                let ready = not_ready_condition(&p2, t(200)).unwrap();
                let conditions = p2.status.as_mut().unwrap().conditions.as_mut().unwrap();
                conditions.retain(|c| c.type_ != "Ready");
                conditions.push(ready);
            }
            _ => {}
        }
    }
    let again = run(&[&n2], &[], &[&p2], out.state.clone(), t(210));
    assert!(
        without_requeue(&again.steps).is_empty(),
        "{:?}",
        again.steps
    );
    assert_eq!(again.state.nodes["n1"].probe_timestamp, t(100));
}

#[test]
fn heartbeat_changes_count_on_our_clock_whatever_the_kubelets_clock_says() {
    // The kubelet's clock is an hour behind, but its heartbeat keeps changing.
    let before = node("n1", "True", t(-3600));
    let state = seen(&[&before], t(100));
    let after = node("n1", "True", t(-3590));
    let out = run(&[&after], &[], &[], state, t(149));
    assert_eq!(out.state.nodes["n1"].probe_timestamp, t(149));
    let out = run(&[&after], &[], &[], out.state, t(190));
    assert!(
        status_update(&out.steps).is_none(),
        "within 50 s of our last sighting"
    );
    // An hour ahead but frozen: Unknown after the grace period.
    let frozen = node("n2", "True", t(7200));
    let out = run(&[&frozen], &[], &[], seen(&[&frozen], t(100)), t(151));
    assert!(status_update(&out.steps).is_some());
}

#[test]
fn lease_renewals_keep_a_node_alive() {
    let n = node("n1", "True", t(10)); // status heartbeat frozen
    let mut state = seen(&[&n], t(10));
    for now in [40, 80, 120, 160] {
        let l = lease("n1", t(now - 1));
        let out = run(&[&n], &[&l], &[], state, t(now));
        assert!(status_update(&out.steps).is_none(), "at {now}");
        state = out.state;
    }
    assert_eq!(state.nodes["n1"].probe_timestamp, t(160));
    // The lease stops too: 50 s later the node is Unknown.
    let l = lease("n1", t(159));
    let out = run(&[&n], &[&l], &[], state, t(211));
    assert!(status_update(&out.steps).is_some());
}

#[test]
fn a_node_that_never_posted_status_gets_the_startup_grace_from_its_creation() {
    let mut n = node("n1", "True", t(0));
    n.status = None;
    let out = run(&[&n], &[], &[], State::default(), t(60));
    assert!(status_update(&out.steps).is_none());
    assert_eq!(
        out.steps.last(),
        Some(&Step::RequeueAfter(Duration::from_nanos(1)))
    );
    let out = run(&[&n], &[], &[], out.state, t(61));
    let conds = status_update(&out.steps).unwrap();
    assert_eq!(conds.len(), 4);
    for c in conds {
        assert_eq!(c.status, "Unknown");
        assert_eq!(c.reason.as_deref(), Some(NODE_STATUS_NEVER_UPDATED));
        assert_eq!(
            c.message.as_deref(),
            Some("Kubelet never posted node status.")
        );
        assert_eq!(c.last_heartbeat_time, Some(Time(t(0))));
    }
    // Never Ready, so no NodeNotReady event.
    assert!(!out
        .steps
        .iter()
        .any(|s| matches!(s, Step::NodeEvent { event, .. } if event.reason == "NodeNotReady")));
}

#[test]
fn a_kubelet_reporting_not_ready_gets_not_ready_taints_in_place_of_unreachable_ones() {
    let n = with_taints(
        node("n1", "False", t(100)),
        &[
            (TAINT_UNREACHABLE, NO_SCHEDULE, Some(t(5))),
            (TAINT_UNREACHABLE, NO_EXECUTE, Some(t(5))),
            ("dedicated", NO_SCHEDULE, None),
        ],
    );
    let (h, hl) = bystander(t(110));
    let out = run(&[&n, &h], &[&hl], &[], seen(&[&n, &h], t(100)), t(110));
    assert!(status_update(&out.steps).is_none());
    assert_eq!(
        taints_set(&out.steps),
        Some(kv(&[
            ("dedicated", NO_SCHEDULE),
            (TAINT_NOT_READY, NO_SCHEDULE),
            (TAINT_NOT_READY, NO_EXECUTE)
        ]))
    );
    assert!(!out
        .steps
        .iter()
        .any(|s| matches!(s, Step::MarkPodsNotReady { .. })));
}

#[test]
fn a_node_ready_again_loses_its_condition_taints_but_keeps_others() {
    let n = with_taints(
        node("n1", "True", t(100)),
        &[
            (TAINT_UNREACHABLE, NO_SCHEDULE, Some(t(5))),
            ("gpu", NO_EXECUTE, None),
            (TAINT_UNREACHABLE, NO_EXECUTE, Some(t(5))),
        ],
    );
    let out = run(&[&n], &[], &[], seen(&[&n], t(100)), t(110));
    assert_eq!(taints_set(&out.steps), Some(kv(&[("gpu", NO_EXECUTE)])));
}

#[test]
fn pressure_conditions_and_unschedulable_become_no_schedule_taints() {
    let mut n = node("n1", "True", t(100));
    for c in n.status.as_mut().unwrap().conditions.as_mut().unwrap() {
        if c.type_ == "DiskPressure" || c.type_ == "NetworkUnavailable" {
            c.status = "True".into();
        }
    }
    n.spec.as_mut().unwrap().unschedulable = Some(true);
    let out = run(&[&n], &[], &[], seen(&[&n], t(100)), t(110));
    assert_eq!(
        taints_set(&out.steps),
        Some(kv(&[
            (TAINT_DISK_PRESSURE, NO_SCHEDULE),
            (TAINT_NETWORK_UNAVAILABLE, NO_SCHEDULE),
            (TAINT_UNSCHEDULABLE, NO_SCHEDULE)
        ]))
    );
    let added = match out
        .steps
        .iter()
        .find(|s| matches!(s, Step::SetTaints { .. }))
    {
        Some(Step::SetTaints { taints, .. }) => taints[0].time_added.clone(),
        _ => None,
    };
    assert_eq!(added, Some(Time(t(110))));
}

#[test]
fn when_no_node_is_ready_no_execute_taints_are_lifted_and_not_added() {
    let a = with_taints(
        node("a", "True", t(0)),
        &[(TAINT_UNREACHABLE, NO_EXECUTE, Some(t(1)))],
    );
    let b = node("b", "True", t(0));
    let mut excluded = node("c", "True", t(1000));
    excluded.metadata.labels = Some(labels(&[(EXCLUDE_DISRUPTION_LABEL, "")]));
    let victim = pod_on("p", "b", &[]);
    let state = seen(&[&a, &b, &excluded], t(0));
    let alive = lease("c", t(100));
    let out = run(&[&a, &b, &excluded], &[&alive], &[&victim], state, t(100));
    assert!(out.state.full_disruption);
    let sets: Vec<_> = out
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::SetTaints { node, taints } => Some((
                node.clone(),
                taints.len(),
                taints.iter().all(|t| t.effect == NO_SCHEDULE),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        sets,
        [("a".to_string(), 1, true), ("b".to_string(), 1, true)]
    );
    assert!(!out
        .steps
        .iter()
        .any(|s| matches!(s, Step::DeletePod { .. })));

    // One node answers again: disruption mode ends and every node gets a fresh grace period.
    let b_back = node("b", "True", t(120));
    let out = run(&[&a, &b_back, &excluded], &[], &[], out.state, t(130));
    assert!(!out.state.full_disruption);
    assert!(out
        .state
        .nodes
        .values()
        .all(|h| h.probe_timestamp == t(130)));
}

#[test]
fn a_deleted_node_is_forgotten_with_an_event() {
    let n = node("n1", "True", t(100));
    let state = seen(&[&n], t(100));
    let out = run(&[], &[], &[], state, t(110));
    assert_eq!(
        out.steps,
        [Step::NodeEvent {
            node: "n1".into(),
            uid: "uid-n1".into(),
            event: Event::normal("RemovingNode", "Removing Node n1 from Controller"),
        }]
    );
    assert!(out.state.nodes.is_empty());
}

#[test]
fn a_restarted_controller_gives_every_node_a_fresh_grace_period() {
    // Heartbeat an hour old, but the controller has no memory: the probe starts now.
    let n = node("n1", "True", t(0));
    let out = run(&[&n], &[], &[], State::default(), t(3600));
    assert!(status_update(&out.steps).is_none());
}
