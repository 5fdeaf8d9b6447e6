//! The local-path provisioner's loop: feeds `skiff_controllers::localpath::plan` from the
//! caches (classes, claims, volumes, pods, nodes) and carries its steps out.

use crate::informers::{Caches, Informers};
use crate::workloads::write::{self, benign};
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DeleteParams, Patch, PostParams};
use skiff_controllers::localpath::{self, Inputs, Step, CONTROLLER_NAME};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// The controller, woken by changes of the kinds it reads.
pub struct Controller {
    client: kube::Client,
    caches: Caches,
    wake: Arc<Notify>,
}

impl Controller {
    /// Hooks the informers.
    pub fn new(client: kube::Client, inf: &Informers) -> Self {
        let wake = Arc::new(Notify::new());
        let w = wake.clone();
        inf.claims.on_change(move |_| w.notify_one());
        let w = wake.clone();
        inf.volumes.on_change(move |_| w.notify_one());
        let w = wake.clone();
        inf.storage_classes.on_change(move |_| w.notify_one());
        let w = wake.clone();
        inf.pods.on_change(move |p| {
            // Only pods with claims matter (their node picks where a volume goes).
            let uses_claims = p.object().spec.as_ref().is_some_and(|s| {
                s.volumes
                    .iter()
                    .flatten()
                    .any(|v| v.persistent_volume_claim.is_some())
            });
            if uses_claims {
                w.notify_one();
            }
        });
        Self {
            client,
            caches: inf.caches(),
            wake,
        }
    }

    /// Reconciles until `stop`.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        self.wake.notify_one();
        let mut announced: HashSet<(String, String, String)> = HashSet::new();
        loop {
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            let (classes, claims, volumes, pods, nodes) = (
                self.caches.storage_classes.list(),
                self.caches.claims.list(),
                self.caches.volumes.list(),
                self.caches.pods.list(),
                self.caches.nodes.list(),
            );
            let inputs = Inputs {
                classes: classes.iter().map(|c| c.as_ref()).collect(),
                claims: claims.iter().map(|c| c.as_ref()).collect(),
                volumes: volumes.iter().map(|c| c.as_ref()).collect(),
                pods: pods.iter().map(|c| c.as_ref()).collect(),
                nodes: nodes.iter().map(|c| c.as_ref()).collect(),
            };
            let mut failed = false;
            for step in localpath::plan(&inputs) {
                if let Step::ClaimEvent {
                    namespace,
                    name,
                    event,
                } = &step
                {
                    // Once per claim and reason, not on every pass.
                    let key = (namespace.clone(), name.clone(), event.reason.clone());
                    if !announced.insert(key) {
                        continue;
                    }
                }
                if let Err(e) = self.carry_out(step).await {
                    if !benign(&e) {
                        tracing::debug!(error = %e, "local-path: step failed; trying again");
                        failed = true;
                    }
                }
            }
            if failed {
                tokio::time::sleep(Duration::from_secs(1)).await;
                self.wake.notify_one();
            }
        }
    }

    async fn carry_out(&self, step: Step) -> Result<(), kube::Error> {
        let pp = write::pp(CONTROLLER_NAME);
        let post = PostParams {
            field_manager: Some(CONTROLLER_NAME.into()),
            ..Default::default()
        };
        match step {
            Step::CreateClass(class) => {
                Api::<StorageClass>::all(self.client.clone())
                    .create(&post, &class)
                    .await?;
                tracing::info!("local-path: created the default StorageClass");
            }
            Step::CreateVolume(pv) => {
                let name = pv.metadata.name.clone().unwrap_or_default();
                Api::<PersistentVolume>::all(self.client.clone())
                    .create(&post, &pv)
                    .await?;
                tracing::info!(volume = %name, "local-path: provisioned a volume");
            }
            Step::BindClaim {
                namespace,
                name,
                volume,
                status,
            } => {
                let api: Api<PersistentVolumeClaim> =
                    Api::namespaced(self.client.clone(), &namespace);
                let bind = serde_json::json!({
                    "metadata": {"annotations": {
                        "pv.kubernetes.io/bind-completed": "yes",
                        "pv.kubernetes.io/bound-by-controller": "yes",
                        "volume.kubernetes.io/storage-provisioner": localpath::PROVISIONER,
                    }},
                    "spec": {"volumeName": volume},
                });
                api.patch(&name, &pp, &Patch::Merge(&bind)).await?;
                let status = serde_json::json!({ "status": status });
                api.patch_status(&name, &pp, &Patch::Merge(&status)).await?;
            }
            Step::VolumePhase { name, phase } => {
                let status = serde_json::json!({ "status": { "phase": phase } });
                Api::<PersistentVolume>::all(self.client.clone())
                    .patch_status(&name, &pp, &Patch::Merge(&status))
                    .await?;
            }
            Step::SetClaimClass {
                namespace,
                name,
                class,
            } => {
                let set = serde_json::json!({ "spec": { "storageClassName": class } });
                Api::<PersistentVolumeClaim>::namespaced(self.client.clone(), &namespace)
                    .patch(&name, &pp, &Patch::Merge(&set))
                    .await?;
                tracing::info!(claim = %name, %namespace, %class, "local-path: gave a claim the default StorageClass");
            }
            Step::DeleteVolume { name } => {
                Api::<PersistentVolume>::all(self.client.clone())
                    .delete(&name, &DeleteParams::default())
                    .await?;
                tracing::info!(volume = %name, "local-path: deleted a released volume");
            }
            Step::ClaimEvent {
                namespace,
                name,
                event,
            } => {
                let uid = self
                    .caches
                    .claims
                    .get(&crate::runtime::ObjectKey::new(&namespace, &name))
                    .and_then(|c| c.metadata.uid.clone());
                let involved = write::Involved {
                    api_version: "v1",
                    kind: "PersistentVolumeClaim",
                    namespace: Some(&namespace),
                    name: &name,
                    uid: uid.as_deref(),
                };
                write::record_on(
                    &self.client,
                    &involved,
                    "persistentvolume-controller",
                    &event,
                )
                .await;
            }
        }
        Ok(())
    }
}
