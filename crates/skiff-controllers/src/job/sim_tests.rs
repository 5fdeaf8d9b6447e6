//! A simulated cluster for Jobs: pods start a tick after creation and exit a tick later.

use super::tracking::has_tracking_finalizer;
use super::*;
use crate::cached_pod::{CachedContainerStatus, CachedPodStatus};
use crate::testing::*;
use k8s_openapi::api::core::v1::{ContainerState, ContainerStateTerminated, Pod, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

fn cond<'a>(st: &'a JobStatus, type_: &str) -> Option<&'a JobCondition> {
    st.conditions.iter().flatten().find(|c| c.type_ == type_)
}

fn observe<'a>(job: &'a Job, pods: &'a [CachedPod], now: Timestamp) -> Observed<'a> {
    Observed {
        job,
        pods: pods.iter().collect(),
        now,
    }
}

/// A tiny cluster: pods start one tick after creation and exit one tick later; the first
/// `failures` pods fail with exit code 1.
struct World {
    job: Job,
    pods: Vec<CachedPod>,
    now: i64,
    uid: u64,
    failures: usize,
    max_active: usize,
}

impl World {
    fn tick(&mut self) -> Vec<Step> {
        self.now += 1;
        let now = t(self.now);
        for p in &mut self.pods {
            let created = p.metadata.creation_timestamp.as_ref().unwrap().0;
            let st = p.status.get_or_insert_with(CachedPodStatus::default);
            match st.phase.as_deref() {
                Some("Pending") if created < now => st.phase = Some("Running".into()),
                Some("Running")
                    if p.metadata.deletion_timestamp.is_some()
                        || self.failures > 0
                        || created.as_second() + 2 < self.now =>
                {
                    let fail = p.metadata.deletion_timestamp.is_some() || self.failures > 0;
                    if self.failures > 0 && p.metadata.deletion_timestamp.is_none() {
                        self.failures -= 1;
                    }
                    st.phase = Some(if fail { "Failed" } else { "Succeeded" }.into());
                    st.container_statuses = Some(vec![CachedContainerStatus {
                        name: "main".into(),
                        state: Some(ContainerState {
                            terminated: Some(ContainerStateTerminated {
                                exit_code: i32::from(fail),
                                finished_at: Some(Time(now)),
                                ..Default::default()
                            }),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }]);
                }
                _ => {}
            }
        }
        let steps = plan(&observe(&self.job, &self.pods, now));
        for s in &steps {
            match s {
                Step::CreatePods(ts) => {
                    for tpl in ts {
                        self.uid += 1;
                        let m = tpl.metadata.clone().unwrap();
                        let name = format!("{}{}", m.generate_name.clone().unwrap(), self.uid);
                        self.pods.push(CachedPod::from(Pod {
                            metadata: ObjectMeta {
                                name: Some(name),
                                namespace: Some("default".into()),
                                uid: Some(format!("p{}", self.uid)),
                                creation_timestamp: Some(Time(now)),
                                ..m
                            },
                            spec: tpl.spec.clone(),
                            status: Some(PodStatus {
                                phase: Some("Pending".into()),
                                ..Default::default()
                            }),
                        }));
                    }
                }
                Step::DeletePods(names) => self
                    .pods
                    .retain(|p| !names.contains(p.metadata.name.as_ref().unwrap())),
                Step::DeleteActivePods(names) => {
                    for p in self
                        .pods
                        .iter_mut()
                        .filter(|p| names.contains(p.metadata.name.as_ref().unwrap()))
                    {
                        p.metadata.deletion_timestamp = Some(Time(now));
                    }
                }
                Step::RemoveFinalizers(names) => {
                    for p in self
                        .pods
                        .iter_mut()
                        .filter(|p| names.contains(p.metadata.name.as_ref().unwrap()))
                    {
                        p.metadata.finalizers = None;
                    }
                    self.pods.retain(|p| {
                        p.metadata.deletion_timestamp.is_none() || has_tracking_finalizer(p)
                    });
                }
                Step::Status(st) => self.job.status = Some(st.as_ref().clone()),
                _ => {}
            }
        }
        let active = self
            .pods
            .iter()
            .filter(|p| crate::pods::is_active(p))
            .count();
        self.max_active = self.max_active.max(active);
        steps
    }

    fn run(job: Job, failures: usize) -> World {
        let mut w = World {
            job,
            pods: Vec::new(),
            now: 0,
            uid: 0,
            failures,
            max_active: 0,
        };
        for _ in 0..2000 {
            w.tick();
            if is_finished(&w.job) {
                let again = w.tick();
                assert!(again.is_empty(), "a finished Job plans nothing: {again:?}");
                return w;
            }
        }
        panic!("job never finished: {:#?}", w.job.status);
    }
}

#[test]
fn simulated_jobs_run_to_completion_within_parallelism() {
    for (completions, parallelism, indexed) in
        [(5, 2, false), (3, 3, false), (6, 4, true), (1, 1, true)]
    {
        let mut b = job("sim")
            .completions(Some(completions))
            .parallelism(parallelism);
        if indexed {
            b = b.indexed();
        }
        let w = World::run(b.build(), 2);
        let st = w.job.status.clone().unwrap();
        assert!(cond(&st, COMPLETE).is_some(), "{st:#?}");
        assert_eq!(st.succeeded, Some(completions));
        assert_eq!(st.failed, Some(2));
        assert!(w.max_active <= parallelism as usize);
        assert!(
            w.pods.iter().all(|p| !has_tracking_finalizer(p)),
            "every finalizer removed"
        );
        if indexed {
            assert_eq!(
                st.completed_indexes.as_deref(),
                Some(format!("0-{}", completions - 1).as_str())
                    .filter(|_| completions > 1)
                    .or(Some("0"))
            );
        }
    }
}

#[test]
fn a_simulated_job_with_too_many_failures_fails() {
    let w = World::run(
        job("sim")
            .completions(Some(3))
            .parallelism(1)
            .backoff_limit(2)
            .build(),
        10,
    );
    let st = w.job.status.clone().unwrap();
    assert_eq!(
        cond(&st, FAILED).unwrap().reason.as_deref(),
        Some(REASON_BACKOFF_LIMIT_EXCEEDED)
    );
    assert_eq!(st.failed, Some(3));
}
