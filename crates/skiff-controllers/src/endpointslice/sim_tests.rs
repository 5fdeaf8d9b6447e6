//! Property tests: random pod populations over several syncs. After each sync the slices
//! hold exactly the eligible endpoints, once each, within the limit, with the ports their
//! pods resolve, and planning again does nothing.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Service;
use proptest::prelude::*;

use super::store::Store;
use super::*;
use crate::endpoints::address::{is_ipv6, pod_ips, should_pod_be_in_endpoints};
use crate::endpoints::fixtures::*;

fn the_service(dual: bool, publish: bool, headless: bool) -> Service {
    let mut b = service("web").port("http", 80, named("web"), "TCP").port(
        "metrics",
        9090,
        int(9090),
        "TCP",
    );
    if dual {
        b = b.families(&["IPv4", "IPv6"]);
    }
    if publish {
        b = b.publish_not_ready();
    }
    if headless {
        b = b
            .headless()
            .families(if dual { &["IPv4", "IPv6"] } else { &["IPv4"] });
    }
    b.build()
}

fn check(store: &Store, svc: &Service, pods: &[CachedPod], max: usize) {
    for family in desired::address_types(svc) {
        let slices: Vec<&EndpointSlice> = store
            .list()
            .into_iter()
            .filter(|s| s.address_type == family)
            .collect();
        let want: BTreeSet<String> = pods
            .iter()
            .filter(|p| p.metadata.labels.as_ref().unwrap()["app"] == "web")
            .filter(|p| should_pod_be_in_endpoints(p, true))
            .filter(|p| {
                pod_ips(p)
                    .iter()
                    .any(|ip| is_ipv6(ip) == (family == "IPv6"))
            })
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        let mut got = BTreeSet::new();
        for s in &slices {
            assert!(s.endpoints.len() <= max, "slice over the limit: {s:#?}");
            for e in &s.endpoints {
                let name = e.target_ref.as_ref().unwrap().name.clone().unwrap();
                assert!(got.insert(name.clone()), "{name} listed twice");
                let pod = pods
                    .iter()
                    .find(|p| p.metadata.name.as_ref() == Some(&name))
                    .unwrap();
                assert_eq!(e, &desired::pod_to_endpoint(pod, None, svc, family));
                let ports = desired::endpoint_ports(svc, pod);
                assert_eq!(
                    desired::port_key(s.ports.as_deref()),
                    desired::port_key(Some(&ports)),
                    "{name} in a slice of other ports"
                );
            }
        }
        assert_eq!(got, want, "{family} endpoints");
        let empty = slices.iter().filter(|s| s.endpoints.is_empty()).count();
        assert!(empty <= 1, "{empty} empty {family} slices");
        if want.is_empty() {
            assert_eq!(slices.len(), 1, "{family}: just the placeholder");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn slices_converge_to_exactly_the_eligible_endpoints(
        rounds in prop::collection::vec(prop::collection::vec(arb_pod(), 0..24), 1..5),
        max in 1usize..6,
        dual in any::<bool>(),
        publish in any::<bool>(),
        headless in prop::bool::weighted(0.2),
    ) {
        let svc = the_service(dual, publish, headless);
        let mut store = Store::default();
        for choices in &rounds {
            let pods = build_unique(choices, "web");
            store.converge_with(Some(&svc), &pods, None, max);
            check(&store, &svc, &pods, max);
        }
        // The Service goes: everything we made goes with it.
        store.converge_with(None, &[], None, max);
        prop_assert!(store.slices.is_empty());
    }
}
