//! Plumbing shared by the backends' watch tasks (the etcd backend's too): the bounded channel behind a
//! [`WatchStream`] and the idle timer that drives progress notifications.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::error::StoreError;
use crate::types::{Event, Revision, WatchItem, WatchStream};

/// How many items a watch buffers before its task waits for the consumer.
const WATCH_BUFFER: usize = 128;

/// The producing end of a watch stream, owned by the backend's watch task.
pub struct WatchSink {
    tx: mpsc::Sender<Result<WatchItem, StoreError>>,
    interval: Duration,
    deadline: Instant,
}

/// Creates a watch stream and the sink its task feeds.
pub fn watch_channel(progress_interval: Duration) -> (WatchSink, WatchStream) {
    let (tx, rx) = mpsc::channel(WATCH_BUFFER);
    let sink = WatchSink {
        tx,
        interval: progress_interval,
        deadline: Instant::now() + progress_interval,
    };
    (
        sink,
        Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)),
    )
}

impl WatchSink {
    /// Delivers an event and restarts the idle timer. `false` if the consumer is gone.
    pub async fn event(&mut self, event: Event) -> bool {
        let ok = self.tx.send(Ok(WatchItem::Event(event))).await.is_ok();
        self.deadline = Instant::now() + self.interval;
        ok
    }

    /// Delivers a progress notification and schedules the next one. `false` if the consumer
    /// is gone.
    pub async fn progress(&mut self, revision: Revision) -> bool {
        let ok = self
            .tx
            .send(Ok(WatchItem::Progress(revision)))
            .await
            .is_ok();
        self.deadline = Instant::now() + self.interval;
        ok
    }

    /// Delivers a final error; the task should stop afterwards.
    pub async fn fail(&self, error: StoreError) {
        let _ = self.tx.send(Err(error)).await;
    }

    /// When the watch has been idle long enough to deserve a progress notification.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Resolves when the consumer has dropped the stream.
    pub async fn closed(&self) {
        self.tx.closed().await;
    }
}
