//! The watch cache: one in-memory mirror of every object, fed by a single store watch, so that
//! lists and watches of hot resources do not each hit the store.
//!
//! Lists wait until the cache has caught up with the store's current revision (consistent reads
//! from cache, like kube-apiserver's ConsistentListFromCache) and then read the mirror. Watches
//! from a revision inside the recent-events window replay from memory and then follow live
//! events; older revisions fall back to a watch on the store itself (which answers 410 when the
//! history is compacted), and so does a watcher that falls behind the window. The window is
//! therefore only a cache of recent history: it is bounded by events and by bytes, and its
//! size trades memory for store reads, never correctness.

use crate::list_snapshots::{Entries, ListSnapshots};
use crate::rest::keys;
use futures::StreamExt;
use serde_json::Value;
use skiff_api::ApiError;
use skiff_store::{EventKind, ListRequest, Store, WatchItem};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// Events kept for replay, at most.
pub const WINDOW: usize = 20_000;
/// Bytes of stored objects the replay window keeps, at most: under a burst of writes this,
/// not [`WINDOW`], is what bounds it (20,000 pod events are ~60 MB, most of them versions
/// that have since been superseded and are held by nothing else).
pub const WINDOW_BYTES: usize = 24 << 20;
/// Decoded events kept for watchers following the live feed.
const LIVE_FEED: usize = 1024;
/// How long a list waits for the cache to reach a revision before giving up.
const WAIT_LIMIT: Duration = Duration::from_secs(3);

/// The kind of a watch event, as the Kubernetes API names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// ADDED
    Added,
    /// MODIFIED
    Modified,
    /// DELETED
    Deleted,
}

/// One change to one object.
#[derive(Debug)]
pub struct CachedEvent {
    /// The store key.
    pub key: String,
    /// What happened.
    pub change: Change,
    /// The object after the change as stored (for a delete: its last state).
    value: bytes::Bytes,
    /// `value` decoded, with the change's revision as resourceVersion: on first use, since
    /// only watchers that select or convert need it.
    object: std::sync::OnceLock<Option<Arc<Value>>>,
    /// The object before the change as stored (None on create).
    prev_raw: Option<Raw>,
    /// What selectors read of the object and of its previous state, decoded on first use.
    selectable: std::sync::OnceLock<Option<Value>>,
    prev_selectable: std::sync::OnceLock<Option<Value>>,
    /// The revision of the change.
    pub revision: i64,
    /// The object encoded as JSON per served version (`apiVersion`), computed by the first
    /// watcher that needs it and shared by the others.
    encoded: std::sync::Mutex<Vec<(String, bytes::Bytes)>>,
}

impl CachedEvent {
    fn new(
        key: String,
        change: Change,
        value: bytes::Bytes,
        revision: i64,
        prev: Option<Raw>,
    ) -> Self {
        CachedEvent {
            key,
            change,
            value,
            object: std::sync::OnceLock::new(),
            prev_raw: prev,
            selectable: std::sync::OnceLock::new(),
            prev_selectable: std::sync::OnceLock::new(),
            revision,
            encoded: Default::default(),
        }
    }

    /// Whether the object existed before the change.
    pub fn has_prev(&self) -> bool {
        self.prev_raw.is_some()
    }

    /// What label and field selectors read of the object ([`skiff_api::selectable::view`]),
    /// decoded once and shared by watchers; None if the stored bytes are not JSON.
    pub fn selectable(&self) -> Option<&Value> {
        self.selectable
            .get_or_init(|| skiff_api::selectable::view(&self.value))
            .as_ref()
    }

    /// [`CachedEvent::selectable`] of the object before the change (None on create). Only
    /// watchers with selectors need it, to turn an object leaving their selection into a
    /// DELETED event.
    pub fn prev_selectable(&self) -> Option<&Value> {
        self.prev_selectable
            .get_or_init(|| {
                self.prev_raw
                    .as_ref()
                    .and_then(|p| skiff_api::selectable::view(&p.value))
            })
            .as_ref()
    }

    /// The object after the change (for a delete: its last state, with the delete
    /// revision), decoded once and shared by watchers; None if the stored bytes are not JSON.
    pub fn object(&self) -> Option<&Arc<Value>> {
        self.object
            .get_or_init(|| with_rv(&self.value, self.revision).map(Arc::new))
            .as_ref()
    }

    /// The object's JSON encoding in `api_version`, made once and then shared: the stored
    /// bytes with the revision spliced in when they are in that version, else `encode` of
    /// the decoded object. None if the stored bytes are not JSON.
    pub fn encoded(
        &self,
        api_version: &str,
        encode: impl FnOnce(&Value) -> Vec<u8>,
    ) -> Option<bytes::Bytes> {
        {
            let cache = self.encoded.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((_, b)) = cache.iter().find(|(v, _)| v == api_version) {
                return Some(b.clone());
            }
        }
        let bytes = match crate::stored_json::with_resource_version(
            &self.value,
            self.revision,
            api_version,
        ) {
            Some(b) => bytes::Bytes::from(b),
            None => bytes::Bytes::from(encode(self.object()?)),
        };
        let mut cache = self.encoded.lock().unwrap_or_else(|e| e.into_inner());
        if !cache.iter().any(|(v, _)| v == api_version) {
            cache.push((api_version.to_string(), bytes.clone()));
        }
        Some(bytes)
    }
}

/// What a watch stream yields.
#[derive(Clone, Debug)]
pub enum Item {
    /// A change.
    Event(Arc<CachedEvent>),
    /// Everything up to this revision was delivered (from the store path only).
    Progress(i64),
}

/// An object as stored: its JSON bytes (shared, never copied) and the revision that wrote
/// them. The cache keeps objects and history in this form and decodes on demand: a decoded
/// `serde_json::Value` takes several times the memory of its JSON. Lists hand these out too,
/// so callers decode, filter and project one object at a time, outside the cache's lock.
#[derive(Clone, Debug)]
pub struct Raw {
    value: bytes::Bytes,
    revision: i64,
}

impl Raw {
    fn of(kv: &skiff_store::KeyValue) -> Self {
        Raw {
            value: kv.value.clone(),
            revision: kv.mod_revision,
        }
    }

    /// The stored bytes.
    pub fn bytes(&self) -> &bytes::Bytes {
        &self.value
    }

    /// The revision that wrote them.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The object, with its `resourceVersion` (None if the stored bytes are not JSON).
    pub fn decode(&self) -> Option<Value> {
        with_rv(&self.value, self.revision)
    }

    /// Only the object's `apiVersion`, `kind` and `metadata` (with its `resourceVersion`),
    /// decoded without building the rest: what a metadata-only list (`PartialObjectMetadata`,
    /// as the garbage collector reads every kind) keeps of each object. None if the stored
    /// bytes are not a JSON object.
    pub fn decode_head(&self) -> Option<Value> {
        #[derive(serde::Deserialize)]
        struct Head {
            #[serde(rename = "apiVersion")]
            api_version: Option<Value>,
            kind: Option<Value>,
            metadata: Option<Value>,
        }
        let head: Head = serde_json::from_slice(&self.value).ok()?;
        let mut map = serde_json::Map::new();
        let fields = [
            ("apiVersion", head.api_version),
            ("kind", head.kind),
            ("metadata", head.metadata),
        ];
        for (name, value) in fields {
            if let Some(v) = value {
                map.insert(name.into(), v);
            }
        }
        let mut v = Value::Object(map);
        crate::rest::meta::set_resource_version(&mut v, self.revision);
        Some(v)
    }

    /// The object as JSON in `api_version` with its `resourceVersion`, spliced into the stored
    /// bytes without decoding them; None when the bytes are in another version or not shaped
    /// as expected (then [`Raw::decode`] it).
    pub fn encoded(&self, api_version: &str) -> Option<Vec<u8>> {
        crate::stored_json::with_resource_version(&self.value, self.revision, api_version)
    }
}

/// A replay-window entry, parsed again only when a watch replays it. Its bytes are shared
/// with the cached object and with the next entry's `prev`.
#[derive(Clone)]
struct Recorded {
    key: String,
    change: Change,
    revision: i64,
    value: bytes::Bytes,
    prev: Option<Raw>,
}

impl Recorded {
    fn event(&self) -> Arc<CachedEvent> {
        Arc::new(CachedEvent::new(
            self.key.clone(),
            self.change,
            self.value.clone(),
            self.revision,
            self.prev.clone(),
        ))
    }
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Raw>,
    revision: i64,
    window: VecDeque<Recorded>,
    /// The sum of the window's values' lengths.
    window_bytes: usize,
    /// Every event with a revision above this is in `window`.
    window_start: i64,
}

impl State {
    /// Appends an event and drops the oldest ones beyond [`WINDOW`] or [`WINDOW_BYTES`] (the
    /// newest event always stays).
    fn record(&mut self, event: Recorded) {
        self.window_bytes += event.value.len();
        self.window.push_back(event);
        while self.window.len() > 1
            && (self.window.len() > WINDOW || self.window_bytes > WINDOW_BYTES)
        {
            match self.drop_oldest() {
                Some(revision) => self.window_start = revision,
                None => break,
            }
        }
    }

    /// Drops the oldest event of the window; returns its revision.
    fn drop_oldest(&mut self) -> Option<i64> {
        let old = self.window.pop_front()?;
        self.window_bytes -= old.value.len();
        Some(old.revision)
    }
}

/// The cache. Create with [`WatchCache::start`].
pub struct WatchCache {
    store: Arc<dyn Store>,
    state: RwLock<State>,
    revision: watch::Sender<i64>,
    events: broadcast::Sender<Arc<CachedEvent>>,
    /// Collections copied out for paginated lists.
    snapshots: std::sync::Mutex<ListSnapshots<Raw>>,
}

impl std::fmt::Debug for WatchCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchCache").finish_non_exhaustive()
    }
}

fn with_rv(bytes: &[u8], rev: i64) -> Option<Value> {
    let mut v: Value = serde_json::from_slice(bytes).ok()?;
    crate::rest::meta::set_resource_version(&mut v, rev);
    Some(v)
}

/// Converts a store event into a cache event.
pub fn convert(ev: &skiff_store::Event) -> CachedEvent {
    convert_with(ev, ev.prev.as_ref().map(Raw::of))
}

/// [`convert`] with the previous state given.
fn convert_with(ev: &skiff_store::Event, prev: Option<Raw>) -> CachedEvent {
    let rev = ev.kv.mod_revision;
    let change = match ev.kind {
        // A put created its key iff it is the key's first revision (`prev` alone cannot
        // tell: etcd omits it for an update at exactly the compacted revision).
        EventKind::Put if ev.kv.create_revision == ev.kv.mod_revision => Change::Added,
        EventKind::Put => Change::Modified,
        EventKind::Delete => Change::Deleted,
    };
    CachedEvent::new(ev.kv.key.clone(), change, ev.kv.value.clone(), rev, prev)
}

impl WatchCache {
    /// Loads every object and starts following the store.
    pub async fn start(store: Arc<dyn Store>) -> Result<Arc<Self>, skiff_store::StoreError> {
        let (tx, _) = watch::channel(0);
        // The live feed holds decoded events; a watcher that falls further behind catches up
        // from the (raw) replay window, so this stays small.
        let (events, _) = broadcast::channel(LIVE_FEED);
        let cache = Arc::new(Self {
            store,
            state: RwLock::new(State::default()),
            revision: tx,
            events,
            snapshots: std::sync::Mutex::new(ListSnapshots::new(
                crate::list_snapshots::CAPACITY,
                crate::list_snapshots::TTL,
            )),
        });
        let rev = cache.reload().await?;
        let weak = Arc::downgrade(&cache);
        tokio::spawn(async move { follow(weak, rev).await });
        Ok(cache)
    }

    async fn reload(&self) -> Result<i64, skiff_store::StoreError> {
        let mut objects = BTreeMap::new();
        let mut after = None;
        let mut revision = None;
        loop {
            let page = self
                .store
                .list(ListRequest {
                    prefix: keys::ROOT.into(),
                    after_key: after.clone(),
                    limit: 10_000,
                    revision,
                })
                .await?;
            revision = Some(page.revision);
            for kv in &page.kvs {
                objects.insert(kv.key.clone(), Raw::of(kv));
                after = Some(kv.key.clone());
            }
            if !page.more {
                break;
            }
        }
        let rev = revision.unwrap_or(0);
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        *st = State {
            objects,
            revision: rev,
            window: VecDeque::new(),
            window_bytes: 0,
            window_start: rev,
        };
        drop(st);
        self.revision.send_replace(rev);
        Ok(rev)
    }

    fn apply(&self, item: WatchItem) {
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        match item {
            WatchItem::Progress(r) => {
                if r > st.revision {
                    st.revision = r;
                }
            }
            WatchItem::Event(ev) => {
                // The previous state is the cached object: share its bytes instead of keeping
                // the store's copy too.
                let prev = st
                    .objects
                    .get(&ev.kv.key)
                    .cloned()
                    .or_else(|| ev.prev.as_ref().map(Raw::of));
                let ce = convert_with(&ev, prev.clone());
                match ce.change {
                    Change::Deleted => {
                        st.objects.remove(&ce.key);
                    }
                    _ => {
                        st.objects.insert(ce.key.clone(), Raw::of(&ev.kv));
                    }
                }
                st.revision = ce.revision;
                let ce = Arc::new(ce);
                st.record(Recorded {
                    key: ce.key.clone(),
                    change: ce.change,
                    revision: ce.revision,
                    value: ev.kv.value.clone(),
                    prev,
                });
                let _ = self.events.send(ce);
            }
        }
        let r = st.revision;
        drop(st);
        self.revision.send_replace(r);
    }

    /// Drops replay history older than a store compaction at `revision`, so a watch from
    /// before it gets 410 Expired like it would from the store.
    pub fn compacted(&self, revision: i64) {
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        while st.window.front().is_some_and(|e| e.revision < revision) {
            st.drop_oldest();
        }
        if st.window_start < revision - 1 {
            st.window_start = revision - 1;
        }
    }

    /// The revision the cache reflects.
    pub fn revision(&self) -> i64 {
        *self.revision.borrow()
    }

    async fn wait_for(&self, rev: i64) -> Result<(), ApiError> {
        let mut rx = self.revision.subscribe();
        let ok = matches!(
            tokio::time::timeout(WAIT_LIMIT, rx.wait_for(|r| *r >= rev)).await,
            Ok(Ok(_))
        );
        match ok {
            true => Ok(()),
            false => Err(ApiError::Timeout(format!(
                "Too large resource version: {rev}, current: {}",
                self.revision()
            ))),
        }
    }

    /// Objects under `prefix`. `consistent` waits for the store's current revision; otherwise
    /// waits for `min_rev` if given.
    pub async fn list(
        &self,
        prefix: &str,
        min_rev: Option<i64>,
        consistent: bool,
    ) -> Result<(Vec<Raw>, i64), ApiError> {
        self.catch_up(min_rev, consistent).await?;
        let (raws, revision) = {
            let st = self.state.read().unwrap_or_else(|e| e.into_inner());
            let raws: Vec<Raw> = st
                .objects
                .range(prefix.to_string()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(_, v)| v.clone())
                .collect();
            (raws, st.revision)
        };
        Ok((raws, revision))
    }

    /// Everything under `prefix`, waiting like [`WatchCache::list`], as a snapshot that is
    /// kept for the later pages of a paginated list ([`crate::list_snapshots`]) when it holds
    /// more than `page` entries (a smaller one fits in the first page).
    pub async fn snapshot(
        &self,
        prefix: &str,
        min_rev: Option<i64>,
        consistent: bool,
        page: usize,
    ) -> Result<(Entries<Raw>, i64), ApiError> {
        self.catch_up(min_rev, consistent).await?;
        let (entries, revision): (Entries<Raw>, i64) = {
            let st = self.state.read().unwrap_or_else(|e| e.into_inner());
            let entries: Vec<(String, Raw)> = st
                .objects
                .range(prefix.to_string()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            (entries.into(), st.revision)
        };
        if entries.len() > page {
            self.snapshots
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(prefix, revision, entries.clone(), std::time::Instant::now());
        }
        Ok((entries, revision))
    }

    /// The object at `key` as the cache has it now (it may trail the store by a few events).
    pub fn get(&self, key: &str) -> Option<Raw> {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        st.objects.get(key).cloned()
    }

    /// The snapshot of `prefix` at `revision` taken by [`WatchCache::snapshot`], if kept.
    pub fn kept_snapshot(&self, prefix: &str, revision: i64) -> Option<Entries<Raw>> {
        self.snapshots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(prefix, revision, std::time::Instant::now())
    }

    /// Drops the snapshot of `prefix` at `revision`, once its last page is served: a kept
    /// snapshot holds the bytes of every object as they were, which the cache has otherwise
    /// let go of as the objects changed.
    pub fn release_snapshot(&self, prefix: &str, revision: i64) {
        self.snapshots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(prefix, revision);
    }

    /// Waits until the cache reflects the store's current revision (`consistent`) or
    /// `min_rev`.
    async fn catch_up(&self, min_rev: Option<i64>, consistent: bool) -> Result<(), ApiError> {
        let target = if consistent {
            self.store
                .current_revision()
                .await
                .map_err(|e| ApiError::Unavailable(format!("storage is unavailable: {e}")))?
        } else {
            min_rev.unwrap_or(0)
        };
        if target > self.revision() {
            self.wait_for(target).await?;
        }
        Ok(())
    }

    /// A stream of changes under `prefix` after revision `after`. A watcher that falls
    /// behind the live feed catches up from the replay window instead of failing, and one
    /// that falls behind the window too goes on from the store's history; only history the
    /// store has compacted away ends a watch with 410 Expired.
    pub async fn watch(
        self: &Arc<Self>,
        prefix: &str,
        after: i64,
    ) -> Result<futures::stream::BoxStream<'static, Result<Item, ApiError>>, ApiError> {
        let prefix = prefix.to_string();
        {
            let st = self.state.read().unwrap_or_else(|e| e.into_inner());
            if after >= st.window_start {
                let rx = self.events.subscribe();
                drop(st);
                let follow = Follow {
                    cache: self.clone(),
                    rx,
                    prefix,
                    last: after,
                    replaying: true,
                    from_store: None,
                    failed: false,
                };
                return Ok(futures::stream::unfold(follow, Follow::next).boxed());
            }
        }
        self.store_watch(&prefix, after).await
    }

    /// A watch on the store itself, for history the replay window no longer holds.
    async fn store_watch(
        &self,
        prefix: &str,
        after: i64,
    ) -> Result<futures::stream::BoxStream<'static, Result<Item, ApiError>>, ApiError> {
        let stream = self.store.watch(prefix, after).await.map_err(|e| match e {
            skiff_store::StoreError::Compacted {
                requested,
                compacted,
            } => ApiError::Expired(format!(
                "too old resource version: {requested} ({compacted})"
            )),
            e => ApiError::Unavailable(format!("storage is unavailable: {e}")),
        })?;
        Ok(stream
            .map(|r| match r {
                Ok(WatchItem::Event(ev)) => Ok(Item::Event(Arc::new(convert(&ev)))),
                Ok(WatchItem::Progress(r)) => Ok(Item::Progress(r)),
                Err(e) => Err(ApiError::Unavailable(format!("storage watch failed: {e}"))),
            })
            .boxed())
    }
}

/// What the replay window holds after a revision, for one watcher.
enum Replayed {
    /// The next event under the prefix.
    Event(Arc<CachedEvent>),
    /// Nothing more under the prefix up to this revision (the window's end).
    Done(i64),
    /// The window no longer reaches back to the revision.
    Expired,
}

impl WatchCache {
    /// The first event under `prefix` after revision `after`, taken from the replay window
    /// one at a time, so that a watcher catching up holds one event, not thousands.
    fn replay_next(&self, prefix: &str, after: i64) -> Replayed {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        if after < st.window_start {
            return Replayed::Expired;
        }
        let from = st.window.partition_point(|e| e.revision <= after);
        match st.window.range(from..).find(|e| e.key.starts_with(prefix)) {
            Some(e) => Replayed::Event(e.event()),
            None => Replayed::Done(st.window.back().map_or(after, |e| e.revision)),
        }
    }
}

/// One watcher following the cache: the replay window first (from where the watch starts,
/// or from where it fell behind the live feed), then the live feed; revisions only go
/// forward, so an event seen both in the window and live is delivered once. A watcher the
/// window has left behind follows a watch on the store from its last revision instead, to
/// the end.
struct Follow {
    cache: Arc<WatchCache>,
    rx: broadcast::Receiver<Arc<CachedEvent>>,
    prefix: String,
    last: i64,
    replaying: bool,
    from_store: Option<futures::stream::BoxStream<'static, Result<Item, ApiError>>>,
    failed: bool,
}

impl Follow {
    async fn next(mut self) -> Option<(Result<Item, ApiError>, Self)> {
        if self.failed {
            return None;
        }
        loop {
            if let Some(stream) = self.from_store.as_mut() {
                let item = stream.next().await?;
                self.failed = item.is_err();
                return Some((item, self));
            }
            if self.replaying {
                match self.cache.replay_next(&self.prefix, self.last) {
                    Replayed::Event(e) => {
                        self.last = e.revision;
                        return Some((Ok(Item::Event(e)), self));
                    }
                    Replayed::Done(end) => {
                        self.last = self.last.max(end);
                        self.replaying = false;
                    }
                    Replayed::Expired => {
                        match self.cache.store_watch(&self.prefix, self.last).await {
                            Ok(stream) => self.from_store = Some(stream),
                            Err(e) => {
                                self.failed = true;
                                return Some((Err(e), self));
                            }
                        }
                        self.replaying = false;
                    }
                }
                continue;
            }
            match self.rx.recv().await {
                Ok(e) => {
                    if e.revision <= self.last || !e.key.starts_with(&self.prefix) {
                        continue;
                    }
                    self.last = e.revision;
                    return Some((Ok(Item::Event(e)), self));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Everything sent from now on arrives on the new receiver; everything
                    // before it is in the window (events enter the window before the feed).
                    self.rx = self.rx.resubscribe();
                    self.replaying = true;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

async fn follow(cache: std::sync::Weak<WatchCache>, mut from: i64) {
    loop {
        let Some(c) = cache.upgrade() else { return };
        let stream = c.store.watch(keys::ROOT, from).await;
        drop(c);
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "watch cache: store watch failed; reloading");
                tokio::time::sleep(Duration::from_millis(200)).await;
                let Some(c) = cache.upgrade() else { return };
                if let Ok(r) = c.reload().await {
                    from = r;
                }
                continue;
            }
        };
        while let Some(item) = stream.next().await {
            let Some(c) = cache.upgrade() else { return };
            match item {
                Ok(i) => {
                    c.apply(i);
                    from = c.revision();
                }
                Err(skiff_store::StoreError::Closed) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "watch cache: store watch ended");
                    break;
                }
            }
        }
        let Some(c) = cache.upgrade() else { return };
        if c.store.current_revision().await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests;
