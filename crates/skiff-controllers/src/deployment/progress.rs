//! Deployment status (upstream `calculateStatus` in `sync.go`) and rollout progress
//! (`progress.go`): Available and Progressing conditions, progress deadline, requeue.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{DeploymentCondition, DeploymentStatus, ReplicaSet};

use super::util::{self, *};
use super::Planner;
use crate::pods::nanos;

/// Upstream `calculateStatus`: counts summed over the ReplicaSets (updated = the new one's),
/// and the Available condition.
pub(crate) fn calculate_status(p: &Planner<'_>, new: Option<usize>) -> DeploymentStatus {
    let d = &p.d;
    let all = &p.rss;
    let available: i32 = all
        .iter()
        .map(|rs| util::rs_counts(rs).2)
        .fold(0i32, i32::saturating_add);
    let total: i32 = all
        .iter()
        .map(util::rs_replicas)
        .fold(0i32, i32::saturating_add);
    let prev = d.status.clone().unwrap_or_default();
    let mut st = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(
            all.iter()
                .map(|rs| util::rs_counts(rs).0)
                .fold(0i32, i32::saturating_add),
        ),
        updated_replicas: Some(new.map_or(0, |i| util::rs_counts(&all[i]).0)),
        ready_replicas: Some(
            all.iter()
                .map(|rs| util::rs_counts(rs).1)
                .fold(0i32, i32::saturating_add),
        ),
        available_replicas: Some(available),
        unavailable_replicas: Some((total - available).max(0)),
        collision_count: prev.collision_count,
        conditions: prev.conditions,
        terminating_replicas: None,
    };
    let c = if available >= replicas(d) - max_unavailable(d) {
        new_condition(
            AVAILABLE,
            "True",
            MINIMUM_REPLICAS_AVAILABLE,
            "Deployment has minimum availability.".into(),
            p.now,
        )
    } else {
        new_condition(
            AVAILABLE,
            "False",
            MINIMUM_REPLICAS_UNAVAILABLE,
            "Deployment does not have minimum availability.".into(),
            p.now,
        )
    };
    set_condition(&mut st, c);
    st
}

/// Upstream `ReplicaSetToDeploymentCondition` over ReplicaFailure conditions, the new RS's
/// first.
fn replica_failures(all: &[ReplicaSet], new: Option<usize>) -> Option<DeploymentCondition> {
    let convert = |rs: &ReplicaSet| {
        rs.status
            .as_ref()?
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == REPLICA_FAILURE)
            .map(|c| DeploymentCondition {
                type_: c.type_.clone(),
                status: c.status.clone(),
                last_transition_time: c.last_transition_time.clone(),
                last_update_time: c.last_transition_time.clone(),
                reason: c.reason.clone(),
                message: c.message.clone(),
            })
    };
    new.and_then(|i| convert(&all[i]))
        .or_else(|| all.iter().find_map(convert))
}

impl Planner<'_> {
    /// Upstream `syncRolloutStatus`: status plus the Progressing condition (complete,
    /// progressing, or timed out), ReplicaFailure promotion, and a requeue for the deadline.
    pub(crate) fn sync_rollout_status(&mut self, new: Option<usize>) {
        let mut st = calculate_status(self, new);
        let d = &self.d;
        if !has_progress_deadline(d) {
            remove_condition(&mut st, PROGRESSING);
        }
        let cur = d
            .status
            .as_ref()
            .and_then(|s| get_condition(s, PROGRESSING))
            .cloned();
        let complete_before = st.replicas == st.updated_replicas
            && cur
                .as_ref()
                .is_some_and(|c| c.reason.as_deref() == Some(NEW_RS_AVAILABLE_REASON));
        let new_name = new.map(|i| self.name_of(i));
        let d_name = d.metadata.name.clone().unwrap_or_default();
        let subject = |what: &str| match &new_name {
            Some(n) => format!("ReplicaSet {n:?} {what}"),
            None => format!("Deployment {d_name:?} {what}"),
        };
        if has_progress_deadline(d) && !complete_before {
            if deployment_complete(d, &st) {
                let c = new_condition(
                    PROGRESSING,
                    "True",
                    NEW_RS_AVAILABLE_REASON,
                    subject("has successfully progressed."),
                    self.now,
                );
                set_condition(&mut st, c);
            } else if deployment_progressing(d, &st) {
                let mut c = new_condition(
                    PROGRESSING,
                    "True",
                    REPLICA_SET_UPDATED_REASON,
                    subject("is progressing."),
                    self.now,
                );
                if let Some(cur) = &cur {
                    if cur.status == "True" {
                        c.last_transition_time = cur.last_transition_time.clone();
                    }
                    remove_condition(&mut st, PROGRESSING);
                }
                set_condition(&mut st, c);
            } else if deployment_timed_out(d, &st, self.obs.now) {
                let c = new_condition(
                    PROGRESSING,
                    "False",
                    TIMED_OUT_REASON,
                    subject("has timed out progressing."),
                    self.now,
                );
                set_condition(&mut st, c);
            }
        }
        match replica_failures(&self.rss, new) {
            Some(c) => set_condition(&mut st, c),
            None => remove_condition(&mut st, REPLICA_FAILURE),
        }
        if normalized(d.status.clone().unwrap_or_default()) == normalized(st.clone()) {
            self.requeue = self.requeue_stuck(&st);
        }
        self.d.status = Some(st);
    }

    /// Upstream `requeueStuckDeployment`: when nothing changed, check the deadline again once
    /// it has passed, plus a second for clock skew. Never at once: nothing would have changed
    /// by then (upstream rate-limits that case), so a zero delay would spin until the deadline.
    /// Nor after a complete rollout (NewReplicaSetAvailable) that lost availability: that
    /// condition never times out (upstream requeues it rate-limited, to no effect).
    fn requeue_stuck(&self, new: &DeploymentStatus) -> Option<Duration> {
        let d = &self.d;
        let cur = d
            .status
            .as_ref()
            .and_then(|s| get_condition(s, PROGRESSING))?;
        if !has_progress_deadline(d)
            || deployment_complete(d, new)
            || matches!(
                cur.reason.as_deref(),
                Some(TIMED_OUT_REASON | NEW_RS_AVAILABLE_REASON)
            )
        {
            return None;
        }
        let from = cur.last_update_time.as_ref()?.0;
        let due = nanos(from) + i128::from(progress_deadline(d)) * 1_000_000_000;
        // Not timed out in this sync, so `now` has not passed `due`: `after` >= 0.
        let after = u64::try_from((due - nanos(self.obs.now)).max(0)).unwrap_or(u64::MAX);
        Some(Duration::from_nanos(after).saturating_add(Duration::from_secs(1)))
    }
}

fn zero_none(v: Option<i32>) -> Option<i32> {
    v.filter(|x| *x != 0)
}

/// The status as upstream's JSON carries it: zero counts unset, no empty condition list.
pub(crate) fn normalized(mut st: DeploymentStatus) -> DeploymentStatus {
    st.replicas = zero_none(st.replicas);
    st.updated_replicas = zero_none(st.updated_replicas);
    st.ready_replicas = zero_none(st.ready_replicas);
    st.available_replicas = zero_none(st.available_replicas);
    st.unavailable_replicas = zero_none(st.unavailable_replicas);
    st.observed_generation = st.observed_generation.filter(|g| *g != 0);
    st.terminating_replicas = None;
    if st.conditions.as_ref().is_some_and(Vec::is_empty) {
        st.conditions = None;
    }
    st
}
