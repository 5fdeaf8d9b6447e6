//! Plain data types of the store API: key-values, events, watch items, list requests.

use std::time::Duration;

use crate::error::StoreError;

/// A store revision. It increases by exactly one with every successful create, update or
/// delete, across all keys (etcd's "main revision").
pub type Revision = i64;

/// A key with its value and the revisions that created and last modified it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    /// The full key, e.g. `/registry/pods/default/web`.
    pub key: String,
    /// The opaque value (JSON for the API server).
    pub value: bytes::Bytes,
    /// Revision at which the key was (last) created.
    pub create_revision: Revision,
    /// Revision of the last write to the key; for a delete event's `kv`, the delete's revision.
    pub mod_revision: Revision,
}

/// Whether an event wrote or deleted its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The key was created or updated.
    Put,
    /// The key was deleted.
    Delete,
}

/// One committed change.
///
/// For `Put`: `kv` is the new value, `prev` the previous value if it existed (`None` on create;
/// a put created its key iff `kv.create_revision == kv.mod_revision`). The previous value of an
/// event at exactly the compacted revision may be missing: etcd drops it with the history.
/// For `Delete`: `kv.key` is the key, `kv.value` the last value before deletion,
/// `kv.create_revision` the deleted object's create revision, `kv.mod_revision` the revision of
/// the delete; `prev` is the deleted `KeyValue` as it was stored (with its own mod revision).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Put or delete.
    pub kind: EventKind,
    /// The key-value after the event (see the type docs for deletes).
    pub kv: KeyValue,
    /// The key-value before the event, if the key existed.
    pub prev: Option<KeyValue>,
}

impl Event {
    /// The revision at which this event happened (`kv.mod_revision`).
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

/// One item of a watch stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchItem {
    /// A change under the watched prefix.
    Event(Event),
    /// Every event for this watch's prefix with revision `<=` this one has been delivered.
    Progress(Revision),
}

/// The stream returned by [`Store::watch`](crate::Store::watch). It ends after yielding an error
/// (e.g. [`StoreError::Closed`], or [`StoreError::Compacted`] if the watcher fell so far behind
/// that the history it needs was compacted away).
pub type WatchStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<WatchItem, StoreError>> + Send>>;

/// A range read of the keys under a prefix.
#[derive(Clone, Debug, Default)]
pub struct ListRequest {
    /// Only keys starting with this string (a plain string prefix, as etcd's `WithPrefix`;
    /// include the trailing `/` to list a directory). Empty lists everything.
    pub prefix: String,
    /// Return only keys strictly greater than this (pagination continue).
    pub after_key: Option<String>,
    /// Maximum number of keys to return; 0 = unlimited.
    pub limit: usize,
    /// Revision to read at; `None` = the current revision.
    pub revision: Option<Revision>,
}

impl ListRequest {
    /// All keys under `prefix` at the current revision.
    pub fn prefix(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            ..Self::default()
        }
    }
}

/// The answer to a [`ListRequest`].
#[derive(Clone, Debug)]
pub struct ListResponse {
    /// The matching key-values, sorted by key.
    pub kvs: Vec<KeyValue>,
    /// The revision the list reflects.
    pub revision: Revision,
    /// Whether keys were left out because of `limit`.
    pub more: bool,
    /// How many keys under the prefix come after the last returned one, at that revision.
    pub remaining: u64,
}

/// Settings common to all backends.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// How long a caught-up watch stays idle before it emits [`WatchItem::Progress`]
    /// (and again after every further such interval). Default: 1 second.
    pub progress_interval: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            progress_interval: Duration::from_secs(1),
        }
    }
}

/// Does `key` belong to a watch/list on `prefix`?
pub(crate) fn in_prefix(key: &str, prefix: &str) -> bool {
    key.starts_with(prefix)
}
