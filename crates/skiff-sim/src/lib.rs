//! Simulated nodes, like kwok: one process registers N fake Nodes and plays the kubelet's part
//! for the pods bound to them — Ready conditions, Lease heartbeats, pods turning Running with
//! IPs, finishing on request, and finalizing deletions. A test fixture for the control plane
//! and the `skiff sim` command.
//!
//! # Usage
//!
//! ```text
//! skiff sim --kubeconfig /tmp/skiff/kubeconfig.yaml --nodes 100 --label zone=a \
//!     --taint dedicated=sim:NoSchedule --delete-on-exit
//! ```
//!
//! Embedded (tests, benchmarks):
//!
//! ```no_run
//! # async fn demo() -> Result<(), skiff_sim::Error> {
//! let client = kube::Client::try_default().await?;
//! let (stop_tx, stop) = tokio::sync::watch::channel(false);
//! let sim = tokio::spawn(skiff_sim::run_with(client, skiff_sim::SimOptions::new(10), stop));
//! // … create workloads and watch them run on sim-node-0 … sim-node-9 …
//! let _ = stop_tx.send(true);
//! # let _ = sim.await;
//! # Ok(())
//! # }
//! ```
//!
//! # Behaviour
//!
//! - **Nodes** `<prefix><i>` are created (or adopted if they exist) with labels
//!   `kubernetes.io/hostname`, `kubernetes.io/os=linux`, `kubernetes.io/arch=amd64` and
//!   `type=skiff-sim`, a /24 `spec.podCIDR`, and a Ready status written through `/status`.
//!   Conditions are refreshed every 60 s.
//! - **Leases** in `kube-node-lease` are renewed every `--heartbeat-interval`, spread evenly
//!   over the interval.
//! - **Dead kubelets**: nodes named in `--stop-heartbeat`, or annotated
//!   [`sim.skiff.dev/heartbeat: "stop"`](node::HEARTBEAT_ANNOTATION) (noticed at runtime, and
//!   removing it revives the node), neither heartbeat nor touch their pods.
//! - **Pods** bound to live sim nodes become Running with every condition True, a pod IP from
//!   the node's range (`.2`–`.254`; hostNetwork pods get the node IP), container statuses and
//!   the QoS class. Annotations [`sim.skiff.dev/complete-after`](pod_plan::COMPLETE_AFTER) and
//!   [`sim.skiff.dev/fail-after`](pod_plan::FAIL_AFTER) (`"2s"`, `"500ms"`, `"1m"`) end the pod
//!   that long after it started (Succeeded, or Failed with exit code 1). Pods being deleted are
//!   deleted with grace period 0, as a kubelet does once its containers have stopped.
//! - A restarted sim adopts its nodes and leaves pods that already run alone.
//!
//! Pure parts ([`node`] and [`pod_status`] construction, [`cidr`] IP allocation, [`duration`],
//! [`qos`], [`pod_plan`], the pod [`tracker`], the heartbeat [`spread`]) do no I/O; private
//! driver modules (registration, heartbeats, the pod watch) await the API calls.

mod args;
pub mod cidr;
pub mod duration;
mod heartbeat;
pub mod ids;
pub mod node;
pub mod options;
pub mod pod_plan;
pub mod pod_status;
mod pods;
pub use skiff_api::qos;
pub use skiff_api::quantity;
mod register;
pub mod spread;
pub mod table;
pub mod tracker;

pub use args::SimArgs;
pub use options::SimOptions;

use anyhow::Context;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};

/// How long `--delete-on-exit` may take before the sim gives up.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a sim run failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The options contradict each other (e.g. more nodes than the pod CIDR has /24s).
    #[error("{0}")]
    Options(String),
    /// The API server did not accept a node.
    #[error("cannot register node {node}: {source}")]
    Register {
        /// The node.
        node: String,
        /// The last error.
        #[source]
        source: kube::Error,
    },
    /// A registration task panicked or was cancelled.
    #[error("registration task failed: {0}")]
    Task(String),
    /// Building the API client failed.
    #[error(transparent)]
    Client(#[from] kube::Error),
}

/// Runs the simulation with a client and options until `stop` turns true (or its sender is
/// dropped): registers the nodes, then heartbeats and plays their kubelets; with
/// `delete_on_exit`, deletes the nodes at the end.
///
/// Returns an error only for invalid options or nodes the API server refuses.
pub async fn run_with(
    client: kube::Client,
    opts: SimOptions,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    opts.validate().map_err(Error::Options)?;
    if opts.heartbeat_interval >= opts.lease_duration {
        tracing::warn!(
            "heartbeat interval {:?} is not shorter than the lease duration {:?}: leases will expire between renewals",
            opts.heartbeat_interval,
            opts.lease_duration
        );
    }
    let max_pods = opts
        .allocatable
        .get("pods")
        .and_then(|q| quantity::whole_units(&q.0));
    if max_pods.is_some_and(|n| n > 253) {
        tracing::warn!(
            "nodes accept more pods than the 253 IPs of their /24; extra pods stay Pending"
        );
    }
    let opts = Arc::new(opts);
    let nodes = Arc::new(table::NodeTable::new(&opts));
    let sem = Arc::new(Semaphore::new(opts.max_in_flight));
    register::ensure_lease_namespace(&client).await;
    let registered = register::register_all(&client, &opts, &nodes, &sem, &mut stop).await;
    if registered.is_ok() && !*stop.borrow() {
        tracing::info!(
            "simulating {} nodes ({}0 … {}{})",
            opts.nodes,
            opts.name_prefix,
            opts.name_prefix,
            opts.nodes - 1
        );
        tokio::join!(
            heartbeat::leases(
                client.clone(),
                opts.clone(),
                nodes.clone(),
                sem.clone(),
                stop.clone()
            ),
            heartbeat::statuses(
                client.clone(),
                opts.clone(),
                nodes.clone(),
                sem.clone(),
                stop.clone()
            ),
            heartbeat::watch_nodes(client.clone(), opts.clone(), nodes.clone(), stop.clone()),
            pods::run(
                client.clone(),
                opts.clone(),
                nodes.clone(),
                sem.clone(),
                stop.clone()
            ),
        );
    }
    if opts.delete_on_exit {
        register::delete_all(&client, &opts, &sem, CLEANUP_TIMEOUT).await;
    }
    registered
}

/// A kube client from `--kubeconfig`, or the default chain ($KUBECONFIG, ~/.kube/config,
/// in-cluster).
async fn client(kubeconfig: Option<&Path>) -> anyhow::Result<kube::Client> {
    let Some(path) = kubeconfig else {
        return kube::Client::try_default()
            .await
            .context("no usable kubeconfig: pass --kubeconfig or set KUBECONFIG");
    };
    // The kube errors already name their cause: one line, not a chain repeating it.
    let kc = kube::config::Kubeconfig::read_from(path)
        .map_err(|e| anyhow::anyhow!("reading kubeconfig {}: {e}", path.display()))?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .map_err(|e| anyhow::anyhow!("kubeconfig {} is not usable: {e}", path.display()))?;
    kube::Client::try_from(cfg).context("building the API client")
}

/// Waits for SIGINT or SIGTERM.
async fn signal() {
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    match term {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// `skiff sim`: runs the simulation described by the flags until SIGINT or SIGTERM. A second
/// signal during `--delete-on-exit` cleanup exits at once.
pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let opts = args.to_options()?;
    let client = client(args.kubeconfig.as_deref()).await?;
    let (stop_tx, stop) = watch::channel(false);
    let signals = tokio::spawn(async move {
        signal().await;
        tracing::info!("stopping (signal again to exit at once)");
        let _ = stop_tx.send(true);
        signal().await;
        tracing::warn!("second signal: exiting without cleanup");
        std::process::exit(130);
    });
    let result = run_with(client, opts, stop).await;
    signals.abort();
    Ok(result?)
}
