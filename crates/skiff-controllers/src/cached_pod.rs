//! [`CachedPod`]: what the controllers read of a pod, and all the pod cache keeps.
//!
//! A k8s-openapi [`Pod`] is built to hold every field of the API: the struct alone is 2,176
//! bytes and each `Container` 2,120 before any heap data, so a pod of ~3 KB of JSON takes
//! ~8 KB in memory even with the fields no controller reads removed. At 30,000 pods that is
//! most of the controller manager's memory. A `CachedPod` has the same shape (same field
//! names, the API's JSON names, k8s-openapi types below the level of containers) restricted
//! to the fields some controller reads, so code reading `pod.spec`, `pod.status` and
//! `pod.metadata` reads it like a `Pod`; it takes ~3.9 KB for the same pod (trimmed as the
//! pod cache trims it).
//!
//! It decodes straight from the API's JSON (unknown fields are skipped) and implements
//! k8s-openapi's `Resource` and `Metadata` as a `Pod`, so a kube `Api<CachedPod>` lists and
//! watches pods. It is read-only by design: it cannot be written back (a `PUT` of it would drop
//! every field it does not have), so writers patch the fields they change.
//!
//! ```
//! use k8s_openapi::api::core::v1::Pod;
//! use skiff_controllers::cached_pod::CachedPod;
//!
//! let pod: Pod = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "web-0", "namespace": "default"},
//!     "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx"}]},
//!     "status": {"phase": "Running"},
//! })).unwrap();
//! let cached = CachedPod::from(pod);
//! assert_eq!(cached.spec.as_ref().unwrap().node_name.as_deref(), Some("n1"));
//! assert_eq!(cached.status.as_ref().unwrap().phase.as_deref(), Some("Running"));
//! ```

use k8s_openapi::api::core::v1::{
    Affinity, Container, ContainerPort, ContainerState, ContainerStatus, HostIP, Pod, PodCondition,
    PodIP, PodSpec, PodStatus, ResourceRequirements, Toleration, Volume,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A pod as the controllers see it: see the [module documentation](self).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedPod {
    /// The pod's metadata, whole (managedFields aside, which informers drop).
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The parts of the spec controllers read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<CachedPodSpec>,
    /// The parts of the status controllers read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CachedPodStatus>,
}

/// The fields of a `PodSpec` some controller reads.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedPodSpec {
    /// `nodeName`: where the pod is bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// `containers`.
    #[serde(default)]
    pub containers: Vec<CachedContainer>,
    /// `initContainers` (sidecars among them count for ports, restarts and requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_containers: Option<Vec<CachedContainer>>,
    /// `volumes` (the pod cache keeps only claims and generic ephemeral volumes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<Volume>>,
    /// `tolerations` (NoExecute taint eviction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,
    /// `affinity` (a DaemonSet pod's node comes from its node affinity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// `nodeSelector`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// `hostname` (Endpoints and EndpointSlice addresses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// `subdomain` (Endpoints and EndpointSlice addresses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdomain: Option<String>,
    /// `hostNetwork`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_network: Option<bool>,
    /// `restartPolicy` (Job pods).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<String>,
    /// `overhead` (quota usage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overhead: Option<BTreeMap<String, Quantity>>,
    /// `priorityClassName` (quota scopes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// `activeDeadlineSeconds` (quota scopes Terminating / NotTerminating).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_deadline_seconds: Option<i64>,
}

/// The fields of a `Container` some controller reads.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedContainer {
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `ports` (named Service target ports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<ContainerPort>>,
    /// `resources` (quota usage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// `restartPolicy` (`Always` makes an init container a sidecar).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<String>,
}

/// The fields of a `PodStatus` some controller reads.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedPodStatus {
    /// `phase`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// `conditions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<PodCondition>>,
    /// `containerStatuses`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_statuses: Option<Vec<CachedContainerStatus>>,
    /// `initContainerStatuses`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_container_statuses: Option<Vec<CachedContainerStatus>>,
    /// `podIP`.
    #[serde(default, rename = "podIP", skip_serializing_if = "Option::is_none")]
    pub pod_ip: Option<String>,
    /// `podIPs`.
    #[serde(default, rename = "podIPs", skip_serializing_if = "Option::is_none")]
    pub pod_ips: Option<Vec<PodIP>>,
    /// `hostIPs`.
    #[serde(default, rename = "hostIPs", skip_serializing_if = "Option::is_none")]
    pub host_ips: Option<Vec<HostIP>>,
    /// `qosClass` (quota scopes BestEffort / NotBestEffort).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos_class: Option<String>,
    /// `startTime` (ranking pods to delete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// `reason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The fields of a `ContainerStatus` some controller reads.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedContainerStatus {
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `ready`.
    #[serde(default)]
    pub ready: bool,
    /// `restartCount`.
    #[serde(default)]
    pub restart_count: i32,
    /// `started`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<bool>,
    /// `state` (a Job's pod failure policy matches exit codes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ContainerState>,
    /// `lastState`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_state: Option<ContainerState>,
}

impl k8s_openapi::Resource for CachedPod {
    const API_VERSION: &'static str = <Pod as k8s_openapi::Resource>::API_VERSION;
    const GROUP: &'static str = <Pod as k8s_openapi::Resource>::GROUP;
    const KIND: &'static str = <Pod as k8s_openapi::Resource>::KIND;
    const VERSION: &'static str = <Pod as k8s_openapi::Resource>::VERSION;
    const URL_PATH_SEGMENT: &'static str = <Pod as k8s_openapi::Resource>::URL_PATH_SEGMENT;
    type Scope = <Pod as k8s_openapi::Resource>::Scope;
}

impl k8s_openapi::ListableResource for CachedPod {
    const LIST_KIND: &'static str = <Pod as k8s_openapi::ListableResource>::LIST_KIND;
}

impl k8s_openapi::Metadata for CachedPod {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl From<Pod> for CachedPod {
    fn from(pod: Pod) -> Self {
        CachedPod {
            metadata: pod.metadata,
            spec: pod.spec.map(CachedPodSpec::from),
            status: pod.status.map(CachedPodStatus::from),
        }
    }
}

impl From<&Pod> for CachedPod {
    fn from(pod: &Pod) -> Self {
        CachedPod::from(pod.clone())
    }
}

impl From<PodSpec> for CachedPodSpec {
    fn from(s: PodSpec) -> Self {
        CachedPodSpec {
            node_name: s.node_name,
            containers: s.containers.into_iter().map(Into::into).collect(),
            init_containers: s
                .init_containers
                .map(|cs| cs.into_iter().map(Into::into).collect()),
            volumes: s.volumes,
            tolerations: s.tolerations,
            affinity: s.affinity,
            node_selector: s.node_selector,
            hostname: s.hostname,
            subdomain: s.subdomain,
            host_network: s.host_network,
            restart_policy: s.restart_policy,
            overhead: s.overhead,
            priority_class_name: s.priority_class_name,
            active_deadline_seconds: s.active_deadline_seconds,
        }
    }
}

impl From<Container> for CachedContainer {
    fn from(c: Container) -> Self {
        CachedContainer {
            name: c.name,
            ports: c.ports,
            resources: c.resources,
            restart_policy: c.restart_policy,
        }
    }
}

impl From<PodStatus> for CachedPodStatus {
    fn from(s: PodStatus) -> Self {
        let statuses = |l: Option<Vec<ContainerStatus>>| {
            l.map(|l| l.into_iter().map(CachedContainerStatus::from).collect())
        };
        CachedPodStatus {
            phase: s.phase,
            conditions: s.conditions,
            container_statuses: statuses(s.container_statuses),
            init_container_statuses: statuses(s.init_container_statuses),
            pod_ip: s.pod_ip,
            pod_ips: s.pod_ips,
            host_ips: s.host_ips,
            qos_class: s.qos_class,
            start_time: s.start_time,
            reason: s.reason,
            message: s.message,
        }
    }
}

impl From<ContainerStatus> for CachedContainerStatus {
    fn from(s: ContainerStatus) -> Self {
        CachedContainerStatus {
            name: s.name,
            ready: s.ready,
            restart_count: s.restart_count,
            started: s.started,
            state: s.state,
            last_state: s.last_state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> serde_json::Value {
        json!({
            "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "a"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "name": "rs", "uid": "u1", "controller": true}]},
            "spec": {
                "nodeName": "n1", "hostname": "h", "subdomain": "s", "hostNetwork": true,
                "restartPolicy": "Never", "priorityClassName": "high",
                "activeDeadlineSeconds": 30, "overhead": {"cpu": "10m"},
                "nodeSelector": {"disk": "ssd"},
                "containers": [{"name": "c", "image": "i", "env": [{"name": "E", "value": "v"}],
                    "ports": [{"name": "http", "containerPort": 80}],
                    "resources": {"requests": {"cpu": "1"}}}],
                "initContainers": [{"name": "side", "image": "i", "restartPolicy": "Always"}],
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "d"}}],
                "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoExecute"}],
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
                    {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name",
                        "operator": "In", "values": ["n1"]}]}]}}},
            },
            "status": {
                "phase": "Failed", "reason": "Evicted", "message": "m", "qosClass": "Burstable",
                "podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}], "hostIPs": [{"ip": "1.2.3.4"}],
                "startTime": "2026-01-01T00:00:00Z",
                "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [{"name": "c", "ready": false, "restartCount": 3,
                    "image": "i", "imageID": "x", "started": false,
                    "state": {"terminated": {"exitCode": 2}},
                    "lastState": {"terminated": {"exitCode": 1}}}],
                "initContainerStatuses": [{"name": "side", "ready": true, "restartCount": 1,
                    "image": "i", "imageID": "x"}],
            },
        })
    }

    #[test]
    fn decoding_json_and_converting_a_pod_agree_on_every_kept_field() {
        let decoded: CachedPod = serde_json::from_value(sample()).expect("decodes");
        let pod: Pod = serde_json::from_value(sample()).expect("a pod");
        assert_eq!(CachedPod::from(pod), decoded);
        // The kept fields survive, the others are gone: encoding gives back the sample minus
        // the container's image and env and the statuses' image fields.
        let mut want = sample();
        for c in ["containers", "initContainers"] {
            let c = want["spec"][c][0].as_object_mut().expect("container");
            c.remove("image");
            c.remove("env");
        }
        for s in ["containerStatuses", "initContainerStatuses"] {
            let s = want["status"][s][0].as_object_mut().expect("status");
            s.remove("image");
            s.remove("imageID");
        }
        assert_eq!(serde_json::to_value(&decoded).expect("encodes"), want);
    }

    #[test]
    fn it_is_listed_and_watched_as_a_pod() {
        use k8s_openapi::Resource;
        assert_eq!(CachedPod::KIND, "Pod");
        assert_eq!(CachedPod::URL_PATH_SEGMENT, "pods");
        assert_eq!(CachedPod::API_VERSION, "v1");
        let empty: CachedPod = serde_json::from_value(json!({})).expect("decodes");
        assert_eq!(empty, CachedPod::default());
    }
}
