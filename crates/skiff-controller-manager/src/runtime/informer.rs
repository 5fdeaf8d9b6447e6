//! An informer: one watch of a kind (list, then watch, relisting when the watch expires)
//! applied to a [`Cache`], with handlers called after each change is in the cache.

use super::cache::{Cache, ObjectKey};
use futures::StreamExt;
use kube::api::Api;
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::Resource;
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// One change, as handlers see it (the cache already reflects it).
pub enum Change<'a, K> {
    /// Added (`old` is None) or modified.
    Applied {
        /// The object before, if it was cached.
        old: Option<&'a Arc<K>>,
        /// The object now.
        new: &'a Arc<K>,
    },
    /// Deleted; the last state seen.
    Deleted(&'a Arc<K>),
}

impl<K> Change<'_, K> {
    /// The object after the change (the last state for a deletion).
    pub fn object(&self) -> &K {
        match self {
            Change::Applied { new, .. } => new,
            Change::Deleted(o) => o,
        }
    }

    /// The object before the change, if any.
    pub fn old(&self) -> Option<&K> {
        match self {
            Change::Applied { old, .. } => old.map(|o| o.as_ref()),
            Change::Deleted(o) => Some(o),
        }
    }
}

type Handler<K> = Box<dyn Fn(&Change<'_, K>) + Send + Sync>;

/// Keeps a [`Cache`] of one kind current and tells handlers about changes.
pub struct Informer<K> {
    api: Api<K>,
    config: watcher::Config,
    /// Applied to every object before it is cached (after managedFields are dropped).
    transform: Option<fn(&mut K)>,
    cache: Arc<Cache<K>>,
    handlers: Mutex<Vec<Handler<K>>>,
}

impl<K> Informer<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    /// An informer over everything `api` can list.
    pub fn new(api: Api<K>) -> Arc<Self> {
        Self::with_config(api, watcher::Config::default())
    }

    /// An informer with a label or field selector.
    pub fn with_config(api: Api<K>, config: watcher::Config) -> Arc<Self> {
        Self::build(api, config, None)
    }

    /// An informer over everything `api` can list that caches `transform` of each object:
    /// the way to drop fields no reader of the cache needs (client-go's `SetTransform`). The
    /// cached objects are then partial, so they must never be written back whole.
    pub fn transformed(api: Api<K>, transform: fn(&mut K)) -> Arc<Self> {
        Self::build(api, watcher::Config::default(), Some(transform))
    }

    fn build(api: Api<K>, config: watcher::Config, transform: Option<fn(&mut K)>) -> Arc<Self> {
        Arc::new(Self {
            api,
            config,
            transform,
            cache: Arc::new(Cache::new()),
            handlers: Mutex::new(Vec::new()),
        })
    }

    /// The cache this informer fills.
    pub fn cache(&self) -> Arc<Cache<K>> {
        self.cache.clone()
    }

    /// Waits until the first complete list is in the cache.
    pub async fn wait_synced(&self) {
        self.cache.wait_synced().await
    }

    /// Calls `f` after every change. Handlers must be quick: they enqueue work, nothing more.
    pub fn on_change(&self, f: impl Fn(&Change<'_, K>) + Send + Sync + 'static) {
        self.handlers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Box::new(f));
    }

    fn notify(&self, change: Change<'_, K>) {
        for h in self
            .handlers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            h(&change);
        }
    }

    fn apply(&self, obj: K) {
        let new = Arc::new(obj);
        let old = self.cache.upsert(new.clone());
        self.notify(Change::Applied {
            old: old.as_ref(),
            new: &new,
        });
    }

    fn delete(&self, obj: &K) {
        let gone = self.cache.remove(obj);
        let last = gone.unwrap_or_else(|| Arc::new(obj.clone()));
        self.notify(Change::Deleted(&last));
    }

    /// Replaces the cache's content with a fresh list: vanished objects are deleted.
    fn replace(&self, objs: Vec<K>) {
        let keep: HashSet<ObjectKey> = objs.iter().map(ObjectKey::of).collect();
        for old in self.cache.list() {
            if !keep.contains(&ObjectKey::of(old.as_ref())) {
                self.delete(&old);
            }
        }
        for o in objs {
            self.apply(o);
        }
        self.cache.mark_synced();
    }

    /// Lists and watches until `stop` turns true; retries with backoff on errors.
    pub async fn run(self: Arc<Self>, stop: watch::Receiver<bool>) {
        // Like kube-controller-manager's informers, drop managedFields: no controller reads
        // them, and they are a large part of every cached object.
        let stream = watcher(self.api.clone(), self.config.clone())
            .default_backoff()
            .modify({
                let transform = self.transform;
                move |o: &mut K| {
                    o.meta_mut().managed_fields = None;
                    if let Some(t) = transform {
                        t(o);
                    }
                }
            });
        futures::pin_mut!(stream);
        let stopped = crate::stopped(stop);
        futures::pin_mut!(stopped);
        let mut initial: Option<Vec<K>> = None;
        loop {
            let event = tokio::select! {
                _ = &mut stopped => return,
                e = stream.next() => e,
            };
            match event {
                None => return,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, kind = std::any::type_name::<K>(), "watch failed; retrying")
                }
                Some(Ok(Event::Init)) => initial = Some(Vec::new()),
                Some(Ok(Event::InitApply(o))) => initial.get_or_insert_with(Vec::new).push(o),
                Some(Ok(Event::InitDone)) => self.replace(initial.take().unwrap_or_default()),
                Some(Ok(Event::Apply(o))) => self.apply(o),
                Some(Ok(Event::Delete(o))) => self.delete(&o),
            }
        }
    }
}
