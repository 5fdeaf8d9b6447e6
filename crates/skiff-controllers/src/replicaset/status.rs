//! ReplicaSet status (upstream `calculateStatus` in `replica_set_utils.go`).

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::cached_pod::CachedPod;
use crate::ownership::Selector;
use crate::pods;
use crate::Timestamp;

/// Upstream `apps.ReplicaSetReplicaFailure`.
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

/// A create or delete the driver could not perform, reported as the ReplicaFailure condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManageError {
    /// The error text (becomes the condition message).
    pub message: String,
}

/// Upstream `calculateStatus`: replicas, fullyLabeledReplicas (pods carrying every template
/// label), readyReplicas, availableReplicas (ready for minReadySeconds), observedGeneration,
/// and the ReplicaFailure condition (reason `FailedCreate` / `FailedDelete`) while creates or
/// deletes fail. Zero counts are left unset, as upstream's JSON omits them.
pub fn calculate_status(
    rs: &ReplicaSet,
    active_pods: &[&CachedPod],
    manage_error: Option<&ManageError>,
    now: Timestamp,
) -> ReplicaSetStatus {
    let spec = rs.spec.clone().unwrap_or_default();
    let mut st = rs.status.clone().unwrap_or_default();
    let template_labels = spec
        .template
        .as_ref()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let template_sel = Selector::from_map(&template_labels);
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let (mut labeled, mut ready, mut available) = (0, 0, 0);
    for p in active_pods {
        if template_sel.matches(p.metadata.labels.as_ref()) {
            labeled += 1;
        }
        if pods::is_ready(p) {
            ready += 1;
            if pods::is_available(p, min_ready, now) {
                available += 1;
            }
        }
    }
    let has_failure = st
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == REPLICA_FAILURE);
    match manage_error {
        Some(err) if !has_failure => {
            let diff = active_pods.len() as i64 - i64::from(spec.replicas.unwrap_or(1));
            let reason = if diff < 0 {
                "FailedCreate"
            } else if diff > 0 {
                "FailedDelete"
            } else {
                ""
            };
            st.conditions
                .get_or_insert_with(Vec::new)
                .push(ReplicaSetCondition {
                    type_: REPLICA_FAILURE.into(),
                    status: "True".into(),
                    reason: Some(reason.into()),
                    message: Some(err.message.clone()),
                    last_transition_time: Some(Time(now)),
                });
        }
        None if has_failure => {
            if let Some(c) = st.conditions.as_mut() {
                c.retain(|c| c.type_ != REPLICA_FAILURE);
            }
        }
        _ => {}
    }
    st.replicas = i32::try_from(active_pods.len()).unwrap_or(i32::MAX);
    st.fully_labeled_replicas = Some(labeled);
    st.ready_replicas = Some(ready);
    st.available_replicas = Some(available);
    st.observed_generation = rs.metadata.generation;
    normalized(st)
}

fn zero_none<T: Default + PartialEq>(v: Option<T>) -> Option<T> {
    v.filter(|x| *x != T::default())
}

/// The status as upstream's JSON carries it: zero counts and empty lists unset.
pub(crate) fn normalized(mut st: ReplicaSetStatus) -> ReplicaSetStatus {
    st.available_replicas = zero_none(st.available_replicas);
    st.ready_replicas = zero_none(st.ready_replicas);
    st.fully_labeled_replicas = zero_none(st.fully_labeled_replicas);
    st.observed_generation = zero_none(st.observed_generation);
    st.terminating_replicas = None;
    if st.conditions.as_ref().is_some_and(Vec::is_empty) {
        st.conditions = None;
    }
    st
}
