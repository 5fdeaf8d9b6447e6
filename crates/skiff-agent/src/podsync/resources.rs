//! PURE: a container's requests and limits as the Linux cgroup settings CRI takes, the way the
//! kubelet computes them (`milliCPUToShares`, `milliCPUToQuota`).
//!
//! ```
//! use k8s_openapi::api::core::v1::{Container, ResourceRequirements};
//! use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
//! use skiff_agent::podsync::resources::linux_resources;
//! let c = Container {
//!     resources: Some(ResourceRequirements {
//!         limits: Some([("cpu".to_string(), Quantity("500m".into())), ("memory".to_string(), Quantity("64Mi".into()))].into()),
//!         ..Default::default()
//!     }),
//!     ..Default::default()
//! };
//! let r = linux_resources(&c);
//! assert_eq!((r.cpu_quota, r.cpu_period, r.memory_limit_in_bytes), (50_000, 100_000, 64 << 20));
//! ```

use k8s_cri::v1::LinuxContainerResources;
use k8s_openapi::api::core::v1::Container;
use skiff_api::pod_resources::{container_amount, milli, Side};

/// The CFS period the kubelet uses, µs.
pub const CPU_PERIOD: i64 = 100_000;
/// The fewest CPU shares a cgroup gets (upstream `MinShares`).
pub const MIN_SHARES: i64 = 2;
const MAX_SHARES: i64 = 262_144;
const MIN_QUOTA: i64 = 1_000;

/// Upstream `MilliCPUToShares`: 1024 shares per CPU requested, within [2, 262144].
pub fn shares(milli_cpu: i64) -> i64 {
    (milli_cpu.saturating_mul(1024) / 1000).clamp(MIN_SHARES, MAX_SHARES)
}

/// Upstream `MilliCPUToQuota` for [`CPU_PERIOD`]: the CFS quota in µs, at least 1 ms.
pub fn quota(milli_cpu: i64) -> i64 {
    (milli_cpu.saturating_mul(CPU_PERIOD) / 1000).max(MIN_QUOTA)
}

/// The cgroup settings for `c`: CPU shares from the request (a limit alone counts as the
/// request, like API defaulting), a CFS quota from the CPU limit, the memory limit in bytes.
pub fn linux_resources(c: &Container) -> LinuxContainerResources {
    let cpu_request = container_amount(c, Side::Requests, "cpu");
    let cpu_shares = cpu_request.map_or(MIN_SHARES, |n| shares(milli(n)));
    let (cpu_quota, cpu_period) = match container_amount(c, Side::Limits, "cpu") {
        Some(n) => (quota(milli(n)), CPU_PERIOD),
        None => (0, 0),
    };
    let memory_limit_in_bytes = container_amount(c, Side::Limits, "memory")
        .map(|n| i64::try_from(n / 1_000_000_000).unwrap_or(i64::MAX))
        .unwrap_or(0);
    LinuxContainerResources {
        cpu_period,
        cpu_quota,
        cpu_shares,
        memory_limit_in_bytes,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ResourceRequirements;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    fn container(requests: &[(&str, &str)], limits: &[(&str, &str)]) -> Container {
        let list = |l: &[(&str, &str)]| {
            (!l.is_empty()).then(|| {
                l.iter()
                    .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                    .collect()
            })
        };
        Container {
            resources: Some(ResourceRequirements {
                requests: list(requests),
                limits: list(limits),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn best_effort_gets_minimal_shares_and_no_limits() {
        let r = linux_resources(&Container::default());
        assert_eq!(
            (r.cpu_shares, r.cpu_quota, r.memory_limit_in_bytes),
            (2, 0, 0)
        );
    }

    #[test]
    fn requests_and_limits_map_like_the_kubelet() {
        let r = linux_resources(&container(
            &[("cpu", "250m")],
            &[("cpu", "1"), ("memory", "128Mi")],
        ));
        assert_eq!(r.cpu_shares, 256);
        assert_eq!((r.cpu_quota, r.cpu_period), (100_000, CPU_PERIOD));
        assert_eq!(r.memory_limit_in_bytes, 128 << 20);
        // A limit alone is the request too; tiny values hit the floors.
        let r = linux_resources(&container(&[], &[("cpu", "1m")]));
        assert_eq!((r.cpu_shares, r.cpu_quota), (2, 1_000));
        let r = linux_resources(&container(&[("cpu", "2")], &[]));
        assert_eq!((r.cpu_shares, r.cpu_quota), (2048, 0));
    }
}
