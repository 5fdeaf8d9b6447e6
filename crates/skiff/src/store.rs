//! `skiff store`: check a store, back it up and restore it, and move a one-machine cluster's
//! embedded store into etcd.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use skiff_store::embedded::maintain;
use skiff_store::{EmbeddedStore, ListRequest, Store, StoreError};
use std::path::{Path, PathBuf};

/// Flags of `skiff store`.
#[derive(Debug, Args)]
pub struct StoreArgs {
    #[command(subcommand)]
    command: StoreCommand,
}

#[derive(Debug, Subcommand)]
enum StoreCommand {
    /// Verify the embedded store of a stopped server: every page's checksum, the revision
    /// counters, and that each live object matches its history. Exits non-zero if damaged.
    Check(DataDir),
    /// Save or restore a snapshot (every object at one revision, with a checksum).
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Copy the embedded store of a stopped server into an empty etcd, so the cluster can
    /// grow into several servers; then start `skiff server --datastore etcd://...`.
    /// Objects keep their contents; their resourceVersions become etcd's revisions.
    Migrate(MigrateArgs),
}

#[derive(Debug, Subcommand)]
enum SnapshotCommand {
    /// Write a consistent snapshot to FILE. While the server runs, it is taken through the
    /// API server (with <data-dir>/kubeconfig.yaml); otherwise from the store file directly.
    Save(SaveArgs),
    /// Replace the embedded store of a stopped server with the snapshot in FILE (the old
    /// store file is kept next to it as state.redb.pre-restore-<time>).
    Restore(RestoreArgs),
}

#[derive(Debug, Args)]
struct DataDir {
    /// The server's data directory.
    #[arg(long, value_name = "DIR", default_value_os_t = crate::server::default_data_dir())]
    data_dir: PathBuf,
}

#[derive(Debug, Args)]
struct SaveArgs {
    /// Where to write the snapshot.
    file: PathBuf,
    #[command(flatten)]
    dir: DataDir,
    /// Snapshot an etcd datastore instead (etcd://HOST:PORT[,...]).
    #[arg(long, value_name = "DATASTORE")]
    datastore: Option<String>,
    #[command(flatten)]
    etcd: crate::flags::EtcdTlsFlags,
}

#[derive(Debug, Args)]
struct RestoreArgs {
    /// The snapshot to restore.
    file: PathBuf,
    #[command(flatten)]
    dir: DataDir,
}

#[derive(Debug, Args)]
struct MigrateArgs {
    /// The etcd to copy into: etcd://HOST:PORT[,HOST:PORT...]. It must hold no /registry keys.
    #[arg(long, value_name = "DATASTORE")]
    to: String,
    #[command(flatten)]
    dir: DataDir,
    #[command(flatten)]
    etcd: crate::flags::EtcdTlsFlags,
}

fn store_path(dir: &DataDir) -> PathBuf {
    dir.data_dir.join("db").join("state.redb")
}

/// Opens the embedded store of a stopped server; `None` if the server holds it.
fn open_stopped(path: &Path) -> Result<Option<EmbeddedStore>> {
    if !path.exists() {
        bail!("no store at {} (is --data-dir right?)", path.display());
    }
    match EmbeddedStore::open(path) {
        Ok(s) => Ok(Some(s)),
        Err(StoreError::Backend(m)) if m.contains("already open") => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Runs `skiff store ...`.
pub async fn run(args: StoreArgs) -> Result<()> {
    match args.command {
        StoreCommand::Check(dir) => check(&dir),
        StoreCommand::Snapshot(SnapshotCommand::Save(a)) => save(a).await,
        StoreCommand::Snapshot(SnapshotCommand::Restore(a)) => restore(a),
        StoreCommand::Migrate(a) => migrate(a).await,
    }
}

fn check(dir: &DataDir) -> Result<()> {
    let path = store_path(dir);
    let report = match maintain::check(&path) {
        Err(StoreError::Backend(m)) if m.contains("already open") => bail!(
            "{} is in use by a running server; stop it to check the store (or take a snapshot while it runs: skiff store snapshot save FILE)",
            path.display()
        ),
        r => r?,
    };
    println!(
        "{}: ok — revision {}, compacted at {}, {} objects, {} versions, {} log entries, {} bytes",
        path.display(),
        report.revision,
        report.compacted,
        report.keys,
        report.versions,
        report.log_entries,
        report.file_bytes
    );
    Ok(())
}

async fn save(a: SaveArgs) -> Result<()> {
    let tmp = a.file.with_extension("partial");
    let mut out = tokio::fs::File::create(&tmp)
        .await
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    let how = if let Some(url) = &a.datastore {
        let etcd = a.etcd.connect(url).await?;
        skiff_store::snapshot::save(&etcd, &mut out).await?;
        "from etcd"
    } else if let Some(store) = open_stopped(&store_path(&a.dir))? {
        let r = skiff_store::snapshot::save(&store, &mut out).await;
        store.close()?;
        r?;
        "from the store file"
    } else {
        save_through_server(&a.dir.data_dir, &mut out).await?;
        "through the running server"
    };
    drop(out);
    let bytes = tokio::fs::read(&tmp).await?;
    let snap = skiff_store::snapshot::decode(&bytes).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow!("the snapshot came out unusable: {e}")
    })?;
    std::fs::rename(&tmp, &a.file).with_context(|| format!("cannot write {}", a.file.display()))?;
    println!(
        "snapshot saved to {} ({how}): revision {}, {} objects, {} bytes",
        a.file.display(),
        snap.revision,
        snap.kvs.len(),
        bytes.len()
    );
    Ok(())
}

async fn save_through_server(data_dir: &Path, out: &mut tokio::fs::File) -> Result<()> {
    use futures::TryStreamExt;
    use http_body_util::BodyExt;
    use tokio::io::AsyncWriteExt;
    let kubeconfig = data_dir.join("kubeconfig.yaml");
    let client = crate::controllers::client_from(&kubeconfig)
        .await
        .context("the server holds the store file; reaching it with its admin kubeconfig")?;
    let req = http::Request::get(skiff_apiserver::snapshot::PATH)
        .body(kube::client::Body::empty())
        .expect("a valid request");
    let resp = client
        .send(req)
        .await
        .context("asking the running server for a snapshot")?;
    if !resp.status().is_success() {
        bail!("the server refused the snapshot: HTTP {}", resp.status());
    }
    let mut body = resp.into_body().into_data_stream();
    while let Some(chunk) = body.try_next().await? {
        out.write_all(&chunk).await?;
    }
    out.flush().await?;
    Ok(())
}

fn restore(a: RestoreArgs) -> Result<()> {
    let bytes =
        std::fs::read(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    let snap = skiff_store::snapshot::decode(&bytes)?;
    let path = store_path(&a.dir);
    if path.exists() {
        match open_stopped(&path) {
            Ok(None) => bail!(
                "{} is in use by a running server; stop it before restoring",
                path.display()
            ),
            Ok(Some(s)) => s.close()?,
            // A damaged store is what restores are for: move it aside all the same.
            Err(_) => {}
        }
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let aside = path.with_extension(format!("redb.pre-restore-{stamp}"));
        std::fs::rename(&path, &aside)
            .with_context(|| format!("cannot move {} aside", path.display()))?;
        println!("the previous store is kept as {}", aside.display());
    }
    maintain::restore(&path, &snap)?;
    println!(
        "restored {} objects at revision {} into {}; start the server to use it",
        snap.kvs.len(),
        snap.revision,
        path.display()
    );
    Ok(())
}

async fn migrate(a: MigrateArgs) -> Result<()> {
    let path = store_path(&a.dir);
    let Some(source) = open_stopped(&path)? else {
        bail!(
            "{} is in use by a running server; stop it before migrating",
            path.display()
        );
    };
    let target = a.etcd.connect(&a.to).await?;
    let existing = target
        .list(ListRequest {
            prefix: "/registry/".into(),
            limit: 1,
            ..Default::default()
        })
        .await?;
    if !existing.kvs.is_empty() {
        source.close()?;
        bail!(
            "{} already holds a cluster ({} ...); migrate into an empty etcd",
            a.to,
            existing.kvs[0].key
        );
    }
    let revision = source.current_revision().await?;
    let mut after = None;
    let mut copied = 0u64;
    loop {
        let page = source
            .list(ListRequest {
                prefix: String::new(),
                after_key: after.clone(),
                limit: 500,
                revision: Some(revision),
            })
            .await?;
        for kv in &page.kvs {
            target
                .create(&kv.key, kv.value.clone())
                .await
                .with_context(|| format!("copying {}", kv.key))?;
        }
        copied += page.kvs.len() as u64;
        eprintln!("skiff: copied {copied} objects ...");
        match (page.more, page.kvs.last()) {
            (true, Some(last)) => after = Some(last.key.clone()),
            _ => break,
        }
    }
    source.close()?;
    println!(
        "copied {copied} objects (revision {revision} of {}) into {}; start the server with --datastore {}",
        path.display(),
        a.to,
        a.to
    );
    Ok(())
}
