//! The node builder: `node("n1").cpu("4").taint("k", "v", "NoSchedule")`.

use super::{opt, resource_list};
use crate::labels::labels;
use k8s_openapi::api::core::v1::{ContainerImage, Node, NodeSpec, NodeStatus, Taint};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Starts a node named `name`, labelled `kubernetes.io/hostname=<name>`, allocatable 110 pods.
pub fn node(name: &str) -> NodeBuilder {
    NodeBuilder(Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels([("kubernetes.io/hostname", name)])),
            ..Default::default()
        },
        spec: Some(NodeSpec::default()),
        status: Some(NodeStatus {
            allocatable: Some(resource_list(&[("pods", "110")])),
            ..Default::default()
        }),
    })
}

/// Builds a [`Node`].
#[derive(Clone, Debug)]
pub struct NodeBuilder(Node);

impl NodeBuilder {
    fn status(&mut self) -> &mut NodeStatus {
        self.0.status.get_or_insert_with(Default::default)
    }

    fn spec(&mut self) -> &mut NodeSpec {
        self.0.spec.get_or_insert_with(Default::default)
    }

    /// Sets an allocatable (and capacity) resource.
    pub fn allocatable(mut self, resource: &str, q: &str) -> Self {
        let st = self.status();
        for list in [&mut st.allocatable, &mut st.capacity] {
            list.get_or_insert_with(Default::default)
                .insert(resource.into(), Quantity(q.into()));
        }
        self
    }

    /// Allocatable cpu.
    pub fn cpu(self, q: &str) -> Self {
        self.allocatable("cpu", q)
    }

    /// Allocatable memory.
    pub fn memory(self, q: &str) -> Self {
        self.allocatable("memory", q)
    }

    /// Allocatable ephemeral storage.
    pub fn ephemeral(self, q: &str) -> Self {
        self.allocatable("ephemeral-storage", q)
    }

    /// Allocatable pod count.
    pub fn pods(self, n: u32) -> Self {
        self.allocatable("pods", &n.to_string())
    }

    /// An allocatable extended resource.
    pub fn extended(self, name: &str, q: &str) -> Self {
        self.allocatable(name, q)
    }

    /// Adds a label.
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.0
            .metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert(k.into(), v.into());
        self
    }

    /// Sets `topology.kubernetes.io/zone`.
    pub fn zone(self, zone: &str) -> Self {
        self.label("topology.kubernetes.io/zone", zone)
    }

    /// Adds a taint (empty value means unset).
    pub fn taint(mut self, key: &str, value: &str, effect: &str) -> Self {
        self.spec()
            .taints
            .get_or_insert_with(Default::default)
            .push(Taint {
                key: key.into(),
                value: opt(value),
                effect: effect.into(),
                time_added: None,
            });
        self
    }

    /// Cordons the node (`spec.unschedulable`).
    pub fn unschedulable(mut self) -> Self {
        self.spec().unschedulable = Some(true);
        self
    }

    /// Adds an image present on the node.
    pub fn image(mut self, name: &str, size: i64) -> Self {
        self.status()
            .images
            .get_or_insert_with(Default::default)
            .push(ContainerImage {
                names: Some(vec![name.into()]),
                size_bytes: Some(size),
            });
        self
    }

    /// The node.
    pub fn build(self) -> Node {
        self.0
    }
}
