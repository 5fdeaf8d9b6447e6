//! Which pods back a Service and the address each one contributes (upstream
//! `ShouldPodBeInEndpoints`, `ShouldSetHostname`, `podToEndpointAddressForService`); shared
//! with the EndpointSlice planner.

use std::net::{IpAddr, Ipv4Addr};

use k8s_openapi::api::core::v1::{EndpointAddress, ObjectReference, Service};

use crate::cached_pod::CachedPod;
use crate::ownership::Selector;
use crate::pods;

/// `spec.clusterIP` of a headless Service.
pub const CLUSTER_IP_NONE: &str = "None";
/// `spec.type` of a Service that only aliases a DNS name and never gets endpoints.
pub const SERVICE_TYPE_EXTERNAL_NAME: &str = "ExternalName";
/// The IPv4 family, as `spec.ipFamilies` and EndpointSlice `addressType` spell it.
pub const IPV4: &str = "IPv4";
/// The IPv6 family, as `spec.ipFamilies` and EndpointSlice `addressType` spell it.
pub const IPV6: &str = "IPv6";

/// The Service's pod selector, or `None` when the controllers must leave its endpoints alone:
/// type ExternalName, or no selector (an empty map is what the API server stores as no
/// selector, so it counts as none).
pub fn service_selector(svc: &Service) -> Option<Selector> {
    let spec = svc.spec.as_ref()?;
    if spec.type_.as_deref() == Some(SERVICE_TYPE_EXTERNAL_NAME) {
        return None;
    }
    let sel = spec.selector.as_ref().filter(|s| !s.is_empty())?;
    Some(Selector::from_map(sel))
}

/// Pods of the Service's namespace that its selector matches, sorted by name so plans are
/// deterministic whatever order the cache listed them in.
pub fn selected_pods<'a>(
    svc: &Service,
    selector: &Selector,
    pods: &[&'a CachedPod],
) -> Vec<&'a CachedPod> {
    let mut out: Vec<&CachedPod> = pods
        .iter()
        .copied()
        .filter(|p| p.metadata.namespace == svc.metadata.namespace)
        .filter(|p| selector.matches(p.metadata.labels.as_ref()))
        .collect();
    out.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    out
}

/// `spec.publishNotReadyAddresses`.
pub fn publish_not_ready(svc: &Service) -> bool {
    svc.spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false)
}

/// The Service's `spec.clusterIP`, empty when unset.
pub fn cluster_ip(svc: &Service) -> &str {
    svc.spec
        .as_ref()
        .and_then(|s| s.cluster_ip.as_deref())
        .unwrap_or_default()
}

/// Upstream `IsServiceIPSet`: a cluster IP that is neither empty nor `None`. Services
/// without one are headless.
pub fn is_service_ip_set(svc: &Service) -> bool {
    let ip = cluster_ip(svc);
    !ip.is_empty() && ip != CLUSTER_IP_NONE
}

/// The pod's IPs: `status.podIPs`, or `status.podIP` when the list is empty.
pub fn pod_ips(pod: &CachedPod) -> Vec<&str> {
    let Some(status) = pod.status.as_ref() else {
        return Vec::new();
    };
    let ips: Vec<&str> = status
        .pod_ips
        .iter()
        .flatten()
        .map(|p| p.ip.as_str())
        .filter(|ip| !ip.is_empty())
        .collect();
    if !ips.is_empty() {
        return ips;
    }
    status
        .pod_ip
        .as_deref()
        .filter(|ip| !ip.is_empty())
        .into_iter()
        .collect()
}

/// Upstream `ShouldPodBeInEndpoints`: not terminal, has an IP, and not being deleted unless
/// `include_terminating`.
pub fn should_pod_be_in_endpoints(pod: &CachedPod, include_terminating: bool) -> bool {
    !pods::is_terminal(pod)
        && !pod_ips(pod).is_empty()
        && (include_terminating || pod.metadata.deletion_timestamp.is_none())
}

/// Upstream `ShouldSetHostname`: the pod names a hostname and its subdomain is this Service
/// (in the same namespace).
pub fn should_set_hostname(pod: &CachedPod, svc: &Service) -> bool {
    let spec = pod.spec.as_ref();
    let hostname = spec.and_then(|s| s.hostname.as_deref()).unwrap_or_default();
    let subdomain = spec
        .and_then(|s| s.subdomain.as_deref())
        .unwrap_or_default();
    !hostname.is_empty()
        && subdomain == svc.metadata.name.as_deref().unwrap_or_default()
        && pod.metadata.namespace == svc.metadata.namespace
}

/// The pod's `spec.hostname` when [`should_set_hostname`] holds.
pub fn hostname_for(pod: &CachedPod, svc: &Service) -> Option<String> {
    if should_set_hostname(pod, svc) {
        pod.spec.as_ref().and_then(|s| s.hostname.clone())
    } else {
        None
    }
}

/// Parses an IP like upstream `ParseIPSloppy`: IPv4 octets may carry leading zeros, and an
/// IPv4-mapped IPv6 address counts as IPv4.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    let ip = s.parse::<IpAddr>().ok().or_else(|| parse_ipv4_sloppy(s))?;
    Some(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    })
}

fn parse_ipv4_sloppy(s: &str) -> Option<IpAddr> {
    let mut octets = [0u8; 4];
    let mut parts = s.split('.');
    for o in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *o = part.parse().ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(IpAddr::V4(Ipv4Addr::from(octets)))
}

/// Upstream `utilnet.IsIPv6String`: the string parses as an IPv6 (not IPv4-mapped) address.
pub fn is_ipv6(s: &str) -> bool {
    matches!(parse_ip(s), Some(IpAddr::V6(_)))
}

/// Upstream `podToEndpointAddressForService`: the pod's IP of the Service's family
/// (`spec.ipFamilies[0]`, else the family of the cluster IP, else of the pod's primary IP),
/// with the node name and a `Pod` target reference; `None` when the pod has no IP of that
/// family.
pub fn address_for_service(svc: &Service, pod: &CachedPod) -> Option<EndpointAddress> {
    let ips = pod_ips(pod);
    let families = svc.spec.as_ref().and_then(|s| s.ip_families.as_ref());
    let want_v6 = match families.and_then(|f| f.first()) {
        Some(family) => family == IPV6,
        None if is_service_ip_set(svc) => is_ipv6(cluster_ip(svc)),
        None => ips.first().is_some_and(|ip| is_ipv6(ip)),
    };
    let ip = ips.into_iter().find(|ip| is_ipv6(ip) == want_v6)?;
    Some(EndpointAddress {
        ip: ip.to_string(),
        hostname: None,
        node_name: pod_node_name(pod).map(str::to_string),
        target_ref: Some(pod_reference(pod)),
    })
}

/// The pod's `spec.nodeName` when set and not empty.
pub fn pod_node_name(pod: &CachedPod) -> Option<&str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

/// A `Pod` object reference with namespace, name and uid (no resourceVersion, which
/// upstream ignores when comparing).
pub fn pod_reference(pod: &CachedPod) -> ObjectReference {
    let m = &pod.metadata;
    ObjectReference {
        kind: Some("Pod".to_string()),
        namespace: m.namespace.clone().filter(|s| !s.is_empty()),
        name: m.name.clone(),
        uid: m.uid.clone().filter(|s| !s.is_empty()),
        ..ObjectReference::default()
    }
}

/// An object reference without its resourceVersion (upstream `semanticIgnoreResourceVersion`).
pub fn without_resource_version(r: &ObjectReference) -> ObjectReference {
    ObjectReference {
        resource_version: None,
        ..r.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sloppy_and_mapped_ips_are_classified_like_upstream() {
        assert!(!is_ipv6("010.001.000.001"));
        assert_eq!(parse_ip("010.001.000.001").unwrap().to_string(), "10.1.0.1");
        assert!(!is_ipv6("::ffff:10.0.0.1"));
        assert!(is_ipv6("fd00::1"));
        assert!(!is_ipv6("not-an-ip"));
        assert_eq!(parse_ip("1.2.3"), None);
        assert_eq!(parse_ip("1.2.3.4.5"), None);
    }
}
