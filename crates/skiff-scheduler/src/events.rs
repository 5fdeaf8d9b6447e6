//! Cluster events (what changed, to which kind of object) that can make a pod a plugin
//! rejected schedulable again; the scheduling queue requeues pods by them.

use crate::pod_info::PodInfo;
use k8s_openapi::api::core::v1::{Node, Pod};

/// Kind of object a cluster event is about (upstream `EventResource`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventResource {
    /// A node.
    Node,
    /// A pod bound to a node.
    AssignedPod,
    /// A pod not bound yet (including the pod being scheduled).
    UnscheduledPod,
    /// A PersistentVolumeClaim.
    PersistentVolumeClaim,
    /// A PersistentVolume.
    PersistentVolume,
    /// A StorageClass.
    StorageClass,
    /// Matches every resource.
    WildCard,
}

/// Bit set of what happened (upstream `ActionType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ActionType(pub u32);

impl ActionType {
    /// Object added.
    pub const ADD: ActionType = ActionType(1);
    /// Object deleted.
    pub const DELETE: ActionType = ActionType(1 << 1);
    /// Node allocatable changed.
    pub const UPDATE_NODE_ALLOCATABLE: ActionType = ActionType(1 << 2);
    /// Node labels changed.
    pub const UPDATE_NODE_LABEL: ActionType = ActionType(1 << 3);
    /// Node taints (or `spec.unschedulable`) changed.
    pub const UPDATE_NODE_TAINT: ActionType = ActionType(1 << 4);
    /// Node conditions changed.
    pub const UPDATE_NODE_CONDITION: ActionType = ActionType(1 << 5);
    /// Node annotations changed.
    pub const UPDATE_NODE_ANNOTATION: ActionType = ActionType(1 << 6);
    /// Pod labels changed.
    pub const UPDATE_POD_LABEL: ActionType = ActionType(1 << 7);
    /// Pod requests decreased.
    pub const UPDATE_POD_SCALE_DOWN: ActionType = ActionType(1 << 8);
    /// Pod tolerations changed.
    pub const UPDATE_POD_TOLERATION: ActionType = ActionType(1 << 9);
    /// Pod scheduling gates were all removed.
    pub const UPDATE_POD_SCHEDULING_GATES_ELIMINATED: ActionType = ActionType(1 << 10);
    /// Every kind of update.
    pub const UPDATE: ActionType = ActionType(((1 << 11) - 1) & !0b11);
    /// Everything.
    pub const ALL: ActionType = ActionType((1 << 11) - 1);

    /// Union of two action sets.
    pub const fn or(self, other: ActionType) -> ActionType {
        ActionType(self.0 | other.0)
    }

    /// Whether the sets share an action.
    pub const fn intersects(self, other: ActionType) -> bool {
        self.0 & other.0 != 0
    }
}

/// Something that changed in the cluster (upstream `ClusterEvent`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClusterEvent {
    /// What kind of object.
    pub resource: EventResource,
    /// What happened to it.
    pub action: ActionType,
}

impl ClusterEvent {
    /// Moves every unschedulable pod (upstream's wildcard event).
    pub const WILDCARD: ClusterEvent = ClusterEvent {
        resource: EventResource::WildCard,
        action: ActionType::ALL,
    };

    /// An event.
    pub const fn new(resource: EventResource, action: ActionType) -> Self {
        ClusterEvent { resource, action }
    }

    /// Whether an incoming event is covered by this registered interest
    /// (upstream `MatchClusterEvents`).
    pub fn matches(&self, incoming: &ClusterEvent) -> bool {
        if self.resource == EventResource::WildCard && self.action == ActionType::ALL {
            return true;
        }
        let resource_ok =
            self.resource == EventResource::WildCard || self.resource == incoming.resource;
        resource_ok && self.action.intersects(incoming.action)
    }

    /// Classifies a node update (upstream `nodeSchedulingPropertiesChange`); `None` when
    /// nothing the scheduler reads changed.
    pub fn node_updated(old: &Node, new: &Node) -> Option<Self> {
        let mut a = 0u32;
        let alloc = |n: &Node| n.status.as_ref().and_then(|s| s.allocatable.clone());
        if alloc(old) != alloc(new) {
            a |= ActionType::UPDATE_NODE_ALLOCATABLE.0;
        }
        if old.metadata.labels != new.metadata.labels {
            a |= ActionType::UPDATE_NODE_LABEL.0;
        }
        let taints = |n: &Node| {
            n.spec
                .as_ref()
                .map(|s| (s.taints.clone(), s.unschedulable.unwrap_or(false)))
        };
        if taints(old) != taints(new) {
            a |= ActionType::UPDATE_NODE_TAINT.0;
        }
        let conds = |n: &Node| {
            n.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .map(|cs| {
                    cs.iter()
                        .map(|c| (c.type_.clone(), c.status.clone()))
                        .collect::<Vec<_>>()
                })
        };
        if conds(old) != conds(new) {
            a |= ActionType::UPDATE_NODE_CONDITION.0;
        }
        if old.metadata.annotations != new.metadata.annotations {
            a |= ActionType::UPDATE_NODE_ANNOTATION.0;
        }
        (a != 0).then_some(ClusterEvent::new(EventResource::Node, ActionType(a)))
    }

    /// Classifies an update of a bound pod (labels, decreased requests, tolerations).
    pub fn assigned_pod_updated(old: &Pod, new: &Pod) -> Option<Self> {
        let mut a = 0u32;
        if old.metadata.labels != new.metadata.labels {
            a |= ActionType::UPDATE_POD_LABEL.0;
        }
        let (o, n) = (PodInfo::new(old.clone()), PodInfo::new(new.clone()));
        let r = (&o.requests, &n.requests);
        if r.0.milli_cpu > r.1.milli_cpu
            || r.0.memory > r.1.memory
            || r.0.ephemeral_storage > r.1.ephemeral_storage
            || r.0
                .scalar
                .iter()
                .any(|(k, v)| *v > r.1.scalar.get(k).copied().unwrap_or(0))
        {
            a |= ActionType::UPDATE_POD_SCALE_DOWN.0;
        }
        if o.tolerations() != n.tolerations() {
            a |= ActionType::UPDATE_POD_TOLERATION.0;
        }
        (a != 0).then_some(ClusterEvent::new(EventResource::AssignedPod, ActionType(a)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{node, pod};

    #[test]
    fn events_match_registered_interests() {
        let interest = ClusterEvent::new(
            EventResource::Node,
            ActionType::ADD.or(ActionType::UPDATE_NODE_TAINT),
        );
        let taint = ClusterEvent::new(EventResource::Node, ActionType::UPDATE_NODE_TAINT);
        let label = ClusterEvent::new(EventResource::Node, ActionType::UPDATE_NODE_LABEL);
        let pod_add = ClusterEvent::new(EventResource::AssignedPod, ActionType::ADD);
        assert!(interest.matches(&taint));
        assert!(!interest.matches(&label));
        assert!(!interest.matches(&pod_add));
        assert!(ClusterEvent::WILDCARD.matches(&pod_add));
    }

    #[test]
    fn node_and_pod_updates_are_classified() {
        let old = node("n").cpu("4").build();
        let relabeled = node("n").cpu("4").label("zone", "a").build();
        let tainted = node("n").cpu("4").taint("k", "v", "NoSchedule").build();
        let bigger = node("n").cpu("8").build();
        assert_eq!(ClusterEvent::node_updated(&old, &old), None);
        assert_eq!(
            ClusterEvent::node_updated(&old, &relabeled).map(|e| e.action),
            Some(ActionType::UPDATE_NODE_LABEL)
        );
        assert_eq!(
            ClusterEvent::node_updated(&old, &tainted).map(|e| e.action),
            Some(ActionType::UPDATE_NODE_TAINT)
        );
        assert_eq!(
            ClusterEvent::node_updated(&old, &bigger).map(|e| e.action),
            Some(ActionType::UPDATE_NODE_ALLOCATABLE)
        );
        let p = pod("p").cpu("1").build();
        let smaller = pod("p").cpu("500m").label("a", "b").build();
        assert_eq!(
            ClusterEvent::assigned_pod_updated(&p, &smaller).map(|e| e.action),
            Some(ActionType::UPDATE_POD_LABEL.or(ActionType::UPDATE_POD_SCALE_DOWN))
        );
    }
}
