//! The ReplicaSet planner (upstream `pkg/controller/replicaset`): keep `spec.replicas` active
//! pods, adopting matching orphans and releasing pods that stopped matching, and report status.

pub mod rc;
mod status;

#[cfg(test)]
mod tests;

use std::time::Duration;

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use k8s_openapi::api::core::v1::PodTemplateSpec;

use crate::cached_pod::CachedPod;
use crate::ownership::{self, Selector};
use crate::pods;
use crate::Timestamp;

pub use status::{calculate_status, ManageError};

/// Field manager and event source (upstream's controller name).
pub const CONTROLLER_NAME: &str = "replicaset-controller";

/// Upstream `BurstReplicas`: at most this many pods are created or deleted in one sync.
pub const BURST_REPLICAS: usize = 500;

/// Everything the ReplicaSet planner may look at, gathered from caches by the driver.
#[derive(Clone, Debug)]
pub struct Observed<'a> {
    /// The ReplicaSet being reconciled.
    pub replica_set: &'a ReplicaSet,
    /// Pods of its namespace: at least those its selector matches and those it controls.
    pub pods: Vec<&'a CachedPod>,
    /// Active pods of sibling ReplicaSets (same Deployment), used to rank pods on crowded nodes
    /// for deletion; empty means "rank by this ReplicaSet's own pods".
    pub related_pods: Vec<&'a CachedPod>,
    /// The time of this sync.
    pub now: Timestamp,
}

/// One thing the driver must do, in order; the planner never performs it.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Set our controller reference on these orphan pods (by name).
    AdoptPods(Vec<String>),
    /// Remove our controller reference from these pods (by name).
    ReleasePods(Vec<String>),
    /// Create `count` pods from `template` (labels, annotations, finalizers, `generateName`
    /// and the controller reference already in its metadata), in slow-start batches.
    CreatePods {
        /// How many pods.
        count: u32,
        /// The pod to create, as a template.
        template: Box<PodTemplateSpec>,
    },
    /// Delete these pods (by name), ranked so the cheapest to lose come first.
    DeletePods(Vec<String>),
    /// Write this status through the status subresource.
    Status(ReplicaSetStatus),
    /// Sync again after this long (a pod becomes available after minReadySeconds).
    RequeueAfter(Duration),
}

/// Which API kind owns the pods (ReplicaSet, or ReplicationController via [`rc`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct OwnerKind {
    pub api_version: &'static str,
    pub kind: &'static str,
}

pub(crate) const REPLICA_SET_KIND: OwnerKind = OwnerKind {
    api_version: "apps/v1",
    kind: "ReplicaSet",
};

/// Pure: same observation, same steps. Deletion order follows upstream's ranking.
pub fn plan(obs: &Observed<'_>) -> Vec<Step> {
    plan_for(obs, REPLICA_SET_KIND)
}

pub(crate) fn plan_for(obs: &Observed<'_>, owner_kind: OwnerKind) -> Vec<Step> {
    let rs = obs.replica_set;
    let Some(spec) = rs.spec.as_ref() else {
        return Vec::new();
    };
    let Some(selector) = Selector::from_label_selector(&spec.selector) else {
        return Vec::new();
    };
    if selector.is_empty() {
        return Vec::new();
    }
    let mut steps = Vec::new();

    let active: Vec<&CachedPod> = obs
        .pods
        .iter()
        .copied()
        .filter(|p| pods::is_active(p))
        .collect();
    let claim = ownership::claim(&rs.metadata, &selector, &active);
    if !claim.adopt.is_empty() {
        steps.push(Step::AdoptPods(ownership::names(&claim.adopt)));
    }
    if !claim.release.is_empty() {
        steps.push(Step::ReleasePods(ownership::names(&claim.release)));
    }
    let owned = claim.claimed;
    let want = usize::try_from(spec.replicas.unwrap_or(1).max(0)).unwrap_or(0);

    if rs.metadata.deletion_timestamp.is_none() {
        if owned.len() < want {
            let count = (want - owned.len()).min(BURST_REPLICAS);
            if let Some(template) = spec.template.as_ref() {
                let name = rs.metadata.name.clone().unwrap_or_default();
                let owner = ownership::controller_ref(
                    owner_kind.api_version,
                    owner_kind.kind,
                    &rs.metadata,
                );
                steps.push(Step::CreatePods {
                    count: u32::try_from(count).unwrap_or(u32::MAX),
                    template: Box::new(pods::pod_template_for(template, format!("{name}-"), owner)),
                });
            }
        } else if owned.len() > want {
            let count = (owned.len() - want).min(BURST_REPLICAS);
            let related = if obs.related_pods.is_empty() {
                &owned
            } else {
                &obs.related_pods
            };
            let doomed = pods::pods_to_delete(&owned, related, count, obs.now);
            steps.push(Step::DeletePods(ownership::names(&doomed)));
        }
    }

    let new_status = calculate_status(rs, &owned, None, obs.now);
    if status::normalized(rs.status.clone().unwrap_or_default()) != new_status {
        steps.push(Step::Status(new_status.clone()));
    }

    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    if min_ready > 0 {
        if let Some(secs) = owned
            .iter()
            .filter_map(|p| pods::seconds_until_available(p, min_ready, obs.now))
            .min()
        {
            steps.push(Step::RequeueAfter(Duration::from_secs(secs.unsigned_abs())));
        }
    }
    steps
}
