//! NodePorts: a pod's host ports must be free on the node.

use crate::framework::{
    ActionType, ClusterEvent, CycleState, EventResource, Filter, Plugin, PreFilter,
    PreFilterResult, Status,
};
use crate::pod_info::{HostPort, PodInfo};
use crate::snapshot::{NodeInfo, Snapshot};

/// Host-port conflict filter (upstream `nodeports.NodePorts`).
#[derive(Clone, Copy, Debug, Default)]
pub struct NodePorts;

impl NodePorts {
    /// Upstream plugin name.
    pub const NAME: &'static str = "NodePorts";
    /// Upstream `ErrReason`.
    pub const ERR_REASON: &'static str =
        "node(s) didn't have free ports for the requested pod ports";
}

#[derive(Clone)]
struct PreFilterState(Vec<HostPort>);

impl Plugin for NodePorts {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![
            ClusterEvent::new(EventResource::AssignedPod, ActionType::DELETE),
            ClusterEvent::new(EventResource::Node, ActionType::ADD.or(ActionType::UPDATE)),
        ]
    }
}

impl PreFilter for NodePorts {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _snapshot: &Snapshot,
    ) -> Result<PreFilterResult, Status> {
        if pod.host_ports.is_empty() {
            return Ok(PreFilterResult::Skip);
        }
        state.write(PreFilterState(pod.host_ports.clone()));
        Ok(PreFilterResult::AllNodes)
    }
}

impl Filter for NodePorts {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let wanted = state
            .read::<PreFilterState>()
            .map(|s| s.0.as_slice())
            .unwrap_or(&pod.host_ports);
        if wanted.iter().any(|p| node.used_ports().conflicts(p)) {
            Status::unschedulable(Self::ERR_REASON)
        } else {
            Status::success()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::testing::{node, pod, prefilter_and_filter};

    #[test]
    fn host_port_conflicts_reject_the_node() {
        let nodes = [node("n1").build(), node("n2").build()];
        let existing = [pod("web").host_port(80).node("n1").build()];
        let wants_80 = pod("p").host_port(80).build();
        let wants_81 = pod("p").host_port(81).build();
        let st = prefilter_and_filter(&NodePorts, &wants_80, &nodes, &existing, "n1");
        assert_eq!(st.code(), Code::Unschedulable);
        assert_eq!(st.reasons(), [NodePorts::ERR_REASON]);
        assert!(prefilter_and_filter(&NodePorts, &wants_80, &nodes, &existing, "n2").is_success());
        assert!(prefilter_and_filter(&NodePorts, &wants_81, &nodes, &existing, "n1").is_success());
        let none = pod("p").build();
        assert!(prefilter_and_filter(&NodePorts, &none, &nodes, &existing, "n1").is_success());
    }
}
