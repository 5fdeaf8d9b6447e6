//! Conformance checks for watches: replay stitched to live events, prefix isolation, start
//! revisions, progress notifications.

use std::time::Duration;

use super::{
    assert_events, events_until_progress, next_events, next_item, ok, val, Harness, Model, QUIET,
};
use crate::store::Store;
use crate::types::{EventKind, WatchItem};

/// Writes a mix of creates, updates and deletes under `prefix`, recording them in `model`.
async fn churn(s: &dyn Store, model: &mut Model, prefix: &str, rounds: usize) {
    for i in 0..rounds {
        let key = format!("{prefix}{}", i % 3);
        match ok(s.get(&key, None).await, "get").0 {
            None => {
                let kv = ok(s.create(&key, val(&format!("c{i}"))).await, "create");
                model.created(&kv);
            }
            Some(prev) if i % 4 == 3 => {
                let kv = ok(s.delete(&key, Some(prev.mod_revision)).await, "delete");
                model.deleted(&kv, &prev);
            }
            Some(prev) => {
                let kv = ok(
                    s.update(&key, val(&format!("u{i}")), prev.mod_revision)
                        .await,
                    "update",
                );
                model.updated(&kv, &prev);
            }
        }
    }
}

/// A watch from an old revision replays history, then delivers live events, in order, with
/// no gaps or duplicates, and with the documented `kv`/`prev` shapes.
pub async fn watch_replay_then_live(h: &mut dyn Harness) {
    let s = h.fresh(QUIET).await;
    let mut model = Model::default();
    let start = ok(s.current_revision().await, "rev");
    churn(&*s, &mut model, "/w/", 12).await;
    let middle = model.events[4].revision();

    let mut from_start = ok(s.watch("/w/", start).await, "watch from start");
    let mut from_middle = ok(s.watch("/w/", middle).await, "watch from middle");
    let mut from_now = ok(
        s.watch("/w/", ok(s.current_revision().await, "rev")).await,
        "watch from now",
    );
    let replay_len = model.events.len();
    churn(&*s, &mut model, "/w/", 12).await;

    let all = model.expected("/w/", start);
    let got = next_events(&mut from_start, all.len(), "watch from start").await;
    assert_events(&got, &all, "watch from the start");
    for pair in got.windows(2) {
        assert_eq!(
            pair[1].revision(),
            pair[0].revision() + 1,
            "gap in revisions"
        );
    }
    let expected = model.expected("/w/", middle);
    let got = next_events(&mut from_middle, expected.len(), "watch from middle").await;
    assert_events(&got, &expected, "watch from the middle");
    let live = &model.events[replay_len..];
    let got = next_events(&mut from_now, live.len(), "watch from now").await;
    assert_events(&got, live, "watch from now");

    // Event shapes.
    let first = &model.events[0];
    assert!(
        first.kind == EventKind::Put && first.prev.is_none(),
        "create event"
    );
    let del = model
        .events
        .iter()
        .find(|e| e.kind == EventKind::Delete)
        .expect("churn deletes");
    let prev = del.prev.as_ref().expect("delete has prev");
    assert_eq!(del.kv.value, prev.value);
    assert_eq!(del.kv.create_revision, prev.create_revision);
    assert!(prev.mod_revision < del.kv.mod_revision);
}

/// A watch sees only keys under its prefix (a plain string prefix).
pub async fn watch_prefix_isolation(h: &mut dyn Harness) {
    let s = h.fresh(QUIET).await;
    let start = ok(s.current_revision().await, "rev");
    let mut model = Model::default();
    let mut w = ok(s.watch("/a/", start).await, "watch /a/");
    let mut w_all = ok(s.watch("", start).await, "watch everything");
    for key in ["/b/1", "/a/1", "/ab/1", "/a", "/a/2/x", "/b/2", "/a/1"] {
        match ok(s.get(key, None).await, "get").0 {
            None => model.created(&ok(s.create(key, val(key)).await, "create")),
            Some(prev) => model.deleted(&ok(s.delete(key, None).await, "delete"), &prev),
        }
    }
    ok(s.create("/z", val("marker")).await, "marker");
    let expected = model.expected("/a/", start);
    assert_eq!(expected.len(), 3);
    let got = next_events(&mut w, expected.len(), "prefix watch").await;
    assert_events(&got, &expected, "watch /a/");
    let everything = next_events(&mut w_all, model.events.len() + 1, "watch all").await;
    assert_events(
        &everything[..model.events.len()],
        &model.events,
        "watch everything",
    );
    // Nothing else arrives on the prefix watch (only, eventually, progress).
    if let Ok(Some(Ok(WatchItem::Event(e)))) =
        tokio::time::timeout(Duration::from_millis(200), futures::StreamExt::next(&mut w)).await
    {
        panic!("prefix watch delivered a foreign event: {e:?}");
    }
}

/// A watch may start at the current revision or beyond it; it then delivers only later events.
pub async fn watch_future_start(h: &mut dyn Harness) {
    let s = h.fresh(QUIET).await;
    let now = ok(s.current_revision().await, "rev");
    let mut w = ok(s.watch("/f/", now + 2).await, "watch ahead");
    ok(s.create("/f/1", val("1")).await, "write 1");
    ok(s.create("/f/2", val("2")).await, "write 2");
    let third = ok(s.create("/f/3", val("3")).await, "write 3");
    let got = next_events(&mut w, 1, "future watch").await;
    assert_eq!(got[0].kv, third, "only events after the start revision");
    // Even the largest start revision is accepted (and never delivers anything).
    let _far = ok(s.watch("/f/", i64::MAX).await, "watch at i64::MAX");
}

/// Caught-up idle watches report progress with the revision they are caught up to.
pub async fn progress_notifications(h: &mut dyn Harness) {
    let interval = Duration::from_millis(100);
    let s = h.fresh(interval).await;
    let a = ok(s.create("/pr/a", val("a")).await, "create");
    let mut w = ok(s.watch("/pr/", 0.max(a.mod_revision - 1)).await, "watch");
    let began = tokio::time::Instant::now();
    let got = events_until_progress(&mut w, a.mod_revision, "first progress").await;
    assert_eq!(got.len(), 1, "the replayed event comes before progress");
    assert!(
        began.elapsed() >= interval / 2,
        "progress came before the watch was idle"
    );
    // Writes elsewhere advance the progress revision of an idle watch.
    let other = ok(s.create("/other", val("o")).await, "create elsewhere");
    let got = events_until_progress(&mut w, other.mod_revision, "progress past foreign").await;
    assert!(got.is_empty(), "no events for foreign keys: {got:?}");
    // Progress keeps coming while idle, never going backwards.
    let mut last = other.mod_revision;
    for _ in 0..2 {
        match next_item(&mut w, "repeated progress").await {
            WatchItem::Progress(r) => {
                assert!(r >= last, "progress went backwards: {r} < {last}");
                last = r;
            }
            WatchItem::Event(e) => panic!("unexpected event {e:?}"),
        }
    }
    let b = ok(s.create("/pr/b", val("b")).await, "create b");
    let got = events_until_progress(&mut w, b.mod_revision, "progress after event").await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].kv, b);
}
