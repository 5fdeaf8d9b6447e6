//! The node IPAM controller: gives each node a pod CIDR from the cluster CIDR. The decisions
//! are `skiff_controllers::nodeipam::plan`; this loop feeds it from the node cache and writes
//! `spec.podCIDR(s)`.

use crate::informers::{Caches, Informers};
use crate::workloads::write::{self, Involved};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch};
use skiff_api::cidr::Ipv4Cidr;
use skiff_controllers::nodeipam::{self, Step};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// The controller, hooked to the node informer.
pub struct Controller {
    client: kube::Client,
    caches: Caches,
    cluster_cidr: Ipv4Cidr,
    wake: Arc<Notify>,
}

impl Controller {
    /// Any node change triggers a pass.
    pub fn new(client: kube::Client, inf: &Informers, cluster_cidr: Ipv4Cidr) -> Self {
        let wake = Arc::new(Notify::new());
        let w = wake.clone();
        inf.nodes.on_change(move |_| w.notify_one());
        Self {
            client,
            caches: inf.caches(),
            cluster_cidr,
            wake,
        }
    }

    /// Assigns ranges until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        // A pass right away: nodes may have registered before the caches loaded.
        self.wake.notify_one();
        loop {
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            let nodes = self.caches.nodes.list();
            let refs: Vec<&Node> = nodes.iter().map(|n| n.as_ref()).collect();
            let mut failed = false;
            for step in nodeipam::plan(self.cluster_cidr, &refs) {
                if let Err(e) = self.carry_out(step).await {
                    tracing::debug!(error = %e, "node IPAM: step failed; trying again");
                    failed = true;
                }
            }
            if failed {
                tokio::time::sleep(Duration::from_secs(1)).await;
                self.wake.notify_one();
            }
        }
    }

    async fn carry_out(&self, step: Step) -> Result<(), kube::Error> {
        let api: Api<Node> = Api::all(self.client.clone());
        match step {
            Step::Assign { node, cidr } => {
                // Only a node still without a range: a precondition-free merge patch could
                // overwrite one set meanwhile, so the patch carries the cached resourceVersion.
                let rv = self
                    .caches
                    .nodes
                    .get(&crate::runtime::ObjectKey::new("", node.as_str()))
                    .and_then(|n| n.metadata.resource_version.clone());
                let patch = serde_json::json!({
                    "metadata": { "resourceVersion": rv },
                    "spec": { "podCIDR": cidr, "podCIDRs": [cidr] },
                });
                api.patch(
                    &node,
                    &write::pp(nodeipam::CONTROLLER_NAME),
                    &Patch::Merge(&patch),
                )
                .await?;
                tracing::info!(%node, %cidr, "node IPAM: assigned a pod CIDR");
            }
            Step::NodeEvent { node, event } => {
                let uid = self
                    .caches
                    .nodes
                    .get(&crate::runtime::ObjectKey::new("", node.as_str()))
                    .and_then(|n| n.metadata.uid.clone());
                let involved = Involved {
                    api_version: "v1",
                    kind: "Node",
                    namespace: None,
                    name: &node,
                    uid: uid.as_deref(),
                };
                write::record_on(&self.client, &involved, nodeipam::CONTROLLER_NAME, &event).await;
            }
        }
        Ok(())
    }
}
