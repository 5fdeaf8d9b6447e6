//! What the scheduler needs besides nodes and pods: the Services, ReplicaSets,
//! ReplicationControllers and StatefulSets that select pods (default topology spreading), the
//! PodDisruptionBudgets (preemption) and namespace labels (affinity namespaceSelectors). Kept
//! from watches and installed into the snapshot before a scheduling pass when changed.

use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, ReplicationController, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::Api;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::Resource;
use skiff_scheduler::{Snapshot, Workloads};
use std::collections::BTreeMap;
use std::pin::Pin;

/// One watch event of a context kind (short-lived: boxed sizes do not matter here).
#[allow(clippy::large_enum_variant)]
pub enum ContextChange {
    Service(Event<Service>),
    ReplicaSet(Event<ReplicaSet>),
    ReplicationController(Event<ReplicationController>),
    StatefulSet(Event<StatefulSet>),
    Pdb(Event<PodDisruptionBudget>),
    Namespace(Event<Namespace>),
}

type Objects<K> = BTreeMap<(String, String), K>;

fn key<K: Resource>(o: &K) -> (String, String) {
    (
        o.meta().namespace.clone().unwrap_or_default(),
        o.meta().name.clone().unwrap_or_default(),
    )
}

/// Applies an event to a map; true if it changed what scheduling reads (`same` says whether
/// two versions of an object are equivalent for scheduling, e.g. status-only changes).
fn apply<K: Resource + Clone>(
    map: &mut Objects<K>,
    pending: &mut Option<Objects<K>>,
    e: Event<K>,
    same: fn(&K, &K) -> bool,
) -> bool {
    match e {
        Event::Init => {
            *pending = Some(BTreeMap::new());
            false
        }
        Event::InitApply(o) => {
            pending.get_or_insert_with(BTreeMap::new).insert(key(&o), o);
            false
        }
        Event::InitDone => {
            *map = pending.take().unwrap_or_default();
            true
        }
        Event::Apply(o) => match map.insert(key(&o), o.clone()) {
            Some(old) => !same(&old, &o),
            None => true,
        },
        Event::Delete(o) => map.remove(&key(&o)).is_some(),
    }
}

/// The scheduler's view of the context kinds.
#[derive(Default)]
pub struct Context {
    services: Objects<Service>,
    replica_sets: Objects<ReplicaSet>,
    controllers: Objects<ReplicationController>,
    stateful_sets: Objects<StatefulSet>,
    pdbs: Objects<PodDisruptionBudget>,
    namespaces: Objects<Namespace>,
    pending: Pending,
    dirty: bool,
}

#[derive(Default)]
struct Pending {
    services: Option<Objects<Service>>,
    replica_sets: Option<Objects<ReplicaSet>>,
    controllers: Option<Objects<ReplicationController>>,
    stateful_sets: Option<Objects<StatefulSet>>,
    pdbs: Option<Objects<PodDisruptionBudget>>,
    namespaces: Option<Objects<Namespace>>,
}

impl Context {
    /// Applies one change.
    pub fn apply(&mut self, c: ContextChange) {
        let p = &mut self.pending;
        // Selectors and labels matter to spreading and affinity; PDB status to preemption.
        let changed = match c {
            ContextChange::Service(e) => apply(&mut self.services, &mut p.services, e, |a, b| {
                a.spec.as_ref().map(|s| &s.selector) == b.spec.as_ref().map(|s| &s.selector)
            }),
            ContextChange::ReplicaSet(e) => {
                apply(&mut self.replica_sets, &mut p.replica_sets, e, |a, b| {
                    a.spec.as_ref().map(|s| &s.selector) == b.spec.as_ref().map(|s| &s.selector)
                })
            }
            ContextChange::ReplicationController(e) => {
                apply(&mut self.controllers, &mut p.controllers, e, |a, b| {
                    a.spec.as_ref().map(|s| &s.selector) == b.spec.as_ref().map(|s| &s.selector)
                })
            }
            ContextChange::StatefulSet(e) => {
                apply(&mut self.stateful_sets, &mut p.stateful_sets, e, |a, b| {
                    a.spec.as_ref().map(|s| &s.selector) == b.spec.as_ref().map(|s| &s.selector)
                })
            }
            ContextChange::Pdb(e) => apply(&mut self.pdbs, &mut p.pdbs, e, |a, b| a == b),
            ContextChange::Namespace(e) => {
                apply(&mut self.namespaces, &mut p.namespaces, e, |a, b| {
                    a.metadata.labels == b.metadata.labels
                })
            }
        };
        self.dirty |= changed;
    }

    /// Puts the current context into `snapshot` if it changed since the last time.
    pub fn install(&mut self, snapshot: &mut Snapshot) {
        if !std::mem::take(&mut self.dirty) {
            return;
        }
        let namespaces: Vec<Namespace> = self.namespaces.values().cloned().collect();
        *snapshot = std::mem::take(snapshot)
            .with_workloads(Workloads {
                services: self.services.values().cloned().collect(),
                replication_controllers: self.controllers.values().cloned().collect(),
                replica_sets: self.replica_sets.values().cloned().collect(),
                stateful_sets: self.stateful_sets.values().cloned().collect(),
            })
            .with_pdbs(self.pdbs.values().cloned().collect())
            .with_namespaces(&namespaces);
    }
}

fn watch<K, F>(client: &kube::Client, wrap: F) -> Pin<Box<dyn Stream<Item = ContextChange> + Send>>
where
    K: Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + 'static,
    F: Fn(Event<K>) -> ContextChange + Send + Copy + 'static,
{
    Box::pin(
        watcher::watcher(Api::<K>::all(client.clone()), watcher::Config::default())
            .modify(|o: &mut K| o.meta_mut().managed_fields = None)
            .filter_map(move |e| async move { e.ok().map(wrap) }),
    )
}

/// The merged watch of every context kind.
pub fn changes(client: &kube::Client) -> Pin<Box<dyn Stream<Item = ContextChange> + Send>> {
    Box::pin(futures::stream::select_all([
        watch(client, ContextChange::Service),
        watch(client, ContextChange::ReplicaSet),
        watch(client, ContextChange::ReplicationController),
        watch(client, ContextChange::StatefulSet),
        watch(client, ContextChange::Pdb),
        watch(client, ContextChange::Namespace),
    ]))
}
