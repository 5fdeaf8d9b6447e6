//! StatefulSet planner tests: single syncs and a small simulation.

use super::*;
use crate::cached_pod::CachedPodStatus;
use crate::testing::*;
use k8s_openapi::api::apps::v1::{
    RollingUpdateStatefulSetStrategy, StatefulSetPersistentVolumeClaimRetentionPolicy,
    StatefulSetSpec, StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use std::collections::BTreeMap;

fn sts(name: &str, replicas: i32) -> StatefulSet {
    StatefulSet {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(format!("uid-{name}")),
            generation: Some(1),
            ..Default::default()
        },
        spec: Some(StatefulSetSpec {
            replicas: Some(replicas),
            service_name: Some(name.into()),
            selector: LabelSelector {
                match_labels: Some(labels(&[("app", name)])),
                ..Default::default()
            },
            template: template(name, "db:1"),
            ..Default::default()
        }),
        status: None,
    }
}

fn with_claim(mut s: StatefulSet, claim: &str) -> StatefulSet {
    s.spec.as_mut().unwrap().volume_claim_templates = Some(vec![PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(claim.into()),
            ..Default::default()
        },
        ..Default::default()
    }]);
    s
}

fn set_image(s: &mut StatefulSet, image: &str) {
    s.spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .containers[0]
        .image = Some(image.into());
    s.metadata.generation = Some(s.metadata.generation.unwrap_or(1) + 1);
}

/// The cluster: pods run and turn ready one tick after creation.
#[derive(Default)]
struct World {
    pods: Vec<CachedPod>,
    /// The image of each pod's first container, by pod name (the cached pods keep none).
    images: BTreeMap<String, String>,
    revisions: Vec<ControllerRevision>,
    claims: Vec<PersistentVolumeClaim>,
    now: i64,
    created_order: Vec<String>,
    deleted_order: Vec<String>,
}

impl World {
    fn sync(&mut self, set: &mut StatefulSet) -> Vec<Step> {
        self.now += 1;
        let now = t(self.now);
        for p in &mut self.pods {
            let st = p.status.get_or_insert_with(CachedPodStatus::default);
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
        let steps = plan(&Observed {
            set,
            pods: self.pods.iter().collect(),
            revisions: self.revisions.iter().collect(),
            claims: self.claims.iter().collect(),
            now,
        });
        for s in &steps {
            match s {
                Step::CreateRevision(r) => self.revisions.push(r.as_ref().clone()),
                Step::UpdateRevision(r) => {
                    for x in self
                        .revisions
                        .iter_mut()
                        .filter(|x| x.metadata.name == r.metadata.name)
                    {
                        x.revision = r.revision;
                    }
                }
                Step::DeleteRevisions(names) => self
                    .revisions
                    .retain(|r| !names.contains(r.metadata.name.as_ref().unwrap())),
                Step::CreateClaims(cs) => self.claims.extend(cs.iter().cloned()),
                Step::CreatePod(p) => {
                    let mut p = p.as_ref().clone();
                    p.metadata.uid = p.metadata.name.clone();
                    let name = p.metadata.name.clone().unwrap();
                    let image = p.spec.as_ref().unwrap().containers[0].image.clone();
                    self.images.insert(name.clone(), image.unwrap());
                    self.created_order.push(name);
                    self.pods.push(p.into());
                }
                Step::DeletePod(n) => {
                    self.deleted_order.push(n.clone());
                    self.pods.retain(|p| p.metadata.name.as_ref() != Some(n));
                }
                Step::Status(st) => set.status = Some(st.as_ref().clone()),
                _ => {}
            }
        }
        steps
    }

    fn converge(&mut self, set: &mut StatefulSet) {
        for _ in 0..100 {
            let steps = self.sync(set);
            if steps.iter().all(|s| matches!(s, Step::RequeueAfter(_))) {
                return;
            }
        }
        panic!("no convergence: {:#?}", set.status);
    }

    fn images(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .pods
            .iter()
            .map(|p| {
                (
                    p.metadata.name.clone().unwrap(),
                    self.images[p.metadata.name.as_ref().unwrap()].clone(),
                )
            })
            .collect();
        v.sort();
        v
    }
}

#[test]
fn ordered_ready_creates_one_pod_at_a_time_in_ordinal_order() {
    let set = sts("db", 3);
    let steps = plan(&Observed {
        set: &set,
        pods: vec![],
        revisions: vec![],
        claims: vec![],
        now: t(1),
    });
    let creates: Vec<&Step> = steps
        .iter()
        .filter(|s| matches!(s, Step::CreatePod(_)))
        .collect();
    assert_eq!(creates.len(), 1);
    let Step::CreatePod(p) = creates[0] else {
        unreachable!()
    };
    assert_eq!(p.metadata.name.as_deref(), Some("db-0"));
    let spec = p.spec.as_ref().unwrap();
    assert_eq!(
        (spec.hostname.as_deref(), spec.subdomain.as_deref()),
        (Some("db-0"), Some("db"))
    );
    let l = p.metadata.labels.as_ref().unwrap();
    assert_eq!(
        (l[POD_NAME_LABEL].as_str(), l[POD_INDEX_LABEL].as_str()),
        ("db-0", "0")
    );
    assert!(l[REVISION_LABEL].starts_with("db-"));
    assert!(steps.iter().any(|s| matches!(s, Step::CreateRevision(_))));

    let mut set = set;
    let mut w = World::default();
    w.converge(&mut set);
    assert_eq!(w.created_order, ["db-0", "db-1", "db-2"]);
    let st = set.status.clone().unwrap();
    assert_eq!(
        (st.replicas, st.ready_replicas, st.current_replicas),
        (3, Some(3), Some(3))
    );
    assert_eq!(st.current_revision, st.update_revision);
}

#[test]
fn parallel_creates_every_pod_at_once() {
    let mut set = sts("db", 3);
    set.spec.as_mut().unwrap().pod_management_policy = Some("Parallel".into());
    let steps = plan(&Observed {
        set: &set,
        pods: vec![],
        revisions: vec![],
        claims: vec![],
        now: t(1),
    });
    assert_eq!(
        steps
            .iter()
            .filter(|s| matches!(s, Step::CreatePod(_)))
            .count(),
        3
    );
}

#[test]
fn claims_come_from_volume_claim_templates_before_their_pod() {
    let mut set = with_claim(sts("db", 1), "data");
    set.spec
        .as_mut()
        .unwrap()
        .persistent_volume_claim_retention_policy =
        Some(StatefulSetPersistentVolumeClaimRetentionPolicy {
            when_deleted: Some("Delete".into()),
            when_scaled: Some("Retain".into()),
        });
    let steps = plan(&Observed {
        set: &set,
        pods: vec![],
        revisions: vec![],
        claims: vec![],
        now: t(1),
    });
    let pos_claim = steps
        .iter()
        .position(|s| matches!(s, Step::CreateClaims(_)))
        .unwrap();
    let pos_pod = steps
        .iter()
        .position(|s| matches!(s, Step::CreatePod(_)))
        .unwrap();
    assert!(pos_claim < pos_pod);
    let Step::CreateClaims(cs) = &steps[pos_claim] else {
        unreachable!()
    };
    assert_eq!(cs[0].metadata.name.as_deref(), Some("data-db-0"));
    assert_eq!(cs[0].metadata.labels.as_ref().unwrap()["app"], "db");
    assert_eq!(
        cs[0].metadata.owner_references.as_ref().unwrap()[0].kind,
        "StatefulSet"
    );
    let Step::CreatePod(p) = &steps[pos_pod] else {
        unreachable!()
    };
    let vol = &p.spec.as_ref().unwrap().volumes.as_ref().unwrap()[0];
    assert_eq!(
        vol.persistent_volume_claim.as_ref().unwrap().claim_name,
        "data-db-0"
    );
}

#[test]
fn scale_down_removes_the_highest_ordinal_first_one_at_a_time() {
    let mut set = sts("db", 3);
    let mut w = World::default();
    w.converge(&mut set);
    set.spec.as_mut().unwrap().replicas = Some(1);
    w.converge(&mut set);
    assert_eq!(w.deleted_order, ["db-2", "db-1"]);
    assert_eq!(set.status.as_ref().unwrap().replicas, 1);
}

#[test]
fn rolling_update_replaces_pods_from_the_highest_ordinal_and_respects_the_partition() {
    let mut set = sts("db", 3);
    set.spec.as_mut().unwrap().update_strategy = Some(StatefulSetUpdateStrategy {
        type_: Some("RollingUpdate".into()),
        rolling_update: Some(RollingUpdateStatefulSetStrategy {
            partition: Some(1),
            max_unavailable: None,
        }),
    });
    let mut w = World::default();
    w.converge(&mut set);
    set_image(&mut set, "db:2");
    w.converge(&mut set);
    assert_eq!(w.deleted_order, ["db-2", "db-1"]);
    assert_eq!(
        w.images(),
        [
            ("db-0".into(), "db:1".into()),
            ("db-1".into(), "db:2".into()),
            ("db-2".into(), "db:2".into())
        ]
    );
    let st = set.status.clone().unwrap();
    assert_ne!(
        st.current_revision, st.update_revision,
        "partitioned: not complete"
    );
    assert_eq!(st.updated_replicas, Some(2));

    // Dropping the partition finishes the rollout.
    set.spec
        .as_mut()
        .unwrap()
        .update_strategy
        .as_mut()
        .unwrap()
        .rolling_update = None;
    w.converge(&mut set);
    let st = set.status.clone().unwrap();
    assert_eq!(st.current_revision, st.update_revision);
    assert_eq!(w.images().iter().filter(|(_, i)| i == "db:2").count(), 3);
}

#[test]
fn on_delete_waits_for_the_user_to_delete_pods() {
    let mut set = sts("db", 2);
    set.spec.as_mut().unwrap().update_strategy = Some(StatefulSetUpdateStrategy {
        type_: Some("OnDelete".into()),
        rolling_update: None,
    });
    let mut w = World::default();
    w.converge(&mut set);
    set_image(&mut set, "db:2");
    w.converge(&mut set);
    assert!(w.deleted_order.is_empty());
    w.pods
        .retain(|p| p.metadata.name.as_deref() != Some("db-1"));
    w.converge(&mut set);
    assert_eq!(
        w.images(),
        [
            ("db-0".into(), "db:1".into()),
            ("db-1".into(), "db:2".into())
        ]
    );
}

#[test]
fn going_back_to_an_old_template_renumbers_its_revision() {
    let mut set = sts("db", 1);
    let mut w = World::default();
    w.converge(&mut set);
    let first = set.status.clone().unwrap().update_revision;
    set_image(&mut set, "db:2");
    w.converge(&mut set);
    set_image(&mut set, "db:1");
    w.converge(&mut set);
    let st = set.status.clone().unwrap();
    assert_eq!(st.update_revision, first);
    assert_eq!(w.revisions.len(), 2);
    let back = w
        .revisions
        .iter()
        .find(|r| r.metadata.name == first)
        .unwrap();
    assert_eq!(back.revision, 3);
}

#[test]
fn failed_pods_are_deleted_to_be_recreated() {
    let set = sts("db", 1);
    let failed = pod("db-0")
        .label("app", "db")
        .owner("StatefulSet", "db", "uid-db")
        .failed()
        .build();
    let steps = plan(&Observed {
        set: &set,
        pods: vec![&failed],
        revisions: vec![],
        claims: vec![],
        now: t(1),
    });
    assert!(steps.contains(&Step::DeletePod("db-0".into())));
    assert!(!steps.iter().any(|s| matches!(s, Step::CreatePod(_))));
}

mod never_panics {
    use super::*;
    use k8s_openapi::api::apps::v1::StatefulSetOrdinals;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn on_any_sizes(replicas in any::<i32>(), partition in any::<i32>(), start in any::<i32>(), parallel in any::<bool>(), names in proptest::collection::vec("db-[0-9]{1,3}", 0..5)) {
            let mut set = sts("db", replicas);
            let spec = set.spec.as_mut().unwrap();
            spec.ordinals = Some(StatefulSetOrdinals { start: Some(start) });
            spec.update_strategy = Some(StatefulSetUpdateStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateStatefulSetStrategy { partition: Some(partition), max_unavailable: None }),
            });
            if parallel {
                spec.pod_management_policy = Some("Parallel".into());
            }
            let pods: Vec<CachedPod> = names.iter().map(|n| pod(n).label("app", "db").owner("StatefulSet", "db", "uid-db").ready_since(t(1)).build()).collect();
            let _ = plan(&Observed { set: &set, pods: pods.iter().collect(), revisions: vec![], claims: vec![], now: t(10) });
        }
    }
}
