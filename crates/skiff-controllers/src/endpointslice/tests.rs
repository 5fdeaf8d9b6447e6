use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::discovery::v1::EndpointConditions;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::store::{conditions, kinds, only, Store};
use super::*;
use crate::endpoints::fixtures::*;
use crate::endpoints::HEADLESS_LABEL;
use crate::testing::{labels, t};

#[test]
fn pods_of_a_service_land_in_one_owned_labeled_slice() {
    let svc = service("web").label("tier", "front").build();
    let pods = [
        backend("b", "web", "10.1.0.2").build(),
        backend("a", "web", "10.1.0.1").build(),
        backend("other", "db", "10.1.0.3").build(),
    ];
    let mut store = Store::default();
    let steps = store.converge(&svc, &pods);
    assert_eq!(kinds(&steps), ["create"]);
    let s = only(&store);
    assert_eq!(s.metadata.generate_name.as_deref(), Some("web-"));
    assert_eq!(s.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(
        s.metadata.labels,
        Some(labels(&[
            (MANAGED_BY_LABEL, CONTROLLER_NAME),
            (SERVICE_NAME_LABEL, "web"),
            ("tier", "front"),
        ]))
    );
    let owner = &s.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (
            owner.api_version.as_str(),
            owner.kind.as_str(),
            owner.name.as_str(),
            owner.uid.as_str()
        ),
        ("v1", "Service", "web", "uid-web")
    );
    assert_eq!(
        (owner.controller, owner.block_owner_deletion),
        (Some(true), Some(true))
    );
    assert_eq!(s.address_type, "IPv4");
    let port = &s.ports.as_ref().unwrap()[0];
    assert_eq!(
        (port.name.as_deref(), port.port, port.protocol.as_deref()),
        (Some("http"), Some(8080), Some("TCP"))
    );
    assert_eq!(store.ips(), [["10.1.0.1", "10.1.0.2"]]);
    let e = &s.endpoints[0];
    assert_eq!(e.conditions, conditions(true, true, false));
    assert_eq!(e.node_name.as_deref(), Some("node-1"));
    assert_eq!(e.zone, None);
    assert_eq!(
        e.target_ref,
        Some(ObjectReference {
            kind: Some("Pod".into()),
            name: Some("a".into()),
            namespace: Some("default".into()),
            uid: Some("uid-a".into()),
            ..Default::default()
        })
    );
}

#[test]
fn conditions_follow_readiness_and_termination_and_terminating_pods_stay() {
    let pods = [
        backend("ready", "web", "10.1.0.1").build(),
        backend("unready", "web", "10.1.0.2").not_ready().build(),
        backend("leaving", "web", "10.1.0.3").deleting().build(),
        backend("leaving-unready", "web", "10.1.0.4")
            .not_ready()
            .deleting()
            .build(),
        backend("done", "web", "10.1.0.5")
            .phase("Succeeded")
            .build(),
        backend("noip", "web", "10.1.0.6").no_ip().build(),
    ];
    let by_ip = |store: &Store| -> Vec<(String, Option<EndpointConditions>)> {
        only(store)
            .endpoints
            .iter()
            .map(|e| (e.addresses[0].clone(), e.conditions.clone()))
            .collect()
    };
    let mut store = Store::default();
    store.converge(&service("web").build(), &pods);
    assert_eq!(
        by_ip(&store),
        [
            ("10.1.0.1".into(), conditions(true, true, false)),
            ("10.1.0.2".into(), conditions(false, false, false)),
            ("10.1.0.3".into(), conditions(false, true, true)),
            ("10.1.0.4".into(), conditions(false, false, true)),
        ]
    );

    // publishNotReadyAddresses: every endpoint is ready, in place.
    let publish = service("web").publish_not_ready().build();
    let steps = store.converge(&publish, &pods);
    assert_eq!(kinds(&steps), ["update"]);
    let ready: Vec<_> = only(&store)
        .endpoints
        .iter()
        .map(|e| e.conditions.clone())
        .collect();
    assert_eq!(
        ready,
        [
            conditions(true, true, false),
            conditions(true, false, false),
            conditions(true, true, true),
            conditions(true, false, true),
        ]
    );
}

#[test]
fn a_service_without_endpoints_keeps_exactly_one_placeholder_slice() {
    let svc = service("web").build();
    let mut store = Store::default();
    assert_eq!(kinds(&store.converge(&svc, &[])), ["create"]);
    let placeholder = only(&store).clone();
    assert!(placeholder.endpoints.is_empty());
    assert_eq!(placeholder.ports, Some(vec![]));
    let placeholder_name = placeholder.metadata.name.clone();

    // The first pod turns the placeholder into a real slice: one update, no churn.
    let pods = [backend("a", "web", "10.1.0.1").build()];
    let steps = store.converge(&svc, &pods);
    assert_eq!(kinds(&steps), ["update"]);
    assert_eq!(only(&store).metadata.name, placeholder_name);
    assert_eq!(store.ips(), [["10.1.0.1"]]);

    // And back again when the pods go.
    let steps = store.converge(&svc, &[]);
    assert_eq!(kinds(&steps), ["update"]);
    assert!(only(&store).endpoints.is_empty());
    assert_eq!(only(&store).ports.as_deref().map(<[_]>::len), Some(0));

    // Pods without an address also leave just the placeholder.
    let pending = [backend("p", "web", "10.1.0.9").no_ip().build()];
    assert!(store.plan_with(Some(&svc), &pending, None, 100).is_empty());
}

#[test]
fn slices_hold_at_most_the_limit_and_are_updated_in_place() {
    let svc = service("web").build();
    let mut pods = backends("p", "web", 250);
    let mut store = Store::default();
    assert_eq!(
        kinds(&store.converge(&svc, &pods)),
        ["create", "create", "create"]
    );
    let mut sizes: Vec<usize> = store.ips().iter().map(Vec::len).collect();
    sizes.sort();
    assert_eq!(sizes, [50, 100, 100]);

    // Removing pods only rewrites the slices that held them.
    pods.retain(|p| !p.metadata.name.as_deref().unwrap().ends_with('7'));
    let steps = store.converge(&svc, &pods);
    assert!(kinds(&steps).iter().all(|k| *k == "update"), "{steps:?}");
    let total: usize = store.ips().iter().map(Vec::len).sum();
    assert_eq!(total, 225);

    // New pods top up slices being updated before anything is created.
    pods.retain(|p| p.metadata.name.as_deref() != Some("p-0000"));
    pods.extend(backends("q", "web", 20));
    let steps = store.converge(&svc, &pods);
    assert!(kinds(&steps).iter().all(|k| *k == "update"), "{steps:?}");
    assert!(store
        .ips()
        .iter()
        .all(|s| s.len() <= MAX_ENDPOINTS_PER_SLICE));
    let total: usize = store.ips().iter().map(Vec::len).sum();
    assert_eq!(total, 244);
}

#[test]
fn leftover_endpoints_go_into_the_unchanged_slice_they_fill_best() {
    let svc = service("web").build();
    let mut store = Store::default();
    let mut pods = backends("p", "web", 7);
    store.converge_with(Some(&svc), &pods, None, 4);
    assert_eq!(store.ips().iter().map(Vec::len).collect::<Vec<_>>(), [4, 3]);
    pods.push(backend("z", "web", "10.9.0.1").build());
    let steps = store.converge_with(Some(&svc), &pods, None, 4);
    assert_eq!(kinds(&steps), ["update"]);
    assert_eq!(store.ips().iter().map(Vec::len).collect::<Vec<_>>(), [4, 4]);
}

#[test]
fn pods_resolving_different_port_sets_get_different_slices() {
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
        backend("c", "web", "10.1.0.3")
            .container_port("web", 8080, "TCP")
            .build(),
        backend("d", "web", "10.1.0.4")
            .container_port("other", 1, "TCP")
            .build(),
    ];
    let mut store = Store::default();
    store.converge(&svc, &pods);
    let mut got: Vec<(Vec<Option<i32>>, Vec<String>)> = store
        .list()
        .iter()
        .map(|s| {
            let ports = s.ports.iter().flatten().map(|p| p.port).collect();
            (
                ports,
                s.endpoints
                    .iter()
                    .flat_map(|e| e.addresses.clone())
                    .collect(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (
                vec![Some(8080), Some(9090)],
                vec!["10.1.0.1".into(), "10.1.0.3".into()]
            ),
            (vec![Some(8081), Some(9090)], vec!["10.1.0.2".into()]),
            (vec![Some(9090)], vec!["10.1.0.4".into()]),
        ]
    );
}

#[test]
fn zones_come_from_nodes_and_pods_on_unknown_nodes_wait() {
    let svc = service("web").build();
    let pods = [
        backend("a", "web", "10.1.0.1").node("n1").build(),
        backend("b", "web", "10.1.0.2").node("n2").build(),
        backend("c", "web", "10.1.0.3").node("ghost").build(),
    ];
    let nodes = [node("n1", Some("zone-a")), node("n2", None)];
    let mut store = Store::default();
    store.converge_with(Some(&svc), &pods, Some(&nodes), 100);
    let zones: Vec<(String, Option<String>)> = only(&store)
        .endpoints
        .iter()
        .map(|e| (e.addresses[0].clone(), e.zone.clone()))
        .collect();
    assert_eq!(
        zones,
        [
            ("10.1.0.1".into(), Some("zone-a".into())),
            ("10.1.0.2".into(), None)
        ]
    );

    let publish = service("web").publish_not_ready().build();
    store.converge_with(Some(&publish), &pods, Some(&nodes), 100);
    assert_eq!(store.ips(), [["10.1.0.1", "10.1.0.2", "10.1.0.3"]]);

    // Without node information every pod is listed, without zones.
    store.converge_with(Some(&svc), &pods, None, 100);
    assert!(only(&store).endpoints.iter().all(|e| e.zone.is_none()));
}

#[test]
fn each_ip_family_gets_its_own_slices() {
    let pods = [
        backend("dual", "web", "10.1.0.1")
            .ips(&["10.1.0.1", "fd00::1"])
            .build(),
        backend("v6", "web", "fd00::2").build(),
        backend("sloppy", "web", "010.001.000.003").build(),
    ];
    let dual = service("web").families(&["IPv6", "IPv4"]).build();
    let mut store = Store::default();
    store.converge(&dual, &pods);
    let mut got: Vec<(String, Vec<String>)> = store
        .list()
        .iter()
        .map(|s| {
            (
                s.address_type.clone(),
                s.endpoints
                    .iter()
                    .flat_map(|e| e.addresses.clone())
                    .collect(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("IPv4".into(), vec!["10.1.0.1".into(), "10.1.0.3".into()]),
            ("IPv6".into(), vec!["fd00::1".into(), "fd00::2".into()]),
        ]
    );

    // Dropping a family deletes its slices.
    let v4 = service("web").families(&["IPv4"]).build();
    let steps = store.converge(&v4, &pods);
    assert_eq!(kinds(&steps), ["delete"]);
    assert_eq!(only(&store).address_type, "IPv4");

    // A headless Service with no families yet gets both (upstream's upgrade rule).
    let mut store = Store::default();
    store.converge(&service("web").headless().build(), &[]);
    let types: Vec<&str> = store
        .list()
        .iter()
        .map(|s| s.address_type.as_str())
        .collect();
    assert_eq!(types.len(), 2);
    assert!(types.contains(&"IPv4") && types.contains(&"IPv6"));
}

#[test]
fn slices_of_other_managers_or_being_deleted_are_ignored() {
    let svc = service("web").build();
    let pods = [backend("a", "web", "10.1.0.1").build()];
    let mut store = Store::default();
    store.converge(&svc, &pods);
    let mut foreign = only(&store).clone();
    foreign.metadata.name = Some("web-mirror".into());
    foreign.metadata.labels.as_mut().unwrap().insert(
        MANAGED_BY_LABEL.into(),
        "endpointslicemirroring-controller.k8s.io".into(),
    );
    let mut dying = only(&store).clone();
    dying.metadata.name = Some("web-dying".into());
    dying.metadata.deletion_timestamp = Some(Time(t(50)));
    store.slices.insert("web-mirror".into(), foreign);
    store.slices.insert("web-dying".into(), dying);
    assert!(store.plan_with(Some(&svc), &pods, None, 100).is_empty());

    // The Service is gone: only our live slices are deleted.
    let steps = store.plan_with(None, &pods, None, 100);
    assert_eq!(kinds(&steps), ["delete"]);
    assert_eq!(steps[0], Step::DeleteSlice("web-1".into()));
}

#[test]
fn slices_owned_by_an_older_service_of_the_same_name_are_replaced() {
    let old = service("web").uid("old-uid").build();
    let pods = [backend("a", "web", "10.1.0.1").build()];
    let mut store = Store::default();
    store.converge(&old, &pods);
    let new = service("web").uid("new-uid").build();
    let steps = store.converge(&new, &pods);
    assert_eq!(kinds(&steps), ["create", "delete"]);
    let owner = &only(&store).metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(owner.uid, "new-uid");
}

#[test]
fn services_without_selector_or_external_name_are_left_alone() {
    let pods = [backend("a", "web", "10.1.0.1").build()];
    let mut store = Store::default();
    store.converge(&service("web").build(), &pods);
    for svc in [
        service("web").no_selector().build(),
        service("web").external_name().build(),
    ] {
        assert!(store.plan_with(Some(&svc), &pods, None, 100).is_empty());
    }
}

#[test]
fn a_service_being_deleted_gets_updates_but_no_new_slices() {
    let svc = service("web").deleting().build();
    let mut store = Store::default();
    assert!(store.plan_with(Some(&svc), &[], None, 100).is_empty());
    store.converge(&service("web").build(), &backends("p", "web", 3));
    let steps = store.plan_with(Some(&svc), &backends("p", "web", 2), None, 100);
    assert_eq!(kinds(&steps), ["update"]);
}

#[test]
fn label_changes_rewrite_slices_and_reserved_service_labels_are_ignored() {
    let pods = [backend("a", "web", "10.1.0.1").build()];
    let mut store = Store::default();
    store.converge(&service("web").build(), &pods);
    let relabeled = service("web")
        .label("team", "x")
        .label(SERVICE_NAME_LABEL, "spoof")
        .label(MANAGED_BY_LABEL, "me")
        .build();
    let steps = store.converge(&relabeled, &pods);
    assert_eq!(kinds(&steps), ["update"]);
    assert_eq!(
        only(&store).metadata.labels,
        Some(labels(&[
            (MANAGED_BY_LABEL, CONTROLLER_NAME),
            (SERVICE_NAME_LABEL, "web"),
            ("team", "x"),
        ]))
    );

    let mut store = Store::default();
    let headless = service("web").headless().families(&["IPv4"]).build();
    store.converge(&headless, &pods);
    let l = only(&store).metadata.labels.clone().unwrap();
    assert_eq!(l.get(HEADLESS_LABEL).map(String::as_str), Some(""));
}

#[test]
fn hostnames_are_set_for_pods_in_the_service_subdomain() {
    let svc = service("web").headless().families(&["IPv4"]).build();
    let pods = [
        backend("a", "web", "10.1.0.1").hostname("a", "web").build(),
        backend("b", "web", "10.1.0.2")
            .hostname("b", "else")
            .build(),
    ];
    let mut store = Store::default();
    store.converge(&svc, &pods);
    let hosts: Vec<Option<&str>> = only(&store)
        .endpoints
        .iter()
        .map(|e| e.hostname.as_deref())
        .collect();
    assert_eq!(hosts, [Some("a"), None]);
}

#[test]
fn irrelevant_differences_do_not_cause_writes_and_updates_carry_the_resource_version() {
    let svc = service("web").build();
    let pods = [
        backend("a", "web", "10.1.0.1").build(),
        backend("b", "web", "10.1.0.2").build(),
    ];
    let mut store = Store::default();
    store.converge(&svc, &pods);
    let name = only(&store).metadata.name.clone().unwrap();
    {
        let s = store.slices.get_mut(&name).unwrap();
        s.endpoints[0].target_ref.as_mut().unwrap().resource_version = Some("7".into());
        s.endpoints.reverse();
        s.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(
                crate::endpoints::LAST_CHANGE_TRIGGER_TIME_ANNOTATION.into(),
                "x".into(),
            );
    }
    assert!(store.plan_with(Some(&svc), &pods, None, 100).is_empty());

    let steps = store.plan_with(Some(&svc), &pods[..1], None, 100);
    let [Step::UpdateSlice(s)] = steps.as_slice() else {
        panic!("{steps:?}")
    };
    assert_eq!(s.metadata.resource_version.as_deref(), Some("1"));
    assert_eq!(s.metadata.annotations, None);
    assert_eq!(s.metadata.uid.as_deref(), Some("slice-uid-1"));

    let mut rev = pods.to_vec();
    rev.reverse();
    let fresh = Store::default();
    assert_eq!(
        fresh.plan_with(Some(&svc), &pods, None, 100),
        fresh.plan_with(Some(&svc), &rev, None, 100)
    );
}

#[test]
fn a_service_without_ports_still_lists_its_pods() {
    let pods = [backend("a", "web", "10.1.0.1").build()];
    let mut store = Store::default();
    store.converge(&service("web").no_ports().build(), &pods);
    assert_eq!(store.ips(), [["10.1.0.1"]]);
    assert_eq!(only(&store).ports, Some(vec![]));
}
