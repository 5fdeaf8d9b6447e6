//! Property tests: the repacked Endpoints says exactly what a naive per-pod, per-port
//! listing says, and planning again after writing it does nothing.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Endpoints, Service};
use proptest::prelude::*;

use super::fixtures::*;
use super::*;
use crate::cached_pod::CachedPod;
use crate::testing::t;

/// (IP, port name, port number, ready) facts.
type Facts = BTreeSet<(String, String, i32, bool)>;

fn naive(svc: &Service, pods: &[CachedPod]) -> Facts {
    let publish = address::publish_not_ready(svc);
    let mut out = Facts::new();
    for pod in pods {
        if pod.metadata.labels.as_ref().unwrap()["app"] != "web"
            || !address::should_pod_be_in_endpoints(pod, publish)
        {
            continue;
        }
        let Some(addr) = address::address_for_service(svc, pod) else {
            continue;
        };
        let ready = publish || crate::pods::is_ready(pod);
        for sp in svc.spec.as_ref().unwrap().ports.iter().flatten() {
            if let Some(port) = ports::find_port(pod, sp) {
                let name = sp.name.clone().unwrap_or_default();
                out.insert((addr.ip.clone(), name, port, ready));
            }
        }
    }
    out
}

fn facts(ep: &Endpoints) -> Facts {
    let mut out = Facts::new();
    for s in ep.subsets.iter().flatten() {
        assert!(s.addresses.is_some() || s.not_ready_addresses.is_some());
        for p in s.ports.iter().flatten() {
            let name = p.name.clone().unwrap_or_default();
            for a in s.addresses.iter().flatten() {
                assert!(out.insert((a.ip.clone(), name.clone(), p.port, true)));
            }
            for a in s.not_ready_addresses.iter().flatten() {
                assert!(out.insert((a.ip.clone(), name.clone(), p.port, false)));
            }
        }
    }
    out
}

fn sync(svc: &Service, pods: &[CachedPod], current: Option<Endpoints>) -> Option<Endpoints> {
    let obs = Observed {
        service: Some(svc),
        pods: pods.iter().collect(),
        endpoints: current.as_ref(),
        now: t(100),
    };
    let next = match plan(&obs).as_slice() {
        [] => return current,
        [Step::Create(ep) | Step::Update(ep)] => {
            serde_json::from_value(serde_json::to_value(ep.as_ref()).unwrap()).unwrap()
        }
        other => panic!("unexpected steps {other:?}"),
    };
    let again = Observed {
        endpoints: Some(&next),
        ..obs
    };
    assert_eq!(plan(&again), []);
    Some(next)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn endpoints_list_every_resolved_port_of_every_eligible_pod(
        rounds in prop::collection::vec(prop::collection::vec(arb_pod(), 0..24), 1..5),
        publish in any::<bool>(),
        v6 in prop::bool::weighted(0.3),
    ) {
        let mut b = service("web")
            .port("http", 80, named("web"), "TCP")
            .port("metrics", 9090, int(9090), "TCP");
        if publish {
            b = b.publish_not_ready();
        }
        if v6 {
            b = b.cluster_ip("fd00::10").families(&["IPv6"]);
        }
        let svc = b.build();
        let mut current = None;
        for choices in &rounds {
            let pods = build_unique(choices, "web");
            current = sync(&svc, &pods, current);
            let ep = current.as_ref().unwrap();
            prop_assert_eq!(facts(ep), naive(&svc, &pods));
        }
    }
}
