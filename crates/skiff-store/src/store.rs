//! The [`Store`] trait: the storage contract the API server is written against.

use crate::error::StoreError;
use crate::types::{KeyValue, ListRequest, ListResponse, Revision, WatchStream};

/// A versioned key-value store with etcd v3 semantics.
///
/// * One global revision counter. A new store is at revision 1 (like etcd); every successful
///   create/update/delete gets exactly one new revision, which becomes that key's
///   `mod_revision` (and its `create_revision` for a create).
/// * Reads at an old revision see the state as of that revision (MVCC), including keys deleted
///   since, until that history is compacted.
/// * Reads at revision `r` fail with [`StoreError::Compacted`] if `r < compacted_revision()` and
///   with [`StoreError::FutureRevision`] if `r > current_revision()`.
/// * Keys must be non-empty; revisions must not be negative ([`StoreError::InvalidArgument`]).
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// The revision of the latest committed write (1 for a new store).
    async fn current_revision(&self) -> Result<Revision, StoreError>;

    /// The compacted revision (0 if never compacted).
    async fn compacted_revision(&self) -> Result<Revision, StoreError>;

    /// Reads one key at `revision` (`None` = current). Returns the value, if the key existed at
    /// that revision, and the revision the read reflects.
    async fn get(
        &self,
        key: &str,
        revision: Option<Revision>,
    ) -> Result<(Option<KeyValue>, Revision), StoreError>;

    /// Lists keys under a prefix, sorted by key, optionally paginated and at an old revision.
    async fn list(&self, req: ListRequest) -> Result<ListResponse, StoreError>;

    /// Creates `key` if it is absent ([`StoreError::AlreadyExists`] otherwise).
    async fn create(&self, key: &str, value: bytes::Bytes) -> Result<KeyValue, StoreError>;

    /// Updates `key` iff it exists ([`StoreError::NotFound`] otherwise) and its mod revision is
    /// `expected_mod_revision` ([`StoreError::Conflict`] with the live value otherwise).
    async fn update(
        &self,
        key: &str,
        value: bytes::Bytes,
        expected_mod_revision: Revision,
    ) -> Result<KeyValue, StoreError>;

    /// Deletes `key` ([`StoreError::NotFound`] if absent), only if its mod revision is
    /// `expected_mod_revision` when that is `Some` ([`StoreError::Conflict`] otherwise).
    /// Returns the delete event's `kv`: the last value, with `mod_revision` = the delete's
    /// revision.
    async fn delete(
        &self,
        key: &str,
        expected_mod_revision: Option<Revision>,
    ) -> Result<KeyValue, StoreError>;

    /// Watches the keys under `prefix`: first every event with revision `> after` in revision
    /// order, each exactly once and with no gaps, then live events, forever.
    ///
    /// Returns [`StoreError::Compacted`] at once (not as a stream item) when
    /// `after + 1 < compacted_revision()` (etcd's rule). `after` may be ahead of the current
    /// revision; events up to and including `after` are then simply never delivered.
    /// When caught up and idle for the store's progress interval, the stream yields
    /// [`WatchItem::Progress`](crate::WatchItem::Progress) with the store revision it has
    /// caught up to.
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError>;

    /// Drops history older than `revision`: afterwards reads at revisions `>= revision` still
    /// work, and reads/watches needing older history get [`StoreError::Compacted`].
    ///
    /// Compacting at the current compacted revision is a no-op; an older revision gives
    /// [`StoreError::Compacted`], a revision past the current one
    /// [`StoreError::FutureRevision`]. Compaction does not change the current revision.
    async fn compact(&self, revision: Revision) -> Result<(), StoreError>;
}
