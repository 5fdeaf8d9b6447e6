//! The EndpointSlice planner (upstream `pkg/controller/endpointslice` and the
//! `k8s.io/endpointslice` reconciler): keep the EndpointSlices of each Service with a selector
//! listing its pods (terminating ones included, with their conditions), at most
//! [`MAX_ENDPOINTS_PER_SLICE`] per slice, one group of slices per address type and resolved
//! port set, updating slices in place rather than replacing them.
//!
//! A Service whose pods yield no endpoint of an address type still gets one empty
//! *placeholder* slice of that type (no ports, no endpoints), as upstream keeps one.
//!
//! # Example
//!
//! ```no_run
//! use k8s_openapi::api::core::v1::Service;
//! use skiff_controllers::cached_pod::CachedPod;
//! use k8s_openapi::api::discovery::v1::EndpointSlice;
//! use skiff_controllers::endpointslice::{plan, Observed, Step};
//!
//! fn sync(
//!     service: Option<&Service>,
//!     pods: &[CachedPod],
//!     slices: &[EndpointSlice], // labelled kubernetes.io/service-name=<service>
//!     now: skiff_controllers::Timestamp,
//! ) {
//!     let obs = Observed {
//!         service,
//!         pods: pods.iter().collect(),
//!         slices: slices.iter().collect(),
//!         nodes: None,
//!         now,
//!     };
//!     for step in plan(&obs) {
//!         match step {
//!             Step::CreateSlice(slice) => { /* POST (generateName) */ }
//!             Step::UpdateSlice(slice) => { /* PUT (carries the resourceVersion) */ }
//!             Step::DeleteSlice(name) => { /* DELETE; NotFound is success */ }
//!         }
//!     }
//! }
//! ```

mod desired;
mod reconcile;

#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod store;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};

use crate::cached_pod::CachedPod;
use crate::endpoints::address;
use crate::endpoints::LAST_CHANGE_TRIGGER_TIME_ANNOTATION;
use crate::Timestamp;

use desired::{owned_by, placeholder_equal, port_key, ports_of, EndpointKey, PortKey};
use reconcile::{reconcile_port_group, Changes};

pub use desired::desired_labels;

/// Our value of [`MANAGED_BY_LABEL`] (upstream `endpointslice-controller.k8s.io`); slices
/// managed by anyone else are never touched.
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";

/// Label naming the Service a slice belongs to (upstream `discovery.LabelServiceName`).
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Label naming the controller that manages a slice (upstream `discovery.LabelManagedBy`).
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";

/// Node label giving an endpoint its zone (upstream `v1.LabelTopologyZone`).
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// Upstream default of `--max-endpoints-per-slice`.
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;

/// Everything the EndpointSlice planner may look at, gathered from caches by the driver.
#[derive(Clone, Debug)]
pub struct Observed<'a> {
    /// The Service; `None` when it is gone (the slices we manage for it are then deleted).
    pub service: Option<&'a Service>,
    /// Pods of the Service's namespace; the planner applies the selector itself.
    pub pods: Vec<&'a CachedPod>,
    /// EndpointSlices labelled `kubernetes.io/service-name=<service>`; only those managed by
    /// [`CONTROLLER_NAME`] and not being deleted are considered.
    pub slices: Vec<&'a EndpointSlice>,
    /// Every node, when known: endpoints then get their node's zone, and pods on nodes missing
    /// from the list are left out (unless the Service publishes not-ready addresses) until the
    /// node shows up, as upstream does. `None` means no zones and no such check.
    pub nodes: Option<Vec<&'a Node>>,
    /// The time of this sync.
    pub now: Timestamp,
}

/// One thing the driver must do, in order; the planner never performs it.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Create this slice (it has a `generateName`, no name).
    CreateSlice(Box<EndpointSlice>),
    /// Replace the existing slice of the same name with this one (its metadata is the
    /// existing slice's, resourceVersion included).
    UpdateSlice(Box<EndpointSlice>),
    /// Delete the slice of this name.
    DeleteSlice(String),
}

/// Pure: same observation, same steps; planning again after the steps yields none.
/// Uses upstream's default of [`MAX_ENDPOINTS_PER_SLICE`].
pub fn plan(obs: &Observed<'_>) -> Vec<Step> {
    plan_with_limit(obs, MAX_ENDPOINTS_PER_SLICE)
}

/// [`plan`] with another `--max-endpoints-per-slice` (at least 1).
pub fn plan_with_limit(obs: &Observed<'_>, max_endpoints_per_slice: usize) -> Vec<Step> {
    let max = max_endpoints_per_slice.max(1);
    let mut managed: Vec<&EndpointSlice> = obs
        .slices
        .iter()
        .copied()
        .filter(|s| s.metadata.deletion_timestamp.is_none())
        .filter(|s| label(s, MANAGED_BY_LABEL) == Some(CONTROLLER_NAME))
        .collect();
    managed.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));

    let Some(svc) = obs.service else {
        return managed.iter().map(|s| delete(s)).collect();
    };
    let Some(selector) = address::service_selector(svc) else {
        return Vec::new();
    };
    managed.retain(|s| label(s, SERVICE_NAME_LABEL) == svc.metadata.name.as_deref());
    let sync = ServiceSync {
        svc,
        pods: address::selected_pods(svc, &selector, &obs.pods),
        nodes: obs.nodes.as_ref().map(|nodes| {
            nodes
                .iter()
                .map(|n| (n.metadata.name.as_deref().unwrap_or_default(), *n))
                .collect()
        }),
        max,
    };

    let types = desired::address_types(svc);
    let mut steps = Vec::new();
    for t in &types {
        let of_type: Vec<&EndpointSlice> = managed
            .iter()
            .copied()
            .filter(|s| s.address_type == *t)
            .collect();
        steps.extend(sync.reconcile_address_type(&of_type, t));
    }
    steps.extend(
        managed
            .iter()
            .filter(|s| !types.contains(&s.address_type.as_str()))
            .map(|s| delete(s)),
    );
    steps
}

fn label<'a>(slice: &'a EndpointSlice, key: &str) -> Option<&'a str> {
    slice
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(key))
        .map(String::as_str)
}

fn delete(slice: &EndpointSlice) -> Step {
    Step::DeleteSlice(slice.metadata.name.clone().unwrap_or_default())
}

/// One sync of one Service.
struct ServiceSync<'a> {
    svc: &'a Service,
    pods: Vec<&'a CachedPod>,
    nodes: Option<BTreeMap<&'a str, &'a Node>>,
    max: usize,
}

/// The desired endpoints of one port set.
struct Group {
    ports: Vec<EndpointPort>,
    endpoints: BTreeMap<EndpointKey, Endpoint>,
}

impl ServiceSync<'_> {
    /// Upstream `reconcileByAddressType` followed by `finalize`.
    fn reconcile_address_type(&self, existing: &[&EndpointSlice], address_type: &str) -> Vec<Step> {
        let svc = self.svc;
        let mut changes = Changes::default();
        let mut by_ports: BTreeMap<PortKey, Vec<&EndpointSlice>> = BTreeMap::new();
        for slice in existing {
            if owned_by(slice, svc) {
                by_ports
                    .entry(port_key(slice.ports.as_deref()))
                    .or_default()
                    .push(slice);
            } else {
                changes.delete.push((*slice).clone());
            }
        }

        let groups = self.desired_groups(address_type);
        let stale: Vec<&EndpointSlice> = by_ports
            .iter()
            .filter(|(key, _)| !groups.contains_key(*key))
            .flat_map(|(_, slices)| slices.iter().copied())
            .collect();
        for (key, group) in groups {
            let existing = by_ports.get(&key).map(Vec::as_slice).unwrap_or_default();
            let c = reconcile_port_group(
                svc,
                existing,
                group.endpoints,
                &group.ports,
                address_type,
                self.max,
            );
            changes.create.extend(c.create);
            changes.update.extend(c.update);
            changes.delete.extend(c.delete);
        }
        changes.delete.extend(stale.into_iter().cloned());

        if existing.len() == changes.delete.len() && changes.create.is_empty() {
            let placeholder = desired::new_slice(svc, Vec::new(), address_type);
            if changes.delete.len() == 1 && placeholder_equal(&changes.delete[0], &placeholder) {
                changes.delete.clear();
            } else {
                changes.create.push(placeholder);
            }
        }
        self.finalize(changes)
    }

    /// The desired endpoints of this address type, grouped by resolved port set. A group
    /// exists for every port set some eligible pod resolves to, even when none of its pods
    /// has an address of this type (upstream does the same).
    fn desired_groups(&self, address_type: &str) -> BTreeMap<PortKey, Group> {
        let publish = address::publish_not_ready(self.svc);
        let mut groups: BTreeMap<PortKey, Group> = BTreeMap::new();
        for pod in &self.pods {
            if !address::should_pod_be_in_endpoints(pod, true) {
                continue;
            }
            let key = port_key(Some(&desired::endpoint_ports(self.svc, pod)));
            let group = groups.entry(key).or_insert_with_key(|key| Group {
                ports: ports_of(key),
                endpoints: BTreeMap::new(),
            });
            let node = match &self.nodes {
                None => None,
                Some(nodes) => {
                    let name = address::pod_node_name(pod).unwrap_or_default();
                    match nodes.get(name) {
                        Some(node) => Some(*node),
                        None if publish => None,
                        None => continue,
                    }
                }
            };
            let ep = desired::pod_to_endpoint(pod, node, self.svc, address_type);
            if !ep.addresses.is_empty() {
                group.endpoints.insert(desired::endpoint_key(&ep), ep);
            }
        }
        groups
    }

    /// Upstream `finalize`: a slice to create takes the place of an owned slice of the same
    /// address type that would be deleted (an update instead of a delete and a create);
    /// nothing is created while the Service is being deleted. Creates, then updates, then
    /// deletes.
    fn finalize(&self, mut changes: Changes) -> Vec<Step> {
        let mut i = 0;
        while i < changes.delete.len() {
            let Some(last) = changes.create.last() else {
                break;
            };
            let old = &changes.delete[i];
            if old.address_type != last.address_type || !owned_by(old, self.svc) {
                i += 1;
                continue;
            }
            let old = changes.delete.remove(i);
            if let Some(mut new) = changes.create.pop() {
                let mut meta = old.metadata;
                meta.labels = new.metadata.labels.take();
                meta.owner_references = new.metadata.owner_references.take();
                new.metadata = meta;
                changes.update.push(new);
            }
        }

        let mut steps = Vec::new();
        if self.svc.metadata.deletion_timestamp.is_none() {
            steps.extend(
                changes
                    .create
                    .into_iter()
                    .map(|s| Step::CreateSlice(Box::new(s))),
            );
        }
        steps.extend(changes.update.into_iter().map(|mut s| {
            drop_trigger_time(&mut s);
            Step::UpdateSlice(Box::new(s))
        }));
        steps.extend(changes.delete.iter().map(delete));
        steps
    }
}

/// Upstream `addTriggerTimeAnnotation` without a trigger time: the annotation goes.
fn drop_trigger_time(slice: &mut EndpointSlice) {
    if let Some(a) = slice.metadata.annotations.as_mut() {
        a.remove(LAST_CHANGE_TRIGGER_TIME_ANNOTATION);
        if a.is_empty() {
            slice.metadata.annotations = None;
        }
    }
}
