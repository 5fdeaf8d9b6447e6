//! An indexed, read-mostly cache of one kind: by namespace/name, and by controller uid.

use kube::Resource;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

/// Namespace and name of an object (namespace empty for cluster-scoped kinds).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// Namespace, or "" for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectKey {
    /// A key from its parts.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The key of an object.
    pub fn of<K: Resource>(obj: &K) -> Self {
        Self::new(
            obj.meta().namespace.clone().unwrap_or_default(),
            obj.meta().name.clone().unwrap_or_default(),
        )
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}/{}", self.namespace, self.name)
        }
    }
}

struct Inner<K> {
    objects: BTreeMap<ObjectKey, Arc<K>>,
    /// Controller uid → keys of the objects it controls.
    by_controller: HashMap<String, BTreeSet<ObjectKey>>,
    /// The highest resourceVersion seen in an event or list.
    revision: u64,
}

/// Objects of one kind as last observed. Readers get `Arc`s; only the informer writes.
pub struct Cache<K> {
    inner: RwLock<Inner<K>>,
    synced: watch::Sender<bool>,
}

/// The uid of `obj`'s controller, or "" for an orphan (orphans are indexed too).
fn controller_uid<K: Resource>(obj: &K) -> String {
    obj.meta()
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
        .map(|r| r.uid.clone())
        .unwrap_or_default()
}

/// The resourceVersion as a number (Skiff's and etcd's are revisions).
pub(crate) fn revision_of<K: Resource>(obj: &K) -> u64 {
    obj.meta()
        .resource_version
        .as_deref()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

impl<K: Resource> Cache<K> {
    pub(crate) fn new() -> Self {
        Self {
            inner: RwLock::new(Inner {
                objects: BTreeMap::new(),
                by_controller: HashMap::new(),
                revision: 0,
            }),
            synced: watch::channel(false).0,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner<K>> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner<K>> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The object with this key.
    pub fn get(&self, key: &ObjectKey) -> Option<Arc<K>> {
        self.read().objects.get(key).cloned()
    }

    /// Every object of a namespace ("" lists cluster-scoped objects).
    pub fn list_namespace(&self, namespace: &str) -> Vec<Arc<K>> {
        let from = ObjectKey::new(namespace, "");
        self.read()
            .objects
            .range(from..)
            .take_while(|(k, _)| k.namespace == namespace)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Every object.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.read().objects.values().cloned().collect()
    }

    /// The objects whose controller reference has this uid.
    pub fn controlled_by(&self, uid: &str) -> Vec<Arc<K>> {
        let inner = self.read();
        inner
            .by_controller
            .get(uid)
            .into_iter()
            .flatten()
            .filter_map(|k| inner.objects.get(k).cloned())
            .collect()
    }

    /// The objects of a namespace without a controller reference (candidates for adoption).
    pub fn orphans(&self, namespace: &str) -> Vec<Arc<K>> {
        let inner = self.read();
        let from = ObjectKey::new(namespace, "");
        inner
            .by_controller
            .get("")
            .into_iter()
            .flat_map(|set| set.range(from.clone()..))
            .take_while(|k| k.namespace == namespace)
            .filter_map(|k| inner.objects.get(k).cloned())
            .collect()
    }

    /// The objects a controller may claim: those it controls and the namespace's orphans.
    pub fn claimable(&self, namespace: &str, uid: &str) -> Vec<Arc<K>> {
        let mut v = self.controlled_by(uid);
        v.extend(self.orphans(namespace));
        v
    }

    /// How many objects are cached.
    pub fn len(&self) -> usize {
        self.read().objects.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The highest resourceVersion observed: every write at or below it is reflected.
    pub fn revision(&self) -> u64 {
        self.read().revision
    }

    /// Whether the first complete list has been loaded.
    pub fn is_synced(&self) -> bool {
        *self.synced.borrow()
    }

    /// Waits for the first complete list.
    pub async fn wait_synced(&self) {
        let mut rx = self.synced.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Stores `obj`, returning what it replaced.
    pub(crate) fn upsert(&self, obj: Arc<K>) -> Option<Arc<K>> {
        let key = ObjectKey::of(obj.as_ref());
        let mut inner = self.write();
        inner.revision = inner.revision.max(revision_of(obj.as_ref()));
        let uid = controller_uid(obj.as_ref());
        let old = inner.objects.insert(key.clone(), obj);
        if let Some(old_uid) = old.as_deref().map(controller_uid) {
            if old_uid != uid {
                unindex(&mut inner.by_controller, &old_uid, &key);
            }
        }
        inner.by_controller.entry(uid).or_default().insert(key);
        old
    }

    /// Removes the object with `obj`'s key, returning the cached one.
    pub(crate) fn remove(&self, obj: &K) -> Option<Arc<K>> {
        let key = ObjectKey::of(obj);
        let mut inner = self.write();
        inner.revision = inner.revision.max(revision_of(obj));
        let old = inner.objects.remove(&key);
        if let Some(uid) = old.as_deref().map(controller_uid) {
            unindex(&mut inner.by_controller, &uid, &key);
        }
        old
    }

    pub(crate) fn mark_synced(&self) {
        self.synced.send_replace(true);
    }
}

fn unindex(index: &mut HashMap<String, BTreeSet<ObjectKey>>, uid: &str, key: &ObjectKey) {
    if let Some(set) = index.get_mut(uid) {
        set.remove(key);
        if set.is_empty() {
            index.remove(uid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

    fn pod(ns: &str, name: &str, owner: Option<&str>, rv: &str) -> Arc<Pod> {
        Arc::new(Pod {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                resource_version: Some(rv.into()),
                owner_references: owner.map(|uid| {
                    vec![OwnerReference {
                        uid: uid.into(),
                        controller: Some(true),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    #[test]
    fn lists_by_namespace_and_controller() {
        let c = Cache::<Pod>::new();
        c.upsert(pod("a", "p1", Some("rs1"), "5"));
        c.upsert(pod("a", "p2", None, "6"));
        c.upsert(pod("b", "p1", Some("rs1"), "7"));
        c.upsert(pod("ab", "p9", None, "3"));
        let names = |v: Vec<Arc<Pod>>| {
            v.iter()
                .map(|p| ObjectKey::of(p.as_ref()).to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(c.list_namespace("a")), ["a/p1", "a/p2"]);
        assert_eq!(names(c.controlled_by("rs1")), ["a/p1", "b/p1"]);
        assert_eq!(names(c.orphans("a")), ["a/p2"]);
        assert_eq!(names(c.claimable("a", "rs1")), ["a/p1", "b/p1", "a/p2"]);
        assert_eq!(c.revision(), 7);
        // Released by its controller: leaves the index.
        c.upsert(pod("a", "p1", None, "8"));
        assert_eq!(names(c.controlled_by("rs1")), ["b/p1"]);
        assert_eq!(names(c.orphans("a")), ["a/p1", "a/p2"]);
        c.remove(&pod("b", "p1", None, "9"));
        assert!(c.controlled_by("rs1").is_empty());
        assert_eq!(c.len(), 3);
        assert_eq!(c.revision(), 9);
    }
}
