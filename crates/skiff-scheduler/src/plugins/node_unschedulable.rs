//! NodeUnschedulable: cordoned nodes (`spec.unschedulable`) take only pods tolerating
//! the `node.kubernetes.io/unschedulable:NoSchedule` taint.

use crate::framework::{
    ActionType, ClusterEvent, CycleState, EventResource, Filter, Plugin, Status,
};
use crate::plugins::taint_toleration::tolerates;
use crate::pod_info::PodInfo;
use crate::snapshot::NodeInfo;
use k8s_openapi::api::core::v1::Taint;

/// Rejects cordoned nodes (upstream `nodeunschedulable.NodeUnschedulable`).
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeUnschedulable;

impl NodeUnschedulable {
    /// Upstream plugin name.
    pub const NAME: &'static str = "NodeUnschedulable";
    /// Upstream `ErrReasonUnschedulable`.
    pub const ERR_REASON: &'static str = "node(s) were unschedulable";
    /// Upstream `v1.TaintNodeUnschedulable`.
    pub const TAINT_KEY: &'static str = "node.kubernetes.io/unschedulable";
}

impl Plugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![
            ClusterEvent::new(
                EventResource::Node,
                ActionType::ADD.or(ActionType::UPDATE_NODE_TAINT),
            ),
            ClusterEvent::new(
                EventResource::UnscheduledPod,
                ActionType::UPDATE_POD_TOLERATION,
            ),
        ]
    }
}

impl Filter for NodeUnschedulable {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if !node.unschedulable() {
            return Status::success();
        }
        let taint = Taint {
            key: Self::TAINT_KEY.to_string(),
            effect: "NoSchedule".to_string(),
            value: None,
            time_added: None,
        };
        if pod.tolerations().iter().any(|t| tolerates(t, &taint)) {
            Status::success()
        } else {
            Status::unresolvable(Self::ERR_REASON)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::testing::{filter_only, node, pod};

    #[test]
    fn cordoned_nodes_need_the_unschedulable_toleration() {
        let nodes = [node("up").build(), node("cordoned").unschedulable().build()];
        let plain = pod("p").build();
        let tolerant = pod("p")
            .toleration(NodeUnschedulable::TAINT_KEY, "Exists", "", "NoSchedule")
            .build();
        assert!(filter_only(&NodeUnschedulable, &plain, &nodes, &[], "up").is_success());
        let st = filter_only(&NodeUnschedulable, &plain, &nodes, &[], "cordoned");
        assert_eq!(st.code(), Code::UnschedulableAndUnresolvable);
        assert_eq!(st.reasons(), [NodeUnschedulable::ERR_REASON]);
        assert!(filter_only(&NodeUnschedulable, &tolerant, &nodes, &[], "cordoned").is_success());
    }
}
