//! Offline maintenance of a store file (the server must be stopped: the file is locked while
//! open): [`check`] verifies it page by page and record by record; [`restore`] builds a new
//! store from a [`Snapshot`], keeping every key's revisions.

use std::path::Path;

use redb::{ReadableDatabase, ReadableTable};

use super::open::open_store;
use super::tables::{
    db_err, decode_current, decode_version, encode_current, encode_put, COMPACTED_KEY, CURRENT,
    LOG, META, REVISION_KEY, VERSIONS,
};
use crate::error::StoreError;
use crate::snapshot::Snapshot;
use crate::types::Revision;

/// What [`check`] found in an intact store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// The current revision.
    pub revision: Revision,
    /// The compacted revision.
    pub compacted: Revision,
    /// Live keys.
    pub keys: u64,
    /// Retained versions (history included).
    pub versions: u64,
    /// Revision-log entries (watch replay).
    pub log_entries: u64,
    /// File size in bytes.
    pub file_bytes: u64,
}

fn damaged(path: &Path, why: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!(
        "{} is damaged: {why}; restore it from a snapshot (`skiff store snapshot restore`)",
        path.display()
    ))
}

/// Verifies the store at `path`: every page's checksum (when opening), the counters, and that
/// every live record matches its newest version and every log entry names a retained version.
pub fn check(path: &Path) -> Result<CheckReport, StoreError> {
    if !path.exists() {
        return Err(StoreError::Backend(format!(
            "{} does not exist (is --data-dir right?)",
            path.display()
        )));
    }
    let opened = open_store(path)?;
    let mut report = CheckReport {
        revision: opened.revision,
        compacted: opened.compacted,
        file_bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        ..CheckReport::default()
    };
    if opened.compacted > opened.revision || opened.revision < 1 {
        return Err(damaged(
            path,
            format!(
                "its counters are impossible (revision {}, compacted {})",
                opened.revision, opened.compacted
            ),
        ));
    }
    let txn = opened.db.begin_read().map_err(db_err)?;
    let current = txn.open_table(CURRENT).map_err(db_err)?;
    let versions = txn.open_table(VERSIONS).map_err(db_err)?;
    let log = txn.open_table(LOG).map_err(db_err)?;
    for row in current.iter().map_err(db_err)? {
        let (k, v) = row.map_err(db_err)?;
        let kv = decode_current(k.value(), v.value())?;
        report.keys += 1;
        if kv.mod_revision > opened.revision || kv.create_revision > kv.mod_revision {
            return Err(damaged(
                path,
                format!(
                    "key {:?} has revisions {}/{} beyond the store's {}",
                    kv.key, kv.create_revision, kv.mod_revision, opened.revision
                ),
            ));
        }
        let version = versions
            .get((kv.key.as_str(), kv.mod_revision))
            .map_err(db_err)?
            .map(|g| decode_version(&kv.key, kv.mod_revision, g.value()))
            .transpose()?
            .flatten();
        if version.as_ref() != Some(&kv) {
            return Err(damaged(
                path,
                format!(
                    "the live value of {:?} differs from its version at revision {}",
                    kv.key, kv.mod_revision
                ),
            ));
        }
    }
    for row in versions.iter().map_err(db_err)? {
        let (k, v) = row.map_err(db_err)?;
        let (key, rev) = k.value();
        decode_version(key, rev, v.value())?;
        report.versions += 1;
    }
    for row in log.iter().map_err(db_err)? {
        let (rev, key) = row.map_err(db_err)?;
        let (rev, key) = (rev.value(), key.value().to_string());
        report.log_entries += 1;
        if rev > opened.revision || versions.get((key.as_str(), rev)).map_err(db_err)?.is_none() {
            return Err(damaged(
                path,
                format!("log entry {rev} names {key:?}, which has no version there"),
            ));
        }
    }
    Ok(report)
}

/// Creates a store at `path` (which must not exist yet) holding `snapshot`: its revision, and
/// every key with its own create and mod revisions. History before the snapshot is not in it,
/// so the new store is compacted at the snapshot's revision.
pub fn restore(path: &Path, snapshot: &Snapshot) -> Result<(), StoreError> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() > 0) {
        return Err(StoreError::Backend(format!(
            "{} exists; move it away first (restore never overwrites a store)",
            path.display()
        )));
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| StoreError::Backend(format!("cannot create {}: {e}", parent.display())))?;
    }
    let opened = open_store(path)?;
    let txn = opened.db.begin_write().map_err(db_err)?;
    {
        let mut meta = txn.open_table(META).map_err(db_err)?;
        let rev = snapshot.revision.max(1);
        meta.insert(REVISION_KEY, rev.to_le_bytes().as_slice())
            .map_err(db_err)?;
        meta.insert(COMPACTED_KEY, rev.to_le_bytes().as_slice())
            .map_err(db_err)?;
        let mut current = txn.open_table(CURRENT).map_err(db_err)?;
        let mut versions = txn.open_table(VERSIONS).map_err(db_err)?;
        for kv in &snapshot.kvs {
            if kv.key.is_empty() || kv.mod_revision > rev || kv.create_revision > kv.mod_revision {
                return Err(StoreError::Corrupt(format!(
                    "the snapshot holds an impossible record for {:?}",
                    kv.key
                )));
            }
            current
                .insert(kv.key.as_str(), encode_current(kv).as_slice())
                .map_err(db_err)?;
            versions
                .insert(
                    (kv.key.as_str(), kv.mod_revision),
                    encode_put(kv.create_revision, &kv.value).as_slice(),
                )
                .map_err(db_err)?;
        }
    }
    txn.commit().map_err(db_err)?;
    Ok(())
}
