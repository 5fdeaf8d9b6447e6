//! The built-in local-path provisioner (like k3s' local-path-provisioner together with the
//! PersistentVolume binder for its volumes): a default StorageClass `local-path` with
//! `WaitForFirstConsumer` binding; a claim of that class gets, once a pod using it is on a
//! node, a PersistentVolume that is a directory of that node (under the directory the node
//! publishes in the `skiff.dev/local-path-dir` annotation), bound to the claim; when the
//! claim goes, the volume is deleted or released per its reclaim policy (the node's agent
//! removes directories no volume names).
//!
//! ```
//! use skiff_controllers::localpath::{plan, Inputs, Step};
//! // An empty cluster: the default StorageClass is created.
//! let steps = plan(&Inputs::default());
//! assert!(matches!(&steps[..], [Step::CreateClass(c)] if c.metadata.name.as_deref() == Some("local-path")));
//! ```

use crate::cached_pod::CachedPod;
use crate::event::Event;
use k8s_openapi::api::core::v1::{
    HostPathVolumeSource, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, ObjectReference,
    PersistentVolume, PersistentVolumeClaim, PersistentVolumeSpec, VolumeNodeAffinity,
};
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaimStatus};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;

/// Field manager and event source.
pub const CONTROLLER_NAME: &str = "local-path-provisioner";
/// The provisioner name (k3s' one, so manifests written for k3s match).
pub const PROVISIONER: &str = "rancher.io/local-path";
/// The default StorageClass.
pub const CLASS_NAME: &str = "local-path";
/// Where a node keeps local volumes (set by its agent).
pub const NODE_DIR_ANNOTATION: &str = "skiff.dev/local-path-dir";
/// The directory when a node publishes none.
pub const DEFAULT_DIR: &str = "/var/lib/skiff/storage";
/// The claim annotation naming the node chosen for a WaitForFirstConsumer claim.
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
const PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";

/// What the provisioner sees.
#[derive(Clone, Debug, Default)]
pub struct Inputs<'a> {
    /// StorageClasses.
    pub classes: Vec<&'a StorageClass>,
    /// PersistentVolumeClaims.
    pub claims: Vec<&'a PersistentVolumeClaim>,
    /// PersistentVolumes.
    pub volumes: Vec<&'a PersistentVolume>,
    /// Pods (for the node of a claim's first consumer).
    pub pods: Vec<&'a CachedPod>,
    /// Nodes (for their local-path directory).
    pub nodes: Vec<&'a Node>,
}

/// What the driver must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Create the default StorageClass.
    CreateClass(Box<StorageClass>),
    /// Create a provisioned PersistentVolume.
    CreateVolume(Box<PersistentVolume>),
    /// Bind claim `namespace/name` to `volume`: `spec.volumeName`, then `status` Bound.
    BindClaim {
        /// Namespace.
        namespace: String,
        /// Claim name.
        name: String,
        /// The volume.
        volume: String,
        /// The status to write.
        status: Box<PersistentVolumeClaimStatus>,
    },
    /// Set `status.phase` of a volume (`Bound`, `Released`).
    VolumePhase {
        /// The volume.
        name: String,
        /// The phase.
        phase: String,
    },
    /// Give claim `namespace/name`, created without `storageClassName` while no class was
    /// the default, the default class now (upstream's retroactive default StorageClass
    /// assignment, since 1.28).
    SetClaimClass {
        /// Namespace.
        namespace: String,
        /// Claim name.
        name: String,
        /// The default class.
        class: String,
    },
    /// Delete a volume whose claim is gone (reclaim policy Delete).
    DeleteVolume {
        /// The volume.
        name: String,
    },
    /// Record an event on claim `namespace/name`.
    ClaimEvent {
        /// Namespace.
        namespace: String,
        /// Claim name.
        name: String,
        /// The event.
        event: Event,
    },
}

/// The default StorageClass.
pub fn default_class() -> StorageClass {
    StorageClass {
        metadata: ObjectMeta {
            name: Some(CLASS_NAME.into()),
            annotations: Some(BTreeMap::from([(
                "storageclass.kubernetes.io/is-default-class".to_string(),
                "true".to_string(),
            )])),
            ..Default::default()
        },
        provisioner: PROVISIONER.into(),
        reclaim_policy: Some("Delete".into()),
        volume_binding_mode: Some("WaitForFirstConsumer".into()),
        ..Default::default()
    }
}

/// The default StorageClass (the newest of those annotated default).
pub use skiff_api::storage_class::default_class as default_class_name;

fn ours(pv: &PersistentVolume) -> bool {
    pv.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(PROVISIONED_BY))
        .is_some_and(|p| p == PROVISIONER)
}

fn claim_key(c: &PersistentVolumeClaim) -> (String, String) {
    (
        c.metadata.namespace.clone().unwrap_or_default(),
        c.metadata.name.clone().unwrap_or_default(),
    )
}

/// The node of the first running consumer of claim `ns/name`, or the selected-node
/// annotation.
fn consumer_node(i: &Inputs<'_>, claim: &PersistentVolumeClaim) -> Option<String> {
    let (ns, name) = claim_key(claim);
    if let Some(n) = claim
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(SELECTED_NODE))
    {
        return Some(n.clone());
    }
    i.pods
        .iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(ns.as_str()))
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| {
            let spec = p.spec.as_ref()?;
            let uses = spec.volumes.iter().flatten().any(|v| {
                v.persistent_volume_claim
                    .as_ref()
                    .is_some_and(|c| c.claim_name == name)
            });
            uses.then(|| spec.node_name.clone()).flatten()
        })
        .find(|n| !n.is_empty())
}

fn node_dir(i: &Inputs<'_>, node: &str) -> String {
    i.nodes
        .iter()
        .find(|n| n.metadata.name.as_deref() == Some(node))
        .and_then(|n| n.metadata.annotations.as_ref())
        .and_then(|a| a.get(NODE_DIR_ANNOTATION))
        .cloned()
        .unwrap_or_else(|| DEFAULT_DIR.to_string())
}

/// The volume provisioned for `claim` on `node`.
pub fn volume_for(
    claim: &PersistentVolumeClaim,
    class: &StorageClass,
    node: &str,
    dir: &str,
) -> PersistentVolume {
    let (ns, name) = claim_key(claim);
    let uid = claim.metadata.uid.clone().unwrap_or_default();
    let pv_name = format!("pvc-{uid}");
    let spec = claim.spec.clone().unwrap_or_default();
    let capacity = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .cloned()
        .unwrap_or_else(|| Quantity("1Gi".into()));
    PersistentVolume {
        metadata: ObjectMeta {
            name: Some(pv_name.clone()),
            annotations: Some(BTreeMap::from([(
                PROVISIONED_BY.to_string(),
                PROVISIONER.to_string(),
            )])),
            ..Default::default()
        },
        spec: Some(PersistentVolumeSpec {
            capacity: Some(BTreeMap::from([("storage".to_string(), capacity)])),
            access_modes: spec.access_modes.clone(),
            host_path: Some(HostPathVolumeSource {
                path: format!("{}/{pv_name}_{ns}_{name}", dir.trim_end_matches('/')),
                type_: Some("DirectoryOrCreate".into()),
            }),
            claim_ref: Some(ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("PersistentVolumeClaim".into()),
                namespace: Some(ns),
                name: Some(name),
                uid: Some(uid),
                ..Default::default()
            }),
            node_affinity: Some(VolumeNodeAffinity {
                required: Some(NodeSelector {
                    node_selector_terms: vec![NodeSelectorTerm {
                        match_expressions: Some(vec![NodeSelectorRequirement {
                            key: "kubernetes.io/hostname".into(),
                            operator: "In".into(),
                            values: Some(vec![node.to_string()]),
                        }]),
                        ..Default::default()
                    }],
                }),
            }),
            persistent_volume_reclaim_policy: Some(
                class
                    .reclaim_policy
                    .clone()
                    .unwrap_or_else(|| "Delete".into()),
            ),
            storage_class_name: class.metadata.name.clone(),
            volume_mode: Some("Filesystem".into()),
            ..Default::default()
        }),
        status: None,
    }
}

fn bound_status(pv: &PersistentVolume) -> PersistentVolumeClaimStatus {
    let spec = pv.spec.as_ref();
    PersistentVolumeClaimStatus {
        phase: Some("Bound".into()),
        access_modes: spec.and_then(|s| s.access_modes.clone()),
        capacity: spec.and_then(|s| s.capacity.clone()),
        ..Default::default()
    }
}

/// Everything to do now.
pub fn plan(i: &Inputs<'_>) -> Vec<Step> {
    let mut steps = Vec::new();
    if !i
        .classes
        .iter()
        .any(|c| c.metadata.name.as_deref() == Some(CLASS_NAME))
    {
        steps.push(Step::CreateClass(Box::new(default_class())));
    }
    let class_of = |c: &PersistentVolumeClaim| {
        let name = c.spec.as_ref().and_then(|s| s.storage_class_name.clone())?;
        i.classes
            .iter()
            .find(|k| {
                k.metadata.name.as_deref() == Some(name.as_str()) && k.provisioner == PROVISIONER
            })
            .copied()
    };
    let default = default_class_name(&i.classes);
    for claim in &i.claims {
        if claim.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let (ns, name) = claim_key(claim);
        let spec = claim.spec.as_ref();
        // No class at all (`""` asks for none) and not bound: the default class, if any.
        let unbound = spec
            .and_then(|s| s.volume_name.as_deref())
            .is_none_or(str::is_empty);
        if spec.is_none_or(|s| s.storage_class_name.is_none()) && unbound {
            if let Some(class) = &default {
                steps.push(Step::SetClaimClass {
                    namespace: ns,
                    name,
                    class: class.clone(),
                });
            }
            continue;
        }
        let uid = claim.metadata.uid.clone().unwrap_or_default();
        let provisioned = i.volumes.iter().find(|v| {
            v.spec
                .as_ref()
                .and_then(|s| s.claim_ref.as_ref())
                .is_some_and(|r| r.uid.as_deref() == Some(uid.as_str()))
        });
        let bound_to = claim
            .spec
            .as_ref()
            .and_then(|s| s.volume_name.clone())
            .filter(|v| !v.is_empty());
        let phase = claim.status.as_ref().and_then(|s| s.phase.as_deref());
        match (provisioned, bound_to) {
            (Some(pv), None) => steps.push(Step::BindClaim {
                namespace: ns,
                name,
                volume: pv.metadata.name.clone().unwrap_or_default(),
                status: Box::new(bound_status(pv)),
            }),
            (Some(pv), Some(v))
                if phase != Some("Bound") && pv.metadata.name.as_deref() == Some(v.as_str()) =>
            {
                steps.push(Step::BindClaim {
                    namespace: ns,
                    name,
                    volume: v,
                    status: Box::new(bound_status(pv)),
                })
            }
            (Some(_), Some(_)) => {}
            (None, Some(_)) => {}
            (None, None) => {
                let Some(class) = class_of(claim) else {
                    continue;
                };
                match consumer_node(i, claim) {
                    Some(node) => {
                        let dir = node_dir(i, &node);
                        steps.push(Step::CreateVolume(Box::new(volume_for(
                            claim, class, &node, &dir,
                        ))));
                    }
                    // The driver records this once per claim.
                    None => steps.push(Step::ClaimEvent {
                        namespace: ns,
                        name,
                        event: Event::normal(
                            "WaitForFirstConsumer",
                            "waiting for first consumer to be created before binding",
                        ),
                    }),
                }
            }
        }
    }
    for pv in i.volumes.iter().filter(|v| ours(v)) {
        let name = pv.metadata.name.clone().unwrap_or_default();
        if pv.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let spec = pv.spec.as_ref();
        let claim_ref = spec.and_then(|s| s.claim_ref.as_ref());
        let claim = claim_ref.and_then(|r| {
            i.claims
                .iter()
                .find(|c| c.metadata.uid.is_some() && c.metadata.uid == r.uid)
        });
        let phase = pv.status.as_ref().and_then(|s| s.phase.as_deref());
        match claim {
            Some(_) => {
                if phase != Some("Bound") {
                    steps.push(Step::VolumePhase {
                        name,
                        phase: "Bound".into(),
                    });
                }
            }
            None => {
                let policy = spec
                    .and_then(|s| s.persistent_volume_reclaim_policy.as_deref())
                    .unwrap_or("Delete");
                if policy == "Delete" {
                    steps.push(Step::DeleteVolume { name });
                } else if phase != Some("Released") {
                    steps.push(Step::VolumePhase {
                        name,
                        phase: "Released".into(),
                    });
                }
            }
        }
    }
    steps
}

#[cfg(test)]
mod tests;
