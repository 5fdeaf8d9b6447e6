//! Counting finished pods (upstream `trackJobStatusAndRemoveFinalizers` and friends): a
//! terminated pod's uid goes to `uncountedTerminatedPods`, its finalizer is removed, then it
//! moves into `succeeded`/`failed`; the terminal condition comes last.

use std::collections::{BTreeMap, BTreeSet};

use crate::cached_pod::CachedPod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::indexed::{self, Intervals};
use super::policy::{self, Action};
use super::*;

/// Whether the pod still carries the Job tracking finalizer.
pub fn has_tracking_finalizer(pod: &CachedPod) -> bool {
    pod.metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == TRACKING_FINALIZER)
}

fn uid(p: &CachedPod) -> String {
    p.metadata.uid.clone().unwrap_or_default()
}

impl<'a> Sync<'a> {
    /// Upstream `onlyReplaceFailedPods`: podReplacementPolicy Failed, or a pod failure policy.
    pub(crate) fn only_replace_failed_pods(&self) -> bool {
        let spec = self.job.spec.as_ref();
        spec.and_then(|s| s.pod_replacement_policy.as_deref()) == Some("Failed")
            || spec.is_some_and(|s| s.pod_failure_policy.is_some())
    }

    /// Upstream `isPodFailed`: Failed, or (unless only failed pods are replaced) deleted
    /// before succeeding.
    pub(crate) fn is_pod_failed(&self, p: &CachedPod) -> bool {
        if pods::phase(p) == pods::PHASE_FAILED {
            return true;
        }
        if self.only_replace_failed_pods() {
            return false;
        }
        p.metadata.deletion_timestamp.is_some() && pods::phase(p) != pods::PHASE_SUCCEEDED
    }

    fn valid_index(&self, p: &CachedPod) -> bool {
        !self.is_indexed()
            || indexed::completion_index(p).is_some_and(|i| i < self.completions().unwrap_or(0))
    }

    /// Upstream `getNewFinishedPods`: finished pods with the finalizer not yet in the
    /// uncounted lists.
    pub(crate) fn new_finished_pods(&self) -> (Vec<&'a CachedPod>, Vec<&'a CachedPod>) {
        let pick =
            |uncounted: &BTreeSet<String>, f: &dyn Fn(&CachedPod) -> bool| -> Vec<&'a CachedPod> {
                self.pods
                    .iter()
                    .copied()
                    .filter(|p| {
                        has_tracking_finalizer(p)
                            && !uncounted.contains(&uid(p))
                            && self.valid_index(p)
                            && f(p)
                    })
                    .collect()
            };
        (
            pick(&self.uncounted_succeeded, &|p| {
                pods::phase(p) == pods::PHASE_SUCCEEDED
            }),
            pick(&self.uncounted_failed, &|p| self.is_pod_failed(p)),
        )
    }

    /// Upstream `calculateSucceededIndexes` and `calculateFailedIndexes`.
    pub(crate) fn calculate_indexes(&mut self) {
        let completions = self.completions().unwrap_or(0);
        let st = self.job.status.clone().unwrap_or_default();
        self.prev_succeeded_indexes = Intervals::parse(
            st.completed_indexes.as_deref().unwrap_or_default(),
            completions,
        );
        let new: Vec<i32> = self
            .pods
            .iter()
            .filter(|p| pods::phase(p) == pods::PHASE_SUCCEEDED && has_tracking_finalizer(p))
            .filter_map(|p| indexed::completion_index(p))
            .filter(|i| *i < completions)
            .collect();
        self.succeeded_indexes = self.prev_succeeded_indexes.with(new);
        if self.has_backoff_limit_per_index() {
            let prev = Intervals::parse(
                st.failed_indexes.as_deref().unwrap_or_default(),
                completions,
            );
            let new: Vec<i32> = self
                .pods
                .iter()
                .filter(|p| has_tracking_finalizer(p) && self.is_index_failed(p))
                .filter_map(|p| indexed::completion_index(p))
                .filter(|i| *i < completions)
                .collect();
            self.failed_indexes = Some(prev.with(new));
        }
    }

    /// Upstream `isIndexFailed`: a FailIndex rule matched, or counted failures of the index
    /// reached backoffLimitPerIndex.
    fn is_index_failed(&self, p: &CachedPod) -> bool {
        if !self.is_pod_failed(p) {
            return false;
        }
        let spec = self.spec();
        let m = policy::match_pod_failure_policy(spec.pod_failure_policy.as_ref(), p);
        if m.action == Some(Action::FailIndex) {
            return true;
        }
        m.count_failed
            && indexed::index_failure_count(p) >= spec.backoff_limit_per_index.unwrap_or(0)
    }

    /// Upstream `getPodsWithDelayedDeletionPerIndex`: per pending index, the last failed pod,
    /// kept (finalizer and all) until its replacement carries the failure count.
    pub(crate) fn pods_with_delayed_deletion(&self) -> BTreeMap<i32, &'a CachedPod> {
        let mut out: BTreeMap<i32, &CachedPod> = BTreeMap::new();
        if self.job.metadata.deletion_timestamp.is_some() {
            return out;
        }
        let completions = self.completions().unwrap_or(0);
        let abs = |p: &CachedPod| {
            indexed::index_failure_count(p) + indexed::index_ignored_failure_count(p)
        };
        for &p in &self.pods {
            if !self.is_pod_failed(p) {
                continue;
            }
            let Some(i) = indexed::completion_index(p).filter(|i| *i < completions) else {
                continue;
            };
            if self.succeeded_indexes.has(i)
                || self.failed_indexes.as_ref().is_some_and(|f| f.has(i))
            {
                continue;
            }
            match out.get(&i) {
                Some(prev) if abs(prev) > abs(p) => {}
                _ => {
                    out.insert(i, p);
                }
            }
        }
        out
    }

    /// Upstream `canRemoveFinalizer`.
    fn can_remove_finalizer(&self, p: &CachedPod, failed: bool) -> bool {
        if self.job.metadata.deletion_timestamp.is_some()
            || self.finished.is_some()
            || pods::phase(p) == pods::PHASE_SUCCEEDED
        {
            return true;
        }
        if !failed {
            return false;
        }
        if self.has_backoff_limit_per_index() {
            if let Some(i) = indexed::completion_index(p) {
                if self.delayed.get(&i).is_some_and(|d| uid(d) == uid(p)) {
                    return false;
                }
            }
        }
        true
    }

    /// Upstream `trackJobStatusAndRemoveFinalizers` with `flushUncountedAndRemoveFinalizers`
    /// and `enactJobFinished`, as steps: status with new uncounted uids (and interim
    /// condition), finalizer removals, then status with counters (and terminal condition).
    pub(crate) fn track_status_and_remove_finalizers(&mut self, mut needs_flush: bool) {
        let indexed_job = self.is_indexed();
        let completions = self.completions().unwrap_or(0);
        let mut pods_list = self.pods.clone();
        if indexed_job {
            pods_list.sort_by_key(|p| indexed::completion_index(p).unwrap_or(-1));
        }
        let mut with_finalizer: BTreeSet<String> = pods_list
            .iter()
            .filter(|p| has_tracking_finalizer(p))
            .map(|p| uid(p))
            .collect();
        if self.clean_uncounted(&with_finalizer) {
            needs_flush = true;
        }
        let spec = self.spec();
        let mut to_remove: Vec<&CachedPod> = Vec::new();
        let mut new_succeeded_indexes: Vec<i32> = Vec::new();
        let mut uncounted = self
            .status_mut()
            .uncounted_terminated_pods
            .clone()
            .unwrap_or_default();
        let mut reached_max = false;
        let finished_failure = self
            .finished
            .as_ref()
            .is_some_and(|c| c.type_ != SUCCESS_CRITERIA_MET);
        for &p in &pods_list {
            if !has_tracking_finalizer(p) {
                continue;
            }
            let failed = self.is_pod_failed(p);
            if !self.can_remove_finalizer(p, failed) {
                continue;
            }
            to_remove.push(p);
            let u = uid(p);
            if pods::phase(p) == pods::PHASE_SUCCEEDED && !self.uncounted_failed.contains(&u) {
                if indexed_job {
                    if let Some(ix) = indexed::completion_index(p) {
                        if ix < completions && !self.prev_succeeded_indexes.has(ix) {
                            new_succeeded_indexes.push(ix);
                            needs_flush = true;
                        }
                    }
                } else if !self.uncounted_succeeded.contains(&u) {
                    needs_flush = true;
                    uncounted.succeeded.get_or_insert_with(Vec::new).push(u);
                }
            } else if failed || finished_failure {
                let ix_ok =
                    !indexed_job || indexed::completion_index(p).is_some_and(|i| i < completions);
                if !self.uncounted_failed.contains(&u) && ix_ok {
                    let counts =
                        policy::match_pod_failure_policy(spec.pod_failure_policy.as_ref(), p)
                            .count_failed;
                    if counts {
                        needs_flush = true;
                        uncounted.failed.get_or_insert_with(Vec::new).push(u);
                    }
                }
            }
            let n = new_succeeded_indexes.len()
                + uncounted.succeeded.as_ref().map_or(0, Vec::len)
                + uncounted.failed.as_ref().map_or(0, Vec::len);
            if n >= MAX_UNCOUNTED_PODS {
                reached_max = true;
                break;
            }
        }
        self.status_mut().uncounted_terminated_pods = Some(uncounted);
        if indexed_job {
            self.succeeded_indexes = self.succeeded_indexes.with(new_succeeded_indexes);
            let s = self.succeeded_indexes.to_string();
            let total = self.succeeded_indexes.total();
            let failed_str = self.failed_indexes.as_ref().map(|f| f.to_string());
            let st = self.status_mut();
            if st.completed_indexes.clone().unwrap_or_default() != s {
                needs_flush = true;
            }
            st.succeeded = Some(total);
            st.completed_indexes = Some(s);
            if st.failed_indexes != failed_str {
                st.failed_indexes = failed_str;
                needs_flush = true;
            }
        }
        if let Some(f) = self.finished.clone() {
            if f.type_ == FAILURE_TARGET {
                self.status_mut()
                    .conditions
                    .get_or_insert_with(Vec::new)
                    .push(f.clone());
                needs_flush = true;
                self.finished = Some(new_condition(
                    FAILED,
                    "True",
                    f.reason.as_deref().unwrap_or_default(),
                    f.message.as_deref().unwrap_or_default(),
                    self.now,
                ));
            } else if f.type_ == SUCCESS_CRITERIA_MET {
                if find_condition(&self.job, SUCCESS_CRITERIA_MET).is_none() {
                    self.status_mut()
                        .conditions
                        .get_or_insert_with(Vec::new)
                        .push(f.clone());
                    needs_flush = true;
                }
                self.finished = Some(new_condition(
                    COMPLETE,
                    "True",
                    f.reason.as_deref().unwrap_or_default(),
                    f.message.as_deref().unwrap_or_default(),
                    self.now,
                ));
            }
        }

        // Flush, remove finalizers, count (the driver stops at the first failure and we plan
        // again from what it left).
        let before = normalized(self.obs.job.status.clone().unwrap_or_default());
        let mut flushed = before.clone();
        if needs_flush && !to_remove.is_empty() {
            flushed = normalized(self.job.status.clone().unwrap_or_default());
            if flushed != before {
                self.steps.push(Step::Status(Box::new(flushed.clone())));
            }
            needs_flush = false;
        }
        if !to_remove.is_empty() {
            self.steps
                .push(Step::RemoveFinalizers(ownership::names(&to_remove)));
            for p in &to_remove {
                with_finalizer.remove(&uid(p));
            }
        }
        if self.clean_uncounted(&with_finalizer) {
            needs_flush = true;
        }
        if !reached_max && self.enact_finished() {
            needs_flush = true;
        }
        let after = normalized(self.job.status.clone().unwrap_or_default());
        let _ = needs_flush;
        if after != flushed {
            self.steps.push(Step::Status(Box::new(after)));
        }
        self.steps.append(
            &mut std::mem::take(&mut self.events)
                .into_iter()
                .map(Step::Event)
                .collect(),
        );
        if let Some(d) = self.requeue {
            self.steps.push(Step::RequeueAfter(d));
        }
    }

    /// Upstream `cleanUncountedPodsWithoutFinalizers`: uncounted uids whose pod lost its
    /// finalizer move into the counters.
    fn clean_uncounted(&mut self, with_finalizer: &BTreeSet<String>) -> bool {
        let st = self.status_mut();
        let mut u = st.uncounted_terminated_pods.clone().unwrap_or_default();
        let mut changed = false;
        for (list, counter) in [
            (&mut u.succeeded, &mut st.succeeded),
            (&mut u.failed, &mut st.failed),
        ] {
            let before = list.as_ref().map_or(0, Vec::len);
            if let Some(l) = list.as_mut() {
                l.retain(|x| with_finalizer.contains(x));
            }
            let after = list.as_ref().map_or(0, Vec::len);
            if after != before {
                changed = true;
                *counter = Some(counter.unwrap_or(0).saturating_add((before - after) as i32));
            }
        }
        st.uncounted_terminated_pods = Some(u);
        changed
    }

    /// Upstream `enactJobFinished`: once nothing is uncounted and no pod is terminating, add
    /// Complete (with completionTime) or Failed.
    fn enact_finished(&mut self) -> bool {
        let Some(f) = self.finished.clone() else {
            return false;
        };
        let st = self.job.status.clone().unwrap_or_default();
        let u = st.uncounted_terminated_pods.unwrap_or_default();
        if u.succeeded.as_ref().map_or(0, Vec::len) + u.failed.as_ref().map_or(0, Vec::len) > 0 {
            return false;
        }
        if self.terminating > 0 {
            return false;
        }
        let now = self.now;
        let conds = self.status_mut().conditions.get_or_insert_with(Vec::new);
        ensure_condition(
            conds,
            &f.type_,
            &f.status,
            f.reason.as_deref().unwrap_or_default(),
            f.message.as_deref().unwrap_or_default(),
            now,
        );
        if f.type_ == COMPLETE {
            self.status_mut().completion_time = Some(Time(now));
            let succeeded = self
                .job
                .status
                .as_ref()
                .and_then(|s| s.succeeded)
                .unwrap_or(0);
            if self.completions().is_some_and(|c| succeeded > c) {
                self.events.push(Event::warning(
                    "TooManySucceededPods",
                    "Too many succeeded pods running after completion count reached",
                ));
            }
            self.events
                .push(Event::normal("Completed", "Job completed"));
        } else {
            self.events.push(Event::warning(
                f.reason.as_deref().unwrap_or_default(),
                f.message.clone().unwrap_or_default(),
            ));
        }
        true
    }

    /// Upstream's backoff record, derived from the pods still present: failures finished after
    /// the last success, and when the last of them finished.
    pub(crate) fn backoff_remaining(&self) -> Duration {
        let finish = |p: &CachedPod| finished_time(p);
        let last_success = self
            .pods
            .iter()
            .filter(|p| pods::phase(p) == pods::PHASE_SUCCEEDED)
            .filter_map(|p| finish(p))
            .max();
        let failures: Vec<i128> = self
            .pods
            .iter()
            .filter(|p| self.is_pod_failed(p))
            .filter_map(|p| finish(p))
            .filter(|t| last_success.is_none_or(|s| *t > s))
            .collect();
        remaining_backoff(
            failures.len() as i32,
            failures.iter().max().copied(),
            pods::nanos(self.obs.now),
        )
    }
}

/// Upstream `getFinishedTime`: the latest container finish, else the Ready=False transition,
/// else deletion time minus grace, else creation (nanoseconds since the epoch).
pub(crate) fn finished_time(p: &CachedPod) -> Option<i128> {
    let st = p.status.as_ref();
    let mut latest: Option<i128> = None;
    let mut all_done = true;
    for cs in st
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
    {
        match cs
            .state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .and_then(|t| t.finished_at.as_ref())
        {
            Some(t) => latest = Some(latest.map_or(pods::nanos(t.0), |l| l.max(pods::nanos(t.0)))),
            None => all_done = false,
        }
    }
    if all_done {
        if let Some(l) = latest {
            return Some(l);
        }
    }
    if let Some(t) = pods::not_ready_since(p) {
        return Some(pods::nanos(t));
    }
    if let Some(d) = p.metadata.deletion_timestamp.as_ref() {
        let grace = p.metadata.deletion_grace_period_seconds.unwrap_or(0);
        return Some(pods::nanos(d.0) - i128::from(grace) * 1_000_000_000);
    }
    p.metadata
        .creation_timestamp
        .as_ref()
        .map(|t| pods::nanos(t.0))
}

/// Upstream `getRemainingTimeForFailuresCount`: 10s doubling per failure up to 10 minutes,
/// minus the time since the last failure.
pub(crate) fn remaining_backoff(failures: i32, last_failure: Option<i128>, now: i128) -> Duration {
    let Some(last) = last_failure else {
        return Duration::ZERO;
    };
    if failures <= 0 {
        return Duration::ZERO;
    }
    let mut backoff = i128::from(DEFAULT_POD_FAILURE_BACKOFF_SECS) * 1_000_000_000;
    let max = i128::from(MAX_POD_FAILURE_BACKOFF_SECS) * 1_000_000_000;
    for _ in 1..failures {
        backoff *= 2;
        if backoff >= max {
            backoff = max;
            break;
        }
    }
    let elapsed = now - last;
    if backoff < elapsed {
        return Duration::ZERO;
    }
    nanos_to_duration(backoff - elapsed)
}

/// The status as upstream's JSON carries it (zero counters unset, empty uid lists unset).
pub(crate) fn normalized(mut st: JobStatus) -> JobStatus {
    let z = |v: Option<i32>| v.filter(|x| *x != 0);
    st.active = z(st.active);
    st.succeeded = z(st.succeeded);
    st.failed = z(st.failed);
    if st.completed_indexes.as_deref() == Some("") {
        st.completed_indexes = None;
    }
    if let Some(u) = st.uncounted_terminated_pods.as_mut() {
        if u.succeeded.as_ref().is_some_and(Vec::is_empty) {
            u.succeeded = None;
        }
        if u.failed.as_ref().is_some_and(Vec::is_empty) {
            u.failed = None;
        }
    }
    if st.conditions.as_ref().is_some_and(Vec::is_empty) {
        st.conditions = None;
    }
    st
}
