//! An in-memory API server for EndpointSlices, for tests: names from generateName,
//! resourceVersion checks on update, JSON round trips.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::{EndpointConditions, EndpointSlice};

use super::*;
use crate::cached_pod::CachedPod;
use crate::testing::t;

/// The EndpointSlices the API server holds, by name.
#[derive(Default)]
pub(crate) struct Store {
    pub slices: BTreeMap<String, EndpointSlice>,
    next: u64,
}

impl Store {
    pub fn list(&self) -> Vec<&EndpointSlice> {
        self.slices.values().collect()
    }

    pub fn plan_with(
        &self,
        svc: Option<&Service>,
        pods: &[CachedPod],
        nodes: Option<&[Node]>,
        max: usize,
    ) -> Vec<Step> {
        let obs = Observed {
            service: svc,
            pods: pods.iter().collect(),
            slices: self.list(),
            nodes: nodes.map(|n| n.iter().collect()),
            now: t(100),
        };
        plan_with_limit(&obs, max)
    }

    /// Applies steps like the API server would: names from generateName, resourceVersion
    /// checked on update, JSON round trips.
    pub fn apply(&mut self, steps: &[Step]) {
        for step in steps {
            match step {
                Step::CreateSlice(s) => {
                    assert!(s.metadata.name.is_none(), "create with a name: {s:?}");
                    self.next += 1;
                    let mut s = roundtrip(s);
                    let name =
                        format!("{}{}", s.metadata.generate_name.clone().unwrap(), self.next);
                    s.metadata.name = Some(name.clone());
                    s.metadata.uid = Some(format!("slice-uid-{}", self.next));
                    s.metadata.resource_version = Some("1".into());
                    assert!(self.slices.insert(name, s).is_none());
                }
                Step::UpdateSlice(s) => {
                    let name = s.metadata.name.clone().expect("update without a name");
                    let old = self.slices.get(&name).expect("update of a missing slice");
                    assert_eq!(old.metadata.resource_version, s.metadata.resource_version);
                    assert_eq!(old.address_type, s.address_type, "addressType is immutable");
                    let rv: u64 = old
                        .metadata
                        .resource_version
                        .as_deref()
                        .unwrap()
                        .parse()
                        .unwrap();
                    let mut s = roundtrip(s);
                    s.metadata.resource_version = Some((rv + 1).to_string());
                    self.slices.insert(name, s);
                }
                Step::DeleteSlice(name) => {
                    assert!(
                        self.slices.remove(name).is_some(),
                        "delete of missing {name}"
                    );
                }
            }
        }
    }

    /// Plans, applies, and checks that planning again changes nothing.
    pub fn converge_with(
        &mut self,
        svc: Option<&Service>,
        pods: &[CachedPod],
        nodes: Option<&[Node]>,
        max: usize,
    ) -> Vec<Step> {
        let steps = self.plan_with(svc, pods, nodes, max);
        self.apply(&steps);
        let again = self.plan_with(svc, pods, nodes, max);
        assert!(again.is_empty(), "second plan not empty: {again:#?}");
        steps
    }

    pub fn converge(&mut self, svc: &Service, pods: &[CachedPod]) -> Vec<Step> {
        self.converge_with(Some(svc), pods, None, MAX_ENDPOINTS_PER_SLICE)
    }

    /// IPs per slice, in slice name order.
    pub fn ips(&self) -> Vec<Vec<String>> {
        self.slices
            .values()
            .map(|s| {
                s.endpoints
                    .iter()
                    .flat_map(|e| e.addresses.clone())
                    .collect()
            })
            .collect()
    }
}

fn roundtrip(s: &EndpointSlice) -> EndpointSlice {
    serde_json::from_value(serde_json::to_value(s).unwrap()).unwrap()
}

/// The kind of each step.
pub fn kinds(steps: &[Step]) -> Vec<&'static str> {
    steps
        .iter()
        .map(|s| match s {
            Step::CreateSlice(_) => "create",
            Step::UpdateSlice(_) => "update",
            Step::DeleteSlice(_) => "delete",
        })
        .collect()
}

/// Endpoint conditions.
pub fn conditions(ready: bool, serving: bool, terminating: bool) -> Option<EndpointConditions> {
    Some(EndpointConditions {
        ready: Some(ready),
        serving: Some(serving),
        terminating: Some(terminating),
    })
}

/// The one slice the store holds.
pub fn only(store: &Store) -> &EndpointSlice {
    let all = store.list();
    assert_eq!(all.len(), 1, "{all:#?}");
    all[0]
}
