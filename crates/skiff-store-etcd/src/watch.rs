//! An etcd watch as a [`WatchStream`]: events with `prev_kv` become store events (deletes carry
//! the last value, as the store contract says), a compaction that overtakes the watch ends it
//! with [`StoreError::Compacted`], and an idle watch asks etcd for a progress notification.

use crate::{backend, key_value, prefix_end};
use etcd_client::{EventType, WatchClient, WatchOptions, WatchResponse, WatchStream as EtcdWatch};
use skiff_store::watch_util::{watch_channel, WatchSink};
use skiff_store::{Event, EventKind, KeyValue, Revision, StoreError, WatchStream};
use std::time::Duration;
use tokio::time::Instant;

/// Starts a watch of the keys under `prefix` from revision `start`; returns once etcd has
/// created it.
pub(crate) async fn start(
    mut client: WatchClient,
    prefix: &str,
    start: Revision,
    progress_interval: Duration,
) -> Result<WatchStream, StoreError> {
    let key = if prefix.is_empty() {
        vec![0]
    } else {
        prefix.as_bytes().to_vec()
    };
    let options = WatchOptions::new()
        .with_range(prefix_end(prefix.as_bytes()))
        .with_start_revision(start)
        .with_prev_key()
        .with_progress_notify();
    let mut watch = client.watch(key, Some(options)).await.map_err(backend)?;
    match watch.message().await.map_err(backend)? {
        Some(r) if r.created() && !r.canceled() => {}
        Some(r) => return Err(ended(&r, start)),
        None => return Err(StoreError::Backend("etcd closed the watch at once".into())),
    }
    let (sink, stream) = watch_channel(progress_interval);
    tokio::spawn(run(watch, sink, start, progress_interval));
    Ok(stream)
}

/// Why etcd canceled a watch.
fn ended(r: &WatchResponse, next: Revision) -> StoreError {
    if r.compact_revision() > 0 {
        StoreError::Compacted {
            requested: next,
            compacted: r.compact_revision(),
        }
    } else {
        StoreError::Backend(format!("etcd canceled the watch: {}", r.cancel_reason()))
    }
}

/// PURE — a store event from an etcd event (`None` for one without a key-value).
pub(crate) fn event(e: &etcd_client::Event) -> Option<Event> {
    let kv = key_value(e.kv()?);
    let prev = e.prev_kv().map(key_value);
    Some(match e.event_type() {
        EventType::Put => Event {
            kind: EventKind::Put,
            kv,
            prev,
        },
        EventType::Delete => Event {
            kind: EventKind::Delete,
            kv: KeyValue {
                key: kv.key,
                value: prev.as_ref().map(|p| p.value.clone()).unwrap_or_default(),
                create_revision: prev.as_ref().map_or(0, |p| p.create_revision),
                mod_revision: kv.mod_revision,
            },
            prev,
        },
    })
}

async fn run(
    mut watch: EtcdWatch,
    mut sink: WatchSink,
    mut next: Revision,
    progress_interval: Duration,
) {
    // When to ask etcd for progress next: once the watch has been idle for the interval, and
    // not again before another interval has passed without an answer.
    let mut ask_at = sink.deadline();
    loop {
        tokio::select! {
            message = watch.message() => {
                let r = match message {
                    Ok(Some(r)) => r,
                    Ok(None) => {
                        sink.fail(StoreError::Backend("etcd ended the watch".into())).await;
                        return;
                    }
                    Err(e) => {
                        sink.fail(backend(e)).await;
                        return;
                    }
                };
                if r.canceled() {
                    sink.fail(ended(&r, next)).await;
                    return;
                }
                if r.events().is_empty() {
                    if r.created() {
                        continue;
                    }
                    // A progress notification: every event up to the header's revision has
                    // been sent on this stream.
                    let Some(rev) = r.header().map(|h| h.revision()) else { continue };
                    if rev >= next - 1 && !sink.progress(rev).await {
                        return;
                    }
                    ask_at = sink.deadline();
                    continue;
                }
                for e in r.events().iter().filter_map(event) {
                    next = e.revision() + 1;
                    if !sink.event(e).await {
                        return;
                    }
                }
                ask_at = sink.deadline();
            }
            _ = tokio::time::sleep_until(ask_at) => {
                if watch.request_progress().await.is_err() {
                    sink.fail(StoreError::Backend("etcd watch stream broke".into())).await;
                    return;
                }
                ask_at = Instant::now() + progress_interval;
            }
            _ = sink.closed() => return,
        }
    }
}
