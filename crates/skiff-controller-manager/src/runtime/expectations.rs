//! Expectations: after a controller writes, it waits until its informer has seen the write
//! before planning again, so a lagging cache never makes it create or delete twice. Skiff's
//! resourceVersions are store revisions, so "seen" is "the cache's revision reached the
//! write's" (creates, updates and deletes alike); upstream's 5-minute timeout still applies.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// After this long an unmet expectation is dropped (upstream's ExpectationsTimeout).
pub const TIMEOUT: Duration = Duration::from_secs(300);

/// Per-controller-key revisions a cache must reach.
pub struct Expectations<T> {
    pending: Mutex<HashMap<T, (u64, Instant)>>,
}

impl<T: Eq + Hash + Clone> Default for Expectations<T> {
    fn default() -> Self {
        Self {
            pending: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Eq + Hash + Clone> Expectations<T> {
    /// Records that `key`'s next plan needs a cache at `revision` or later.
    pub fn expect(&self, key: &T, revision: u64, now: Instant) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let e = p.entry(key.clone()).or_insert((0, now));
        if revision > e.0 {
            *e = (revision, now);
        }
    }

    /// Whether `key` may plan with a cache at `cache_revision`; forgets met expectations.
    pub fn satisfied(&self, key: &T, cache_revision: u64, now: Instant) -> bool {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        match p.get(key) {
            Some(&(rev, since)) if rev > cache_revision && now.duration_since(since) < TIMEOUT => {
                false
            }
            Some(_) => {
                p.remove(key);
                true
            }
            None => true,
        }
    }

    /// Forgets `key` (its object was deleted).
    pub fn delete(&self, key: &T) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_the_cache_to_reach_the_write() {
        let e = Expectations::<&str>::default();
        let t0 = Instant::now();
        assert!(e.satisfied(&"rs", 0, t0));
        e.expect(&"rs", 10, t0);
        e.expect(&"rs", 8, t0); // a lower revision never lowers the bar
        assert!(!e.satisfied(&"rs", 9, t0));
        assert!(e.satisfied(&"rs", 10, t0));
        assert!(e.satisfied(&"rs", 0, t0), "met expectations are forgotten");
        e.expect(&"rs", 50, t0);
        assert!(
            e.satisfied(&"rs", 1, t0 + TIMEOUT),
            "times out like upstream"
        );
    }
}
