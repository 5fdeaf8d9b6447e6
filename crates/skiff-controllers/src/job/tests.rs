//! Job planner tests.

use super::*;
use crate::testing::*;
use k8s_openapi::api::batch::v1::{
    PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement, PodFailurePolicyRule, SuccessPolicy,
    SuccessPolicyRule,
};

fn observe<'a>(job: &'a Job, pods: &'a [CachedPod], now: Timestamp) -> Observed<'a> {
    Observed {
        job,
        pods: pods.iter().collect(),
        now,
    }
}

fn created(steps: &[Step]) -> Vec<PodTemplateSpec> {
    steps
        .iter()
        .flat_map(|s| match s {
            Step::CreatePods(v) => v.clone(),
            _ => Vec::new(),
        })
        .collect()
}

fn last_status(steps: &[Step]) -> JobStatus {
    steps
        .iter()
        .rev()
        .find_map(|s| match s {
            Step::Status(st) => Some(st.as_ref().clone()),
            _ => None,
        })
        .expect("a status step")
}

fn cond<'a>(st: &'a JobStatus, type_: &str) -> Option<&'a JobCondition> {
    st.conditions.iter().flatten().find(|c| c.type_ == type_)
}

#[test]
fn a_new_job_creates_parallelism_pods_with_labels_finalizer_and_owner() {
    let j = job("pi").completions(Some(5)).parallelism(2).build();
    let steps = plan(&observe(&j, &[], t(10)));
    let pods = created(&steps);
    assert_eq!(pods.len(), 2);
    let m = pods[0].metadata.as_ref().unwrap();
    assert_eq!(m.generate_name.as_deref(), Some("pi-"));
    let l = m.labels.as_ref().unwrap();
    assert_eq!(
        (
            l[JOB_NAME_LABEL].as_str(),
            l[CONTROLLER_UID_LABEL].as_str(),
            l[LEGACY_JOB_NAME_LABEL].as_str()
        ),
        ("pi", "uid-pi", "pi")
    );
    assert_eq!(
        m.finalizers.as_deref(),
        Some(&[TRACKING_FINALIZER.to_string()][..])
    );
    assert_eq!(m.owner_references.as_ref().unwrap()[0].kind, "Job");
    let st = last_status(&steps);
    assert_eq!(
        (st.active, st.ready, st.start_time.map(|t| t.0)),
        (Some(2), Some(0), Some(t(10)))
    );
}

#[test]
fn succeeded_pods_are_counted_through_uncounted_uids_then_the_job_completes() {
    let j = job("pi").completions(Some(2)).parallelism(2).build();
    let pods = vec![
        pod("pi-a").of_job(&j).succeeded().build(),
        pod("pi-b").of_job(&j).succeeded().build(),
    ];
    let steps = plan(&observe(&j, &pods, t(10)));
    let Step::Status(first) = &steps[0] else {
        panic!("{steps:#?}")
    };
    let u = first.uncounted_terminated_pods.clone().unwrap();
    assert_eq!(
        u.succeeded,
        Some(vec!["uid-pi-a".to_string(), "uid-pi-b".to_string()])
    );
    assert_eq!(
        cond(first, SUCCESS_CRITERIA_MET).unwrap().reason.as_deref(),
        Some(REASON_COMPLETIONS_REACHED)
    );
    assert_eq!(
        steps[1],
        Step::RemoveFinalizers(vec!["pi-a".into(), "pi-b".into()])
    );
    let done = last_status(&steps);
    assert_eq!(done.succeeded, Some(2));
    let c = cond(&done, COMPLETE).unwrap();
    assert_eq!(
        (c.reason.as_deref(), c.message.as_deref()),
        (
            Some("CompletionsReached"),
            Some("Reached expected number of succeeded pods")
        )
    );
    assert_eq!(done.completion_time.map(|t| t.0), Some(t(10)));
    assert!(steps.contains(&Step::Event(Event::normal("Completed", "Job completed"))));
}

#[test]
fn failed_pods_wait_out_an_exponential_backoff_before_replacement() {
    let j = job("pi").build();
    let failed = pod("pi-a").of_job(&j).failed().exit_code(1, t(100)).build();
    let mut counted = j.clone();
    counted.status = Some(JobStatus {
        failed: Some(1),
        start_time: Some(Time(t(1))),
        ..Default::default()
    });
    let mut f = failed.clone();
    f.metadata.finalizers = None;
    let steps = plan(&observe(&counted, std::slice::from_ref(&f), t(104)));
    assert!(created(&steps).is_empty());
    assert!(steps.contains(&Step::RequeueAfter(Duration::from_secs(6))));
    let steps = plan(&observe(&counted, std::slice::from_ref(&f), t(111)));
    assert_eq!(created(&steps).len(), 1);
}

#[test]
fn exceeding_the_backoff_limit_fails_the_job_after_its_pods_are_gone() {
    let j = job("pi")
        .completions(Some(3))
        .parallelism(2)
        .backoff_limit(1)
        .build();
    let pods = vec![
        pod("pi-a").of_job(&j).failed().exit_code(1, t(5)).build(),
        pod("pi-b").of_job(&j).failed().exit_code(1, t(6)).build(),
        pod("pi-c").of_job(&j).ready_since(t(5)).build(),
    ];
    let steps = plan(&observe(&j, &pods, t(10)));
    assert!(steps.contains(&Step::DeleteActivePods(vec!["pi-c".into()])));
    let st = last_status(&steps);
    let ft = cond(&st, FAILURE_TARGET).unwrap();
    assert_eq!(
        (ft.reason.as_deref(), ft.message.as_deref()),
        (
            Some(REASON_BACKOFF_LIMIT_EXCEEDED),
            Some("Job has reached the specified backoff limit")
        )
    );
    assert!(cond(&st, FAILED).is_none(), "pi-c is still terminating");
    assert_eq!(st.terminating, Some(1));

    // Once the pod is gone, the Job fails for good.
    let mut j2 = j.clone();
    j2.status = Some(st);
    let steps = plan(&observe(&j2, &[], t(20)));
    let st = last_status(&steps);
    let f = cond(&st, FAILED).unwrap();
    assert_eq!(f.reason.as_deref(), Some(REASON_BACKOFF_LIMIT_EXCEEDED));
    assert!(steps
        .iter()
        .any(|s| matches!(s, Step::Event(e) if e.reason == REASON_BACKOFF_LIMIT_EXCEEDED)));
}

#[test]
fn the_active_deadline_fails_a_running_job() {
    let j = job("pi")
        .active_deadline(30)
        .with_status(JobStatus {
            start_time: Some(Time(t(100))),
            active: Some(1),
            ..Default::default()
        })
        .build();
    let pods = vec![pod("pi-a").of_job(&j).ready_since(t(101)).build()];
    let steps = plan(&observe(&j, &pods, t(120)));
    assert!(steps.contains(&Step::RequeueAfter(Duration::from_secs(10))));
    let steps = plan(&observe(&j, &pods, t(130)));
    let st = last_status(&steps);
    let ft = cond(&st, FAILURE_TARGET).unwrap();
    assert_eq!(
        (ft.reason.as_deref(), ft.message.as_deref()),
        (
            Some(REASON_DEADLINE_EXCEEDED),
            Some("Job was active longer than specified deadline")
        )
    );
}

#[test]
fn indexed_jobs_create_one_pod_per_pending_index() {
    let j = job("idx")
        .indexed()
        .completions(Some(4))
        .parallelism(3)
        .build();
    let pods = vec![pod("idx-1").of_job(&j).index(1).ready_since(t(1)).build()];
    let steps = plan(&observe(&j, &pods, t(10)));
    let made = created(&steps);
    let idx: Vec<String> = made
        .iter()
        .map(|p| {
            p.metadata.as_ref().unwrap().annotations.as_ref().unwrap()
                [indexed::COMPLETION_INDEX_ANNOTATION]
                .clone()
        })
        .collect();
    assert_eq!(idx, ["0", "2"]);
    let p0 = &made[0];
    let m = p0.metadata.as_ref().unwrap();
    assert_eq!(m.generate_name.as_deref(), Some("idx-0-"));
    assert_eq!(
        m.labels.as_ref().unwrap()[indexed::COMPLETION_INDEX_ANNOTATION],
        "0"
    );
    let spec = p0.spec.as_ref().unwrap();
    assert_eq!(spec.hostname.as_deref(), Some("idx-0"));
    let env = &spec.containers[0].env.as_ref().unwrap()[0];
    assert_eq!(env.name, "JOB_COMPLETION_INDEX");
}

#[test]
fn indexed_jobs_record_completed_indexes_as_intervals() {
    let j = job("idx")
        .indexed()
        .completions(Some(5))
        .parallelism(5)
        .build();
    let pods = vec![
        pod("idx-0").of_job(&j).index(0).succeeded().build(),
        pod("idx-2").of_job(&j).index(2).succeeded().build(),
        pod("idx-3").of_job(&j).index(3).succeeded().build(),
        pod("idx-1").of_job(&j).index(1).ready_since(t(1)).build(),
        pod("idx-4").of_job(&j).index(4).ready_since(t(1)).build(),
    ];
    let steps = plan(&observe(&j, &pods, t(10)));
    let st = last_status(&steps);
    assert_eq!(
        (st.completed_indexes.as_deref(), st.succeeded, st.active),
        (Some("0,2-3"), Some(3), Some(2))
    );
}

#[test]
fn duplicate_indexes_are_removed_keeping_the_best_pod() {
    let j = job("idx")
        .indexed()
        .completions(Some(2))
        .parallelism(2)
        .build();
    let pods = vec![
        pod("idx-0a").of_job(&j).index(0).ready_since(t(1)).build(),
        pod("idx-0b").of_job(&j).index(0).build(),
        pod("idx-1").of_job(&j).index(1).ready_since(t(1)).build(),
    ];
    let steps = plan(&observe(&j, &pods, t(10)));
    assert!(steps.contains(&Step::DeletePods(vec!["idx-0b".into()])));
}

fn exit_rule(action: &str, codes: Vec<i32>) -> PodFailurePolicy {
    PodFailurePolicy {
        rules: vec![PodFailurePolicyRule {
            action: action.into(),
            on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                container_name: None,
                operator: "In".into(),
                values: codes,
            }),
            on_pod_conditions: None,
        }],
    }
}

#[test]
fn a_fail_job_rule_fails_the_job_with_the_containers_exit_code() {
    let mut b = job("pi");
    b.spec().pod_failure_policy = Some(exit_rule("FailJob", vec![42]));
    let j = b.build();
    let pods = vec![pod("pi-a").of_job(&j).failed().exit_code(42, t(5)).build()];
    let steps = plan(&observe(&j, &pods, t(10)));
    let st = last_status(&steps);
    let f = cond(&st, FAILED).unwrap();
    assert_eq!(f.reason.as_deref(), Some(REASON_POD_FAILURE_POLICY));
    assert_eq!(
        f.message.as_deref(),
        Some("Container main for pod default/pi-a failed with exit code 42 matching FailJob rule at index 0")
    );
    assert!(cond(&st, FAILURE_TARGET).is_some());
    assert_eq!(st.failed, Some(1));
}

#[test]
fn an_ignore_rule_replaces_the_pod_without_counting_it() {
    let mut b = job("pi").backoff_limit(0);
    b.spec().pod_failure_policy = Some(exit_rule("Ignore", vec![137]));
    let j = b.build();
    let pods = vec![pod("pi-a").of_job(&j).failed().exit_code(137, t(5)).build()];
    let steps = plan(&observe(&j, &pods, t(100)));
    let st = last_status(&steps);
    assert!(cond(&st, FAILURE_TARGET).is_none());
    assert_eq!(st.failed, None);
    assert_eq!(created(&steps).len(), 1);
}

#[test]
fn a_success_policy_completes_an_indexed_job_early() {
    let mut b = job("idx").indexed().completions(Some(3)).parallelism(3);
    b.spec().success_policy = Some(SuccessPolicy {
        rules: vec![SuccessPolicyRule {
            succeeded_indexes: Some("0".into()),
            succeeded_count: None,
        }],
    });
    let j = b.build();
    let pods = vec![
        pod("idx-0").of_job(&j).index(0).succeeded().build(),
        pod("idx-1").of_job(&j).index(1).ready_since(t(1)).build(),
    ];
    let steps = plan(&observe(&j, &pods, t(10)));
    assert!(steps.contains(&Step::DeleteActivePods(vec!["idx-1".into()])));
    let st = last_status(&steps);
    let c = cond(&st, SUCCESS_CRITERIA_MET).unwrap();
    assert_eq!(
        (c.reason.as_deref(), c.message.as_deref()),
        (
            Some(REASON_SUCCESS_POLICY),
            Some("Matched rules at index 0")
        )
    );
    assert!(cond(&st, COMPLETE).is_none(), "idx-1 is still terminating");
}

#[test]
fn suspending_deletes_active_pods_and_resuming_restarts_the_clock() {
    let j = job("pi").parallelism(1).suspend(true).build();
    let pods = vec![pod("pi-a").of_job(&j).ready_since(t(1)).build()];
    let steps = plan(&observe(&j, &pods, t(10)));
    assert!(steps.contains(&Step::DeletePods(vec!["pi-a".into()])));
    let st = last_status(&steps);
    let s = cond(&st, SUSPENDED).unwrap();
    assert_eq!(
        (s.status.as_str(), s.reason.as_deref(), s.message.as_deref()),
        ("True", Some("JobSuspended"), Some("Job suspended"))
    );

    let mut resumed = job("pi").parallelism(1).suspend(false).build();
    resumed.status = Some(st);
    let steps = plan(&observe(&resumed, &[], t(50)));
    let st = last_status(&steps);
    assert_eq!(
        cond(&st, SUSPENDED).unwrap().reason.as_deref(),
        Some("JobResumed")
    );
    assert_eq!(st.start_time.map(|t| t.0), Some(t(50)));
    assert_eq!(created(&steps).len(), 1);
}

#[test]
fn finished_jobs_are_deleted_once_their_ttl_has_passed() {
    let mut done = job("pi").ttl(60).build();
    done.status = Some(JobStatus {
        conditions: Some(vec![new_condition(COMPLETE, "True", "", "", t(100))]),
        ..Default::default()
    });
    assert_eq!(
        plan(&observe(&done, &[], t(130))),
        vec![Step::RequeueAfter(Duration::from_secs(30))]
    );
    assert_eq!(plan(&observe(&done, &[], t(160))), vec![Step::DeleteJob]);
    let mut keep = done.clone();
    keep.spec.as_mut().unwrap().ttl_seconds_after_finished = None;
    assert!(plan(&observe(&keep, &[], t(1000))).is_empty());
}

#[test]
fn an_index_that_fails_too_often_is_marked_failed() {
    let mut b = job("idx").indexed().completions(Some(2)).parallelism(2);
    b.spec().backoff_limit_per_index = Some(1);
    let j = b.build();
    let pods = vec![
        pod("idx-0")
            .of_job(&j)
            .index(0)
            .annotation(indexed::INDEX_FAILURE_COUNT_ANNOTATION, "1")
            .failed()
            .exit_code(1, t(5))
            .build(),
        pod("idx-1").of_job(&j).index(1).succeeded().build(),
    ];
    let steps = plan(&observe(&j, &pods, t(10)));
    let st = last_status(&steps);
    assert_eq!(st.failed_indexes.as_deref(), Some("0"));
    assert_eq!(
        cond(&st, FAILED).unwrap().reason.as_deref(),
        Some(REASON_FAILED_INDEXES)
    );
}

#[test]
fn a_failed_index_below_the_limit_is_retried_with_its_failure_count() {
    let mut b = job("idx").indexed().completions(Some(1)).parallelism(1);
    b.spec().backoff_limit_per_index = Some(3);
    let j = b.build();
    let pods = vec![pod("idx-0")
        .of_job(&j)
        .index(0)
        .failed()
        .exit_code(1, t(5))
        .build()];
    let steps = plan(&observe(&j, &pods, t(100)));
    let made = created(&steps);
    assert_eq!(made.len(), 1);
    let a = made[0]
        .metadata
        .as_ref()
        .unwrap()
        .annotations
        .as_ref()
        .unwrap();
    assert_eq!(a[indexed::INDEX_FAILURE_COUNT_ANNOTATION], "1");
    assert!(
        !steps.iter().any(|s| matches!(s, Step::RemoveFinalizers(_))),
        "the failed pod is kept until replaced"
    );
}

#[test]
fn lowering_parallelism_deletes_surplus_pods_unready_first() {
    let j = job("pi").completions(Some(10)).parallelism(1).build();
    let pods = vec![
        pod("pi-a").of_job(&j).ready_since(t(1)).build(),
        pod("pi-b").of_job(&j).node("n").running().build(),
    ];
    let steps = plan(&observe(&j, &pods, t(10)));
    assert!(steps.contains(&Step::DeletePods(vec!["pi-b".into()])));
}

#[test]
fn jobs_managed_elsewhere_are_left_alone() {
    let mut b = job("pi");
    b.spec().managed_by = Some("kueue.x-k8s.io/multikueue".into());
    assert!(plan(&observe(&b.build(), &[], t(1))).is_empty());
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn on_any_counts(
            completions in proptest::option::of(any::<i32>()),
            parallelism in any::<i32>(),
            backoff in any::<i32>(),
            indexed in any::<bool>(),
            per_index in proptest::option::of(any::<i32>()),
            succeeded in proptest::option::of(any::<i32>()),
            failed in proptest::option::of(any::<i32>()),
            completed in "[0-9,\\-]{0,12}",
            deadline in proptest::option::of(any::<i64>()),
            phases in proptest::collection::vec((0u8..4, 0i32..8), 0..5),
        ) {
            let mut b = job("pi").completions(completions).parallelism(parallelism).backoff_limit(backoff);
            if indexed {
                b = b.indexed();
            }
            b.spec().backoff_limit_per_index = per_index;
            b.spec().active_deadline_seconds = deadline;
            let j = b.with_status(JobStatus {
                succeeded,
                failed,
                completed_indexes: Some(completed),
                start_time: Some(Time(t(1))),
                ..Default::default()
            }).build();
            let pods: Vec<CachedPod> = phases
                .iter()
                .enumerate()
                .map(|(i, (phase, idx))| {
                    let p = pod(&format!("pi-{i}")).of_job(&j).index(*idx);
                    match phase {
                        0 => p.succeeded(),
                        1 => p.failed().exit_code(1, t(5)),
                        2 => p.ready_since(t(2)),
                        _ => p.running().deleting(),
                    }
                    .build()
                })
                .collect();
            let _ = plan(&observe(&j, &pods, t(100)));
        }
    }
}
