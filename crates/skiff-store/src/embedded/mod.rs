//! [`EmbeddedStore`]: the durable backend, one redb file on local disk.
//!
//! * Writes go through a single writer thread with group commit (`writer.rs`); a write is
//!   acknowledged only once its batch is committed with immediate durability, so it survives
//!   `kill -9` and power loss.
//! * Reads run in redb read transactions on the blocking pool and never wait for the writer.
//! * History lives in a versions table and a revision log (`tables.rs`), which serve reads at
//!   old revisions and watch replay (`watch.rs`) until compacted.
//! * Opening refuses files that are not intact Skiff stores (`open.rs`).

pub mod maintain;
mod open;
mod tables;
mod watch;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread;

use bytes::Bytes;
use redb::{Database, ReadTransaction, ReadableDatabase};
use tokio::sync::{broadcast, mpsc, oneshot};

use self::tables::{
    current_kv, db_err, kv_at, list_at, list_current, meta_i64, COMPACTED_KEY, CURRENT, META,
    REVISION_KEY, VERSIONS,
};
use self::writer::{Done, Op, Published, Request, Writer};
use crate::error::{check_key, check_read_revision, check_watch_start, StoreError};
use crate::store::Store;
use crate::types::{
    Event, KeyValue, ListRequest, ListResponse, Revision, StoreOptions, WatchStream,
};
use crate::watch_util::watch_channel;

/// Requests that may wait for the writer before callers are slowed down.
const REQUEST_QUEUE: usize = 1024;
/// Committed events kept for live watchers; one that falls further behind replays from disk.
/// A slot's event is freed once every watcher has received it, so the size only costs memory
/// while someone lags; it is large because a replay from disk is far dearer than the memory,
/// and a busy API server (thousands of writes a second on two cores) would otherwise lag
/// whenever its watch-cache task misses a few scheduler ticks.
const EVENT_BUFFER: usize = 16 * 1024;
/// Largest key + value accepted (redb's hard limit is 3 GiB per entry).
const MAX_ENTRY_BYTES: usize = 1 << 30;
/// Read transactions running at once on the blocking pool. Reads are short (the page cache
/// answers most), so a few threads keep up; without a bound a burst of reads grows the pool
/// to dozens of threads, each with its own allocator heap that stays fragmented.
const CONCURRENT_READS: usize = 8;

/// Counters of the writer thread, for monitoring (and to observe group commit in tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Write transactions committed (each one fsync); one per batch that changed something.
    pub commits: u64,
    /// Write and compaction requests answered, successfully or not.
    pub requests: u64,
}

/// The durable store.
///
/// A new store is at revision 1. Share it between tasks with an `Arc` (it is not `Clone`:
/// dropping it, or [`close`](Self::close), stops the writer after the queued writes and
/// releases the file). Reads, writes and watches must run inside a Tokio runtime; `open` and
/// `close` need not.
pub struct EmbeddedStore {
    shared: Arc<Shared>,
}

/// State shared by the store handle, readers and watch tasks.
pub(crate) struct Shared {
    path: PathBuf,
    /// Taken on close, so the file is released once in-flight reads finish.
    db: RwLock<Option<Arc<Database>>>,
    requests: Mutex<Option<mpsc::Sender<Request>>>,
    events: Mutex<Option<broadcast::Sender<Arc<Event>>>>,
    writer: Mutex<Option<thread::JoinHandle<()>>>,
    published: Arc<Published>,
    options: StoreOptions,
    /// Bounds the read transactions in flight ([`CONCURRENT_READS`]).
    readers: Arc<tokio::sync::Semaphore>,
}

impl Shared {
    /// Runs `f` in a read transaction on the blocking pool.
    pub(crate) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&ReadTransaction) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self
            .db
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or(StoreError::Closed)?;
        let permit = self
            .readers
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let txn = db.begin_read().map_err(db_err)?;
            f(&txn)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("store read task failed: {e}")))?
    }
}

impl EmbeddedStore {
    /// Opens the store at `path` with default options, creating it if the file is missing or
    /// empty (the directory must exist).
    ///
    /// Fails with [`StoreError::Corrupt`] if the file is not an intact Skiff store: not a redb
    /// database, a redb database without the `skiff-store/1` marker, another format version,
    /// truncated or damaged. Opening verifies the checksum of every page, so it reads the whole
    /// file once. Fails with [`StoreError::Backend`] if the file is already open.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with_options(path, StoreOptions::default())
    }

    /// Like [`open`](Self::open), with explicit options.
    pub fn open_with_options(path: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        let opened = open::open_store(path)?;
        let db = Arc::new(opened.db);
        let published = Arc::new(Published::default());
        published.revision.store(opened.revision, Ordering::SeqCst);
        published
            .compacted
            .store(opened.compacted, Ordering::SeqCst);
        let (req_tx, req_rx) = mpsc::channel(REQUEST_QUEUE);
        let (event_tx, _) = broadcast::channel(EVENT_BUFFER);
        let writer = Writer {
            db: db.clone(),
            path: path.to_path_buf(),
            requests: req_rx,
            events: event_tx.clone(),
            published: published.clone(),
            revision: opened.revision,
            compacted: opened.compacted,
        };
        let handle = thread::Builder::new()
            .name("skiff-store-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| StoreError::Backend(format!("cannot start the store writer: {e}")))?;
        tracing::info!(path = %path.display(), revision = opened.revision, "store opened");
        Ok(Self {
            shared: Arc::new(Shared {
                path: path.to_path_buf(),
                db: RwLock::new(Some(db)),
                requests: Mutex::new(Some(req_tx)),
                events: Mutex::new(Some(event_tx)),
                writer: Mutex::new(Some(handle)),
                published,
                options,
                readers: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_READS)),
            }),
        })
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The writer's counters so far.
    pub fn stats(&self) -> WriterStats {
        let p = &self.shared.published;
        WriterStats {
            commits: p.commits.load(Ordering::SeqCst),
            requests: p.requests.load(Ordering::SeqCst),
        }
    }

    /// Shuts the store down: writes already queued are committed and acknowledged, later
    /// operations fail with [`StoreError::Closed`], watch streams end with that error, and the
    /// file is released once in-flight reads finish. Blocks briefly while the writer finishes
    /// its last batch. Idempotent.
    pub fn close(&self) -> Result<(), StoreError> {
        let shared = &self.shared;
        drop(lock(&shared.requests).take());
        drop(lock(&shared.events).take());
        let handle = lock(&shared.writer).take();
        let joined = handle.map(|h| h.join());
        drop(
            shared
                .db
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        match joined {
            Some(Err(_)) => Err(StoreError::Backend(
                "the store writer thread panicked".into(),
            )),
            _ => Ok(()),
        }
    }

    /// Queues a write and waits for its outcome.
    async fn submit(&self, op: Op) -> Result<Done, StoreError> {
        let sender = lock(&self.shared.requests)
            .clone()
            .ok_or(StoreError::Closed)?;
        let (reply, outcome) = oneshot::channel();
        let sent = sender.send(Request { op, reply }).await;
        drop(sender);
        match sent {
            Ok(()) => outcome.await.unwrap_or_else(|_| Err(self.writer_gone())),
            Err(_) => Err(self.writer_gone()),
        }
    }

    /// Why a write could not be answered: the store was closed, or its writer died.
    fn writer_gone(&self) -> StoreError {
        if self.shared.published.failed.load(Ordering::SeqCst) {
            StoreError::Backend(format!(
                "the writer of {} failed; restart to reopen the store",
                self.shared.path.display()
            ))
        } else {
            StoreError::Closed
        }
    }

    async fn write(&self, op: Op) -> Result<KeyValue, StoreError> {
        match self.submit(op).await? {
            Done::Written(kv) => Ok(kv),
            Done::Compacted => Err(StoreError::Backend(
                "the store writer answered a write as a compaction".into(),
            )),
        }
    }

    fn check_open(&self) -> Result<(), StoreError> {
        if lock(&self.shared.requests).is_none() {
            return Err(StoreError::Closed);
        }
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn check_entry(key: &str, value: &Bytes) -> Result<(), StoreError> {
    check_key(key)?;
    if key.len() + value.len() > MAX_ENTRY_BYTES {
        return Err(StoreError::InvalidArgument(format!(
            "key {key:?} with a {} byte value exceeds the {MAX_ENTRY_BYTES} byte entry limit",
            value.len()
        )));
    }
    Ok(())
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::warn!(path = %self.shared.path.display(), error = %e, "closing the store failed");
        }
    }
}

/// Reads the counters of a snapshot and resolves the revision to read at.
fn read_revision(
    txn: &ReadTransaction,
    revision: Option<Revision>,
) -> Result<(Revision, Revision), StoreError> {
    let meta = txn.open_table(META).map_err(db_err)?;
    let current = meta_i64(&meta, REVISION_KEY)?;
    let compacted = meta_i64(&meta, COMPACTED_KEY)?;
    let at = revision.unwrap_or(current);
    check_read_revision(at, current, compacted)?;
    Ok((at, current))
}

#[async_trait::async_trait]
impl Store for EmbeddedStore {
    async fn current_revision(&self) -> Result<Revision, StoreError> {
        self.check_open()?;
        Ok(self.shared.published.revision.load(Ordering::SeqCst))
    }

    async fn compacted_revision(&self) -> Result<Revision, StoreError> {
        self.check_open()?;
        Ok(self.shared.published.compacted.load(Ordering::SeqCst))
    }

    async fn get(
        &self,
        key: &str,
        revision: Option<Revision>,
    ) -> Result<(Option<KeyValue>, Revision), StoreError> {
        let key = key.to_string();
        self.shared
            .read(move |txn| {
                let (at, current) = read_revision(txn, revision)?;
                let kv = if at == current {
                    current_kv(&txn.open_table(CURRENT).map_err(db_err)?, &key)?
                } else {
                    kv_at(&txn.open_table(VERSIONS).map_err(db_err)?, &key, at)?
                };
                Ok((kv, at))
            })
            .await
    }

    async fn list(&self, req: ListRequest) -> Result<ListResponse, StoreError> {
        self.shared
            .read(move |txn| {
                let (at, current) = read_revision(txn, req.revision)?;
                let after = req.after_key.as_deref();
                let (kvs, remaining) = if at == current {
                    let table = txn.open_table(CURRENT).map_err(db_err)?;
                    list_current(&table, &req.prefix, after, req.limit)?
                } else {
                    let table = txn.open_table(VERSIONS).map_err(db_err)?;
                    list_at(&table, &req.prefix, after, req.limit, at)?
                };
                Ok(ListResponse {
                    kvs,
                    revision: at,
                    more: remaining > 0,
                    remaining,
                })
            })
            .await
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue, StoreError> {
        check_entry(key, &value)?;
        let key = key.to_string();
        self.write(Op::Create { key, value }).await
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected_mod_revision: Revision,
    ) -> Result<KeyValue, StoreError> {
        check_entry(key, &value)?;
        let key = key.to_string();
        self.write(Op::Update {
            key,
            value,
            expected: expected_mod_revision,
        })
        .await
    }

    async fn delete(
        &self,
        key: &str,
        expected_mod_revision: Option<Revision>,
    ) -> Result<KeyValue, StoreError> {
        check_key(key)?;
        let key = key.to_string();
        self.write(Op::Delete {
            key,
            expected: expected_mod_revision,
        })
        .await
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError> {
        // Subscribe before reading anything, so no commit can fall between replay and live.
        let live = lock(&self.shared.events)
            .as_ref()
            .ok_or(StoreError::Closed)?
            .subscribe();
        let compacted = self
            .shared
            .read(|txn| meta_i64(&txn.open_table(META).map_err(db_err)?, COMPACTED_KEY))
            .await?;
        check_watch_start(after, compacted)?;
        let (sink, stream) = watch_channel(self.shared.options.progress_interval);
        tokio::spawn(watch::run(
            self.shared.clone(),
            live,
            sink,
            prefix.to_string(),
            after,
        ));
        Ok(stream)
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        match self.submit(Op::Compact { revision }).await? {
            Done::Compacted => Ok(()),
            Done::Written(_) => Err(StoreError::Backend(
                "the store writer answered a compaction as a write".into(),
            )),
        }
    }
}
