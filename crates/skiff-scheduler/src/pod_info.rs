//! A pod with everything the plugins read from it parsed once (upstream `framework.PodInfo`).

use crate::labels::{Labels, Selector};
use crate::resource::{self, Resources};
use k8s_openapi::api::core::v1::{Pod, PodAffinityTerm, Toleration};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::jiff::Timestamp;
use std::collections::BTreeSet;

/// Priority of the built-in `system-cluster-critical` class (upstream `scheduling.SystemCriticalPriority`).
pub const SYSTEM_CLUSTER_CRITICAL: i32 = 2_000_000_000;
/// Priority of the built-in `system-node-critical` class.
pub const SYSTEM_NODE_CRITICAL: i32 = SYSTEM_CLUSTER_CRITICAL + 1000;

/// One host port a pod binds (upstream `v1.ContainerPort` with `hostPort > 0`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HostPort {
    /// Host IP, `0.0.0.0` when unset.
    pub ip: String,
    /// Protocol, `TCP` when unset.
    pub protocol: String,
    /// The host port.
    pub port: i32,
}

/// A parsed pod (anti-)affinity term (upstream `framework.AffinityTerm`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AffinityTerm {
    /// Namespaces named by the term (the owning pod's own when neither list nor selector is set).
    pub namespaces: BTreeSet<String>,
    /// Namespaces selected by labels (`Nothing` when unset).
    pub namespace_selector: Selector,
    /// Which pods the term is about.
    pub selector: Selector,
    /// The node label whose value defines a topology domain.
    pub topology_key: String,
}

impl AffinityTerm {
    fn parse(owner_ns: &str, term: &PodAffinityTerm) -> Result<Self, String> {
        let selector = Selector::from_label_selector(term.label_selector.as_ref())?;
        let namespace_selector = Selector::from_label_selector(term.namespace_selector.as_ref())?;
        let listed: BTreeSet<String> = term.namespaces.iter().flatten().cloned().collect();
        let namespaces = if listed.is_empty() && term.namespace_selector.is_none() {
            BTreeSet::from([owner_ns.to_string()])
        } else {
            listed
        };
        Ok(AffinityTerm {
            namespaces,
            namespace_selector,
            selector,
            topology_key: term.topology_key.clone(),
        })
    }

    /// Upstream `AffinityTerm.Matches`: the pod's namespace is named or selected, and its labels match.
    pub fn matches(&self, pod: &PodInfo, ns_labels: &Labels) -> bool {
        (self.namespaces.contains(&pod.namespace) || self.namespace_selector.matches(ns_labels))
            && self.selector.matches(&pod.labels)
    }
}

/// An affinity term with its preference weight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightedAffinityTerm {
    /// The term.
    pub term: AffinityTerm,
    /// Its weight (1–100).
    pub weight: i32,
}

/// A pod and the parts of it the plugins need, computed once.
#[derive(Clone, Debug)]
pub struct PodInfo {
    /// The pod object.
    pub pod: Pod,
    /// `metadata.namespace` (`default` when unset).
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.labels`.
    pub labels: Labels,
    /// Effective priority (see [`pod_priority`]).
    pub priority: i32,
    /// Requests as the filters see them (upstream `PodRequests`, overhead included).
    pub requests: Resources,
    /// Requests with scoring defaults for missing cpu/memory (upstream `NonZeroRequested`).
    pub non_zero_requests: Resources,
    /// Host ports of app containers and sidecars.
    pub host_ports: Vec<HostPort>,
    /// Required pod-affinity terms.
    pub required_affinity_terms: Vec<AffinityTerm>,
    /// Required pod-anti-affinity terms.
    pub required_anti_affinity_terms: Vec<AffinityTerm>,
    /// Preferred pod-affinity terms.
    pub preferred_affinity_terms: Vec<WeightedAffinityTerm>,
    /// Preferred pod-anti-affinity terms.
    pub preferred_anti_affinity_terms: Vec<WeightedAffinityTerm>,
    /// Why some affinity terms could not be parsed (those term lists are then empty).
    pub parse_error: Option<String>,
}

impl PodInfo {
    /// Parses a pod; its priority is `spec.priority` or 0.
    pub fn new(pod: Pod) -> Self {
        let priority = pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0);
        Self::with_priority(pod, priority)
    }

    /// Parses a pod with an already resolved priority.
    pub fn with_priority(pod: Pod, priority: i32) -> Self {
        let namespace = pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        let mut requests = Resources::default();
        requests.add_amounts(&resource::pod_requests(&pod, None));
        let mut non_zero_requests = Resources::default();
        non_zero_requests.add_amounts(&resource::pod_requests(
            &pod,
            Some(&resource::non_missing_defaults()),
        ));
        let mut errors = Vec::new();
        let affinity = pod.spec.as_ref().and_then(|s| s.affinity.as_ref());
        let pa = affinity.and_then(|a| a.pod_affinity.as_ref());
        let paa = affinity.and_then(|a| a.pod_anti_affinity.as_ref());
        let required = |terms: Option<&Vec<PodAffinityTerm>>, errors: &mut Vec<String>| {
            let parsed: Result<Vec<_>, String> = terms
                .into_iter()
                .flatten()
                .map(|t| AffinityTerm::parse(&namespace, t))
                .collect();
            parsed.unwrap_or_else(|e| {
                errors.push(e);
                Vec::new()
            })
        };
        let required_affinity_terms = required(
            pa.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            }),
            &mut errors,
        );
        let required_anti_affinity_terms = required(
            paa.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            }),
            &mut errors,
        );
        let preferred =
            |terms: Option<&Vec<k8s_openapi::api::core::v1::WeightedPodAffinityTerm>>,
             errors: &mut Vec<String>| {
                let parsed: Result<Vec<_>, String> = terms
                    .into_iter()
                    .flatten()
                    .map(|t| {
                        AffinityTerm::parse(&namespace, &t.pod_affinity_term).map(|term| {
                            WeightedAffinityTerm {
                                term,
                                weight: t.weight,
                            }
                        })
                    })
                    .collect();
                parsed.unwrap_or_else(|e| {
                    errors.push(e);
                    Vec::new()
                })
            };
        let preferred_affinity_terms = preferred(
            pa.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            }),
            &mut errors,
        );
        let preferred_anti_affinity_terms = preferred(
            paa.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            }),
            &mut errors,
        );
        PodInfo {
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            labels: pod.metadata.labels.clone().unwrap_or_default(),
            host_ports: host_ports(&pod),
            namespace,
            priority,
            requests,
            non_zero_requests,
            required_affinity_terms,
            required_anti_affinity_terms,
            preferred_affinity_terms,
            preferred_anti_affinity_terms,
            parse_error: (!errors.is_empty()).then(|| errors.join("; ")),
            pod,
        }
    }

    /// `namespace/name`, the key the queue and the snapshot use.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Whether [`PodInfo::key`] is `key`, without building it.
    pub fn has_key(&self, key: &str) -> bool {
        key.len() == self.namespace.len() + 1 + self.name.len()
            && key.starts_with(self.namespace.as_str())
            && key.as_bytes()[self.namespace.len()] == b'/'
            && key.ends_with(self.name.as_str())
    }

    /// The pod's tolerations.
    pub fn tolerations(&self) -> &[Toleration] {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.as_deref())
            .unwrap_or(&[])
    }

    /// Whether the pod is being deleted (`metadata.deletionTimestamp` set).
    pub fn terminating(&self) -> bool {
        self.pod.metadata.deletion_timestamp.is_some()
    }

    /// `status.startTime`, if the pod has started.
    pub fn start_time(&self) -> Option<Timestamp> {
        self.pod.status.as_ref()?.start_time.as_ref().map(|t| t.0)
    }

    /// `status.nominatedNodeName`, if preemption nominated a node for the pod.
    pub fn nominated_node_name(&self) -> Option<&str> {
        self.pod
            .status
            .as_ref()?
            .nominated_node_name
            .as_deref()
            .filter(|n| !n.is_empty())
    }

    /// Whether the pod has any pod affinity or anti-affinity (upstream `podWithAffinity`).
    pub fn has_affinity(&self) -> bool {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.affinity.as_ref())
            .is_some_and(|a| a.pod_affinity.is_some() || a.pod_anti_affinity.is_some())
    }

    /// `spec.nodeName`, if set.
    pub fn node_name(&self) -> Option<&str> {
        self.pod
            .spec
            .as_ref()?
            .node_name
            .as_deref()
            .filter(|n| !n.is_empty())
    }

    /// Whether the pod must never preempt others (`preemptionPolicy: Never`).
    pub fn preemption_never(&self) -> bool {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.preemption_policy.as_deref())
            == Some("Never")
    }
}

/// Upstream `schedutil.GetHostPorts`: ports with `hostPort > 0` of app containers and of
/// init containers with `restartPolicy: Always`.
fn host_ports(pod: &Pod) -> Vec<HostPort> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    sidecars
        .chain(spec.containers.iter())
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let port = p.host_port.filter(|hp| *hp > 0)?;
            Some(HostPort {
                ip: p
                    .host_ip
                    .clone()
                    .filter(|ip| !ip.is_empty())
                    .unwrap_or_else(|| "0.0.0.0".to_string()),
                protocol: p
                    .protocol
                    .clone()
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "TCP".to_string()),
                port,
            })
        })
        .collect()
}

/// A pod's effective priority, like the `Priority` admission plugin would set it:
/// `spec.priority` if present, else the value of `spec.priorityClassName` (including the
/// two built-in system classes), else the global-default class, else 0.
pub fn pod_priority(pod: &Pod, classes: &[PriorityClass]) -> i32 {
    let spec = pod.spec.as_ref();
    if let Some(p) = spec.and_then(|s| s.priority) {
        return p;
    }
    match spec.and_then(|s| s.priority_class_name.as_deref()) {
        Some("system-node-critical") => return SYSTEM_NODE_CRITICAL,
        Some("system-cluster-critical") => return SYSTEM_CLUSTER_CRITICAL,
        Some(name) if !name.is_empty() => {
            if let Some(c) = classes
                .iter()
                .find(|c| c.metadata.name.as_deref() == Some(name))
            {
                return c.value;
            }
        }
        _ => {}
    }
    classes
        .iter()
        .find(|c| c.global_default == Some(true))
        .map(|c| c.value)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn class(name: &str, value: i32, global: bool) -> PriorityClass {
        PriorityClass {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            value,
            global_default: Some(global),
            ..Default::default()
        }
    }

    #[test]
    fn priority_resolution_follows_the_admission_plugin() {
        let classes = [class("high", 1000, false), class("base", 10, true)];
        let with_class = |c: &str| {
            let mut p = pod("p").build();
            if let Some(s) = p.spec.as_mut() {
                s.priority_class_name = Some(c.into());
            }
            p
        };
        assert_eq!(pod_priority(&pod("p").priority(7).build(), &classes), 7);
        assert_eq!(pod_priority(&with_class("high"), &classes), 1000);
        assert_eq!(pod_priority(&with_class("missing"), &classes), 10);
        assert_eq!(pod_priority(&pod("p").build(), &classes), 10);
        assert_eq!(pod_priority(&pod("p").build(), &[]), 0);
        assert_eq!(
            pod_priority(&with_class("system-node-critical"), &[]),
            SYSTEM_NODE_CRITICAL
        );
    }

    #[test]
    fn host_ports_default_ip_and_protocol_and_skip_zero() {
        let p = pod("p").host_port(8080).container_port(9090).build();
        assert_eq!(
            PodInfo::new(p).host_ports,
            vec![HostPort {
                ip: "0.0.0.0".into(),
                protocol: "TCP".into(),
                port: 8080
            }]
        );
    }

    #[test]
    fn affinity_terms_default_to_the_pods_namespace() {
        let p = pod("p")
            .namespace("team")
            .anti_affinity(&[("app", "web")], "kubernetes.io/hostname")
            .build();
        let info = PodInfo::new(p);
        assert_eq!(info.required_anti_affinity_terms.len(), 1);
        assert_eq!(
            info.required_anti_affinity_terms[0].namespaces,
            BTreeSet::from(["team".to_string()])
        );
        assert!(info.parse_error.is_none());
        assert!(info.has_affinity());
    }
}
