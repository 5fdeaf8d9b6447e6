//! Deployment planner tests, one sync at a time.

use super::util::*;
use super::*;
use crate::testing::*;
use k8s_openapi::api::apps::v1::DeploymentCondition;

fn observe<'a>(d: &'a Deployment, rss: &'a [ReplicaSet], now: Timestamp) -> Observed<'a> {
    Observed {
        deployment: d,
        replica_sets: rss.iter().collect(),
        pods: Vec::new(),
        now,
    }
}

fn created(steps: &[Step]) -> Vec<&ReplicaSet> {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::CreateReplicaSet(rs) => Some(rs.as_ref()),
            _ => None,
        })
        .collect()
}

fn updated(steps: &[Step]) -> Vec<&ReplicaSet> {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::UpdateReplicaSet(rs) => Some(rs.as_ref()),
            _ => None,
        })
        .collect()
}

fn status(steps: &[Step]) -> DeploymentStatus {
    steps
        .iter()
        .find_map(|s| match s {
            Step::Status(st) => Some(st.as_ref().clone()),
            _ => None,
        })
        .expect("a status step")
}

fn condition(st: &DeploymentStatus, type_: &str) -> DeploymentCondition {
    get_condition(st, type_).cloned().expect("condition")
}

fn name(rs: &ReplicaSet) -> &str {
    rs.metadata.name.as_deref().unwrap_or_default()
}

fn ann<'a>(rs: &'a ReplicaSet, k: &str) -> &'a str {
    rs.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(k))
        .map(String::as_str)
        .unwrap_or_default()
}

#[test]
fn a_new_deployment_creates_its_replica_set_named_after_the_template_hash() {
    let d = deployment("web").replicas(3).build();
    let steps = plan(&observe(&d, &[], t(10)));
    let rs = created(&steps)[0];
    let hash = crate::hash::compute_hash(&d.spec.as_ref().unwrap().template, None);
    assert_eq!(name(rs), format!("web-{hash}"));
    assert_eq!(util::rs_replicas(rs), 3);
    assert_eq!(
        rs.spec
            .as_ref()
            .unwrap()
            .selector
            .match_labels
            .as_ref()
            .unwrap()["pod-template-hash"],
        hash
    );
    let tl = rs
        .spec
        .as_ref()
        .unwrap()
        .template
        .as_ref()
        .unwrap()
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .as_ref()
        .unwrap();
    assert_eq!(
        (tl["app"].as_str(), tl["pod-template-hash"].as_str()),
        ("web", hash.as_str())
    );
    assert_eq!(
        (
            ann(rs, REVISION_ANNOTATION),
            ann(rs, DESIRED_REPLICAS_ANNOTATION),
            ann(rs, MAX_REPLICAS_ANNOTATION)
        ),
        ("1", "3", "4")
    );
    assert_eq!(
        rs.metadata.owner_references.as_ref().unwrap()[0].kind,
        "Deployment"
    );
    assert!(steps.contains(&Step::SetRevision("1".into())));
    let st = status(&steps);
    let p = condition(&st, PROGRESSING);
    assert_eq!(
        (p.status.as_str(), p.reason.as_deref()),
        ("True", Some(NEW_REPLICA_SET_REASON))
    );
    assert_eq!(
        p.message.as_deref(),
        Some(format!("Created new replica set \"web-{hash}\"").as_str())
    );
    assert_eq!(
        condition(&st, AVAILABLE).reason.as_deref(),
        Some(MINIMUM_REPLICAS_UNAVAILABLE)
    );
    assert_eq!(st.observed_generation, Some(1));
    assert!(steps.contains(&Step::Event(Event::normal(
        "ScalingReplicaSet",
        format!("Scaled up replica set web-{hash} to 3")
    ))));
}

#[test]
fn a_template_change_starts_the_new_replica_set_within_max_surge() {
    let v1 = deployment("web").replicas(4).build();
    let old = RsBuilder::of_deployment(&v1, 1, 4).build();
    let v2 = deployment("web")
        .replicas(4)
        .image("nginx:2")
        .generation(2)
        .build();
    let steps = plan(&observe(&v2, std::slice::from_ref(&old), t(10)));
    let new = created(&steps)[0];
    assert_eq!(
        util::rs_replicas(new),
        1,
        "4 replicas + 25% surge (1) leaves room for one"
    );
    assert_eq!(ann(new, REVISION_ANNOTATION), "2");
    let old_now = updated(&steps);
    assert_eq!(
        util::rs_replicas(old_now[0]),
        3,
        "maxUnavailable 1 lets one old pod go in the same sync"
    );
}

#[test]
fn old_replica_sets_scale_down_only_as_far_as_max_unavailable_allows() {
    let v1 = deployment("web").replicas(4).build();
    let v2 = deployment("web")
        .replicas(4)
        .image("nginx:2")
        .generation(2)
        .build();
    let old = RsBuilder::of_deployment(&v1, 1, 4).build();
    let mut new = RsBuilder::of_deployment(&v2, 2, 1).build();
    new.status.as_mut().unwrap().available_replicas = None;
    let steps = plan(&observe(&v2, &[old, new], t(10)));
    let ups = updated(&steps);
    assert_eq!(ups.len(), 1);
    assert_eq!(
        util::rs_replicas(ups[0]),
        3,
        "5 pods, min available 3, one new unavailable: drop one old"
    );
    assert!(steps.iter().any(
        |s| matches!(s, Step::Event(e) if e.message.starts_with("Scaled down replica set web-"))
    ));
}

#[test]
fn unhealthy_old_replicas_are_removed_first() {
    let v1 = deployment("web").replicas(4).build();
    let v2 = deployment("web")
        .replicas(4)
        .image("nginx:2")
        .generation(2)
        .max_surge("0")
        .max_unavailable("1")
        .build();
    let mut old = RsBuilder::of_deployment(&v1, 1, 4).build();
    old.status.as_mut().unwrap().available_replicas = Some(2);
    let new = RsBuilder::of_deployment(&v2, 2, 0).build();
    let steps = plan(&observe(&v2, &[old, new], t(10)));
    assert_eq!(
        util::rs_replicas(updated(&steps)[0]),
        3,
        "one unavailable old replica is cleaned up"
    );
}

#[test]
fn rollback_reuses_the_old_replica_set_and_raises_its_revision() {
    let v1 = deployment("web").replicas(3).build();
    let v2 = deployment("web").replicas(3).image("nginx:2").build();
    let old = RsBuilder::of_deployment(&v1, 1, 0).build();
    let cur = RsBuilder::of_deployment(&v2, 2, 3).build();
    // `kubectl rollout undo` patched the template back to v1.
    let undone = deployment("web").replicas(3).generation(3).build();
    let steps = plan(&observe(&undone, &[old, cur], t(10)));
    assert!(created(&steps).is_empty());
    let back = updated(&steps)
        .into_iter()
        .find(|rs| ann(rs, REVISION_ANNOTATION) == "3")
        .expect("revived RS");
    assert_eq!(ann(back, REVISION_HISTORY_ANNOTATION), "1");
    assert_eq!(
        util::rs_replicas(back),
        1,
        "scaled up within surge in the same sync"
    );
}

#[test]
fn recreate_scales_old_replica_sets_to_zero_and_waits_for_their_pods() {
    let v1 = deployment("web").replicas(3).recreate().build();
    let v2 = deployment("web")
        .replicas(3)
        .recreate()
        .image("nginx:2")
        .generation(2)
        .build();
    let old = RsBuilder::of_deployment(&v1, 1, 3).build();
    let steps = plan(&observe(&v2, std::slice::from_ref(&old), t(10)));
    assert!(created(&steps).is_empty());
    assert_eq!(util::rs_replicas(updated(&steps)[0]), 0);

    let mut drained = RsBuilder::of_deployment(&v1, 1, 0).build();
    drained.status.as_mut().unwrap().replicas = 0;
    let lingering = pod("web-old").owned_by_rs(&drained).running().build();
    let mut obs = observe(&v2, std::slice::from_ref(&drained), t(11));
    obs.pods = vec![&lingering];
    assert!(created(&plan(&obs)).is_empty(), "an old pod still runs");
    obs.pods.clear();
    let steps = plan(&obs);
    assert_eq!(util::rs_replicas(created(&steps)[0]), 3);
}

#[test]
fn a_paused_deployment_scales_but_does_not_roll_out() {
    let v1 = deployment("web").replicas(3).build();
    let old = RsBuilder::of_deployment(&v1, 1, 3).build();
    let paused = deployment("web")
        .replicas(5)
        .image("nginx:2")
        .paused()
        .generation(2)
        .build();
    let steps = plan(&observe(&paused, std::slice::from_ref(&old), t(10)));
    assert!(created(&steps).is_empty());
    assert_eq!(util::rs_replicas(updated(&steps)[0]), 5);
    let p = condition(&status(&steps), PROGRESSING);
    assert_eq!(
        (p.status.as_str(), p.reason.as_deref(), p.message.as_deref()),
        (
            "Unknown",
            Some(PAUSED_DEPLOY_REASON),
            Some("Deployment is paused")
        )
    );
}

#[test]
fn scaling_mid_rollout_spreads_new_replicas_proportionally() {
    let v1 = deployment("web")
        .replicas(10)
        .max_surge("3")
        .max_unavailable("2")
        .build();
    let v2 = deployment("web")
        .replicas(10)
        .max_surge("3")
        .max_unavailable("2")
        .image("nginx:2")
        .build();
    let old = RsBuilder::of_deployment(&v1, 1, 8).build();
    let new = RsBuilder::of_deployment(&v2, 2, 5).build();
    let scaled = deployment("web")
        .replicas(20)
        .max_surge("3")
        .max_unavailable("2")
        .image("nginx:2")
        .generation(3)
        .build();
    let steps = plan(&observe(&scaled, &[old, new], t(10)));
    let sizes: Vec<i32> = updated(&steps)
        .iter()
        .map(|rs| util::rs_replicas(rs))
        .collect();
    assert_eq!(sizes.iter().sum::<i32>(), 23, "20 replicas + surge 3");
    assert_eq!(
        sizes,
        vec![14, 9],
        "8/13 and 5/13 of 23, leftovers to the largest"
    );
}

#[test]
fn history_beyond_the_limit_is_deleted_oldest_first_once_complete() {
    let mut rss = Vec::new();
    for (rev, image) in [(1, "a"), (2, "b"), (3, "c")] {
        let d = deployment("web").replicas(2).image(image).build();
        let mut rs = RsBuilder::of_deployment(&d, rev, 0).build();
        rs.status.as_mut().unwrap().replicas = 0;
        rss.push(rs);
    }
    let d = deployment("web").replicas(2).image("d").history(1).build();
    rss.push(RsBuilder::of_deployment(&d, 4, 2).build());
    let mut done = d.clone();
    done.status = Some(DeploymentStatus {
        observed_generation: Some(1),
        replicas: Some(2),
        updated_replicas: Some(2),
        available_replicas: Some(2),
        ..Default::default()
    });
    let steps = plan(&observe(&done, &rss, t(10)));
    let deleted: Vec<&Step> = steps
        .iter()
        .filter(|s| matches!(s, Step::DeleteReplicaSet(_)))
        .collect();
    assert_eq!(
        deleted,
        vec![
            &Step::DeleteReplicaSet(name(&rss[0]).into()),
            &Step::DeleteReplicaSet(name(&rss[1]).into())
        ]
    );
}

#[test]
fn a_finished_rollout_reports_new_replica_set_available() {
    let d = deployment("web").replicas(3).build();
    let rs = RsBuilder::of_deployment(&d, 1, 3).build();
    let steps = plan(&observe(&d, std::slice::from_ref(&rs), t(10)));
    let st = status(&steps);
    assert_eq!(
        (
            st.replicas,
            st.updated_replicas,
            st.ready_replicas,
            st.available_replicas,
            st.unavailable_replicas
        ),
        (Some(3), Some(3), Some(3), Some(3), None)
    );
    let p = condition(&st, PROGRESSING);
    assert_eq!(
        (p.reason.as_deref(), p.message.as_deref()),
        (
            Some(NEW_RS_AVAILABLE_REASON),
            Some(format!("ReplicaSet \"{}\" has successfully progressed.", name(&rs)).as_str())
        )
    );
    let a = condition(&st, AVAILABLE);
    assert_eq!(
        (a.status.as_str(), a.message.as_deref()),
        ("True", Some("Deployment has minimum availability."))
    );
    let mut done = d.clone();
    done.status = Some(st);
    done.metadata.annotations = Some(labels(&[(REVISION_ANNOTATION, "1")]));
    assert!(
        plan(&observe(&done, std::slice::from_ref(&rs), t(20))).is_empty(),
        "nothing left to do"
    );
}

/// A rollout to `nginx:2` (deadline 60 s) whose new ReplicaSet has no ready pods: the
/// Deployment at revision 2, the old ReplicaSet and the new one.
fn stuck_rollout() -> (Deployment, ReplicaSet, ReplicaSet) {
    let v2 = deployment("web")
        .replicas(2)
        .image("nginx:2")
        .progress_deadline(60)
        .build();
    let mut new = RsBuilder::of_deployment(&v2, 2, 2).build();
    new.status.as_mut().unwrap().available_replicas = None;
    new.status.as_mut().unwrap().ready_replicas = None;
    let v1 = deployment("web").replicas(2).build();
    let old = RsBuilder::of_deployment(&v1, 1, 1).build();
    let mut d = v2;
    d.metadata.annotations = Some(labels(&[(REVISION_ANNOTATION, "2")]));
    (d, old, new)
}

#[test]
fn no_progress_within_the_deadline_sets_progress_deadline_exceeded() {
    let (mut d, old, new) = stuck_rollout();
    let stuck = super::progress::normalized(status(&plan(&observe(
        &d,
        &[old.clone(), new.clone()],
        t(0),
    ))));
    d.status = Some(stuck);
    let steps = plan(&observe(&d, &[old.clone(), new.clone()], t(30)));
    assert_eq!(
        steps,
        vec![Step::RequeueAfter(Duration::from_secs(31))],
        "wait for the deadline"
    );
    let steps = plan(&observe(&d, &[old, new.clone()], t(61)));
    let p = condition(&status(&steps), PROGRESSING);
    assert_eq!(
        (p.status.as_str(), p.reason.as_deref()),
        ("False", Some(TIMED_OUT_REASON))
    );
    assert_eq!(
        p.message.as_deref(),
        Some(format!("ReplicaSet \"{}\" has timed out progressing.", name(&new)).as_str())
    );
}

/// `secs` seconds and `millis` milliseconds after the epoch.
fn t_ms(secs: i64, millis: i64) -> Timestamp {
    Timestamp::from_millisecond(secs * 1000 + millis).unwrap()
}

#[test]
fn a_stuck_deployment_is_checked_again_after_its_deadline_and_never_at_once() {
    let (mut d, old, new) = stuck_rollout();
    let rss = [old, new];
    d.status = Some(super::progress::normalized(status(&plan(&observe(
        &d,
        &rss,
        t(0),
    )))));
    let timed_out = |now: Timestamp| {
        plan(&observe(&d, &rss, now)).iter().any(|s| match s {
            Step::Status(st) => {
                condition(st, PROGRESSING).reason.as_deref() == Some(TIMED_OUT_REASON)
            }
            _ => false,
        })
    };
    // Upstream compares with the full-precision clock: just past the deadline is late.
    assert!(!timed_out(t(60)));
    assert!(timed_out(t_ms(60, 1)));
    for (secs, millis) in [
        (0, 0),
        (30, 0),
        (58, 999),
        (59, 0),
        (59, 500),
        (59, 999),
        (60, 0),
    ] {
        let now = t_ms(secs, millis);
        let steps = plan(&observe(&d, &rss, now));
        let [Step::RequeueAfter(after)] = steps.as_slice() else {
            panic!("at {now}: {steps:?}");
        };
        assert!(
            *after >= Duration::from_secs(1),
            "at {now}: a requeue after {after:?} would spin until the deadline"
        );
        let then =
            Timestamp::from_nanosecond(now.as_nanosecond() + after.as_nanos() as i128).unwrap();
        assert!(timed_out(then), "at {now}: the requeue at {then} is early");
    }
}

#[test]
fn a_complete_rollout_that_loses_a_pod_asks_no_requeue() {
    let d = deployment("web").replicas(2).progress_deadline(60).build();
    let rs = RsBuilder::of_deployment(&d, 1, 2).build();
    let mut done = d.clone();
    done.metadata.annotations = Some(labels(&[(REVISION_ANNOTATION, "1")]));
    done.status = Some(status(&plan(&observe(
        &done,
        std::slice::from_ref(&rs),
        t(0),
    ))));
    let mut degraded = rs.clone();
    degraded.status.as_mut().unwrap().ready_replicas = Some(1);
    degraded.status.as_mut().unwrap().available_replicas = Some(1);
    let steps = plan(&observe(&done, std::slice::from_ref(&degraded), t(100)));
    let st = status(&steps);
    assert_eq!(
        condition(&st, PROGRESSING).reason.as_deref(),
        Some(NEW_RS_AVAILABLE_REASON),
        "a finished rollout stays finished"
    );
    done.status = Some(st);
    let steps = plan(&observe(&done, std::slice::from_ref(&degraded), t(200)));
    assert_eq!(steps, vec![], "nothing to do, nothing to check again");
}

#[test]
fn a_name_collision_bumps_collision_count_instead_of_creating() {
    let d = deployment("web").replicas(1).build();
    let hash = crate::hash::compute_hash(&d.spec.as_ref().unwrap().template, None);
    let squatter = rs(&format!("web-{hash}")).build();
    let steps = plan(&observe(&d, std::slice::from_ref(&squatter), t(10)));
    assert!(created(&steps).is_empty());
    assert_eq!(status(&steps).collision_count, Some(1));
    let mut bumped = d.clone();
    bumped.status = Some(status(&steps));
    let steps = plan(&observe(&bumped, std::slice::from_ref(&squatter), t(11)));
    let rs = created(&steps)[0];
    assert_ne!(name(rs), format!("web-{hash}"));
}

#[test]
fn orphan_replica_sets_matching_the_selector_are_adopted() {
    let d = deployment("web").replicas(1).build();
    let mut orphan = RsBuilder::of_deployment(&d, 1, 1).build();
    orphan.metadata.owner_references = None;
    let steps = plan(&observe(&d, std::slice::from_ref(&orphan), t(10)));
    assert_eq!(steps[0], Step::AdoptReplicaSets(vec![name(&orphan).into()]));
    assert!(created(&steps).is_empty());
}

#[test]
fn an_empty_selector_is_refused_with_a_warning() {
    let mut d = deployment("web").generation(2).build();
    d.spec.as_mut().unwrap().selector = Default::default();
    let steps = plan(&observe(&d, &[], t(1)));
    assert!(matches!(&steps[0], Step::Event(e) if e.reason == "SelectingAll"));
    assert_eq!(status(&steps).observed_generation, Some(2));
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn bound() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("25%".to_string()),
            Just("0".to_string()),
            Just("2147483647".to_string()),
            Just("-5".to_string()),
            Just("9999999999999999%".to_string()),
            Just("nonsense".to_string()),
            (0u32..300).prop_map(|p| format!("{p}%")),
        ]
    }

    proptest! {
        #[test]
        fn on_any_sizes_and_bounds(
            replicas in any::<i32>(),
            surge in bound(),
            unavailable in bound(),
            sizes in proptest::collection::vec((any::<i32>(), any::<i32>(), any::<i32>()), 0..4),
            recreate in any::<bool>(),
            paused in any::<bool>(),
        ) {
            let mut b = deployment("web").replicas(replicas).max_surge(&surge).max_unavailable(&unavailable);
            if recreate {
                b = b.recreate();
            }
            if paused {
                b = b.paused();
            }
            let d = b.build();
            let rss: Vec<ReplicaSet> = sizes
                .iter()
                .enumerate()
                .map(|(i, (spec, have, avail))| {
                    let v = deployment("web").image(&format!("img:{i}")).build();
                    let mut rs = RsBuilder::of_deployment(&v, i as i64 + 1, *spec).build();
                    let st = rs.status.as_mut().unwrap();
                    st.replicas = *have;
                    st.available_replicas = Some(*avail);
                    rs
                })
                .collect();
            let _ = plan(&observe(&d, &rss, t(1_000)));
        }
    }

    proptest! {
        #[test]
        fn cron_schedules_parse_or_fail_cleanly(s in "\\PC{0,40}") {
            if let Ok(sched) = crate::cronjob::schedule::Schedule::parse(&s) {
                let _ = sched.next(t(1_700_000_000), &k8s_openapi::jiff::tz::TimeZone::UTC);
            }
        }

        #[test]
        fn cron_fields_with_any_numbers(a in 0u64..5_000_000_000, b in 0u64..100, c in any::<u32>()) {
            for spec in [format!("*/{a} * * * *"), format!("{b}-{c} * * * *"), format!("0 0 {b}/{c} * *")] {
                if let Ok(sched) = crate::cronjob::schedule::Schedule::parse(&spec) {
                    let _ = sched.next(t(1_700_000_000), &k8s_openapi::jiff::tz::TimeZone::UTC);
                }
            }
        }
    }
}
