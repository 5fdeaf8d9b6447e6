//! DaemonSet planner tests: single syncs and a rolling-update simulation.

use super::*;
use crate::cached_pod::CachedPodSpec;
use crate::testing::*;
use k8s_openapi::api::apps::v1::{DaemonSetSpec, DaemonSetUpdateStrategy, RollingUpdateDaemonSet};
use k8s_openapi::api::core::v1::{NodeSpec, Pod, PodCondition, PodStatus, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

fn node(name: &str, labels_: &[(&str, &str)], taints: &[(&str, &str)]) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels(labels_)),
            ..Default::default()
        },
        spec: Some(NodeSpec {
            taints: Some(
                taints
                    .iter()
                    .map(|(k, e)| Taint {
                        key: (*k).into(),
                        effect: (*e).into(),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        status: None,
    }
}

fn ds(name: &str) -> DaemonSet {
    DaemonSet {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("kube-system".into()),
            uid: Some(format!("uid-{name}")),
            generation: Some(1),
            ..Default::default()
        },
        spec: Some(DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(labels(&[("app", name)])),
                ..Default::default()
            },
            template: template(name, "agent:1"),
            ..Default::default()
        }),
        status: None,
    }
}

fn creates(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .flat_map(|s| match s {
            Step::CreatePods(v) => v
                .iter()
                .filter_map(|p| fit::target_node(&CachedPodSpec::from(p.spec.clone()?)))
                .collect(),
            _ => Vec::new(),
        })
        .collect()
}

fn deletes(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .flat_map(|s| match s {
            Step::DeletePods(v) => v.clone(),
            _ => Vec::new(),
        })
        .collect()
}

/// A daemon pod of `d` on `node`, ready since t(1).
fn daemon_pod(d: &DaemonSet, name: &str, node_name: &str, hash: &str) -> CachedPod {
    let mut p = pod(name)
        .label("app", d.metadata.name.as_deref().unwrap())
        .label(REVISION_LABEL, hash)
        .owner(
            "DaemonSet",
            d.metadata.name.as_deref().unwrap(),
            d.metadata.uid.as_deref().unwrap(),
        )
        .node(node_name)
        .ready_since(t(1))
        .build();
    p.metadata.namespace = d.metadata.namespace.clone();
    p
}

fn observe<'a>(d: &'a DaemonSet, nodes: &'a [Node], pods: &'a [CachedPod]) -> Observed<'a> {
    Observed {
        daemon_set: d,
        nodes: nodes.iter().collect(),
        pods: pods.iter().collect(),
        revisions: vec![],
        now: t(100),
    }
}

#[test]
fn one_pod_per_eligible_node_pinned_by_affinity_with_daemon_tolerations() {
    let mut d = ds("agent");
    d.spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .node_selector = Some(labels(&[("disk", "ssd")]));
    let nodes = [
        node("n1", &[("disk", "ssd")], &[]),
        node("n2", &[("disk", "hdd")], &[]),
        node(
            "n3",
            &[("disk", "ssd")],
            &[("node.kubernetes.io/unschedulable", "NoSchedule")],
        ),
    ];
    let steps = plan(&observe(&d, &nodes, &[]));
    assert_eq!(
        creates(&steps),
        ["n1", "n3"],
        "cordoned nodes are tolerated, hdd is not selected"
    );
    let Some(Step::CreatePods(ps)) = steps.iter().find(|s| matches!(s, Step::CreatePods(_))) else {
        panic!()
    };
    let spec = ps[0].spec.as_ref().unwrap();
    let tols: Vec<(&str, &str)> = spec
        .tolerations
        .iter()
        .flatten()
        .map(|t| (t.key.as_deref().unwrap(), t.effect.as_deref().unwrap()))
        .collect();
    assert!(tols.contains(&("node.kubernetes.io/not-ready", "NoExecute")));
    assert!(tols.contains(&("node.kubernetes.io/unreachable", "NoExecute")));
    let m = ps[0].metadata.as_ref().unwrap();
    assert_eq!(m.generate_name.as_deref(), Some("agent-"));
    assert!(m.labels.as_ref().unwrap().contains_key(REVISION_LABEL));
    assert!(steps.iter().any(|s| matches!(s, Step::CreateRevision(_))));
    let Some(Step::Status(st)) = steps.iter().find(|s| matches!(s, Step::Status(_))) else {
        panic!()
    };
    assert_eq!(
        (
            st.desired_number_scheduled,
            st.current_number_scheduled,
            st.number_unavailable
        ),
        (2, 0, Some(2))
    );
}

#[test]
fn untolerated_taints_keep_pods_off_and_no_execute_evicts_them() {
    let d = ds("agent");
    let nodes = [
        node("n1", &[], &[("dedicated", "NoSchedule")]),
        node("n2", &[], &[("dedicated", "NoExecute")]),
    ];
    let pods = [
        daemon_pod(&d, "agent-a", "n1", "h"),
        daemon_pod(&d, "agent-b", "n2", "h"),
    ];
    let steps = plan(&observe(&d, &nodes, &pods));
    assert!(creates(&steps).is_empty());
    assert_eq!(
        deletes(&steps),
        ["agent-b"],
        "NoSchedule lets the running pod stay, NoExecute does not"
    );
    let Some(Step::Status(st)) = steps.iter().find(|s| matches!(s, Step::Status(_))) else {
        panic!()
    };
    assert_eq!(
        (st.desired_number_scheduled, st.number_misscheduled),
        (0, 2)
    );
}

#[test]
fn failed_pods_are_killed_and_pods_on_vanished_nodes_removed() {
    let d = ds("agent");
    let nodes = [node("n1", &[], &[])];
    let mut failed = daemon_pod(&d, "agent-a", "n1", "h");
    failed.status.as_mut().unwrap().phase = Some("Failed".into());
    let gone = daemon_pod(&d, "agent-b", "n9", "h");
    let steps = plan(&observe(&d, &nodes, &[failed, gone]));
    assert_eq!(deletes(&steps), ["agent-a", "agent-b"]);
    assert!(steps.iter().any(|s| matches!(s, Step::Event(e) if e.reason == FAILED_DAEMON_POD_REASON
        && e.message == "Found failed daemon pod kube-system/agent-a on node n1, will try to kill it")));
}

#[test]
fn duplicate_pods_on_a_node_keep_only_the_oldest() {
    let d = ds("agent");
    let nodes = [node("n1", &[], &[])];
    let a = daemon_pod(&d, "agent-a", "n1", "h");
    let mut b = daemon_pod(&d, "agent-b", "n1", "h");
    b.metadata.creation_timestamp = Some(Time(t(5)));
    assert_eq!(deletes(&plan(&observe(&d, &nodes, &[a, b]))), ["agent-b"]);
}

/// Nodes, pods that turn ready a tick after creation, and the planner.
struct World {
    d: DaemonSet,
    nodes: Vec<Node>,
    pods: Vec<Pod>,
    revisions: Vec<ControllerRevision>,
    now: i64,
    uid: u64,
}

impl World {
    fn tick(&mut self) -> bool {
        self.now += 1;
        let now = t(self.now);
        for p in &mut self.pods {
            let st = p.status.get_or_insert_with(PodStatus::default);
            if st.phase.is_none() {
                st.phase = Some("Running".into());
                st.conditions = Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    last_transition_time: Some(Time(now)),
                    ..Default::default()
                }]);
            }
        }
        let cached: Vec<CachedPod> = self.pods.iter().map(CachedPod::from).collect();
        let steps = plan(&Observed {
            daemon_set: &self.d,
            nodes: self.nodes.iter().collect(),
            pods: cached.iter().collect(),
            revisions: self.revisions.iter().collect(),
            now,
        });
        let mut changed = false;
        for s in steps {
            match s {
                Step::CreateRevision(r) => self.revisions.push(*r),
                Step::DeleteRevisions(names) => self
                    .revisions
                    .retain(|r| !names.contains(r.metadata.name.as_ref().unwrap())),
                Step::CreatePods(ts) => {
                    for tpl in ts {
                        self.uid += 1;
                        let m = tpl.metadata.clone().unwrap();
                        let mut spec = tpl.spec.clone().unwrap();
                        spec.node_name = fit::target_node(&CachedPodSpec::from(spec.clone()));
                        self.pods.push(Pod {
                            metadata: ObjectMeta {
                                name: Some(format!("agent-{}", self.uid)),
                                namespace: Some("kube-system".into()),
                                uid: Some(format!("p{}", self.uid)),
                                creation_timestamp: Some(Time(now)),
                                ..m
                            },
                            spec: Some(spec),
                            status: None,
                        });
                    }
                    changed = true;
                }
                Step::DeletePods(names) => {
                    self.pods
                        .retain(|p| !names.contains(p.metadata.name.as_ref().unwrap()));
                    changed = true;
                }
                Step::Status(st) => self.d.status = Some(*st),
                _ => {}
            }
        }
        changed
    }

    fn available_nodes(&self) -> usize {
        let mut nodes: Vec<String> = self
            .pods
            .iter()
            .filter(|p| crate::pods::is_available(&CachedPod::from(*p), 0, t(self.now)))
            .filter_map(|p| p.spec.as_ref()?.node_name.clone())
            .collect();
        nodes.sort();
        nodes.dedup();
        nodes.len()
    }

    fn images(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .pods
            .iter()
            .filter_map(|p| p.spec.as_ref()?.containers.first()?.image.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

#[test]
fn rolling_updates_stay_within_max_unavailable_or_max_surge() {
    for (surge, unavailable) in [("0", "1"), ("0", "50%"), ("1", "0"), ("50%", "0")] {
        let nodes: Vec<Node> = (0..4).map(|i| node(&format!("n{i}"), &[], &[])).collect();
        let mut d = ds("agent");
        d.spec.as_mut().unwrap().update_strategy = Some(DaemonSetUpdateStrategy {
            type_: Some("RollingUpdate".into()),
            rolling_update: Some(RollingUpdateDaemonSet {
                max_surge: Some(
                    surge
                        .parse()
                        .map(IntOrString::Int)
                        .unwrap_or(IntOrString::String(surge.into())),
                ),
                max_unavailable: Some(
                    unavailable
                        .parse()
                        .map(IntOrString::Int)
                        .unwrap_or(IntOrString::String(unavailable.into())),
                ),
            }),
        });
        let mut w = World {
            d,
            nodes,
            pods: vec![],
            revisions: vec![],
            now: 0,
            uid: 0,
        };
        while w.tick() {}
        assert_eq!(w.pods.len(), 4);
        w.d.spec
            .as_mut()
            .unwrap()
            .template
            .spec
            .as_mut()
            .unwrap()
            .containers[0]
            .image = Some("agent:2".into());
        w.d.metadata.generation = Some(2);
        let (max_surge, max_unavailable) = match (surge, unavailable) {
            ("0", "1") => (0, 1),
            ("0", _) => (0, 2),
            ("1", _) => (1, 0),
            _ => (2, 0),
        };
        let mut ticks = 0;
        loop {
            let changed = w.tick();
            assert!(
                w.pods.len() <= 4 + max_surge,
                "{surge}/{unavailable}: {} pods",
                w.pods.len()
            );
            assert!(
                w.available_nodes() + max_unavailable >= 4,
                "{surge}/{unavailable}: {} available",
                w.available_nodes()
            );
            ticks += 1;
            assert!(ticks < 100, "no convergence");
            if !changed && w.images() == ["agent:2"] && w.available_nodes() == 4 {
                break;
            }
        }
        let st = w.d.status.clone().unwrap();
        assert_eq!(
            (
                st.updated_number_scheduled,
                st.number_available,
                st.number_ready
            ),
            (Some(4), Some(4), 4)
        );
    }
}
