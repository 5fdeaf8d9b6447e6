//! Driver: registering the sim's nodes (create or adopt, status, Lease) and, with
//! `--delete-on-exit`, deleting them again.

use crate::node::{self, FIELD_MANAGER, LEASE_NAMESPACE};
use crate::options::SimOptions;
use crate::table::NodeTable;
use crate::Error;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// Attempts per node before registration gives up.
const ATTEMPTS: u32 = 5;

pub(crate) fn post_params() -> PostParams {
    PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    }
}

pub(crate) fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    }
}

/// The status code of an API error, if the server answered.
pub(crate) fn code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// Creates `kube-node-lease` if it is missing (a real cluster always has it).
pub(crate) async fn ensure_lease_namespace(client: &kube::Client) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some(LEASE_NAMESPACE.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    match api.create(&post_params(), &ns).await {
        Ok(_) => tracing::info!("created namespace {LEASE_NAMESPACE}"),
        Err(e) if code(&e) == Some(409) => {}
        Err(e) => tracing::warn!(error = %e, "cannot create namespace {LEASE_NAMESPACE}"),
    }
}

/// Creates node `i`, or adopts it if it exists (re-asserting the sim's labels), then writes
/// its status and Lease. A node that exists and whose kubelet is dead is left as it is.
async fn register(
    client: &kube::Client,
    opts: &SimOptions,
    nodes: &NodeTable,
    i: u32,
) -> Result<(), kube::Error> {
    let api: Api<Node> = Api::all(client.clone());
    let name = opts.node_name(i);
    let now = Timestamp::now();
    let (node, created) = match api
        .create(&post_params(), &node::node_object(opts, i))
        .await
    {
        Ok(n) => (n, true),
        Err(e) if code(&e) == Some(409) => {
            let existing = api.get(&name).await?;
            let want = node::labels(opts, &name);
            let have = existing.metadata.labels.clone().unwrap_or_default();
            let existing = if want.iter().all(|(k, v)| have.get(k) == Some(v)) {
                existing
            } else {
                let patch = serde_json::json!({ "metadata": { "labels": want } });
                api.patch(&name, &patch_params(), &Patch::Merge(&patch))
                    .await?
            };
            (existing, false)
        }
        Err(e) => return Err(e),
    };
    let uid = node.metadata.uid.clone().unwrap_or_default();
    nodes.observe(i, node::heartbeat_stopped(&node), false);
    let since = node::ready_since(&node).unwrap_or(now);
    nodes.set_ready_since(i, Some(since));
    nodes.set_registered(i, &uid);
    if !created && !nodes.is_live(i) {
        return Ok(());
    }
    let status = node::status_patch(opts, i, now, since);
    api.patch_status(&name, &patch_params(), &Patch::Merge(&status))
        .await?;
    let duration = i32::try_from(opts.lease_duration.as_secs()).unwrap_or(i32::MAX);
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let lease = node::lease(&name, &uid, duration, now);
    match leases.create(&post_params(), &lease).await {
        Ok(_) => Ok(()),
        Err(e) if code(&e) == Some(409) => {
            let patch = node::renew_patch(&name, &uid, duration, now);
            leases
                .patch(&name, &patch_params(), &Patch::Merge(&patch))
                .await
                .map(drop)
        }
        Err(e) => Err(e),
    }
}

/// [`register`] with retries (0.5 s doubling).
async fn register_with_retries(
    client: kube::Client,
    opts: Arc<SimOptions>,
    nodes: Arc<NodeTable>,
    i: u32,
) -> Result<(), Error> {
    let mut delay = Duration::from_millis(500);
    let mut attempt = 1;
    loop {
        match register(&client, &opts, &nodes, i).await {
            Ok(()) => return Ok(()),
            Err(source) if attempt >= ATTEMPTS => {
                return Err(Error::Register {
                    node: opts.node_name(i),
                    source,
                })
            }
            Err(e) => {
                tracing::debug!(node = %opts.node_name(i), error = %e, "registration failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
        }
    }
}

/// Registers every node, at most `sem`'s permits at a time, logging progress. Stops early
/// (with `Ok`) when `stop` turns true; fails when a node cannot be registered.
pub(crate) async fn register_all(
    client: &kube::Client,
    opts: &Arc<SimOptions>,
    nodes: &Arc<NodeTable>,
    sem: &Arc<Semaphore>,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), Error> {
    let total = opts.nodes;
    let step = (total / 10).max(1);
    let mut tasks = JoinSet::new();
    let mut done = 0u32;
    let mut next_report = step;
    let mut next = 0u32;
    let mut last_log = tokio::time::Instant::now();
    while done < total {
        tokio::select! {
            permit = sem.clone().acquire_owned(), if next < total => {
                let Ok(permit) = permit else { break };
                let (c, o, n, i) = (client.clone(), opts.clone(), nodes.clone(), next);
                tasks.spawn(async move {
                    let r = register_with_retries(c, o, n, i).await;
                    drop(permit);
                    r
                });
                next += 1;
            }
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                match joined {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(e),
                    Err(e) => return Err(Error::Task(e.to_string())),
                }
                done += 1;
                if done >= next_report || done == total || last_log.elapsed() >= Duration::from_secs(5) {
                    tracing::info!("registered {done}/{total} nodes");
                    last_log = tokio::time::Instant::now();
                    next_report = done + step;
                }
            }
            _ = stop.wait_for(|s| *s) => {
                tracing::info!("stopping: registered {done}/{total} nodes");
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Deletes every node of the run and its Lease (404s ignored), at most `sem`'s permits at a
/// time, giving up after `timeout`.
pub(crate) async fn delete_all(
    client: &kube::Client,
    opts: &SimOptions,
    sem: &Arc<Semaphore>,
    timeout: Duration,
) {
    let total = opts.nodes;
    let mut tasks = JoinSet::new();
    let work = async {
        for i in 0..total {
            let Ok(permit) = sem.clone().acquire_owned().await else {
                break;
            };
            let name = opts.node_name(i);
            let client = client.clone();
            tasks.spawn(async move {
                let nodes: Api<Node> = Api::all(client.clone());
                let leases: Api<Lease> = Api::namespaced(client, LEASE_NAMESPACE);
                let dp = DeleteParams::default();
                let deleted = match nodes.delete(&name, &dp).await {
                    Ok(_) => true,
                    Err(e) if code(&e) == Some(404) => false,
                    Err(e) => {
                        tracing::warn!(node = %name, error = %e, "cannot delete node");
                        false
                    }
                };
                let _ = leases.delete(&name, &dp).await;
                drop(permit);
                deleted
            });
        }
        let mut deleted = 0u32;
        while let Some(r) = tasks.join_next().await {
            deleted += u32::from(r.unwrap_or(false));
        }
        deleted
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(n) => tracing::info!("deleted {n} nodes"),
        Err(_) => tracing::warn!("gave up deleting nodes after {timeout:?}"),
    }
}
