//! Skiff's controller manager: the control loops of kube-controller-manager, each a
//! level-triggered reconcile function, run only by the leader of a `coordination.k8s.io` Lease so
//! several servers can share a cluster. Controllers talk to the API server only through the
//! Kubernetes API (the kube crate), even when they run in the server's process.
//!
//! Leader election lives in the skiff-leader crate (shared with the scheduler).
//! - [`namespace`]: namespace lifecycle — deleting a namespace deletes its contents, then it.
//! - [`serviceaccount`]: a `default` ServiceAccount in every namespace.
//! - [`workloads`]: ReplicaSet, ReplicationController, Deployment, Job, CronJob, StatefulSet
//!   and DaemonSet drivers over the shared [`informers`].
//! - [`runtime`]: caches, informers, the work queue and expectations they share.

pub mod gc;
pub mod informers;
pub mod namespace;
pub mod runtime;
pub mod serviceaccount;
pub mod workloads;

use tokio::sync::watch;

/// Settings of the controller manager: its leader election.
pub type Options = skiff_leader::Config;

/// Upstream's Lease for the controller manager (kube-system/kube-controller-manager).
pub fn default_options() -> Options {
    skiff_leader::Config::new("kube-system", "kube-controller-manager")
}

/// Runs the controller manager until `stop` turns true: waits to lead, runs every controller
/// while leading, and stops them if leadership is lost (then competes again).
pub async fn run(client: kube::Client, opts: Options, stop: watch::Receiver<bool>) {
    let c = client.clone();
    skiff_leader::run_leading(client, opts, stop, move |stop| {
        run_controllers(c.clone(), stop)
    })
    .await
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
