//! Skiff's controller manager: the control loops of kube-controller-manager, each a
//! level-triggered reconcile function, run only by the leader of a `coordination.k8s.io` Lease so
//! several servers can share a cluster. Controllers talk to the API server only through the
//! Kubernetes API (the kube crate), even when they run in the server's process.
//!
//! Leader election lives in the skiff-leader crate (shared with the scheduler).
//! - [`namespace`]: namespace lifecycle — deleting a namespace deletes its contents, then it.
//! - [`serviceaccount`]: a `default` ServiceAccount in every namespace.
//! - [`rootca`]: the `kube-root-ca.crt` ConfigMap (the cluster CA) in every namespace.
//! - [`workloads`]: ReplicaSet, ReplicationController, Deployment, Job, CronJob, StatefulSet
//!   and DaemonSet drivers over the shared [`informers`].
//! - [`network`]: Endpoints and EndpointSlices of Services with selectors.
//! - [`nodeipam`]: each node gets a pod CIDR (a /24 of the cluster CIDR).
//! - [`localpath`]: the default StorageClass `local-path`; its claims get node-local volumes.
//! - [`nodelifecycle`]: silent nodes become Unknown and tainted; their pods are evicted.
//! - [`disruption`]: PodDisruptionBudget status.
//! - [`quota`]: ResourceQuota usage.
//! - [`runtime`]: caches, informers, the work queue and expectations they share.

pub mod disruption;
pub mod gc;
pub mod informers;
pub mod localpath;
pub mod namespace;
pub mod network;
pub mod nodeipam;
pub mod nodelifecycle;
pub mod quota;
pub mod rootca;
pub mod runtime;
pub mod serviceaccount;
pub mod workloads;

use tokio::sync::watch;

/// Settings of the controller manager.
#[derive(Clone, Debug)]
pub struct Options {
    /// Leader election (upstream's Lease kube-system/kube-controller-manager by default).
    pub leader: skiff_leader::Config,
    /// What the controllers are told.
    pub settings: Settings,
}

/// Settings of the controllers themselves.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Node lifecycle: grace periods before a silent node is marked Unknown.
    pub node_lifecycle: skiff_controllers::nodelifecycle::Options,
    /// The range node pod CIDRs are carved from (upstream's `--cluster-cidr`).
    pub cluster_cidr: skiff_api::cidr::Ipv4Cidr,
    /// The cluster CA (PEM) published as `kube-root-ca.crt` in every namespace (upstream's
    /// `--root-ca-file`); `None` leaves that controller off.
    pub root_ca: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            node_lifecycle: Default::default(),
            cluster_cidr: skiff_api::cidr::Ipv4Cidr::new(std::net::Ipv4Addr::new(10, 42, 0, 0), 16),
            root_ca: None,
        }
    }
}

/// Upstream's defaults.
pub fn default_options() -> Options {
    Options {
        leader: skiff_leader::Config::new("kube-system", "kube-controller-manager"),
        settings: Settings::default(),
    }
}

/// Runs the controller manager until `stop` turns true: waits to lead, runs every controller
/// while leading, and stops them if leadership is lost (then competes again).
pub async fn run(client: kube::Client, opts: Options, stop: watch::Receiver<bool>) {
    let c = client.clone();
    let settings = opts.settings;
    skiff_leader::run_leading(client, opts.leader, stop, move |stop| {
        run_controllers(c.clone(), settings.clone(), stop)
    })
    .await
}

async fn run_controllers(client: kube::Client, settings: Settings, stop: watch::Receiver<bool>) {
    let informers = informers::Informers::new(&client);
    let workloads = workloads::Controllers::new(client.clone(), &informers);
    let network = network::Controllers::new(client.clone(), &informers);
    let nodes = nodelifecycle::Controller::new(client.clone(), &informers, settings.node_lifecycle);
    let ipam = nodeipam::Controller::new(client.clone(), &informers, settings.cluster_cidr);
    let budgets = disruption::Controller::new(client.clone(), &informers);
    let quotas = quota::Controller::new(client.clone(), &informers);
    let local_path = localpath::Controller::new(client.clone(), &informers);
    let root_ca = {
        let (client, stop) = (client.clone(), stop.clone());
        async move {
            match settings.root_ca {
                Some(ca) => rootca::run(client, ca, stop).await,
                None => tracing::warn!(
                    "no root CA given (--root-ca-file): kube-root-ca.crt ConfigMaps are not published"
                ),
            }
        }
    };
    let watches = informers.run(&stop).await;
    tracing::info!("controller manager: caches loaded");
    tokio::join!(
        namespace::run(client.clone(), stop.clone()),
        serviceaccount::run(client.clone(), stop.clone()),
        root_ca,
        workloads.run(stop.clone()),
        network.run(stop.clone()),
        nodes.run(stop.clone()),
        ipam.run(stop.clone()),
        budgets.run(stop.clone()),
        quotas.run(stop.clone()),
        local_path.run(stop.clone()),
        gc::run(client, stop),
    );
    for w in watches {
        let _ = w.await;
    }
}

/// Whether a namespace is Active (not being deleted): only those get default objects.
pub(crate) fn namespace_active(ns: &k8s_openapi::api::core::v1::Namespace) -> bool {
    ns.metadata.deletion_timestamp.is_none()
        && ns
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or("Active")
            == "Active"
}

/// A future that completes when `stop` turns true (for kube-runtime's graceful shutdown).
pub(crate) async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
