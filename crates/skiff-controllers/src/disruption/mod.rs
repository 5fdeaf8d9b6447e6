//! The PodDisruptionBudget planner (upstream `pkg/controller/disruption`): count the healthy
//! pods a budget selects, work out how many must stay healthy, and publish how many voluntary
//! disruptions the eviction subresource may grant ([`eviction`] holds that side).
//!
//! # Example
//!
//! ```no_run
//! use std::collections::BTreeMap;
//! use skiff_controllers::cached_pod::CachedPod;
//! use k8s_openapi::api::policy::v1::PodDisruptionBudget;
//! use skiff_controllers::disruption::{plan, ControllerScale, Observed, Step};
//!
//! fn sync(pdb: &PodDisruptionBudget, pods: &[CachedPod], now: skiff_controllers::Timestamp) {
//!     // The driver resolves each pod's controller (Deployment through its ReplicaSet, …).
//!     let mut controllers = BTreeMap::new();
//!     controllers.insert("rs-uid".to_string(), ControllerScale { uid: "deploy-uid".into(), replicas: 3 });
//!     let obs = Observed { pdb, pods: pods.iter().collect(), controllers, now };
//!     for step in plan(&obs) {
//!         match step {
//!             Step::Status(status) => { /* PUT .../status */ }
//!             Step::RequeueAfter(after) => { /* sync again then */ }
//!             _ => {}
//!         }
//!     }
//! }
//! ```

pub mod eviction;
mod status;

#[cfg(test)]
mod eviction_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};

use crate::cached_pod::CachedPod;
use crate::event::Event;
use crate::Timestamp;

pub use status::{
    expected_pod_count, selects, ExpectedCount, DELETION_TIMEOUT, DISRUPTION_ALLOWED,
    INSUFFICIENT_PODS, SUFFICIENT_PODS, SYNC_FAILED,
};

/// Event source (upstream's controller name).
pub const CONTROLLER_NAME: &str = "disruption-controller";

/// The scale of the controller that owns some of the budget's pods, as the driver resolved it
/// (upstream's `finders`: a ReplicationController, a Deployment through its ReplicaSet, a
/// ReplicaSet no Deployment controls, a StatefulSet, or anything with a scale subresource).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerScale {
    /// The uid of the resolved controller (the Deployment's, not its ReplicaSet's), so several
    /// ReplicaSets of one Deployment count once.
    pub uid: String,
    /// Its `spec.replicas`.
    pub replicas: i32,
}

/// Everything the disruption planner may look at, gathered from caches by the driver.
#[derive(Clone, Debug)]
pub struct Observed<'a> {
    /// The budget being reconciled.
    pub pdb: &'a PodDisruptionBudget,
    /// Pods of its namespace (the planner applies the budget's selector).
    pub pods: Vec<&'a CachedPod>,
    /// Keyed by the uid in a pod's controller reference: the scale of the controller it leads
    /// to. Only needed for percentages and `maxUnavailable`; a pod whose controller reference
    /// has no entry makes the sync fail (upstream's "found no controllers for pod").
    pub controllers: BTreeMap<String, ControllerScale>,
    /// The time of this sync.
    pub now: Timestamp,
}

/// One thing the driver must do, in order; the planner never performs it.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Record this event on the budget.
    Event(Event),
    /// Record this event on the named pod of the budget's namespace.
    PodEvent {
        /// The pod's name.
        pod: String,
        /// The event.
        event: Event,
    },
    /// Write this status through the status subresource (only planned when it differs).
    Status(Box<PodDisruptionBudgetStatus>),
    /// The sync failed with this error (upstream returns it): the status above already says
    /// so; requeue with the driver's rate-limited backoff.
    Failed(String),
    /// Sync again after this long (the oldest `disruptedPods` entry expires).
    RequeueAfter(Duration),
}

/// Pure: same observation, same steps.
pub fn plan(obs: &Observed<'_>) -> Vec<Step> {
    let pdb = obs.pdb;
    let mut steps = Vec::new();
    let pods = match status::select_pods(pdb, &obs.pods) {
        Ok(pods) => pods,
        Err(err) => {
            steps.push(Step::Event(Event::warning(
                "NoPods",
                format!("Failed to get pods: {err}"),
            )));
            return status::fail_safe(pdb, &err, obs.now, steps);
        }
    };
    if pods.is_empty() {
        steps.push(Step::Event(Event::normal(
            "NoPods",
            "No matching pods found",
        )));
    }
    let expected = match expected_pod_count(pdb, &pods, &obs.controllers) {
        Ok(e) => e,
        Err(err) => {
            steps.push(Step::Event(Event::warning(
                "CalculateExpectedPodCountFailed",
                format!("Failed to calculate the number of expected pods: {err}"),
            )));
            return status::fail_safe(pdb, &err, obs.now, steps);
        }
    };
    if !expected.unmanaged_pods.is_empty() {
        steps.push(Step::Event(Event::warning(
            "UnmanagedPods",
            format!(
                "Pods selected by this PodDisruptionBudget (selector: {}) were found to be \
                 unmanaged. As a result, the status of the PDB cannot be calculated correctly, \
                 which may result in undefined behavior. To account for these pods please set \
                 \".spec.minAvailable\" field of the PDB to an integer value.",
                status::go_selector_string(pdb.spec.as_ref().and_then(|s| s.selector.as_ref()))
            ),
        )));
    }
    let disrupted = status::build_disrupted_pod_map(pdb, &pods, obs.now);
    for pod in &disrupted.not_deleted {
        let ns = pdb.metadata.namespace.as_deref().unwrap_or_default();
        steps.push(Step::PodEvent {
            pod: pod.clone(),
            // Upstream prints the namespace twice (a long-standing typo kept for parity).
            event: Event::warning(
                "NotDeleted",
                format!("Pod was expected by PDB {ns}/{ns} to be deleted but it wasn't"),
            ),
        });
    }
    let current_healthy = status::count_healthy_pods(&pods, &disrupted.kept, obs.now);
    if let Some(st) = status::updated_status(
        pdb,
        current_healthy,
        expected.desired_healthy,
        expected.expected_count,
        disrupted.kept,
        obs.now,
    ) {
        steps.push(Step::Status(Box::new(st)));
    }
    if let Some(at) = disrupted.recheck {
        let wait = crate::pods::nanos(at) - crate::pods::nanos(obs.now);
        steps.push(Step::RequeueAfter(Duration::from_nanos(
            u64::try_from(wait.max(0)).unwrap_or(u64::MAX),
        )));
    }
    steps
}
