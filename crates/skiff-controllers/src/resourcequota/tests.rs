//! ResourceQuota planner tests.

use k8s_openapi::api::core::v1::{
    Affinity, PersistentVolumeClaimSpec, PersistentVolumeClaimStatus, PodAffinity, PodAffinityTerm,
    ResourceQuotaSpec, ResourceRequirements, ScopeSelector, ScopedResourceSelectorRequirement,
    ServicePort, ServiceSpec, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use super::*;
use crate::cached_pod::CachedContainer;
use crate::testing::{pod, t};

fn q(s: &str) -> Quantity {
    Quantity(s.into())
}

fn qmap(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs.iter().map(|(k, v)| (k.to_string(), q(v))).collect()
}

fn quota(hard: &[(&str, &str)]) -> ResourceQuota {
    ResourceQuota {
        metadata: ObjectMeta {
            name: Some("quota".into()),
            namespace: Some("default".into()),
            ..Default::default()
        },
        spec: Some(ResourceQuotaSpec {
            hard: Some(qmap(hard)),
            ..Default::default()
        }),
        status: None,
    }
}

fn container(name: &str, requests: &[(&str, &str)], limits: &[(&str, &str)]) -> CachedContainer {
    CachedContainer {
        name: name.into(),
        resources: Some(ResourceRequirements {
            requests: (!requests.is_empty()).then(|| qmap(requests)),
            limits: (!limits.is_empty()).then(|| qmap(limits)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A running pod with these containers.
fn pod_with(name: &str, containers: Vec<CachedContainer>) -> CachedPod {
    let mut p = pod(name).running().build();
    p.spec.as_mut().unwrap().containers = containers;
    p
}

struct World<'a> {
    quota: &'a ResourceQuota,
    pods: Vec<&'a CachedPod>,
    services: Vec<&'a Service>,
    pvcs: Vec<&'a PersistentVolumeClaim>,
    counts: BTreeMap<String, i64>,
    now: Timestamp,
}

impl<'a> World<'a> {
    fn new(quota: &'a ResourceQuota) -> Self {
        Self {
            quota,
            pods: vec![],
            services: vec![],
            pvcs: vec![],
            counts: BTreeMap::new(),
            now: t(1000),
        }
    }
    fn plan(&self) -> Vec<Step> {
        plan(&Observed {
            quota: self.quota,
            pods: self.pods.clone(),
            services: self.services.clone(),
            persistent_volume_claims: self.pvcs.clone(),
            config_maps: 4,
            secrets: 2,
            replication_controllers: 1,
            resource_quotas: 1,
            object_counts: self.counts.clone(),
            now: self.now,
        })
    }
    fn used(&self) -> BTreeMap<String, String> {
        match self.plan().first() {
            Some(Step::Status(st)) => st
                .used
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect(),
            other => panic!("no status: {other:?}"),
        }
    }
}

fn strs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn pods_charge_their_requests_and_limits_and_terminal_pods_only_their_count() {
    let rq = quota(&[
        ("pods", "10"),
        ("count/pods", "10"),
        ("requests.cpu", "2"),
        ("cpu", "2000m"),
        ("limits.cpu", "4"),
        ("requests.memory", "1Gi"),
        ("memory", "1Gi"),
        ("limits.memory", "2Gi"),
    ]);
    let a = pod_with(
        "a",
        vec![container(
            "c",
            &[("cpu", "100m"), ("memory", "64Mi")],
            &[("cpu", "200m"), ("memory", "128Mi")],
        )],
    );
    let b = pod_with(
        "b",
        vec![container("c", &[("cpu", "400m"), ("memory", "64Mi")], &[])],
    );
    let mut done = pod_with("done", vec![container("c", &[("cpu", "1")], &[])]);
    done.status.as_mut().unwrap().phase = Some("Succeeded".into());
    let mut w = World::new(&rq);
    w.pods = vec![&a, &b, &done];
    assert_eq!(
        w.used(),
        strs(&[
            ("pods", "2"),
            ("count/pods", "3"),
            ("requests.cpu", "500m"),
            ("cpu", "500m"),
            ("limits.cpu", "200m"),
            ("requests.memory", "128Mi"),
            ("memory", "128Mi"),
            ("limits.memory", "128Mi"),
        ])
    );
    let Some(Step::Status(st)) = w.plan().first().cloned() else {
        panic!()
    };
    assert_eq!(
        st.hard.unwrap()["cpu"],
        q("2"),
        "hard is printed canonically"
    );
}

#[test]
fn init_containers_sidecars_and_overhead_follow_pod_requests() {
    let rq = quota(&[
        ("requests.cpu", "10"),
        ("limits.cpu", "10"),
        ("limits.memory", "10Gi"),
    ]);
    let mut p = pod_with(
        "p",
        vec![container("app", &[("cpu", "100m")], &[("cpu", "1")])],
    );
    let spec = p.spec.as_mut().unwrap();
    let mut sidecar = container("side", &[("cpu", "200m")], &[("cpu", "500m")]);
    sidecar.restart_policy = Some("Always".into());
    spec.init_containers = Some(vec![
        container("first", &[("cpu", "500m")], &[("cpu", "2")]),
        sidecar,
        container("second", &[("cpu", "400m")], &[]),
    ]);
    spec.overhead = Some(qmap(&[("cpu", "10m"), ("memory", "32Mi")]));
    let mut w = World::new(&rq);
    w.pods = vec![&p];
    // Requests: max(app 100 + sidecar 200, first 500, sidecar+second 600) + 10 overhead.
    // Limits: max(1 + 0.5, 2, 0.5) + 10m overhead; no memory limit → no memory overhead.
    assert_eq!(
        w.used(),
        strs(&[
            ("requests.cpu", "610m"),
            ("limits.cpu", "2010m"),
            ("limits.memory", "0")
        ])
    );
}

#[test]
fn a_deleting_pod_counts_until_its_grace_period_ends() {
    let rq = quota(&[("pods", "5"), ("count/pods", "5")]);
    let mut p = pod_with("p", vec![]);
    p.metadata.deletion_timestamp = Some(Time(t(1000)));
    p.metadata.deletion_grace_period_seconds = Some(30);
    let mut w = World::new(&rq);
    w.pods = vec![&p];
    w.now = t(1010);
    assert_eq!(w.used(), strs(&[("pods", "1"), ("count/pods", "1")]));
    assert_eq!(
        w.plan().last(),
        Some(&Step::RequeueAfter(
            Duration::from_secs(20) + Duration::from_nanos(1)
        ))
    );
    w.now = t(1031);
    assert_eq!(w.used(), strs(&[("pods", "0"), ("count/pods", "1")]));
    assert!(!w.plan().iter().any(|s| matches!(s, Step::RequeueAfter(_))));
}

#[test]
fn services_charge_node_ports_and_load_balancers() {
    let rq = quota(&[
        ("services", "10"),
        ("count/services", "10"),
        ("services.nodeports", "10"),
        ("services.loadbalancers", "10"),
    ]);
    let svc = |name: &str, type_: &str, ports: &[i32], allocate: Option<bool>| Service {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            type_: Some(type_.into()),
            allocate_load_balancer_node_ports: allocate,
            ports: Some(
                ports
                    .iter()
                    .map(|np| ServicePort {
                        port: 80,
                        node_port: (*np != 0).then_some(*np),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        status: None,
    };
    let cluster_ip = svc("a", "ClusterIP", &[0], None);
    let node_port = svc("b", "NodePort", &[0, 0], None);
    let lb = svc("c", "LoadBalancer", &[0, 0, 0], None);
    let lb_no_alloc = svc("d", "LoadBalancer", &[30001, 0], Some(false));
    let mut w = World::new(&rq);
    w.services = vec![&cluster_ip, &node_port, &lb, &lb_no_alloc];
    assert_eq!(
        w.used(),
        strs(&[
            ("services", "4"),
            ("count/services", "4"),
            ("services.nodeports", "6"),
            ("services.loadbalancers", "2"),
        ])
    );
}

#[test]
fn claims_charge_storage_rounded_up_and_per_storage_class() {
    let rq = quota(&[
        ("persistentvolumeclaims", "10"),
        ("requests.storage", "10Gi"),
        ("gold.storageclass.storage.k8s.io/requests.storage", "5Gi"),
        (
            "gold.storageclass.storage.k8s.io/persistentvolumeclaims",
            "5",
        ),
    ]);
    let claim = |name: &str, class: Option<&str>, request: &str, allocated: Option<&str>| {
        PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            spec: Some(PersistentVolumeClaimSpec {
                storage_class_name: class.map(String::from),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(qmap(&[("storage", request)])),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            status: allocated.map(|a| PersistentVolumeClaimStatus {
                allocated_resources: Some(qmap(&[("storage", a)])),
                ..Default::default()
            }),
        }
    };
    let a = claim("a", Some("gold"), "1Gi", None);
    let b = claim("b", None, "500Mi", Some("1Gi")); // a failed expansion left 1Gi allocated
    let mut c = claim("c", Some("silver"), "1500m", None);
    c.metadata.annotations = Some(crate::testing::labels(&[(
        usage::BETA_STORAGE_CLASS_ANNOTATION,
        "gold",
    )]));
    let mut w = World::new(&rq);
    w.pvcs = vec![&a, &b, &c];
    assert_eq!(
        w.used(),
        strs(&[
            ("persistentvolumeclaims", "3"),
            ("requests.storage", "2147483650"),
            (
                "gold.storageclass.storage.k8s.io/requests.storage",
                "1073741826"
            ),
            (
                "gold.storageclass.storage.k8s.io/persistentvolumeclaims",
                "2"
            ),
        ])
    );
}

#[test]
fn object_counts_cover_legacy_names_and_driver_supplied_kinds() {
    let mut rq = quota(&[
        ("configmaps", "10"),
        ("count/secrets", "10"),
        ("replicationcontrollers", "10"),
        ("resourcequotas", "1"),
        ("count/deployments.apps", "5"),
        ("count/widgets.example.com", "5"),
        ("count/gadgets.example.com", "5"),
    ]);
    rq.status = Some(ResourceQuotaStatus {
        hard: None,
        used: Some(qmap(&[("count/widgets.example.com", "3"), ("gone", "1")])),
    });
    let mut w = World::new(&rq);
    w.counts = BTreeMap::from([("count/deployments.apps".to_string(), 2)]);
    assert_eq!(
        w.used(),
        strs(&[
            ("configmaps", "4"),
            ("count/secrets", "2"),
            ("replicationcontrollers", "1"),
            ("resourcequotas", "1"),
            ("count/deployments.apps", "2"),
            // Nobody measured widgets: the last value stays; gadgets never had one.
            ("count/widgets.example.com", "3"),
        ])
    );
}

#[test]
fn extended_resources_and_hugepages_are_charged_by_request() {
    let rq = quota(&[
        ("requests.example.com/gpu", "4"),
        ("hugepages-2Mi", "1Gi"),
        ("requests.hugepages-2Mi", "1Gi"),
    ]);
    let p = pod_with(
        "p",
        vec![container(
            "c",
            &[("example.com/gpu", "2"), ("hugepages-2Mi", "128Mi")],
            &[],
        )],
    );
    let mut w = World::new(&rq);
    w.pods = vec![&p];
    assert_eq!(
        w.used(),
        strs(&[
            ("requests.example.com/gpu", "2"),
            ("hugepages-2Mi", "128Mi"),
            ("requests.hugepages-2Mi", "128Mi"),
        ])
    );
}

#[test]
fn scopes_select_pods_and_exclude_everything_else() {
    let mut rq = quota(&[("pods", "10"), ("configmaps", "10")]);
    rq.spec.as_mut().unwrap().scopes = Some(vec![scopes::BEST_EFFORT.into()]);
    let best_effort = pod_with("be", vec![container("c", &[], &[])]);
    let burstable = pod_with("bu", vec![container("c", &[("memory", "1Mi")], &[])]);
    let mut w = World::new(&rq);
    w.pods = vec![&best_effort, &burstable];
    assert_eq!(w.used(), strs(&[("pods", "1"), ("configmaps", "0")]));

    let mut rq = quota(&[("pods", "10")]);
    rq.spec.as_mut().unwrap().scopes = Some(vec![
        scopes::NOT_BEST_EFFORT.into(),
        scopes::TERMINATING.into(),
    ]);
    let mut job_pod = burstable.clone();
    job_pod.spec.as_mut().unwrap().active_deadline_seconds = Some(60);
    let mut w = World::new(&rq);
    w.pods = vec![&best_effort, &burstable, &job_pod];
    assert_eq!(w.used(), strs(&[("pods", "1")]));
}

#[test]
fn priority_class_and_cross_namespace_affinity_scope_selectors() {
    let mut rq = quota(&[("pods", "10")]);
    rq.spec.as_mut().unwrap().scope_selector = Some(ScopeSelector {
        match_expressions: Some(vec![ScopedResourceSelectorRequirement {
            scope_name: scopes::PRIORITY_CLASS.into(),
            operator: "In".into(),
            values: Some(vec!["high".into()]),
        }]),
    });
    let mut high = pod_with("h", vec![]);
    high.spec.as_mut().unwrap().priority_class_name = Some("high".into());
    let mut low = pod_with("l", vec![]);
    low.spec.as_mut().unwrap().priority_class_name = Some("low".into());
    let none = pod_with("n", vec![]);
    let mut w = World::new(&rq);
    w.pods = vec![&high, &low, &none];
    assert_eq!(w.used(), strs(&[("pods", "1")]));

    let req = |op: &str, values: &[&str]| ScopedResourceSelectorRequirement {
        scope_name: scopes::PRIORITY_CLASS.into(),
        operator: op.into(),
        values: Some(values.iter().map(|v| v.to_string()).collect()),
    };
    assert!(scopes::pod_matches(&none, &req("NotIn", &["high"])));
    assert!(!scopes::pod_matches(&high, &req("NotIn", &["high"])));
    assert!(scopes::pod_matches(&none, &req("DoesNotExist", &[])));
    assert!(scopes::pod_matches(&low, &req("Exists", &[])));

    let mut cross = pod_with("x", vec![]);
    cross.spec.as_mut().unwrap().affinity = Some(Affinity {
        pod_affinity: Some(PodAffinity {
            required_during_scheduling_ignored_during_execution: Some(vec![PodAffinityTerm {
                namespaces: Some(vec!["other".into()]),
                topology_key: "zone".into(),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    });
    let scope = ScopedResourceSelectorRequirement {
        scope_name: scopes::CROSS_NAMESPACE_POD_AFFINITY.into(),
        operator: "Exists".into(),
        values: None,
    };
    assert!(scopes::pod_matches(&cross, &scope));
    assert!(!scopes::pod_matches(&none, &scope));
}

#[test]
fn the_reported_qos_class_wins() {
    let mut p = pod_with("p", vec![container("c", &[("cpu", "1")], &[])]);
    assert!(!usage::is_best_effort(&p));
    p.status.as_mut().unwrap().qos_class = Some("BestEffort".into());
    assert!(usage::is_best_effort(&p));
    let zero = pod_with(
        "z",
        vec![container("c", &[("cpu", "0")], &[("memory", "0")])],
    );
    assert!(usage::is_best_effort(&zero));
}

#[test]
fn an_equal_status_is_not_written_and_changes_are() {
    let mut rq = quota(&[("pods", "10"), ("requests.cpu", "2")]);
    let a = pod_with("a", vec![container("c", &[("cpu", "1")], &[])]);
    rq.status = Some(ResourceQuotaStatus {
        hard: Some(qmap(&[("pods", "10"), ("requests.cpu", "2000m")])),
        used: Some(qmap(&[("pods", "1"), ("requests.cpu", "1000m")])),
    });
    let mut w = World::new(&rq);
    w.pods = vec![&a];
    assert!(w.plan().is_empty(), "same values, other spelling");

    // The spec drops a resource: status.hard and status.used follow.
    let mut rq2 = rq.clone();
    rq2.spec.as_mut().unwrap().hard = Some(qmap(&[("pods", "10")]));
    let mut w = World::new(&rq2);
    w.pods = vec![&a];
    let Some(Step::Status(st)) = w.plan().first().cloned() else {
        panic!()
    };
    assert_eq!(st.hard, Some(qmap(&[("pods", "10")])));
    assert_eq!(st.used, Some(qmap(&[("pods", "1")])));
}

#[test]
fn other_namespaces_do_not_count() {
    let rq = quota(&[("pods", "10")]);
    let mut far = pod_with("far", vec![]);
    far.metadata.namespace = Some("other".into());
    let here = pod_with("here", vec![]);
    let mut w = World::new(&rq);
    w.pods = vec![&far, &here];
    assert_eq!(w.used(), strs(&[("pods", "1")]));
}
