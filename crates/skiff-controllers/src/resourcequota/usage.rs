//! What each object charges to a quota (upstream `pkg/quota/v1/evaluator/core`: the pod,
//! service and claim evaluators and the object-count ones), and which quota resources each
//! evaluator answers for.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PodAffinityTerm, Service, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::quantity::Amount;
use crate::cached_pod::{CachedContainer, CachedPod};
use crate::pods;
use crate::Timestamp;

/// Resource name → amount, as `ResourceList`s are summed upstream.
pub type ResourceList = BTreeMap<String, Amount>;

/// `count/pods`
pub const COUNT_PODS: &str = "count/pods";
/// `count/services`
pub const COUNT_SERVICES: &str = "count/services";
/// `count/persistentvolumeclaims`
pub const COUNT_PVCS: &str = "count/persistentvolumeclaims";
/// Suffix of per-storage-class claim resources (`gold.storageclass.storage.k8s.io/…`).
pub const STORAGE_CLASS_SUFFIX: &str = ".storageclass.storage.k8s.io/";
/// The beta annotation that still overrides `storageClassName`.
pub const BETA_STORAGE_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

/// Upstream `podResources`.
pub const POD_RESOURCES: [&str; 11] = [
    COUNT_PODS,
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
];

/// Upstream `IsNativeResource`: no domain, or a `kubernetes.io/` one.
fn is_native(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

/// Upstream `IsExtendedResourceName`: a domain-prefixed, non-native name a quota can track
/// as `requests.<name>`.
pub fn is_extended_resource(name: &str) -> bool {
    !is_native(name)
        && !name.starts_with("requests.")
        && skiff_api::names::qualified_name(&format!("requests.{name}")).is_empty()
}

/// Upstream pod evaluator `MatchingResources`.
pub(crate) fn pod_matches(resource: &str) -> bool {
    POD_RESOURCES.contains(&resource)
        || resource.starts_with("hugepages-")
        || resource.starts_with("requests.hugepages-")
        || (!is_native(resource) && resource.starts_with("requests."))
}

/// Upstream service evaluator `MatchingResources`.
pub(crate) fn service_matches(resource: &str) -> bool {
    [
        COUNT_SERVICES,
        "services",
        "services.nodeports",
        "services.loadbalancers",
    ]
    .contains(&resource)
}

/// Upstream claim evaluator `MatchingResources` (per-storage-class names included).
pub(crate) fn pvc_matches(resource: &str) -> bool {
    let base = ["persistentvolumeclaims", "requests.storage"];
    resource == COUNT_PVCS
        || base.contains(&resource)
        || base
            .iter()
            .any(|b| resource.ends_with(&format!("{STORAGE_CLASS_SUFFIX}{b}")))
}

fn list(src: Option<&BTreeMap<String, Quantity>>) -> ResourceList {
    src.into_iter()
        .flatten()
        .filter_map(|(k, q)| Amount::of(q).map(|a| (k.clone(), a)))
        .collect()
}

/// Upstream `quota.Add` / `addResourceList`.
pub(crate) fn add_into(into: &mut ResourceList, from: &ResourceList) {
    for (k, v) in from {
        match into.get_mut(k) {
            Some(cur) => cur.add(v),
            None => {
                into.insert(k.clone(), *v);
            }
        }
    }
}

/// Upstream `maxResourceList`: the larger of each, with its format.
fn max_into(into: &mut ResourceList, from: &ResourceList) {
    for (k, v) in from {
        if into.get(k).is_none_or(|cur| v > cur) {
            into.insert(k.clone(), *v);
        }
    }
}

fn is_restartable(c: &CachedContainer) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// Upstream `AggregateContainerRequests` / `AggregateContainerLimits`: app containers and
/// sidecars add up; each init container runs with the sidecars started before it; the pod
/// needs the larger of the two.
fn aggregate(
    pod: &CachedPod,
    pick: fn(&CachedContainer) -> Option<&BTreeMap<String, Quantity>>,
) -> ResourceList {
    let Some(spec) = pod.spec.as_ref() else {
        return ResourceList::new();
    };
    let mut total = ResourceList::new();
    for c in &spec.containers {
        add_into(&mut total, &list(pick(c)));
    }
    let mut sidecars = ResourceList::new();
    let mut init = ResourceList::new();
    for c in spec.init_containers.iter().flatten() {
        let own = list(pick(c));
        let phase = if is_restartable(c) {
            add_into(&mut total, &own);
            add_into(&mut sidecars, &own);
            sidecars.clone()
        } else {
            let mut tmp = own;
            add_into(&mut tmp, &sidecars);
            tmp
        };
        max_into(&mut init, &phase);
    }
    max_into(&mut total, &init);
    total
}

/// Upstream `resourcehelper.PodRequests`: aggregated container requests plus the overhead.
pub fn pod_requests(pod: &CachedPod) -> ResourceList {
    let mut reqs = aggregate(pod, |c| c.resources.as_ref()?.requests.as_ref());
    add_into(
        &mut reqs,
        &list(pod.spec.as_ref().and_then(|s| s.overhead.as_ref())),
    );
    reqs
}

/// Upstream `resourcehelper.PodLimits`: aggregated container limits, plus the overhead for
/// resources that have a limit at all.
pub fn pod_limits(pod: &CachedPod) -> ResourceList {
    let mut limits = aggregate(pod, |c| c.resources.as_ref()?.limits.as_ref());
    for (k, v) in list(pod.spec.as_ref().and_then(|s| s.overhead.as_ref())) {
        if let Some(cur) = limits.get_mut(&k) {
            cur.add(&v);
        }
    }
    limits
}

/// Upstream `QuotaV1Pod`: terminal pods, and pods past their deletion grace period, are no
/// longer charged for compute resources.
pub fn counts_for_compute(pod: &CachedPod, now: Timestamp) -> bool {
    !pods::is_terminal(pod) && compute_charge_ends(pod).is_none_or(|end| now <= end)
}

/// When a deleting pod stops being charged (its deletion time plus its grace period).
pub(crate) fn compute_charge_ends(pod: &CachedPod) -> Option<Timestamp> {
    let at = pod.metadata.deletion_timestamp.as_ref()?.0;
    let grace = pod.metadata.deletion_grace_period_seconds?;
    Some(
        at.checked_add(k8s_openapi::jiff::SignedDuration::from_secs(grace))
            .unwrap_or(Timestamp::MAX),
    )
}

/// Upstream `PodUsageFunc` with `podComputeUsageHelper`: `count/pods` always; for pods still
/// charged, `pods`, cpu/memory/ephemeral-storage requests (also as bare names) and limits,
/// hugepages, and `requests.<extended resource>`.
pub fn pod_usage(pod: &CachedPod, now: Timestamp) -> ResourceList {
    let mut out = ResourceList::from([(COUNT_PODS.to_string(), Amount::from_int(1))]);
    if !counts_for_compute(pod, now) {
        return out;
    }
    let requests = pod_requests(pod);
    let limits = pod_limits(pod);
    out.insert("pods".into(), Amount::from_int(1));
    for name in ["cpu", "memory", "ephemeral-storage"] {
        if let Some(r) = requests.get(name) {
            out.insert(name.into(), *r);
            out.insert(format!("requests.{name}"), *r);
        }
        if let Some(l) = limits.get(name) {
            out.insert(format!("limits.{name}"), *l);
        }
    }
    for (name, r) in &requests {
        if name.starts_with("hugepages-") {
            out.insert(name.clone(), *r);
            out.insert(format!("requests.{name}"), *r);
        }
        if is_extended_resource(name) {
            out.insert(format!("requests.{name}"), *r);
        }
    }
    out
}

/// Upstream service evaluator `Usage`: one service; NodePort and LoadBalancer services
/// charge a node port per port (only ports with an explicit nodePort when a load balancer
/// does not allocate them), and LoadBalancers one load balancer.
pub fn service_usage(svc: &Service) -> ResourceList {
    let spec = svc.spec.clone().unwrap_or_default();
    let ports = spec.ports.unwrap_or_default();
    let mut node_ports = 0;
    let mut load_balancers = 0;
    match spec.type_.as_deref() {
        Some("NodePort") => node_ports = ports.len(),
        Some("LoadBalancer") => {
            node_ports = if spec.allocate_load_balancer_node_ports == Some(false) {
                ports
                    .iter()
                    .filter(|p| p.node_port.is_some_and(|n| n != 0))
                    .count()
            } else {
                ports.len()
            };
            load_balancers = 1;
        }
        _ => {}
    }
    let n = |v: usize| Amount::from_int(i64::try_from(v).unwrap_or(i64::MAX));
    ResourceList::from([
        (COUNT_SERVICES.to_string(), Amount::from_int(1)),
        ("services".to_string(), Amount::from_int(1)),
        ("services.nodeports".to_string(), n(node_ports)),
        ("services.loadbalancers".to_string(), n(load_balancers)),
    ])
}

/// Upstream claim evaluator `Usage`: one claim, its storage request rounded up to whole
/// bytes (or the larger allocated size after a failed expansion), also per storage class.
pub fn pvc_usage(pvc: &PersistentVolumeClaim) -> ResourceList {
    let mut out = ResourceList::from([
        (COUNT_PVCS.to_string(), Amount::from_int(1)),
        ("persistentvolumeclaims".to_string(), Amount::from_int(1)),
    ]);
    let class = pvc
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(BETA_STORAGE_CLASS_ANNOTATION).cloned())
        .or_else(|| pvc.spec.as_ref().and_then(|s| s.storage_class_name.clone()))
        .unwrap_or_default();
    if !class.is_empty() {
        out.insert(
            format!("{class}{STORAGE_CLASS_SUFFIX}persistentvolumeclaims"),
            Amount::from_int(1),
        );
    }
    let requested = pvc
        .spec
        .as_ref()
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .and_then(Amount::of)
        .map(Amount::round_up);
    let allocated = pvc
        .status
        .as_ref()
        .and_then(|s| s.allocated_resources.as_ref())
        .and_then(|r| r.get("storage"))
        .and_then(Amount::of)
        .map(Amount::round_up);
    let storage = match (requested, allocated) {
        (Some(r), Some(a)) if a > r => Some(a),
        (r, _) => r,
    };
    if let Some(s) = storage {
        out.insert("requests.storage".into(), s);
        if !class.is_empty() {
            out.insert(format!("{class}{STORAGE_CLASS_SUFFIX}requests.storage"), s);
        }
    }
    out
}

/// Upstream `qos.GetPodQOS(pod) == BestEffort`: the reported class, or no container (init
/// containers included) with a positive cpu or memory request or limit.
pub fn is_best_effort(pod: &CachedPod) -> bool {
    if let Some(class) = pod.status.as_ref().and_then(|s| s.qos_class.as_deref()) {
        if !class.is_empty() {
            return class == "BestEffort";
        }
    }
    let Some(spec) = pod.spec.as_ref() else {
        return true;
    };
    let positive = |m: Option<&BTreeMap<String, Quantity>>| {
        m.into_iter().flatten().any(|(k, q)| {
            (k == "cpu" || k == "memory") && Amount::of(q).is_some_and(|a| a.nanos() > 0)
        })
    };
    !spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .filter_map(|c| c.resources.as_ref())
        .any(|r| positive(r.requests.as_ref()) || positive(r.limits.as_ref()))
}

/// Upstream `IsTerminating`: the pod has an `activeDeadlineSeconds`.
pub fn is_terminating(pod: &CachedPod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.active_deadline_seconds)
        .is_some_and(|s| s >= 0)
}

fn cross_namespace(terms: &[PodAffinityTerm]) -> bool {
    terms.iter().any(|t| {
        t.namespaces.as_ref().is_some_and(|n| !n.is_empty()) || t.namespace_selector.is_some()
    })
}

fn cross_namespace_weighted(terms: &[WeightedPodAffinityTerm]) -> bool {
    terms
        .iter()
        .any(|t| cross_namespace(std::slice::from_ref(&t.pod_affinity_term)))
}

/// Upstream `usesCrossNamespacePodAffinity`: some (anti-)affinity term names namespaces or
/// a namespace selector.
pub fn uses_cross_namespace_pod_affinity(pod: &CachedPod) -> bool {
    let Some(aff) = pod.spec.as_ref().and_then(|s| s.affinity.as_ref()) else {
        return false;
    };
    let a = aff.pod_affinity.as_ref().is_some_and(|a| {
        cross_namespace(
            a.required_during_scheduling_ignored_during_execution
                .as_deref()
                .unwrap_or_default(),
        ) || cross_namespace_weighted(
            a.preferred_during_scheduling_ignored_during_execution
                .as_deref()
                .unwrap_or_default(),
        )
    });
    let anti = aff.pod_anti_affinity.as_ref().is_some_and(|a| {
        cross_namespace(
            a.required_during_scheduling_ignored_during_execution
                .as_deref()
                .unwrap_or_default(),
        ) || cross_namespace_weighted(
            a.preferred_during_scheduling_ignored_during_execution
                .as_deref()
                .unwrap_or_default(),
        )
    });
    a || anti
}
