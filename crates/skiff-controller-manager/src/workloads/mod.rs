//! Drivers of the workload controllers (ReplicaSet, ReplicationController, Deployment, Job,
//! CronJob, StatefulSet, DaemonSet): each observes through the shared informer caches, calls
//! its pure planner in skiff-controllers, and carries out the steps through the API.
//! Level-triggered: a failed step ends the sync with an error and the next sync plans again
//! from what it observes; expectations keep a sync from acting on a cache that has not yet
//! seen its previous writes.

mod daemonset;
mod deployment;
mod job;
mod replicaset;
mod routing;
mod statefulset;
pub(crate) mod write;

pub use write::Error;

use crate::informers::{Caches, Informers};
use crate::runtime::{run_workers, ObjectKey, Queue, SyncExpectations};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Which controller a queue key or expectation belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    ReplicaSet,
    ReplicationController,
    Deployment,
    Job,
    CronJob,
    StatefulSet,
    DaemonSet,
}

/// One work queue per controller.
#[derive(Clone)]
pub(crate) struct Queues {
    pub rs: Arc<Queue<ObjectKey>>,
    pub rc: Arc<Queue<ObjectKey>>,
    pub deploy: Arc<Queue<ObjectKey>>,
    pub job: Arc<Queue<ObjectKey>>,
    pub cron: Arc<Queue<ObjectKey>>,
    pub sts: Arc<Queue<ObjectKey>>,
    pub ds: Arc<Queue<ObjectKey>>,
}

/// What every sync reads: the client, the caches and the expectations.
pub(crate) struct Ctx {
    pub client: kube::Client,
    pub caches: Caches,
    pub expectations: SyncExpectations<(Kind, ObjectKey)>,
}

/// If a sync cannot act yet (its cache lags its writes), it looks again after this long even
/// without an event.
const LAGGING_RETRY: Duration = Duration::from_secs(1);

impl Ctx {
    /// Whether `key` may plan: its children cache (at `revision`) has seen its last writes,
    /// and the cached `object` has seen its last status write (a Job planning from a status
    /// older than its own last count would count pods twice or create too many).
    pub(crate) fn caught_up<K: kube::Resource>(
        &self,
        kind: Kind,
        key: &ObjectKey,
        revision: u64,
        object: &K,
    ) -> bool {
        self.expectations.satisfied(
            &(kind, key.clone()),
            revision,
            crate::runtime::revision_of(object),
            Instant::now(),
        )
    }

    /// Remembers the writes of a sync so the next one waits for them.
    pub(crate) fn wrote(&self, kind: Kind, key: &ObjectKey, w: &write::Written) {
        self.expectations
            .expect(&(kind, key.clone()), w.children, w.own, Instant::now());
    }

    /// The object is gone: forget its expectations.
    pub(crate) fn forget(&self, kind: Kind, key: &ObjectKey) {
        self.expectations.delete(&(kind, key.clone()));
    }
}

/// The workload controllers, hooked to the shared informers.
pub struct Controllers {
    ctx: Arc<Ctx>,
    queues: Queues,
}

impl Controllers {
    /// Registers the controllers' event handlers; call before the informers run.
    pub fn new(client: kube::Client, informers: &Informers) -> Self {
        let queues = Queues {
            rs: Queue::new(),
            rc: Queue::new(),
            deploy: Queue::new(),
            job: Queue::new(),
            cron: Queue::new(),
            sts: Queue::new(),
            ds: Queue::new(),
        };
        routing::register(informers, &queues);
        let ctx = Arc::new(Ctx {
            client,
            caches: informers.caches(),
            expectations: SyncExpectations::default(),
        });
        Self { ctx, queues }
    }

    /// Runs the workers until `stop` turns true (the informers must be running).
    pub async fn run(self, stop: watch::Receiver<bool>) {
        let (ctx, queues) = (self.ctx, self.queues);
        macro_rules! workers {
            ($name:literal, $queue:expr, $n:expr, $sync:path) => {{
                let c = ctx.clone();
                run_workers($name, $queue.clone(), $n, stop.clone(), move |k| {
                    let c = c.clone();
                    async move { $sync(c, k).await }
                })
            }};
        }
        tokio::join!(
            workers!("replicaset", queues.rs, 5, replicaset::sync_rs),
            workers!("replicationcontroller", queues.rc, 5, replicaset::sync_rc),
            workers!("deployment", queues.deploy, 5, deployment::sync),
            workers!("job", queues.job, 5, job::sync_job),
            workers!("cronjob", queues.cron, 5, job::sync_cron),
            workers!("statefulset", queues.sts, 5, statefulset::sync),
            workers!("daemonset", queues.ds, 2, daemonset::sync),
        );
    }
}

/// `Ok(Some(LAGGING_RETRY))` for a sync that waits for its cache.
pub(crate) fn lagging() -> Result<Option<Duration>, Error> {
    Ok(Some(LAGGING_RETRY))
}

/// The planners' `now`.
pub(crate) fn now() -> skiff_controllers::Timestamp {
    skiff_controllers::Timestamp::now()
}

/// Borrowed views of cached objects, as the planners take them.
pub(crate) fn refs<K>(v: &[Arc<K>]) -> Vec<&K> {
    v.iter().map(|a| a.as_ref()).collect()
}
