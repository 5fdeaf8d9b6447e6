//! The scheduler process: the I/O edge around [`skiff_scheduler`]'s pure core, like
//! kube-scheduler's. It watches nodes and pods through the Kubernetes API, keeps a
//! [`Snapshot`] and a [`SchedulingQueue`] up to date, schedules one pod at a time, binds through
//! the `pods/binding` subresource, and reports failures like upstream: `PodScheduled=False`
//! (reason `Unschedulable`, upstream's message) and a `FailedScheduling` event.

mod context;
mod report;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::Api;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::ResourceExt;
use skiff_scheduler::events::{ActionType, EventResource};
use skiff_scheduler::ClusterEvent;
use skiff_scheduler::{schedule, Profile, QueueConfig, ScheduleResult, SchedulingQueue, Snapshot};
use std::collections::{BTreeSet, HashSet};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::sync::{mpsc, Semaphore};

/// The scheduler name pods ask for by default.
pub const DEFAULT_SCHEDULER: &str = "default-scheduler";

enum Change {
    Node(Box<Event<Node>>),
    Pod(Box<Event<Pod>>),
}

fn key(pod: &Pod) -> String {
    format!("{}/{}", pod.namespace().unwrap_or_default(), pod.name_any())
}

fn terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

fn bound(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty())
}

/// How many bindings may be in flight at once (upstream binds each pod in its own goroutine;
/// this bounds the load on the API server).
const MAX_BINDINGS_IN_FLIGHT: usize = 128;

/// The scheduler's state, fed by watch events.
struct Scheduler {
    snapshot: Snapshot,
    queue: SchedulingQueue,
    profile: Profile,
    started: Instant,
    /// Pods assumed on a node that the watch has not yet shown bound (their binding is in
    /// flight or done): updates of their unbound state, which may still be on their way, are
    /// ignored so they are not scheduled twice (upstream skips assumed pods the same way).
    assumed: HashSet<String>,
}

/// A finished binding: the pod (unbound, as scheduled), its node, and the outcome.
struct Bound {
    key: String,
    pod: Box<Pod>,
    node: String,
    result: Result<(), kube::Error>,
}

impl Scheduler {
    fn new(profile: Profile) -> Self {
        Scheduler {
            snapshot: Snapshot::new(&[], &[]),
            queue: SchedulingQueue::new(QueueConfig::default(), &profile),
            profile,
            started: Instant::now(),
            assumed: HashSet::new(),
        }
    }

    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// Places a pod scheduled onto `node` in the snapshot before its binding is written
    /// (upstream's assume), so the next pod is scheduled against a snapshot counting this one.
    fn assume(&mut self, key: &str, pod: &Pod, node: &str) {
        self.snapshot.assume(pod, node);
        self.queue.done(key);
        self.assumed.insert(key.to_string());
    }

    /// A binding finished. On success the pod stays assumed until the watch shows it bound;
    /// on failure the assumption is forgotten and the pod tried again, unless it is gone (404)
    /// or already bound (409), which the watch shows: the snapshot follows the pod to
    /// wherever it was bound, so a conflict leaves it alone.
    fn on_bound(&mut self, b: Bound) {
        let Err(e) = b.result else {
            return;
        };
        tracing::warn!(pod = %b.key, node = %b.node, error = %e, "binding failed");
        self.assumed.remove(&b.key);
        let code = match &e {
            kube::Error::Api(s) => s.code,
            _ => 0,
        };
        if code == 409 {
            return;
        }
        self.snapshot.remove_pod(&b.key);
        self.queue.on_event(
            ClusterEvent::new(EventResource::AssignedPod, ActionType::DELETE),
            self.now(),
        );
        if code != 404 {
            let now = self.now();
            self.queue.add(*b.pod, now);
        }
    }

    fn on_node(&mut self, node: Node, deleted: bool) {
        let now = self.now();
        let name = node.name_any();
        if deleted {
            self.snapshot.remove_node(&name);
            return;
        }
        let old = self.snapshot.get(&name).map(|n| n.node().clone());
        self.snapshot.set_node(node.clone());
        let event = match old {
            None => Some(ClusterEvent::new(EventResource::Node, ActionType::ADD)),
            Some(old) => ClusterEvent::node_updated(&old, &node),
        };
        if let Some(e) = event {
            self.queue.on_event(e, now);
        }
    }

    fn on_pod(&mut self, pod: Pod, deleted: bool) {
        let now = self.now();
        let k = key(&pod);
        if deleted || terminal(&pod) {
            self.assumed.remove(&k);
            self.queue.delete(&k);
            if self.snapshot.remove_pod(&k) {
                self.queue.on_event(
                    ClusterEvent::new(EventResource::AssignedPod, ActionType::DELETE),
                    now,
                );
            }
            return;
        }
        if bound(&pod) {
            self.assumed.remove(&k);
            self.queue.delete(&k);
            self.snapshot.set_pod(&pod);
            return;
        }
        if pod.metadata.deletion_timestamp.is_some()
            || !self.profile.handles(&pod)
            || self.assumed.contains(&k)
        {
            return;
        }
        match self.queue.location(&k) {
            Some(_) => self.queue.update(pod, now),
            None => self.queue.add(pod, now),
        }
    }
}

fn changes(client: &kube::Client) -> Pin<Box<dyn Stream<Item = Change> + Send>> {
    // managedFields are dropped from everything the scheduler keeps, like upstream's
    // informers do: no plugin reads them and they are a large part of each object.
    let nodes = watcher::watcher(Api::<Node>::all(client.clone()), watcher::Config::default())
        .modify(|n| n.metadata.managed_fields = None)
        .filter_map(|e| async move { e.ok().map(|e| Change::Node(Box::new(e))) });
    let pods = watcher::watcher(Api::<Pod>::all(client.clone()), watcher::Config::default())
        .modify(|p| p.metadata.managed_fields = None)
        .filter_map(|e| async move { e.ok().map(|e| Change::Pod(Box::new(e))) });
    Box::pin(futures::stream::select(nodes, pods))
}

/// Runs the scheduler until `stop` turns true, scheduling only while it holds the Lease
/// kube-system/kube-scheduler (upstream's leader election), so several can run.
pub async fn run(client: kube::Client, stop: watch::Receiver<bool>) {
    let config = skiff_leader::Config::new("kube-system", "kube-scheduler");
    let c = client.clone();
    skiff_leader::run_leading(client, config, stop, move |stop| {
        schedule_while(c.clone(), stop)
    })
    .await
}

/// The scheduling loop: watch nodes and pods, schedule what is queued, bind.
async fn schedule_while(client: kube::Client, mut stop: watch::Receiver<bool>) {
    let mut s = Scheduler::new(Profile::default());
    let slots = Arc::new(Semaphore::new(MAX_BINDINGS_IN_FLIGHT));
    let (bound_tx, mut bound_rx) = mpsc::unbounded_channel::<Bound>();
    // A Send RNG seeded from the OS: randomness enters the pure core only through this value.
    let mut rng: rand::rngs::StdRng = rand::SeedableRng::from_os_rng();
    let mut feed = changes(&client);
    let mut context_feed = context::changes(&client);
    let mut context = context::Context::default();
    loop {
        let wake = s
            .queue
            .next_wakeup()
            .map(|w| w.saturating_sub(s.now()))
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1));
        tokio::select! {
            change = feed.next() => match change {
                Some(Change::Node(e)) => match *e {
                    Event::Apply(n) | Event::InitApply(n) => s.on_node(n, false),
                    Event::Delete(n) => s.on_node(n, true),
                    _ => {}
                },
                Some(Change::Pod(e)) => match *e {
                    Event::Apply(p) | Event::InitApply(p) => s.on_pod(p, false),
                    Event::Delete(p) => s.on_pod(p, true),
                    _ => {}
                },
                None => return,
            },
            Some(b) = bound_rx.recv() => s.on_bound(b),
            Some(c) = context_feed.next() => {
                if let Some(resource) = context.apply(c) {
                    let event = ClusterEvent::new(resource, ActionType::ADD.or(ActionType::UPDATE));
                    let now = s.now();
                    s.queue.on_event(event, now);
                }
            }
            _ = tokio::time::sleep(wake) => {}
            _ = stop.changed() => return,
        }
        context.install(&mut s.snapshot);
        let now = s.now();
        s.queue.flush(now);
        while let Some(qp) = s.queue.pop(s.now()) {
            let result = schedule(&qp.pod, &s.snapshot, &s.profile, &mut rng);
            let now = s.now();
            match result {
                ScheduleResult::Scheduled(p) => {
                    // Assume, then bind in the background (upstream's binding cycle) so the
                    // next pod is scheduled against a snapshot that already counts this one.
                    s.assume(&qp.key, &qp.pod, &p.node);
                    let Ok(permit) = slots.clone().acquire_owned().await else {
                        return;
                    };
                    let (client, tx) = (client.clone(), bound_tx.clone());
                    let (key, pod, node) = (qp.key.clone(), Box::new(qp.pod.clone()), p.node);
                    tokio::spawn(async move {
                        let result = report::bind(&client, &pod, &node).await;
                        drop(permit);
                        if result.is_ok() {
                            report::scheduled(&client, &pod, &node).await;
                        }
                        let _ = tx.send(Bound {
                            key,
                            pod,
                            node,
                            result,
                        });
                    });
                }
                ScheduleResult::Unschedulable(fit) => {
                    let msg = fit.message();
                    report::unschedulable(&client, &qp.pod, "Unschedulable", &msg).await;
                    if let Some(n) = &fit.nomination {
                        report::nominate(&client, &qp.pod, &n.node, &n.victims).await;
                    }
                    s.queue
                        .mark_unschedulable(&qp.key, &fit.unschedulable_plugins, now);
                }
                ScheduleResult::Gated { message, .. } => {
                    report::gated(&client, &qp.pod, &message).await;
                    s.queue.mark_unschedulable(&qp.key, &BTreeSet::new(), now);
                }
                ScheduleResult::Error(status) => {
                    tracing::warn!(pod = %qp.key, error = %status.message(), "scheduling failed");
                    s.queue.mark_unschedulable(&qp.key, &BTreeSet::new(), now);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> Node {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}},
        }))
        .expect("node")
    }

    fn pod(on: Option<&str>) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
            "spec": {"containers": [{"name": "c", "image": "i"}], "nodeName": on},
        }))
        .expect("pod")
    }

    fn scheduler() -> Scheduler {
        let mut s = Scheduler::new(Profile::default());
        s.snapshot.set_node(node("n1"));
        s.snapshot.set_node(node("n2"));
        s
    }

    /// The pods the snapshot counts on `node`.
    fn on(s: &Scheduler, node: &str) -> usize {
        s.snapshot.get(node).expect("node").pods().len()
    }

    /// Queues the pending pod, then pops and assumes it on `node` as the loop does.
    fn assume_on(s: &mut Scheduler, node: &str) {
        s.on_pod(pod(None), false);
        let now = s.now();
        s.queue.flush(now);
        let qp = s.queue.pop(now).expect("queued");
        s.assume(&qp.key, &qp.pod, node);
    }

    fn bound_with(result: Result<(), kube::Error>) -> Bound {
        Bound {
            key: "default/p".into(),
            pod: Box::new(pod(None)),
            node: "n1".into(),
            result,
        }
    }

    fn api_error(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            ..Default::default()
        }))
    }

    #[test]
    fn a_bound_pod_is_not_scheduled_again_on_an_unbound_update_the_watch_still_delivers() {
        let mut s = scheduler();
        assume_on(&mut s, "n1");
        s.on_bound(bound_with(Ok(())));
        // An update of the pod from before its binding arrives after the binding finished.
        s.on_pod(pod(None), false);
        assert!(s.queue.location("default/p").is_none(), "scheduled twice");
        assert_eq!(on(&s, "n1"), 1);
        // The watch shows it bound: no longer assumed; later updates follow the pod.
        s.on_pod(pod(Some("n1")), false);
        assert!(s.assumed.is_empty());
        assert_eq!(on(&s, "n1"), 1);
    }

    #[test]
    fn a_conflict_leaves_the_pod_where_the_watch_shows_it_bound() {
        let mut s = scheduler();
        assume_on(&mut s, "n1");
        // Someone else bound it to n2; the watch says so before our binding's answer.
        s.on_pod(pod(Some("n2")), false);
        s.on_bound(bound_with(Err(api_error(409))));
        assert_eq!((on(&s, "n1"), on(&s, "n2")), (0, 1));
        assert!(s.queue.location("default/p").is_none());
    }

    #[test]
    fn a_failed_binding_forgets_the_assumption_and_queues_the_pod_again() {
        let mut s = scheduler();
        assume_on(&mut s, "n1");
        s.on_bound(bound_with(Err(api_error(500))));
        assert_eq!(on(&s, "n1"), 0);
        assert!(s.assumed.is_empty());
        assert!(s.queue.location("default/p").is_some());
        // A pod that is gone (404) is not queued again.
        let mut s = scheduler();
        assume_on(&mut s, "n1");
        s.on_bound(bound_with(Err(api_error(404))));
        assert_eq!(on(&s, "n1"), 0);
        assert!(s.queue.location("default/p").is_none());
    }
}
