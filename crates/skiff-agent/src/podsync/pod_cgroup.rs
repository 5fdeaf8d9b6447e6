//! PURE: the cgroups the kubelet keeps for pods (cgroupfs driver, `--cgroups-per-qos`), as
//! paths relative to the cgroup mount and the settings written into them:
//!
//! - `<root>/kubepods` holds every pod, limited to the node's allocatable CPU and memory
//!   (upstream's node-allocatable enforcement for `pods`);
//! - `<root>/kubepods/burstable` and `<root>/kubepods/besteffort` hold the pods of those QoS
//!   classes (Guaranteed pods sit right under `kubepods`); BestEffort gets the minimum CPU
//!   shares, Burstable the sum of its pods' CPU requests;
//! - `…/pod<uid>` is the pod's own cgroup, the `cgroup_parent` of its sandbox, so every
//!   container of the pod runs inside it. Its settings are upstream's `ResourceConfigForPod`:
//!   CPU shares from the pod's requests, a CFS quota and a memory limit from its limits when
//!   every container sets one, the pod overhead included.
//!
//! ```
//! use k8s_openapi::api::core::v1::Pod;
//! use skiff_agent::podsync::pod_cgroup::pod_cgroup;
//! let pod: Pod = serde_json::from_value(serde_json::json!({
//!     "metadata": {"uid": "1234"},
//!     "spec": {"containers": [{"name": "a", "image": "x",
//!         "resources": {"requests": {"cpu": "250m"}, "limits": {"memory": "64Mi"}}}]},
//! })).unwrap();
//! let cg = pod_cgroup("/", &pod);
//! assert_eq!(cg.path, "/kubepods/burstable/pod1234");
//! assert_eq!((cg.settings.cpu_shares, cg.settings.cpu_quota), (256, None));
//! assert_eq!(cg.settings.memory_limit, Some(64 << 20));
//! ```

use super::resources::{quota, shares, MIN_SHARES};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use skiff_api::pod_resources::{every_container_limits, milli, pod_total, whole, Side};
use skiff_api::qos;

/// What is written into one cgroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupSettings {
    /// `cpu.shares` (cgroup v1; converted to `cpu.weight` on v2).
    pub cpu_shares: i64,
    /// The CFS quota in µs per [`CPU_PERIOD`](super::resources::CPU_PERIOD); `None` is
    /// unlimited.
    pub cpu_quota: Option<i64>,
    /// The memory limit in bytes; `None` is unlimited.
    pub memory_limit: Option<i64>,
}

/// A pod's cgroup: where, and its settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodCgroup {
    /// The path below the cgroup mount, `/kubepods/burstable/pod<uid>`.
    pub path: String,
    /// Its limits.
    pub settings: CgroupSettings,
}

/// `<root>/kubepods`, the parent of every pod cgroup (`root` is `--cgroup-root`, `/` by
/// default).
pub fn kubepods(root: &str) -> String {
    format!("{}/kubepods", root.trim_end_matches('/'))
}

/// The cgroup of the pods of a QoS class: `kubepods` itself for Guaranteed ones.
pub fn qos_path(root: &str, class: &str) -> String {
    match class {
        qos::GUARANTEED => kubepods(root),
        qos::BEST_EFFORT => format!("{}/besteffort", kubepods(root)),
        _ => format!("{}/burstable", kubepods(root)),
    }
}

/// The pod's QoS class: the one the API server recorded, or computed from its spec.
pub fn qos_class(pod: &Pod) -> &'static str {
    match pod.status.as_ref().and_then(|s| s.qos_class.as_deref()) {
        Some(qos::GUARANTEED) => qos::GUARANTEED,
        Some(qos::BEST_EFFORT) => qos::BEST_EFFORT,
        Some(qos::BURSTABLE) => qos::BURSTABLE,
        _ => pod
            .spec
            .as_ref()
            .map_or(qos::BEST_EFFORT, |s| qos::qos_class(s)),
    }
}

/// The path of the cgroup of the pod with `uid` and QoS `class`.
pub fn pod_path(root: &str, class: &str, uid: &str) -> String {
    format!("{}/pod{uid}", qos_path(root, class))
}

/// The pod's cgroup, like upstream's `ResourceConfigForPod` (CFS quota enforced).
pub fn pod_cgroup(root: &str, pod: &Pod) -> PodCgroup {
    let class = qos_class(pod);
    let path = pod_path(root, class, &pod.uid().unwrap_or_default());
    let default = Default::default();
    let spec = pod.spec.as_ref().unwrap_or(&default);
    let settings = if class == qos::BEST_EFFORT {
        CgroupSettings {
            cpu_shares: MIN_SHARES,
            cpu_quota: None,
            memory_limit: None,
        }
    } else {
        let cpu_request = pod_total(spec, Side::Requests, "cpu").map_or(0, milli);
        let cpu_limit = pod_total(spec, Side::Limits, "cpu").map_or(0, milli);
        let memory_limit = pod_total(spec, Side::Limits, "memory").map_or(0, whole);
        let guaranteed = class == qos::GUARANTEED;
        CgroupSettings {
            cpu_shares: shares(cpu_request),
            cpu_quota: (guaranteed || every_container_limits(spec, "cpu"))
                .then(|| quota(cpu_limit)),
            memory_limit: (guaranteed || every_container_limits(spec, "memory"))
                .then_some(memory_limit),
        }
    };
    PodCgroup { path, settings }
}

/// The settings of `kubepods`: the node's allocatable CPU as shares and its allocatable
/// memory as the limit (upstream: capacity minus the reservations).
pub fn kubepods_settings(allocatable_cpu_millis: i64, allocatable_memory: i64) -> CgroupSettings {
    CgroupSettings {
        cpu_shares: shares(allocatable_cpu_millis),
        cpu_quota: None,
        memory_limit: Some(allocatable_memory),
    }
}

/// The settings of the Burstable and BestEffort cgroups given the node's pods: Burstable gets
/// the sum of its running pods' CPU requests as shares, BestEffort the minimum (upstream's
/// `setCPUCgroupConfig`). Pods that finished no longer count.
pub fn qos_settings<'a>(pods: impl IntoIterator<Item = &'a Pod>) -> [(&'static str, i64); 2] {
    let burstable: i64 = pods
        .into_iter()
        .filter(|p| qos_class(p) == qos::BURSTABLE)
        .filter(|p| {
            !matches!(
                p.status.as_ref().and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            )
        })
        .filter_map(|p| pod_total(p.spec.as_ref()?, Side::Requests, "cpu"))
        .map(milli)
        .sum();
    [
        (qos::BURSTABLE, shares(burstable)),
        (qos::BEST_EFFORT, MIN_SHARES),
    ]
}

/// cgroup v2's `cpu.weight` for v1 `cpu.shares` (the runtimes' conversion).
pub fn weight_from_shares(shares: i64) -> i64 {
    if shares <= 0 {
        return 100;
    }
    1 + ((shares - 2) * 9999) / 262_142
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"uid": "u1"}, "spec": spec})).unwrap()
    }

    fn container(requests: serde_json::Value, limits: serde_json::Value) -> serde_json::Value {
        json!({"name": "c", "image": "x", "resources": {"requests": requests, "limits": limits}})
    }

    #[test]
    fn guaranteed_pods_sit_under_kubepods_with_all_limits() {
        let p = pod(json!({
            "containers": [container(json!({"cpu": "500m", "memory": "64Mi"}), json!({"cpu": "500m", "memory": "64Mi"}))],
            "overhead": {"cpu": "100m", "memory": "16Mi"},
        }));
        let cg = pod_cgroup("/", &p);
        assert_eq!(cg.path, "/kubepods/podu1");
        assert_eq!(
            cg.settings,
            CgroupSettings {
                cpu_shares: 614,
                cpu_quota: Some(60_000),
                memory_limit: Some(80 << 20),
            }
        );
    }

    #[test]
    fn burstable_pods_get_limits_only_where_every_container_has_one() {
        let p = pod(json!({"containers": [
            container(json!({"cpu": "100m"}), json!({"cpu": "1", "memory": "32Mi"})),
            container(json!({"cpu": "100m"}), json!({"cpu": "1"})),
        ]}));
        let cg = pod_cgroup("/skiff", &p);
        assert_eq!(cg.path, "/skiff/kubepods/burstable/podu1");
        assert_eq!(cg.settings.cpu_shares, 204);
        assert_eq!(cg.settings.cpu_quota, Some(200_000));
        assert_eq!(cg.settings.memory_limit, None);
    }

    #[test]
    fn best_effort_pods_get_minimal_shares_and_the_recorded_class_wins() {
        let mut p = pod(json!({"containers": [{"name": "c", "image": "x"}]}));
        let cg = pod_cgroup("/", &p);
        assert_eq!(cg.path, "/kubepods/besteffort/podu1");
        assert_eq!(cg.settings.cpu_shares, MIN_SHARES);
        assert_eq!(
            (cg.settings.cpu_quota, cg.settings.memory_limit),
            (None, None)
        );
        p.status = Some(k8s_openapi::api::core::v1::PodStatus {
            qos_class: Some("Burstable".into()),
            ..Default::default()
        });
        assert_eq!(pod_cgroup("/", &p).path, "/kubepods/burstable/podu1");
    }

    #[test]
    fn the_burstable_tier_shares_its_running_pods_requests() {
        let a = pod(json!({"containers": [container(json!({"cpu": "300m"}), json!({}))]}));
        let mut done = a.clone();
        done.status = Some(k8s_openapi::api::core::v1::PodStatus {
            phase: Some("Succeeded".into()),
            ..Default::default()
        });
        let idle = pod(json!({"containers": [{"name": "c", "image": "x"}]}));
        assert_eq!(
            qos_settings([&a, &a, &done, &idle]),
            [("Burstable", 614), ("BestEffort", 2)]
        );
        assert_eq!(qos_settings([]), [("Burstable", 2), ("BestEffort", 2)]);
    }

    #[test]
    fn node_and_naming_helpers() {
        assert_eq!(kubepods("/"), "/kubepods");
        assert_eq!(kubepods_settings(1900, 1 << 30).cpu_shares, 1945);
        assert_eq!(weight_from_shares(2), 1);
        assert_eq!(weight_from_shares(1024), 39);
        assert_eq!(weight_from_shares(262_144), 10_000);
    }
}
