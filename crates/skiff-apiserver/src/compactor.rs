//! Periodic compaction of the store's history, like kube-apiserver's `--etcd-compaction-interval`:
//! at every tick the history older than the revision seen at the previous tick is dropped, so
//! at least one interval of history stays available for watches to resume from.

use crate::watchcache::WatchCache;
use skiff_store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What one tick decides: the revision to compact to, if any.
///
/// `previous` is the revision recorded at the last tick, `compacted` the store's compacted
/// revision now. Pure, so the policy is testable without a clock.
pub fn plan(previous: Option<i64>, compacted: i64) -> Option<i64> {
    previous.filter(|p| *p > compacted)
}

/// Runs until `stop` turns true. An interval of zero disables compaction.
pub async fn run(
    store: Arc<dyn Store>,
    cache: Arc<WatchCache>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    if interval.is_zero() {
        return;
    }
    let mut previous = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
        let (Ok(current), Ok(compacted)) = (
            store.current_revision().await,
            store.compacted_revision().await,
        ) else {
            continue;
        };
        if let Some(rev) = plan(previous, compacted) {
            match store.compact(rev).await {
                Ok(()) => {
                    cache.compacted(rev);
                    tracing::debug!(revision = rev, "compacted the store history");
                }
                Err(e) => tracing::warn!(error = %e, "compaction failed"),
            }
        }
        previous = Some(current);
    }
}

#[cfg(test)]
mod tests {
    use super::plan;

    #[test]
    fn compacts_to_the_revision_of_the_previous_tick() {
        assert_eq!(plan(None, 0), None, "the first tick only records");
        assert_eq!(plan(Some(40), 0), Some(40));
        assert_eq!(plan(Some(40), 40), None, "nothing new to drop");
        assert_eq!(plan(Some(30), 40), None, "never backwards");
    }
}
