//! A deterministic simulation of rolling updates: the Deployment and ReplicaSet planners run
//! against an in-memory world where pods become ready one tick after they are created.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Pod, PodCondition, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use super::util::{self, *};
use crate::cached_pod::CachedPod;
use crate::replicaset;
use crate::testing::*;
use crate::Timestamp;

/// The in-memory cluster: one Deployment, its ReplicaSets and their pods.
struct World {
    d: Deployment,
    rss: Vec<ReplicaSet>,
    pods: Vec<CachedPod>,
    /// The image of each pod's first container, by pod name (the cached pods keep none).
    images: BTreeMap<String, String>,
    now: i64,
    uid: u64,
}

impl World {
    fn new(d: Deployment) -> Self {
        World {
            d,
            rss: Vec::new(),
            pods: Vec::new(),
            images: BTreeMap::new(),
            now: 100,
            uid: 0,
        }
    }

    fn ts(&self) -> Timestamp {
        t(self.now)
    }

    fn next_uid(&mut self) -> String {
        self.uid += 1;
        format!("sim-{}", self.uid)
    }

    /// Runs the Deployment planner once and applies its steps; true when it changed a RS.
    fn sync_deployment(&mut self) -> bool {
        let steps = {
            let obs = super::Observed {
                deployment: &self.d,
                replica_sets: self.rss.iter().collect(),
                pods: self.pods.iter().collect(),
                now: self.ts(),
            };
            super::plan(&obs)
        };
        let mut changed = false;
        for s in steps {
            match s {
                super::Step::CreateReplicaSet(rs) => {
                    let mut rs = *rs;
                    rs.metadata.uid = Some(self.next_uid());
                    rs.metadata.creation_timestamp = Some(Time(self.ts()));
                    rs.metadata.generation = Some(1);
                    self.rss.push(rs);
                    changed = true;
                }
                super::Step::UpdateReplicaSet(rs) => {
                    let name = rs.metadata.name.clone();
                    if let Some(cur) = self.rss.iter_mut().find(|r| r.metadata.name == name) {
                        let spec_changed = cur.spec != rs.spec;
                        let g = cur.metadata.generation.unwrap_or(1) + i64::from(spec_changed);
                        cur.metadata.annotations = rs.metadata.annotations.clone();
                        cur.metadata.owner_references = rs.metadata.owner_references.clone();
                        cur.spec = rs.spec.clone();
                        cur.metadata.generation = Some(g);
                    }
                    changed = true;
                }
                super::Step::DeleteReplicaSet(name) => {
                    self.rss
                        .retain(|r| r.metadata.name.as_deref() != Some(name.as_str()));
                    changed = true;
                }
                super::Step::SetRevision(r) => {
                    self.d
                        .metadata
                        .annotations
                        .get_or_insert_with(BTreeMap::new)
                        .insert(REVISION_ANNOTATION.into(), r);
                }
                super::Step::Status(st) => self.d.status = Some(*st),
                super::Step::AdoptReplicaSets(_)
                | super::Step::ReleaseReplicaSets(_)
                | super::Step::Event(_)
                | super::Step::RequeueAfter(_) => {}
            }
        }
        changed
    }

    /// Runs every ReplicaSet planner once; true when pods were created or deleted.
    fn sync_replica_sets(&mut self) -> bool {
        let mut changed = false;
        for i in 0..self.rss.len() {
            let steps = {
                let obs = replicaset::Observed {
                    replica_set: &self.rss[i],
                    pods: self.pods.iter().collect(),
                    related_pods: Vec::new(),
                    now: self.ts(),
                };
                replicaset::plan(&obs)
            };
            for s in steps {
                match s {
                    replicaset::Step::CreatePods { count, template } => {
                        for _ in 0..count {
                            let uid = self.next_uid();
                            let m = template.metadata.clone().unwrap_or_default();
                            let pod = Pod {
                                metadata: ObjectMeta {
                                    name: Some(format!(
                                        "{}{uid}",
                                        m.generate_name.clone().unwrap_or_default()
                                    )),
                                    namespace: Some("default".into()),
                                    uid: Some(uid),
                                    creation_timestamp: Some(Time(self.ts())),
                                    ..m
                                },
                                spec: template.spec.clone(),
                                status: Some(PodStatus {
                                    phase: Some("Pending".into()),
                                    ..Default::default()
                                }),
                            };
                            let name = pod.metadata.name.clone().unwrap_or_default();
                            let image = pod.spec.as_ref().and_then(|s| s.containers.first());
                            if let Some(image) = image.and_then(|c| c.image.clone()) {
                                self.images.insert(name, image);
                            }
                            self.pods.push(CachedPod::from(pod));
                        }
                        changed = true;
                    }
                    replicaset::Step::DeletePods(names) => {
                        self.pods
                            .retain(|p| !names.contains(p.metadata.name.as_ref().unwrap()));
                        changed = true;
                    }
                    replicaset::Step::Status(st) => {
                        let mut st = st;
                        st.observed_generation = self.rss[i].metadata.generation;
                        self.rss[i].status = Some(st);
                    }
                    _ => {}
                }
            }
        }
        changed
    }

    /// The kubelet: pods created before this tick start and turn ready.
    fn run_pods(&mut self) {
        let now = self.ts();
        for p in &mut self.pods {
            let created = p.metadata.creation_timestamp.as_ref().map(|t| t.0);
            if created.is_some_and(|c| c < now) && crate::pods::phase(p) == "Pending" {
                let st = p.status.get_or_insert_with(Default::default);
                st.phase = Some("Running".into());
                st.conditions = Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    last_transition_time: Some(Time(now)),
                    ..Default::default()
                }]);
                p.spec.get_or_insert_with(Default::default).node_name = Some("node-1".into());
            }
        }
    }

    fn available(&self) -> i32 {
        let min_ready = min_ready_seconds(&self.d);
        self.pods
            .iter()
            .filter(|p| crate::pods::is_available(p, min_ready, self.ts()))
            .count() as i32
    }

    /// Ticks until nothing changes; checks the rollout bounds after every step.
    fn converge(&mut self, check_availability: bool) -> u32 {
        let replicas = replicas(&self.d);
        let (surge, unavailable) = (max_surge(&self.d), max_unavailable(&self.d));
        for tick in 0..500 {
            self.now += 1;
            self.run_pods();
            let d_changed = self.sync_deployment();
            let rs_changed = self.sync_replica_sets();
            let total = self.pods.len() as i32;
            assert!(
                total <= replicas + surge,
                "tick {tick}: {total} pods exceed {replicas} + {surge}"
            );
            if check_availability {
                let avail = self.available();
                assert!(
                    avail >= replicas - unavailable,
                    "tick {tick}: {avail} available < {replicas} - {unavailable}"
                );
            }
            if !d_changed && !rs_changed && self.complete() {
                return tick;
            }
        }
        panic!("did not converge: {:#?}", self.d.status);
    }

    fn complete(&self) -> bool {
        let st = self.d.status.clone().unwrap_or_default();
        get_condition(&st, PROGRESSING)
            .is_some_and(|c| c.reason.as_deref() == Some(NEW_RS_AVAILABLE_REASON))
            && st.updated_replicas == Some(replicas(&self.d))
            && st.available_replicas == Some(replicas(&self.d))
            && st.replicas == Some(replicas(&self.d))
    }

    /// Changes the template, as `kubectl set image` would.
    fn set_image(&mut self, image: &str) {
        if let Some(c) = self
            .d
            .spec
            .as_mut()
            .and_then(|s| s.template.spec.as_mut())
            .and_then(|s| s.containers.first_mut())
        {
            c.image = Some(image.into());
        }
        let g = self.d.metadata.generation.unwrap_or(1) + 1;
        self.d.metadata.generation = Some(g);
    }

    fn images(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .pods
            .iter()
            .filter_map(|p| self.images.get(p.metadata.name.as_ref()?).cloned())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

#[test]
fn rolling_updates_respect_surge_and_unavailability_and_finish_available() {
    for (replicas, surge, unavailable, min_ready) in [
        (3, "25%", "25%", 0),
        (10, "3", "2", 0),
        (5, "0", "1", 0),
        (5, "1", "0", 2),
        (1, "25%", "25%", 0),
        (7, "50%", "0%", 3),
    ] {
        let d = deployment("web")
            .replicas(replicas)
            .max_surge(surge)
            .max_unavailable(unavailable)
            .min_ready(min_ready)
            .build();
        let mut w = World::new(d);
        w.converge(false);
        for image in ["nginx:2", "nginx:3"] {
            w.set_image(image);
            w.converge(true);
            assert_eq!(w.images(), [image], "only {image} pods remain");
        }
        let st = w.d.status.clone().unwrap();
        assert_eq!(get_condition(&st, AVAILABLE).unwrap().status, "True");
        assert_eq!(
            w.rss.len(),
            3,
            "all revisions kept within the history limit"
        );
        assert_eq!(
            w.d.metadata.annotations.as_ref().unwrap()[REVISION_ANNOTATION],
            "3"
        );
        // Converged: another round plans nothing that changes the world.
        assert!(!w.sync_deployment() && !w.sync_replica_sets());
    }
}

#[test]
fn rollback_returns_to_the_first_replica_set_as_revision_three() {
    let mut w = World::new(deployment("web").replicas(4).build());
    w.converge(false);
    let first = w.rss[0].metadata.name.clone();
    w.set_image("nginx:2");
    w.converge(true);
    w.set_image("nginx:1");
    w.converge(true);
    assert_eq!(
        w.rss.len(),
        2,
        "no third ReplicaSet: the first one is reused"
    );
    let back = w.rss.iter().find(|r| r.metadata.name == first).unwrap();
    assert_eq!(util::rs_replicas(back), 4);
    let a = back.metadata.annotations.as_ref().unwrap();
    assert_eq!(
        (
            a[REVISION_ANNOTATION].as_str(),
            a[REVISION_HISTORY_ANNOTATION].as_str()
        ),
        ("3", "1")
    );
    assert_eq!(w.images(), ["nginx:1"]);
}

#[test]
fn recreate_never_runs_old_and_new_pods_together() {
    let mut w = World::new(deployment("web").replicas(3).recreate().build());
    w.converge(false);
    w.set_image("nginx:2");
    for _ in 0..50 {
        w.now += 1;
        w.run_pods();
        w.sync_deployment();
        w.sync_replica_sets();
        assert!(w.images().len() <= 1, "mixed pods: {:?}", w.images());
        if w.complete() && w.images() == ["nginx:2"] {
            return;
        }
    }
    panic!("recreate did not finish");
}

#[test]
fn history_is_trimmed_to_the_revision_history_limit() {
    let mut w = World::new(deployment("web").replicas(2).history(1).build());
    w.converge(false);
    for image in ["b", "c", "d"] {
        w.set_image(image);
        w.converge(true);
        w.converge(true);
    }
    assert_eq!(w.rss.len(), 2, "the new ReplicaSet and one old one");
}
