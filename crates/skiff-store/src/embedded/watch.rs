//! Watches on the embedded store: replay from the log, stitched to the live broadcast of
//! committed events.
//!
//! The task subscribes to the broadcast *before* its first log read. Any revision newer than
//! the snapshot a replay read saw is committed after that read began, hence published after
//! the subscription, hence arrives on the broadcast; anything the broadcast repeats from before
//! is recognised by its revision (`<= pos`) and skipped. So there are no gaps and no
//! duplicates. A watcher that falls behind the broadcast buffer (`Lagged`) replays from the log
//! again, from where it was, and carries on.

use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};

use super::tables::replay_chunk;
use super::Shared;
use crate::error::StoreError;
use crate::types::{in_prefix, Event, Revision};
use crate::watch_util::WatchSink;

/// Log entries read per replay transaction.
const REPLAY_CHUNK: usize = 512;

/// Runs one watch until its consumer goes away or it fails.
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut live: broadcast::Receiver<Arc<Event>>,
    mut sink: WatchSink,
    prefix: String,
    after: Revision,
) {
    // Every event with revision <= pos has been delivered, or is excluded by `after`.
    let mut pos = after;
    // The newest store revision this watch knows it is caught up with.
    let mut seen = match catch_up(&shared, &prefix, &mut pos, &mut sink).await {
        Ok(Some(current)) => current,
        Ok(None) => return,
        Err(e) => return sink.fail(e).await,
    };
    loop {
        tokio::select! {
            biased;
            () = sink.closed() => return,
            msg = live.recv() => match msg {
                Ok(event) => {
                    let rev = event.revision();
                    seen = seen.max(rev);
                    if rev <= pos {
                        continue;
                    }
                    pos = rev;
                    if in_prefix(&event.kv.key, &prefix) && !sink.event((*event).clone()).await {
                        return;
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, prefix, "watcher lagged; replaying from the log");
                    match catch_up(&shared, &prefix, &mut pos, &mut sink).await {
                        Ok(Some(current)) => seen = seen.max(current),
                        Ok(None) => return,
                        Err(e) => return sink.fail(e).await,
                    }
                }
                Err(RecvError::Closed) => return sink.fail(StoreError::Closed).await,
            },
            () = tokio::time::sleep_until(sink.deadline()) => {
                if !sink.progress(seen).await {
                    return;
                }
            }
        }
    }
}

/// Replays from the log until it reaches the current revision of its last snapshot, which it
/// returns (`None` if the consumer went away).
async fn catch_up(
    shared: &Arc<Shared>,
    prefix: &str,
    pos: &mut Revision,
    sink: &mut WatchSink,
) -> Result<Option<Revision>, StoreError> {
    loop {
        let (from, prefix_owned) = (*pos, prefix.to_string());
        let (events, scanned, current) = shared
            .read(move |txn| replay_chunk(txn, &prefix_owned, from, REPLAY_CHUNK))
            .await?;
        for event in events {
            if !sink.event(event).await {
                return Ok(None);
            }
        }
        *pos = (*pos).max(scanned);
        if scanned >= current {
            return Ok(Some(current));
        }
    }
}
