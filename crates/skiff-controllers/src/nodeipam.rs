//! Node IPAM (upstream's nodeipam range allocator): every node without `spec.podCIDR` gets the
//! lowest free /24 of the cluster CIDR (`--cluster-cidr`, default 10.42.0.0/16), which its
//! agent hands to CNI host-local. Ranges already taken by any node are never given twice.
//!
//! ```
//! use k8s_openapi::api::core::v1::Node;
//! use skiff_controllers::nodeipam::{plan, Step};
//! let a = Node { metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
//!     name: Some("a".into()), ..Default::default() }, ..Default::default() };
//! let steps = plan("10.42.0.0/16".parse().unwrap(), &[&a]);
//! assert_eq!(steps, vec![Step::Assign { node: "a".into(), cidr: "10.42.0.0/24".into() }]);
//! ```

use crate::event::Event;
use k8s_openapi::api::core::v1::Node;
use skiff_api::cidr::Ipv4Cidr;
use std::collections::BTreeSet;

/// Field manager and event source, as upstream's controller is called.
pub const CONTROLLER_NAME: &str = "node-ipam-controller";

/// The upstream default `--cluster-cidr` of k3s, which Skiff follows.
pub const DEFAULT_CLUSTER_CIDR: &str = "10.42.0.0/16";

/// What the driver must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Set `spec.podCIDR` and `spec.podCIDRs` of `node` to `cidr`.
    Assign {
        /// The node.
        node: String,
        /// The /24.
        cidr: String,
    },
    /// The cluster CIDR is full: record this event on `node`.
    NodeEvent {
        /// The node.
        node: String,
        /// The event.
        event: Event,
    },
}

fn pod_cidrs(n: &Node) -> Vec<&str> {
    let Some(spec) = n.spec.as_ref() else {
        return Vec::new();
    };
    let mut out: Vec<&str> = spec
        .pod_cidrs
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    out.extend(spec.pod_cidr.as_deref());
    out
}

/// Assigns a /24 of `cluster` to each node (by name order) that has no pod CIDR.
pub fn plan(cluster: Ipv4Cidr, nodes: &[&Node]) -> Vec<Step> {
    let taken: BTreeSet<u32> = nodes
        .iter()
        .flat_map(|n| pod_cidrs(n))
        .filter_map(|c| c.parse::<Ipv4Cidr>().ok())
        .filter(|c| cluster.contains(c))
        .map(|c| (u32::from(c.network()) - u32::from(cluster.network())) >> 8)
        .collect();
    let mut waiting: Vec<&str> = nodes
        .iter()
        .filter(|n| pod_cidrs(n).is_empty() && n.metadata.deletion_timestamp.is_none())
        .filter_map(|n| n.metadata.name.as_deref())
        .collect();
    waiting.sort_unstable();
    let mut free = (0..cluster.count_24()).filter(|i| !taken.contains(i));
    waiting
        .into_iter()
        .map(|node| match free.next().and_then(|i| cluster.nth_24(i)) {
            Some(c) => Step::Assign {
                node: node.into(),
                cidr: c.to_string(),
            },
            None => Step::NodeEvent {
                node: node.into(),
                event: Event::normal(
                    "CIDRNotAvailable",
                    format!("Node {node} status is now: CIDRNotAvailable"),
                ),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::NodeSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn node(name: &str, cidr: Option<&str>) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            spec: Some(NodeSpec {
                pod_cidr: cidr.map(Into::into),
                pod_cidrs: cidr.map(|c| vec![c.into()]),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn assign(node: &str, cidr: &str) -> Step {
        Step::Assign {
            node: node.into(),
            cidr: cidr.into(),
        }
    }

    #[test]
    fn new_nodes_get_the_lowest_free_ranges_in_name_order() {
        let (a, b, c) = (
            node("b", None),
            node("a", Some("10.42.0.0/24")),
            node("c", None),
        );
        let steps = plan("10.42.0.0/16".parse().unwrap(), &[&a, &b, &c]);
        assert_eq!(
            steps,
            vec![assign("b", "10.42.1.0/24"), assign("c", "10.42.2.0/24")]
        );
    }

    #[test]
    fn nodes_with_a_range_are_left_alone_even_outside_the_cluster_cidr() {
        let (a, b) = (
            node("a", Some("10.128.0.0/24")),
            node("b", Some("10.42.0.0/24")),
        );
        assert!(plan("10.42.0.0/16".parse().unwrap(), &[&a, &b]).is_empty());
    }

    #[test]
    fn a_full_cluster_cidr_is_an_event_not_a_duplicate() {
        let (a, b) = (node("a", Some("10.42.0.0/24")), node("b", None));
        let steps = plan("10.42.0.0/24".parse().unwrap(), &[&a, &b]);
        match &steps[..] {
            [Step::NodeEvent { node, event }] => {
                assert_eq!(node, "b");
                assert_eq!(event.reason, "CIDRNotAvailable");
            }
            other => panic!("expected one event, got {other:?}"),
        }
    }

    #[test]
    fn planning_again_after_the_assignments_does_nothing() {
        let cluster: Ipv4Cidr = "10.42.0.0/16".parse().unwrap();
        let nodes: Vec<Node> = (0..5).map(|i| node(&format!("n{i}"), None)).collect();
        let refs: Vec<&Node> = nodes.iter().collect();
        let assigned: Vec<Node> = plan(cluster, &refs)
            .into_iter()
            .map(|s| match s {
                Step::Assign { node: n, cidr } => node(&n, Some(&cidr)),
                other => panic!("{other:?}"),
            })
            .collect();
        let cidrs: BTreeSet<_> = assigned
            .iter()
            .map(|n| pod_cidrs(n)[0].to_string())
            .collect();
        assert_eq!(cidrs.len(), 5);
        let refs: Vec<&Node> = assigned.iter().collect();
        assert!(plan(cluster, &refs).is_empty());
    }
}
