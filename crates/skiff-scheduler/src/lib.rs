//! The pure scheduling core of Skiff: kube-scheduler's framework and default plugins.
//! No I/O, no async, no clock or global RNG — time and randomness are parameters.
//!
//! - [`snapshot`]: the cluster as one cycle sees it ([`Snapshot`], [`NodeInfo`]).
//! - [`framework`]: statuses, cycle state, extension-point traits.
//! - [`events`]: cluster events that requeue unschedulable pods.
//! - [`profile`]: which plugins run where, with upstream's default order and weights.
//! - [`plugins`]: the default plugins, one module each.
//! - [`schedule`](mod@schedule): one scheduling cycle, [`schedule()`] → [`ScheduleResult`].
//! - [`preemption`]: DefaultPreemption (victims, PDBs, node choice).
//! - [`queue`]: the scheduling queue as a state machine over passed-in time.
//! - [`quantity`], [`resource`], [`labels`], [`pod_info`]: parsing helpers.
//! - [`testing`]: object builders and plugin harnesses for tests.

#![warn(missing_docs)]

pub mod events;
pub mod framework;
pub mod labels;
pub mod placed;
pub mod plugins;
pub mod pod_info;
pub mod preemption;
pub mod profile;
pub mod quantity;
pub mod queue;
pub mod resource;
pub mod schedule;
pub mod snapshot;
pub mod testing;

pub use framework::{ClusterEvent, Code, CycleState, NodeStatuses, Nomination, Status};
pub use pod_info::PodInfo;
pub use profile::Profile;
pub use queue::{QueueConfig, QueuedPod, SchedulingQueue};
pub use schedule::{schedule, FitError, Placement, ScheduleResult};
pub use snapshot::{NodeInfo, Snapshot, Volumes, Workloads};
