//! Pure reconcile planners of kube-controller-manager's workload controllers.
//!
//! Each controller folder exposes an `Observed` snapshot (the object, the children it owns or
//! could adopt, and `now`), a `Step` enum (what the driver must do, in order) and a pure
//! `plan(&Observed) -> Vec<Step>`. No I/O, no async, no clock reads: same observation, same
//! steps; planning again on the state after the steps yields no further create or delete.
//!
//! - [`replicaset`]: ReplicaSet (and ReplicationController through [`replicaset::rc`]).
//! - [`deployment`]: rolling update, Recreate, pause, rollback by template, history cleanup,
//!   progress deadline and the status `kubectl rollout status` reads.
//! - [`job`]: completions, parallelism, backoff, deadlines, Indexed jobs, pod failure and
//!   success policies, suspend, TTL after finished.
//! - [`statefulset`]: ordinal pods, OrderedReady/Parallel, rolling update with partition,
//!   claims from volumeClaimTemplates, revisions.
//! - [`cronjob`]: cron schedules, time zones, concurrency policy, history limits.
//! - [`daemonset`]: one pod per eligible node (selector, affinity, taints), rolling update
//!   with maxUnavailable or maxSurge.
//! - [`endpoints`]: the Endpoints of each Service with a selector, repacked and capped at 1000.
//! - [`disruption`]: PodDisruptionBudget status, and the budget checks of the eviction
//!   subresource.
//! - [`nodelifecycle`]: node heartbeats, Unknown conditions, condition taints and
//!   NoExecute taint eviction (the DefaultTolerationSeconds admission is in skiff-apiserver).
//! - [`resourcequota`]: ResourceQuota usage by resource and scope.
//! - [`endpointslice`]: the EndpointSlices of each Service with a selector, updated in place.
//! - [`pods`]: pod readiness, availability and upstream's ranking of pods to delete.
//! - [`hash`]: the pod-template-hash.
//! - [`ownership`]: controller references, selectors over typed objects, adopt and release.
//! - [`event`]: Kubernetes Events a plan asks the driver to record.
//!
//! # Example
//!
//! ```no_run
//! use k8s_openapi::api::apps::v1::ReplicaSet;
//! use skiff_controllers::cached_pod::CachedPod;
//! use skiff_controllers::replicaset::{plan, Observed, Step};
//!
//! fn sync(rs: &ReplicaSet, pods: &[CachedPod], now: skiff_controllers::Timestamp) {
//!     let obs = Observed { replica_set: rs, pods: pods.iter().collect(), related_pods: vec![], now };
//!     for step in plan(&obs) {
//!         match step {
//!             Step::CreatePods { count, template } => { /* create `count` pods, slow start */ }
//!             Step::DeletePods(names) => { /* delete them */ }
//!             Step::Status(status) => { /* PUT .../status */ }
//!             _ => {}
//!         }
//!     }
//! }
//! ```

pub mod cached_pod;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod endpointslice;
pub mod event;
pub mod hash;
pub mod job;
pub mod localpath;
pub mod nodeipam;
pub mod nodelifecycle;
pub mod ownership;
pub mod pods;
pub mod replicaset;
pub mod resourcequota;
pub mod statefulset;

#[cfg(test)]
pub(crate) mod testing;

pub use event::{Event, EventType};

/// The instant planners take as `now`; the same type `meta/v1.Time` wraps.
pub type Timestamp = k8s_openapi::jiff::Timestamp;
