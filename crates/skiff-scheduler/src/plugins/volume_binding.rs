//! VolumeBinding: a pod's PersistentVolumeClaims must exist; a bound claim's volume must be
//! reachable from the node (its `nodeAffinity`, e.g. a local-path volume lives on one node);
//! an unbound claim is fine only if its class binds on first consumer (WaitForFirstConsumer:
//! the provisioner follows the pod to its node).

use crate::framework::{
    ActionType, ClusterEvent, CycleState, EventResource, Filter, Plugin, PreFilter,
    PreFilterResult, Status,
};
use crate::plugins::node_affinity::RequiredNodeAffinity;
use crate::pod_info::PodInfo;
use crate::snapshot::{NodeInfo, Snapshot};

/// The volume-binding filter (upstream `volumebinding.VolumeBinding`, filter part).
#[derive(Clone, Copy, Debug, Default)]
pub struct VolumeBinding;

impl VolumeBinding {
    /// Upstream plugin name.
    pub const NAME: &'static str = "VolumeBinding";
    /// Upstream `ErrReasonNodeConflict`.
    pub const ERR_REASON_NODE_CONFLICT: &'static str = "node(s) had volume node affinity conflict";
    /// Upstream `ErrReasonPVNotExist`.
    pub const ERR_REASON_PV_NOT_EXIST: &'static str =
        "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)";
    /// Upstream's PreFilter message for claims that must be bound before scheduling.
    pub const ERR_UNBOUND_IMMEDIATE: &'static str =
        "pod has unbound immediate PersistentVolumeClaims";
}

/// The node affinities of the volumes bound to the pod's claims.
#[derive(Clone)]
struct State(Vec<RequiredNodeAffinity>);

/// The claim names a pod uses: `persistentVolumeClaim` volumes and generic ephemeral volumes
/// (`<pod>-<volume>`).
fn claim_names(pod: &PodInfo) -> Vec<String> {
    pod.pod
        .spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| {
            if let Some(c) = &v.persistent_volume_claim {
                Some(c.claim_name.clone())
            } else {
                v.ephemeral
                    .as_ref()
                    .map(|_| format!("{}-{}", pod.name, v.name))
            }
        })
        .collect()
}

impl Plugin for VolumeBinding {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn events_to_register(&self) -> Vec<ClusterEvent> {
        let changed = ActionType::ADD.or(ActionType::UPDATE);
        vec![
            ClusterEvent::new(EventResource::PersistentVolumeClaim, changed),
            ClusterEvent::new(EventResource::PersistentVolume, changed),
            ClusterEvent::new(EventResource::StorageClass, changed),
            ClusterEvent::new(
                EventResource::Node,
                ActionType::ADD.or(ActionType::UPDATE_NODE_LABEL),
            ),
        ]
    }
}

impl PreFilter for VolumeBinding {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> Result<PreFilterResult, Status> {
        let names = claim_names(pod);
        if names.is_empty() {
            return Ok(PreFilterResult::Skip);
        }
        let v = snapshot.volumes();
        let mut affinities = Vec::new();
        for name in names {
            let Some(claim) = v.claims.get(&format!("{}/{name}", pod.namespace)) else {
                return Err(Status::unresolvable(format!(
                    "persistentvolumeclaim {name:?} not found"
                )));
            };
            if claim.metadata.deletion_timestamp.is_some() {
                return Err(Status::unresolvable(format!(
                    "persistentvolumeclaim {name:?} is being deleted"
                )));
            }
            let spec = claim.spec.clone().unwrap_or_default();
            match spec.volume_name.filter(|n| !n.is_empty()) {
                Some(pv_name) => {
                    let Some(pv) = v.volumes.get(&pv_name) else {
                        return Err(Status::unresolvable(Self::ERR_REASON_PV_NOT_EXIST));
                    };
                    if let Some(required) = pv
                        .spec
                        .as_ref()
                        .and_then(|s| s.node_affinity.as_ref())
                        .and_then(|a| a.required.as_ref())
                    {
                        affinities.push(RequiredNodeAffinity::of_selector(required));
                    }
                }
                None => {
                    let delayed = spec
                        .storage_class_name
                        .as_deref()
                        .and_then(|c| v.classes.get(c))
                        .and_then(|c| c.volume_binding_mode.as_deref())
                        == Some("WaitForFirstConsumer");
                    if !delayed {
                        return Err(Status::unresolvable(Self::ERR_UNBOUND_IMMEDIATE));
                    }
                }
            }
        }
        state.write(State(affinities));
        Ok(PreFilterResult::AllNodes)
    }
}

impl Filter for VolumeBinding {
    fn filter(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(State(affinities)) = state.read::<State>() else {
            return Status::success();
        };
        if affinities.iter().all(|a| a.matches(node)) {
            Status::success()
        } else {
            Status::unresolvable(Self::ERR_REASON_NODE_CONFLICT)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::snapshot::Volumes;
    use crate::testing::{node, pod};
    use serde_json::json;

    fn volumes() -> Volumes {
        let mut v = Volumes::default();
        let claim = |name: &str, spec: serde_json::Value| {
            (
                format!("default/{name}"),
                serde_json::from_value(
                    json!({"metadata": {"name": name, "namespace": "default"}, "spec": spec}),
                )
                .unwrap(),
            )
        };
        v.claims.extend([
            claim(
                "on-n2",
                json!({"volumeName": "pv-n2", "storageClassName": "local-path"}),
            ),
            claim("anywhere", json!({"volumeName": "pv-nfs"})),
            claim("later", json!({"storageClassName": "local-path"})),
            claim("now", json!({"storageClassName": "fast"})),
            claim("lost", json!({"volumeName": "pv-gone"})),
        ]);
        v.volumes.insert(
            "pv-n2".into(),
            serde_json::from_value(json!({"metadata": {"name": "pv-n2"}, "spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["n2"]}]}
            ]}}}})).unwrap(),
        );
        v.volumes.insert(
            "pv-nfs".into(),
            serde_json::from_value(json!({"metadata": {"name": "pv-nfs"}, "spec": {}})).unwrap(),
        );
        v.classes.insert(
            "local-path".into(),
            serde_json::from_value(json!({"metadata": {"name": "local-path"}, "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"})).unwrap(),
        );
        v.classes.insert(
            "fast".into(),
            serde_json::from_value(json!({"metadata": {"name": "fast"}, "provisioner": "x", "volumeBindingMode": "Immediate"})).unwrap(),
        );
        v
    }

    /// PreFilter then Filter of `claim`'s pod on each node: the statuses.
    fn run(claim: &str) -> Result<Vec<(String, Status)>, Status> {
        let nodes = [
            node("n1").label("kubernetes.io/hostname", "n1").build(),
            node("n2").label("kubernetes.io/hostname", "n2").build(),
        ];
        let snap = Snapshot::new(&nodes, &[]).with_volumes(volumes());
        let mut p = pod("p").build();
        p.spec.as_mut().unwrap().volumes = Some(vec![serde_json::from_value(
            json!({"name": "data", "persistentVolumeClaim": {"claimName": claim}}),
        )
        .unwrap()]);
        let info = snap.pod_info(&p);
        let mut state = CycleState::new();
        VolumeBinding.pre_filter(&mut state, &info, &snap)?;
        Ok(["n1", "n2"]
            .iter()
            .map(|n| {
                (
                    n.to_string(),
                    VolumeBinding.filter(&state, &info, snap.get(n).unwrap()),
                )
            })
            .collect())
    }

    #[test]
    fn a_bound_local_volume_pins_the_pod_to_its_node() {
        let r = run("on-n2").unwrap();
        assert_eq!(r[0].1.code(), Code::UnschedulableAndUnresolvable);
        assert_eq!(r[0].1.reasons(), [VolumeBinding::ERR_REASON_NODE_CONFLICT]);
        assert!(r[1].1.is_success());
        assert!(run("anywhere").unwrap().iter().all(|(_, s)| s.is_success()));
    }

    #[test]
    fn unbound_claims_wait_for_their_first_consumer_or_block() {
        assert!(run("later").unwrap().iter().all(|(_, s)| s.is_success()));
        let e = run("now").unwrap_err();
        assert_eq!(e.reasons(), [VolumeBinding::ERR_UNBOUND_IMMEDIATE]);
        let e = run("ghost").unwrap_err();
        assert_eq!(e.reasons(), ["persistentvolumeclaim \"ghost\" not found"]);
        let e = run("lost").unwrap_err();
        assert_eq!(e.reasons(), [VolumeBinding::ERR_REASON_PV_NOT_EXIST]);
    }
}
