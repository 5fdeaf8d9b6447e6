//! The behaviour suite every [`Store`] backend must pass.
//!
//! Each check is an `async fn(&mut dyn Harness)` that builds the stores it needs through the
//! [`Harness`] and panics (with a message naming what broke) on a violation. A backend's test
//! crate implements [`Harness`] and instantiates one `#[tokio::test]` per check with
//! [`conformance_tests!`](crate::conformance_tests):
//!
//! ```text
//! skiff_store::conformance_tests!(MyHarness::new());
//! ```
//!
//! The checks only use the [`Store`] trait, so a future etcd backend runs them unchanged.

mod checks;
mod watch_checks;

use std::time::Duration;

use futures::StreamExt;

use crate::error::StoreError;
use crate::store::Store;
use crate::types::{Event, KeyValue, Revision, WatchItem, WatchStream};

pub use checks::*;
pub use watch_checks::*;

/// Builds stores for the checks.
#[async_trait::async_trait]
pub trait Harness: Send {
    /// A fresh, empty store whose caught-up watches emit progress after `progress_interval`
    /// of idleness.
    async fn fresh(&mut self, progress_interval: Duration) -> Box<dyn Store>;

    /// Closes `store` (the one most recently returned by this harness) and opens the same
    /// data again, or returns `None` if the backend is not durable.
    async fn reopen(&mut self, store: Box<dyn Store>) -> Option<Box<dyn Store>>;
}

/// The [`Harness`] of [`MemStore`](crate::MemStore) (not durable).
#[derive(Default)]
pub struct MemHarness;

#[async_trait::async_trait]
impl Harness for MemHarness {
    async fn fresh(&mut self, progress_interval: Duration) -> Box<dyn Store> {
        Box::new(crate::MemStore::with_options(crate::StoreOptions {
            progress_interval,
        }))
    }

    async fn reopen(&mut self, _store: Box<dyn Store>) -> Option<Box<dyn Store>> {
        None
    }
}

/// Progress interval for checks that do not test progress (long, to stay out of the way).
pub const QUIET: Duration = Duration::from_secs(30);

/// How long any single wait in the suite may take before the check fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Generates one `#[tokio::test]` per conformance check, each with a harness from `$make`.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@each $make;
            revisions_increase_by_one,
            create_conflict,
            update_conditions,
            delete_conditions,
            invalid_arguments,
            get_at_old_revisions,
            list_prefix_and_pagination,
            list_at_old_revisions,
            watch_replay_then_live,
            watch_prefix_isolation,
            watch_future_start,
            compaction,
            progress_notifications,
            persistence_across_reopen,
            concurrent_writers,
        );
    };
    (@each $make:expr; $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let mut harness = $make;
                $crate::conformance::$check(&mut harness).await;
            }
        )+
    };
}

/// Runs every check in sequence (for backends whose tests prefer one entry point).
pub async fn run_all(h: &mut dyn Harness) {
    revisions_increase_by_one(h).await;
    create_conflict(h).await;
    update_conditions(h).await;
    delete_conditions(h).await;
    invalid_arguments(h).await;
    get_at_old_revisions(h).await;
    list_prefix_and_pagination(h).await;
    list_at_old_revisions(h).await;
    watch_replay_then_live(h).await;
    watch_prefix_isolation(h).await;
    watch_future_start(h).await;
    compaction(h).await;
    progress_notifications(h).await;
    persistence_across_reopen(h).await;
    concurrent_writers(h).await;
}

/// A value for tests.
pub fn val(s: &str) -> bytes::Bytes {
    bytes::Bytes::copy_from_slice(s.as_bytes())
}

/// Unwraps a store result, naming the step that failed.
#[track_caller]
pub fn ok<T>(result: Result<T, StoreError>, step: &str) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{step}: unexpected error: {e:?}"),
    }
}

/// Expected events, built from the results of writes.
#[derive(Default, Debug, Clone)]
pub struct Model {
    /// Every event so far, in revision order.
    pub events: Vec<Event>,
}

impl Model {
    /// Records a create's result.
    pub fn created(&mut self, kv: &KeyValue) {
        self.push(Event {
            kind: crate::EventKind::Put,
            kv: kv.clone(),
            prev: None,
        });
    }

    /// Records an update's result, given the value it replaced.
    pub fn updated(&mut self, kv: &KeyValue, prev: &KeyValue) {
        self.push(Event {
            kind: crate::EventKind::Put,
            kv: kv.clone(),
            prev: Some(prev.clone()),
        });
    }

    /// Records a delete's result, given the value it deleted.
    pub fn deleted(&mut self, kv: &KeyValue, prev: &KeyValue) {
        self.push(Event {
            kind: crate::EventKind::Delete,
            kv: kv.clone(),
            prev: Some(prev.clone()),
        });
    }

    fn push(&mut self, event: Event) {
        self.events.push(event);
        self.events.sort_by_key(Event::revision);
    }

    /// The events a watch on `prefix` after `after` must deliver.
    pub fn expected(&self, prefix: &str, after: Revision) -> Vec<Event> {
        self.events
            .iter()
            .filter(|e| e.revision() > after && e.kv.key.starts_with(prefix))
            .cloned()
            .collect()
    }
}

/// The next item of a watch, failing the check after [`PATIENCE`].
pub async fn next_item(stream: &mut WatchStream, what: &str) -> WatchItem {
    match tokio::time::timeout(PATIENCE, stream.next()).await {
        Err(_) => panic!("{what}: no watch item within {PATIENCE:?}"),
        Ok(None) => panic!("{what}: watch stream ended"),
        Ok(Some(Err(e))) => panic!("{what}: watch failed: {e:?}"),
        Ok(Some(Ok(item))) => item,
    }
}

/// The next `n` events of a watch (skipping progress notifications).
pub async fn next_events(stream: &mut WatchStream, n: usize, what: &str) -> Vec<Event> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        if let WatchItem::Event(e) = next_item(stream, what).await {
            out.push(e);
        }
    }
    out
}

/// Events until a progress notification at or past `revision` (which must then be exactly the
/// events up to it).
pub async fn events_until_progress(
    stream: &mut WatchStream,
    revision: Revision,
    what: &str,
) -> Vec<Event> {
    let mut out = Vec::new();
    loop {
        match next_item(stream, what).await {
            WatchItem::Event(e) => out.push(e),
            WatchItem::Progress(r) if r >= revision => return out,
            WatchItem::Progress(_) => {}
        }
    }
}

/// Asserts that `events` equals `expected`, with a readable diff on failure.
#[track_caller]
pub fn assert_events(events: &[Event], expected: &[Event], what: &str) {
    if events != expected {
        let show = |es: &[Event]| {
            es.iter()
                .map(|e| format!("{:?} {}@{}", e.kind, e.kv.key, e.revision()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        panic!(
            "{what}: watch events differ\n  got:      [{}]\n  expected: [{}]\n  got (full): {events:?}\n  expected (full): {expected:?}",
            show(events),
            show(expected)
        );
    }
}
