use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Service,
};

use super::fixtures::*;
use super::*;
use crate::cached_pod::CachedPod;
use crate::testing::t;

fn observe<'a>(
    svc: Option<&'a Service>,
    pods: &'a [CachedPod],
    ep: Option<&'a Endpoints>,
) -> Observed<'a> {
    Observed {
        service: svc,
        pods: pods.iter().collect(),
        endpoints: ep,
        now: t(100),
    }
}

fn run(svc: &Service, pods: &[CachedPod], ep: Option<&Endpoints>) -> Vec<Step> {
    plan(&observe(Some(svc), pods, ep))
}

/// The object the API server would hold after the step: JSON round trip, resourceVersion
/// bumped.
fn stored(step: &Step) -> Endpoints {
    let ep = match step {
        Step::Create(ep) | Step::Update(ep) => ep,
        Step::Delete(name) => panic!("unexpected delete of {name}"),
    };
    let mut back: Endpoints =
        serde_json::from_value(serde_json::to_value(ep.as_ref()).unwrap()).unwrap();
    let rv: u64 = back
        .metadata
        .resource_version
        .as_deref()
        .map_or(0, |v| v.parse().unwrap());
    back.metadata.resource_version = Some((rv + 1).to_string());
    back
}

/// Plans, applies the single write, and checks that planning again does nothing.
fn converge(svc: &Service, pods: &[CachedPod], ep: Option<&Endpoints>) -> Endpoints {
    let steps = run(svc, pods, ep);
    assert_eq!(steps.len(), 1, "expected one write, got {steps:?}");
    let after = stored(&steps[0]);
    let again = run(svc, pods, Some(&after));
    assert!(again.is_empty(), "second plan not empty: {again:?}");
    after
}

fn created(steps: &[Step]) -> &Endpoints {
    match steps {
        [Step::Create(ep)] => ep,
        other => panic!("expected one create, got {other:?}"),
    }
}

fn ips(addrs: &Option<Vec<EndpointAddress>>) -> Vec<&str> {
    addrs.iter().flatten().map(|a| a.ip.as_str()).collect()
}

fn port_numbers(s: &EndpointSubset) -> Vec<i32> {
    s.ports.iter().flatten().map(|p| p.port).collect()
}

fn subsets(ep: &Endpoints) -> &[EndpointSubset] {
    ep.subsets.as_deref().unwrap_or_default()
}

#[test]
fn ready_pods_become_addresses_with_node_and_pod_reference() {
    let svc = service("web").label("tier", "front").build();
    let pods = [
        backend("b", "web", "10.1.0.2").build(),
        backend("a", "web", "10.1.0.1").build(),
        backend("other", "db", "10.1.0.3").build(),
    ];
    let steps = run(&svc, &pods, None);
    let ep = created(&steps);
    assert_eq!(ep.metadata.name.as_deref(), Some("web"));
    assert_eq!(ep.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(
        ep.metadata.labels,
        Some(crate::testing::labels(&[("tier", "front")]))
    );
    assert_eq!(ep.metadata.annotations, None);
    let [s] = subsets(ep) else {
        panic!("one subset expected: {ep:?}")
    };
    assert_eq!(ips(&s.addresses), ["10.1.0.1", "10.1.0.2"]);
    assert_eq!(s.not_ready_addresses, None);
    let a = &s.addresses.as_ref().unwrap()[0];
    assert_eq!(a.node_name.as_deref(), Some("node-1"));
    assert_eq!(a.hostname, None);
    assert_eq!(
        a.target_ref,
        Some(ObjectReference {
            kind: Some("Pod".into()),
            name: Some("a".into()),
            namespace: Some("default".into()),
            uid: Some("uid-a".into()),
            ..Default::default()
        })
    );
    assert_eq!(
        s.ports,
        Some(vec![EndpointPort {
            name: Some("http".into()),
            port: 8080,
            protocol: Some("TCP".into()),
            app_protocol: None,
        }])
    );
    converge(&svc, &pods, None);
}

#[test]
fn unready_pods_go_to_not_ready_addresses_unless_the_service_publishes_them() {
    let pods = [
        backend("a", "web", "10.1.0.1").build(),
        backend("b", "web", "10.1.0.2").not_ready().build(),
    ];
    let svc = service("web").build();
    let ep = converge(&svc, &pods, None);
    let [s] = subsets(&ep) else { panic!("{ep:?}") };
    assert_eq!(ips(&s.addresses), ["10.1.0.1"]);
    assert_eq!(ips(&s.not_ready_addresses), ["10.1.0.2"]);

    let svc = service("web").publish_not_ready().build();
    let ep = converge(&svc, &pods, None);
    let [s] = subsets(&ep) else { panic!("{ep:?}") };
    assert_eq!(ips(&s.addresses), ["10.1.0.1", "10.1.0.2"]);
    assert_eq!(s.not_ready_addresses, None);
}

#[test]
fn pods_without_ip_terminal_or_being_deleted_are_left_out() {
    let pods = [
        backend("ok", "web", "10.1.0.1").build(),
        backend("noip", "web", "10.1.0.2").no_ip().build(),
        backend("done", "web", "10.1.0.3")
            .phase("Succeeded")
            .build(),
        backend("failed", "web", "10.1.0.4").phase("Failed").build(),
        backend("going", "web", "10.1.0.5").deleting().build(),
        backend("elsewhere", "web", "10.1.0.6")
            .namespace("other")
            .build(),
    ];
    let svc = service("web").build();
    let ep = converge(&svc, &pods, None);
    assert_eq!(ips(&subsets(&ep)[0].addresses), ["10.1.0.1"]);

    // publishNotReadyAddresses keeps terminating pods, never terminal ones.
    let svc = service("web").publish_not_ready().build();
    let ep = converge(&svc, &pods, None);
    assert_eq!(ips(&subsets(&ep)[0].addresses), ["10.1.0.1", "10.1.0.5"]);
}

#[test]
fn a_service_without_matching_pods_gets_an_endpoints_without_subsets() {
    let svc = service("web").build();
    let steps = run(&svc, &[], None);
    let ep = created(&steps);
    assert_eq!(ep.subsets, None);
    let json = serde_json::to_value(ep).unwrap();
    assert!(json.get("subsets").is_none(), "{json}");
    let after = converge(&svc, &[], None);
    assert_eq!(after.subsets, None);

    // An Endpoints stored with an empty list is already right.
    let mut empty = after.clone();
    empty.subsets = Some(vec![]);
    assert!(run(&svc, &[], Some(&empty)).is_empty());
}

#[test]
fn services_without_selector_or_of_type_external_name_are_left_alone() {
    let pods = [backend("a", "web", "10.1.0.1").build()];
    let manual = Endpoints {
        metadata: ObjectMeta {
            name: Some("web".into()),
            ..Default::default()
        },
        subsets: Some(vec![EndpointSubset {
            addresses: Some(vec![EndpointAddress {
                ip: "192.0.2.1".into(),
                ..Default::default()
            }]),
            ..Default::default()
        }]),
    };
    for svc in [
        service("web").no_selector().build(),
        service("web").external_name().build(),
    ] {
        assert!(run(&svc, &pods, Some(&manual)).is_empty());
        assert!(run(&svc, &pods, None).is_empty());
    }
    // An empty selector is what the API server stores as none.
    let mut svc = service("web").build();
    svc.spec.as_mut().unwrap().selector = Some(Default::default());
    assert!(run(&svc, &pods, None).is_empty());
}

#[test]
fn a_deleted_service_deletes_its_endpoints_but_never_a_leader_record() {
    let svc = service("web").build();
    let ep = converge(&svc, &[], None);
    assert_eq!(
        plan(&observe(None, &[], Some(&ep))),
        [Step::Delete("web".into())]
    );
    assert!(plan(&observe(None, &[], None)).is_empty());

    let mut leader = ep.clone();
    leader
        .metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(LEADER_ANNOTATION.into(), "{}".into());
    assert!(plan(&observe(None, &[], Some(&leader))).is_empty());
}

#[test]
fn named_target_ports_resolve_per_pod_and_split_subsets_by_port_set() {
    let svc = service("web")
        .port("http", 80, named("web"), "TCP")
        .port("metrics", 9090, int(9090), "TCP")
        .build();
    let pods = [
        backend("a", "web", "10.1.0.1")
            .container_port("web", 8080, "TCP")
            .build(),
        backend("b", "web", "10.1.0.2")
            .container_port("web", 8081, "TCP")
            .build(),
        // No port named `web`: only reachable through `metrics`.
        backend("c", "web", "10.1.0.3")
            .container_port("other", 8080, "TCP")
            .build(),
        // A `web` port of another protocol does not count.
        backend("d", "web", "10.1.0.4")
            .container_port("web", 8080, "UDP")
            .build(),
    ];
    let ep = converge(&svc, &pods, None);
    let got: Vec<(Vec<&str>, Vec<i32>)> = subsets(&ep)
        .iter()
        .map(|s| (ips(&s.addresses), port_numbers(s)))
        .collect();
    assert_eq!(
        got,
        [
            (vec!["10.1.0.1"], vec![8080]),
            (vec!["10.1.0.2"], vec![8081]),
            (
                vec!["10.1.0.1", "10.1.0.2", "10.1.0.3", "10.1.0.4"],
                vec![9090]
            ),
        ]
    );
    assert_eq!(
        subsets(&ep)[0].ports.as_ref().unwrap()[0].name.as_deref(),
        Some("http")
    );
}

#[test]
fn ports_shared_by_the_same_addresses_are_packed_into_one_subset() {
    let svc = service("web")
        .port("https", 443, int(8443), "TCP")
        .port("http", 80, int(8080), "TCP")
        .port("dns", 53, int(53), "UDP")
        .app_protocol("dns")
        .build();
    let pods = [
        backend("a", "web", "10.1.0.1").build(),
        backend("b", "web", "10.1.0.2").not_ready().build(),
    ];
    let ep = converge(&svc, &pods, None);
    let [s] = subsets(&ep) else { panic!("{ep:?}") };
    let ports = s.ports.as_ref().unwrap();
    let names: Vec<&str> = ports.iter().filter_map(|p| p.name.as_deref()).collect();
    assert_eq!(names, ["dns", "http", "https"]);
    assert_eq!(ports[0].protocol.as_deref(), Some("UDP"));
    assert_eq!(ports[0].app_protocol.as_deref(), Some("dns"));
    assert_eq!(ips(&s.addresses), ["10.1.0.1"]);
    assert_eq!(ips(&s.not_ready_addresses), ["10.1.0.2"]);
}

#[test]
fn sidecar_ports_resolve_named_target_ports() {
    let svc = service("web")
        .port("proxy", 80, named("envoy"), "TCP")
        .build();
    let pods = [backend("a", "web", "10.1.0.1")
        .sidecar_port("envoy", 15001)
        .build()];
    let ep = converge(&svc, &pods, None);
    assert_eq!(port_numbers(&subsets(&ep)[0]), [15001]);
}

#[test]
fn hostname_is_set_only_for_pods_whose_subdomain_is_the_service() {
    let svc = service("web").headless().build();
    let pods = [
        backend("a", "web", "10.1.0.1").hostname("a", "web").build(),
        backend("b", "web", "10.1.0.2")
            .hostname("b", "other")
            .build(),
    ];
    let ep = converge(&svc, &pods, None);
    let hosts: Vec<Option<&str>> = subsets(&ep)[0]
        .addresses
        .iter()
        .flatten()
        .map(|a| a.hostname.as_deref())
        .collect();
    assert_eq!(hosts, [Some("a"), None]);
}

#[test]
fn headless_services_are_labeled_and_may_have_no_ports() {
    let pods = [backend("a", "web", "10.1.0.1").build()];
    let svc = service("web").headless().no_ports().label("x", "y").build();
    let ep = converge(&svc, &pods, None);
    assert_eq!(
        ep.metadata.labels,
        Some(crate::testing::labels(&[(HEADLESS_LABEL, ""), ("x", "y")]))
    );
    let [s] = subsets(&ep) else { panic!("{ep:?}") };
    assert_eq!(ips(&s.addresses), ["10.1.0.1"]);
    assert_eq!(s.ports, None);

    // A service with a cluster IP and no ports lists nothing.
    let svc = service("web").no_ports().build();
    assert_eq!(converge(&svc, &pods, None).subsets, None);
}

#[test]
fn updates_carry_the_existing_object_and_follow_label_and_pod_changes() {
    let svc = service("web").build();
    let mut pods = vec![backend("a", "web", "10.1.0.1").build()];
    let ep = converge(&svc, &pods, None);
    assert_eq!(ep.metadata.resource_version.as_deref(), Some("1"));

    pods.push(backend("b", "web", "10.1.0.2").build());
    let steps = run(&svc, &pods, Some(&ep));
    let [Step::Update(next)] = steps.as_slice() else {
        panic!("{steps:?}")
    };
    assert_eq!(next.metadata.resource_version.as_deref(), Some("1"));
    assert_eq!(ips(&subsets(next)[0].addresses), ["10.1.0.1", "10.1.0.2"]);
    let ep = converge(&svc, &pods, Some(&ep));

    let relabeled = service("web").label("team", "x").build();
    let ep = converge(&relabeled, &pods, Some(&ep));
    assert_eq!(
        ep.metadata.labels,
        Some(crate::testing::labels(&[("team", "x")]))
    );

    pods[1] = backend("b", "web", "10.1.0.2").not_ready().build();
    let ep = converge(&relabeled, &pods, Some(&ep));
    assert_eq!(ips(&subsets(&ep)[0].not_ready_addresses), ["10.1.0.2"]);
}

#[test]
fn unrelated_differences_do_not_cause_writes() {
    let svc = service("web").build();
    let pods = [backend("a", "web", "10.1.0.1").build()];
    let mut ep = converge(&svc, &pods, None);
    // A pod resourceVersion in the target reference and a stale trigger time are ignored.
    if let Some(a) = ep.subsets.as_mut().and_then(|s| s[0].addresses.as_mut()) {
        a[0].target_ref.as_mut().unwrap().resource_version = Some("42".into());
    }
    ep.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(
            LAST_CHANGE_TRIGGER_TIME_ANNOTATION.into(),
            "2024-01-01T00:00:00Z".into(),
        );
    assert!(run(&svc, &pods, Some(&ep)).is_empty());

    // Pods listed in another order plan the same.
    let two = [
        backend("b", "web", "10.1.0.2").build(),
        backend("a", "web", "10.1.0.1").build(),
    ];
    let mut rev = two.clone();
    rev.reverse();
    assert_eq!(run(&svc, &two, None), run(&svc, &rev, None));
}

#[test]
fn a_stray_over_capacity_annotation_is_removed() {
    let svc = service("web").build();
    let pods = [backend("a", "web", "10.1.0.1").build()];
    let mut ep = converge(&svc, &pods, None);
    ep.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(OVER_CAPACITY_ANNOTATION.into(), "warning".into());
    let after = converge(&svc, &pods, Some(&ep));
    assert_eq!(after.metadata.annotations, None);
}

#[test]
fn more_than_a_thousand_addresses_are_truncated_and_annotated() {
    let svc = service("web").build();
    let mut pods = backends("p", "web", MAX_CAPACITY + 5);
    let ep = converge(&svc, &pods, None);
    let total: usize = subsets(&ep).iter().map(|s| ips(&s.addresses).len()).sum();
    assert_eq!(total, MAX_CAPACITY);
    assert_eq!(
        ep.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(OVER_CAPACITY_ANNOTATION))
            .map(String::as_str),
        Some(TRUNCATED)
    );

    pods.truncate(MAX_CAPACITY - 1);
    let ep = converge(&svc, &pods, Some(&ep));
    assert_eq!(ep.metadata.annotations, None);
    assert_eq!(ips(&subsets(&ep)[0].addresses).len(), MAX_CAPACITY - 1);
}

#[test]
fn the_service_ip_family_picks_the_pod_ip() {
    let pods = [
        backend("dual", "web", "10.1.0.1")
            .ips(&["10.1.0.1", "fd00::1"])
            .build(),
        backend("v4only", "web", "10.1.0.2").build(),
        backend("legacy", "web", "").legacy_ip("10.1.0.3").build(),
    ];
    let v6 = service("web")
        .cluster_ip("fd00::10")
        .families(&["IPv6"])
        .build();
    let ep = converge(&v6, &pods, None);
    assert_eq!(ips(&subsets(&ep)[0].addresses), ["fd00::1"]);

    let v6_by_cluster_ip = service("web").cluster_ip("fd00::10").build();
    let ep = converge(&v6_by_cluster_ip, &pods, None);
    assert_eq!(ips(&subsets(&ep)[0].addresses), ["fd00::1"]);

    let v4 = service("web").build();
    let ep = converge(&v4, &pods, None);
    assert_eq!(
        ips(&subsets(&ep)[0].addresses),
        ["10.1.0.1", "10.1.0.2", "10.1.0.3"]
    );
}
