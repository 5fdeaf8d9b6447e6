//! Skiff's controller manager: the control loops of kube-controller-manager, each a
//! level-triggered reconcile function, run only by the leader of a `coordination.k8s.io` Lease so
//! several servers can share a cluster. Controllers talk to the API server only through the
//! Kubernetes API (the kube crate), even when they run in the server's process.
//!
//! - [`leader`]: leader election (a pure decision function and its Lease driver).
//! - [`namespace`]: namespace lifecycle — deleting a namespace deletes its contents, then it.
//! - [`serviceaccount`]: a `default` ServiceAccount in every namespace.
//! - [`workloads`]: ReplicaSet, ReplicationController, Deployment, Job, CronJob, StatefulSet
//!   and DaemonSet drivers over the shared [`informers`].
//! - [`runtime`]: caches, informers, the work queue and expectations they share.

pub mod gc;
pub mod informers;
pub mod leader;
pub mod namespace;
pub mod runtime;
pub mod serviceaccount;
pub mod workloads;

use std::time::Duration;
use tokio::sync::watch;

/// Settings of the controller manager.
#[derive(Clone, Debug)]
pub struct Options {
    /// This process's identity in the Lease (`<hostname>_<uuid>`).
    pub identity: String,
    /// Namespace and name of the leader-election Lease.
    pub lease: (String, String),
    /// How long a Lease is valid without renewal (upstream: 15 s).
    pub lease_duration: Duration,
    /// How often the leader renews and others retry (upstream: 2 s).
    pub retry_period: Duration,
}

impl Default for Options {
    fn default() -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "skiff".into());
        Self {
            identity: format!("{host}_{}", uuid::Uuid::new_v4()),
            lease: ("kube-system".into(), "kube-controller-manager".into()),
            lease_duration: Duration::from_secs(15),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// Runs the controller manager until `stop` turns true: waits to lead, runs every controller
/// while leading, and stops them if leadership is lost (then competes again).
pub async fn run(client: kube::Client, opts: Options, mut stop: watch::Receiver<bool>) {
    loop {
        let Some(mut lost) = leader::acquire(&client, &opts, &mut stop).await else {
            return;
        };
        tracing::info!(identity = %opts.identity, "controller manager: leading");
        let (ctl_stop_tx, ctl_stop) = watch::channel(false);
        let controllers = tokio::spawn(run_controllers(client.clone(), ctl_stop));
        tokio::select! {
            _ = lost.changed() => tracing::warn!("controller manager: lost leadership"),
            _ = stop.changed() => {}
        }
        let _ = ctl_stop_tx.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), controllers).await;
        if *stop.borrow() {
            return;
        }
    }
}

async fn run_controllers(client: kube::Client, stop: watch::Receiver<bool>) {
    tokio::join!(
        namespace::run(client.clone(), stop.clone()),
        serviceaccount::run(client.clone(), stop.clone()),
        workloads::run(client.clone(), stop.clone()),
        gc::run(client, stop),
    );
}

/// A future that completes when `stop` turns true (for kube-runtime's graceful shutdown).
pub(crate) async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
