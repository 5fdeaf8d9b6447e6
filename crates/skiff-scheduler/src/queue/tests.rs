use super::*;
use crate::framework::ActionType;
use crate::testing::pod;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

fn queue() -> SchedulingQueue {
    SchedulingQueue::new(
        QueueConfig {
            pop_from_backoff_q: false,
            ..Default::default()
        },
        &Profile::default(),
    )
}

fn popped(q: &mut SchedulingQueue, now: Duration) -> Option<String> {
    q.pop(now).map(|p| p.key)
}

fn rejected(plugins: &[&'static str]) -> BTreeSet<&'static str> {
    plugins.iter().copied().collect()
}

const NODE_ADDED: ClusterEvent = ClusterEvent::new(EventResource::Node, ActionType::ADD);
const POD_DELETED: ClusterEvent = ClusterEvent::new(EventResource::AssignedPod, ActionType::DELETE);
const NODE_RELABELED: ClusterEvent =
    ClusterEvent::new(EventResource::Node, ActionType::UPDATE_NODE_LABEL);

#[test]
fn pops_by_priority_then_arrival() {
    let mut q = queue();
    q.add(pod("low-1").priority(1).build(), secs(0));
    q.add(pod("high").priority(10).build(), secs(1));
    q.add(pod("low-2").priority(1).build(), secs(2));
    q.add(pod("low-0").priority(1).build(), ms(500));
    let order: Vec<_> = (0..5).map(|_| popped(&mut q, secs(3))).collect();
    assert_eq!(
        order,
        vec![
            Some("default/high".to_string()),
            Some("default/low-1".to_string()),
            Some("default/low-0".to_string()),
            Some("default/low-2".to_string()),
            None
        ]
    );
}

#[test]
fn backoff_doubles_from_one_second_to_ten() {
    let q = queue();
    let got: Vec<_> = (0..7).map(|a| q.backoff_duration(a)).collect();
    assert_eq!(
        got,
        vec![
            secs(0),
            secs(1),
            secs(2),
            secs(4),
            secs(8),
            secs(10),
            secs(10)
        ]
    );
}

#[test]
fn relevant_events_move_unschedulable_pods_through_backoff() {
    let mut q = queue();
    q.add(pod("p").build(), secs(0));
    let p = q.pop(secs(0)).expect("pod");
    assert_eq!(p.attempts, 1);
    q.mark_unschedulable(&p.key, &rejected(&["NodeResourcesFit"]), secs(10));
    assert_eq!(q.location(&p.key), Some(Location::Unschedulable));

    // A node label change does not concern NodeResourcesFit.
    q.on_event(NODE_RELABELED, secs(10));
    assert_eq!(q.location(&p.key), Some(Location::Unschedulable));

    // A deleted pod frees resources: retry, but only after the 1s backoff.
    q.on_event(POD_DELETED, ms(10_200));
    assert_eq!(q.location(&p.key), Some(Location::Backoff));
    assert_eq!(popped(&mut q, ms(10_900)), None);
    assert_eq!(q.next_wakeup(), Some(secs(11)));
    let again = q.pop(secs(11)).expect("backoff done");
    assert_eq!(again.attempts, 2);

    // Second failure: 2s backoff from the moment it was marked.
    q.mark_unschedulable(&again.key, &rejected(&["NodeResourcesFit"]), secs(20));
    q.on_event(NODE_ADDED, secs(20));
    assert_eq!(popped(&mut q, ms(21_500)), None);
    assert_eq!(popped(&mut q, secs(22)), Some("default/p".to_string()));
}

#[test]
fn events_after_the_backoff_go_straight_to_active() {
    let mut q = queue();
    q.add(pod("p").build(), secs(0));
    let p = q.pop(secs(0)).expect("pod");
    q.mark_unschedulable(&p.key, &rejected(&["TaintToleration"]), secs(0));
    q.on_event(NODE_ADDED, secs(5));
    assert_eq!(q.location(&p.key), Some(Location::Active));
}

#[test]
fn unschedulable_pods_are_retried_after_five_minutes() {
    let mut q = queue();
    q.add(pod("p").build(), secs(0));
    let p = q.pop(secs(0)).expect("pod");
    q.mark_unschedulable(&p.key, &rejected(&["NodeAffinity"]), secs(1));
    q.flush(secs(301));
    assert_eq!(q.location(&p.key), Some(Location::Unschedulable));
    q.flush(ms(301_001));
    assert_eq!(q.location(&p.key), Some(Location::Active));
}

#[test]
fn an_event_during_the_attempt_requeues_instead_of_parking() {
    let mut q = queue();
    q.add(pod("p").build(), secs(0));
    let p = q.pop(secs(0)).expect("pod");
    q.on_event(POD_DELETED, ms(100));
    q.mark_unschedulable(&p.key, &rejected(&["NodeResourcesFit"]), ms(200));
    assert_eq!(q.location(&p.key), Some(Location::Backoff));
    q.delete(&p.key);

    // An irrelevant event during the attempt parks it as usual.
    q.add(pod("r").build(), secs(5));
    let r = q.pop(secs(5)).expect("pod");
    q.on_event(NODE_RELABELED, secs(5));
    q.mark_unschedulable(&r.key, &rejected(&["NodeResourcesFit"]), secs(5));
    assert_eq!(q.location(&r.key), Some(Location::Unschedulable));
}

#[test]
fn errors_retry_after_the_backoff_without_any_event() {
    let mut q = queue();
    q.add(pod("p").build(), secs(0));
    let p = q.pop(secs(0)).expect("pod");
    q.mark_unschedulable(&p.key, &BTreeSet::new(), secs(0));
    assert_eq!(q.location(&p.key), Some(Location::Backoff));
    assert_eq!(popped(&mut q, ms(999)), None);
    assert_eq!(popped(&mut q, secs(1)), Some("default/p".to_string()));
}

#[test]
fn gated_pods_wait_until_their_gates_are_removed() {
    let mut q = queue();
    q.add(pod("g").gate("wait").build(), secs(0));
    assert_eq!(q.location("default/g"), Some(Location::Unschedulable));
    q.on_event(ClusterEvent::WILDCARD, secs(1));
    q.flush(secs(1000));
    assert_eq!(popped(&mut q, secs(1000)), None);
    q.update(pod("g").build(), secs(1001));
    assert_eq!(popped(&mut q, secs(1001)), Some("default/g".to_string()));
}

#[test]
fn spec_updates_retry_unschedulable_pods() {
    let mut q = queue();
    q.add(pod("p").build(), secs(0));
    let p = q.pop(secs(0)).expect("pod");
    q.mark_unschedulable(&p.key, &rejected(&["NodeAffinity"]), secs(0));
    // A status-only update changes nothing.
    q.update(pod("p").phase("Pending").build(), secs(5));
    assert_eq!(q.location(&p.key), Some(Location::Unschedulable));
    q.update(pod("p").label("fixed", "yes").build(), secs(5));
    assert_eq!(q.location(&p.key), Some(Location::Active));
}

#[test]
fn updates_reorder_by_new_priority_and_deletes_forget() {
    let mut q = queue();
    q.add(pod("a").priority(1).build(), secs(0));
    q.add(pod("b").priority(2).build(), secs(0));
    q.update(pod("a").priority(3).build(), secs(1));
    assert_eq!(popped(&mut q, secs(1)), Some("default/a".to_string()));
    q.delete("default/b");
    assert_eq!(popped(&mut q, secs(1)), None);
    assert_eq!(q.lens(), (0, 0, 0));
}

#[test]
fn done_pods_leave_the_queue() {
    let mut q = queue();
    q.add(pod("p").build(), secs(0));
    let p = q.pop(secs(0)).expect("pod");
    assert_eq!(q.location(&p.key), Some(Location::InFlight));
    q.done(&p.key);
    assert_eq!(q.location(&p.key), None);
}

#[test]
fn pop_from_backoff_when_active_is_empty() {
    let mut q = SchedulingQueue::new(QueueConfig::default(), &Profile::default());
    q.add(pod("p").build(), secs(0));
    let p = q.pop(secs(0)).expect("pod");
    q.mark_unschedulable(&p.key, &rejected(&["NodeResourcesFit"]), secs(0));
    q.on_event(POD_DELETED, ms(100));
    assert_eq!(q.location(&p.key), Some(Location::Backoff));
    // Upstream 1.33 (SchedulerPopFromBackoffQ): nothing active, so take it early.
    assert_eq!(popped(&mut q, ms(200)), Some("default/p".to_string()));
}

#[test]
fn priority_classes_order_pods_without_spec_priority() {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    let mut q = queue();
    q.set_priority_classes(vec![PriorityClass {
        metadata: ObjectMeta {
            name: Some("urgent".into()),
            ..Default::default()
        },
        value: 1000,
        ..Default::default()
    }]);
    q.add(pod("plain").build(), secs(0));
    let mut urgent = pod("urgent").build();
    if let Some(s) = urgent.spec.as_mut() {
        s.priority_class_name = Some("urgent".into());
    }
    q.add(urgent, secs(1));
    assert_eq!(popped(&mut q, secs(2)), Some("default/urgent".to_string()));
}

#[test]
fn only_spec_and_identifying_metadata_count_as_an_update() {
    let old = pod("a").build();
    let mut bookkeeping = old.clone();
    bookkeeping.metadata.resource_version = Some("42".into());
    bookkeeping.metadata.generation = Some(3);
    bookkeeping.status = Some(k8s_openapi::api::core::v1::PodStatus {
        phase: Some("Pending".into()),
        ..Default::default()
    });
    assert!(!meaningfully_updated(&old, &bookkeeping));

    let mut relabelled = old.clone();
    relabelled
        .metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert("tier".into(), "web".into());
    assert!(meaningfully_updated(&old, &relabelled));

    let mut respecced = old.clone();
    respecced.spec.as_mut().expect("spec").priority = Some(7);
    assert!(meaningfully_updated(&old, &respecced));
}
