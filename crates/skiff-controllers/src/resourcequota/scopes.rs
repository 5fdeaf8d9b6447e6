//! Quota scopes (upstream `podMatchesScopeFunc` and `generic.MatchesNoScopeFunc`): which
//! objects a scoped quota counts. Only pods have scopes; any scope excludes other objects.

use crate::cached_pod::CachedPod;
use k8s_openapi::api::core::v1::{ResourceQuota, ScopedResourceSelectorRequirement};

use super::usage::{is_best_effort, is_terminating, uses_cross_namespace_pod_affinity};

/// `Terminating`: pods with `activeDeadlineSeconds`.
pub const TERMINATING: &str = "Terminating";
/// `NotTerminating`: pods without it.
pub const NOT_TERMINATING: &str = "NotTerminating";
/// `BestEffort`: pods of QoS class BestEffort.
pub const BEST_EFFORT: &str = "BestEffort";
/// `NotBestEffort`: the others.
pub const NOT_BEST_EFFORT: &str = "NotBestEffort";
/// `PriorityClass`: pods by `priorityClassName` (with a scope selector operator).
pub const PRIORITY_CLASS: &str = "PriorityClass";
/// `CrossNamespacePodAffinity`: pods whose affinity terms reach other namespaces.
pub const CROSS_NAMESPACE_POD_AFFINITY: &str = "CrossNamespacePodAffinity";

/// The quota's `scopes` (as `Exists` requirements) followed by its `scopeSelector`
/// expressions: an object must match all of them.
pub fn requirements(quota: &ResourceQuota) -> Vec<ScopedResourceSelectorRequirement> {
    let spec = quota.spec.clone().unwrap_or_default();
    spec.scopes
        .into_iter()
        .flatten()
        .map(|scope_name| ScopedResourceSelectorRequirement {
            scope_name,
            operator: "Exists".into(),
            values: None,
        })
        .chain(
            spec.scope_selector
                .and_then(|s| s.match_expressions)
                .into_iter()
                .flatten(),
        )
        .collect()
}

/// Upstream `podMatchesScopeFunc` for one requirement. Terminating/BestEffort scopes ignore
/// the operator, as upstream does; `PriorityClass` applies it to the pod's
/// `priorityClassName` (`In`, `NotIn`, `Exists`, `DoesNotExist`).
pub fn pod_matches(pod: &CachedPod, req: &ScopedResourceSelectorRequirement) -> bool {
    match req.scope_name.as_str() {
        TERMINATING => is_terminating(pod),
        NOT_TERMINATING => !is_terminating(pod),
        BEST_EFFORT => is_best_effort(pod),
        NOT_BEST_EFFORT => !is_best_effort(pod),
        PRIORITY_CLASS => {
            let class = pod
                .spec
                .as_ref()
                .and_then(|s| s.priority_class_name.as_deref())
                .filter(|c| !c.is_empty());
            let values = req.values.as_deref().unwrap_or_default();
            match req.operator.as_str() {
                "Exists" => class.is_some(),
                "DoesNotExist" => class.is_none(),
                "In" => class.is_some_and(|c| values.iter().any(|v| v == c)),
                "NotIn" => class.is_none_or(|c| !values.iter().any(|v| v == c)),
                _ => false,
            }
        }
        CROSS_NAMESPACE_POD_AFFINITY => uses_cross_namespace_pod_affinity(pod),
        _ => false,
    }
}

/// Whether the pod matches every requirement.
pub fn pod_in_scope(pod: &CachedPod, reqs: &[ScopedResourceSelectorRequirement]) -> bool {
    reqs.iter().all(|r| pod_matches(pod, r))
}
