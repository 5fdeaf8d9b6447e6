//! The Deployment planner (upstream `pkg/controller/deployment`): one sync of
//! `syncDeployment` — adopt ReplicaSets, find or create the new one, roll (RollingUpdate or
//! Recreate), scale proportionally on scaling events and while paused, clean up history, and
//! compute the status `kubectl rollout status` reads.
//!
//! Rollbacks need no special path: `kubectl rollout undo` patches the template back, the
//! planner finds the old ReplicaSet with that template, raises its revision (keeping the old
//! one in `deployment.kubernetes.io/revision-history`) and rolls to it.

mod progress;
mod recreate;
mod rolling;
mod sync;
pub mod util;

#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod tests;

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};

use crate::cached_pod::CachedPod;
use crate::event::Event;
use crate::ownership::{self, Selector};
use crate::Timestamp;

/// Field manager and event source (upstream's controller name).
pub const CONTROLLER_NAME: &str = "deployment-controller";

/// Everything the Deployment planner may look at, gathered from caches by the driver.
#[derive(Clone, Debug)]
pub struct Observed<'a> {
    /// The Deployment being reconciled.
    pub deployment: &'a Deployment,
    /// ReplicaSets of its namespace (those it owns, those it could adopt, and any other, so a
    /// name collision of the new ReplicaSet is seen).
    pub replica_sets: Vec<&'a ReplicaSet>,
    /// Pods of its namespace (Recreate waits until the old ReplicaSets' pods are gone).
    pub pods: Vec<&'a CachedPod>,
    /// The time of this sync.
    pub now: Timestamp,
}

/// One thing the driver must do, in order; the planner never performs it.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Set our controller reference on these orphan ReplicaSets (by name).
    AdoptReplicaSets(Vec<String>),
    /// Remove our controller reference from these ReplicaSets (by name).
    ReleaseReplicaSets(Vec<String>),
    /// Create this ReplicaSet (named `<deployment>-<pod-template-hash>`).
    CreateReplicaSet(Box<ReplicaSet>),
    /// Replace this ReplicaSet (scale, annotations, minReadySeconds); it carries the observed
    /// resourceVersion, so a conflict means "plan again".
    UpdateReplicaSet(Box<ReplicaSet>),
    /// Delete this old ReplicaSet (revisionHistoryLimit cleanup).
    DeleteReplicaSet(String),
    /// Set the Deployment's `deployment.kubernetes.io/revision` annotation to this value
    /// (upstream writes it together with the status).
    SetRevision(String),
    /// Write this status through the status subresource.
    Status(Box<DeploymentStatus>),
    /// Record this event on the Deployment.
    Event(Event),
    /// Sync again after this long (progress deadline check).
    RequeueAfter(Duration),
}

/// Pure: one `syncDeployment` as steps.
pub fn plan(obs: &Observed<'_>) -> Vec<Step> {
    let d = obs.deployment;
    let Some(spec) = d.spec.as_ref() else {
        return Vec::new();
    };
    if spec.selector == LabelSelector::default() {
        let mut steps = vec![Step::Event(Event::warning(
            "SelectingAll",
            "This deployment is selecting all pods. A non-empty selector is required.",
        ))];
        let mut st = d.status.clone().unwrap_or_default();
        if st.observed_generation.unwrap_or(0) < d.metadata.generation.unwrap_or(0) {
            st.observed_generation = d.metadata.generation;
            steps.push(Step::Status(Box::new(st)));
        }
        return steps;
    }
    let Some(selector) = Selector::from_label_selector(&spec.selector) else {
        return Vec::new();
    };
    let mut p = Planner::new(obs, &selector);
    p.sync_deployment();
    p.finish()
}

/// The working state of one sync: upstream mutates its copies as it goes, and so do we.
pub(crate) struct Planner<'a> {
    pub(crate) obs: &'a Observed<'a>,
    /// The Deployment as this sync has updated it (status, revision annotation).
    pub(crate) d: Deployment,
    /// The claimed ReplicaSets as this sync has updated them, oldest first.
    pub(crate) rss: Vec<ReplicaSet>,
    pub(crate) adopted: Vec<String>,
    pub(crate) released: Vec<String>,
    pub(crate) created: Option<String>,
    pub(crate) touched: Vec<String>,
    pub(crate) deleted: Vec<String>,
    pub(crate) events: Vec<Event>,
    pub(crate) requeue: Option<Duration>,
    /// `now` at the second precision `meta/v1.Time` keeps.
    pub(crate) now: Timestamp,
}

impl<'a> Planner<'a> {
    fn new(obs: &'a Observed<'a>, selector: &Selector) -> Self {
        let d = obs.deployment.clone();
        let claim = ownership::claim(&d.metadata, selector, &obs.replica_sets);
        let owner = ownership::controller_ref("apps/v1", "Deployment", &d.metadata);
        let adopted = ownership::names(&claim.adopt);
        let mut rss: Vec<ReplicaSet> = claim
            .claimed
            .iter()
            .map(|rs| {
                let mut rs = (*rs).clone();
                if ownership::controller_of(&rs.metadata).is_none() {
                    rs.metadata
                        .owner_references
                        .get_or_insert_with(Vec::new)
                        .push(owner.clone());
                }
                rs
            })
            .collect();
        rss.sort_by(util::by_creation);
        let now = Timestamp::from_second(obs.now.as_second()).unwrap_or(obs.now);
        Planner {
            obs,
            d,
            rss,
            adopted,
            released: ownership::names(&claim.release),
            created: None,
            touched: Vec::new(),
            deleted: Vec::new(),
            events: Vec::new(),
            requeue: None,
            now,
        }
    }

    /// The working status (created on first use).
    pub(crate) fn status_mut(&mut self) -> &mut DeploymentStatus {
        self.d.status.get_or_insert_with(Default::default)
    }

    pub(crate) fn status(&self) -> DeploymentStatus {
        self.d.status.clone().unwrap_or_default()
    }

    pub(crate) fn name_of(&self, idx: usize) -> String {
        self.rss[idx].metadata.name.clone().unwrap_or_default()
    }

    /// Records that ReplicaSet `idx` changed in this sync.
    pub(crate) fn touch(&mut self, idx: usize) {
        let name = self.name_of(idx);
        if self.created.as_deref() != Some(name.as_str()) && !self.touched.contains(&name) {
            self.touched.push(name);
        }
    }

    /// Upstream `syncDeployment` after the selector checks.
    fn sync_deployment(&mut self) {
        if self.d.metadata.deletion_timestamp.is_some() {
            self.sync_status_only();
            return;
        }
        self.check_paused_conditions();
        let paused = self.d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
        if paused || self.is_scaling_event() {
            self.sync();
            return;
        }
        if util::is_rolling_update(&self.d) {
            self.rollout_rolling();
        } else {
            self.rollout_recreate();
        }
    }

    /// The steps, in the order the driver must run them.
    fn finish(self) -> Vec<Step> {
        let mut steps = Vec::new();
        if !self.adopted.is_empty() {
            steps.push(Step::AdoptReplicaSets(self.adopted.clone()));
        }
        if !self.released.is_empty() {
            steps.push(Step::ReleaseReplicaSets(self.released.clone()));
        }
        let by_name = |n: &str| {
            self.rss
                .iter()
                .find(|rs| rs.metadata.name.as_deref() == Some(n))
                .cloned()
        };
        if let Some(rs) = self.created.as_deref().and_then(by_name) {
            let mut rs = rs;
            rs.metadata.creation_timestamp = None;
            steps.push(Step::CreateReplicaSet(Box::new(rs)));
        }
        for n in &self.touched {
            if let Some(rs) = by_name(n) {
                steps.push(Step::UpdateReplicaSet(Box::new(rs)));
            }
        }
        for n in &self.deleted {
            steps.push(Step::DeleteReplicaSet(n.clone()));
        }
        let rev = |d: &Deployment| {
            d.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(util::REVISION_ANNOTATION))
                .cloned()
        };
        if let Some(r) = rev(&self.d) {
            if rev(self.obs.deployment) != Some(r.clone()) {
                steps.push(Step::SetRevision(r));
            }
        }
        let before = progress::normalized(self.obs.deployment.status.clone().unwrap_or_default());
        let after = progress::normalized(self.status());
        if before != after {
            steps.push(Step::Status(Box::new(after)));
        }
        steps.extend(self.events.into_iter().map(Step::Event));
        if let Some(d) = self.requeue {
            steps.push(Step::RequeueAfter(d));
        }
        steps
    }
}

/// `now` as a `meta/v1.Time`.
pub(crate) fn time(now: Timestamp) -> Time {
    Time(now)
}
