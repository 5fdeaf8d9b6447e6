//! Upstream `manageJob`: delete surplus pods (or all, when suspended) and create missing ones,
//! with pod-failure backoff and, for Indexed Jobs, one pod per pending index.

use std::collections::BTreeMap;

use crate::cached_pod::CachedPod;
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, PodTemplateSpec};

use super::indexed;
use super::policy;
use super::tracking::remaining_backoff;
use super::*;

impl<'a> Sync<'a> {
    /// Upstream `manageJob`; returns the new active count.
    pub(crate) fn manage_job(&mut self) -> i32 {
        let spec = self.spec();
        let mut active = self.active.len() as i32;
        let parallelism = spec.parallelism.unwrap_or(1).max(0);
        if self.suspended() {
            let doomed = self.active_pods_for_removal(self.active.len());
            return self.delete_job_pods(active, doomed);
        }
        let want = match spec.completions {
            None => {
                if self.succeeded > 0 {
                    active
                } else {
                    parallelism
                }
            }
            Some(c) => c.saturating_sub(self.succeeded).min(parallelism).max(0),
        };
        let rm_at_least = usize::try_from((active - want).max(0)).unwrap_or(0);
        let mut doomed = self.active_pods_for_removal(rm_at_least);
        doomed.truncate(MAX_POD_CREATE_DELETE_PER_SYNC);
        if !doomed.is_empty() {
            return self.delete_job_pods(active, doomed);
        }
        let terminating = if self.only_replace_failed_pods() {
            self.terminating
        } else {
            0
        };
        let mut diff = want.saturating_sub(terminating).saturating_sub(active);
        if diff <= 0 {
            return active;
        }
        if !self.has_backoff_limit_per_index() {
            let wait = self.backoff_remaining();
            if !wait.is_zero() {
                self.requeue_after(wait);
                return active;
            }
        }
        diff = diff.min(MAX_POD_CREATE_DELETE_PER_SYNC as i32);
        let mut indexes: Vec<i32> = Vec::new();
        if self.is_indexed() {
            let completions = self.completions().unwrap_or(0);
            let running: Vec<i32> = self
                .active
                .iter()
                .filter_map(|p| indexed::completion_index(p))
                .collect();
            let mut busy = self.succeeded_indexes.with(running);
            if let Some(f) = &self.failed_indexes {
                busy = busy.with(f.indexes());
            }
            indexes =
                indexed::first_pending(&busy, usize::try_from(diff).unwrap_or(0), completions);
            if self.has_backoff_limit_per_index() {
                let (now_ok, wait) = self.indexes_ready_to_create(&indexes);
                if now_ok.is_empty() {
                    if let Some(w) = wait {
                        self.requeue_after(w);
                    }
                    return active;
                }
                indexes = now_ok;
            }
            diff = indexes.len() as i32;
        }
        if diff <= 0 {
            return active;
        }
        let templates = self.pod_templates(diff, &indexes);
        self.steps.push(Step::CreatePods(templates));
        active += diff;
        active
    }

    /// Upstream `deleteJobPods` as a step; returns the new active count.
    fn delete_job_pods(&mut self, active: i32, doomed: Vec<&CachedPod>) -> i32 {
        if doomed.is_empty() {
            return active;
        }
        let ready = doomed.iter().filter(|p| pods::is_ready(p)).count() as i32;
        self.steps.push(Step::DeletePods(ownership::names(&doomed)));
        self.terminating += doomed.len() as i32;
        self.ready -= ready;
        active - doomed.len() as i32
    }

    /// Upstream `activePodsForRemoval`: for Indexed Jobs first the pods without a valid index
    /// and the duplicates of an index, then the cheapest active pods.
    fn active_pods_for_removal(&self, at_least: usize) -> Vec<&'a CachedPod> {
        let mut rm: Vec<&CachedPod> = Vec::new();
        let mut left: Vec<&CachedPod> = Vec::new();
        if self.is_indexed() {
            let completions = self.completions().unwrap_or(0);
            let mut by_index: BTreeMap<i32, Vec<&CachedPod>> = BTreeMap::new();
            for &p in &self.active {
                match indexed::completion_index(p) {
                    Some(i) if i < completions => by_index.entry(i).or_default().push(p),
                    _ => rm.push(p),
                }
            }
            for (_, mut group) in by_index {
                pods::sort_active_pods(&mut group);
                if let Some(keep) = group.pop() {
                    rm.extend(group);
                    left.push(keep);
                }
            }
        } else {
            left = self.active.clone();
        }
        if rm.len() < at_least {
            pods::sort_active_pods(&mut left);
            let more = at_least - rm.len();
            rm.extend(left.into_iter().take(more));
        }
        rm
    }

    /// Upstream `getPodCreationInfoForIndependentIndexes`: the indexes whose per-index backoff
    /// has passed, or how long until the first one does.
    fn indexes_ready_to_create(&self, indexes: &[i32]) -> (Vec<i32>, Option<Duration>) {
        let now = pods::nanos(self.obs.now);
        let mut ok = Vec::new();
        let mut min_wait: Option<Duration> = None;
        for &i in indexes {
            let wait = match self.delayed.get(&i) {
                None => Duration::ZERO,
                Some(p) => {
                    let count = indexed::index_failure_count(p)
                        + indexed::index_ignored_failure_count(p)
                        + 1;
                    remaining_backoff(count, super::tracking::finished_time(p), now)
                }
            };
            if wait.is_zero() {
                ok.push(i);
            } else {
                min_wait = Some(min_wait.map_or(wait, |m| m.min(wait)));
            }
        }
        (ok, min_wait)
    }

    /// The pods to create: the Job's template with its labels, the tracking finalizer and a
    /// controller reference; Indexed pods get their index (annotation, label, env, hostname).
    fn pod_templates(&self, count: i32, indexes: &[i32]) -> Vec<PodTemplateSpec> {
        let spec = self.spec();
        let name = self.job.metadata.name.clone().unwrap_or_default();
        let uid = self.job.metadata.uid.clone().unwrap_or_default();
        let mut base = spec.template.clone();
        let meta = base.metadata.get_or_insert_with(Default::default);
        let labels = meta.labels.get_or_insert_with(BTreeMap::new);
        for (k, v) in [
            (CONTROLLER_UID_LABEL, &uid),
            (JOB_NAME_LABEL, &name),
            (LEGACY_CONTROLLER_UID_LABEL, &uid),
            (LEGACY_JOB_NAME_LABEL, &name),
        ] {
            labels.entry(k.to_string()).or_insert_with(|| v.clone());
        }
        let fins = meta.finalizers.get_or_insert_with(Vec::new);
        if !fins.iter().any(|f| f == TRACKING_FINALIZER) {
            fins.push(TRACKING_FINALIZER.into());
        }
        if self.is_indexed() {
            add_completion_index_env(&mut base);
        }
        let owner = ownership::controller_ref("batch/v1", "Job", &self.job.metadata);
        if indexes.is_empty() {
            let t = pods::pod_template_for(&base, format!("{name}-"), owner);
            return (0..count).map(|_| t.clone()).collect();
        }
        indexes
            .iter()
            .map(|&i| {
                let mut t = base.clone();
                let m = t.metadata.get_or_insert_with(Default::default);
                m.annotations
                    .get_or_insert_with(BTreeMap::new)
                    .insert(indexed::COMPLETION_INDEX_ANNOTATION.into(), i.to_string());
                m.labels
                    .get_or_insert_with(BTreeMap::new)
                    .insert(indexed::COMPLETION_INDEX_ANNOTATION.into(), i.to_string());
                if self.has_backoff_limit_per_index() {
                    let (failures, ignored) =
                        self.new_index_failure_counts(self.delayed.get(&i).copied());
                    let a = m.annotations.get_or_insert_with(BTreeMap::new);
                    a.insert(
                        indexed::INDEX_FAILURE_COUNT_ANNOTATION.into(),
                        failures.to_string(),
                    );
                    if ignored > 0 {
                        a.insert(
                            indexed::INDEX_IGNORED_FAILURE_COUNT_ANNOTATION.into(),
                            ignored.to_string(),
                        );
                    }
                }
                if let Some(s) = t.spec.as_mut() {
                    s.hostname = Some(format!("{name}-{i}"));
                }
                pods::pod_template_for(&t, format!("{name}-{i}-"), owner.clone())
            })
            .collect()
    }

    /// Upstream `getNewIndexFailureCounts`: the replaced pod's counts plus its own failure.
    fn new_index_failure_counts(&self, replaced: Option<&CachedPod>) -> (i32, i32) {
        let Some(p) = replaced else { return (0, 0) };
        let (mut f, mut ig) = (
            indexed::index_failure_count(p),
            indexed::index_ignored_failure_count(p),
        );
        let spec = self.spec();
        if policy::match_pod_failure_policy(spec.pod_failure_policy.as_ref(), p).count_failed {
            f += 1;
        } else {
            ig += 1;
        }
        (f, ig)
    }
}

/// Upstream `addCompletionIndexEnvVariables`: `JOB_COMPLETION_INDEX` from the index label.
fn add_completion_index_env(t: &mut PodTemplateSpec) {
    let Some(spec) = t.spec.as_mut() else { return };
    let containers = spec
        .init_containers
        .iter_mut()
        .flatten()
        .chain(spec.containers.iter_mut());
    for c in containers {
        let env = c.env.get_or_insert_with(Vec::new);
        if env.iter().any(|e| e.name == indexed::COMPLETION_INDEX_ENV) {
            continue;
        }
        env.push(EnvVar {
            name: indexed::COMPLETION_INDEX_ENV.into(),
            value: None,
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    api_version: None,
                    field_path: format!(
                        "metadata.labels['{}']",
                        indexed::COMPLETION_INDEX_ANNOTATION
                    ),
                }),
                ..Default::default()
            }),
        });
    }
}
