//! Snapshots of the watch cache kept for paginated lists, like kube-apiserver's
//! ListFromCacheSnapshot: the first page of a limited list copies the collection out of the
//! cache (keys and shared object bytes, not the objects), and the pages after it are cut from
//! that copy, so a client paging through 30,000 pods costs the server a slice per page instead
//! of a walk over the store's history at the pinned revision.
//!
//! A snapshot is found again by (prefix, revision), the pair a continue token carries. Only a
//! few are kept, for a limited time; a continuation whose snapshot is gone is served from the
//! store at its revision, as before, so dropping one costs speed, never correctness.
//!
//! Pure bookkeeping: the caller passes the clock in.
//!
//! ```
//! use skiff_apiserver::list_snapshots::ListSnapshots;
//! use std::time::{Duration, Instant};
//!
//! let mut kept = ListSnapshots::new(4, Duration::from_secs(60));
//! let now = Instant::now();
//! kept.insert("/registry/pods/", 7, vec![("/registry/pods/a".to_string(), 1)].into(), now);
//! assert_eq!(kept.get("/registry/pods/", 7, now).map(|s| s.len()), Some(1));
//! assert!(kept.get("/registry/pods/", 8, now).is_none());
//! ```

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Snapshots kept at once (the oldest goes first).
pub const CAPACITY: usize = 16;
/// How long a snapshot is kept after it was last used.
pub const TTL: Duration = Duration::from_secs(60);

/// The entries of one collection at one revision, in key order.
pub type Entries<T> = Arc<[(String, T)]>;

/// Recently taken snapshots, by (prefix, revision).
#[derive(Debug)]
pub struct ListSnapshots<T> {
    kept: VecDeque<Kept<T>>,
    capacity: usize,
    ttl: Duration,
}

#[derive(Debug)]
struct Kept<T> {
    prefix: String,
    revision: i64,
    used: Instant,
    entries: Entries<T>,
}

impl<T> ListSnapshots<T> {
    /// Keeps at most `capacity` snapshots, each until `ttl` after its last use.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        ListSnapshots {
            kept: VecDeque::new(),
            capacity,
            ttl,
        }
    }

    /// Remembers `entries` as the collection under `prefix` at `revision`.
    pub fn insert(&mut self, prefix: &str, revision: i64, entries: Entries<T>, now: Instant) {
        self.expire(now);
        self.kept
            .retain(|k| !(k.prefix == prefix && k.revision == revision));
        while self.kept.len() >= self.capacity.max(1) {
            self.kept.pop_front();
        }
        self.kept.push_back(Kept {
            prefix: prefix.to_string(),
            revision,
            used: now,
            entries,
        });
    }

    /// The snapshot of `prefix` at `revision`, if still kept (its lifetime starts over).
    pub fn get(&mut self, prefix: &str, revision: i64, now: Instant) -> Option<Entries<T>> {
        self.expire(now);
        let kept = self
            .kept
            .iter_mut()
            .find(|k| k.prefix == prefix && k.revision == revision)?;
        kept.used = now;
        Some(kept.entries.clone())
    }

    /// Forgets the snapshot of `prefix` at `revision`: its last page was served, and a client
    /// that asks for a page again is served from the store.
    pub fn remove(&mut self, prefix: &str, revision: i64) {
        self.kept
            .retain(|k| !(k.prefix == prefix && k.revision == revision));
    }

    /// Number of snapshots kept.
    pub fn len(&self) -> usize {
        self.kept.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    fn expire(&mut self, now: Instant) {
        let ttl = self.ttl;
        self.kept
            .retain(|k| now.saturating_duration_since(k.used) < ttl);
    }
}

/// Where a page starts in `entries`: after `after` (the last key of the previous page), or at
/// the beginning.
pub fn page_start<T>(entries: &[(String, T)], after: Option<&str>) -> usize {
    match after {
        Some(key) => entries.partition_point(|(k, _)| k.as_str() <= key),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(keys: &[&str]) -> Entries<u32> {
        keys.iter()
            .enumerate()
            .map(|(i, k)| (k.to_string(), i as u32))
            .collect::<Vec<_>>()
            .into()
    }

    #[test]
    fn found_by_prefix_and_revision_only() {
        let mut s = ListSnapshots::new(4, TTL);
        let t = Instant::now();
        s.insert("/p/", 5, entries(&["/p/a", "/p/b"]), t);
        assert_eq!(s.get("/p/", 5, t).unwrap().len(), 2);
        assert!(s.get("/p/", 6, t).is_none());
        assert!(s.get("/q/", 5, t).is_none());
    }

    #[test]
    fn expire_after_ttl_since_last_use() {
        let mut s = ListSnapshots::new(4, Duration::from_secs(10));
        let t = Instant::now();
        s.insert("/p/", 1, entries(&["/p/a"]), t);
        // Used at 8 s: kept until 18 s.
        assert!(s.get("/p/", 1, t + Duration::from_secs(8)).is_some());
        assert!(s.get("/p/", 1, t + Duration::from_secs(17)).is_some());
        assert!(s.get("/p/", 1, t + Duration::from_secs(28)).is_none());
        assert!(s.is_empty());
    }

    #[test]
    fn the_oldest_goes_when_full_and_a_retake_replaces() {
        let mut s = ListSnapshots::new(2, TTL);
        let t = Instant::now();
        s.insert("/p/", 1, entries(&["/p/a"]), t);
        s.insert("/p/", 2, entries(&["/p/a"]), t);
        s.insert("/p/", 2, entries(&["/p/a", "/p/b"]), t);
        assert_eq!(s.len(), 2);
        assert_eq!(s.get("/p/", 2, t).unwrap().len(), 2);
        s.insert("/p/", 3, entries(&["/p/a"]), t);
        assert_eq!(s.len(), 2);
        assert!(s.get("/p/", 1, t).is_none());
        assert!(s.get("/p/", 2, t).is_some());
    }

    #[test]
    fn removed_when_its_last_page_is_served() {
        let mut s = ListSnapshots::new(4, TTL);
        let t = Instant::now();
        s.insert("/p/", 1, entries(&["/p/a"]), t);
        s.insert("/p/", 2, entries(&["/p/a"]), t);
        s.insert("/q/", 1, entries(&["/q/a"]), t);
        s.remove("/p/", 1);
        assert!(s.get("/p/", 1, t).is_none());
        assert!(s.get("/p/", 2, t).is_some());
        assert!(s.get("/q/", 1, t).is_some());
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn pages_start_after_the_last_key() {
        let e = entries(&["/p/a", "/p/b", "/p/c"]);
        assert_eq!(page_start(&e, None), 0);
        assert_eq!(page_start(&e, Some("/p/a")), 1);
        assert_eq!(page_start(&e, Some("/p/b")), 2);
        assert_eq!(page_start(&e, Some("/p/c")), 3);
        // A key that is gone from the collection: the next one after it.
        assert_eq!(page_start(&e, Some("/p/aa")), 1);
    }
}
