//! Skiff's storage layer: a versioned key-value store with etcd v3 semantics (one global
//! revision, MVCC reads at old revisions, prefix watches with replay, compaction) that the
//! Kubernetes API server is built on.
//!
//! * [`Store`] — the trait every backend implements ([`store`]).
//! * [`types`] and [`error`] — the data and error types of the API.
//! * [`mem::MemStore`] — a naive in-memory backend, the reference model for tests.
//! * [`embedded::EmbeddedStore`] — the durable backend on a single redb file.
//! * [`conformance`] — the behaviour suite every backend must pass.

#![warn(missing_docs)]

pub mod conformance;
pub mod embedded;
pub mod error;
pub mod mem;
pub mod snapshot;
pub mod store;
pub mod types;
pub mod watch_util;

pub use embedded::{EmbeddedStore, WriterStats};
pub use error::StoreError;
pub use mem::MemStore;
pub use store::Store;
pub use types::{
    Event, EventKind, KeyValue, ListRequest, ListResponse, Revision, StoreOptions, WatchItem,
    WatchStream,
};
