//! [`MemStore`]: a deliberately naive in-memory backend.
//!
//! It keeps every version of every key in a `BTreeMap` behind one mutex and answers each query
//! by the most direct computation, so that it is obviously correct. It is the model the
//! property tests compare the durable backend against, and a convenient store for other
//! crates' unit tests. Nothing survives the process.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use bytes::Bytes;
use tokio::sync::watch;

use crate::error::{
    check_compact, check_key, check_read_revision, check_watch_start, CompactPlan, StoreError,
};
use crate::store::Store;
use crate::types::{
    in_prefix, Event, EventKind, KeyValue, ListRequest, ListResponse, Revision, StoreOptions,
    WatchStream,
};
use crate::watch_util::watch_channel;

/// The naive in-memory store. Cloning it gives another handle to the same data.
///
/// A new store is at revision 1. Watches spawn a task, so they need a Tokio runtime.
#[derive(Clone)]
pub struct MemStore {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    /// Bumped (to the current revision) after every write and on close; wakes watchers.
    changed: watch::Sender<Revision>,
    options: StoreOptions,
}

/// One version of a key: its value from `rev` on, or `None` if it was deleted at `rev`.
struct Version {
    rev: Revision,
    kv: Option<KeyValue>,
}

struct State {
    rev: Revision,
    compacted: Revision,
    closed: bool,
    /// Every retained version of every key, oldest first.
    keys: BTreeMap<String, Vec<Version>>,
    /// Every retained event, in revision order.
    events: Vec<Event>,
}

impl State {
    /// The value of `key` as of revision `at`.
    fn at(&self, key: &str, at: Revision) -> Option<KeyValue> {
        self.keys
            .get(key)?
            .iter()
            .rev()
            .find(|v| v.rev <= at)
            .and_then(|v| v.kv.clone())
    }

    fn open(&self) -> Result<(), StoreError> {
        if self.closed {
            return Err(StoreError::Closed);
        }
        Ok(())
    }

    /// Records a write at the next revision and returns the event's `kv`.
    fn commit(&mut self, kind: EventKind, kv: KeyValue, prev: Option<KeyValue>) -> KeyValue {
        debug_assert_eq!(kv.mod_revision, self.rev + 1);
        self.rev += 1;
        let stored = match kind {
            EventKind::Put => Some(kv.clone()),
            EventKind::Delete => None,
        };
        self.keys.entry(kv.key.clone()).or_default().push(Version {
            rev: self.rev,
            kv: stored,
        });
        self.events.push(Event {
            kind,
            kv: kv.clone(),
            prev,
        });
        kv
    }

    /// The events a watcher that has handled everything up to `pos` should see next.
    fn events_after(&self, prefix: &str, pos: Revision) -> Result<Vec<Event>, StoreError> {
        if pos < self.rev && pos + 1 < self.compacted {
            return Err(StoreError::Compacted {
                requested: pos + 1,
                compacted: self.compacted,
            });
        }
        let start = self.events.partition_point(|e| e.revision() <= pos);
        Ok(self.events[start..]
            .iter()
            .filter(|e| in_prefix(&e.kv.key, prefix))
            .cloned()
            .collect())
    }
}

impl Default for MemStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemStore {
    /// An empty store (at revision 1) with default options.
    pub fn new() -> Self {
        Self::with_options(StoreOptions::default())
    }

    /// An empty store (at revision 1) with the given options.
    pub fn with_options(options: StoreOptions) -> Self {
        let (changed, _) = watch::channel(1);
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    rev: 1,
                    compacted: 0,
                    closed: false,
                    keys: BTreeMap::new(),
                    events: Vec::new(),
                }),
                changed,
                options,
            }),
        }
    }

    /// Closes the store: every later operation fails with [`StoreError::Closed`] and open
    /// watch streams end with that error.
    pub fn close(&self) {
        self.lock().closed = true;
        self.inner.changed.send_modify(|_| {});
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.inner)
    }

    /// Runs a write under the lock and wakes the watchers if it succeeded.
    fn write(
        &self,
        f: impl FnOnce(&mut State) -> Result<KeyValue, StoreError>,
    ) -> Result<KeyValue, StoreError> {
        let mut state = self.lock();
        state.open()?;
        let kv = f(&mut state)?;
        let rev = state.rev;
        drop(state);
        self.inner.changed.send_replace(rev);
        Ok(kv)
    }
}

fn lock(inner: &Inner) -> MutexGuard<'_, State> {
    // A panic while holding the lock cannot leave `State` half-updated in a way that matters
    // more than losing the store, so keep going with the data as it is.
    inner.state.lock().unwrap_or_else(PoisonError::into_inner)
}

#[async_trait::async_trait]
impl Store for MemStore {
    async fn current_revision(&self) -> Result<Revision, StoreError> {
        let state = self.lock();
        state.open()?;
        Ok(state.rev)
    }

    async fn compacted_revision(&self) -> Result<Revision, StoreError> {
        let state = self.lock();
        state.open()?;
        Ok(state.compacted)
    }

    async fn get(
        &self,
        key: &str,
        revision: Option<Revision>,
    ) -> Result<(Option<KeyValue>, Revision), StoreError> {
        let state = self.lock();
        state.open()?;
        let at = revision.unwrap_or(state.rev);
        check_read_revision(at, state.rev, state.compacted)?;
        Ok((state.at(key, at), at))
    }

    async fn list(&self, req: ListRequest) -> Result<ListResponse, StoreError> {
        let state = self.lock();
        state.open()?;
        let at = req.revision.unwrap_or(state.rev);
        check_read_revision(at, state.rev, state.compacted)?;
        let mut all: Vec<KeyValue> = state
            .keys
            .range(req.prefix.clone()..)
            .take_while(|(k, _)| in_prefix(k, &req.prefix))
            .filter(|(k, _)| req.after_key.as_ref().is_none_or(|after| *k > after))
            .filter_map(|(k, _)| state.at(k, at))
            .collect();
        let mut remaining = 0;
        if req.limit > 0 && all.len() > req.limit {
            remaining = (all.len() - req.limit) as u64;
            all.truncate(req.limit);
        }
        Ok(ListResponse {
            kvs: all,
            revision: at,
            more: remaining > 0,
            remaining,
        })
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue, StoreError> {
        check_key(key)?;
        self.write(|state| {
            if state.at(key, state.rev).is_some() {
                return Err(StoreError::AlreadyExists { key: key.into() });
            }
            let rev = state.rev + 1;
            let kv = KeyValue {
                key: key.into(),
                value,
                create_revision: rev,
                mod_revision: rev,
            };
            Ok(state.commit(EventKind::Put, kv, None))
        })
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected_mod_revision: Revision,
    ) -> Result<KeyValue, StoreError> {
        check_key(key)?;
        self.write(|state| {
            let Some(current) = state.at(key, state.rev) else {
                return Err(StoreError::NotFound { key: key.into() });
            };
            if current.mod_revision != expected_mod_revision {
                return Err(StoreError::Conflict {
                    key: key.into(),
                    current: Some(current),
                });
            }
            let kv = KeyValue {
                key: key.into(),
                value,
                create_revision: current.create_revision,
                mod_revision: state.rev + 1,
            };
            Ok(state.commit(EventKind::Put, kv, Some(current)))
        })
    }

    async fn delete(
        &self,
        key: &str,
        expected_mod_revision: Option<Revision>,
    ) -> Result<KeyValue, StoreError> {
        check_key(key)?;
        self.write(|state| {
            let Some(current) = state.at(key, state.rev) else {
                return Err(StoreError::NotFound { key: key.into() });
            };
            if expected_mod_revision.is_some_and(|e| e != current.mod_revision) {
                return Err(StoreError::Conflict {
                    key: key.into(),
                    current: Some(current),
                });
            }
            let kv = KeyValue {
                mod_revision: state.rev + 1,
                ..current.clone()
            };
            Ok(state.commit(EventKind::Delete, kv, Some(current)))
        })
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError> {
        {
            let state = self.lock();
            state.open()?;
            check_watch_start(after, state.compacted)?;
        }
        let (sink, stream) = watch_channel(self.inner.options.progress_interval);
        let changed = self.inner.changed.subscribe();
        tokio::spawn(run_watch(
            Arc::downgrade(&self.inner),
            changed,
            sink,
            prefix.to_string(),
            after,
        ));
        Ok(stream)
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let mut state = self.lock();
        state.open()?;
        if check_compact(revision, state.rev, state.compacted)? == CompactPlan::Noop {
            return Ok(());
        }
        state.compacted = revision;
        state.events.retain(|e| e.revision() >= revision);
        // Keep every version from `revision` on, plus the newest older one of each key (the
        // value as of `revision - 1`, needed for reads at `revision` and for `prev` of the
        // event at `revision`) unless that one is a deletion.
        state.keys.retain(|_, versions| {
            let older = versions.partition_point(|v| v.rev < revision);
            if older > 0 {
                let keep_from = if versions[older - 1].kv.is_some() {
                    older - 1
                } else {
                    older
                };
                versions.drain(..keep_from);
            }
            !versions.is_empty()
        });
        Ok(())
    }
}

/// The task behind a [`MemStore`] watch: after every change, deliver whatever is new.
async fn run_watch(
    inner: Weak<Inner>,
    mut changed: watch::Receiver<Revision>,
    mut sink: crate::watch_util::WatchSink,
    prefix: String,
    after: Revision,
) {
    // Every event with revision <= pos has been delivered or is excluded by `after`.
    let mut pos = after;
    loop {
        changed.borrow_and_update();
        let step = match inner.upgrade() {
            None => Err(StoreError::Closed),
            Some(inner) => {
                let state = lock(&inner);
                state
                    .open()
                    .and_then(|()| state.events_after(&prefix, pos))
                    .map(|events| (events, state.rev))
            }
        };
        let seen = match step {
            Err(e) => return sink.fail(e).await,
            Ok((events, current)) => {
                for event in events {
                    if !sink.event(event).await {
                        return;
                    }
                }
                pos = pos.max(current);
                current
            }
        };
        loop {
            tokio::select! {
                () = sink.closed() => return,
                res = changed.changed() => {
                    if res.is_err() {
                        return sink.fail(StoreError::Closed).await;
                    }
                    break;
                }
                () = tokio::time::sleep_until(sink.deadline()) => {
                    if !sink.progress(seen).await {
                        return;
                    }
                }
            }
        }
    }
}
