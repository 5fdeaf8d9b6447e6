//! Tests specific to the embedded backend: refusing bad files, close, group commit, lagging
//! watchers, and durability across `kill -9`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use skiff_store::conformance::{next_events, ok, val};
use skiff_store::{EmbeddedStore, Store, StoreError, StoreOptions, WatchItem};

fn corrupt_message(result: Result<EmbeddedStore, StoreError>) -> String {
    match result {
        Err(StoreError::Corrupt(msg)) => msg,
        Err(other) => panic!("expected Corrupt, got {other:?}"),
        Ok(_) => panic!("expected Corrupt, but the store opened"),
    }
}

/// Writes a store with a little history and closes it; returns its bytes.
fn make_store(path: &Path) -> Vec<u8> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let s = EmbeddedStore::open(path).expect("open");
        for i in 0..200 {
            ok(
                s.create(&format!("/k/{i:03}"), val(&"x".repeat(100))).await,
                "create",
            );
        }
        s.close().expect("close");
    });
    std::fs::read(path).expect("read store file")
}

#[test]
fn garbage_file_is_not_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage");
    let garbage: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(&path, &garbage).unwrap();
    let msg = corrupt_message(EmbeddedStore::open(&path));
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("is not a Skiff store"), "{msg}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        garbage,
        "the file was modified"
    );

    std::fs::write(&path, b"{\"hello\": \"json\"}\n").unwrap();
    let msg = corrupt_message(EmbeddedStore::open(&path));
    assert!(msg.contains("is not a Skiff store"), "{msg}");
}

#[test]
fn directory_is_not_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let msg = corrupt_message(EmbeddedStore::open(dir.path()));
    assert!(msg.contains("is not a Skiff store"), "{msg}");
}

#[test]
fn foreign_redb_file_is_not_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.redb");
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let def: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("users");
            let mut t = txn.open_table(def).unwrap();
            t.insert("alice", &1).unwrap();
        }
        txn.commit().unwrap();
    }
    let msg = corrupt_message(EmbeddedStore::open(&path));
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("is not a Skiff store"), "{msg}");
    assert!(msg.contains("users"), "{msg}");
    // Still the foreign database, untouched.
    let db = redb::Database::create(&path).unwrap();
    let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
    let names: Vec<String> = txn
        .list_tables()
        .unwrap()
        .map(|t| redb::TableHandle::name(&t).to_string())
        .collect();
    assert_eq!(names, ["users"]);
}

#[test]
fn other_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.redb");
    make_store(&path);
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let def: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("skiff_meta");
            let mut t = txn.open_table(def).unwrap();
            t.insert("format", b"skiff-store/99".as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let msg = corrupt_message(EmbeddedStore::open(&path));
    assert!(msg.contains("skiff-store/99"), "{msg}");
}

#[test]
fn truncated_store_is_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let bytes = make_store(&path);
    for keep in [bytes.len() / 2, bytes.len() / 4, 600, 100] {
        std::fs::write(&path, &bytes[..keep]).unwrap();
        let msg = corrupt_message(EmbeddedStore::open(&path));
        assert!(msg.contains(&path.display().to_string()), "{keep}: {msg}");
        assert!(
            msg.contains("is damaged") || msg.contains("is not a Skiff store"),
            "{keep}: {msg}"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            &bytes[..keep],
            "file modified"
        );
    }
}

#[test]
fn overwritten_pages_are_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let bytes = make_store(&path);
    let mut broken = bytes.clone();
    let (start, end) = (bytes.len() / 3, bytes.len() * 2 / 3);
    for b in &mut broken[start..end] {
        *b ^= 0x5a;
    }
    std::fs::write(&path, &broken).unwrap();
    let msg = corrupt_message(EmbeddedStore::open(&path));
    assert!(msg.contains("is damaged"), "{msg}");
    assert!(msg.contains("restore from a snapshot"), "{msg}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        broken,
        "the file was modified"
    );
}

#[test]
fn empty_file_becomes_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty");
    std::fs::write(&path, b"").unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let s = EmbeddedStore::open(&path).expect("open empty file");
        assert_eq!(ok(s.current_revision().await, "rev"), 1);
        assert_eq!(ok(s.create("/a", val("1")).await, "create").mod_revision, 2);
    });
}

#[test]
fn second_open_of_the_same_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let _first = EmbeddedStore::open(&path).unwrap();
    match EmbeddedStore::open(&path) {
        Err(StoreError::Backend(msg)) => assert!(msg.contains("already open"), "{msg}"),
        Err(e) => panic!("expected Backend, got {e:?}"),
        Ok(_) => panic!("opened the same file twice"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_ends_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let s = EmbeddedStore::open_with_options(
        &path,
        StoreOptions {
            progress_interval: Duration::from_secs(30),
        },
    )
    .unwrap();
    ok(s.create("/a", val("1")).await, "create");
    let mut w = ok(s.watch("/", 0).await, "watch");
    let first = w.next().await;
    assert!(matches!(first, Some(Ok(WatchItem::Event(_)))), "{first:?}");
    s.close().unwrap();
    s.close().unwrap(); // idempotent
    let end = tokio::time::timeout(Duration::from_secs(5), w.next()).await;
    assert!(
        matches!(end, Ok(Some(Err(StoreError::Closed)))),
        "watch after close: {end:?}"
    );
    assert!(matches!(
        s.create("/b", val("1")).await,
        Err(StoreError::Closed)
    ));
    assert!(matches!(s.get("/a", None).await, Err(StoreError::Closed)));
    assert!(matches!(
        s.current_revision().await,
        Err(StoreError::Closed)
    ));
    assert!(matches!(s.watch("/", 0).await, Err(StoreError::Closed)));
    // The file is released: it opens again, with the write.
    let again = EmbeddedStore::open(&path).expect("reopen after close");
    assert_eq!(
        ok(again.get("/a", None).await, "get").0.unwrap().value,
        val("1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_batches_and_isolates_failures() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(EmbeddedStore::open(&dir.path().join("store.redb")).unwrap());
    let base = ok(s.create("/base", val("0")).await, "create base");
    let before = s.stats();
    let tasks: Vec<_> = (0..400)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                match i % 4 {
                    // Succeeds.
                    0 | 1 => s.create(&format!("/g/{i}"), val("v")).await.map(|_| true),
                    // Fails its precondition.
                    2 => s
                        .update("/base", val("x"), base.mod_revision + 1)
                        .await
                        .map(|_| true),
                    // Fails: already exists.
                    _ => s.create("/base", val("x")).await.map(|_| true),
                }
            })
        })
        .collect();
    let mut succeeded = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        match (i % 4, t.await.unwrap()) {
            (0 | 1, Ok(_)) => succeeded += 1,
            (2, Err(StoreError::Conflict { current, .. })) => {
                assert_eq!(current, Some(base.clone()))
            }
            (3, Err(StoreError::AlreadyExists { .. })) => {}
            (kind, other) => panic!("request {i} (kind {kind}): {other:?}"),
        }
    }
    assert_eq!(succeeded, 200);
    let after = s.stats();
    assert_eq!(after.requests - before.requests, 400);
    assert!(
        after.commits - before.commits < 200,
        "no batching: {} commits for 200 successful writes",
        after.commits - before.commits
    );
    assert_eq!(
        ok(s.current_revision().await, "rev"),
        base.mod_revision + 200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_watcher_replays_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(EmbeddedStore::open(&dir.path().join("store.redb")).unwrap());
    let start = ok(s.current_revision().await, "rev");
    let mut w = ok(s.watch("/lag/", start).await, "watch");
    // Far more events than the live buffer holds, while nobody reads the watch.
    let writers: Vec<_> = (0..16)
        .map(|t| {
            let s = s.clone();
            tokio::spawn(async move {
                for i in 0..200 {
                    let key = if i % 5 == 0 {
                        format!("/other/{t}/{i}")
                    } else {
                        format!("/lag/{t}/{i}")
                    };
                    ok(s.create(&key, val("v")).await, "create");
                }
            })
        })
        .collect();
    for t in writers {
        t.await.unwrap();
    }
    let total = 16 * 200 * 4 / 5;
    let events = next_events(&mut w, total, "lagging watch").await;
    let mut last = start;
    for e in &events {
        assert!(e.kv.key.starts_with("/lag/"));
        assert!(
            e.revision() > last,
            "out of order or duplicate at {}",
            e.revision()
        );
        last = e.revision();
    }
    // Nothing left over, no duplicates trailing.
    let extra = tokio::time::timeout(Duration::from_millis(300), w.next()).await;
    assert!(
        !matches!(extra, Ok(Some(Ok(WatchItem::Event(_))))),
        "extra event: {extra:?}"
    );
}

const CHILD_ENV: &str = "SKIFF_STORE_KILL9_CHILD";

/// Not a test by itself: the writer process of `acknowledged_writes_survive_kill_9`.
#[test]
fn kill9_child_writer() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let s = Arc::new(EmbeddedStore::open(Path::new(&path)).unwrap());
        let tasks: Vec<_> = (0..8)
            .map(|t| {
                let s = s.clone();
                tokio::spawn(async move {
                    for i in 0.. {
                        let key = format!("/k/{t}/{i}");
                        let kv = ok(s.create(&key, val(&key)).await, "create");
                        // Printed only after the write was acknowledged.
                        println!("ACK {key} {}", kv.mod_revision);
                    }
                })
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
    });
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "kill9_child_writer",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the writer process");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked.len() < 500 && Instant::now() < deadline {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(rest) = line.strip_prefix("ACK ") {
                    acked.push(rest.to_string());
                }
            }
            _ => break,
        }
    }
    child.kill().expect("kill -9 the writer"); // SIGKILL on Unix
    child.wait().unwrap();
    // Acknowledgements already printed before the kill count too.
    for line in lines.map_while(Result::ok) {
        if let Some(rest) = line.strip_prefix("ACK ") {
            acked.push(rest.to_string());
        }
    }
    assert!(
        acked.len() >= 100,
        "the writer acknowledged only {} writes",
        acked.len()
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let s = EmbeddedStore::open(&path).expect("reopen after kill -9");
        for ack in &acked {
            let (key, rev) = ack.split_once(' ').unwrap();
            let rev: i64 = rev.parse().unwrap();
            let (kv, _) = ok(s.get(key, None).await, "get");
            let kv = kv.unwrap_or_else(|| panic!("acknowledged write {key}@{rev} was lost"));
            assert_eq!((kv.mod_revision, kv.value), (rev, val(key)));
        }
        // The revision sequence has no holes up to the current revision.
        let current = ok(s.current_revision().await, "rev");
        let all = ok(
            s.list(skiff_store::ListRequest::prefix("/k/")).await,
            "list",
        );
        assert_eq!(all.kvs.len() as i64, current - 1);
    });
}

#[test]
fn check_passes_an_intact_store_and_a_restored_snapshot_keeps_revisions() {
    use skiff_store::embedded::maintain::{check, restore};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    make_store(&path);
    let report = check(&path).expect("an intact store");
    assert_eq!(report.keys, 200);
    assert_eq!(report.revision, 201);
    assert_eq!(report.versions, 200);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let (snapshot_bytes, expected, rev) = rt.block_on(async {
        let s = EmbeddedStore::open(&path).unwrap();
        let kv = s.get("/k/007", None).await.unwrap().0.unwrap();
        ok(
            s.update("/k/007", val("changed"), kv.mod_revision).await,
            "update",
        );
        ok(s.delete("/k/008", None).await, "delete");
        let mut buf = Vec::new();
        let summary = skiff_store::snapshot::save(&s, &mut buf).await.unwrap();
        assert_eq!(summary.keys, 199);
        let all = s
            .list(skiff_store::ListRequest::prefix("/k/"))
            .await
            .unwrap();
        s.close().unwrap();
        (buf, all.kvs, summary.revision)
    });
    let snapshot = skiff_store::snapshot::decode(&snapshot_bytes).unwrap();
    let restored = dir.path().join("restored.redb");
    restore(&restored, &snapshot).unwrap();
    // Never over an existing store.
    assert!(restore(&restored, &snapshot)
        .unwrap_err()
        .to_string()
        .contains("exists"));
    assert_eq!(check(&restored).unwrap().keys, 199);
    rt.block_on(async {
        let s = EmbeddedStore::open(&restored).unwrap();
        assert_eq!(s.current_revision().await.unwrap(), rev);
        assert_eq!(s.compacted_revision().await.unwrap(), rev);
        let all = s
            .list(skiff_store::ListRequest::prefix("/k/"))
            .await
            .unwrap();
        assert_eq!(all.kvs, expected, "same keys, values and revisions");
        // and it takes writes after the snapshot's revision
        let n = ok(s.create("/k/new", val("n")).await, "create");
        assert_eq!(n.mod_revision, rev + 1);
        s.close().unwrap();
    });

    // A store damaged in the middle fails the check with a message naming it.
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 4096] {
        *b ^= 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();
    let e = check(&path).unwrap_err().to_string();
    assert!(e.contains(&path.display().to_string()), "{e}");
}
