//! What the scheduler needs besides nodes and pods: the Services, ReplicaSets,
//! ReplicationControllers and StatefulSets that select pods (default topology spreading), the
//! PodDisruptionBudgets (preemption), namespace labels (affinity namespaceSelectors) and the
//! claims, volumes and StorageClasses VolumeBinding reads. Kept
//! from watches and installed into the snapshot before a scheduling pass when changed.

use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{
    Namespace, PersistentVolume, PersistentVolumeClaim, ReplicationController, Service,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::Api;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::Resource;
use skiff_scheduler::framework::EventResource;
use skiff_scheduler::{Snapshot, Volumes, Workloads};
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
    Claim(Event<PersistentVolumeClaim>),
    Volume(Event<PersistentVolume>),
    Class(Event<StorageClass>),
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
    claims: Objects<PersistentVolumeClaim>,
    volumes: Objects<PersistentVolume>,
    classes: Objects<StorageClass>,
    pending: Pending,
    dirty: bool,
    volumes_dirty: bool,
}

#[derive(Default)]
struct Pending {
    services: Option<Objects<Service>>,
    replica_sets: Option<Objects<ReplicaSet>>,
    controllers: Option<Objects<ReplicationController>>,
    stateful_sets: Option<Objects<StatefulSet>>,
    pdbs: Option<Objects<PodDisruptionBudget>>,
    namespaces: Option<Objects<Namespace>>,
    claims: Option<Objects<PersistentVolumeClaim>>,
    volumes: Option<Objects<PersistentVolume>>,
    classes: Option<Objects<StorageClass>>,
}

impl Context {
    /// Applies one change; for a storage kind that changed, the resource to tell the
    /// scheduling queue about (pods waiting for a claim or a volume are tried again).
    pub fn apply(&mut self, c: ContextChange) -> Option<EventResource> {
        let p = &mut self.pending;
        let storage = match c {
            ContextChange::Claim(e) => Some((
                EventResource::PersistentVolumeClaim,
                apply(&mut self.claims, &mut p.claims, e, |a, b| {
                    a.spec == b.spec
                        && a.metadata.deletion_timestamp == b.metadata.deletion_timestamp
                }),
            )),
            ContextChange::Volume(e) => Some((
                EventResource::PersistentVolume,
                apply(&mut self.volumes, &mut p.volumes, e, |a, b| {
                    a.spec == b.spec
                }),
            )),
            ContextChange::Class(e) => Some((
                EventResource::StorageClass,
                apply(&mut self.classes, &mut p.classes, e, |a, b| {
                    a.volume_binding_mode == b.volume_binding_mode
                }),
            )),
            other => {
                self.apply_workload(other);
                None
            }
        };
        let (resource, changed) = storage?;
        self.volumes_dirty |= changed;
        changed.then_some(resource)
    }

    fn apply_workload(&mut self, c: ContextChange) {
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
            ContextChange::Claim(_) | ContextChange::Volume(_) | ContextChange::Class(_) => false,
        };
        self.dirty |= changed;
    }

    /// Puts the current context into `snapshot` if it changed since the last time.
    pub fn install(&mut self, snapshot: &mut Snapshot) {
        if std::mem::take(&mut self.volumes_dirty) {
            let name = |m: &kube::api::ObjectMeta| m.name.clone().unwrap_or_default();
            *snapshot = std::mem::take(snapshot).with_volumes(Volumes {
                claims: self
                    .claims
                    .iter()
                    .map(|((ns, n), c)| (format!("{ns}/{n}"), c.clone()))
                    .collect(),
                volumes: self
                    .volumes
                    .values()
                    .map(|v| (name(&v.metadata), v.clone()))
                    .collect(),
                classes: self
                    .classes
                    .values()
                    .map(|c| (name(&c.metadata), c.clone()))
                    .collect(),
            });
        }
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
        watch(client, ContextChange::Claim),
        watch(client, ContextChange::Volume),
        watch(client, ContextChange::Class),
    ]))
}
