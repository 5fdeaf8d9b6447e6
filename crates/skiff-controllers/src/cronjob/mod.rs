//! The CronJob planner (upstream `pkg/controller/cronjob`, v2): track active Jobs, create the
//! Job for the most recent missed schedule (`<cronjob>-<scheduled unix minutes>`), honour
//! startingDeadlineSeconds, concurrencyPolicy and suspend, and trim finished history.

pub mod schedule;
pub mod zones;

#[cfg(test)]
mod tests;

use std::time::Duration;

use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::tz::TimeZone;

use crate::event::Event;
use crate::ownership;
use crate::pods::nanos;
use crate::Timestamp;
use schedule::Schedule;

/// Field manager and event source (upstream's controller name).
pub const CONTROLLER_NAME: &str = "cronjob-controller";
/// Upstream `batchv1.CronJobScheduledTimestampAnnotation`.
pub const SCHEDULED_TIMESTAMP_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// Upstream `nextScheduleDelta`: requeues land just after the activation.
pub const NEXT_SCHEDULE_DELTA: Duration = Duration::from_millis(100);
/// More missed activations than this raise `TooManyMissedTimes`.
pub const MAX_MISSED_SCHEDULES: i64 = 100;
/// API defaults of the history limits.
pub const DEFAULT_SUCCESSFUL_JOBS_HISTORY_LIMIT: i32 = 3;
/// API default of failedJobsHistoryLimit.
pub const DEFAULT_FAILED_JOBS_HISTORY_LIMIT: i32 = 1;

/// Everything the CronJob planner may look at, gathered from caches by the driver.
#[derive(Clone, Debug)]
pub struct Observed<'a> {
    /// The CronJob being reconciled.
    pub cron_job: &'a CronJob,
    /// Jobs of its namespace (those it controls are picked out).
    pub jobs: Vec<&'a Job>,
    /// The time of this sync.
    pub now: Timestamp,
}

/// One thing the driver must do, in order; the planner never performs it.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Delete this Job (background propagation).
    DeleteJob(String),
    /// Create this Job. The next status lists it in `active` by name; the driver fills in the
    /// reference's `uid` from the created object.
    CreateJob(Box<Job>),
    /// Write this status through the status subresource.
    Status(Box<CronJobStatus>),
    /// Record this event on the CronJob.
    Event(Event),
    /// Sync again after this long (the next activation).
    RequeueAfter(Duration),
}

fn finished(job: &Job) -> Option<&str> {
    job.status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        .map(|c| c.type_.as_str())
}

fn refers_to(r: &ObjectReference, job: &Job) -> bool {
    match (&r.uid, &job.metadata.uid) {
        (Some(a), Some(b)) if !a.is_empty() => a == b,
        _ => r.name.is_some() && r.name == job.metadata.name,
    }
}

fn job_ref(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        name: job.metadata.name.clone(),
        namespace: job.metadata.namespace.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        field_path: None,
    }
}

/// Upstream `getJobName`: `<cronjob>-<scheduled time in unix minutes>`.
pub fn job_name(cj: &CronJob, scheduled: Timestamp) -> String {
    format!(
        "{}-{}",
        cj.metadata.name.as_deref().unwrap_or_default(),
        scheduled.as_second().div_euclid(60)
    )
}

/// RFC 3339 in `tz` (Go's `time.RFC3339`: `Z` for UTC).
fn rfc3339(ts: Timestamp, tz: &TimeZone) -> String {
    let dt = tz.to_datetime(ts);
    let off = tz.to_offset(ts).seconds();
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    if off == 0 {
        return format!("{base}Z");
    }
    let sign = if off < 0 { '-' } else { '+' };
    let off = off.abs();
    format!("{base}{sign}{:02}:{:02}", off / 3600, (off % 3600) / 60)
}

/// Go's `time.RFC1123Z` in UTC, as the MissSchedule event prints it.
fn rfc1123z(ts: Timestamp) -> String {
    let dt = TimeZone::UTC.to_datetime(ts);
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} +0000",
        DAYS[dt.weekday().to_sunday_zero_offset() as usize % 7],
        dt.day(),
        MONTHS[(dt.month() as usize).saturating_sub(1) % 12],
        dt.year(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// Upstream `mostRecentScheduleTime`: the latest activation in (earliest, now] and how many
/// were missed.
fn most_recent(
    cj: &CronJob,
    now: Timestamp,
    sched: &Schedule,
    tz: &TimeZone,
    with_deadline: bool,
) -> (Option<Timestamp>, i64) {
    let created = cj
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or(Timestamp::UNIX_EPOCH, |t| t.0);
    let mut earliest = cj
        .status
        .as_ref()
        .and_then(|s| s.last_schedule_time.as_ref())
        .map_or(created, |t| t.0);
    if with_deadline {
        if let Some(d) = cj.spec.as_ref().and_then(|s| s.starting_deadline_seconds) {
            if let Ok(deadline) = Timestamp::from_second(now.as_second().saturating_sub(d)) {
                if deadline > earliest {
                    earliest = deadline;
                }
            }
        }
    }
    let Some(t1) = sched.next(earliest, tz) else {
        return (None, 0);
    };
    if now < t1 {
        return (None, 0);
    }
    let Some(t2) = sched.next(t1, tz) else {
        return (Some(t1), 1);
    };
    if now < t2 {
        return (Some(t1), 1);
    }
    let between = (t2.as_second() - t1.as_second()).max(1);
    let missed = (now.as_second() - t1.as_second()) / between + 1;
    let mut recent = Timestamp::from_second(t1.as_second() + (missed - 1) * between).unwrap_or(t1);
    // Irregular schedules (monthly…) need walking forward.
    let mut guard = 0;
    while let Some(t) = sched.next(recent, tz) {
        if t > now || guard > 10_000 {
            break;
        }
        recent = t;
        guard += 1;
    }
    (Some(recent), missed)
}

/// Upstream `nextScheduleTimeDuration`: until just after the next activation.
fn requeue_for_next(
    cj: &CronJob,
    now: Timestamp,
    sched: &Schedule,
    tz: &TimeZone,
) -> Option<Duration> {
    let created = cj
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or(Timestamp::UNIX_EPOCH, |t| t.0);
    let earliest = cj
        .status
        .as_ref()
        .and_then(|s| s.last_schedule_time.as_ref())
        .map_or(created, |t| t.0);
    let (recent, _) = most_recent(cj, now, sched, tz, false);
    let next = sched.next(recent.unwrap_or(earliest), tz)?;
    let left = nanos(next) - nanos(now);
    let left = u128::try_from(left.max(0)).unwrap_or(0);
    Some(Duration::from_nanos(u64::try_from(left).unwrap_or(u64::MAX)) + NEXT_SCHEDULE_DELTA)
}

/// Pure: one `sync` of a CronJob as steps.
pub fn plan(obs: &Observed<'_>) -> Vec<Step> {
    let cj = obs.cron_job;
    let Some(spec) = cj.spec.as_ref() else {
        return Vec::new();
    };
    let uid = cj.metadata.uid.clone().unwrap_or_default();
    let mut jobs: Vec<&Job> = obs
        .jobs
        .iter()
        .copied()
        .filter(|j| ownership::is_controlled_by(&j.metadata, &uid))
        .collect();
    let mut status = cj.status.clone().unwrap_or_default();
    let mut steps = Vec::new();
    let mut events = Vec::new();

    // Reconcile the active list with the Jobs we see.
    for j in &jobs {
        let name = j.metadata.name.clone().unwrap_or_default();
        let in_active = status.active.iter().flatten().any(|r| refers_to(r, j));
        match finished(j) {
            None if !in_active => events.push(Event::warning(
                "UnexpectedJob",
                format!("Saw a job that the controller did not create or forgot: {name}"),
            )),
            Some(cond) => {
                if in_active {
                    if let Some(a) = status.active.as_mut() {
                        a.retain(|r| !refers_to(r, j));
                    }
                    events.push(Event::normal(
                        "SawCompletedJob",
                        format!("Saw completed job: {name}, condition: {cond}"),
                    ));
                }
                if cond == "Complete" {
                    if let Some(ct) = j.status.as_ref().and_then(|s| s.completion_time.clone()) {
                        if status
                            .last_successful_time
                            .as_ref()
                            .is_none_or(|l| ct.0 > l.0)
                        {
                            status.last_successful_time = Some(ct);
                        }
                    }
                }
            }
            None => {}
        }
    }
    if let Some(active) = status.active.as_mut() {
        active.retain(|r| {
            let seen = jobs.iter().any(|j| refers_to(r, j));
            if !seen {
                events.push(Event::normal(
                    "MissingJob",
                    format!(
                        "Active job went missing: {}",
                        r.name.as_deref().unwrap_or_default()
                    ),
                ));
            }
            seen
        });
    }

    let mut requeue = None;
    let proceed = cj.metadata.deletion_timestamp.is_none() && !spec.suspend.unwrap_or(false);
    if proceed {
        schedule_step(
            obs,
            &mut status,
            &mut jobs,
            &mut steps,
            &mut events,
            &mut requeue,
        );
    }

    // History limits.
    for (kind, limit) in [
        (
            "Complete",
            spec.successful_jobs_history_limit
                .unwrap_or(DEFAULT_SUCCESSFUL_JOBS_HISTORY_LIMIT),
        ),
        (
            "Failed",
            spec.failed_jobs_history_limit
                .unwrap_or(DEFAULT_FAILED_JOBS_HISTORY_LIMIT),
        ),
    ] {
        let mut done: Vec<&Job> = jobs
            .iter()
            .copied()
            .filter(|j| finished(j) == Some(kind))
            .collect();
        let excess = done
            .len()
            .saturating_sub(usize::try_from(limit.max(0)).unwrap_or(0));
        if excess == 0 {
            continue;
        }
        done.sort_by(|a, b| {
            let st = |j: &Job| {
                j.status
                    .as_ref()
                    .and_then(|s| s.start_time.as_ref())
                    .map(|t| t.0)
            };
            match (st(a), st(b)) {
                (Some(x), Some(y)) if x != y => x.cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                _ => a.metadata.name.cmp(&b.metadata.name),
            }
        });
        for j in done.into_iter().take(excess) {
            let name = j.metadata.name.clone().unwrap_or_default();
            steps.push(Step::DeleteJob(name.clone()));
            events.push(Event::normal(
                "SuccessfulDelete",
                format!("Deleted job {name}"),
            ));
            if let Some(a) = status.active.as_mut() {
                a.retain(|r| !refers_to(r, j));
            }
        }
    }

    if status.active.as_ref().is_some_and(Vec::is_empty) {
        status.active = None;
    }
    let mut before = cj.status.clone().unwrap_or_default();
    if before.active.as_ref().is_some_and(Vec::is_empty) {
        before.active = None;
    }
    if before != status {
        steps.push(Step::Status(Box::new(status)));
    }
    steps.extend(events.into_iter().map(Step::Event));
    if let Some(d) = requeue {
        steps.push(Step::RequeueAfter(d));
    }
    steps
}

/// Upstream `syncCronJob` from the schedule on: maybe create the Job for the latest missed
/// activation.
fn schedule_step<'a>(
    obs: &Observed<'a>,
    status: &mut CronJobStatus,
    jobs: &mut Vec<&'a Job>,
    steps: &mut Vec<Step>,
    events: &mut Vec<Event>,
    requeue: &mut Option<Duration>,
) {
    let cj = obs.cron_job;
    let Some(spec) = cj.spec.as_ref() else { return };
    let now = obs.now;
    let mut tz = TimeZone::UTC;
    if let Some(name) = spec.time_zone.as_deref() {
        match zones::lookup(name) {
            Some(z) => tz = z,
            None => {
                events.push(Event::warning(
                    "UnknownTimeZone",
                    format!("invalid timeZone: {name:?}: unknown time zone {name}"),
                ));
                return;
            }
        }
        if spec.schedule.contains("TZ=") {
            events.push(Event::warning(
                "UnsupportedSchedule",
                format!("CRON_TZ or TZ used in schedule {:?} is not supported, please use the field timeZone instead", spec.schedule),
            ));
            return;
        }
    }
    let sched = match Schedule::parse(&spec.schedule) {
        Ok(s) => s,
        Err(e) => {
            events.push(Event::warning(
                "UnparseableSchedule",
                format!("unparseable schedule: {:?} : {e}", spec.schedule),
            ));
            return;
        }
    };
    let job_tz = sched.time_zone().cloned().unwrap_or_else(|| tz.clone());
    let (scheduled, missed) = most_recent(cj, now, &sched, &tz, true);
    if missed > MAX_MISSED_SCHEDULES {
        events.push(Event::warning(
            "TooManyMissedTimes",
            format!("too many missed start times: {missed}. Set or decrease .spec.startingDeadlineSeconds or check clock skew"),
        ));
    }
    *requeue = requeue_for_next(cj, now, &sched, &tz);
    let Some(scheduled) = scheduled else { return };
    if let Some(d) = spec.starting_deadline_seconds {
        if scheduled.as_second().saturating_add(d) < now.as_second() {
            events.push(Event::warning(
                "MissSchedule",
                format!(
                    "Missed scheduled time to start a job: {}",
                    rfc1123z(scheduled)
                ),
            ));
            return;
        }
    }
    let name = job_name(cj, scheduled);
    let already = status
        .active
        .iter()
        .flatten()
        .any(|r| r.name.as_deref() == Some(name.as_str()))
        || status
            .last_schedule_time
            .as_ref()
            .is_some_and(|t| t.0 == scheduled)
        || jobs
            .iter()
            .any(|j| j.metadata.name.as_deref() == Some(name.as_str()));
    if already {
        return;
    }
    let policy = spec.concurrency_policy.as_deref().unwrap_or("Allow");
    let active_now = status.active.as_ref().map_or(0, Vec::len);
    if policy == "Forbid" && active_now > 0 {
        events.push(Event::normal(
            "JobAlreadyActive",
            "Not starting job because prior execution is running and concurrency policy is Forbid",
        ));
        return;
    }
    if policy == "Replace" {
        for r in status.active.take().into_iter().flatten() {
            let n = r.name.clone().unwrap_or_default();
            steps.push(Step::DeleteJob(n.clone()));
            events.push(Event::normal(
                "SuccessfulDelete",
                format!("Deleted job {n}"),
            ));
            jobs.retain(|j| !refers_to(&r, j));
        }
    }
    let tpl = spec.job_template.clone();
    let tmeta = tpl.metadata.clone().unwrap_or_default();
    let mut annotations = tmeta.annotations.unwrap_or_default();
    annotations.insert(
        SCHEDULED_TIMESTAMP_ANNOTATION.into(),
        rfc3339(scheduled, &job_tz),
    );
    let job = Job {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: cj.metadata.namespace.clone(),
            labels: tmeta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![ownership::controller_ref(
                "batch/v1",
                "CronJob",
                &cj.metadata,
            )]),
            ..ObjectMeta::default()
        },
        spec: tpl.spec,
        status: None,
    };
    let mut r = job_ref(&job);
    r.uid = None;
    steps.push(Step::CreateJob(Box::new(job)));
    events.push(Event::normal(
        "SuccessfulCreate",
        format!("Created job {name}"),
    ));
    status.active.get_or_insert_with(Vec::new).push(r);
    status.last_schedule_time = Some(Time(scheduled));
}
