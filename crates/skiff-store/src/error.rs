//! The error type shared by every store backend.

use crate::types::{KeyValue, Revision};

/// Everything a [`Store`](crate::Store) operation can fail with.
///
/// The variants are stable across backends, so callers (the API server) can map them to HTTP
/// statuses without knowing which backend is in use.
#[derive(thiserror::Error, Debug, Clone)]
pub enum StoreError {
    /// `create` found the key already present.
    #[error("key {key:?} already exists")]
    AlreadyExists {
        /// The key that was to be created.
        key: String,
    },
    /// The key does not exist (update, delete).
    #[error("key {key:?} not found")]
    NotFound {
        /// The missing key.
        key: String,
    },
    /// A conditional update/delete saw a different mod revision; `current` is the live value
    /// (`None` if the key is gone). Re-read the object and retry.
    #[error(
        "key {key:?} was modified concurrently (now at mod revision {}); re-read it and retry",
        current.as_ref().map_or_else(|| "<deleted>".to_string(), |kv| kv.mod_revision.to_string())
    )]
    Conflict {
        /// The key whose precondition failed.
        key: String,
        /// The live value at the time of the check, if the key still exists.
        current: Option<KeyValue>,
    },
    /// The requested revision is older than the compacted revision.
    #[error(
        "revision {requested} has been compacted (the oldest readable revision is {compacted}); \
         list again at the current revision"
    )]
    Compacted {
        /// The revision that was asked for.
        requested: Revision,
        /// The store's compacted revision.
        compacted: Revision,
    },
    /// The requested revision is newer than the store's current revision.
    #[error("revision {requested} is newer than the store's current revision {current}")]
    FutureRevision {
        /// The revision that was asked for.
        requested: Revision,
        /// The store's current revision.
        current: Revision,
    },
    /// The request itself is malformed (empty key, negative revision, ...).
    #[error("invalid request: {0}")]
    InvalidArgument(String),
    /// The file is not a Skiff store, or is damaged (the message says which and what to do).
    #[error("{0}")]
    Corrupt(String),
    /// I/O or backend failure.
    #[error("storage backend failure: {0}")]
    Backend(String),
    /// The store was closed.
    #[error("the store has been closed")]
    Closed,
}

/// Rejects empty keys, which no backend can store (etcd refuses them too).
pub fn check_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() {
        return Err(StoreError::InvalidArgument(
            "the key must not be empty".into(),
        ));
    }
    Ok(())
}

/// Validates a read at `requested` against the store's `current` and `compacted` revisions.
pub fn check_read_revision(
    requested: Revision,
    current: Revision,
    compacted: Revision,
) -> Result<(), StoreError> {
    if requested < 0 {
        return Err(StoreError::InvalidArgument(format!(
            "revision {requested} is negative"
        )));
    }
    if requested < compacted {
        return Err(StoreError::Compacted {
            requested,
            compacted,
        });
    }
    if requested > current {
        return Err(StoreError::FutureRevision { requested, current });
    }
    Ok(())
}

/// Validates the start of a watch: events after `after` must still be in the history.
pub fn check_watch_start(after: Revision, compacted: Revision) -> Result<(), StoreError> {
    if after < 0 {
        return Err(StoreError::InvalidArgument(format!(
            "watch start revision {after} is negative"
        )));
    }
    if after.saturating_add(1) < compacted {
        return Err(StoreError::Compacted {
            requested: after + 1,
            compacted,
        });
    }
    Ok(())
}

/// What a compaction request should do, after validation.
#[derive(Debug, PartialEq, Eq)]
pub enum CompactPlan {
    /// Already compacted at exactly this revision: nothing to do.
    Noop,
    /// Drop history older than the revision.
    Compact,
}

/// Validates `compact(requested)`: it may not go backwards nor past the current revision.
pub fn check_compact(
    requested: Revision,
    current: Revision,
    compacted: Revision,
) -> Result<CompactPlan, StoreError> {
    if requested < 0 {
        return Err(StoreError::InvalidArgument(format!(
            "compaction revision {requested} is negative"
        )));
    }
    if requested < compacted {
        return Err(StoreError::Compacted {
            requested,
            compacted,
        });
    }
    if requested > current {
        return Err(StoreError::FutureRevision { requested, current });
    }
    if requested == compacted {
        return Ok(CompactPlan::Noop);
    }
    Ok(CompactPlan::Compact)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_revision_bounds() {
        assert!(check_read_revision(5, 5, 3).is_ok());
        assert!(check_read_revision(3, 5, 3).is_ok());
        assert!(matches!(
            check_read_revision(2, 5, 3),
            Err(StoreError::Compacted {
                requested: 2,
                compacted: 3
            })
        ));
        assert!(matches!(
            check_read_revision(6, 5, 3),
            Err(StoreError::FutureRevision {
                requested: 6,
                current: 5
            })
        ));
        assert!(matches!(
            check_read_revision(-1, 5, 0),
            Err(StoreError::InvalidArgument(_))
        ));
    }

    #[test]
    fn watch_start_follows_etcd() {
        assert!(check_watch_start(4, 5).is_ok());
        assert!(check_watch_start(9, 5).is_ok());
        assert!(check_watch_start(i64::MAX, 5).is_ok());
        assert!(matches!(
            check_watch_start(3, 5),
            Err(StoreError::Compacted {
                requested: 4,
                compacted: 5
            })
        ));
    }

    #[test]
    fn compaction_bounds() {
        assert_eq!(check_compact(4, 9, 4).unwrap(), CompactPlan::Noop);
        assert_eq!(check_compact(5, 9, 4).unwrap(), CompactPlan::Compact);
        assert!(matches!(
            check_compact(3, 9, 4),
            Err(StoreError::Compacted { .. })
        ));
        assert!(matches!(
            check_compact(10, 9, 4),
            Err(StoreError::FutureRevision { .. })
        ));
    }

    #[test]
    fn messages_are_actionable() {
        let e = StoreError::Compacted {
            requested: 3,
            compacted: 7,
        };
        assert!(e.to_string().contains("list again"), "{e}");
        let e = StoreError::Conflict {
            key: "/a".into(),
            current: None,
        };
        assert!(e.to_string().contains("re-read"), "{e}");
    }
}
