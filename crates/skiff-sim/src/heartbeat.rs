//! Driver: the kubelets' heartbeats — Lease renewals and status refreshes spread over their
//! periods — and the node watch that notices `sim.skiff.dev/heartbeat: stop` and deletions.

use crate::node::{self, LEASE_NAMESPACE};
use crate::options::SimOptions;
use crate::register::{code, patch_params, post_params};
use crate::spread::Spread;
use crate::table::NodeTable;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch};
use kube::runtime::{watcher, WatchStreamExt};
use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};

/// Renews node `i`'s Lease (recreating it if someone deleted it). Returns false on failure.
pub(crate) async fn renew_lease(
    client: kube::Client,
    opts: Arc<SimOptions>,
    nodes: Arc<NodeTable>,
    i: u32,
) -> bool {
    let api: Api<Lease> = Api::namespaced(client, LEASE_NAMESPACE);
    let name = nodes.name(i).to_string();
    let uid = nodes.uid(i);
    let duration = i32::try_from(opts.lease_duration.as_secs()).unwrap_or(i32::MAX);
    let now = Timestamp::now();
    let patch = node::renew_patch(&name, &uid, duration, now);
    let result = match api
        .patch(&name, &patch_params(), &Patch::Merge(&patch))
        .await
    {
        Err(e) if code(&e) == Some(404) => api
            .create(&post_params(), &node::lease(&name, &uid, duration, now))
            .await
            .map(drop),
        other => other.map(drop),
    };
    if let Err(e) = &result {
        tracing::debug!(node = %name, error = %e, "lease renewal failed");
    }
    result.is_ok()
}

/// Refreshes node `i`'s status conditions (lastHeartbeatTime). Returns false on failure.
pub(crate) async fn refresh_status(client: kube::Client, nodes: Arc<NodeTable>, i: u32) -> bool {
    let api: Api<Node> = Api::all(client);
    let now = Timestamp::now();
    let patch = node::conditions_patch(now, nodes.ready_since(i, now));
    match api
        .patch_status(nodes.name(i), &patch_params(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => true,
        Err(e) => {
            tracing::debug!(node = %nodes.name(i), error = %e, "status refresh failed");
            false
        }
    }
}

/// Runs `write(i)` for every live node once per `period`, spread evenly, each write holding a
/// permit of `sem`; logs failed writes once per round. Returns when `stop` turns true.
async fn every<F, Fut>(
    what: &'static str,
    nodes: Arc<NodeTable>,
    period: Duration,
    sem: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
    write: F,
) where
    F: Fn(u32) -> Fut,
    Fut: Future<Output = bool> + Send + 'static,
{
    let spread = Spread::new(nodes.len(), period);
    let mut ticker = tokio::time::interval(spread.tick().max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let failures = Arc::new(AtomicU64::new(0));
    let mut t: u64 = 0; // tick within the round
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        for i in spread.batch(t) {
            if !nodes.is_live(i) {
                continue;
            }
            let permit = tokio::select! {
                p = sem.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
                _ = stop.wait_for(|s| *s) => return,
            };
            let fut = write(i);
            let failures = failures.clone();
            tokio::spawn(async move {
                if !fut.await {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                drop(permit);
            });
        }
        t += 1;
        if t >= u64::from(spread.ticks()) {
            t = 0;
            let n = failures.swap(0, Ordering::Relaxed);
            if n > 0 {
                tracing::warn!(
                    "{n} {what} failed in the last round (RUST_LOG=skiff_sim=debug shows why)"
                );
            }
        }
    }
}

/// Renews every live node's Lease each `heartbeat_interval`.
pub(crate) async fn leases(
    client: kube::Client,
    opts: Arc<SimOptions>,
    nodes: Arc<NodeTable>,
    sem: Arc<Semaphore>,
    stop: watch::Receiver<bool>,
) {
    let period = opts.heartbeat_interval;
    every("lease renewals", nodes.clone(), period, sem, stop, |i| {
        renew_lease(client.clone(), opts.clone(), nodes.clone(), i)
    })
    .await;
}

/// Refreshes every live node's status conditions each `status_interval`.
pub(crate) async fn statuses(
    client: kube::Client,
    opts: Arc<SimOptions>,
    nodes: Arc<NodeTable>,
    sem: Arc<Semaphore>,
    stop: watch::Receiver<bool>,
) {
    every(
        "node status refreshes",
        nodes.clone(),
        opts.status_interval,
        sem,
        stop,
        |i| refresh_status(client.clone(), nodes.clone(), i),
    )
    .await;
}

/// Applies what the API says about one of our nodes; a kubelet that comes back posts its
/// status and Lease at once and has its pods looked at again.
fn observe(
    client: &kube::Client,
    opts: &Arc<SimOptions>,
    nodes: &Arc<NodeTable>,
    n: &Node,
) -> Option<u32> {
    let i = nodes.index_of(n.metadata.name.as_deref()?)?;
    if let Some(uid) = n.metadata.uid.as_deref() {
        if uid != nodes.uid(i) && !nodes.uid(i).is_empty() {
            nodes.set_uid(i, uid);
        }
    }
    let stopped = node::heartbeat_stopped(n);
    let was_live = nodes.is_live(i);
    let revived = nodes.observe(i, stopped, false);
    if was_live && stopped {
        tracing::info!(node = nodes.name(i), "heartbeat stopped by annotation");
    }
    if revived {
        tracing::info!(node = nodes.name(i), "heartbeat resumed");
        nodes.set_ready_since(i, None);
        tokio::spawn(refresh_status(client.clone(), nodes.clone(), i));
        tokio::spawn(renew_lease(client.clone(), opts.clone(), nodes.clone(), i));
        nodes.notify_revival();
    } else if nodes.is_live(i) {
        nodes.set_ready_since(i, node::ready_since(n));
    }
    Some(i)
}

/// Watches the sim's nodes (label `type=skiff-sim`) for the heartbeat annotation and for
/// deletion, until `stop` turns true.
pub(crate) async fn watch_nodes(
    client: kube::Client,
    opts: Arc<SimOptions>,
    nodes: Arc<NodeTable>,
    mut stop: watch::Receiver<bool>,
) {
    let api: Api<Node> = Api::all(client.clone());
    let (k, v) = node::TYPE_LABEL;
    let cfg = watcher::Config::default().labels(&format!("{k}={v}"));
    let mut events = watcher(api, cfg).default_backoff().boxed();
    let mut listed: HashSet<u32> = HashSet::new();
    loop {
        let event = tokio::select! {
            e = events.try_next() => e,
            _ = stop.wait_for(|s| *s) => return,
        };
        match event {
            Ok(Some(watcher::Event::Init)) => listed.clear(),
            Ok(Some(watcher::Event::InitApply(n))) => {
                if let Some(i) = observe(&client, &opts, &nodes, &n) {
                    listed.insert(i);
                }
            }
            Ok(Some(watcher::Event::Apply(n))) => {
                observe(&client, &opts, &nodes, &n);
            }
            Ok(Some(watcher::Event::InitDone)) => {
                for i in (0..nodes.len()).filter(|i| !listed.contains(i)) {
                    if nodes.is_live(i) {
                        tracing::warn!(node = nodes.name(i), "node is gone; its kubelet stops");
                        nodes.observe(i, false, true);
                    }
                }
            }
            Ok(Some(watcher::Event::Delete(n))) => {
                if let Some(i) = n.metadata.name.as_deref().and_then(|n| nodes.index_of(n)) {
                    tracing::warn!(node = nodes.name(i), "node was deleted; its kubelet stops");
                    nodes.observe(i, node::heartbeat_stopped(&n), true);
                }
            }
            Ok(None) => return,
            Err(e) => tracing::warn!(error = %e, "node watch failed; retrying"),
        }
    }
}
