//! ReplicaSet planner tests.

use super::*;
use crate::testing::*;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

fn observe<'a>(rs: &'a ReplicaSet, pods: &'a [CachedPod], now: Timestamp) -> Observed<'a> {
    Observed {
        replica_set: rs,
        pods: pods.iter().collect(),
        related_pods: Vec::new(),
        now,
    }
}

/// Applies the pod steps to `pods` the way the API server would.
fn apply(rs: &ReplicaSet, pods: &mut Vec<CachedPod>, steps: &[Step]) {
    for s in steps {
        match s {
            Step::CreatePods { count, template } => {
                let m = template.metadata.clone().unwrap_or_default();
                for i in 0..*count {
                    let name = format!(
                        "{}{}{}",
                        m.generate_name.clone().unwrap_or_default(),
                        pods.len(),
                        i
                    );
                    pods.push(CachedPod {
                        metadata: ObjectMeta {
                            name: Some(name.clone()),
                            namespace: rs.metadata.namespace.clone(),
                            uid: Some(format!("uid-{name}")),
                            generate_name: None,
                            ..m.clone()
                        },
                        spec: template.spec.clone().map(Into::into),
                        status: None,
                    });
                }
            }
            Step::DeletePods(names) => {
                pods.retain(|p| !names.contains(p.metadata.name.as_ref().unwrap()))
            }
            Step::AdoptPods(names) => {
                for p in pods
                    .iter_mut()
                    .filter(|p| names.contains(p.metadata.name.as_ref().unwrap()))
                {
                    p.metadata.owner_references = Some(vec![crate::ownership::controller_ref(
                        "apps/v1",
                        "ReplicaSet",
                        &rs.metadata,
                    )]);
                }
            }
            Step::ReleasePods(names) => {
                for p in pods
                    .iter_mut()
                    .filter(|p| names.contains(p.metadata.name.as_ref().unwrap()))
                {
                    p.metadata.owner_references = None;
                }
            }
            Step::Status(_) | Step::RequeueAfter(_) => {}
        }
    }
}

fn creates(steps: &[Step]) -> u32 {
    steps
        .iter()
        .map(|s| match s {
            Step::CreatePods { count, .. } => *count,
            _ => 0,
        })
        .sum()
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

fn status(steps: &[Step]) -> Option<&ReplicaSetStatus> {
    steps.iter().find_map(|s| match s {
        Step::Status(st) => Some(st),
        _ => None,
    })
}

#[test]
fn creates_missing_pods_from_the_template_with_a_controller_reference() {
    let web = rs("web").replicas(3).build();
    let steps = plan(&observe(&web, &[], t(10)));
    let Some(Step::CreatePods { count, template }) = steps.first() else {
        panic!("expected a create first: {steps:?}");
    };
    assert_eq!(*count, 3);
    let m = template.metadata.as_ref().unwrap();
    assert_eq!(m.generate_name.as_deref(), Some("web-"));
    assert_eq!(m.labels.as_ref().unwrap()["app"], "web");
    let owner = &m.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("ReplicaSet", "uid-web", Some(true))
    );
    assert_eq!(status(&steps).unwrap().observed_generation, Some(1));
}

#[test]
fn scale_down_removes_unscheduled_pods_first() {
    let web = rs("web").replicas(2).build();
    let pods = vec![
        pod("web-a").owned_by_rs(&web).ready_since(t(5)).build(),
        pod("web-b").owned_by_rs(&web).build(),
        pod("web-c").owned_by_rs(&web).node("n2").running().build(),
    ];
    let steps = plan(&observe(&web, &pods, t(100)));
    assert_eq!(deletes(&steps), ["web-b"]);
    assert_eq!(creates(&steps), 0);
}

#[test]
fn matching_orphans_are_adopted_and_count_toward_replicas() {
    let web = rs("web").replicas(2).build();
    let pods = vec![
        pod("stray").label("app", "web").ready_since(t(5)).build(),
        pod("web-a").owned_by_rs(&web).ready_since(t(5)).build(),
    ];
    let steps = plan(&observe(&web, &pods, t(100)));
    assert_eq!(steps[0], Step::AdoptPods(vec!["stray".into()]));
    assert_eq!(creates(&steps), 0);
    assert_eq!(status(&steps).unwrap().ready_replicas, Some(2));
}

#[test]
fn pods_that_stopped_matching_are_released_and_replaced() {
    let web = rs("web").replicas(1).build();
    let pods = vec![pod("web-a").label("app", "debug").owned_by_rs(&web).build()];
    let steps = plan(&observe(&web, &pods, t(100)));
    assert_eq!(steps[0], Step::ReleasePods(vec!["web-a".into()]));
    assert_eq!(creates(&steps), 1);
}

#[test]
fn terminal_and_deleting_pods_are_replaced_and_not_counted() {
    let web = rs("web").replicas(3).build();
    let pods = vec![
        pod("web-a").owned_by_rs(&web).failed().build(),
        pod("web-b").owned_by_rs(&web).succeeded().build(),
        pod("web-c").owned_by_rs(&web).running().deleting().build(),
        pod("web-d").owned_by_rs(&web).running().build(),
    ];
    let steps = plan(&observe(&web, &pods, t(100)));
    assert_eq!(creates(&steps), 2);
    assert_eq!(status(&steps).unwrap().replicas, 1);
}

#[test]
fn creates_and_deletes_are_capped_at_the_burst_size() {
    let web = rs("web").replicas(2000).build();
    assert_eq!(creates(&plan(&observe(&web, &[], t(1)))), 500);
    let small = rs("web").replicas(0).build();
    let pods: Vec<CachedPod> = (0..600)
        .map(|i| pod(&format!("p{i}")).owned_by_rs(&small).build())
        .collect();
    assert_eq!(deletes(&plan(&observe(&small, &pods, t(1)))).len(), 500);
}

#[test]
fn a_replica_set_being_deleted_only_reports_status() {
    let web = rs("web").replicas(3).deleting().build();
    let steps = plan(&observe(&web, &[], t(1)));
    assert_eq!(creates(&steps), 0);
    assert!(status(&steps).is_some());
}

#[test]
fn available_replicas_wait_for_min_ready_seconds_and_a_requeue_is_asked() {
    let web = rs("web").replicas(2).min_ready(30).build();
    let pods = vec![
        pod("web-a").owned_by_rs(&web).ready_since(t(0)).build(),
        pod("web-b").owned_by_rs(&web).ready_since(t(90)).build(),
    ];
    let steps = plan(&observe(&web, &pods, t(100)));
    let st = status(&steps).unwrap();
    assert_eq!(
        (st.replicas, st.ready_replicas, st.available_replicas),
        (2, Some(2), Some(1))
    );
    assert_eq!(
        steps.last(),
        Some(&Step::RequeueAfter(Duration::from_secs(21)))
    );
}

#[test]
fn fully_labeled_replicas_count_pods_with_every_template_label() {
    let mut web = rs("web").replicas(2).build();
    if let Some(t) = web.spec.as_mut().and_then(|s| s.template.as_mut()) {
        t.metadata
            .as_mut()
            .unwrap()
            .labels
            .as_mut()
            .unwrap()
            .insert("tier".into(), "fe".into());
    }
    let pods = [
        pod("web-a").owned_by_rs(&web).build(),
        pod("web-b")
            .label("app", "web")
            .owner("ReplicaSet", "web", "uid-web")
            .build(),
    ];
    let st = calculate_status(&web, &pods.iter().collect::<Vec<_>>(), None, t(1));
    assert_eq!(st.fully_labeled_replicas, Some(1));
}

#[test]
fn a_failed_create_is_reported_as_replica_failure_and_cleared_after() {
    let web = rs("web").replicas(2).build();
    let err = ManageError {
        message: "pods \"web-x\" is forbidden: exceeded quota".into(),
    };
    let st = calculate_status(&web, &[], Some(&err), t(1));
    let cond = &st.conditions.as_ref().unwrap()[0];
    assert_eq!(
        (cond.type_.as_str(), cond.reason.as_deref()),
        ("ReplicaFailure", Some("FailedCreate"))
    );
    let mut failed = web.clone();
    failed.status = Some(st);
    let cleared = calculate_status(&failed, &[], None, t(2));
    assert_eq!(cleared.conditions, None);
}

#[test]
fn planning_again_after_the_steps_changes_nothing() {
    for (replicas, existing) in [(3, 0), (1, 4), (5, 2), (0, 3)] {
        let web = rs("web").replicas(replicas).build();
        let mut pods: Vec<CachedPod> = (0..existing)
            .map(|i| {
                pod(&format!("web-{i}"))
                    .owned_by_rs(&web)
                    .ready_since(t(1))
                    .build()
            })
            .collect();
        pods.push(pod("orphan").label("app", "web").build());
        let steps = plan(&observe(&web, &pods, t(50)));
        apply(&web, &mut pods, &steps);
        let mut after = web.clone();
        after.status = status(&steps).cloned().or(after.status);
        let again = plan(&observe(&after, &pods, t(50)));
        assert_eq!(
            creates(&again),
            0,
            "replicas {replicas} existing {existing}: {again:?}"
        );
        assert!(deletes(&again).is_empty());
        assert!(!again
            .iter()
            .any(|s| matches!(s, Step::AdoptPods(_) | Step::ReleasePods(_))));
    }
}

#[test]
fn unchanged_status_is_not_written_again() {
    let web = rs("web").replicas(1).build();
    let pods = vec![pod("web-a").owned_by_rs(&web).ready_since(t(1)).build()];
    let steps = plan(&observe(&web, &pods, t(50)));
    let mut after = web.clone();
    after.status = status(&steps).cloned();
    assert!(plan(&observe(&after, &pods, t(60))).is_empty());
}

#[test]
fn replication_controllers_select_by_map_and_own_pods_as_v1() {
    use k8s_openapi::api::core::v1::{ReplicationController, ReplicationControllerSpec};
    let rc = ReplicationController {
        metadata: ObjectMeta {
            name: Some("legacy".into()),
            namespace: Some("default".into()),
            uid: Some("rc-uid".into()),
            generation: Some(2),
            ..Default::default()
        },
        spec: Some(ReplicationControllerSpec {
            replicas: Some(2),
            selector: None,
            template: Some(template("legacy", "nginx")),
            min_ready_seconds: None,
        }),
        status: None,
    };
    let owned = pod("legacy-a")
        .label("app", "legacy")
        .owner("ReplicationController", "legacy", "rc-uid")
        .build();
    let steps = rc::plan(&rc::Observed {
        controller: &rc,
        pods: vec![&owned],
        now: t(1),
    });
    let rc::Step::CreatePods { count, template } = &steps[0] else {
        panic!("{steps:?}")
    };
    assert_eq!(*count, 1);
    let owner = &template
        .metadata
        .as_ref()
        .unwrap()
        .owner_references
        .as_ref()
        .unwrap()[0];
    assert_eq!(
        (owner.api_version.as_str(), owner.kind.as_str()),
        ("v1", "ReplicationController")
    );
    let rc::Step::Status(st) = &steps[1] else {
        panic!("{steps:?}")
    };
    assert_eq!((st.replicas, st.observed_generation), (1, Some(2)));
}
