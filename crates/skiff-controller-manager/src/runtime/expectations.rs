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

/// A workload controller's two expectations per object: its children cache must reach the
/// revision of its last child write, and the cached object itself the revision of its last
/// status write (a Job planning from a status older than its own last count would count
/// finished pods again or create pods it already replaced).
pub struct SyncExpectations<T> {
    children: Expectations<T>,
    own: Expectations<T>,
}

impl<T: Eq + Hash + Clone> Default for SyncExpectations<T> {
    fn default() -> Self {
        Self {
            children: Expectations::default(),
            own: Expectations::default(),
        }
    }
}

impl<T: Eq + Hash + Clone> SyncExpectations<T> {
    /// Records a sync's writes: the highest child revision and the own-object revision
    /// (0 for none).
    pub fn expect(&self, key: &T, children: u64, own: u64, now: Instant) {
        if children > 0 {
            self.children.expect(key, children, now);
        }
        if own > 0 {
            self.own.expect(key, own, now);
        }
    }

    /// Whether `key` may plan with a children cache at `children_revision` and its cached
    /// object at `own_revision`.
    pub fn satisfied(
        &self,
        key: &T,
        children_revision: u64,
        own_revision: u64,
        now: Instant,
    ) -> bool {
        // Both are checked (no short-circuit) so met expectations are forgotten on both sides.
        let own = self.own.satisfied(key, own_revision, now);
        let children = self.children.satisfied(key, children_revision, now);
        own && children
    }

    /// Forgets `key` (its object was deleted).
    pub fn delete(&self, key: &T) {
        self.children.delete(key);
        self.own.delete(key);
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

    #[test]
    fn a_sync_waits_for_its_own_status_write_as_well_as_its_children() {
        let e = SyncExpectations::<&str>::default();
        let t0 = Instant::now();
        e.expect(&"job", 10, 12, t0);
        assert!(
            !e.satisfied(&"job", 10, 11, t0),
            "cached Job older than its status write"
        );
        assert!(e.satisfied(&"job", 10, 12, t0));
        e.expect(&"job", 10, 12, t0);
        assert!(
            !e.satisfied(&"job", 9, 12, t0),
            "pods cache older than the pod writes"
        );
        assert!(e.satisfied(&"job", 10, 12, t0));
        e.expect(&"job", 0, 20, t0);
        assert!(
            !e.satisfied(&"job", 30, 19, t0),
            "a status-only sync still waits"
        );
        e.delete(&"job");
        assert!(
            e.satisfied(&"job", 0, 0, t0),
            "a deleted object waits for nothing"
        );
    }
}
