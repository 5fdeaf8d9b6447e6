//! Driver: registers the Node, then keeps its status (conditions, capacity, nodeInfo) and its
//! Lease fresh, like the kubelet's node status manager and lease controller.

use crate::cri::Cri;
use crate::machine::Machine;
use crate::node::{self, Settings, LEASE_NAMESPACE};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;

/// Field manager of the agent's writes (upstream's kubelet writes as `kubelet`).
pub const FIELD_MANAGER: &str = "kubelet";

/// What the registrar needs.
pub struct Registrar {
    /// API client.
    pub client: kube::Client,
    /// The node name.
    pub name: String,
    /// Flags that shape the Node.
    pub settings: Settings,
    /// The agent's data dir (its filesystem is nodefs).
    pub data_dir: PathBuf,
    /// The CRI socket.
    pub cri_socket: PathBuf,
    /// Where to write the CNI config (None: the runtime's network is configured elsewhere).
    pub cni_conf_dir: Option<PathBuf>,
    /// The pods' bridge.
    pub cni_bridge: String,
    /// Seconds in the Lease's `leaseDurationSeconds`.
    pub lease_duration: Duration,
    /// Time between status updates and Lease renewals.
    pub interval: Duration,
}

fn code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

impl Registrar {
    /// Creates the Node if it does not exist and returns it.
    pub async fn register(&self) -> Result<Node, kube::Error> {
        let api: Api<Node> = Api::all(self.client.clone());
        let pp = PostParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        match api
            .create(&pp, &node::node_object(&self.name, &self.settings))
            .await
        {
            Ok(n) => {
                tracing::info!(node = %self.name, "registered the node");
                Ok(n)
            }
            Err(e) if code(&e) == Some(409) => {
                // Already registered (an agent restart): re-assert the standard labels.
                let labels = node::labels(&self.name, &self.settings);
                let annotations = node::annotations(&self.settings);
                let patch = serde_json::json!({
                    "metadata": { "labels": labels, "annotations": annotations },
                });
                api.patch(
                    &self.name,
                    &PatchParams::apply(FIELD_MANAGER),
                    &Patch::Merge(&patch),
                )
                .await
            }
            Err(e) => Err(e),
        }
    }

    /// Registers (retrying until the API answers), then updates status and Lease every
    /// `interval` until `stop`.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut node = loop {
            match self.register().await {
                Ok(n) => break n,
                Err(e) => tracing::warn!(error = %e, "registering the node failed; retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                _ = crate::stopped(&mut stop) => return,
            }
        };
        let mut cri: Option<Cri> = None;
        loop {
            let previous: Vec<NodeCondition> = node
                .status
                .as_ref()
                .and_then(|s| s.conditions.clone())
                .unwrap_or_default();
            match self.update_status(&mut cri, &previous).await {
                Ok(n) => node = n,
                Err(e) => tracing::warn!(error = %e, "updating the node status failed"),
            }
            self.ensure_network(&node);
            let uid = node.metadata.uid.clone().unwrap_or_default();
            if let Err(e) = self.renew_lease(&uid).await {
                tracing::warn!(error = %e, "renewing the node lease failed");
            }
            // Until the node is Ready, report every second (the kubelet's fast status
            // updates at start), so a new node turns Ready as soon as its network is.
            let ready = node
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            let wait = if ready {
                self.interval
            } else {
                self.interval.min(Duration::from_secs(1))
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = crate::stopped(&mut stop) => return,
            }
        }
    }

    /// Writes the CNI config once the node has a pod CIDR (from the node IPAM controller).
    fn ensure_network(&self, node: &Node) {
        let Some(cidr) = node.spec.as_ref().and_then(|s| s.pod_cidr.as_deref()) else {
            return;
        };
        let Some(conf_dir) = &self.cni_conf_dir else {
            return;
        };
        let ipam = self.data_dir.join("cni").join("ipam");
        match crate::cni::ensure(conf_dir, &ipam, cidr, &self.cni_bridge) {
            Ok(true) => {
                tracing::info!(%cidr, dir = %conf_dir.display(), "wrote the pod network config")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, dir = %conf_dir.display(), "writing the pod network config failed")
            }
        }
    }

    /// Observes the machine and the runtime and writes the node status.
    async fn update_status(
        &self,
        cri: &mut Option<Cri>,
        previous: &[NodeCondition],
    ) -> Result<Node, kube::Error> {
        let machine = Machine::read(&self.data_dir);
        let observed = observe_runtime(cri, &self.cri_socket).await;
        let (runtime, version) = match &observed {
            Ok((status, version)) => (Ok(status), version.container_runtime_version()),
            Err(e) => (Err(e.as_str()), String::new()),
        };
        let status = node::node_status(
            &self.name,
            &machine,
            &self.settings,
            runtime,
            &version,
            previous,
            Timestamp::now(),
        );
        let api: Api<Node> = Api::all(self.client.clone());
        let patch = serde_json::json!({ "status": status });
        api.patch_status(
            &self.name,
            &PatchParams::apply(FIELD_MANAGER),
            &Patch::Merge(&patch),
        )
        .await
    }

    /// Renews (or recreates) the node's Lease.
    async fn renew_lease(&self, node_uid: &str) -> Result<(), kube::Error> {
        let api: Api<Lease> = Api::namespaced(self.client.clone(), LEASE_NAMESPACE);
        let secs = i32::try_from(self.lease_duration.as_secs()).unwrap_or(i32::MAX);
        let lease = node::lease(&self.name, node_uid, secs, Timestamp::now());
        let patch = serde_json::json!({
            "metadata": { "ownerReferences": lease.metadata.owner_references },
            "spec": lease.spec,
        });
        match api
            .patch(
                &self.name,
                &PatchParams::apply(FIELD_MANAGER),
                &Patch::Merge(&patch),
            )
            .await
        {
            Err(e) if code(&e) == Some(404) => {
                api.create(&PostParams::default(), &lease).await.map(drop)
            }
            other => other.map(drop),
        }
    }
}

/// Asks the runtime for its status and version, (re)connecting as needed.
async fn observe_runtime(
    cri: &mut Option<Cri>,
    socket: &std::path::Path,
) -> Result<(crate::cri::RuntimeStatus, crate::cri::RuntimeVersion), String> {
    if cri.is_none() {
        *cri = Some(Cri::connect(socket).await.map_err(|e| e.to_string())?);
    }
    let Some(c) = cri.as_mut() else {
        return Err("no connection".into());
    };
    let result = async {
        let status = c.status().await?;
        let version = c.version().await?;
        Ok::<_, crate::cri::CriError>((status, version))
    }
    .await;
    if result.is_err() {
        *cri = None;
    }
    result.map_err(|e| e.to_string())
}
