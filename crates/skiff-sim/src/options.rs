//! What a sim run is asked to do ([`SimOptions`]) and the pure parsing behind its flags:
//! labels, taints, quantities and the node template's resources.

use crate::cidr::{self, Ipv4Cidr};
use crate::quantity;
use k8s_openapi::api::core::v1::{Node, Taint};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Default capacities (kwok's are similar: a large machine that rarely limits scheduling).
pub const DEFAULT_CPU: &str = "32";
/// Default memory capacity.
pub const DEFAULT_MEMORY: &str = "256Gi";
/// Default pod capacity (upstream kubelet's `--max-pods` default).
pub const DEFAULT_PODS: &str = "110";
/// Ephemeral storage every node reports unless the template says otherwise.
pub const DEFAULT_EPHEMERAL_STORAGE: &str = "100Gi";
/// How often a live node's status conditions are refreshed (lastHeartbeatTime).
pub const STATUS_REFRESH: Duration = Duration::from_secs(60);

/// Everything a simulation run needs; [`crate::SimArgs`] builds one from flags, embedders and
/// tests build one with [`SimOptions::new`] and adjust fields.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// How many nodes to register, named `<name_prefix><i>` for i in `0..nodes`.
    pub nodes: u32,
    /// Prefix of node names.
    pub name_prefix: String,
    /// Extra labels of every node (the sim's own labels — hostname, os, arch, `type` — win).
    pub labels: BTreeMap<String, String>,
    /// Taints every node is created with.
    pub taints: Vec<Taint>,
    /// `status.capacity` of every node.
    pub capacity: BTreeMap<String, Quantity>,
    /// `status.allocatable` of every node.
    pub allocatable: BTreeMap<String, Quantity>,
    /// Range the nodes' pod CIDRs are carved from: node i gets its i-th /24.
    pub pod_cidr: Ipv4Cidr,
    /// How often each node renews its Lease; renewals are spread over this period.
    pub heartbeat_interval: Duration,
    /// `leaseDurationSeconds` of the Leases.
    pub lease_duration: Duration,
    /// How often each node's status conditions are refreshed.
    pub status_interval: Duration,
    /// Nodes that never heartbeat: a dead kubelet from the start.
    pub stop_heartbeat: BTreeSet<String>,
    /// Upper bound on concurrent API writes.
    pub max_in_flight: usize,
    /// Delete the nodes (and their Leases) when the run stops.
    pub delete_on_exit: bool,
}

impl SimOptions {
    /// Options for `nodes` nodes with every default of the `skiff sim` flags.
    pub fn new(nodes: u32) -> Self {
        let capacity = resources(None, None, None, None).unwrap_or_default().0;
        Self {
            nodes,
            name_prefix: "sim-node-".into(),
            labels: BTreeMap::new(),
            taints: Vec::new(),
            allocatable: capacity.clone(),
            capacity,
            pod_cidr: cidr::DEFAULT_POD_CIDR,
            heartbeat_interval: Duration::from_secs(10),
            lease_duration: Duration::from_secs(40),
            status_interval: STATUS_REFRESH,
            stop_heartbeat: BTreeSet::new(),
            max_in_flight: 64,
            delete_on_exit: false,
        }
    }

    /// Name of node `i`.
    pub fn node_name(&self, i: u32) -> String {
        format!("{}{i}", self.name_prefix)
    }

    /// Checks what the flags' parsers cannot: limits that depend on several options.
    pub fn validate(&self) -> Result<(), String> {
        if self.nodes == 0 {
            return Err("--nodes must be at least 1".into());
        }
        if self.nodes > cidr::MAX_NODES {
            return Err(format!(
                "--nodes {} is more than the {} nodes one sim can address",
                self.nodes,
                cidr::MAX_NODES
            ));
        }
        if self.nodes > self.pod_cidr.count_24() {
            return Err(format!(
                "--pod-cidr {} holds {} /24 ranges, fewer than --nodes {}; use a larger range",
                self.pod_cidr,
                self.pod_cidr.count_24(),
                self.nodes
            ));
        }
        if self.name_prefix.is_empty() {
            return Err("--name-prefix must not be empty".into());
        }
        if self.heartbeat_interval.is_zero() || self.status_interval.is_zero() {
            return Err("--heartbeat-interval must be at least 1 second".into());
        }
        if self.lease_duration.as_secs() == 0 || self.lease_duration.as_secs() > i32::MAX as u64 {
            return Err("--lease-duration must be between 1 and 2147483647 seconds".into());
        }
        if self.max_in_flight == 0 {
            return Err("--max-in-flight must be at least 1".into());
        }
        Ok(())
    }
}

/// Parses `--label key=value`.
pub fn parse_label(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not key=value"))?;
    if k.is_empty() {
        return Err(format!("{s:?} has an empty key"));
    }
    Ok((k.to_string(), v.to_string()))
}

/// Taint effects the API accepts.
const EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

/// Parses `--taint key=value:Effect` or `key:Effect` (kubectl taint's syntax).
pub fn parse_taint(s: &str) -> Result<Taint, String> {
    let (kv, effect) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{s:?} is not key=value:Effect or key:Effect"))?;
    if !EFFECTS.contains(&effect) {
        return Err(format!(
            "{s:?}: effect {effect:?} is not one of NoSchedule, PreferNoSchedule, NoExecute"
        ));
    }
    let (key, value) = match kv.split_once('=') {
        Some((k, v)) => (k, Some(v.to_string())),
        None => (kv, None),
    };
    if key.is_empty() {
        return Err(format!("{s:?} has an empty key"));
    }
    Ok(Taint {
        key: key.to_string(),
        value,
        effect: effect.to_string(),
        time_added: None,
    })
}

/// Parses a quantity flag such as `--cpu 32` (returned unchanged when valid).
pub fn parse_quantity(s: &str) -> Result<String, String> {
    if quantity::is_valid(s) {
        Ok(s.trim().to_string())
    } else {
        Err(format!("{s:?} is not a quantity (e.g. 32, 500m, 256Gi)"))
    }
}

/// A resource name → quantity map (capacity, allocatable).
pub type ResourceList = BTreeMap<String, Quantity>;

/// A node's capacity and allocatable: the template's lists are the base, the flags given
/// (`cpu`, `memory`, `pods`) override both lists, and what is still missing gets the defaults
/// (cpu 32, memory 256Gi, pods 110, ephemeral-storage 100Gi). Allocatable entries missing
/// from the template are copied from capacity.
pub fn resources(
    template: Option<&Node>,
    cpu: Option<&str>,
    memory: Option<&str>,
    pods: Option<&str>,
) -> Result<(ResourceList, ResourceList), String> {
    let status = template.and_then(|t| t.status.as_ref());
    let mut capacity = status.and_then(|s| s.capacity.clone()).unwrap_or_default();
    let mut allocatable = status
        .and_then(|s| s.allocatable.clone())
        .unwrap_or_default();
    for (name, q) in capacity.iter().chain(allocatable.iter()) {
        if !quantity::is_valid(&q.0) {
            return Err(format!("node template: {name} {:?} is not a quantity", q.0));
        }
    }
    let flags = [("cpu", cpu), ("memory", memory), ("pods", pods)];
    for (name, value) in flags {
        if let Some(v) = value {
            let v = Quantity(parse_quantity(v)?);
            capacity.insert(name.into(), v.clone());
            allocatable.insert(name.into(), v);
        }
    }
    let defaults = [
        ("cpu", DEFAULT_CPU),
        ("memory", DEFAULT_MEMORY),
        ("pods", DEFAULT_PODS),
        ("ephemeral-storage", DEFAULT_EPHEMERAL_STORAGE),
    ];
    for (name, v) in defaults {
        capacity
            .entry(name.into())
            .or_insert_with(|| Quantity(v.into()));
    }
    for (name, q) in &capacity {
        allocatable.entry(name.clone()).or_insert_with(|| q.clone());
    }
    Ok((capacity, allocatable))
}

/// Labels and taints of the template, in that order.
pub fn template_metadata(template: &Node) -> (BTreeMap<String, String>, Vec<Taint>) {
    let labels = template.metadata.labels.clone().unwrap_or_default();
    let taints = template
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    (labels, taints)
}

/// Reads a Node manifest (YAML or JSON).
pub fn parse_template(text: &str) -> Result<Node, String> {
    let value: serde_json::Value = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
    serde_json::from_value(value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity(s.into())
    }

    #[test]
    fn labels_are_key_equals_value() {
        assert_eq!(parse_label("a=b"), Ok(("a".into(), "b".into())));
        assert_eq!(parse_label("zone=").map(|l| l.1), Ok(String::new()));
        assert!(parse_label("novalue").is_err());
        assert!(parse_label("=x").is_err());
    }

    #[test]
    fn taints_take_both_kubectl_forms() {
        let t = parse_taint("dedicated=gpu:NoSchedule").unwrap();
        assert_eq!(
            (t.key.as_str(), t.value.as_deref()),
            ("dedicated", Some("gpu"))
        );
        assert_eq!(t.effect, "NoSchedule");
        let t = parse_taint("example.com/flaky:NoExecute").unwrap();
        assert_eq!((t.key.as_str(), t.value), ("example.com/flaky", None));
        for bad in ["a", "a=b", "a=b:Sometimes", ":NoSchedule"] {
            assert!(parse_taint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_fill_capacity_and_allocatable() {
        let (cap, alloc) = resources(None, None, None, None).unwrap();
        assert_eq!(cap["cpu"], q("32"));
        assert_eq!(cap["memory"], q("256Gi"));
        assert_eq!(cap["pods"], q("110"));
        assert_eq!(cap["ephemeral-storage"], q("100Gi"));
        assert_eq!(cap, alloc);
    }

    #[test]
    fn template_is_the_base_and_given_flags_override_it() {
        let node = parse_template(
            "apiVersion: v1\nkind: Node\nmetadata:\n  name: t\n  labels: {zone: a}\nspec:\n  taints:\n  - {key: k, effect: NoSchedule}\nstatus:\n  capacity: {cpu: '8', memory: 16Gi, nvidia.com/gpu: '2'}\n  allocatable: {cpu: 7500m}\n",
        )
        .unwrap();
        let (cap, alloc) = resources(Some(&node), None, Some("32Gi"), None).unwrap();
        assert_eq!(cap["cpu"], q("8"));
        assert_eq!(alloc["cpu"], q("7500m"));
        assert_eq!(cap["memory"], q("32Gi"));
        assert_eq!(alloc["memory"], q("32Gi"));
        assert_eq!(alloc["nvidia.com/gpu"], q("2"));
        assert_eq!(cap["pods"], q("110"));
        let (labels, taints) = template_metadata(&node);
        assert_eq!(labels["zone"], "a");
        assert_eq!(taints[0].key, "k");
    }

    #[test]
    fn bad_quantities_are_reported() {
        assert!(resources(None, Some("lots"), None, None).is_err());
        let node = parse_template("status: {capacity: {cpu: many}}").unwrap();
        assert!(resources(Some(&node), None, None, None).is_err());
        assert!(parse_template("metadata: [").is_err());
    }

    #[test]
    fn validation_catches_impossible_combinations() {
        assert!(SimOptions::new(3).validate().is_ok());
        assert!(SimOptions::new(0).validate().is_err());
        let mut o = SimOptions::new(300);
        o.pod_cidr = "10.0.0.0/16".parse().unwrap();
        assert!(o.validate().is_err());
        o.nodes = 256;
        assert!(o.validate().is_ok());
        o.max_in_flight = 0;
        assert!(o.validate().is_err());
    }

    #[test]
    fn node_names_use_the_prefix() {
        assert_eq!(SimOptions::new(1).node_name(7), "sim-node-7");
    }
}
