//! Compute resources as integers, and a pod's effective requests (upstream `PodRequests`).
//!
//! A pod requests the sum of its app containers and sidecars (restartable init containers),
//! or the largest single init-container phase if that is bigger, plus its overhead.

use crate::quantity;
use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::BTreeMap;

/// `cpu`.
pub const CPU: &str = "cpu";
/// `memory`.
pub const MEMORY: &str = "memory";
/// `ephemeral-storage`.
pub const EPHEMERAL_STORAGE: &str = "ephemeral-storage";
/// `pods`.
pub const PODS: &str = "pods";

/// Upstream `schedutil.DefaultMilliCPURequest`: what scoring assumes for a container without a cpu request.
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Upstream `schedutil.DefaultMemoryRequest` (200 MiB): the same for memory.
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// A resource list as integers: cpu in millicores, everything else in whole units.
pub type ResourceAmounts = BTreeMap<String, i64>;

/// Upstream `schedutil.IsScalarResourceName`: extended (`example.com/gpu`), hugepages,
/// prefixed native (`kubernetes.io/…`) and attachable-volume resources.
pub fn is_scalar_resource_name(name: &str) -> bool {
    name.starts_with("hugepages-")
        || name.starts_with("attachable-volumes-")
        || (name.contains('/') && !name.starts_with("requests."))
}

/// Compute resources of a node or pod (upstream `framework.Resource`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// CPU in millicores.
    pub milli_cpu: i64,
    /// Memory in bytes.
    pub memory: i64,
    /// Ephemeral storage in bytes.
    pub ephemeral_storage: i64,
    /// How many pods fit (the `pods` resource of node allocatable).
    pub allowed_pod_number: i64,
    /// Scalar resources (extended resources, hugepages, …).
    pub scalar: BTreeMap<String, i64>,
}

impl Resources {
    /// Reads a typed `ResourceList` (`status.allocatable`, `spec.overhead`, …).
    pub fn from_list(list: &BTreeMap<String, Quantity>) -> Self {
        let mut r = Resources::default();
        r.add_amounts(&amounts(Some(list)));
        r
    }

    /// Adds integer amounts (cpu in millicores).
    pub fn add_amounts(&mut self, list: &ResourceAmounts) {
        for (name, v) in list {
            match name.as_str() {
                CPU => self.milli_cpu = self.milli_cpu.saturating_add(*v),
                MEMORY => self.memory = self.memory.saturating_add(*v),
                EPHEMERAL_STORAGE => {
                    self.ephemeral_storage = self.ephemeral_storage.saturating_add(*v)
                }
                PODS => self.allowed_pod_number = self.allowed_pod_number.saturating_add(*v),
                n if is_scalar_resource_name(n) => {
                    let e = self.scalar.entry(n.to_string()).or_default();
                    *e = e.saturating_add(*v);
                }
                _ => {}
            }
        }
    }

    /// Adds another set of resources (pod count excluded).
    pub fn add(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.saturating_add(other.milli_cpu);
        self.memory = self.memory.saturating_add(other.memory);
        self.ephemeral_storage = self
            .ephemeral_storage
            .saturating_add(other.ephemeral_storage);
        for (k, v) in &other.scalar {
            let e = self.scalar.entry(k.clone()).or_default();
            *e = e.saturating_add(*v);
        }
    }

    /// Subtracts another set of resources (pod count excluded).
    pub fn sub(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.saturating_sub(other.milli_cpu);
        self.memory = self.memory.saturating_sub(other.memory);
        self.ephemeral_storage = self
            .ephemeral_storage
            .saturating_sub(other.ephemeral_storage);
        for (k, v) in &other.scalar {
            let e = self.scalar.entry(k.clone()).or_default();
            *e = e.saturating_sub(*v);
        }
    }

    /// The amount of one named resource (`cpu` in millicores).
    pub fn get(&self, name: &str) -> i64 {
        match name {
            CPU => self.milli_cpu,
            MEMORY => self.memory,
            EPHEMERAL_STORAGE => self.ephemeral_storage,
            PODS => self.allowed_pod_number,
            n => self.scalar.get(n).copied().unwrap_or(0),
        }
    }

    /// True when nothing is requested (upstream's "best effort" shortcut in Fit).
    pub fn is_zero(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.scalar.is_empty()
    }
}

/// Converts a typed resource list to integer amounts: cpu via `MilliValue`, the rest via `Value`.
pub fn amounts(list: Option<&BTreeMap<String, Quantity>>) -> ResourceAmounts {
    list.into_iter()
        .flatten()
        .map(|(name, q)| {
            let v = if name == CPU {
                quantity::milli_value(&q.0)
            } else {
                quantity::value(&q.0)
            };
            (name.clone(), v)
        })
        .collect()
}

fn add_into(into: &mut ResourceAmounts, from: &ResourceAmounts) {
    for (k, v) in from {
        let e = into.entry(k.clone()).or_default();
        *e = e.saturating_add(*v);
    }
}

fn max_into(into: &mut ResourceAmounts, from: &ResourceAmounts) {
    for (k, v) in from {
        let e = into.entry(k.clone()).or_insert(*v);
        *e = (*e).max(*v);
    }
}

fn is_restartable(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

fn container_requests(c: &Container, non_missing: Option<&ResourceAmounts>) -> ResourceAmounts {
    let mut reqs = amounts(c.resources.as_ref().and_then(|r| r.requests.as_ref()));
    if let Some(defaults) = non_missing {
        for (k, v) in defaults {
            reqs.entry(k.clone()).or_insert(*v);
        }
    }
    reqs
}

/// Upstream `resourcehelper.PodRequests`: containers + sidecars, the init-container maximum,
/// plus overhead. `non_missing` fills requests a container does not set at all (the
/// scoring defaults); an explicit zero is kept.
pub fn pod_requests(pod: &Pod, non_missing: Option<&ResourceAmounts>) -> ResourceAmounts {
    let Some(spec) = pod.spec.as_ref() else {
        return ResourceAmounts::new();
    };
    let mut reqs = ResourceAmounts::new();
    for c in &spec.containers {
        add_into(&mut reqs, &container_requests(c, non_missing));
    }
    let mut sidecars = ResourceAmounts::new();
    let mut init_max = ResourceAmounts::new();
    for c in spec.init_containers.iter().flatten() {
        let own = container_requests(c, non_missing);
        let phase = if is_restartable(c) {
            add_into(&mut reqs, &own);
            add_into(&mut sidecars, &own);
            sidecars.clone()
        } else {
            let mut combined = own;
            add_into(&mut combined, &sidecars);
            combined
        };
        max_into(&mut init_max, &phase);
    }
    max_into(&mut reqs, &init_max);
    add_into(&mut reqs, &amounts(spec.overhead.as_ref()));
    reqs
}

/// The scoring defaults used in place of missing cpu/memory requests.
pub fn non_missing_defaults() -> ResourceAmounts {
    ResourceAmounts::from([
        (CPU.to_string(), DEFAULT_MILLI_CPU_REQUEST),
        (MEMORY.to_string(), DEFAULT_MEMORY_REQUEST),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::pod;

    fn req(pod: &Pod) -> Resources {
        let mut r = Resources::default();
        r.add_amounts(&pod_requests(pod, None));
        r
    }

    #[test]
    fn sums_app_containers_and_adds_overhead() {
        let p = pod("p")
            .cpu("100m")
            .memory("64Mi")
            .container("b", &[("cpu", "250m"), ("example.com/gpu", "1")])
            .overhead(&[("cpu", "10m")])
            .build();
        let r = req(&p);
        assert_eq!(
            r,
            Resources {
                milli_cpu: 360,
                memory: 64 << 20,
                scalar: BTreeMap::from([("example.com/gpu".to_string(), 1)]),
                ..Default::default()
            }
        );
    }

    #[test]
    fn init_containers_take_the_maximum_and_sidecars_accumulate() {
        // App 100m; init A 500m runs alone; sidecar S 200m runs alongside later init B 400m.
        let p = pod("p")
            .cpu("100m")
            .init_container("a", &[("cpu", "500m")])
            .sidecar("s", &[("cpu", "200m")])
            .init_container("b", &[("cpu", "400m")])
            .build();
        // phases: a=500, s=200 (cumulative sidecars), b=400+200=600; app+sidecar = 300.
        assert_eq!(req(&p).milli_cpu, 600);

        let small = pod("q")
            .cpu("1")
            .sidecar("s", &[("cpu", "200m")])
            .init_container("b", &[("cpu", "100m")])
            .build();
        assert_eq!(req(&small).milli_cpu, 1200);
    }

    #[test]
    fn non_missing_defaults_fill_only_absent_requests() {
        let none = pod("p").build();
        let defaults = non_missing_defaults();
        let r = pod_requests(&none, Some(&defaults));
        assert_eq!(r.get(CPU), Some(&DEFAULT_MILLI_CPU_REQUEST));
        assert_eq!(r.get(MEMORY), Some(&DEFAULT_MEMORY_REQUEST));

        let zero = pod("z").cpu("0").build();
        let r = pod_requests(&zero, Some(&defaults));
        assert_eq!(r.get(CPU), Some(&0));
    }

    #[test]
    fn scalar_resource_names() {
        for (name, want) in [
            ("example.com/gpu", true),
            ("nvidia.com/gpu", true),
            ("hugepages-2Mi", true),
            ("kubernetes.io/batch-cpu", true),
            ("requests.example.com/x", false),
            ("cpu", false),
            ("storage", false),
        ] {
            assert_eq!(is_scalar_resource_name(name), want, "{name}");
        }
    }
}
