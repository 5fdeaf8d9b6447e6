//! What one pod contributes to a Service's EndpointSlices (upstream `podToEndpoint`,
//! `getEndpointPorts`) and the shape of a new slice (upstream `newEndpointSlice`).

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{CONTROLLER_NAME, MANAGED_BY_LABEL, SERVICE_NAME_LABEL, ZONE_LABEL};
use crate::cached_pod::CachedPod;
use crate::endpoints::address::{self, IPV4, IPV6};
use crate::endpoints::ports::{find_port, protocol};
use crate::endpoints::HEADLESS_LABEL;
use crate::ownership::controller_ref;
use crate::pods;

/// A port's identity for grouping: name, port, protocol (defaulted), appProtocol.
pub(super) type PortKey = Vec<(String, Option<i32>, String, Option<String>)>;

/// An endpoint's identity (upstream `hashEndpoint`): sorted addresses, hostname, and the
/// target's namespace and name. Everything else may change in place.
pub(super) type EndpointKey = (Vec<String>, String, String, String);

/// The canonical key of a port list (upstream `NewPortMapKey`; `None` and empty are equal).
pub(super) fn port_key(ports: Option<&[EndpointPort]>) -> PortKey {
    let mut key: PortKey = ports
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p.name.clone().unwrap_or_default(),
                p.port,
                protocol(p.protocol.as_deref()).to_string(),
                p.app_protocol.clone(),
            )
        })
        .collect();
    key.sort();
    key
}

/// The ports of a slice for this key, in key order.
pub(super) fn ports_of(key: &PortKey) -> Vec<EndpointPort> {
    key.iter()
        .map(|(name, port, proto, app)| EndpointPort {
            name: Some(name.clone()),
            port: *port,
            protocol: Some(proto.clone()),
            app_protocol: app.clone(),
        })
        .collect()
}

pub(super) fn endpoint_key(ep: &Endpoint) -> EndpointKey {
    let mut addrs = ep.addresses.clone();
    addrs.sort();
    let r = ep.target_ref.as_ref();
    (
        addrs,
        ep.hostname.clone().unwrap_or_default(),
        r.and_then(|r| r.namespace.clone()).unwrap_or_default(),
        r.and_then(|r| r.name.clone()).unwrap_or_default(),
    )
}

/// Upstream `getEndpointPorts`: every service port the pod resolves (a headless Service
/// may have none).
pub(super) fn endpoint_ports(svc: &Service, pod: &CachedPod) -> Vec<EndpointPort> {
    let svc_ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or_default();
    svc_ports
        .iter()
        .filter_map(|sp| {
            let port = find_port(pod, sp)?;
            Some(EndpointPort {
                name: Some(sp.name.clone().unwrap_or_default()),
                port: Some(port),
                protocol: Some(protocol(sp.protocol.as_deref()).to_string()),
                app_protocol: sp.app_protocol.clone(),
            })
        })
        .collect()
}

/// Upstream `getAddressTypesForService`: the families in `spec.ipFamilies`, else the family
/// of the cluster IP, else (headless, not yet defaulted) both. IPv4 first.
pub(super) fn address_types(svc: &Service) -> Vec<&'static str> {
    let families = svc.spec.as_ref().and_then(|s| s.ip_families.as_ref());
    let mut out: Vec<&'static str> = [IPV4, IPV6]
        .into_iter()
        .filter(|t| families.is_some_and(|f| f.iter().any(|x| x == t)))
        .collect();
    if out.is_empty() {
        out = if address::is_service_ip_set(svc) {
            vec![if address::is_ipv6(address::cluster_ip(svc)) {
                IPV6
            } else {
                IPV4
            }]
        } else {
            vec![IPV4, IPV6]
        };
    }
    out
}

/// Upstream `getEndpointAddresses`: the pod's IPs of this address type, re-printed in
/// canonical form.
fn endpoint_addresses(pod: &CachedPod, address_type: &str) -> Vec<String> {
    address::pod_ips(pod)
        .into_iter()
        .filter_map(address::parse_ip)
        .filter(|ip| match ip {
            IpAddr::V4(_) => address_type == IPV4,
            IpAddr::V6(_) => address_type == IPV6,
        })
        .map(|ip| ip.to_string())
        .collect()
}

/// Upstream `podToEndpoint`: `serving` is the pod's Ready condition, `terminating` its
/// deletion mark, `ready` is serving and not terminating (always true when the Service
/// publishes not-ready addresses); with node name, zone (from `node`), hostname and a `Pod`
/// target reference.
pub(super) fn pod_to_endpoint(
    pod: &CachedPod,
    node: Option<&Node>,
    svc: &Service,
    address_type: &str,
) -> Endpoint {
    let serving = pods::is_ready(pod);
    let terminating = pod.metadata.deletion_timestamp.is_some();
    let ready = address::publish_not_ready(svc) || (serving && !terminating);
    let zone = node
        .and_then(|n| n.metadata.labels.as_ref())
        .and_then(|l| l.get(ZONE_LABEL))
        .filter(|z| !z.is_empty())
        .cloned();
    Endpoint {
        addresses: endpoint_addresses(pod, address_type),
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        hostname: address::hostname_for(pod, svc),
        node_name: address::pod_node_name(pod).map(str::to_string),
        target_ref: Some(address::pod_reference(pod)),
        zone,
        ..Endpoint::default()
    }
}

/// Upstream `EndpointsEqualBeyondHash`: node, zone, conditions and target (ignoring its
/// resourceVersion) agree.
pub(super) fn equal_beyond_key(a: &Endpoint, b: &Endpoint) -> bool {
    let conds = |e: &Endpoint| {
        let c = e.conditions.clone().unwrap_or_default();
        (c.ready, c.serving, c.terminating)
    };
    let target = |e: &Endpoint| e.target_ref.as_ref().map(address::without_resource_version);
    a.node_name == b.node_name && a.zone == b.zone && conds(a) == conds(b) && target(a) == target(b)
}

/// Upstream `setEndpointSliceLabels`: the Service's labels except the reserved ones, the
/// headless label when it has no cluster IP, the service name and our managed-by value.
pub fn desired_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = svc
        .metadata
        .labels
        .iter()
        .flatten()
        .filter(|(k, _)| {
            ![SERVICE_NAME_LABEL, MANAGED_BY_LABEL, HEADLESS_LABEL].contains(&k.as_str())
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !address::is_service_ip_set(svc) {
        labels.insert(HEADLESS_LABEL.to_string(), String::new());
    }
    labels.insert(
        SERVICE_NAME_LABEL.to_string(),
        svc.metadata.name.clone().unwrap_or_default(),
    );
    labels.insert(MANAGED_BY_LABEL.to_string(), CONTROLLER_NAME.to_string());
    labels
}

/// Upstream `ownedBy`: a `v1` `Service` owner reference with the Service's uid.
pub(super) fn owned_by(slice: &EndpointSlice, svc: &Service) -> bool {
    let uid = svc.metadata.uid.as_deref().unwrap_or_default();
    slice
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.uid == uid && o.kind == "Service" && o.api_version == "v1")
}

/// Upstream `newEndpointSlice`: an empty slice named `<service>-<random>`, owned by the
/// Service, with its labels.
pub(super) fn new_slice(
    svc: &Service,
    ports: Vec<EndpointPort>,
    address_type: &str,
) -> EndpointSlice {
    let name = svc.metadata.name.clone().unwrap_or_default();
    EndpointSlice {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            namespace: svc.metadata.namespace.clone(),
            labels: Some(desired_labels(svc)),
            owner_references: Some(vec![controller_ref("v1", "Service", &svc.metadata)]),
            ..ObjectMeta::default()
        },
        address_type: address_type.to_string(),
        endpoints: Vec::new(),
        ports: Some(ports),
    }
}

/// Upstream `placeholderSliceCompare`: equal but for metadata other than namespace and
/// labels (empty and absent lists alike).
pub(super) fn placeholder_equal(a: &EndpointSlice, b: &EndpointSlice) -> bool {
    let labels = |s: &EndpointSlice| s.metadata.labels.clone().unwrap_or_default();
    let owners = |s: &EndpointSlice| s.metadata.owner_references.clone().unwrap_or_default();
    let ports = |s: &EndpointSlice| s.ports.clone().unwrap_or_default();
    a.metadata.namespace == b.metadata.namespace
        && labels(a) == labels(b)
        && owners(a) == owners(b)
        && a.address_type == b.address_type
        && a.endpoints == b.endpoints
        && ports(a) == ports(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoints::fixtures::service;

    #[test]
    fn the_placeholder_compare_ignores_metadata_but_not_content() {
        let svc = service("web").build();
        let a = new_slice(&svc, vec![], "IPv4");
        let mut b = a.clone();
        b.metadata.name = Some("web-x".into());
        b.metadata.resource_version = Some("9".into());
        b.ports = None;
        assert!(placeholder_equal(&a, &b));
        b.address_type = "IPv6".into();
        assert!(!placeholder_equal(&a, &b));
        let mut c = a.clone();
        c.metadata = ObjectMeta {
            labels: None,
            ..c.metadata
        };
        assert!(!placeholder_equal(&a, &c));
    }
}
