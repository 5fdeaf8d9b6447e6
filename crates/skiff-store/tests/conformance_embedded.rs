//! The conformance suite against the durable embedded backend.

use std::path::PathBuf;
use std::time::Duration;

use skiff_store::conformance::Harness;
use skiff_store::{EmbeddedStore, Store, StoreOptions};

/// Stores in files of a temporary directory.
struct EmbeddedHarness {
    dir: tempfile::TempDir,
    count: usize,
    last: Option<(PathBuf, Duration)>,
}

impl EmbeddedHarness {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary directory"),
            count: 0,
            last: None,
        }
    }
}

#[async_trait::async_trait]
impl Harness for EmbeddedHarness {
    async fn fresh(&mut self, progress_interval: Duration) -> Box<dyn Store> {
        self.count += 1;
        let path = self.dir.path().join(format!("store-{}.redb", self.count));
        let store = EmbeddedStore::open_with_options(&path, StoreOptions { progress_interval })
            .expect("open a fresh store");
        self.last = Some((path, progress_interval));
        Box::new(store)
    }

    async fn reopen(&mut self, store: Box<dyn Store>) -> Option<Box<dyn Store>> {
        drop(store); // closes the store and releases the file
        let (path, progress_interval) = self.last.clone()?;
        // In-flight reads may hold the file for a moment after close.
        for _ in 0..100 {
            match EmbeddedStore::open_with_options(&path, StoreOptions { progress_interval }) {
                Ok(store) => return Some(Box::new(store)),
                Err(skiff_store::StoreError::Backend(_)) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("reopen {}: {e}", path.display()),
            }
        }
        panic!("reopen {}: the file stayed locked", path.display());
    }
}

skiff_store::conformance_tests!(EmbeddedHarness::new());
