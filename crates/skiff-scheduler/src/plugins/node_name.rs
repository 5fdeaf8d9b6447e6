//! NodeName: a pod that names a node in `spec.nodeName` fits only that node.

use crate::framework::{
    ActionType, ClusterEvent, CycleState, EventResource, Filter, Plugin, Status,
};
use crate::pod_info::PodInfo;
use crate::snapshot::NodeInfo;

/// Rejects every node but the one in `spec.nodeName` (upstream `nodename.NodeName`).
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeName;

impl NodeName {
    /// Upstream plugin name.
    pub const NAME: &'static str = "NodeName";
    /// Upstream `ErrReason`.
    pub const ERR_REASON: &'static str = "node(s) didn't match the requested node name";
}

impl Plugin for NodeName {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![ClusterEvent::new(
            EventResource::Node,
            ActionType::ADD.or(ActionType::UPDATE),
        )]
    }
}

impl Filter for NodeName {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        match pod.node_name() {
            Some(name) if name != node.name() => Status::unresolvable(Self::ERR_REASON),
            _ => Status::success(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::testing::{filter_only, node, pod};

    #[test]
    fn only_the_named_node_fits() {
        let nodes = [node("n1").build(), node("n2").build()];
        let cases = [
            (pod("p").build(), "n1", Code::Success),
            (pod("p").node("n1").build(), "n1", Code::Success),
            (
                pod("p").node("n1").build(),
                "n2",
                Code::UnschedulableAndUnresolvable,
            ),
        ];
        for (p, n, want) in cases {
            let st = filter_only(&NodeName, &p, &nodes, &[], n);
            assert_eq!(st.code(), want, "{n}");
            if want != Code::Success {
                assert_eq!(st.reasons(), [NodeName::ERR_REASON]);
            }
        }
    }
}
