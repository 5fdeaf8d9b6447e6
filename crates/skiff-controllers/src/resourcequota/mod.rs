//! The ResourceQuota planner (upstream `pkg/controller/resourcequota` with the evaluators of
//! `pkg/quota/v1/evaluator/core`): for every resource a quota's `spec.hard` names, sum what the
//! namespace's objects charge, and publish `status.hard` and `status.used`.
//!
//! # Example
//!
//! ```no_run
//! use std::collections::BTreeMap;
//! use k8s_openapi::api::core::v1::ResourceQuota;
//! use skiff_controllers::cached_pod::CachedPod;
//! use skiff_controllers::resourcequota::{plan, Observed, Step};
//!
//! fn sync(quota: &ResourceQuota, pods: &[CachedPod], now: skiff_controllers::Timestamp) {
//!     let obs = Observed {
//!         quota,
//!         pods: pods.iter().collect(),
//!         services: vec![],
//!         persistent_volume_claims: vec![],
//!         config_maps: 3,
//!         secrets: 1,
//!         replication_controllers: 0,
//!         resource_quotas: 1,
//!         object_counts: BTreeMap::from([("count/deployments.apps".to_string(), 2)]),
//!         now,
//!     };
//!     for step in plan(&obs) {
//!         match step {
//!             Step::Status(status) => { /* PUT .../status */ }
//!             Step::RequeueAfter(after) => { /* a deleting pod stops counting then */ }
//!         }
//!     }
//! }
//! ```

pub mod quantity;
pub mod scopes;
pub mod usage;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, ResourceQuota, ResourceQuotaStatus, Service,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::cached_pod::CachedPod;
use crate::Timestamp;
use quantity::Amount;
use usage::ResourceList;

/// Field manager of the status writes (upstream's controller name).
pub const CONTROLLER_NAME: &str = "resourcequota-controller";

/// Everything the quota planner may look at, gathered from caches by the driver.
#[derive(Clone, Debug)]
pub struct Observed<'a> {
    /// The quota being reconciled.
    pub quota: &'a ResourceQuota,
    /// Pods of its namespace (all phases: `count/pods` counts terminal ones too).
    pub pods: Vec<&'a CachedPod>,
    /// Services of its namespace.
    pub services: Vec<&'a Service>,
    /// PersistentVolumeClaims of its namespace.
    pub persistent_volume_claims: Vec<&'a PersistentVolumeClaim>,
    /// How many ConfigMaps the namespace holds (`configmaps`, `count/configmaps`).
    pub config_maps: usize,
    /// How many Secrets (`secrets`, `count/secrets`).
    pub secrets: usize,
    /// How many ReplicationControllers (`replicationcontrollers`, `count/…`).
    pub replication_controllers: usize,
    /// How many ResourceQuotas (`resourcequotas`, `count/resourcequotas`).
    pub resource_quotas: usize,
    /// Object counts of other kinds, keyed by quota resource name (`count/deployments.apps`).
    /// A `count/…` resource neither listed here nor covered above keeps its last `used`.
    pub object_counts: BTreeMap<String, i64>,
    /// The time of this sync.
    pub now: Timestamp,
}

/// One thing the driver must do; the planner never performs it.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Write this status through the status subresource (only planned when it differs).
    Status(Box<ResourceQuotaStatus>),
    /// Sync again after this long (a deleting pod's grace period ends and it stops counting).
    RequeueAfter(Duration),
}

fn object_count(alias: &str, n: usize) -> [(String, Amount); 2] {
    let n = Amount::from_int(i64::try_from(n).unwrap_or(i64::MAX));
    [(alias.to_string(), n), (format!("count/{alias}"), n)]
}

/// Upstream `quota.CalculateUsage`: the usage of every resource of `hard` an evaluator answers
/// for (zero when nothing charges it), objects filtered by the quota's scopes.
pub fn calculate_usage(obs: &Observed<'_>) -> ResourceList {
    let quota = obs.quota;
    let ns = quota.metadata.namespace.as_deref();
    let hard: Vec<String> = quota
        .spec
        .as_ref()
        .and_then(|s| s.hard.as_ref())
        .map(|h| h.keys().cloned().collect())
        .unwrap_or_default();
    let reqs = scopes::requirements(quota);
    let unscoped = reqs.is_empty();
    let mut used = ResourceList::new();
    let mut evaluate = |matches: &dyn Fn(&str) -> bool, items: Vec<ResourceList>| {
        let names: Vec<&String> = hard.iter().filter(|r| matches(r)).collect();
        if names.is_empty() {
            return;
        }
        let mut sum: ResourceList = names.iter().map(|r| ((*r).clone(), Amount::ZERO)).collect();
        for item in &items {
            usage::add_into(&mut sum, item);
        }
        for r in names {
            if let Some(v) = sum.get(r) {
                used.insert(r.clone(), *v);
            }
        }
    };
    let in_ns = |m: &Option<String>| ns.is_none() || m.as_deref() == ns;

    let pods = obs
        .pods
        .iter()
        .filter(|p| in_ns(&p.metadata.namespace))
        .filter(|p| scopes::pod_in_scope(p, &reqs))
        .map(|p| usage::pod_usage(p, obs.now))
        .collect();
    evaluate(&usage::pod_matches, pods);
    let services = obs
        .services
        .iter()
        .filter(|s| unscoped && in_ns(&s.metadata.namespace))
        .map(|s| usage::service_usage(s))
        .collect();
    evaluate(&usage::service_matches, services);
    let claims = obs
        .persistent_volume_claims
        .iter()
        .filter(|c| unscoped && in_ns(&c.metadata.namespace))
        .map(|c| usage::pvc_usage(c))
        .collect();
    evaluate(&usage::pvc_matches, claims);
    for (alias, n) in [
        ("configmaps", obs.config_maps),
        ("secrets", obs.secrets),
        ("replicationcontrollers", obs.replication_controllers),
        ("resourcequotas", obs.resource_quotas),
    ] {
        let counted = if unscoped { n } else { 0 };
        evaluate(
            &|r: &str| r == alias || r == format!("count/{alias}"),
            vec![ResourceList::from(object_count(alias, counted))],
        );
    }
    let covered = |r: &str| {
        usage::pod_matches(r)
            || usage::service_matches(r)
            || usage::pvc_matches(r)
            || [
                "configmaps",
                "secrets",
                "replicationcontrollers",
                "resourcequotas",
            ]
            .iter()
            .any(|a| r == *a || r == format!("count/{a}"))
    };
    for (name, n) in obs.object_counts.iter().filter(|(k, _)| !covered(k)) {
        let n = if unscoped { *n } else { 0 };
        evaluate(
            &|r: &str| r == name,
            vec![ResourceList::from([(name.clone(), Amount::from_int(n))])],
        );
    }
    used
}

/// Upstream `quota.Equals`: same names, same values (formats aside).
fn equal(a: &BTreeMap<String, Quantity>, b: &BTreeMap<String, Quantity>) -> bool {
    a.len() == b.len()
        && a.iter().all(|(k, va)| {
            b.get(k)
                .is_some_and(|vb| match (Amount::of(va), Amount::of(vb)) {
                    (Some(x), Some(y)) => x == y,
                    _ => va == vb,
                })
        })
}

/// Pure: same observation, same steps.
pub fn plan(obs: &Observed<'_>) -> Vec<Step> {
    let quota = obs.quota;
    let hard: BTreeMap<String, Quantity> = quota
        .spec
        .as_ref()
        .and_then(|s| s.hard.as_ref())
        .map(|h| {
            h.iter()
                .map(|(k, v)| (k.clone(), quantity::canonical(v)))
                .collect()
        })
        .unwrap_or_default();
    let old = quota.status.clone().unwrap_or_default();
    // Usage nobody can measure keeps its last value; everything is masked to `hard`.
    let mut used = old.used.clone().unwrap_or_default();
    for (k, v) in calculate_usage(obs) {
        used.insert(k, v.to_quantity());
    }
    used.retain(|k, _| hard.contains_key(k));

    let mut steps = Vec::new();
    let dirty = old.hard.as_ref().is_none_or(|h| !equal(h, &hard))
        || old.used.as_ref().is_none_or(|u| !equal(u, &used));
    if dirty {
        steps.push(Step::Status(Box::new(ResourceQuotaStatus {
            hard: Some(hard.clone()),
            used: Some(used),
        })));
    }
    if hard.keys().any(|k| usage::pod_matches(k)) {
        let reqs = scopes::requirements(quota);
        let next = obs
            .pods
            .iter()
            .filter(|p| p.metadata.namespace == quota.metadata.namespace)
            .filter(|p| scopes::pod_in_scope(p, &reqs) && !crate::pods::is_terminal(p))
            .filter_map(|p| usage::compute_charge_ends(p))
            .filter(|end| *end >= obs.now)
            .min();
        if let Some(end) = next {
            let nanos = crate::pods::nanos(end) - crate::pods::nanos(obs.now) + 1;
            steps.push(Step::RequeueAfter(Duration::from_nanos(
                u64::try_from(nanos).unwrap_or(u64::MAX),
            )));
        }
    }
    steps
}
