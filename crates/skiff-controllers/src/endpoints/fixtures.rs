//! Test builders for Services, backend pods and nodes, shared by the Endpoints and
//! EndpointSlice tests.
#![allow(dead_code)] // a shared builder kit: not every test uses every builder

use k8s_openapi::api::core::v1::{
    ContainerPort, Node, PodCondition, PodIP, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::cached_pod::{CachedContainer, CachedPod, CachedPodSpec, CachedPodStatus};
use crate::testing::{labels, pod, t};

/// A numeric target port.
pub fn int(n: i32) -> IntOrString {
    IntOrString::Int(n)
}

/// A named target port.
pub fn named(n: &str) -> IntOrString {
    IntOrString::String(n.into())
}

/// A Service under construction; `custom_ports` once [`SvcBuilder::port`] replaced the default.
pub struct SvcBuilder(pub Service, bool);

/// Service `name` in `default` selecting `app=<name>`, cluster IP 10.96.0.10, one TCP port
/// `http` 80 → 8080.
pub fn service(name: &str) -> SvcBuilder {
    SvcBuilder(
        Service {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                uid: Some(format!("uid-{name}")),
                creation_timestamp: Some(Time(t(1))),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                selector: Some(labels(&[("app", name)])),
                cluster_ip: Some("10.96.0.10".into()),
                ports: Some(vec![ServicePort {
                    name: Some("http".into()),
                    port: 80,
                    protocol: Some("TCP".into()),
                    target_port: Some(int(8080)),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            status: None,
        },
        false,
    )
}

impl SvcBuilder {
    fn spec(&mut self) -> &mut ServiceSpec {
        self.0.spec.get_or_insert_with(Default::default)
    }
    pub fn headless(mut self) -> Self {
        self.spec().cluster_ip = Some("None".into());
        self
    }
    pub fn cluster_ip(mut self, ip: &str) -> Self {
        self.spec().cluster_ip = Some(ip.into());
        self
    }
    pub fn families(mut self, f: &[&str]) -> Self {
        self.spec().ip_families = Some(f.iter().map(|s| s.to_string()).collect());
        self
    }
    pub fn no_selector(mut self) -> Self {
        self.spec().selector = None;
        self
    }
    pub fn selector(mut self, k: &str, v: &str) -> Self {
        self.spec().selector = Some(labels(&[(k, v)]));
        self
    }
    pub fn external_name(mut self) -> Self {
        let s = self.spec();
        s.type_ = Some("ExternalName".into());
        s.external_name = Some("example.com".into());
        self
    }
    pub fn publish_not_ready(mut self) -> Self {
        self.spec().publish_not_ready_addresses = Some(true);
        self
    }
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.0
            .metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert(k.into(), v.into());
        self
    }
    pub fn no_ports(mut self) -> Self {
        self.1 = true;
        self.spec().ports = None;
        self
    }
    /// Adds a port (the first call replaces the default `http` port).
    pub fn port(mut self, name: &str, port: i32, target: IntOrString, proto: &str) -> Self {
        let sp = ServicePort {
            name: Some(name.into()),
            port,
            protocol: Some(proto.into()),
            target_port: Some(target),
            ..Default::default()
        };
        let custom = std::mem::replace(&mut self.1, true);
        let ports = self.spec().ports.get_or_insert_with(Default::default);
        if !custom {
            ports.clear();
        }
        ports.push(sp);
        self
    }
    pub fn app_protocol(mut self, p: &str) -> Self {
        if let Some(sp) = self.spec().ports.as_mut().and_then(|p| p.last_mut()) {
            sp.app_protocol = Some(p.into());
        }
        self
    }
    pub fn deleting(mut self) -> Self {
        self.0.metadata.deletion_timestamp = Some(Time(t(5)));
        self
    }
    pub fn uid(mut self, uid: &str) -> Self {
        self.0.metadata.uid = Some(uid.into());
        self
    }
    pub fn build(self) -> Service {
        self.0
    }
}

pub struct BackendBuilder(pub CachedPod);

/// A running, Ready pod labeled `app=<app>` on `node-1` with IP `ip`, one container `main`
/// exposing `http` 8080/TCP.
pub fn backend(name: &str, app: &str, ip: &str) -> BackendBuilder {
    let mut p = pod(name).label("app", app).ready_since(t(10)).build();
    if let Some(spec) = p.spec.as_mut() {
        spec.containers = vec![CachedContainer {
            name: "main".into(),
            ports: Some(vec![ContainerPort {
                name: Some("http".into()),
                container_port: 8080,
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }];
    }
    BackendBuilder(p).ips(&[ip])
}

impl BackendBuilder {
    fn status(&mut self) -> &mut CachedPodStatus {
        self.0.status.get_or_insert_with(Default::default)
    }
    fn pod_spec(&mut self) -> &mut CachedPodSpec {
        self.0.spec.get_or_insert_with(Default::default)
    }
    /// `status.podIP` is the first, `status.podIPs` all of them.
    pub fn ips(mut self, ips: &[&str]) -> Self {
        let st = self.status();
        st.pod_ip = ips.first().map(|s| s.to_string());
        st.pod_ips = Some(ips.iter().map(|ip| PodIP { ip: ip.to_string() }).collect());
        self
    }
    /// Only `status.podIP`, no `podIPs` list.
    pub fn legacy_ip(mut self, ip: &str) -> Self {
        let st = self.status();
        st.pod_ip = Some(ip.into());
        st.pod_ips = None;
        self
    }
    pub fn no_ip(mut self) -> Self {
        let st = self.status();
        st.pod_ip = None;
        st.pod_ips = None;
        self
    }
    pub fn not_ready(mut self) -> Self {
        let st = self.status();
        let conds = st.conditions.get_or_insert_with(Default::default);
        conds.retain(|c| c.type_ != "Ready");
        conds.push(PodCondition {
            type_: "Ready".into(),
            status: "False".into(),
            last_transition_time: Some(Time(t(20))),
            ..Default::default()
        });
        self
    }
    pub fn deleting(mut self) -> Self {
        self.0.metadata.deletion_timestamp = Some(Time(t(30)));
        self
    }
    pub fn phase(mut self, p: &str) -> Self {
        self.status().phase = Some(p.into());
        self
    }
    pub fn node(mut self, n: &str) -> Self {
        self.pod_spec().node_name = Some(n.into());
        self
    }
    pub fn namespace(mut self, ns: &str) -> Self {
        self.0.metadata.namespace = Some(ns.into());
        self
    }
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.0
            .metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert(k.into(), v.into());
        self
    }
    pub fn hostname(mut self, host: &str, subdomain: &str) -> Self {
        let s = self.pod_spec();
        s.hostname = Some(host.into());
        s.subdomain = Some(subdomain.into());
        self
    }
    /// Replaces the main container's ports with one port.
    pub fn container_port(mut self, name: &str, port: i32, proto: &str) -> Self {
        if let Some(c) = self.pod_spec().containers.first_mut() {
            c.ports = Some(vec![ContainerPort {
                name: Some(name.into()),
                container_port: port,
                protocol: Some(proto.into()),
                ..Default::default()
            }]);
        }
        self
    }
    /// Adds a sidecar (init container with restartPolicy Always) exposing one port.
    pub fn sidecar_port(mut self, name: &str, port: i32) -> Self {
        self.pod_spec()
            .init_containers
            .get_or_insert_with(Default::default)
            .push(CachedContainer {
                name: "sidecar".into(),
                restart_policy: Some("Always".into()),
                ports: Some(vec![ContainerPort {
                    name: Some(name.into()),
                    container_port: port,
                    protocol: Some("TCP".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            });
        self
    }
    pub fn build(self) -> CachedPod {
        self.0
    }
}

/// A node, in `zone` when given.
pub fn node(name: &str, zone: Option<&str>) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: zone.map(|z| labels(&[("topology.kubernetes.io/zone", z)])),
            ..Default::default()
        },
        spec: None,
        status: None,
    }
}

/// `n` ready pods `<prefix>-<i>` of `app` with IPs 10.1.<i/250>.<i%250+1>.
pub fn backends(prefix: &str, app: &str, n: usize) -> Vec<CachedPod> {
    (0..n)
        .map(|i| {
            let ip = format!("10.1.{}.{}", i / 250, i % 250 + 1);
            backend(&format!("{prefix}-{i:04}"), app, &ip).build()
        })
        .collect()
}

/// A pod described by a few random choices, for property tests.
#[derive(Clone, Debug)]
pub struct PodChoice {
    /// Pod `p<id>`, IPs derived from it.
    pub id: u8,
    pub ready: bool,
    pub deleting: bool,
    pub terminal: bool,
    /// 0: container port `web` 8080, 1: `web` 8081, 2: no `web` port, 3: `web` over UDP.
    pub port: u8,
    /// 0: no IP, 1: IPv4, 2: IPv6, 3: both.
    pub ip: u8,
    /// Whether the pod carries the service's `app` label.
    pub selected: bool,
}

/// Random [`PodChoice`]s.
pub fn arb_pod() -> impl proptest::strategy::Strategy<Value = PodChoice> {
    use proptest::prelude::*;
    (
        0u8..24,
        any::<bool>(),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.1),
        0u8..4,
        prop_oneof![Just(1u8), Just(1), Just(3), Just(0), Just(2)],
        prop::bool::weighted(0.9),
    )
        .prop_map(
            |(id, ready, deleting, terminal, port, ip, selected)| PodChoice {
                id,
                ready,
                deleting,
                terminal,
                port,
                ip,
                selected,
            },
        )
}

impl PodChoice {
    /// The pod, for a Service selecting `app`.
    pub fn build(&self, app: &str) -> CachedPod {
        let v4 = format!("10.2.0.{}", self.id);
        let v6 = format!("fd00::{:x}", self.id);
        let mut b = backend(
            &format!("p{:02}", self.id),
            if self.selected { app } else { "other" },
            &v4,
        );
        b = match self.ip {
            0 => b.no_ip(),
            1 => b,
            2 => b.ips(&[&v6]),
            _ => b.ips(&[&v4, &v6]),
        };
        b = match self.port {
            0 => b,
            1 => b.container_port("web", 8081, "TCP"),
            2 => b.container_port("admin", 9000, "TCP"),
            _ => b.container_port("web", 8080, "UDP"),
        };
        if !self.ready {
            b = b.not_ready();
        }
        if self.deleting {
            b = b.deleting();
        }
        if self.terminal {
            b = b.phase("Failed");
        }
        b.build()
    }
}

/// One pod per id (the last choice wins), built.
pub fn build_unique(choices: &[PodChoice], app: &str) -> Vec<CachedPod> {
    let mut by_id = std::collections::BTreeMap::new();
    for c in choices {
        by_id.insert(c.id, c.build(app));
    }
    by_id.into_values().collect()
}
