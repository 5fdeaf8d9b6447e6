//! The pod builder: `pod("web").cpu("100m").label("app", "web")`.

use super::{opt, resource_list};
use crate::labels::labels;
use k8s_openapi::api::core::v1::{
    Affinity, Container, ContainerPort, NodeAffinity, NodeSelector, NodeSelectorTerm, Pod,
    PodAffinity, PodAffinityTerm, PodAntiAffinity, PodSchedulingGate, PodSpec, PodStatus,
    PreferredSchedulingTerm, ResourceRequirements, Toleration, TopologySpreadConstraint,
    WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;

fn selector(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels(pairs.iter().copied())),
        match_expressions: None,
    }
}

fn container(name: &str, requests: &[(&str, &str)]) -> Container {
    Container {
        name: name.into(),
        resources: (!requests.is_empty()).then(|| ResourceRequirements {
            requests: Some(resource_list(requests)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Starts a pod named `name` in namespace `default` with one empty container.
pub fn pod(name: &str) -> PodBuilder {
    PodBuilder(Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(format!("uid-{name}")),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![container("c0", &[])],
            ..Default::default()
        }),
        status: None,
    })
}

/// Builds a [`Pod`].
#[derive(Clone, Debug)]
pub struct PodBuilder(Pod);

impl PodBuilder {
    fn spec(&mut self) -> &mut PodSpec {
        self.0.spec.get_or_insert_with(Default::default)
    }

    fn status(&mut self) -> &mut PodStatus {
        self.0.status.get_or_insert_with(Default::default)
    }

    fn affinity_mut(&mut self) -> &mut Affinity {
        self.spec().affinity.get_or_insert_with(Default::default)
    }

    /// Sets the namespace.
    pub fn namespace(mut self, ns: &str) -> Self {
        self.0.metadata.namespace = Some(ns.into());
        self
    }

    /// Adds a label.
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.0
            .metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert(k.into(), v.into());
        self
    }

    /// Sets a request on the first container.
    pub fn request(mut self, resource: &str, q: &str) -> Self {
        let spec = self.spec();
        if spec.containers.is_empty() {
            spec.containers.push(container("c0", &[]));
        }
        spec.containers[0]
            .resources
            .get_or_insert_with(Default::default)
            .requests
            .get_or_insert_with(Default::default)
            .insert(resource.into(), Quantity(q.into()));
        self
    }

    /// Requests cpu on the first container.
    pub fn cpu(self, q: &str) -> Self {
        self.request("cpu", q)
    }

    /// Requests memory on the first container.
    pub fn memory(self, q: &str) -> Self {
        self.request("memory", q)
    }

    /// Requests ephemeral storage on the first container.
    pub fn ephemeral(self, q: &str) -> Self {
        self.request("ephemeral-storage", q)
    }

    /// Requests an extended resource on the first container.
    pub fn extended(self, name: &str, q: &str) -> Self {
        self.request(name, q)
    }

    /// Adds another app container with requests.
    pub fn container(mut self, name: &str, requests: &[(&str, &str)]) -> Self {
        self.spec().containers.push(container(name, requests));
        self
    }

    /// Adds an init container with requests.
    pub fn init_container(mut self, name: &str, requests: &[(&str, &str)]) -> Self {
        self.spec()
            .init_containers
            .get_or_insert_with(Default::default)
            .push(container(name, requests));
        self
    }

    /// Adds a sidecar (init container with `restartPolicy: Always`).
    pub fn sidecar(mut self, name: &str, requests: &[(&str, &str)]) -> Self {
        let mut c = container(name, requests);
        c.restart_policy = Some("Always".into());
        self.spec()
            .init_containers
            .get_or_insert_with(Default::default)
            .push(c);
        self
    }

    /// Sets `spec.overhead`.
    pub fn overhead(mut self, pairs: &[(&str, &str)]) -> Self {
        self.spec().overhead = Some(resource_list(pairs));
        self
    }

    /// Sets the first container's image.
    pub fn image(mut self, image: &str) -> Self {
        if let Some(c) = self.spec().containers.first_mut() {
            c.image = Some(image.into());
        }
        self
    }

    fn port(mut self, port: ContainerPort) -> Self {
        if let Some(c) = self.spec().containers.first_mut() {
            c.ports.get_or_insert_with(Default::default).push(port);
        }
        self
    }

    /// Adds a TCP container port bound to the same host port.
    pub fn host_port(self, port: i32) -> Self {
        self.port(ContainerPort {
            container_port: port,
            host_port: Some(port),
            ..Default::default()
        })
    }

    /// Adds a container port without a host port.
    pub fn container_port(self, port: i32) -> Self {
        self.port(ContainerPort {
            container_port: port,
            ..Default::default()
        })
    }

    /// Sets `spec.priority`.
    pub fn priority(mut self, p: i32) -> Self {
        self.spec().priority = Some(p);
        self
    }

    /// Sets `preemptionPolicy: Never`.
    pub fn preemption_never(mut self) -> Self {
        self.spec().preemption_policy = Some("Never".into());
        self
    }

    /// Binds the pod (`spec.nodeName`).
    pub fn node(mut self, name: &str) -> Self {
        self.spec().node_name = Some(name.into());
        self
    }

    /// Sets `status.nominatedNodeName`.
    pub fn nominated(mut self, name: &str) -> Self {
        self.status().nominated_node_name = Some(name.into());
        self
    }

    /// Sets `status.phase`.
    pub fn phase(mut self, phase: &str) -> Self {
        self.status().phase = Some(phase.into());
        self
    }

    /// Sets `status.startTime` to `secs` after the Unix epoch.
    pub fn start_time(mut self, secs: i64) -> Self {
        let t = Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH);
        self.status().start_time = Some(Time(t));
        self
    }

    /// Sets `metadata.deletionTimestamp`.
    pub fn terminating(mut self) -> Self {
        self.0.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        self
    }

    /// Adds a toleration (empty strings mean unset).
    pub fn toleration(mut self, key: &str, op: &str, value: &str, effect: &str) -> Self {
        self.spec()
            .tolerations
            .get_or_insert_with(Default::default)
            .push(Toleration {
                key: opt(key),
                operator: opt(op),
                value: opt(value),
                effect: opt(effect),
                toleration_seconds: None,
            });
        self
    }

    /// Adds a `spec.nodeSelector` entry.
    pub fn node_selector(mut self, k: &str, v: &str) -> Self {
        self.spec()
            .node_selector
            .get_or_insert_with(Default::default)
            .insert(k.into(), v.into());
        self
    }

    /// Sets the required node-affinity terms.
    pub fn required_node_terms(mut self, terms: Vec<NodeSelectorTerm>) -> Self {
        self.affinity_mut()
            .node_affinity
            .get_or_insert_with(NodeAffinity::default)
            .required_during_scheduling_ignored_during_execution = Some(NodeSelector {
            node_selector_terms: terms,
        });
        self
    }

    /// Adds a preferred node-affinity term.
    pub fn preferred_node_term(mut self, weight: i32, term: NodeSelectorTerm) -> Self {
        self.affinity_mut()
            .node_affinity
            .get_or_insert_with(NodeAffinity::default)
            .preferred_during_scheduling_ignored_during_execution
            .get_or_insert_with(Default::default)
            .push(PreferredSchedulingTerm {
                weight,
                preference: term,
            });
        self
    }

    fn term(sel: &[(&str, &str)], key: &str) -> PodAffinityTerm {
        PodAffinityTerm {
            label_selector: Some(selector(sel)),
            topology_key: key.into(),
            ..Default::default()
        }
    }

    /// Adds a required pod-affinity term.
    pub fn affinity_term(mut self, term: PodAffinityTerm) -> Self {
        self.affinity_mut()
            .pod_affinity
            .get_or_insert_with(PodAffinity::default)
            .required_during_scheduling_ignored_during_execution
            .get_or_insert_with(Default::default)
            .push(term);
        self
    }

    /// Adds a required pod-affinity term on pods with these labels.
    pub fn affinity(self, sel: &[(&str, &str)], topology_key: &str) -> Self {
        self.affinity_term(Self::term(sel, topology_key))
    }

    /// Adds a required pod-anti-affinity term.
    pub fn anti_affinity_term(mut self, term: PodAffinityTerm) -> Self {
        self.affinity_mut()
            .pod_anti_affinity
            .get_or_insert_with(PodAntiAffinity::default)
            .required_during_scheduling_ignored_during_execution
            .get_or_insert_with(Default::default)
            .push(term);
        self
    }

    /// Adds a required pod-anti-affinity term on pods with these labels.
    pub fn anti_affinity(self, sel: &[(&str, &str)], topology_key: &str) -> Self {
        self.anti_affinity_term(Self::term(sel, topology_key))
    }

    /// Adds a preferred pod-affinity term.
    pub fn preferred_affinity(mut self, weight: i32, sel: &[(&str, &str)], key: &str) -> Self {
        self.affinity_mut()
            .pod_affinity
            .get_or_insert_with(PodAffinity::default)
            .preferred_during_scheduling_ignored_during_execution
            .get_or_insert_with(Default::default)
            .push(WeightedPodAffinityTerm {
                weight,
                pod_affinity_term: Self::term(sel, key),
            });
        self
    }

    /// Adds a preferred pod-anti-affinity term.
    pub fn preferred_anti_affinity(mut self, weight: i32, sel: &[(&str, &str)], key: &str) -> Self {
        self.affinity_mut()
            .pod_anti_affinity
            .get_or_insert_with(PodAntiAffinity::default)
            .preferred_during_scheduling_ignored_during_execution
            .get_or_insert_with(Default::default)
            .push(WeightedPodAffinityTerm {
                weight,
                pod_affinity_term: Self::term(sel, key),
            });
        self
    }

    /// Adds a topology spread constraint.
    pub fn spread_constraint(mut self, c: TopologySpreadConstraint) -> Self {
        self.spec()
            .topology_spread_constraints
            .get_or_insert_with(Default::default)
            .push(c);
        self
    }

    /// Adds a topology spread constraint over pods with these labels.
    pub fn spread(self, max_skew: i32, key: &str, when: &str, sel: &[(&str, &str)]) -> Self {
        self.spread_constraint(TopologySpreadConstraint {
            max_skew,
            topology_key: key.into(),
            when_unsatisfiable: when.into(),
            label_selector: Some(selector(sel)),
            ..Default::default()
        })
    }

    /// Adds a `DoNotSchedule` constraint with `minDomains`.
    pub fn spread_min_domains(
        self,
        max_skew: i32,
        key: &str,
        sel: &[(&str, &str)],
        min: i32,
    ) -> Self {
        self.spread_constraint(TopologySpreadConstraint {
            max_skew,
            topology_key: key.into(),
            when_unsatisfiable: "DoNotSchedule".into(),
            label_selector: Some(selector(sel)),
            min_domains: Some(min),
            ..Default::default()
        })
    }

    /// Adds a `DoNotSchedule` constraint with `nodeTaintsPolicy: Honor`.
    pub fn spread_taints_honor(self, max_skew: i32, key: &str, sel: &[(&str, &str)]) -> Self {
        self.spread_constraint(TopologySpreadConstraint {
            max_skew,
            topology_key: key.into(),
            when_unsatisfiable: "DoNotSchedule".into(),
            label_selector: Some(selector(sel)),
            node_taints_policy: Some("Honor".into()),
            ..Default::default()
        })
    }

    /// Adds a scheduling gate.
    pub fn gate(mut self, name: &str) -> Self {
        self.spec()
            .scheduling_gates
            .get_or_insert_with(Default::default)
            .push(PodSchedulingGate { name: name.into() });
        self
    }

    /// Sets `spec.schedulerName`.
    pub fn scheduler_name(mut self, name: &str) -> Self {
        self.spec().scheduler_name = Some(name.into());
        self
    }

    /// The pod.
    pub fn build(self) -> Pod {
        self.0
    }
}
