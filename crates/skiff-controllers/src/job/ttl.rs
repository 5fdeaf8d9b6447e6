//! The TTL-after-finished controller (upstream `pkg/controller/ttlafterfinished`): a finished
//! Job is deleted `ttlSecondsAfterFinished` after its finishing condition.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;

use super::{finished_condition, Step};
use crate::pods;
use crate::Timestamp;

/// The TTL-after-finished controller: delete once `ttlSecondsAfterFinished` has passed since
/// the finishing condition's transition, else requeue for then.
pub(crate) fn ttl_steps(job: &Job, now: Timestamp) -> Vec<Step> {
    let Some(ttl) = job.spec.as_ref().and_then(|s| s.ttl_seconds_after_finished) else {
        return Vec::new();
    };
    if job.metadata.deletion_timestamp.is_some() {
        return Vec::new();
    }
    let Some(finished_at) = finished_condition(job).and_then(|c| c.last_transition_time.as_ref())
    else {
        return Vec::new();
    };
    let expire = pods::nanos(finished_at.0) + i128::from(ttl) * 1_000_000_000;
    let left = expire - pods::nanos(now);
    if left <= 0 {
        vec![Step::DeleteJob]
    } else {
        vec![Step::RequeueAfter(nanos_to_duration(left))]
    }
}

pub(crate) fn nanos_to_duration(n: i128) -> Duration {
    let n = u128::try_from(n.max(0)).unwrap_or(0);
    let secs = u64::try_from(n / 1_000_000_000).unwrap_or(u64::MAX);
    Duration::new(secs, (n % 1_000_000_000) as u32)
}
