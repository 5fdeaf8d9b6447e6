//! ReplicationControllers through the ReplicaSet planner (upstream runs one controller for
//! both): the RC's plain-map selector becomes `matchLabels`, pods get a `v1`
//! ReplicationController owner, and status comes back as a ReplicationControllerStatus.

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec, ReplicaSetStatus};
use k8s_openapi::api::core::v1::{
    PodTemplateSpec, ReplicationController, ReplicationControllerCondition,
    ReplicationControllerStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::OwnerKind;
use crate::cached_pod::CachedPod;
use crate::Timestamp;

/// Field manager and event source (upstream's controller name).
pub const CONTROLLER_NAME: &str = "replicationcontroller-controller";

const RC_KIND: OwnerKind = OwnerKind {
    api_version: "v1",
    kind: "ReplicationController",
};

/// What the ReplicationController planner looks at.
#[derive(Clone, Debug)]
pub struct Observed<'a> {
    /// The ReplicationController being reconciled.
    pub controller: &'a ReplicationController,
    /// Pods of its namespace: at least those its selector matches and those it controls.
    pub pods: Vec<&'a CachedPod>,
    /// The time of this sync.
    pub now: Timestamp,
}

/// One thing the driver must do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Set our controller reference on these orphan pods.
    AdoptPods(Vec<String>),
    /// Remove our controller reference from these pods.
    ReleasePods(Vec<String>),
    /// Create `count` pods from `template` (metadata carries labels and owner).
    CreatePods {
        /// How many pods.
        count: u32,
        /// The pod to create, as a template.
        template: Box<PodTemplateSpec>,
    },
    /// Delete these pods.
    DeletePods(Vec<String>),
    /// Write this status.
    Status(ReplicationControllerStatus),
    /// Sync again after this long.
    RequeueAfter(std::time::Duration),
}

/// The ReplicaSet an RC behaves as: selector defaults to the template's labels, as the API
/// server defaults it.
pub fn as_replica_set(rc: &ReplicationController) -> ReplicaSet {
    let spec = rc.spec.clone().unwrap_or_default();
    let template_labels = spec
        .template
        .as_ref()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone());
    let selector = spec
        .selector
        .clone()
        .filter(|s| !s.is_empty())
        .or(template_labels);
    ReplicaSet {
        metadata: rc.metadata.clone(),
        spec: Some(ReplicaSetSpec {
            min_ready_seconds: spec.min_ready_seconds,
            replicas: spec.replicas,
            selector: LabelSelector {
                match_labels: selector,
                match_expressions: None,
            },
            template: spec.template,
        }),
        status: rc.status.as_ref().map(|s| ReplicaSetStatus {
            available_replicas: s.available_replicas,
            conditions: s.conditions.as_ref().map(|cs| {
                cs.iter()
                    .map(|c| k8s_openapi::api::apps::v1::ReplicaSetCondition {
                        last_transition_time: c.last_transition_time.clone(),
                        message: c.message.clone(),
                        reason: c.reason.clone(),
                        status: c.status.clone(),
                        type_: c.type_.clone(),
                    })
                    .collect()
            }),
            fully_labeled_replicas: s.fully_labeled_replicas,
            observed_generation: s.observed_generation,
            ready_replicas: s.ready_replicas,
            replicas: s.replicas,
            terminating_replicas: None,
        }),
    }
}

fn rc_status(s: ReplicaSetStatus) -> ReplicationControllerStatus {
    ReplicationControllerStatus {
        available_replicas: s.available_replicas,
        conditions: s.conditions.map(|cs| {
            cs.into_iter()
                .map(|c| ReplicationControllerCondition {
                    last_transition_time: c.last_transition_time,
                    message: c.message,
                    reason: c.reason,
                    status: c.status,
                    type_: c.type_,
                })
                .collect()
        }),
        fully_labeled_replicas: s.fully_labeled_replicas,
        observed_generation: s.observed_generation,
        ready_replicas: s.ready_replicas,
        replicas: s.replicas,
    }
}

/// Pure: the ReplicaSet plan for the RC, with RC ownership and status.
pub fn plan(obs: &Observed<'_>) -> Vec<Step> {
    let rs = as_replica_set(obs.controller);
    let inner = super::Observed {
        replica_set: &rs,
        pods: obs.pods.clone(),
        related_pods: Vec::new(),
        now: obs.now,
    };
    super::plan_for(&inner, RC_KIND)
        .into_iter()
        .map(|s| match s {
            super::Step::AdoptPods(v) => Step::AdoptPods(v),
            super::Step::ReleasePods(v) => Step::ReleasePods(v),
            super::Step::CreatePods { count, template } => Step::CreatePods { count, template },
            super::Step::DeletePods(v) => Step::DeletePods(v),
            super::Step::Status(st) => Step::Status(rc_status(st)),
            super::Step::RequeueAfter(d) => Step::RequeueAfter(d),
        })
        .collect()
}
