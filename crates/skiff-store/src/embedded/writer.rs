//! The single writer thread of the embedded store, with group commit.
//!
//! Callers send [`Request`]s over a bounded channel. The writer takes the first waiting
//! request plus every other one already queued (up to [`MAX_BATCH`]; under load, after a
//! short wait for more: [`GROUP_COMMIT_WAIT`]), applies them in order
//! inside ONE redb write transaction — each gets its own revision and its own success or
//! failure, and a failed precondition writes nothing, so it cannot affect the others — commits
//! once with immediate durability, and only then publishes the events to watchers and answers
//! every request of the batch. If the commit fails, every request of the batch fails.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use redb::{Database, Durability, ReadableTable, Table};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::tables::{
    current_kv, db_err, encode_current, encode_put, COMPACTED_KEY, CURRENT, DELETE_RECORD, LOG,
    META, REVISION_KEY, VERSIONS,
};
use crate::error::{check_compact, CompactPlan, StoreError};
use crate::types::{Event, EventKind, KeyValue, Revision};

/// Most requests applied in one transaction.
pub(crate) const MAX_BATCH: usize = 256;
/// How long a batch waits for more requests when the previous one was not alone. A lone
/// write (an idle server, one client) is committed at once.
const GROUP_COMMIT_WAIT: std::time::Duration = std::time::Duration::from_millis(1);

/// A write operation.
pub(crate) enum Op {
    Create {
        key: String,
        value: Bytes,
    },
    Update {
        key: String,
        value: Bytes,
        expected: Revision,
    },
    Delete {
        key: String,
        expected: Option<Revision>,
    },
    Compact {
        revision: Revision,
    },
}

/// A successful outcome.
pub(crate) enum Done {
    /// A create/update/delete, with the kv to return to the caller.
    Written(KeyValue),
    /// A compaction.
    Compacted,
}

/// One queued operation and where to send its outcome.
pub(crate) struct Request {
    pub(crate) op: Op,
    pub(crate) reply: oneshot::Sender<Result<Done, StoreError>>,
}

/// Revision counters as of the last commit, readable without a transaction, and statistics.
#[derive(Default)]
pub(crate) struct Published {
    pub(crate) revision: AtomicI64,
    pub(crate) compacted: AtomicI64,
    /// Write transactions committed.
    pub(crate) commits: AtomicU64,
    /// Requests answered (successfully or not).
    pub(crate) requests: AtomicU64,
    /// Set if the writer thread died of a panic (a bug or a damaged file).
    pub(crate) failed: AtomicBool,
}

/// The writer's state; lives on its own thread.
pub(crate) struct Writer {
    pub(crate) db: Arc<Database>,
    pub(crate) path: PathBuf,
    pub(crate) requests: mpsc::Receiver<Request>,
    pub(crate) events: broadcast::Sender<Arc<Event>>,
    pub(crate) published: Arc<Published>,
    pub(crate) revision: Revision,
    pub(crate) compacted: Revision,
}

/// Per-request result; the outer `Result` of the appliers is a storage failure that aborts
/// the whole batch.
type Outcome = Result<Done, StoreError>;

struct Tables<'t> {
    current: Table<'t, &'static str, &'static [u8]>,
    versions: Table<'t, (&'static str, i64), &'static [u8]>,
    log: Table<'t, i64, &'static str>,
}

/// What a batch produced, before it is committed.
struct Applied {
    outcomes: Vec<Outcome>,
    events: Vec<Event>,
    revision: Revision,
    compacted: Revision,
}

impl Writer {
    /// Serves requests until every sender is gone (the store was closed).
    pub(crate) fn run(mut self) {
        let mut busy = false;
        while let Some(first) = self.requests.blocking_recv() {
            let mut batch = vec![first];
            self.take_queued(&mut batch);
            if busy && batch.len() < MAX_BATCH {
                // Under load (the previous batch had company) wait a moment for the writers
                // about to arrive, so one commit and one fsync serve them too.
                std::thread::sleep(GROUP_COMMIT_WAIT);
                self.take_queued(&mut batch);
            }
            busy = batch.len() > 1;
            // The requests of a batch that panics get no answer (their callers see the writer
            // gone); stop rather than write on after an unknown failure.
            if catch_unwind(AssertUnwindSafe(|| self.process(batch))).is_err() {
                self.published.failed.store(true, Ordering::SeqCst);
                tracing::error!(path = %self.path.display(), "store writer panicked; writes are refused until restart");
                return;
            }
        }
        tracing::debug!(path = %self.path.display(), "store writer stopped");
    }

    /// Adds the requests already queued to `batch`, up to [`MAX_BATCH`].
    fn take_queued(&mut self, batch: &mut Vec<Request>) {
        while batch.len() < MAX_BATCH {
            match self.requests.try_recv() {
                Ok(req) => batch.push(req),
                Err(_) => break,
            }
        }
    }

    fn process(&mut self, batch: Vec<Request>) {
        let ops: Vec<&Op> = batch.iter().map(|r| &r.op).collect();
        let result = self.apply_and_commit(&ops);
        self.published
            .requests
            .fetch_add(batch.len() as u64, Ordering::SeqCst);
        match result {
            Ok(applied) => {
                self.revision = applied.revision;
                self.compacted = applied.compacted;
                self.published
                    .revision
                    .store(applied.revision, Ordering::SeqCst);
                self.published
                    .compacted
                    .store(applied.compacted, Ordering::SeqCst);
                for event in applied.events {
                    // No receivers is fine: nobody is watching.
                    let _ = self.events.send(Arc::new(event));
                }
                for (req, outcome) in batch.into_iter().zip(applied.outcomes) {
                    let _ = req.reply.send(outcome);
                }
            }
            Err(e) => {
                tracing::error!(path = %self.path.display(), error = %e, "store write batch failed");
                for req in batch {
                    let _ = req.reply.send(Err(e.clone()));
                }
            }
        }
    }

    fn apply_and_commit(&self, ops: &[&Op]) -> Result<Applied, StoreError> {
        let mut txn = self.db.begin_write().map_err(db_err)?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let mut applied = Applied {
            outcomes: Vec::with_capacity(ops.len()),
            events: Vec::new(),
            revision: self.revision,
            compacted: self.compacted,
        };
        {
            let mut tables = Tables {
                current: txn.open_table(CURRENT).map_err(db_err)?,
                versions: txn.open_table(VERSIONS).map_err(db_err)?,
                log: txn.open_table(LOG).map_err(db_err)?,
            };
            for op in ops {
                let outcome = tables.apply(op, &mut applied)?;
                applied.outcomes.push(outcome);
            }
        }
        if applied.revision == self.revision && applied.compacted == self.compacted {
            // Nothing changed (every request was rejected or a no-op): no need to commit.
            txn.abort().map_err(db_err)?;
            return Ok(applied);
        }
        {
            let mut meta = txn.open_table(META).map_err(db_err)?;
            meta.insert(REVISION_KEY, applied.revision.to_le_bytes().as_slice())
                .map_err(db_err)?;
            meta.insert(COMPACTED_KEY, applied.compacted.to_le_bytes().as_slice())
                .map_err(db_err)?;
        }
        txn.commit().map_err(db_err)?;
        self.published.commits.fetch_add(1, Ordering::SeqCst);
        Ok(applied)
    }
}

impl Tables<'_> {
    fn apply(&mut self, op: &Op, applied: &mut Applied) -> Result<Outcome, StoreError> {
        match op {
            Op::Create { key, value } => {
                if current_kv(&self.current, key)?.is_some() {
                    return Ok(Err(StoreError::AlreadyExists { key: key.clone() }));
                }
                let rev = applied.revision + 1;
                let kv = KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                    create_revision: rev,
                    mod_revision: rev,
                };
                self.put(&kv)?;
                Ok(Ok(applied.record(EventKind::Put, kv, None)))
            }
            Op::Update {
                key,
                value,
                expected,
            } => {
                let Some(current) = current_kv(&self.current, key)? else {
                    return Ok(Err(StoreError::NotFound { key: key.clone() }));
                };
                if current.mod_revision != *expected {
                    return Ok(Err(StoreError::Conflict {
                        key: key.clone(),
                        current: Some(current),
                    }));
                }
                let kv = KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                    create_revision: current.create_revision,
                    mod_revision: applied.revision + 1,
                };
                self.put(&kv)?;
                Ok(Ok(applied.record(EventKind::Put, kv, Some(current))))
            }
            Op::Delete { key, expected } => {
                let Some(current) = current_kv(&self.current, key)? else {
                    return Ok(Err(StoreError::NotFound { key: key.clone() }));
                };
                if expected.is_some_and(|e| e != current.mod_revision) {
                    return Ok(Err(StoreError::Conflict {
                        key: key.clone(),
                        current: Some(current),
                    }));
                }
                let rev = applied.revision + 1;
                self.current.remove(key.as_str()).map_err(db_err)?;
                self.versions
                    .insert((key.as_str(), rev), DELETE_RECORD)
                    .map_err(db_err)?;
                self.log.insert(rev, key.as_str()).map_err(db_err)?;
                let kv = KeyValue {
                    mod_revision: rev,
                    ..current.clone()
                };
                Ok(Ok(applied.record(EventKind::Delete, kv, Some(current))))
            }
            Op::Compact { revision } => {
                match check_compact(*revision, applied.revision, applied.compacted) {
                    Err(e) => return Ok(Err(e)),
                    Ok(CompactPlan::Noop) => {}
                    Ok(CompactPlan::Compact) => {
                        self.compact(*revision)?;
                        applied.compacted = *revision;
                    }
                }
                Ok(Ok(Done::Compacted))
            }
        }
    }

    /// Writes `kv` as the live value and as a new version at its mod revision.
    fn put(&mut self, kv: &KeyValue) -> Result<(), StoreError> {
        let key = kv.key.as_str();
        let rev = kv.mod_revision;
        self.current
            .insert(key, encode_current(kv).as_slice())
            .map_err(db_err)?;
        self.versions
            .insert(
                (key, rev),
                encode_put(kv.create_revision, &kv.value).as_slice(),
            )
            .map_err(db_err)?;
        self.log.insert(rev, key).map_err(db_err)?;
        Ok(())
    }

    /// Drops the history older than `revision`.
    ///
    /// Log entries below `revision` go (no watch may start that early any more). For each key
    /// they name, the versions below `revision` go too, except the newest one if it is a put:
    /// that is the key's value as of `revision - 1`, needed by reads at `revision` and later
    /// and as `prev` of the key's next event. Keys not named by those entries were last
    /// written before the previous compaction, which already trimmed them.
    fn compact(&mut self, revision: Revision) -> Result<(), StoreError> {
        let mut revs = Vec::new();
        let mut keys = BTreeSet::new();
        for entry in self.log.range(..revision).map_err(db_err)? {
            let (rev, key) = entry.map_err(db_err)?;
            revs.push(rev.value());
            keys.insert(key.value().to_string());
        }
        for rev in revs {
            self.log.remove(rev).map_err(db_err)?;
        }
        for key in &keys {
            let key = key.as_str();
            let mut old: Vec<(Revision, bool)> = Vec::new();
            for entry in self
                .versions
                .range((key, i64::MIN)..(key, revision))
                .map_err(db_err)?
            {
                let (k, v) = entry.map_err(db_err)?;
                old.push((k.value().1, v.value() != DELETE_RECORD));
            }
            let keep = match old.last() {
                Some(&(rev, true)) => Some(rev),
                _ => None,
            };
            for (rev, _) in old {
                if Some(rev) != keep {
                    self.versions.remove((key, rev)).map_err(db_err)?;
                }
            }
        }
        Ok(())
    }
}

impl Applied {
    /// Takes the next revision for an event and returns the caller's outcome.
    fn record(&mut self, kind: EventKind, kv: KeyValue, prev: Option<KeyValue>) -> Done {
        self.revision = kv.mod_revision;
        self.events.push(Event {
            kind,
            kv: kv.clone(),
            prev,
        });
        Done::Written(kv)
    }
}
