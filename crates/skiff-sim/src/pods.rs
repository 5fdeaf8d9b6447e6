//! Driver: watches bound pods cluster-wide, feeds the [`Tracker`], and carries out its writes
//! with at most `--max-in-flight` in flight.

use crate::options::SimOptions;
use crate::register::{code, patch_params};
use crate::table::NodeTable;
use crate::tracker::{Effect, Op, PodRef, Tracker};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, Preconditions};
use kube::runtime::{watcher, WatchStreamExt};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::Instant;

/// How long to wait after a node comes back before re-listing pods (several revivals in a row
/// cost one re-list).
const RELIST_DELAY: Duration = Duration::from_secs(1);
/// How often progress is logged (when something changed).
const PROGRESS_EVERY: Duration = Duration::from_secs(30);

/// A finished API call, reported back to the loop.
enum Done {
    Wrote {
        pod: PodRef,
        op: Op,
        ok: bool,
        /// resourceVersion the write produced, if it returned the object.
        version: Option<String>,
    },
    Fetched {
        pod: PodRef,
        result: Result<Option<Box<Pod>>, ()>,
    },
}

/// Counters for the progress log.
#[derive(Default, PartialEq, Clone, Copy)]
struct Progress {
    started: u64,
    finished: u64,
    deleted: u64,
}

type PodEvents =
    Pin<Box<dyn futures::Stream<Item = Result<watcher::Event<Pod>, watcher::Error>> + Send>>;

fn pod_watch(api: &Api<Pod>) -> PodEvents {
    // The API server filters to bound pods; the tracker keeps those on the sim's nodes.
    let cfg = watcher::Config::default().fields("spec.nodeName!=");
    watcher(api.clone(), cfg).default_backoff().boxed()
}

/// The tokio instant at which wall-clock time `at` arrives.
fn instant_at(at: Timestamp, now: Timestamp) -> Instant {
    let wait = Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO);
    Instant::now() + wait
}

/// Of the pod a status write returns, the one thing the sim reads: its resourceVersion.
/// Decoding only this skips building a whole `Pod` per write (the answer is parsed, not
/// kept), which was a third of the sim's decoding at scale.
#[derive(serde::Deserialize)]
struct Written {
    metadata: WrittenMeta,
}

#[derive(serde::Deserialize)]
struct WrittenMeta {
    #[serde(rename = "resourceVersion")]
    resource_version: Option<String>,
}

/// A merge patch of the pod's status subresource; returns the resourceVersion it wrote.
async fn patch_status(
    client: &kube::Client,
    pod: &PodRef,
    patch: &serde_json::Value,
) -> Result<Option<String>, kube::Error> {
    let url = format!("/api/v1/namespaces/{}/pods", pod.namespace());
    let request = kube::core::Request::new(url)
        .patch_subresource("status", pod.name(), &patch_params(), &Patch::Merge(patch))
        .map_err(kube::Error::BuildRequest)?;
    let written: Written = client.request(request).await?;
    Ok(written.metadata.resource_version)
}

/// Carries out one effect on a task of its own, holding a permit of `sem`.
async fn execute(
    client: &kube::Client,
    sem: &Arc<Semaphore>,
    effect: Effect,
    done: &mpsc::UnboundedSender<Done>,
) {
    let Ok(permit) = sem.clone().acquire_owned().await else {
        return;
    };
    let (client, done) = (client.clone(), done.clone());
    tokio::spawn(async move {
        let msg = match effect {
            Effect::Patch { pod, op, patch } => {
                let r = patch_status(&client, &pod, &patch).await;
                if let Err(e) = &r {
                    tracing::debug!(pod = %pod.key, error = %e, "status update failed");
                }
                // A pod deleted meanwhile needs nothing more; its deletion is on its way.
                let ok = r.is_ok() || r.as_ref().err().and_then(code) == Some(404);
                let version = r.ok().flatten();
                Done::Wrote {
                    pod,
                    op,
                    ok,
                    version,
                }
            }
            Effect::Delete(pod) => {
                let api: Api<Pod> = Api::namespaced(client, pod.namespace());
                let dp = DeleteParams {
                    grace_period_seconds: Some(0),
                    preconditions: Some(Preconditions {
                        uid: Some(pod.uid.clone()),
                        resource_version: None,
                    }),
                    ..Default::default()
                };
                let r = api.delete(pod.name(), &dp).await;
                let ok = match &r {
                    Ok(_) => true,
                    Err(e) => {
                        let c = code(e);
                        if !matches!(c, Some(404 | 409)) {
                            tracing::debug!(pod = %pod.key, error = %e, "delete failed");
                        }
                        matches!(c, Some(404 | 409))
                    }
                };
                Done::Wrote {
                    pod,
                    op: Op::Delete,
                    ok,
                    version: None,
                }
            }
            Effect::Fetch(pod) => {
                let api: Api<Pod> = Api::namespaced(client, pod.namespace());
                let result = api
                    .get_opt(pod.name())
                    .await
                    .map(|p| p.map(Box::new))
                    .map_err(|e| {
                        tracing::debug!(pod = %pod.key, error = %e, "get failed");
                    });
                Done::Fetched { pod, result }
            }
        };
        drop(permit);
        let _ = done.send(msg);
    });
}

/// Plays the kubelet for pods on the sim's live nodes until `stop` turns true.
pub(crate) async fn run(
    client: kube::Client,
    opts: Arc<SimOptions>,
    nodes: Arc<NodeTable>,
    sem: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    let api: Api<Pod> = Api::all(client.clone());
    let mut tracker = Tracker::new(opts.nodes, opts.pod_cidr);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let mut revivals = nodes.revivals();
    let mut events = pod_watch(&api);
    let mut relist_at: Option<Instant> = None;
    let mut progress = Progress::default();
    let mut logged = progress;
    let mut next_log = Instant::now() + PROGRESS_EVERY;
    loop {
        let now = Timestamp::now();
        let timer = tracker.next_due().map(|at| instant_at(at, now));
        let effects = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            event = events.try_next() => match event {
                Ok(Some(watcher::Event::Init)) => {
                    tracker.on_init();
                    vec![]
                }
                Ok(Some(watcher::Event::InitApply(p) | watcher::Event::Apply(p))) => {
                    tracker.on_apply(p, &nodes, Timestamp::now())
                }
                Ok(Some(watcher::Event::InitDone)) => {
                    let fx = tracker.on_init_done(&nodes, Timestamp::now());
                    tracing::info!("pod watch synced: {} pods on sim nodes, {} to start", tracker.len(), fx.len());
                    fx
                }
                Ok(Some(watcher::Event::Delete(p))) => {
                    tracker.on_delete(&p);
                    vec![]
                }
                Ok(None) => {
                    events = pod_watch(&api);
                    vec![]
                }
                Err(e) => {
                    tracing::warn!(error = %e, "pod watch failed; retrying");
                    vec![]
                }
            },
            Some(done) = done_rx.recv() => match done {
                Done::Wrote { pod, op, ok, version } => {
                    if let Some(v) = version.as_deref() {
                        tracker.on_written(&pod, v);
                    }
                    if ok {
                        match op {
                            Op::Start => progress.started += 1,
                            Op::Finish => progress.finished += 1,
                            Op::Delete => progress.deleted += 1,
                            Op::Fetch => {}
                        }
                    }
                    tracker.on_result(&pod, op, ok, Timestamp::now());
                    vec![]
                }
                Done::Fetched { pod, result: Ok(p) } => tracker.on_fetched(&pod, p.map(|p| *p), &nodes, Timestamp::now()),
                Done::Fetched { pod, result: Err(()) } => {
                    tracker.on_result(&pod, Op::Fetch, false, Timestamp::now());
                    vec![]
                }
            },
            _ = tokio::time::sleep_until(timer.unwrap_or_else(Instant::now)), if timer.is_some() => {
                tracker.due(&nodes, Timestamp::now())
            }
            changed = revivals.changed() => {
                if changed.is_ok() && relist_at.is_none() {
                    relist_at = Some(Instant::now() + RELIST_DELAY);
                }
                vec![]
            }
            _ = tokio::time::sleep_until(relist_at.unwrap_or_else(Instant::now)), if relist_at.is_some() => {
                // A kubelet came back: look at every pod again.
                relist_at = None;
                events = pod_watch(&api);
                vec![]
            }
            _ = tokio::time::sleep_until(next_log) => {
                next_log = Instant::now() + PROGRESS_EVERY;
                if progress != logged {
                    tracing::info!(
                        "pods: {} tracked; {} started, {} finished, {} deletions finalized so far",
                        tracker.len(), progress.started, progress.finished, progress.deleted
                    );
                    logged = progress;
                }
                vec![]
            }
        };
        for effect in effects {
            execute(&client, &sem, effect, &done_tx).await;
        }
    }
}
