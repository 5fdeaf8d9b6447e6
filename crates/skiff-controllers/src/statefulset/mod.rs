//! The StatefulSet planner (upstream `pkg/controller/statefulset`): pods `<set>-<ordinal>`
//! created in order (OrderedReady) or all at once (Parallel), claims from
//! volumeClaimTemplates, scale-down from the highest ordinal, RollingUpdate with partition
//! (highest ordinal first) or OnDelete, ControllerRevisions and status.

mod identity;
pub mod revision;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};

use crate::cached_pod::CachedPod;
use crate::ownership::{self, Selector};
use crate::pods;
use crate::Timestamp;

pub use identity::{claim_name, ordinal_of, pod_name, POD_INDEX_LABEL, POD_NAME_LABEL};
pub use revision::REVISION_LABEL;

/// Field manager and event source (upstream's controller name).
pub const CONTROLLER_NAME: &str = "statefulset-controller";

/// The most ordinals one sync plans over (bounds the work on absurd `replicas`).
pub const MAX_PLANNED_REPLICAS: i32 = 100_000;

/// At most this many pods are created in one sync under the Parallel policy (upstream's
/// slow-start batches; the next sync continues).
pub const MAX_POD_CREATES_PER_SYNC: usize = 500;

/// Everything the StatefulSet planner may look at, gathered from caches by the driver.
#[derive(Clone, Debug)]
pub struct Observed<'a> {
    /// The StatefulSet being reconciled.
    pub set: &'a StatefulSet,
    /// Pods of its namespace.
    pub pods: Vec<&'a CachedPod>,
    /// ControllerRevisions of its namespace.
    pub revisions: Vec<&'a ControllerRevision>,
    /// PersistentVolumeClaims of its namespace.
    pub claims: Vec<&'a PersistentVolumeClaim>,
    /// The time of this sync.
    pub now: Timestamp,
}

/// One thing the driver must do, in order; the planner never performs it.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Set our controller reference on these orphan pods.
    AdoptPods(Vec<String>),
    /// Remove our controller reference from these pods.
    ReleasePods(Vec<String>),
    /// Create this ControllerRevision (the new update revision).
    CreateRevision(Box<ControllerRevision>),
    /// Raise this existing revision's number (the template went back to it).
    UpdateRevision(Box<ControllerRevision>),
    /// Delete these old revisions (revisionHistoryLimit).
    DeleteRevisions(Vec<String>),
    /// Create these claims (before the pod that mounts them).
    CreateClaims(Vec<PersistentVolumeClaim>),
    /// Create this pod (named, not generated).
    CreatePod(Box<Pod>),
    /// Delete this pod.
    DeletePod(String),
    /// Write this status through the status subresource.
    Status(Box<StatefulSetStatus>),
    /// Sync again after this long (a pod becomes available after minReadySeconds).
    RequeueAfter(Duration),
}

fn healthy(p: &CachedPod) -> bool {
    is_running_and_ready(p) && !pods::is_terminating(p)
}

fn is_running_and_ready(p: &CachedPod) -> bool {
    pods::phase(p) == pods::PHASE_RUNNING && pods::is_ready(p)
}

/// Pure: one `updateStatefulSet` as steps.
pub fn plan(obs: &Observed<'_>) -> Vec<Step> {
    let set = obs.set;
    let Some(spec) = set.spec.as_ref() else {
        return Vec::new();
    };
    let Some(sel) = Selector::from_label_selector(&spec.selector) else {
        return Vec::new();
    };
    if sel.is_empty() {
        return Vec::new();
    }
    let members: Vec<&CachedPod> = obs
        .pods
        .iter()
        .copied()
        .filter(|p| ordinal_of(set, p).is_some())
        .collect();
    let claim = ownership::claim(&set.metadata, &sel, &members);
    let mut steps = Vec::new();
    if !claim.adopt.is_empty() {
        steps.push(Step::AdoptPods(ownership::names(&claim.adopt)));
    }
    if !claim.release.is_empty() {
        steps.push(Step::ReleasePods(ownership::names(&claim.release)));
    }
    let owned_pods = claim.claimed;
    let set_uid = set.metadata.uid.clone().unwrap_or_default();
    let owned_revs: Vec<&ControllerRevision> = obs
        .revisions
        .iter()
        .copied()
        .filter(|r| ownership::is_controlled_by(&r.metadata, &set_uid))
        .collect();
    let revs = revision::resolve(set, &owned_revs);
    if let Some(r) = &revs.create {
        steps.push(Step::CreateRevision(Box::new(r.clone())));
    }
    if let Some(r) = &revs.renumber {
        steps.push(Step::UpdateRevision(Box::new(r.clone())));
    }
    let update_name = revs.update.metadata.name.clone().unwrap_or_default();
    let current_name = revs.current.metadata.name.clone().unwrap_or_default();
    let current_template =
        revision::revision_template(&revs.current).unwrap_or_else(|| spec.template.clone());

    let replicas = spec.replicas.unwrap_or(1).clamp(0, MAX_PLANNED_REPLICAS);
    let start = spec
        .ordinals
        .as_ref()
        .and_then(|o| o.start)
        .unwrap_or(0)
        .max(0);
    let end = start.saturating_add(replicas);
    let mut slots: Vec<Option<&CachedPod>> = vec![None; usize::try_from(replicas).unwrap_or(0)];
    let mut condemned: Vec<&CachedPod> = Vec::new();
    for &p in &owned_pods {
        let Some(ord) = ordinal_of(set, p) else {
            continue;
        };
        if (start..end).contains(&ord) {
            slots[(ord - start) as usize] = Some(p);
        } else {
            condemned.push(p);
        }
    }
    condemned.sort_by_key(|p| std::cmp::Reverse(ordinal_of(set, p)));

    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let now = obs.now;
    let available = |p: &CachedPod| {
        pods::phase(p) == pods::PHASE_RUNNING && pods::is_available(p, min_ready, now)
    };
    let monotonic = spec.pod_management_policy.as_deref() != Some("Parallel");
    let strategy = spec
        .update_strategy
        .as_ref()
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("RollingUpdate");
    let rolling = spec
        .update_strategy
        .as_ref()
        .and_then(|s| s.rolling_update.as_ref());
    let partition = rolling.and_then(|r| r.partition).unwrap_or(0);
    let status_current = set
        .status
        .as_ref()
        .and_then(|s| s.current_replicas)
        .unwrap_or(0);
    let first_unhealthy = slots
        .iter()
        .flatten()
        .chain(condemned.iter())
        .find(|p| !healthy(p))
        .and_then(|p| p.metadata.name.clone());
    let existing_claims: BTreeSet<String> = obs
        .claims
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect();

    let mut actions: Vec<Step> = Vec::new();
    let mut blocked = false;
    let mut created = 0;
    // Living replicas, lowest ordinal first.
    for (i, slot) in slots.iter().enumerate() {
        let ord = start + i as i32;
        match slot {
            Some(p) if pods::is_terminal(p) => {
                if p.metadata.deletion_timestamp.is_none() {
                    actions.push(Step::DeletePod(p.metadata.name.clone().unwrap_or_default()));
                }
                if monotonic {
                    blocked = true;
                    break;
                }
            }
            None => {
                // Upstream `newVersionedStatefulSetPod` (its operator precedence included).
                let at_current =
                    (strategy == "RollingUpdate" && rolling.is_none() && ord < status_current)
                        || (rolling.is_some() && ord < partition);
                let (tpl, rev) = if at_current {
                    (&current_template, current_name.as_str())
                } else {
                    (&spec.template, update_name.as_str())
                };
                let missing: Vec<PersistentVolumeClaim> = identity::claims_for(set, ord)
                    .into_iter()
                    .filter(|c| {
                        !existing_claims.contains(c.metadata.name.as_deref().unwrap_or_default())
                    })
                    .collect();
                if !missing.is_empty() {
                    actions.push(Step::CreateClaims(missing));
                }
                actions.push(Step::CreatePod(Box::new(identity::new_pod(
                    set, tpl, rev, ord,
                ))));
                created += 1;
                if monotonic || created >= MAX_POD_CREATES_PER_SYNC {
                    blocked = true;
                    break;
                }
            }
            Some(p) => {
                if pods::phase(p) == pods::PHASE_PENDING {
                    let missing: Vec<PersistentVolumeClaim> = identity::claims_for(set, ord)
                        .into_iter()
                        .filter(|c| {
                            !existing_claims
                                .contains(c.metadata.name.as_deref().unwrap_or_default())
                        })
                        .collect();
                    if !missing.is_empty() {
                        actions.push(Step::CreateClaims(missing));
                    }
                }
                if monotonic
                    && (pods::is_terminating(p) || !is_running_and_ready(p) || !available(p))
                {
                    blocked = true;
                    break;
                }
            }
        }
    }
    // Condemned pods, highest ordinal first.
    if !blocked {
        for p in &condemned {
            if pods::is_terminating(p) {
                if monotonic {
                    blocked = true;
                    break;
                }
                continue;
            }
            let is_first_unhealthy = p.metadata.name == first_unhealthy;
            if monotonic && (!is_running_and_ready(p) || !available(p)) && !is_first_unhealthy {
                blocked = true;
                break;
            }
            actions.push(Step::DeletePod(p.metadata.name.clone().unwrap_or_default()));
            if monotonic {
                blocked = true;
                break;
            }
        }
    }
    let mut current_replicas_delta = 0;
    // Rolling update: the highest ordinal not at the update revision goes first.
    if !blocked && strategy == "RollingUpdate" {
        let min = usize::try_from(partition.saturating_sub(start).max(0)).unwrap_or(0);
        for slot in slots.iter().skip(min).rev() {
            let Some(p) = slot else { break };
            if revision::pod_revision(p) != Some(update_name.as_str()) && !pods::is_terminating(p) {
                actions.push(Step::DeletePod(p.metadata.name.clone().unwrap_or_default()));
                current_replicas_delta = -1;
                break;
            }
            if !healthy(p) {
                break;
            }
        }
    }
    steps.extend(actions);

    // Status over the pods as observed.
    let all: Vec<&CachedPod> = slots
        .iter()
        .flatten()
        .copied()
        .chain(condemned.iter().copied())
        .collect();
    let mut st = StatefulSetStatus {
        observed_generation: set.metadata.generation,
        collision_count: revs.collision_count,
        current_revision: Some(current_name.clone()),
        update_revision: Some(update_name.clone()),
        conditions: set.status.as_ref().and_then(|s| s.conditions.clone()),
        ..Default::default()
    };
    let (mut ready, mut avail, mut cur, mut upd) = (0, 0, 0, 0);
    for p in &all {
        st.replicas += 1;
        if is_running_and_ready(p) {
            ready += 1;
            if available(p) {
                avail += 1;
            }
        }
        if !pods::is_terminating(p) {
            if revision::pod_revision(p) == Some(current_name.as_str()) {
                cur += 1;
            }
            if revision::pod_revision(p) == Some(update_name.as_str()) {
                upd += 1;
            }
        }
    }
    cur += current_replicas_delta;
    st.ready_replicas = Some(ready);
    st.available_replicas = Some(avail);
    st.current_replicas = Some(cur.max(0));
    st.updated_replicas = Some(upd);
    // Upstream `completeRollingUpdate`.
    if strategy == "RollingUpdate" && upd == st.replicas && ready == st.replicas {
        st.current_revision = st.update_revision.clone();
        st.current_replicas = Some(upd);
    }
    let st = normalized(st);
    if normalized(set.status.clone().unwrap_or_default()) != st {
        steps.push(Step::Status(Box::new(st.clone())));
    }

    let keep = [current_name.as_str(), update_name.as_str()];
    let doomed = revision::truncate(set, &owned_revs, &owned_pods, &keep);
    if !doomed.is_empty() {
        steps.push(Step::DeleteRevisions(doomed));
    }
    if min_ready > 0 {
        if let Some(secs) = all
            .iter()
            .filter_map(|p| pods::seconds_until_available(p, min_ready, now))
            .min()
        {
            steps.push(Step::RequeueAfter(Duration::from_secs(secs.unsigned_abs())));
        }
    }
    steps
}

fn normalized(mut st: StatefulSetStatus) -> StatefulSetStatus {
    let z = |v: Option<i32>| v.filter(|x| *x != 0);
    st.ready_replicas = z(st.ready_replicas);
    st.current_replicas = z(st.current_replicas);
    st.updated_replicas = z(st.updated_replicas);
    st.available_replicas = st.available_replicas.or(Some(0));
    st.observed_generation = st.observed_generation.filter(|g| *g != 0);
    if st.conditions.as_ref().is_some_and(Vec::is_empty) {
        st.conditions = None;
    }
    st
}
