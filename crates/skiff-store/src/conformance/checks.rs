//! Conformance checks for revisions, conditional writes, reads, lists, compaction,
//! durability and concurrency.

use std::collections::BTreeSet;

use futures::future::join_all;

use super::{ok, val, Harness, Model, QUIET};
use crate::error::StoreError;
use crate::store::Store;
use crate::types::{KeyValue, ListRequest};

/// Every successful write advances the revision by exactly one; failed writes do not.
pub async fn revisions_increase_by_one(h: &mut dyn Harness) {
    let s = h.fresh(QUIET).await;
    let r0 = ok(s.current_revision().await, "current_revision");
    assert!(r0 >= 0, "initial revision {r0} is negative");
    assert_eq!(ok(s.compacted_revision().await, "compacted_revision"), 0);

    let a = ok(s.create("/r/a", val("1")).await, "create /r/a");
    assert_eq!((a.create_revision, a.mod_revision), (r0 + 1, r0 + 1));
    assert_eq!(ok(s.current_revision().await, "rev"), r0 + 1);
    let b = ok(s.create("/r/b", val("1")).await, "create /r/b");
    assert_eq!(b.mod_revision, r0 + 2);
    let a2 = ok(s.update("/r/a", val("2"), a.mod_revision).await, "update");
    assert_eq!((a2.create_revision, a2.mod_revision), (r0 + 1, r0 + 3));
    assert!(s.create("/r/a", val("x")).await.is_err());
    assert!(s.update("/r/a", val("x"), a.mod_revision).await.is_err());
    assert!(s.delete("/r/missing", None).await.is_err());
    assert_eq!(
        ok(s.current_revision().await, "rev"),
        r0 + 3,
        "failed writes bumped it"
    );
    let d = ok(s.delete("/r/b", None).await, "delete");
    assert_eq!(d.mod_revision, r0 + 4);
    assert_eq!(ok(s.current_revision().await, "rev"), r0 + 4);
    let (got, at) = ok(s.get("/r/a", None).await, "get");
    assert_eq!(at, r0 + 4);
    assert_eq!(got, Some(a2));
}

/// Creating an existing key fails with `AlreadyExists` and changes nothing.
pub async fn create_conflict(h: &mut dyn Harness) {
    let s = h.fresh(QUIET).await;
    let first = ok(s.create("/c/k", val("first")).await, "create");
    match s.create("/c/k", val("second")).await {
        Err(StoreError::AlreadyExists { key }) => assert_eq!(key, "/c/k"),
        other => panic!("second create: expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(ok(s.get("/c/k", None).await, "get").0, Some(first.clone()));
    // After a delete the key can be created again, with a new create revision.
    ok(s.delete("/c/k", None).await, "delete");
    let again = ok(s.create("/c/k", val("third")).await, "re-create");
    assert!(again.create_revision > first.create_revision);
    assert_eq!(again.create_revision, again.mod_revision);
}

/// Updates succeed only with the right mod revision; a conflict reports the live value.
pub async fn update_conditions(h: &mut dyn Harness) {
    let s = h.fresh(QUIET).await;
    let v1 = ok(s.create("/u/k", val("v1")).await, "create");
    let v2 = ok(s.update("/u/k", val("v2"), v1.mod_revision).await, "update");
    assert_eq!(v2.value, val("v2"));
    assert_eq!(v2.create_revision, v1.create_revision);
    match s.update("/u/k", val("v3"), v1.mod_revision).await {
        Err(StoreError::Conflict { key, current }) => {
            assert_eq!(key, "/u/k");
            assert_eq!(
                current,
                Some(v2.clone()),
                "conflict must carry the live value"
            );
        }
        other => panic!("stale update: expected Conflict, got {other:?}"),
    }
    match s.update("/u/missing", val("x"), 1).await {
        Err(StoreError::NotFound { key }) => assert_eq!(key, "/u/missing"),
        other => panic!("update of a missing key: expected NotFound, got {other:?}"),
    }
    assert_eq!(ok(s.get("/u/k", None).await, "get").0, Some(v2));
}

/// Conditional deletes check the mod revision; deletes return the last value at the delete
/// revision.
pub async fn delete_conditions(h: &mut dyn Harness) {
    let s = h.fresh(QUIET).await;
    let v1 = ok(s.create("/d/k", val("v1")).await, "create");
    let v2 = ok(s.update("/d/k", val("v2"), v1.mod_revision).await, "update");
    match s.delete("/d/k", Some(v1.mod_revision)).await {
        Err(StoreError::Conflict { key, current }) => {
            assert_eq!(key, "/d/k");
            assert_eq!(current, Some(v2.clone()));
        }
        other => panic!("stale delete: expected Conflict, got {other:?}"),
    }
    let gone = ok(s.delete("/d/k", Some(v2.mod_revision)).await, "delete");
    assert_eq!(
        gone,
        KeyValue {
            mod_revision: v2.mod_revision + 1,
            ..v2.clone()
        },
        "delete returns the last value with the delete's revision"
    );
    assert_eq!(ok(s.get("/d/k", None).await, "get").0, None);
    for expected in [None, Some(gone.mod_revision)] {
        match s.delete("/d/k", expected).await {
            Err(StoreError::NotFound { key }) => assert_eq!(key, "/d/k"),
            other => panic!("delete of a deleted key: expected NotFound, got {other:?}"),
        }
    }
    let other = ok(s.create("/d/other", val("o")).await, "create other");
    let gone = ok(s.delete("/d/other", None).await, "unconditional delete");
    assert_eq!(gone.value, other.value);
    assert_eq!(gone.create_revision, other.create_revision);
}

/// Empty keys and negative revisions are rejected as invalid, not stored or misread.
pub async fn invalid_arguments(h: &mut dyn Harness) {
    let s = h.fresh(QUIET).await;
    let invalid = |r: Result<(), StoreError>, what: &str| match r {
        Err(StoreError::InvalidArgument(_)) => {}
        other => panic!("{what}: expected InvalidArgument, got {other:?}"),
    };
    invalid(s.create("", val("x")).await.map(drop), "create empty key");
    invalid(
        s.update("", val("x"), 1).await.map(drop),
        "update empty key",
    );
    invalid(s.delete("", None).await.map(drop), "delete empty key");
    invalid(s.get("/k", Some(-1)).await.map(drop), "get at -1");
    let list = ListRequest {
        revision: Some(-5),
        ..ListRequest::default()
    };
    invalid(s.list(list).await.map(drop), "list at -5");
    invalid(s.watch("/", -2).await.map(drop), "watch after -2");
    invalid(s.compact(-1).await, "compact -1");
}

/// Gets at old revisions see the state of that revision, including since-deleted keys.
pub async fn get_at_old_revisions(h: &mut dyn Harness) {
    let s = h.fresh(QUIET).await;
    let r0 = ok(s.current_revision().await, "rev");
    let v1 = ok(s.create("/g/k", val("v1")).await, "create");
    let v2 = ok(s.update("/g/k", val("v2"), v1.mod_revision).await, "update");
    ok(s.create("/g/other", val("o")).await, "create other");
    let del = ok(s.delete("/g/k", None).await, "delete");
    let now = ok(s.current_revision().await, "rev");

    let at = |r| s.get("/g/k", Some(r));
    assert_eq!(ok(at(r0).await, "get before create"), (None, r0));
    assert_eq!(ok(at(v1.mod_revision).await, "get v1").0, Some(v1.clone()));
    assert_eq!(ok(at(v2.mod_revision).await, "get v2").0, Some(v2.clone()));
    assert_eq!(
        ok(at(del.mod_revision - 1).await, "get before delete").0,
        Some(v2)
    );
    assert_eq!(ok(at(del.mod_revision).await, "get at delete").0, None);
    assert_eq!(ok(s.get("/g/k", None).await, "get current"), (None, now));
    match at(now + 1).await {
        Err(StoreError::FutureRevision { requested, current }) => {
            assert_eq!((requested, current), (now + 1, now));
        }
        other => panic!("get in the future: expected FutureRevision, got {other:?}"),
    }
}

fn keys(kvs: &[KeyValue]) -> Vec<&str> {
    kvs.iter().map(|kv| kv.key.as_str()).collect()
}

fn page(prefix: &str, after: Option<&str>, limit: usize, revision: Option<i64>) -> ListRequest {
    ListRequest {
        prefix: prefix.into(),
        after_key: after.map(Into::into),
        limit,
        revision,
    }
}

/// Lists honour the prefix, sort by key, and paginate with `after_key`/`limit`/`remaining`.
pub async fn list_prefix_and_pagination(h: &mut dyn Harness) {
    let s = h.fresh(QUIET).await;
    for k in [
        "/l/c", "/l/a", "/l/e", "/l/b", "/l/d", "/lx/z", "/k/a", "/m",
    ] {
        ok(s.create(k, val(k)).await, "create");
    }
    let now = ok(s.current_revision().await, "rev");
    let all = ok(s.list(ListRequest::prefix("/l/")).await, "list all");
    assert_eq!(keys(&all.kvs), ["/l/a", "/l/b", "/l/c", "/l/d", "/l/e"]);
    assert_eq!((all.revision, all.more, all.remaining), (now, false, 0));
    assert_eq!(all.kvs[0].value, val("/l/a"));

    let p1 = ok(s.list(page("/l/", None, 2, None)).await, "page 1");
    assert_eq!(keys(&p1.kvs), ["/l/a", "/l/b"]);
    assert_eq!((p1.more, p1.remaining), (true, 3));
    let p2 = ok(s.list(page("/l/", Some("/l/b"), 2, None)).await, "page 2");
    assert_eq!(keys(&p2.kvs), ["/l/c", "/l/d"]);
    assert_eq!((p2.more, p2.remaining), (true, 1));
    let p3 = ok(s.list(page("/l/", Some("/l/d"), 2, None)).await, "page 3");
    assert_eq!(keys(&p3.kvs), ["/l/e"]);
    assert_eq!((p3.more, p3.remaining), (false, 0));
    let exact = ok(
        s.list(page("/l/", Some("/l/a"), 4, None)).await,
        "exact page",
    );
    assert_eq!(
        (exact.kvs.len(), exact.more, exact.remaining),
        (4, false, 0)
    );

    // A continue key before the prefix starts at the prefix; one past it returns nothing.
    let before = ok(
        s.list(page("/l/", Some("/a"), 0, None)).await,
        "after before",
    );
    assert_eq!(before.kvs.len(), 5);
    let past = ok(
        s.list(page("/l/", Some("/l/z"), 0, None)).await,
        "after past",
    );
    assert!(past.kvs.is_empty() && !past.more);
    // The prefix is a plain string prefix.
    let l = ok(s.list(ListRequest::prefix("/l")).await, "prefix /l");
    assert_eq!(l.kvs.len(), 6);
    let everything = ok(s.list(ListRequest::prefix("")).await, "prefix empty");
    assert_eq!(everything.kvs.len(), 8);
    let none = ok(
        s.list(ListRequest::prefix("/nothing/")).await,
        "empty prefix",
    );
    assert!(none.kvs.is_empty() && !none.more && none.remaining == 0);
}

/// Lists at old revisions (paginated too) see that revision's state.
pub async fn list_at_old_revisions(h: &mut dyn Harness) {
    let s = h.fresh(QUIET).await;
    let a = ok(s.create("/o/a", val("a1")).await, "create a");
    let b = ok(s.create("/o/b", val("b1")).await, "create b");
    let c = ok(s.create("/o/c", val("c1")).await, "create c");
    let snapshot = ok(s.current_revision().await, "rev");
    ok(
        s.update("/o/a", val("a2"), a.mod_revision).await,
        "update a",
    );
    ok(s.delete("/o/b", None).await, "delete b");
    let d = ok(s.create("/o/d", val("d1")).await, "create d");
    ok(s.create("/p/x", val("x")).await, "create other prefix");

    let old = ok(
        s.list(page("/o/", None, 0, Some(snapshot))).await,
        "old list",
    );
    assert_eq!(old.kvs, vec![a.clone(), b.clone(), c.clone()]);
    assert_eq!(
        (old.revision, old.more, old.remaining),
        (snapshot, false, 0)
    );
    let p1 = ok(
        s.list(page("/o/", None, 2, Some(snapshot))).await,
        "old page 1",
    );
    assert_eq!(p1.kvs, vec![a, b]);
    assert_eq!((p1.more, p1.remaining), (true, 1));
    let p2 = ok(
        s.list(page("/o/", Some("/o/b"), 2, Some(snapshot))).await,
        "old page 2",
    );
    assert_eq!(p2.kvs, vec![c.clone()]);
    assert!(!p2.more);

    let cur = ok(s.list(ListRequest::prefix("/o/")).await, "current list");
    assert_eq!(keys(&cur.kvs), ["/o/a", "/o/c", "/o/d"]);
    assert_eq!(cur.kvs[0].value, val("a2"));
    let before_d = ok(
        s.list(page("/o/", None, 0, Some(d.mod_revision - 1))).await,
        "list before d",
    );
    assert_eq!(keys(&before_d.kvs), ["/o/a", "/o/c"]);
    // A key deleted by then is neither listed nor counted as remaining.
    let first = ok(
        s.list(page("/o/", None, 1, Some(d.mod_revision - 1))).await,
        "first page before d",
    );
    assert_eq!(keys(&first.kvs), ["/o/a"]);
    assert_eq!(first.kvs[0].value, val("a2"));
    assert_eq!((first.more, first.remaining), (true, 1));
    let empty = ok(
        s.list(page("/o/", None, 0, Some(c.mod_revision - 3))).await,
        "at start",
    );
    assert!(empty.kvs.is_empty());
    let now = ok(s.current_revision().await, "rev");
    match s.list(page("/o/", None, 0, Some(now + 1))).await {
        Err(StoreError::FutureRevision { .. }) => {}
        other => panic!("list in the future: expected FutureRevision, got {other:?}"),
    }
}

/// After `compact(r)`: reads below `r` and watches needing events below `r` get
/// `Compacted`; reads at `r` and later, and watches from `r - 1`, still work.
pub async fn compaction(h: &mut dyn Harness) {
    let s = h.fresh(QUIET).await;
    let mut model = Model::default();
    let a1 = ok(s.create("/x/a", val("a1")).await, "create a");
    model.created(&a1);
    let b1 = ok(s.create("/x/b", val("b1")).await, "create b");
    model.created(&b1);
    let a2 = ok(
        s.update("/x/a", val("a2"), a1.mod_revision).await,
        "update a",
    );
    model.updated(&a2, &a1);
    let gone = ok(s.delete("/x/b", None).await, "delete b");
    model.deleted(&gone, &b1);
    let c1 = ok(s.create("/x/c", val("c1")).await, "create c");
    model.created(&c1);
    let c2 = ok(
        s.update("/x/c", val("c2"), c1.mod_revision).await,
        "update c",
    );
    model.updated(&c2, &c1);
    let r = c2.mod_revision; // compact exactly at a write, to keep its prev readable
    let a3 = ok(
        s.update("/x/a", val("a3"), a2.mod_revision).await,
        "update a",
    );
    model.updated(&a3, &a2);

    ok(s.compact(r).await, "compact");
    assert_eq!(ok(s.compacted_revision().await, "compacted"), r);
    assert!(ok(s.current_revision().await, "rev") >= a3.mod_revision);
    let compacted = |res: Result<(), StoreError>, what: &str| match res {
        Err(StoreError::Compacted {
            requested,
            compacted,
        }) => assert_eq!(
            compacted, r,
            "{what}: compacted revision (requested {requested})"
        ),
        other => panic!("{what}: expected Compacted, got {other:?}"),
    };
    compacted(s.get("/x/a", Some(r - 1)).await.map(drop), "get below");
    compacted(
        s.list(page("/x/", None, 0, Some(r - 2))).await.map(drop),
        "list below",
    );
    compacted(s.watch("/x/", r - 2).await.map(drop), "watch needing r-1");
    compacted(s.compact(r - 1).await, "compact backwards");
    ok(s.compact(r).await, "compact again at the same revision");
    let now = ok(s.current_revision().await, "rev");
    match s.compact(now + 1).await {
        Err(StoreError::FutureRevision { .. }) => {}
        other => panic!("compact in the future: expected FutureRevision, got {other:?}"),
    }

    // Reads at r see the state of r, including values last written before r.
    assert_eq!(ok(s.get("/x/a", Some(r)).await, "get a at r").0, Some(a2));
    assert_eq!(ok(s.get("/x/b", Some(r)).await, "get b at r").0, None);
    let at_r = ok(s.list(page("/x/", None, 0, Some(r))).await, "list at r");
    assert_eq!(keys(&at_r.kvs), ["/x/a", "/x/c"]);
    assert_eq!(at_r.kvs[1], c2);
    let cur = ok(s.list(ListRequest::prefix("/x/")).await, "list now");
    assert_eq!(cur.kvs, vec![a3, c2]);

    // A watch from r - 1 replays everything from r on, with prevs intact — except that the
    // previous value of an update at exactly r may be gone with the compacted history (etcd
    // drops it; the embedded store keeps it).
    let mut w = ok(s.watch("/x/", r - 1).await, "watch from r-1");
    let d1 = ok(s.create("/x/d", val("d1")).await, "create d");
    model.created(&d1);
    let expected = model.expected("/x/", r - 1);
    let mut got = super::next_events(&mut w, expected.len(), "watch after compaction").await;
    for (g, e) in got.iter_mut().zip(&expected) {
        if g.revision() == r && g.prev.is_none() && g.kv.create_revision < r {
            g.prev = e.prev.clone();
        }
    }
    super::assert_events(&got, &expected, "watch from r-1 after compaction");
}

/// Acknowledged writes, history, and the compacted revision survive a reopen.
pub async fn persistence_across_reopen(h: &mut dyn Harness) {
    let s = h.fresh(QUIET).await;
    let mut model = Model::default();
    let a1 = ok(s.create("/p/a", val("a1")).await, "create a");
    model.created(&a1);
    let b1 = ok(s.create("/p/b", val("b1")).await, "create b");
    model.created(&b1);
    let a2 = ok(
        s.update("/p/a", val("a2"), a1.mod_revision).await,
        "update a",
    );
    model.updated(&a2, &a1);
    ok(s.compact(b1.mod_revision).await, "compact");
    let gone = ok(s.delete("/p/b", None).await, "delete b");
    model.deleted(&gone, &b1);
    let before = ok(s.current_revision().await, "rev");
    let Some(s) = h.reopen(s).await else {
        return; // not a durable backend
    };
    assert_eq!(ok(s.current_revision().await, "rev after reopen"), before);
    assert_eq!(
        ok(s.compacted_revision().await, "compacted after reopen"),
        b1.mod_revision
    );
    assert_eq!(ok(s.get("/p/a", None).await, "get a").0, Some(a2.clone()));
    assert_eq!(ok(s.get("/p/b", None).await, "get b").0, None);
    assert_eq!(
        ok(s.get("/p/b", Some(before - 1)).await, "get old b").0,
        Some(b1.clone())
    );
    let mut w = ok(s.watch("/p/", b1.mod_revision - 1).await, "watch replay");
    let expected = model.expected("/p/", b1.mod_revision - 1);
    let got = super::next_events(&mut w, expected.len(), "replay after reopen").await;
    super::assert_events(&got, &expected, "replay after reopen");
    let c = ok(s.create("/p/c", val("c")).await, "write after reopen");
    assert_eq!(
        c.mod_revision,
        before + 1,
        "revisions continue after reopen"
    );
    drop(w);
    // And once more, to see the write made after the first reopen.
    let Some(s) = h.reopen(s).await else {
        panic!("a backend that reopened once must reopen again");
    };
    assert_eq!(ok(s.get("/p/c", None).await, "get c").0, Some(c));
}

/// Many concurrent writers are all acknowledged, with distinct consecutive revisions, and a
/// watch sees every write once, in order.
pub async fn concurrent_writers(h: &mut dyn Harness) {
    const TASKS: usize = 64;
    const WRITES: usize = 50;
    let s: std::sync::Arc<dyn Store> = h.fresh(QUIET).await.into();
    let r0 = ok(s.current_revision().await, "rev");
    let mut watch = ok(s.watch("/w/", r0).await, "watch");
    let tasks = (0..TASKS).map(|t| {
        let s = s.clone();
        tokio::spawn(async move {
            let key = format!("/w/{t:02}");
            let mut revs = Vec::with_capacity(WRITES);
            let mut kv = ok(s.create(&key, val("0")).await, "create");
            revs.push(kv.mod_revision);
            for i in 1..WRITES {
                kv = ok(
                    s.update(&key, val(&i.to_string()), kv.mod_revision).await,
                    "update",
                );
                revs.push(kv.mod_revision);
            }
            revs
        })
    });
    let mut all = BTreeSet::new();
    for revs in join_all(tasks).await {
        let revs = revs.expect("writer task panicked");
        assert!(
            revs.windows(2).all(|w| w[0] < w[1]),
            "per-key revisions increase"
        );
        for r in revs {
            assert!(all.insert(r), "revision {r} acknowledged twice");
        }
    }
    let total = (TASKS * WRITES) as i64;
    assert_eq!(all.len() as i64, total);
    assert_eq!(all.first().copied(), Some(r0 + 1));
    assert_eq!(all.last().copied(), Some(r0 + total));
    assert_eq!(ok(s.current_revision().await, "rev"), r0 + total);
    let events = super::next_events(&mut watch, total as usize, "concurrent watch").await;
    for (i, e) in events.iter().enumerate() {
        assert_eq!(
            e.revision(),
            r0 + 1 + i as i64,
            "watch events are consecutive"
        );
    }
    let listed = ok(s.list(ListRequest::prefix("/w/")).await, "list");
    assert_eq!(listed.kvs.len(), TASKS);
    assert!(listed
        .kvs
        .iter()
        .all(|kv| kv.value == val(&(WRITES - 1).to_string())));
}
