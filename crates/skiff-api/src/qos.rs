//! The pod's QoS class, computed like upstream's `ComputePodQOS`
//! (`pkg/apis/core/v1/helper/qos`): only cpu and memory count; init and regular containers are
//! summed; ephemeral containers are ignored. A request left out where a limit is set counts as
//! equal to the limit, as the API server's defaulting makes it.

use crate::quantity::{self, Nanos};
use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::BTreeMap;

/// Upstream's class names.
pub const BEST_EFFORT: &str = "BestEffort";
/// Requests below limits, or some resource unlimited.
pub const BURSTABLE: &str = "Burstable";
/// Every container limits cpu and memory and requests equal limits.
pub const GUARANTEED: &str = "Guaranteed";

const QOS_RESOURCES: [&str; 2] = ["cpu", "memory"];

type List = BTreeMap<String, Quantity>;

/// Adds the positive cpu/memory amounts of `list` (or of `fallback` where `list` lacks the
/// resource) into `sums`; returns a bit per resource found.
fn add(
    sums: &mut BTreeMap<&'static str, Nanos>,
    list: Option<&List>,
    fallback: Option<&List>,
) -> u8 {
    let mut found = 0;
    for (bit, name) in QOS_RESOURCES.iter().enumerate() {
        let amount = list
            .and_then(|l| l.get(*name))
            .or_else(|| fallback.and_then(|l| l.get(*name)))
            .and_then(|q| quantity::parse(&q.0))
            .unwrap_or(0);
        if amount > 0 {
            *sums.entry(name).or_insert(0) += amount;
            found |= 1 << bit;
        }
    }
    found
}

/// The QoS class of a pod with this spec.
pub fn qos_class(spec: &PodSpec) -> &'static str {
    let mut requests = BTreeMap::new();
    let mut limits = BTreeMap::new();
    let mut guaranteed = true;
    let init = spec.init_containers.iter().flatten();
    for c in spec.containers.iter().chain(init) {
        let Container { resources, .. } = c;
        let r = resources.as_ref();
        let (req, lim) = (
            r.and_then(|r| r.requests.as_ref()),
            r.and_then(|r| r.limits.as_ref()),
        );
        add(&mut requests, req, lim);
        let limited = add(&mut limits, lim, None);
        if limited != 0b11 {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return BEST_EFFORT;
    }
    let matching = requests.iter().all(|(k, v)| limits.get(k) == Some(v));
    if guaranteed && matching && requests.len() == limits.len() {
        return GUARANTEED;
    }
    BURSTABLE
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ResourceRequirements;

    fn list(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, Quantity>> {
        (!pairs.is_empty()).then(|| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                .collect()
        })
    }

    fn container(req: &[(&str, &str)], lim: &[(&str, &str)]) -> Container {
        Container {
            name: "c".into(),
            resources: Some(ResourceRequirements {
                requests: list(req),
                limits: list(lim),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn spec(containers: Vec<Container>, init: Vec<Container>) -> PodSpec {
        PodSpec {
            containers,
            init_containers: (!init.is_empty()).then_some(init),
            ..Default::default()
        }
    }

    #[test]
    fn no_requests_or_limits_is_best_effort() {
        assert_eq!(
            qos_class(&spec(vec![container(&[], &[])], vec![])),
            BEST_EFFORT
        );
        let other = container(&[("nvidia.com/gpu", "1")], &[("nvidia.com/gpu", "1")]);
        assert_eq!(qos_class(&spec(vec![other], vec![])), BEST_EFFORT);
        let zero = container(&[("cpu", "0")], &[]);
        assert_eq!(qos_class(&spec(vec![zero], vec![])), BEST_EFFORT);
    }

    #[test]
    fn limits_equal_to_requests_for_cpu_and_memory_is_guaranteed() {
        let c = container(
            &[("cpu", "500m"), ("memory", "1Gi")],
            &[("cpu", "0.5"), ("memory", "1024Mi")],
        );
        assert_eq!(qos_class(&spec(vec![c], vec![])), GUARANTEED);
        // Limits alone: requests default to the limits.
        let only_limits = container(&[], &[("cpu", "1"), ("memory", "1Gi")]);
        assert_eq!(qos_class(&spec(vec![only_limits], vec![])), GUARANTEED);
    }

    #[test]
    fn requests_below_limits_or_missing_limits_is_burstable() {
        let below = container(&[("cpu", "100m")], &[("cpu", "1"), ("memory", "1Gi")]);
        assert_eq!(qos_class(&spec(vec![below], vec![])), BURSTABLE);
        let cpu_only = container(&[("cpu", "1")], &[("cpu", "1")]);
        assert_eq!(qos_class(&spec(vec![cpu_only], vec![])), BURSTABLE);
    }

    #[test]
    fn one_unlimited_container_makes_the_pod_burstable() {
        let full = container(
            &[("cpu", "1"), ("memory", "1Gi")],
            &[("cpu", "1"), ("memory", "1Gi")],
        );
        let bare = container(&[], &[]);
        assert_eq!(
            qos_class(&spec(vec![full.clone(), bare.clone()], vec![])),
            BURSTABLE
        );
        assert_eq!(qos_class(&spec(vec![full], vec![bare])), BURSTABLE);
    }
}
