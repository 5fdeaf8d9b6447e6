//! Tests of the watch cache.

use super::*;
use skiff_store::MemStore;

fn item(i: usize) -> bytes::Bytes {
    bytes::Bytes::from(format!(r#"{{"metadata":{{"name":"cm-{i}"}}}}"#))
}

/// Starts a cache, opens a watch of config maps, then creates `n` of them without
/// consuming the watch; returns the cache, the watch and the revision it started from.
async fn watch_then_create(
    n: usize,
) -> (
    Arc<WatchCache>,
    futures::stream::BoxStream<'static, Result<Item, ApiError>>,
    i64,
) {
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let cache = WatchCache::start(store.clone()).await.unwrap();
    let from = cache.revision();
    let stream = cache.watch("/registry/configmaps/", from).await.unwrap();
    for i in 0..n {
        store
            .create(&format!("/registry/configmaps/default/cm-{i}"), item(i))
            .await
            .unwrap();
    }
    cache.wait_for(from + n as i64).await.unwrap();
    (cache, stream, from)
}

/// Reads `n` events from `stream`: the config maps created in order, each revision the
/// one after the previous (none skipped or repeated); progress notes are skipped.
async fn expect_created(
    stream: &mut futures::stream::BoxStream<'static, Result<Item, ApiError>>,
    from: i64,
    n: usize,
) {
    let mut last = from;
    let mut i = 0;
    while i < n {
        match stream.next().await {
            Some(Ok(Item::Event(e))) => {
                assert_eq!(
                    e.revision,
                    last + 1,
                    "event {i}: no event skipped or repeated"
                );
                last = e.revision;
                assert_eq!(e.object().unwrap()["metadata"]["name"], format!("cm-{i}"));
                i += 1;
            }
            Some(Ok(Item::Progress(_))) => {}
            other => panic!("event {i}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_watcher_that_falls_behind_the_live_feed_catches_up_from_the_window() {
    // More events than the live feed holds, none consumed yet.
    let n = 6_000;
    let (_cache, mut stream, from) = watch_then_create(n).await;
    expect_created(&mut stream, from, n).await;
}

#[tokio::test]
async fn a_watcher_that_falls_behind_the_window_goes_on_from_the_store() {
    // More events than the window holds, none consumed yet: the first ones are gone from
    // memory by the time the watcher reads them.
    let n = WINDOW + LIVE_FEED + 100;
    let (cache, mut stream, from) = watch_then_create(n).await;
    assert!(cache.state.read().unwrap().window_start > from + 1);
    expect_created(&mut stream, from, n).await;
}

#[test]
fn the_window_keeps_at_most_its_byte_budget_and_always_the_newest_event() {
    let mut st = State::default();
    let big = bytes::Bytes::from(vec![b' '; WINDOW_BYTES / 4 + 1]);
    for rev in 1..=10 {
        st.record(Recorded {
            key: "/registry/configmaps/default/a".into(),
            change: Change::Modified,
            revision: rev,
            value: big.clone(),
            prev: None,
        });
        assert!(st.window_bytes <= WINDOW_BYTES);
        assert_eq!(
            st.window_bytes,
            st.window.iter().map(|e| e.value.len()).sum::<usize>()
        );
    }
    // Three of these fit; the rest were dropped oldest first.
    assert_eq!(st.window.len(), 3);
    assert_eq!(st.window_start, 7);
    assert_eq!(st.window.front().map(|e| e.revision), Some(8));
    // One value over the whole budget still stays, alone.
    let huge = bytes::Bytes::from(vec![b' '; WINDOW_BYTES + 1]);
    st.record(Recorded {
        key: "/registry/configmaps/default/b".into(),
        change: Change::Added,
        revision: 11,
        value: huge,
        prev: None,
    });
    assert_eq!(st.window.len(), 1);
    assert_eq!(st.window_start, 10);
}
