//! Opening a store file: create-or-open with redb, the format check, and turning whatever
//! redb reports about a bad file into an actionable [`StoreError::Corrupt`].

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use redb::{
    Builder, Database, DatabaseError, MultimapTableHandle, ReadableTable, StorageError, TableHandle,
};

use super::tables::{
    db_err, meta_i64, COMPACTED_KEY, CURRENT, FORMAT, FORMAT_KEY, LOG, META, REVISION_KEY,
    TABLE_NAMES, VERSIONS,
};
use crate::error::StoreError;
use crate::types::Revision;

/// Memory redb may use to cache pages of the store file.
const PAGE_CACHE_BYTES: usize = 32 * 1024 * 1024;

/// A validated store file with its revision counters.
pub(crate) struct Opened {
    pub(crate) db: Database,
    pub(crate) revision: Revision,
    pub(crate) compacted: Revision,
}

fn not_a_store(path: &Path, why: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!(
        "{} is not a Skiff store ({why}); point Skiff at another file, or move this one away \
         to start a new store",
        path.display()
    ))
}

fn damaged(path: &Path, why: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!(
        "{} is damaged: {why}; restore from a snapshot",
        path.display()
    ))
}

fn open_error(path: &Path, e: DatabaseError) -> StoreError {
    match e {
        DatabaseError::DatabaseAlreadyOpen => StoreError::Backend(format!(
            "{} is already open (by another process, or another store handle in this one); \
             stop that first",
            path.display()
        )),
        DatabaseError::UpgradeRequired(version) => not_a_store(
            path,
            format!("it is a redb database in old file format {version}"),
        ),
        DatabaseError::RepairAborted => damaged(path, "the database engine could not repair it"),
        DatabaseError::Storage(StorageError::Io(io))
            if io.kind() == std::io::ErrorKind::InvalidData =>
        {
            not_a_store(path, io)
        }
        DatabaseError::Storage(StorageError::Io(io))
            if io.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            damaged(
                path,
                format!("it is shorter than its contents say (truncated?): {io}"),
            )
        }
        DatabaseError::Storage(StorageError::Corrupted(msg)) => damaged(path, msg),
        DatabaseError::Storage(StorageError::Io(io)) => {
            StoreError::Backend(format!("cannot open {}: {io}", path.display()))
        }
        other => StoreError::Backend(format!("cannot open {}: {other}", path.display())),
    }
}

/// Opens the store file at `path`, creating and initialising it if it does not exist or is
/// empty. Refuses (with [`StoreError::Corrupt`]) anything that is not an intact Skiff store,
/// and never initialises over existing data.
pub(crate) fn open_store(path: &Path) -> Result<Opened, StoreError> {
    let existing = match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            return Err(not_a_store(path, "it is a directory"));
        }
        Ok(meta) => meta.len() > 0,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => {
            return Err(StoreError::Backend(format!(
                "cannot open {}: {e}",
                path.display()
            )))
        }
    };
    // Verify every page on open, so a file damaged outside redb is reported instead of
    // trusted. redb may still panic on some malformed input; treat that as damage too.
    let opened = catch_unwind(AssertUnwindSafe(|| {
        let mut builder = Builder::new();
        builder.set_check_integrity_on_open(true);
        // redb's default page cache is 1 GiB; the API server keeps its own watch cache, so a
        // modest page cache is enough and keeps the process small.
        builder.set_cache_size(PAGE_CACHE_BYTES);
        if existing {
            builder.open(path)
        } else {
            builder.create(path)
        }
    }));
    let db = match opened {
        Ok(result) => result.map_err(|e| open_error(path, e))?,
        Err(_) => return Err(damaged(path, "the database engine failed while reading it")),
    };
    let (revision, compacted) = check_format(path, &db)?;
    Ok(Opened {
        db,
        revision,
        compacted,
    })
}

/// Checks the format marker and reads the counters, initialising a database that holds no
/// tables at all (new, or created by a run that died before its first commit).
fn check_format(path: &Path, db: &Database) -> Result<(Revision, Revision), StoreError> {
    let txn = db.begin_write().map_err(db_err)?;
    let mut names: Vec<String> = txn
        .list_tables()
        .map_err(db_err)?
        .map(|t| t.name().to_string())
        .collect();
    names.extend(
        txn.list_multimap_tables()
            .map_err(db_err)?
            .map(|t| t.name().to_string()),
    );
    if names.is_empty() {
        {
            let mut meta = txn.open_table(META).map_err(db_err)?;
            meta.insert(FORMAT_KEY, FORMAT.as_bytes()).map_err(db_err)?;
            meta.insert(REVISION_KEY, 1i64.to_le_bytes().as_slice())
                .map_err(db_err)?;
            meta.insert(COMPACTED_KEY, 0i64.to_le_bytes().as_slice())
                .map_err(db_err)?;
            txn.open_table(CURRENT).map_err(db_err)?;
            txn.open_table(VERSIONS).map_err(db_err)?;
            txn.open_table(LOG).map_err(db_err)?;
        }
        txn.commit().map_err(db_err)?;
        return Ok((1, 0));
    }
    if !names.iter().any(|n| n == META.name()) {
        return Err(not_a_store(
            path,
            format!(
                "it is a redb database without the {FORMAT} format marker, holding tables {}",
                names.join(", ")
            ),
        ));
    }
    let counters = {
        let meta = txn.open_table(META).map_err(|e| damaged(path, e))?;
        let format = meta
            .get(FORMAT_KEY)
            .map_err(|e| damaged(path, e))?
            .map(|g| String::from_utf8_lossy(g.value()).into_owned());
        match format.as_deref() {
            Some(FORMAT) => {}
            Some(other) if other.starts_with("skiff-store/") => {
                return Err(StoreError::Corrupt(format!(
                    "{} is in store format {other}, but this Skiff understands only {FORMAT}; \
                     use a matching Skiff version",
                    path.display()
                )))
            }
            _ => return Err(not_a_store(path, "no skiff-store format marker")),
        }
        if let Some(missing) = TABLE_NAMES.iter().find(|t| !names.iter().any(|n| n == *t)) {
            return Err(damaged(path, format!("table {missing} is missing")));
        }
        let counter = |name: &str| {
            meta_i64(&meta, name)
                .map_err(|_| damaged(path, format!("the {name} counter is missing or unreadable")))
        };
        (counter(REVISION_KEY)?, counter(COMPACTED_KEY)?)
    };
    txn.abort().map_err(db_err)?;
    Ok(counters)
}
