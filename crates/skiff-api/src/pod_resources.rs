//! PURE: what a whole pod requests or is limited to for one resource, aggregated like
//! upstream's `resourcehelper.PodRequests` / `PodLimits`: app containers and sidecars (init
//! containers with `restartPolicy: Always`) add up, each plain init container runs beside the
//! sidecars started before it, the pod needs the larger of the two, and `spec.overhead` comes
//! on top (for limits only where there is a limit to raise).
//!
//! ```
//! use k8s_openapi::api::core::v1::PodSpec;
//! use skiff_api::pod_resources::{pod_total, whole, Side};
//! let spec: PodSpec = serde_json::from_value(serde_json::json!({
//!     "containers": [
//!         {"name": "a", "resources": {"limits": {"memory": "64Mi"}}},
//!         {"name": "b", "resources": {"limits": {"memory": "32Mi"}}},
//!     ],
//!     "initContainers": [{"name": "i", "resources": {"limits": {"memory": "128Mi"}}}],
//!     "overhead": {"memory": "8Mi"},
//! })).unwrap();
//! // The init container's 128Mi beats the app containers' 96Mi; the overhead adds 8Mi.
//! assert_eq!(pod_total(&spec, Side::Limits, "memory").map(whole), Some(136 << 20));
//! ```

use crate::quantity::{self, Nanos};
use k8s_openapi::api::core::v1::{Container, PodSpec};

/// Which list of a container's `resources` to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// `resources.requests`; a container without a request but with a limit counts the limit,
    /// as the API server's defaulting makes it.
    Requests,
    /// `resources.limits`.
    Limits,
}

const NANO: Nanos = 1_000_000_000;

/// The container's amount of `resource` in nano-units, if it names one.
pub fn container_amount(c: &Container, side: Side, resource: &str) -> Option<Nanos> {
    let r = c.resources.as_ref()?;
    let pick = |l: Option<&std::collections::BTreeMap<String, _>>| {
        l.and_then(|l| l.get(resource)).and_then(
            |q: &k8s_openapi::apimachinery::pkg::api::resource::Quantity| quantity::parse(&q.0),
        )
    };
    match side {
        Side::Limits => pick(r.limits.as_ref()),
        Side::Requests => pick(r.requests.as_ref()).or_else(|| pick(r.limits.as_ref())),
    }
}

/// The pod's aggregated amount of `resource` in nano-units, overhead included; `None` when
/// no container (and, for requests, no overhead) names it.
pub fn pod_total(spec: &PodSpec, side: Side, resource: &str) -> Option<Nanos> {
    let mut named = false;
    let mut total: Nanos = 0;
    let mut sidecars: Nanos = 0;
    let mut init_peak: Nanos = 0;
    for c in &spec.containers {
        if let Some(a) = container_amount(c, side, resource) {
            named = true;
            total += a;
        }
    }
    for c in spec.init_containers.iter().flatten() {
        let own = container_amount(c, side, resource);
        named |= own.is_some();
        let own = own.unwrap_or(0);
        let phase = if c.restart_policy.as_deref() == Some("Always") {
            total += own;
            sidecars += own;
            sidecars
        } else {
            own + sidecars
        };
        init_peak = init_peak.max(phase);
    }
    total = total.max(init_peak);
    let overhead = spec
        .overhead
        .as_ref()
        .and_then(|o| o.get(resource))
        .and_then(|q| quantity::parse(&q.0));
    match (side, overhead) {
        (Side::Requests, Some(o)) => Some(total + o),
        (Side::Limits, Some(o)) if named => Some(total + o),
        _ => named.then_some(total),
    }
}

/// Whether every container, init containers included, sets a non-zero limit on `resource`
/// (upstream's `ContainerFn` check in `ResourceConfigForPod`): only then does the pod as a
/// whole have a limit.
pub fn every_container_limits(spec: &PodSpec, resource: &str) -> bool {
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .all(|c| container_amount(c, Side::Limits, resource).is_some_and(|a| a > 0))
}

/// `nanos` of CPU as whole millicores, rounded up like `Quantity.MilliValue`.
pub fn milli(nanos: Nanos) -> i64 {
    i64::try_from((nanos + 999_999) / 1_000_000).unwrap_or(i64::MAX)
}

/// `nanos` of a byte count as whole bytes, rounded up like `Quantity.Value`.
pub fn whole(nanos: Nanos) -> i64 {
    i64::try_from((nanos + NANO - 1) / NANO).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> PodSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn app_containers_add_up_and_requests_fall_back_to_limits() {
        let s = spec(json!({"containers": [
            {"name": "a", "resources": {"requests": {"cpu": "100m"}}},
            {"name": "b", "resources": {"limits": {"cpu": "250m"}}},
            {"name": "c"},
        ]}));
        assert_eq!(pod_total(&s, Side::Requests, "cpu").map(milli), Some(350));
        assert_eq!(pod_total(&s, Side::Limits, "cpu").map(milli), Some(250));
        assert!(!every_container_limits(&s, "cpu"));
        assert_eq!(pod_total(&s, Side::Requests, "memory"), None);
    }

    #[test]
    fn sidecars_run_beside_later_init_containers_and_the_app() {
        let s = spec(json!({
            "initContainers": [
                {"name": "side", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}},
                {"name": "big", "resources": {"requests": {"cpu": "500m"}}},
            ],
            "containers": [{"name": "app", "resources": {"requests": {"cpu": "200m"}}}],
        }));
        // Init phase: 500m + the 100m sidecar = 600m beats app + sidecar = 300m.
        assert_eq!(pod_total(&s, Side::Requests, "cpu").map(milli), Some(600));
    }

    #[test]
    fn overhead_adds_to_requests_always_and_to_limits_only_when_limited() {
        let s = spec(json!({
            "containers": [{"name": "a", "resources": {"limits": {"memory": "64Mi"}}}],
            "overhead": {"cpu": "50m", "memory": "16Mi"},
        }));
        assert_eq!(
            pod_total(&s, Side::Limits, "memory").map(whole),
            Some(80 << 20)
        );
        assert_eq!(pod_total(&s, Side::Limits, "cpu"), None);
        assert_eq!(pod_total(&s, Side::Requests, "cpu").map(milli), Some(50));
        assert!(every_container_limits(&s, "memory"));
    }

    #[test]
    fn a_zero_limit_is_no_limit() {
        let s = spec(json!({"containers": [
            {"name": "a", "resources": {"limits": {"memory": "0"}}},
        ]}));
        assert!(!every_container_limits(&s, "memory"));
    }
}
