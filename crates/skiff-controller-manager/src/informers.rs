//! The shared informers of the controller manager: one watch per kind, whatever the number
//! of controllers reading it (like client-go's SharedInformerFactory).

use crate::runtime::{Cache, Informer};
use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ResourceQuota;
use k8s_openapi::api::core::v1::{
    Endpoints, Node, PersistentVolume, PersistentVolumeClaim, ReplicationController, Service,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::Api;
use skiff_controllers::cached_pod::CachedPod;
use std::sync::Arc;
use tokio::sync::watch;

/// Pod conditions the kubelet sets that no controller reads (they read `Ready` and
/// `DisruptionTarget`); a Job's pod keeps them all, since its `podFailurePolicy` may name any.
const UNREAD_CONDITIONS: [&str; 4] = [
    "PodScheduled",
    "Initialized",
    "ContainersReady",
    "PodReadyToStartContainers",
];

/// What the pod cache keeps of a pod, beyond leaving out what a [`CachedPod`] has no field
/// for: of the volumes only claims and generic ephemeral volumes (the local-path provisioner
/// reads them; projected, configMap, secret, emptyDir… volumes are ~3 KB each in memory and no
/// controller reads them), and of the conditions all but [`UNREAD_CONDITIONS`] (unless a Job
/// owns the pod), with every list sized to its length (serde's growth leaves lists up to four
/// times their length). A typed `Pod` of ~3 KB of JSON takes ~19 KB in memory, ~8 KB with
/// these fields trimmed, and a trimmed `CachedPod` ~3.9 KB.
pub fn trim_pod(pod: &mut CachedPod) {
    let of_job = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "Job" && o.api_version.starts_with("batch/"));
    if let Some(spec) = pod.spec.as_mut() {
        if let Some(volumes) = spec.volumes.as_mut() {
            volumes.retain(|v| v.persistent_volume_claim.is_some() || v.ephemeral.is_some());
        }
        if spec.volumes.as_ref().is_some_and(Vec::is_empty) {
            spec.volumes = None;
        }
        spec.containers.shrink_to_fit();
        fit(&mut spec.volumes);
        fit(&mut spec.init_containers);
        fit(&mut spec.tolerations);
    }
    fit(&mut pod.metadata.owner_references);
    if let Some(status) = pod.status.as_mut() {
        if let Some(conditions) = status.conditions.as_mut().filter(|_| !of_job) {
            conditions.retain(|c| !UNREAD_CONDITIONS.contains(&c.type_.as_str()));
        }
        fit(&mut status.conditions);
        fit(&mut status.container_statuses);
        fit(&mut status.init_container_statuses);
        fit(&mut status.pod_ips);
        fit(&mut status.host_ips);
    }
}

/// Gives a list back the capacity beyond its length.
fn fit<T>(list: &mut Option<Vec<T>>) {
    if let Some(v) = list.as_mut() {
        v.shrink_to_fit();
    }
}

/// Informers of every kind the controllers read.
pub struct Informers {
    /// Node Leases (namespace kube-node-lease).
    pub node_leases: Arc<Informer<Lease>>,
    /// PodDisruptionBudgets.
    pub pdbs: Arc<Informer<PodDisruptionBudget>>,
    /// ResourceQuotas.
    pub quotas: Arc<Informer<ResourceQuota>>,
    /// Services.
    pub services: Arc<Informer<Service>>,
    /// Endpoints.
    pub endpoints: Arc<Informer<Endpoints>>,
    /// EndpointSlices.
    pub endpoint_slices: Arc<Informer<EndpointSlice>>,
    /// Pods.
    pub pods: Arc<Informer<CachedPod>>,
    /// ReplicaSets.
    pub replica_sets: Arc<Informer<ReplicaSet>>,
    /// Deployments.
    pub deployments: Arc<Informer<Deployment>>,
    /// ReplicationControllers.
    pub replication_controllers: Arc<Informer<ReplicationController>>,
    /// Jobs.
    pub jobs: Arc<Informer<Job>>,
    /// CronJobs.
    pub cron_jobs: Arc<Informer<CronJob>>,
    /// StatefulSets.
    pub stateful_sets: Arc<Informer<StatefulSet>>,
    /// DaemonSets.
    pub daemon_sets: Arc<Informer<DaemonSet>>,
    /// ControllerRevisions (of StatefulSets and DaemonSets).
    pub revisions: Arc<Informer<ControllerRevision>>,
    /// PersistentVolumeClaims.
    pub claims: Arc<Informer<PersistentVolumeClaim>>,
    /// Nodes.
    pub nodes: Arc<Informer<Node>>,
    /// PersistentVolumes.
    pub volumes: Arc<Informer<PersistentVolume>>,
    /// StorageClasses.
    pub storage_classes: Arc<Informer<StorageClass>>,
}

impl Informers {
    /// Informers over the whole cluster; nothing is watched until [`Informers::run`].
    pub fn new(client: &kube::Client) -> Self {
        let c = client;
        Self {
            pods: Informer::transformed(Api::all(c.clone()), trim_pod),
            node_leases: Informer::new(Api::namespaced(c.clone(), "kube-node-lease")),
            pdbs: Informer::new(Api::all(c.clone())),
            quotas: Informer::new(Api::all(c.clone())),
            services: Informer::new(Api::all(c.clone())),
            endpoints: Informer::new(Api::all(c.clone())),
            endpoint_slices: Informer::new(Api::all(c.clone())),
            replica_sets: Informer::new(Api::all(c.clone())),
            deployments: Informer::new(Api::all(c.clone())),
            replication_controllers: Informer::new(Api::all(c.clone())),
            jobs: Informer::new(Api::all(c.clone())),
            cron_jobs: Informer::new(Api::all(c.clone())),
            stateful_sets: Informer::new(Api::all(c.clone())),
            daemon_sets: Informer::new(Api::all(c.clone())),
            revisions: Informer::new(Api::all(c.clone())),
            claims: Informer::new(Api::all(c.clone())),
            nodes: Informer::new(Api::all(c.clone())),
            volumes: Informer::new(Api::all(c.clone())),
            storage_classes: Informer::new(Api::all(c.clone())),
        }
    }

    /// Starts every watch (register handlers first) and waits until each cache is loaded.
    pub async fn run(&self, stop: &watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
        let tasks = vec![
            tokio::spawn(self.pods.clone().run(stop.clone())),
            tokio::spawn(self.node_leases.clone().run(stop.clone())),
            tokio::spawn(self.pdbs.clone().run(stop.clone())),
            tokio::spawn(self.quotas.clone().run(stop.clone())),
            tokio::spawn(self.services.clone().run(stop.clone())),
            tokio::spawn(self.endpoints.clone().run(stop.clone())),
            tokio::spawn(self.endpoint_slices.clone().run(stop.clone())),
            tokio::spawn(self.replica_sets.clone().run(stop.clone())),
            tokio::spawn(self.deployments.clone().run(stop.clone())),
            tokio::spawn(self.replication_controllers.clone().run(stop.clone())),
            tokio::spawn(self.jobs.clone().run(stop.clone())),
            tokio::spawn(self.cron_jobs.clone().run(stop.clone())),
            tokio::spawn(self.stateful_sets.clone().run(stop.clone())),
            tokio::spawn(self.daemon_sets.clone().run(stop.clone())),
            tokio::spawn(self.revisions.clone().run(stop.clone())),
            tokio::spawn(self.claims.clone().run(stop.clone())),
            tokio::spawn(self.nodes.clone().run(stop.clone())),
            tokio::spawn(self.volumes.clone().run(stop.clone())),
            tokio::spawn(self.storage_classes.clone().run(stop.clone())),
        ];
        tokio::join!(
            self.node_leases.wait_synced(),
            self.pdbs.wait_synced(),
            self.quotas.wait_synced(),
            self.services.wait_synced(),
            self.endpoints.wait_synced(),
            self.endpoint_slices.wait_synced(),
        );
        tokio::join!(
            self.pods.wait_synced(),
            self.replica_sets.wait_synced(),
            self.deployments.wait_synced(),
            self.replication_controllers.wait_synced(),
            self.jobs.wait_synced(),
            self.cron_jobs.wait_synced(),
            self.stateful_sets.wait_synced(),
            self.daemon_sets.wait_synced(),
            self.revisions.wait_synced(),
            self.claims.wait_synced(),
            self.nodes.wait_synced(),
            self.volumes.wait_synced(),
            self.storage_classes.wait_synced(),
        );
        tasks
    }
}

/// The caches, for reconcilers.
#[derive(Clone)]
pub struct Caches {
    /// Node Leases (namespace kube-node-lease).
    pub node_leases: Arc<Cache<Lease>>,
    /// PodDisruptionBudgets.
    pub pdbs: Arc<Cache<PodDisruptionBudget>>,
    /// ResourceQuotas.
    pub quotas: Arc<Cache<ResourceQuota>>,
    /// Services.
    pub services: Arc<Cache<Service>>,
    /// Endpoints.
    pub endpoints: Arc<Cache<Endpoints>>,
    /// EndpointSlices.
    pub endpoint_slices: Arc<Cache<EndpointSlice>>,
    /// Pods.
    pub pods: Arc<Cache<CachedPod>>,
    /// ReplicaSets.
    pub replica_sets: Arc<Cache<ReplicaSet>>,
    /// Deployments.
    pub deployments: Arc<Cache<Deployment>>,
    /// ReplicationControllers.
    pub replication_controllers: Arc<Cache<ReplicationController>>,
    /// Jobs.
    pub jobs: Arc<Cache<Job>>,
    /// CronJobs.
    pub cron_jobs: Arc<Cache<CronJob>>,
    /// StatefulSets.
    pub stateful_sets: Arc<Cache<StatefulSet>>,
    /// DaemonSets.
    pub daemon_sets: Arc<Cache<DaemonSet>>,
    /// ControllerRevisions.
    pub revisions: Arc<Cache<ControllerRevision>>,
    /// PersistentVolumeClaims.
    pub claims: Arc<Cache<PersistentVolumeClaim>>,
    /// Nodes.
    pub nodes: Arc<Cache<Node>>,
    /// PersistentVolumes.
    pub volumes: Arc<Cache<PersistentVolume>>,
    /// StorageClasses.
    pub storage_classes: Arc<Cache<StorageClass>>,
}

impl Informers {
    /// The caches behind these informers.
    pub fn caches(&self) -> Caches {
        Caches {
            pods: self.pods.cache(),
            node_leases: self.node_leases.cache(),
            pdbs: self.pdbs.cache(),
            quotas: self.quotas.cache(),
            services: self.services.cache(),
            endpoints: self.endpoints.cache(),
            endpoint_slices: self.endpoint_slices.cache(),
            replica_sets: self.replica_sets.cache(),
            deployments: self.deployments.cache(),
            replication_controllers: self.replication_controllers.cache(),
            jobs: self.jobs.cache(),
            cron_jobs: self.cron_jobs.cache(),
            stateful_sets: self.stateful_sets.cache(),
            daemon_sets: self.daemon_sets.cache(),
            revisions: self.revisions.cache(),
            claims: self.claims.cache(),
            nodes: self.nodes.cache(),
            volumes: self.volumes.cache(),
            storage_classes: self.storage_classes.cache(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::trim_pod;
    use skiff_controllers::cached_pod::CachedPod;

    #[test]
    fn the_pod_cache_keeps_storage_volumes_and_sizes_lists_to_fit() {
        let mut pod: CachedPod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 80}],
                    "volumeMounts": [{"name": "token", "mountPath": "/var/run/secrets"}]}],
                "volumes": [
                    {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                    {"name": "token", "projected": {"sources": []}},
                    {"name": "cache", "emptyDir": {}},
                ],
                "tolerations": [{"key": "a", "operator": "Exists"}]},
            "status": {"phase": "Running", "conditions": [
                    {"type": "PodScheduled", "status": "True"},
                    {"type": "Ready", "status": "True"},
                    {"type": "ContainersReady", "status": "True"},
                    {"type": "DisruptionTarget", "status": "True"}],
                "containerStatuses": [{"name": "c", "ready": true, "restartCount": 0,
                    "image": "x", "imageID": ""}]},
        }))
        .expect("pod");
        let before = pod.clone();
        trim_pod(&mut pod);
        let spec = pod.spec.as_ref().expect("spec");
        let volumes = spec.volumes.as_ref().expect("the claim stays");
        assert_eq!(volumes.len(), 1);
        assert_eq!(volumes[0].name, "data");
        assert_eq!(volumes.capacity(), 1);
        let status = pod.status.as_ref().expect("status");
        let statuses = status.container_statuses.as_ref().expect("statuses");
        assert_eq!(statuses.capacity(), statuses.len());
        // Only the conditions controllers read stay.
        let kept: Vec<&str> = status
            .conditions
            .iter()
            .flatten()
            .map(|c| c.type_.as_str())
            .collect();
        assert_eq!(kept, ["Ready", "DisruptionTarget"]);
        // Everything else is untouched.
        assert_eq!(pod.metadata, before.metadata);
        let mut want_status = before.status.clone().expect("status");
        want_status.conditions = status.conditions.clone();
        assert_eq!(status, &want_status);
        assert_eq!(
            spec.containers,
            before.spec.as_ref().expect("spec").containers
        );

        // A Job's pod keeps every condition (its podFailurePolicy may name any).
        let mut of_job = before.clone();
        of_job.metadata.owner_references = Some(vec![
            k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                api_version: "batch/v1".into(),
                kind: "Job".into(),
                name: "j".into(),
                uid: "u".into(),
                controller: Some(true),
                ..Default::default()
            },
        ]);
        trim_pod(&mut of_job);
        assert_eq!(
            of_job.status.expect("status").conditions,
            before.status.as_ref().expect("status").conditions
        );

        let mut no_claims = before;
        no_claims
            .spec
            .as_mut()
            .expect("spec")
            .volumes
            .as_mut()
            .expect("volumes")
            .remove(0);
        trim_pod(&mut no_claims);
        assert!(no_claims.spec.expect("spec").volumes.is_none());
    }
}
