//! On-disk layout of the embedded store: redb table definitions, record encodings and the
//! read queries shared by readers, the writer and watchers.
//!
//! Tables:
//! * `skiff_meta`: `format` → `skiff-store/1`, `revision` / `compacted` → `i64` (LE bytes).
//! * `skiff_current`: key → `create_rev | mod_rev | value`, the live state for fast reads.
//! * `skiff_versions`: (key, rev) → `0 | create_rev | value` (a put) or `1` (a delete); the
//!   MVCC history used for reads at old revisions and for rebuilding events.
//! * `skiff_log`: rev → key, one entry per revision, for watch replay and compaction.

use std::ops::Bound;

use bytes::Bytes;
use redb::{ReadableTable, TableDefinition};

use crate::error::StoreError;
use crate::types::{in_prefix, Event, EventKind, KeyValue, Revision};

/// Store metadata: format marker and the revision counters.
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("skiff_meta");
/// Live key-values.
pub(crate) const CURRENT: TableDefinition<&str, &[u8]> = TableDefinition::new("skiff_current");
/// Every retained version of every key.
pub(crate) const VERSIONS: TableDefinition<(&str, i64), &[u8]> =
    TableDefinition::new("skiff_versions");
/// Which key each retained revision wrote.
pub(crate) const LOG: TableDefinition<i64, &str> = TableDefinition::new("skiff_log");

/// Names of all tables a store file must hold.
pub(crate) const TABLE_NAMES: [&str; 4] =
    ["skiff_meta", "skiff_current", "skiff_versions", "skiff_log"];

/// Meta key of the format marker.
pub(crate) const FORMAT_KEY: &str = "format";
/// The format marker this version writes and understands.
pub(crate) const FORMAT: &str = "skiff-store/1";
/// Meta key of the current revision.
pub(crate) const REVISION_KEY: &str = "revision";
/// Meta key of the compacted revision.
pub(crate) const COMPACTED_KEY: &str = "compacted";

const TAG_PUT: u8 = 0;
const TAG_DELETE: u8 = 1;

/// Maps a redb failure to a [`StoreError`].
pub(crate) fn db_err(e: impl Into<redb::Error>) -> StoreError {
    match e.into() {
        redb::Error::Corrupted(msg) => StoreError::Corrupt(format!(
            "the store file is damaged: {msg}; restore it from a snapshot"
        )),
        redb::Error::DatabaseClosed => StoreError::Closed,
        other => StoreError::Backend(other.to_string()),
    }
}

fn damaged(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!(
        "the store file is damaged: {what}; restore it from a snapshot"
    ))
}

fn read_i64(bytes: &[u8]) -> Option<i64> {
    Some(i64::from_le_bytes(bytes.get(..8)?.try_into().ok()?))
}

/// Encodes a live record for `skiff_current`.
pub(crate) fn encode_current(kv: &KeyValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + kv.value.len());
    out.extend_from_slice(&kv.create_revision.to_le_bytes());
    out.extend_from_slice(&kv.mod_revision.to_le_bytes());
    out.extend_from_slice(&kv.value);
    out
}

/// Decodes a `skiff_current` record of `key`.
pub(crate) fn decode_current(key: &str, bytes: &[u8]) -> Result<KeyValue, StoreError> {
    match (read_i64(bytes), bytes.get(8..).and_then(read_i64)) {
        (Some(create_revision), Some(mod_revision)) => Ok(KeyValue {
            key: key.to_string(),
            value: Bytes::copy_from_slice(&bytes[16..]),
            create_revision,
            mod_revision,
        }),
        _ => Err(damaged(format!("short live record for key {key:?}"))),
    }
}

/// Encodes a put version for `skiff_versions`.
pub(crate) fn encode_put(create_revision: Revision, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + value.len());
    out.push(TAG_PUT);
    out.extend_from_slice(&create_revision.to_le_bytes());
    out.extend_from_slice(value);
    out
}

/// The `skiff_versions` record of a delete.
pub(crate) const DELETE_RECORD: &[u8] = &[TAG_DELETE];

/// Decodes the `skiff_versions` record of `key` written at `rev`: the value from then on, or
/// `None` for a delete.
pub(crate) fn decode_version(
    key: &str,
    rev: Revision,
    bytes: &[u8],
) -> Result<Option<KeyValue>, StoreError> {
    match bytes.first() {
        Some(&TAG_DELETE) => Ok(None),
        Some(&TAG_PUT) => match bytes.get(1..).and_then(read_i64) {
            Some(create_revision) => Ok(Some(KeyValue {
                key: key.to_string(),
                value: Bytes::copy_from_slice(&bytes[9..]),
                create_revision,
                mod_revision: rev,
            })),
            None => Err(damaged(format!("short version record {key:?}@{rev}"))),
        },
        _ => Err(damaged(format!("unknown version record {key:?}@{rev}"))),
    }
}

/// Reads an `i64` from the meta table.
pub(crate) fn meta_i64(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    name: &str,
) -> Result<i64, StoreError> {
    let guard = meta.get(name).map_err(db_err)?;
    guard
        .and_then(|g| read_i64(g.value()))
        .ok_or_else(|| damaged(format!("the {name} counter is missing")))
}

/// The live value of `key`.
pub(crate) fn current_kv(
    current: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<Option<KeyValue>, StoreError> {
    match current.get(key).map_err(db_err)? {
        Some(guard) => decode_current(key, guard.value()).map(Some),
        None => Ok(None),
    }
}

/// The value of `key` as of revision `at` (the newest version `<= at`).
pub(crate) fn kv_at(
    versions: &impl ReadableTable<(&'static str, i64), &'static [u8]>,
    key: &str,
    at: Revision,
) -> Result<Option<KeyValue>, StoreError> {
    let mut range = versions
        .range((key, i64::MIN)..=(key, at))
        .map_err(db_err)?;
    match range.next_back() {
        Some(entry) => {
            let (k, v) = entry.map_err(db_err)?;
            decode_version(key, k.value().1, v.value())
        }
        None => Ok(None),
    }
}

/// Rebuilds the event of revision `rev`, which wrote `key`.
pub(crate) fn event_at(
    versions: &impl ReadableTable<(&'static str, i64), &'static [u8]>,
    key: &str,
    rev: Revision,
) -> Result<Event, StoreError> {
    let record = versions
        .get((key, rev))
        .map_err(db_err)?
        .ok_or_else(|| damaged(format!("version {key:?}@{rev} named by the log is missing")))?;
    let now = decode_version(key, rev, record.value())?;
    drop(record);
    let prev = kv_at(versions, key, rev - 1)?;
    Ok(match now {
        Some(kv) => Event {
            kind: EventKind::Put,
            kv,
            prev,
        },
        None => {
            let prev = prev
                .ok_or_else(|| damaged(format!("the value deleted at {key:?}@{rev} is missing")))?;
            Event {
                kind: EventKind::Delete,
                kv: KeyValue {
                    mod_revision: rev,
                    ..prev.clone()
                },
                prev: Some(prev),
            }
        }
    })
}

/// Where a list starts: at the prefix, or just after the continue key if that is later.
fn list_start<'a>(prefix: &'a str, after_key: Option<&'a str>) -> Bound<&'a str> {
    match after_key {
        Some(after) if after >= prefix => Bound::Excluded(after),
        _ => Bound::Included(prefix),
    }
}

/// A page under construction: up to `limit` (0 = all) key-values, then only a count of the
/// keys left, so a page of 500 out of 30,000 copies 500 values, not 30,000.
struct Page {
    limit: usize,
    kvs: Vec<KeyValue>,
    remaining: u64,
}

impl Page {
    fn new(limit: usize) -> Self {
        Page {
            limit,
            kvs: Vec::new(),
            remaining: 0,
        }
    }

    /// Whether the next key goes into the page (else it is only counted).
    fn has_room(&self) -> bool {
        self.limit == 0 || self.kvs.len() < self.limit
    }

    /// Adds the next key: `decode` runs only if the key goes into the page.
    fn push(
        &mut self,
        decode: impl FnOnce() -> Result<KeyValue, StoreError>,
    ) -> Result<(), StoreError> {
        if self.has_room() {
            self.kvs.push(decode()?);
        } else {
            self.remaining += 1;
        }
        Ok(())
    }

    fn finish(self) -> (Vec<KeyValue>, u64) {
        (self.kvs, self.remaining)
    }
}

/// Lists the live keys under `prefix` after `after_key`.
pub(crate) fn list_current(
    current: &impl ReadableTable<&'static str, &'static [u8]>,
    prefix: &str,
    after_key: Option<&str>,
    limit: usize,
) -> Result<(Vec<KeyValue>, u64), StoreError> {
    let range = current
        .range::<&str>((list_start(prefix, after_key), Bound::Unbounded))
        .map_err(db_err)?;
    let mut page = Page::new(limit);
    for entry in range {
        let (k, v) = entry.map_err(db_err)?;
        let key = k.value();
        if !in_prefix(key, prefix) {
            break;
        }
        page.push(|| decode_current(key, v.value()))?;
    }
    Ok(page.finish())
}

/// Lists the keys under `prefix` after `after_key` as of revision `at`.
pub(crate) fn list_at(
    versions: &impl ReadableTable<(&'static str, i64), &'static [u8]>,
    prefix: &str,
    after_key: Option<&str>,
    limit: usize,
    at: Revision,
) -> Result<(Vec<KeyValue>, u64), StoreError> {
    let start = match list_start(prefix, after_key) {
        Bound::Excluded(k) => Bound::Excluded((k, i64::MAX)),
        Bound::Included(k) => Bound::Included((k, i64::MIN)),
        Bound::Unbounded => Bound::Unbounded,
    };
    let range = versions
        .range::<(&str, i64)>((start, Bound::Unbounded))
        .map_err(db_err)?;
    // Versions come grouped by key, oldest first: remember the revision of the newest one
    // <= `at` of the key being scanned (and whether it was a delete); when the next key
    // starts, read that version back if the page has room, else only count it.
    let mut page = Page::new(limit);
    let mut key: Option<String> = None;
    let mut newest: Option<(Revision, bool)> = None;
    let emit = |page: &mut Page, key: &Option<String>, newest: Option<(Revision, bool)>| match (
        key, newest,
    ) {
        (Some(name), Some((rev, false))) => page.push(|| {
            let missing = || damaged(format!("version {name:?}@{rev} vanished while read"));
            let record = versions.get((name.as_str(), rev)).map_err(db_err)?;
            decode_version(name, rev, record.ok_or_else(missing)?.value())?.ok_or_else(missing)
        }),
        _ => Ok(()),
    };
    for entry in range {
        let (k, v) = entry.map_err(db_err)?;
        let (name, rev) = k.value();
        if !in_prefix(name, prefix) {
            break;
        }
        if key.as_deref() != Some(name) {
            emit(&mut page, &key, newest.take())?;
            key = Some(name.to_string());
        }
        if rev <= at {
            newest = Some((rev, v.value().first() == Some(&TAG_DELETE)));
        }
    }
    emit(&mut page, &key, newest)?;
    Ok(page.finish())
}

/// One chunk of watch replay: the events under `prefix` among the (at most `max`) revisions
/// after `pos`, the last revision examined, and the current revision of the snapshot.
pub(crate) fn replay_chunk(
    txn: &redb::ReadTransaction,
    prefix: &str,
    pos: Revision,
    max: usize,
) -> Result<(Vec<Event>, Revision, Revision), StoreError> {
    let meta = txn.open_table(META).map_err(db_err)?;
    let current = meta_i64(&meta, REVISION_KEY)?;
    if pos >= current {
        return Ok((Vec::new(), pos, current));
    }
    let compacted = meta_i64(&meta, COMPACTED_KEY)?;
    if pos + 1 < compacted {
        return Err(StoreError::Compacted {
            requested: pos + 1,
            compacted,
        });
    }
    let log = txn.open_table(LOG).map_err(db_err)?;
    let versions = txn.open_table(VERSIONS).map_err(db_err)?;
    let mut events = Vec::new();
    for (count, entry) in log.range(pos + 1..=current).map_err(db_err)?.enumerate() {
        let (rev, key) = entry.map_err(db_err)?;
        let (rev, key) = (rev.value(), key.value());
        if in_prefix(key, prefix) {
            events.push(event_at(&versions, key, rev)?);
        }
        if count + 1 == max {
            return Ok((events, rev, current));
        }
    }
    Ok((events, current, current))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(create_revision: Revision, mod_revision: Revision, value: &str) -> KeyValue {
        KeyValue {
            key: "/k".into(),
            value: Bytes::copy_from_slice(value.as_bytes()),
            create_revision,
            mod_revision,
        }
    }

    #[test]
    fn records_round_trip() {
        let live = kv(3, 9, "{\"a\":1}");
        assert_eq!(decode_current("/k", &encode_current(&live)).unwrap(), live);
        let empty = kv(2, 2, "");
        assert_eq!(
            decode_current("/k", &encode_current(&empty)).unwrap(),
            empty
        );
        let put = encode_put(3, b"{\"a\":1}");
        assert_eq!(decode_version("/k", 9, &put).unwrap(), Some(live));
        assert_eq!(decode_version("/k", 10, DELETE_RECORD).unwrap(), None);
    }

    #[test]
    fn damaged_records_are_errors_not_panics() {
        for bad in [&b""[..], &b"\x00\x01"[..], &b"\x07rest"[..]] {
            assert!(matches!(
                decode_version("/k", 1, bad),
                Err(StoreError::Corrupt(_))
            ));
        }
        assert!(matches!(
            decode_current("/k", &[1, 2, 3]),
            Err(StoreError::Corrupt(_))
        ));
    }
}
