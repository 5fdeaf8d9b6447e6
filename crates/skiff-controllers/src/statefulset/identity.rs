//! A StatefulSet pod's identity and storage: name `<set>-<ordinal>`, hostname, subdomain,
//! identity labels, and claims `<claim>-<set>-<ordinal>` from volumeClaimTemplates.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, PodTemplateSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::revision::REVISION_LABEL;
use crate::cached_pod::CachedPod;
use crate::ownership;

/// Upstream `apps.StatefulSetPodNameLabel`.
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// Upstream `apps.PodIndexLabel`.
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// The set's name.
pub fn set_name(set: &StatefulSet) -> String {
    set.metadata.name.clone().unwrap_or_default()
}

/// Upstream `getParentNameAndOrdinal`: `<parent>-<ordinal>` when the pod is the set's member.
pub fn ordinal_of(set: &StatefulSet, pod: &CachedPod) -> Option<i32> {
    let name = pod.metadata.name.as_deref()?;
    let (parent, ord) = name.rsplit_once('-')?;
    if parent != set_name(set) {
        return None;
    }
    ord.parse::<i32>()
        .ok()
        .filter(|o| *o >= 0 && ord == o.to_string())
}

/// `<set>-<ordinal>`.
pub fn pod_name(set: &StatefulSet, ordinal: i32) -> String {
    format!("{}-{ordinal}", set_name(set))
}

/// Upstream `getPersistentVolumeClaimName`.
pub fn claim_name(set: &StatefulSet, claim: &PersistentVolumeClaim, ordinal: i32) -> String {
    format!(
        "{}-{}-{ordinal}",
        claim.metadata.name.clone().unwrap_or_default(),
        set_name(set)
    )
}

/// Upstream `getPersistentVolumeClaims`: the claims the pod at `ordinal` needs, labeled with
/// the set's matchLabels and owned per the retention policy (whenDeleted=Delete: the set).
pub fn claims_for(set: &StatefulSet, ordinal: i32) -> Vec<PersistentVolumeClaim> {
    let spec = set.spec.clone().unwrap_or_default();
    let when_deleted = spec
        .persistent_volume_claim_retention_policy
        .as_ref()
        .and_then(|p| p.when_deleted.as_deref())
        .unwrap_or("Retain")
        .to_string();
    spec.volume_claim_templates
        .iter()
        .flatten()
        .map(|tpl| {
            let mut c = tpl.clone();
            c.metadata.name = Some(claim_name(set, tpl, ordinal));
            c.metadata.namespace = set.metadata.namespace.clone();
            if let Some(ml) = spec.selector.match_labels.as_ref() {
                let labels = c.metadata.labels.get_or_insert_with(BTreeMap::new);
                labels.extend(ml.clone());
            }
            if when_deleted == "Delete" {
                let mut r: OwnerReference =
                    ownership::controller_ref("apps/v1", "StatefulSet", &set.metadata);
                r.controller = None;
                c.metadata.owner_references = Some(vec![r]);
            }
            c.status = None;
            c
        })
        .collect()
}

/// Upstream `newVersionedStatefulSetPod`: the pod at `ordinal` from `template` at `revision`,
/// with identity (name, hostname, subdomain, labels) and storage (claim volumes).
pub fn new_pod(set: &StatefulSet, template: &PodTemplateSpec, revision: &str, ordinal: i32) -> Pod {
    let spec = set.spec.clone().unwrap_or_default();
    let name = pod_name(set, ordinal);
    let t = template.metadata.clone().unwrap_or_default();
    let mut labels = t.labels.unwrap_or_default();
    labels.insert(POD_NAME_LABEL.into(), name.clone());
    labels.insert(POD_INDEX_LABEL.into(), ordinal.to_string());
    labels.insert(REVISION_LABEL.into(), revision.into());
    let mut pod_spec = template.spec.clone().unwrap_or_default();
    pod_spec.hostname = Some(name.clone());
    pod_spec.subdomain = spec.service_name.clone().filter(|s| !s.is_empty());
    for claim in spec.volume_claim_templates.iter().flatten() {
        let vol_name = claim.metadata.name.clone().unwrap_or_default();
        let vols = pod_spec.volumes.get_or_insert_with(Vec::new);
        vols.retain(|v| v.name != vol_name);
        vols.push(Volume {
            name: vol_name,
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim_name(set, claim, ordinal),
                read_only: None,
            }),
            ..Default::default()
        });
    }
    Pod {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: set.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: t.annotations,
            finalizers: t.finalizers,
            owner_references: Some(vec![ownership::controller_ref(
                "apps/v1",
                "StatefulSet",
                &set.metadata,
            )]),
            ..ObjectMeta::default()
        },
        spec: Some(pod_spec),
        status: None,
    }
}
