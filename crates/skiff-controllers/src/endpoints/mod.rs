//! The Endpoints planner (upstream `pkg/controller/endpoint`): keep the Endpoints object named
//! after each Service with a selector listing the IPs and resolved ports of the pods it
//! selects, ready ones in `addresses` and the others in `notReadyAddresses`.
//!
//! # Example
//!
//! ```no_run
//! use k8s_openapi::api::core::v1::{Endpoints, Service};
//! use skiff_controllers::cached_pod::CachedPod;
//! use skiff_controllers::endpoints::{plan, Observed, Step};
//!
//! fn sync(
//!     service: Option<&Service>,
//!     pods: &[CachedPod],
//!     current: Option<&Endpoints>,
//!     now: skiff_controllers::Timestamp,
//! ) {
//!     let obs = Observed { service, pods: pods.iter().collect(), endpoints: current, now };
//!     for step in plan(&obs) {
//!         match step {
//!             Step::Create(endpoints) => { /* POST it */ }
//!             Step::Update(endpoints) => { /* PUT it (it carries the resourceVersion) */ }
//!             Step::Delete(name) => { /* DELETE it; NotFound is success */ }
//!         }
//!     }
//! }
//! ```

pub(crate) mod address;
pub(crate) mod ports;
mod repack;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EndpointPort, EndpointSubset, Endpoints, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::cached_pod::CachedPod;
use crate::pods;
use crate::Timestamp;

pub use repack::{normalize_subsets, repack_subsets, truncate_subsets};

/// Event source of upstream's controller.
pub const CONTROLLER_NAME: &str = "endpoint-controller";

/// Upstream `maxCapacity`: at most this many addresses (ready and not) in one Endpoints.
pub const MAX_CAPACITY: usize = 1000;

/// Set to [`TRUNCATED`] on an Endpoints cut down to [`MAX_CAPACITY`] addresses
/// (upstream `v1.EndpointsOverCapacity`).
pub const OVER_CAPACITY_ANNOTATION: &str = "endpoints.kubernetes.io/over-capacity";

/// The value of [`OVER_CAPACITY_ANNOTATION`] (upstream `truncated`).
pub const TRUNCATED: &str = "truncated";

/// Upstream `v1.EndpointsLastChangeTriggerTime`. Upstream computes it with a stateful
/// tracker; this planner never sets it and drops it whenever it writes anyway, as upstream
/// does when it has no trigger time.
pub const LAST_CHANGE_TRIGGER_TIME_ANNOTATION: &str =
    "endpoints.kubernetes.io/last-change-trigger-time";

/// Label marking the endpoints of a headless Service (upstream `v1.IsHeadlessService`).
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";

/// Annotation of leader-election records kept in Endpoints objects; such an Endpoints is
/// never deleted for lack of a Service (upstream `checkLeftoverEndpoints`).
pub const LEADER_ANNOTATION: &str = "control-plane.alpha.kubernetes.io/leader";

/// Everything the Endpoints planner may look at, gathered from caches by the driver.
#[derive(Clone, Debug)]
pub struct Observed<'a> {
    /// The Service; `None` when it is gone (its Endpoints is then deleted).
    pub service: Option<&'a Service>,
    /// Pods of the Service's namespace; the planner applies the selector itself.
    pub pods: Vec<&'a CachedPod>,
    /// The Endpoints named after the Service, if it exists.
    pub endpoints: Option<&'a Endpoints>,
    /// The time of this sync.
    pub now: Timestamp,
}

/// One thing the driver must do; the planner never performs it.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Create this Endpoints (named after the Service, in its namespace).
    Create(Box<Endpoints>),
    /// Replace the existing Endpoints with this one; its metadata is the existing object's
    /// (resourceVersion included) with labels and annotations brought up to date.
    Update(Box<Endpoints>),
    /// Delete the Endpoints of this name: its Service is gone.
    Delete(String),
}

/// Pure: same observation, same steps; planning again after the steps yields none.
pub fn plan(obs: &Observed<'_>) -> Vec<Step> {
    let Some(svc) = obs.service else {
        return match obs.endpoints {
            Some(ep) if ep.metadata.deletion_timestamp.is_none() && !is_leader_record(ep) => {
                vec![Step::Delete(ep.metadata.name.clone().unwrap_or_default())]
            }
            _ => Vec::new(),
        };
    };
    let Some(selector) = address::service_selector(svc) else {
        return Vec::new();
    };
    let selected = address::selected_pods(svc, &selector, &obs.pods);
    let mut subsets = repack_subsets(&raw_subsets(svc, &selected));
    let truncated = truncate_subsets(&mut subsets, MAX_CAPACITY);
    let subsets = normalize_subsets(Some(&subsets));
    let labels = desired_labels(svc);

    match obs.endpoints {
        None => {
            let meta = ObjectMeta {
                name: svc.metadata.name.clone(),
                namespace: svc.metadata.namespace.clone(),
                labels: non_empty_map(labels),
                annotations: annotations(None, truncated),
                ..ObjectMeta::default()
            };
            vec![Step::Create(Box::new(Endpoints {
                metadata: meta,
                subsets,
            }))]
        }
        Some(current) => {
            let current_labels = current.metadata.labels.clone().unwrap_or_default();
            let capacity_ok = match capacity_annotation(current) {
                Some(v) => truncated && v == TRUNCATED,
                None => !truncated,
            };
            if normalize_subsets(current.subsets.as_deref()) == subsets
                && current_labels == labels
                && capacity_ok
            {
                return Vec::new();
            }
            let mut next = current.clone();
            next.subsets = subsets;
            next.metadata.labels = non_empty_map(labels);
            next.metadata.annotations =
                annotations(current.metadata.annotations.as_ref(), truncated);
            vec![Step::Update(Box::new(next))]
        }
    }
}

/// One single-address, single-port subset per (pod, service port), as upstream's
/// `addEndpointSubset` builds them before repacking.
fn raw_subsets(svc: &Service, selected: &[&CachedPod]) -> Vec<EndpointSubset> {
    let publish = address::publish_not_ready(svc);
    let svc_ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or_default();
    let mut out = Vec::new();
    for pod in selected {
        if !address::should_pod_be_in_endpoints(pod, publish) {
            continue;
        }
        let Some(mut addr) = address::address_for_service(svc, pod) else {
            continue;
        };
        addr.hostname = address::hostname_for(pod, svc);
        let ready = publish || pods::is_ready(pod);
        let subset = |ports: Option<Vec<EndpointPort>>| {
            let addrs = Some(vec![addr.clone()]);
            if ready {
                EndpointSubset {
                    addresses: addrs,
                    not_ready_addresses: None,
                    ports,
                }
            } else {
                EndpointSubset {
                    addresses: None,
                    not_ready_addresses: addrs,
                    ports,
                }
            }
        };
        if svc_ports.is_empty() {
            // Only a headless Service may have no ports; its pods are listed without any.
            if address::cluster_ip(svc) == address::CLUSTER_IP_NONE {
                out.push(subset(None));
            }
            continue;
        }
        for sp in svc_ports {
            if let Some(port) = ports::find_port(pod, sp) {
                out.push(subset(Some(vec![ports::endpoint_port(sp, port)])));
            }
        }
    }
    out
}

/// The Service's labels, plus [`HEADLESS_LABEL`] when it has no cluster IP.
pub fn desired_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels = svc.metadata.labels.clone().unwrap_or_default();
    if address::is_service_ip_set(svc) {
        labels.remove(HEADLESS_LABEL);
    } else {
        labels.insert(HEADLESS_LABEL.to_string(), String::new());
    }
    labels
}

fn capacity_annotation(ep: &Endpoints) -> Option<&str> {
    ep.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(OVER_CAPACITY_ANNOTATION))
        .map(String::as_str)
}

/// The annotations to write: the current ones without the trigger time, with
/// [`OVER_CAPACITY_ANNOTATION`] set exactly when the addresses were truncated.
fn annotations(
    current: Option<&BTreeMap<String, String>>,
    truncated: bool,
) -> Option<BTreeMap<String, String>> {
    let mut a = current.cloned().unwrap_or_default();
    a.remove(LAST_CHANGE_TRIGGER_TIME_ANNOTATION);
    if truncated {
        a.insert(OVER_CAPACITY_ANNOTATION.to_string(), TRUNCATED.to_string());
    } else {
        a.remove(OVER_CAPACITY_ANNOTATION);
    }
    non_empty_map(a)
}

fn non_empty_map(m: BTreeMap<String, String>) -> Option<BTreeMap<String, String>> {
    (!m.is_empty()).then_some(m)
}

fn is_leader_record(ep: &Endpoints) -> bool {
    ep.metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(LEADER_ANNOTATION))
}
