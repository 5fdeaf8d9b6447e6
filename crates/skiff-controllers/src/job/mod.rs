//! The Job planner (upstream `pkg/controller/job`, plus the TTL-after-finished controller):
//! run pods to `completions` at `parallelism`, count finished pods through the tracking
//! finalizer and `uncountedTerminatedPods`, apply backoff, deadlines, the pod failure and
//! success policies, Indexed completion, suspend, and delete the Job when its TTL expires.

pub mod indexed;
mod manage;
pub mod policy;
mod tracking;
mod ttl;

#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus, UncountedTerminatedPods};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};

use crate::cached_pod::CachedPod;
use crate::event::Event;
use crate::ownership::{self, Selector};
use crate::pods;
use crate::Timestamp;
use indexed::Intervals;
pub(crate) use ttl::nanos_to_duration;

/// Field manager and event source (upstream's controller name).
pub const CONTROLLER_NAME: &str = "job-controller";
/// The value of `spec.managedBy` this controller serves (unset means the same).
pub const MANAGED_BY: &str = "kubernetes.io/job-controller";
/// Upstream `batch.JobTrackingFinalizer`: kept on pods until they are counted.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
/// Upstream `batch.JobNameLabel`.
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
/// Upstream `batch.ControllerUidLabel`.
pub const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
/// Upstream `batch.LegacyJobNameLabel`.
pub const LEGACY_JOB_NAME_LABEL: &str = "job-name";
/// Upstream `batch.LegacyControllerUidLabel`.
pub const LEGACY_CONTROLLER_UID_LABEL: &str = "controller-uid";

/// Upstream `MaxPodCreateDeletePerSync`.
pub const MAX_POD_CREATE_DELETE_PER_SYNC: usize = 500;
/// Upstream `MaxUncountedPods`.
pub const MAX_UNCOUNTED_PODS: usize = 500;
/// Upstream `DefaultJobPodFailureBackOff` (seconds).
pub const DEFAULT_POD_FAILURE_BACKOFF_SECS: i64 = 10;
/// Upstream `MaxJobPodFailureBackOff` (seconds).
pub const MAX_POD_FAILURE_BACKOFF_SECS: i64 = 600;
/// The API default of `spec.backoffLimit`.
pub const DEFAULT_BACKOFF_LIMIT: i32 = 6;

/// Condition types.
pub const COMPLETE: &str = "Complete";
/// Failed
pub const FAILED: &str = "Failed";
/// FailureTarget: the Job will fail once its pods are gone.
pub const FAILURE_TARGET: &str = "FailureTarget";
/// SuccessCriteriaMet: the Job will complete once its pods are gone.
pub const SUCCESS_CRITERIA_MET: &str = "SuccessCriteriaMet";
/// Suspended
pub const SUSPENDED: &str = "Suspended";

/// Upstream `batch.JobReasonBackoffLimitExceeded`.
pub const REASON_BACKOFF_LIMIT_EXCEEDED: &str = "BackoffLimitExceeded";
/// Upstream `batch.JobReasonDeadlineExceeded`.
pub const REASON_DEADLINE_EXCEEDED: &str = "DeadlineExceeded";
/// Upstream `batch.JobReasonPodFailurePolicy`.
pub const REASON_POD_FAILURE_POLICY: &str = "PodFailurePolicy";
/// Upstream `batch.JobReasonMaxFailedIndexesExceeded`.
pub const REASON_MAX_FAILED_INDEXES_EXCEEDED: &str = "MaxFailedIndexesExceeded";
/// Upstream `batch.JobReasonFailedIndexes`.
pub const REASON_FAILED_INDEXES: &str = "FailedIndexes";
/// Upstream `batch.JobReasonSuccessPolicy`.
pub const REASON_SUCCESS_POLICY: &str = "SuccessPolicy";
/// Upstream `batch.JobReasonCompletionsReached`.
pub const REASON_COMPLETIONS_REACHED: &str = "CompletionsReached";

/// Everything the Job planner may look at, gathered from caches by the driver.
#[derive(Clone, Debug)]
pub struct Observed<'a> {
    /// The Job being reconciled.
    pub job: &'a Job,
    /// Pods of its namespace: at least those its selector matches and those it controls.
    pub pods: Vec<&'a CachedPod>,
    /// The time of this sync.
    pub now: Timestamp,
}

/// One thing the driver must do, in order; the planner never performs it.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Set our controller reference (and the tracking finalizer) on these orphan pods.
    AdoptPods(Vec<String>),
    /// Remove our controller reference (and the tracking finalizer) from these pods.
    ReleasePods(Vec<String>),
    /// Create one pod per template (metadata carries generateName, labels, annotations, the
    /// tracking finalizer and the controller reference), in slow-start batches.
    CreatePods(Vec<PodTemplateSpec>),
    /// Remove the tracking finalizer from these pods, then delete them (surplus pods, or
    /// all pods of a suspended Job).
    DeletePods(Vec<String>),
    /// Delete these pods keeping their finalizer (the Job is finishing; they are counted as
    /// failed afterwards).
    DeleteActivePods(Vec<String>),
    /// Write this status through the status subresource.
    Status(Box<JobStatus>),
    /// Remove the tracking finalizer from these pods (now recorded in the status).
    RemoveFinalizers(Vec<String>),
    /// Delete the Job, propagation Foreground: ttlSecondsAfterFinished has passed.
    DeleteJob,
    /// Record this event on the Job.
    Event(Event),
    /// Sync again after this long (backoff, deadlines, TTL).
    RequeueAfter(Duration),
}

/// Whether the Job has a Complete or Failed condition that is True.
pub fn is_finished(job: &Job) -> bool {
    finished_condition(job).is_some()
}

fn finished_condition(job: &Job) -> Option<&JobCondition> {
    job.status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| (c.type_ == COMPLETE || c.type_ == FAILED) && c.status == "True")
}

fn find_condition<'a>(job: &'a Job, type_: &str) -> Option<&'a JobCondition> {
    job.status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == type_ && c.status == "True")
}

/// The selector: `spec.selector`, or the controller-uid label the API server would add.
pub fn selector(job: &Job) -> Option<Selector> {
    match job.spec.as_ref().and_then(|s| s.selector.as_ref()) {
        Some(s) => Selector::from_label_selector(s),
        None => {
            let uid = job.metadata.uid.clone()?;
            Selector::from_label_selector(&LabelSelector {
                match_labels: Some([(CONTROLLER_UID_LABEL.to_string(), uid)].into()),
                match_expressions: None,
            })
        }
    }
}

/// Pure: one `syncJob` (or the TTL check of a finished Job) as steps.
pub fn plan(obs: &Observed<'_>) -> Vec<Step> {
    let job = obs.job;
    if is_finished(job) {
        return ttl::ttl_steps(job, obs.now);
    }
    let Some(spec) = job.spec.as_ref() else {
        return Vec::new();
    };
    if spec.managed_by.as_deref().is_some_and(|m| m != MANAGED_BY) {
        return Vec::new();
    }
    if let Some(mode) = spec.completion_mode.as_deref() {
        if mode != "NonIndexed" && mode != "Indexed" {
            return vec![Step::Event(Event::warning(
                "UnknownCompletionMode",
                "Skipped Job sync because completion mode is unknown",
            ))];
        }
    }
    let Some(sel) = selector(job) else {
        return Vec::new();
    };
    if sel.is_empty() {
        return Vec::new();
    }
    let claim = ownership::claim(&job.metadata, &sel, &obs.pods);
    let mut steps = Vec::new();
    if !claim.adopt.is_empty() {
        steps.push(Step::AdoptPods(ownership::names(&claim.adopt)));
    }
    if !claim.release.is_empty() {
        steps.push(Step::ReleasePods(ownership::names(&claim.release)));
    }
    let mut ctx = Sync::new(obs, claim.claimed);
    ctx.sync_job();
    steps.extend(ctx.steps);
    steps
}

pub(crate) fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> JobCondition {
    JobCondition {
        type_: type_.into(),
        status: status.into(),
        reason: (!reason.is_empty()).then(|| reason.into()),
        message: (!message.is_empty()).then(|| message.into()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// Upstream `ensureJobConditionStatus`: update a condition whose status, reason or message
/// differ; add one only when its status is not False. True when the list changed.
pub(crate) fn ensure_condition(
    list: &mut Vec<JobCondition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> bool {
    let cond = new_condition(type_, status, reason, message, now);
    if let Some(c) = list.iter_mut().find(|c| c.type_ == type_) {
        if c.status != cond.status || c.reason != cond.reason || c.message != cond.message {
            *c = cond;
            return true;
        }
        return false;
    }
    if status != "False" {
        list.push(cond);
        return true;
    }
    false
}

/// The working state of one sync (upstream `syncJobCtx`).
pub(crate) struct Sync<'a> {
    pub(crate) obs: &'a Observed<'a>,
    pub(crate) job: Job,
    pub(crate) pods: Vec<&'a CachedPod>,
    pub(crate) active: Vec<&'a CachedPod>,
    pub(crate) ready: i32,
    pub(crate) terminating: i32,
    pub(crate) uncounted_succeeded: BTreeSet<String>,
    pub(crate) uncounted_failed: BTreeSet<String>,
    pub(crate) succeeded: i32,
    pub(crate) failed: i32,
    pub(crate) prev_succeeded_indexes: Intervals,
    pub(crate) succeeded_indexes: Intervals,
    pub(crate) failed_indexes: Option<Intervals>,
    pub(crate) delayed: std::collections::BTreeMap<i32, &'a CachedPod>,
    pub(crate) finished: Option<JobCondition>,
    pub(crate) now: Timestamp,
    pub(crate) steps: Vec<Step>,
    pub(crate) events: Vec<Event>,
    pub(crate) requeue: Option<Duration>,
}

impl<'a> Sync<'a> {
    fn new(obs: &'a Observed<'a>, pods: Vec<&'a CachedPod>) -> Self {
        let mut job = obs.job.clone();
        let st = job.status.get_or_insert_with(Default::default);
        let uncounted = st
            .uncounted_terminated_pods
            .get_or_insert_with(UncountedTerminatedPods::default)
            .clone();
        let active: Vec<&CachedPod> = pods
            .iter()
            .copied()
            .filter(|p| pods::is_active(p))
            .collect();
        Sync {
            obs,
            ready: active.iter().filter(|p| pods::is_ready(p)).count() as i32,
            terminating: pods.iter().filter(|p| pods::is_terminating(p)).count() as i32,
            active,
            pods,
            job,
            uncounted_succeeded: uncounted.succeeded.into_iter().flatten().collect(),
            uncounted_failed: uncounted.failed.into_iter().flatten().collect(),
            succeeded: 0,
            failed: 0,
            prev_succeeded_indexes: Intervals::default(),
            succeeded_indexes: Intervals::default(),
            failed_indexes: None,
            delayed: Default::default(),
            finished: None,
            now: Timestamp::from_second(obs.now.as_second()).unwrap_or(obs.now),
            steps: Vec::new(),
            events: Vec::new(),
            requeue: None,
        }
    }

    pub(crate) fn spec(&self) -> k8s_openapi::api::batch::v1::JobSpec {
        self.job.spec.clone().unwrap_or_default()
    }

    pub(crate) fn status_mut(&mut self) -> &mut JobStatus {
        self.job.status.get_or_insert_with(Default::default)
    }

    pub(crate) fn is_indexed(&self) -> bool {
        self.job
            .spec
            .as_ref()
            .and_then(|s| s.completion_mode.as_deref())
            == Some("Indexed")
    }

    pub(crate) fn suspended(&self) -> bool {
        self.job
            .spec
            .as_ref()
            .and_then(|s| s.suspend)
            .unwrap_or(false)
    }

    /// `completions` for Indexed Jobs (always set there), else as given.
    pub(crate) fn completions(&self) -> Option<i32> {
        self.job.spec.as_ref().and_then(|s| s.completions)
    }

    pub(crate) fn has_backoff_limit_per_index(&self) -> bool {
        self.is_indexed()
            && self
                .job
                .spec
                .as_ref()
                .and_then(|s| s.backoff_limit_per_index)
                .is_some()
    }

    pub(crate) fn requeue_after(&mut self, d: Duration) {
        self.requeue = Some(self.requeue.map_or(d, |r| r.min(d)));
    }

    /// Upstream `syncJob` after the early returns.
    fn sync_job(&mut self) {
        let spec = self.spec();
        let (new_succeeded, new_failed) = self.new_finished_pods();
        let uncounted_s = self.uncounted_succeeded.len() as i32;
        let uncounted_f = self.uncounted_failed.len() as i32;
        let st = self.job.status.clone().unwrap_or_default();
        self.succeeded = st
            .succeeded
            .unwrap_or(0)
            .saturating_add(new_succeeded.len() as i32)
            .saturating_add(uncounted_s);
        let non_ignored = new_failed
            .iter()
            .filter(|p| {
                policy::match_pod_failure_policy(spec.pod_failure_policy.as_ref(), p).count_failed
            })
            .count() as i32;
        self.failed = st
            .failed
            .unwrap_or(0)
            .saturating_add(non_ignored)
            .saturating_add(uncounted_f);

        if st.start_time.is_none() && !self.suspended() {
            self.status_mut().start_time = Some(Time(self.now));
        }

        let backoff_limit = spec.backoff_limit.unwrap_or(DEFAULT_BACKOFF_LIMIT);
        self.finished = find_condition(&self.job, SUCCESS_CRITERIA_MET).cloned();
        if self.finished.is_none() {
            if let Some(ft) = find_condition(&self.job, FAILURE_TARGET) {
                self.finished = Some(new_condition(
                    FAILED,
                    "True",
                    ft.reason.as_deref().unwrap_or_default(),
                    ft.message.as_deref().unwrap_or_default(),
                    self.now,
                ));
            } else if let Some(msg) = self.fail_job_message() {
                self.finished = Some(new_condition(
                    FAILURE_TARGET,
                    "True",
                    REASON_POD_FAILURE_POLICY,
                    &msg,
                    self.now,
                ));
            }
        }
        if self.finished.is_none() {
            if self.failed > backoff_limit || self.past_backoff_limit_on_failure(backoff_limit) {
                self.finished = Some(self.failure(
                    REASON_BACKOFF_LIMIT_EXCEEDED,
                    "Job has reached the specified backoff limit",
                ));
            } else if self.past_active_deadline() {
                self.finished = Some(self.failure(
                    REASON_DEADLINE_EXCEEDED,
                    "Job was active longer than specified deadline",
                ));
            } else if let (Some(ads), false) = (spec.active_deadline_seconds, self.suspended()) {
                if let Some(start) = self.job.status.as_ref().and_then(|s| s.start_time.as_ref()) {
                    let due = pods::nanos(start.0) + i128::from(ads) * 1_000_000_000;
                    self.requeue_after(nanos_to_duration(due - pods::nanos(self.obs.now)));
                }
            }
        }
        if self.is_indexed() {
            self.calculate_indexes();
            self.succeeded = self.succeeded_indexes.total();
            if self.has_backoff_limit_per_index() {
                let failed_total = self.failed_indexes.as_ref().map_or(0, Intervals::total);
                let completions = self.completions().unwrap_or(0);
                if self.finished.is_none() {
                    if spec.max_failed_indexes.is_some_and(|m| failed_total > m) {
                        self.finished = Some(self.failure(
                            REASON_MAX_FAILED_INDEXES_EXCEEDED,
                            "Job has exceeded the specified maximal number of failed indexes",
                        ));
                    } else if failed_total > 0
                        && failed_total + self.succeeded_indexes.total() >= completions
                    {
                        self.finished =
                            Some(self.failure(REASON_FAILED_INDEXES, "Job has failed indexes"));
                    }
                }
                self.delayed = self.pods_with_delayed_deletion();
            }
            if self.finished.is_none() {
                let completions = self.completions().unwrap_or(0);
                if let Some(msg) = policy::match_success_policy(
                    spec.success_policy.as_ref(),
                    completions,
                    &self.succeeded_indexes,
                ) {
                    self.finished = Some(new_condition(
                        SUCCESS_CRITERIA_MET,
                        "True",
                        REASON_SUCCESS_POLICY,
                        &msg,
                        self.now,
                    ));
                }
            }
        }

        let mut active = self.active.len() as i32;
        let mut suspend_changed = false;
        if self.finished.is_some() {
            let doomed: Vec<&CachedPod> = self.active.clone();
            if !doomed.is_empty() {
                self.steps
                    .push(Step::DeleteActivePods(ownership::names(&doomed)));
            }
            let deleted_ready = doomed.iter().filter(|p| pods::is_ready(p)).count() as i32;
            active -= doomed.len() as i32;
            self.terminating += doomed.len() as i32;
            self.ready -= deleted_ready;
        } else {
            let mut managed = false;
            if self.job.metadata.deletion_timestamp.is_none() {
                active = self.manage_job();
                managed = true;
            }
            let complete = match spec.completions {
                None => self.succeeded > 0 && active == 0,
                Some(c) => self.succeeded >= c && active == 0,
            };
            if complete {
                self.finished = Some(new_condition(
                    SUCCESS_CRITERIA_MET,
                    "True",
                    REASON_COMPLETIONS_REACHED,
                    "Reached expected number of succeeded pods",
                    self.now,
                ));
            } else if managed {
                let now = self.now;
                let suspended = self.suspended();
                let conds = self.status_mut().conditions.get_or_insert_with(Vec::new);
                if suspended {
                    if ensure_condition(
                        conds,
                        SUSPENDED,
                        "True",
                        "JobSuspended",
                        "Job suspended",
                        now,
                    ) {
                        suspend_changed = true;
                        self.events
                            .push(Event::normal("Suspended", "Job suspended"));
                    }
                } else if ensure_condition(
                    conds,
                    SUSPENDED,
                    "False",
                    "JobResumed",
                    "Job resumed",
                    now,
                ) {
                    suspend_changed = true;
                    self.events.push(Event::normal("Resumed", "Job resumed"));
                    self.status_mut().start_time = Some(Time(now));
                }
                if conds_empty(&self.job) {
                    self.status_mut().conditions = None;
                }
            }
        }
        let st = self.job.status.clone().unwrap_or_default();
        let needs_update = suspend_changed
            || Some(active) != Some(st.active.unwrap_or(0))
            || Some(self.ready) != st.ready
            || Some(self.terminating) != st.terminating;
        let (ready, terminating) = (self.ready, self.terminating);
        let stm = self.status_mut();
        stm.active = Some(active);
        stm.ready = Some(ready);
        stm.terminating = Some(terminating);
        self.track_status_and_remove_finalizers(needs_update);
    }

    /// A failure condition; upstream 1.33 first records FailureTarget and adds Failed once
    /// the pods are gone.
    fn failure(&self, reason: &str, message: &str) -> JobCondition {
        new_condition(FAILURE_TARGET, "True", reason, message, self.now)
    }

    /// Upstream `pastActiveDeadline`.
    fn past_active_deadline(&self) -> bool {
        let Some(ads) = self
            .job
            .spec
            .as_ref()
            .and_then(|s| s.active_deadline_seconds)
        else {
            return false;
        };
        let Some(start) = self.job.status.as_ref().and_then(|s| s.start_time.as_ref()) else {
            return false;
        };
        if self.suspended() {
            return false;
        }
        pods::nanos(self.obs.now) - pods::nanos(start.0) >= i128::from(ads) * 1_000_000_000
    }

    /// Upstream `pastBackoffLimitOnFailure`: restartPolicy OnFailure counts container restarts
    /// of running and pending pods.
    fn past_backoff_limit_on_failure(&self, limit: i32) -> bool {
        let policy = self
            .job
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|s| s.restart_policy.as_deref());
        if policy != Some("OnFailure") {
            return false;
        }
        let restarts: i32 = self
            .pods
            .iter()
            .filter(|p| matches!(pods::phase(p), pods::PHASE_RUNNING | pods::PHASE_PENDING))
            .filter_map(|p| p.status.as_ref())
            .flat_map(|s| {
                s.init_container_statuses
                    .iter()
                    .flatten()
                    .chain(s.container_statuses.iter().flatten())
            })
            .map(|c| c.restart_count)
            .fold(0i32, i32::saturating_add);
        if limit == 0 {
            restarts > 0
        } else {
            restarts >= limit
        }
    }

    /// Upstream `getFailJobMessage`.
    fn fail_job_message(&self) -> Option<String> {
        let policy = self.job.spec.as_ref()?.pod_failure_policy.as_ref()?;
        self.pods
            .iter()
            .filter(|p| self.is_pod_failed(p))
            .find_map(|p| policy::match_pod_failure_policy(Some(policy), p).fail_job_message)
    }
}

fn conds_empty(job: &Job) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(Vec::is_empty)
}
