//! SchedulingGates: a pod with `spec.schedulingGates` waits until every gate is removed.
//!
//! Upstream runs this at PreEnqueue, before a pod enters the active queue; here both the
//! queue and [`crate::schedule()`] consult it.

use crate::framework::{ActionType, ClusterEvent, EventResource, Plugin, Status};
use k8s_openapi::api::core::v1::Pod;

/// The gate check (upstream `schedulinggates.SchedulingGates`).
#[derive(Clone, Copy, Debug, Default)]
pub struct SchedulingGates;

impl SchedulingGates {
    /// Upstream plugin name.
    pub const NAME: &'static str = "SchedulingGates";

    /// The pod's gate names, in order.
    pub fn gates(pod: &Pod) -> Vec<String> {
        pod.spec
            .as_ref()
            .and_then(|s| s.scheduling_gates.as_ref())
            .map(|g| g.iter().map(|g| g.name.clone()).collect())
            .unwrap_or_default()
    }

    /// Upstream PreEnqueue: `UnschedulableAndUnresolvable` with
    /// `waiting for scheduling gates: [a b]` while any gate remains.
    pub fn pre_enqueue(pod: &Pod) -> Status {
        let gates = Self::gates(pod);
        if gates.is_empty() {
            Status::success()
        } else {
            Status::unresolvable(format!(
                "waiting for scheduling gates: [{}]",
                gates.join(" ")
            ))
            .with_plugin(Self::NAME)
        }
    }
}

impl Plugin for SchedulingGates {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![ClusterEvent::new(
            EventResource::UnscheduledPod,
            ActionType::UPDATE_POD_SCHEDULING_GATES_ELIMINATED,
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::pod;

    #[test]
    fn gated_pods_wait_with_upstreams_message() {
        assert!(SchedulingGates::pre_enqueue(&pod("p").build()).is_success());
        let gated = pod("p").gate("example.com/a").gate("b").build();
        let st = SchedulingGates::pre_enqueue(&gated);
        assert_eq!(
            st.message(),
            "waiting for scheduling gates: [example.com/a b]"
        );
        assert_eq!(st.plugin(), SchedulingGates::NAME);
    }
}
