//! CronJob planner tests.

use super::*;
use k8s_openapi::api::batch::v1::{CronJobSpec, JobCondition, JobSpec, JobStatus, JobTemplateSpec};

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn cron(schedule: &str) -> CronJob {
    CronJob {
        metadata: ObjectMeta {
            name: Some("tick".into()),
            namespace: Some("default".into()),
            uid: Some("uid-tick".into()),
            creation_timestamp: Some(Time(at("2025-01-01T00:00:00Z"))),
            ..Default::default()
        },
        spec: Some(CronJobSpec {
            schedule: schedule.into(),
            job_template: JobTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some([("app".to_string(), "tick".to_string())].into()),
                    ..Default::default()
                }),
                spec: Some(JobSpec::default()),
            },
            ..Default::default()
        }),
        status: None,
    }
}

fn owned_job(name: &str, finished: Option<(&str, &str)>) -> Job {
    Job {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(format!("uid-{name}")),
            owner_references: Some(vec![crate::testing::owner_ref(
                "CronJob", "tick", "uid-tick",
            )]),
            ..Default::default()
        },
        spec: None,
        status: finished.map(|(cond, at_)| JobStatus {
            conditions: Some(vec![JobCondition {
                type_: cond.into(),
                status: "True".into(),
                ..Default::default()
            }]),
            completion_time: (cond == "Complete").then(|| Time(at(at_))),
            start_time: Some(Time(at(at_))),
            ..Default::default()
        }),
    }
}

fn observe<'a>(cj: &'a CronJob, jobs: &'a [Job], now: &str) -> Observed<'a> {
    Observed {
        cron_job: cj,
        jobs: jobs.iter().collect(),
        now: at(now),
    }
}

fn created(steps: &[Step]) -> Vec<&Job> {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::CreateJob(j) => Some(j.as_ref()),
            _ => None,
        })
        .collect()
}

fn status(steps: &[Step]) -> CronJobStatus {
    steps
        .iter()
        .find_map(|s| match s {
            Step::Status(st) => Some(st.as_ref().clone()),
            _ => None,
        })
        .expect("status")
}

#[test]
fn the_latest_missed_activation_creates_a_job_named_by_its_unix_minute() {
    let cj = cron("*/5 * * * *");
    let steps = plan(&observe(&cj, &[], "2025-01-01T00:07:00Z"));
    let job = created(&steps)[0];
    let scheduled = at("2025-01-01T00:05:00Z");
    assert_eq!(
        job.metadata.name.as_deref(),
        Some(format!("tick-{}", scheduled.as_second() / 60).as_str())
    );
    let a = job.metadata.annotations.as_ref().unwrap();
    assert_eq!(a[SCHEDULED_TIMESTAMP_ANNOTATION], "2025-01-01T00:05:00Z");
    assert_eq!(job.metadata.labels.as_ref().unwrap()["app"], "tick");
    assert_eq!(
        job.metadata.owner_references.as_ref().unwrap()[0].kind,
        "CronJob"
    );
    let st = status(&steps);
    assert_eq!(st.last_schedule_time.map(|t| t.0), Some(scheduled));
    assert_eq!(st.active.as_ref().unwrap()[0].name, job.metadata.name);
    assert!(steps.contains(&Step::RequeueAfter(
        Duration::from_secs(180) + NEXT_SCHEDULE_DELTA
    )));
    assert!(steps
        .iter()
        .any(|s| matches!(s, Step::Event(e) if e.reason == "SuccessfulCreate")));
}

#[test]
fn before_the_first_activation_only_a_requeue_is_planned() {
    let cj = cron("0 * * * *");
    let steps = plan(&observe(&cj, &[], "2025-01-01T00:30:00Z"));
    assert_eq!(
        steps,
        vec![Step::RequeueAfter(
            Duration::from_secs(1800) + NEXT_SCHEDULE_DELTA
        )]
    );
}

#[test]
fn planning_again_after_creating_changes_nothing() {
    let cj = cron("*/5 * * * *");
    let steps = plan(&observe(&cj, &[], "2025-01-01T00:07:00Z"));
    let mut after = cj.clone();
    after.status = Some(status(&steps));
    let mut job = created(&steps)[0].clone();
    job.metadata.uid = Some("server-uid".into());
    let again = plan(&observe(
        &after,
        std::slice::from_ref(&job),
        "2025-01-01T00:08:00Z",
    ));
    assert!(created(&again).is_empty());
    assert!(
        !again
            .iter()
            .any(|s| matches!(s, Step::Status(_) | Step::Event(_))),
        "{again:?}"
    );
}

#[test]
fn forbid_skips_while_a_job_is_active_and_replace_deletes_it() {
    let mut cj = cron("*/5 * * * *");
    let running = owned_job("tick-old", None);
    cj.status = Some(CronJobStatus {
        active: Some(vec![job_ref(&running)]),
        last_schedule_time: Some(Time(at("2025-01-01T00:00:00Z"))),
        ..Default::default()
    });
    cj.spec.as_mut().unwrap().concurrency_policy = Some("Forbid".into());
    let steps = plan(&observe(
        &cj,
        std::slice::from_ref(&running),
        "2025-01-01T00:06:00Z",
    ));
    assert!(created(&steps).is_empty());
    assert!(steps
        .iter()
        .any(|s| matches!(s, Step::Event(e) if e.reason == "JobAlreadyActive")));

    cj.spec.as_mut().unwrap().concurrency_policy = Some("Replace".into());
    let steps = plan(&observe(
        &cj,
        std::slice::from_ref(&running),
        "2025-01-01T00:06:00Z",
    ));
    assert_eq!(steps[0], Step::DeleteJob("tick-old".into()));
    assert_eq!(created(&steps).len(), 1);
    assert_eq!(status(&steps).active.unwrap().len(), 1);
}

#[test]
fn a_missed_starting_deadline_is_reported_not_run() {
    let mut cj = cron("0 * * * *");
    cj.spec.as_mut().unwrap().starting_deadline_seconds = Some(60);
    let steps = plan(&observe(&cj, &[], "2025-01-01T01:00:30Z"));
    assert_eq!(created(&steps).len(), 1, "within the deadline");
    let steps = plan(&observe(&cj, &[], "2025-01-01T01:05:00Z"));
    assert!(created(&steps).is_empty());
}

#[test]
fn a_suspended_cron_job_creates_nothing() {
    let mut cj = cron("* * * * *");
    cj.spec.as_mut().unwrap().suspend = Some(true);
    assert!(plan(&observe(&cj, &[], "2025-01-01T01:00:00Z")).is_empty());
}

#[test]
fn finished_jobs_leave_the_active_list_and_record_the_last_success() {
    let mut cj = cron("0 0 1 1 *");
    let done = owned_job("tick-1", Some(("Complete", "2025-01-01T00:10:00Z")));
    cj.status = Some(CronJobStatus {
        active: Some(vec![job_ref(&done)]),
        last_schedule_time: Some(Time(at("2025-01-01T00:00:00Z"))),
        ..Default::default()
    });
    let steps = plan(&observe(
        &cj,
        std::slice::from_ref(&done),
        "2025-01-01T00:11:00Z",
    ));
    let st = status(&steps);
    assert_eq!(st.active, None);
    assert_eq!(
        st.last_successful_time.map(|t| t.0),
        Some(at("2025-01-01T00:10:00Z"))
    );
    assert!(steps.contains(&Step::Event(Event::normal(
        "SawCompletedJob",
        "Saw completed job: tick-1, condition: Complete"
    ))));
}

#[test]
fn history_keeps_three_successes_and_one_failure() {
    let cj = cron("0 0 1 1 *");
    let jobs = vec![
        owned_job("s1", Some(("Complete", "2025-01-01T00:01:00Z"))),
        owned_job("s2", Some(("Complete", "2025-01-01T00:02:00Z"))),
        owned_job("s3", Some(("Complete", "2025-01-01T00:03:00Z"))),
        owned_job("s4", Some(("Complete", "2025-01-01T00:04:00Z"))),
        owned_job("f1", Some(("Failed", "2025-01-01T00:01:00Z"))),
        owned_job("f2", Some(("Failed", "2025-01-01T00:02:00Z"))),
    ];
    let steps = plan(&observe(&cj, &jobs, "2025-01-01T00:30:00Z"));
    let deleted: Vec<&Step> = steps
        .iter()
        .filter(|s| matches!(s, Step::DeleteJob(_)))
        .collect();
    assert_eq!(
        deleted,
        vec![&Step::DeleteJob("s1".into()), &Step::DeleteJob("f1".into())]
    );
}

#[test]
fn the_time_zone_field_moves_activations_and_the_annotation_offset() {
    let mut cj = cron("0 9 * * *");
    cj.spec.as_mut().unwrap().time_zone = Some("America/New_York".into());
    let steps = plan(&observe(&cj, &[], "2025-01-01T14:30:00Z"));
    let job = created(&steps)[0];
    assert_eq!(
        job.metadata.annotations.as_ref().unwrap()[SCHEDULED_TIMESTAMP_ANNOTATION],
        "2025-01-01T09:00:00-05:00"
    );

    cj.spec.as_mut().unwrap().time_zone = Some("Mars/Olympus".into());
    let steps = plan(&observe(&cj, &[], "2025-01-01T14:30:00Z"));
    assert!(created(&steps).is_empty());
    assert!(steps
        .iter()
        .any(|s| matches!(s, Step::Event(e) if e.reason == "UnknownTimeZone")));
}

#[test]
fn an_unparseable_schedule_is_reported() {
    let cj = cron("every tuesday");
    let steps = plan(&observe(&cj, &[], "2025-01-01T14:30:00Z"));
    assert!(matches!(&steps[0], Step::Event(e) if e.reason == "UnparseableSchedule"));
}

#[test]
fn an_untracked_running_job_is_reported_and_a_vanished_one_dropped() {
    let mut cj = cron("0 0 1 1 *");
    let gone = owned_job("tick-gone", None);
    cj.status = Some(CronJobStatus {
        active: Some(vec![job_ref(&gone)]),
        ..Default::default()
    });
    let stray = owned_job("tick-stray", None);
    let steps = plan(&observe(
        &cj,
        std::slice::from_ref(&stray),
        "2025-01-01T00:30:00Z",
    ));
    assert!(steps
        .iter()
        .any(|s| matches!(s, Step::Event(e) if e.reason == "UnexpectedJob")));
    assert!(steps
        .iter()
        .any(|s| matches!(s, Step::Event(e) if e.reason == "MissingJob")));
    assert_eq!(status(&steps).active, None);
}
