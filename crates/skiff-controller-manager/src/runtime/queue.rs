//! A work queue like client-go's: an item is queued at most once, never processed by two
//! workers at a time, and re-queued if it was added again while being processed. Delayed and
//! rate-limited (per-item exponential backoff) adds.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};

struct State<T> {
    queue: VecDeque<T>,
    dirty: HashSet<T>,
    processing: HashSet<T>,
    failures: HashMap<T, u32>,
    shut_down: bool,
}

/// A deduplicating work queue of keys.
pub struct Queue<T> {
    state: Mutex<State<T>>,
    ready: Notify,
}

/// First retry after a failure; doubles per failure up to [`MAX_BACKOFF`] (upstream: 5 ms, 1000 s).
const BASE_BACKOFF: Duration = Duration::from_millis(5);
/// Longest retry delay after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

impl<T: Clone + Eq + Hash + Send + 'static> Queue<T> {
    /// An empty queue.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                dirty: HashSet::new(),
                processing: HashSet::new(),
                failures: HashMap::new(),
                shut_down: false,
            }),
            ready: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `item` unless it is already waiting.
    pub fn add(&self, item: T) {
        let mut s = self.lock();
        if s.shut_down || !s.dirty.insert(item.clone()) {
            return;
        }
        if !s.processing.contains(&item) {
            s.queue.push_back(item);
            drop(s);
            self.ready.notify_one();
        }
    }

    /// Queues `item` after `delay`.
    pub fn add_after(self: &Arc<Self>, item: T, delay: Duration) {
        if delay.is_zero() {
            return self.add(item);
        }
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            me.add(item);
        });
    }

    /// Queues `item` after its backoff, which doubles with each failure until [`Queue::forget`].
    pub fn add_rate_limited(self: &Arc<Self>, item: T) {
        let n = {
            let mut s = self.lock();
            let n = s.failures.entry(item.clone()).or_insert(0);
            *n += 1;
            *n
        };
        self.add_after(item, backoff(n));
    }

    /// Clears `item`'s failure count.
    pub fn forget(&self, item: &T) {
        self.lock().failures.remove(item);
    }

    /// The next item to process (None once shut down and drained).
    pub async fn get(&self) -> Option<T> {
        loop {
            let notified = self.ready.notified();
            futures::pin_mut!(notified);
            notified.as_mut().enable();
            {
                let mut s = self.lock();
                if let Some(item) = s.queue.pop_front() {
                    s.dirty.remove(&item);
                    s.processing.insert(item.clone());
                    let more = !s.queue.is_empty();
                    drop(s);
                    if more {
                        self.ready.notify_one();
                    }
                    return Some(item);
                }
                if s.shut_down {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// Marks `item` processed; if it was added meanwhile, it is queued again.
    pub fn done(&self, item: &T) {
        let mut s = self.lock();
        s.processing.remove(item);
        if s.dirty.contains(item) {
            s.queue.push_back(item.clone());
            drop(s);
            self.ready.notify_one();
        }
    }

    /// Stops handing out items; waiting workers return None.
    pub fn shut_down(&self) {
        self.lock().shut_down = true;
        self.ready.notify_waiters();
    }

    /// How many items wait.
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn backoff(failures: u32) -> Duration {
    BASE_BACKOFF
        .saturating_mul(1u32 << failures.saturating_sub(1).min(20))
        .min(MAX_BACKOFF)
}

/// Runs `workers` workers over `queue` until `stop` turns true. `sync` returns `Ok(Some(d))`
/// to be called again after `d`, `Ok(None)` when done, and `Err` to retry with backoff.
pub async fn run_workers<T, E, F, Fut>(
    name: &'static str,
    queue: Arc<Queue<T>>,
    workers: usize,
    stop: watch::Receiver<bool>,
    sync: F,
) where
    T: Clone + Eq + Hash + Send + Sync + std::fmt::Display + 'static,
    E: std::fmt::Display,
    F: Fn(T) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<Option<Duration>, E>> + Send,
{
    let mut tasks = Vec::new();
    for _ in 0..workers.max(1) {
        let (q, f) = (queue.clone(), sync.clone());
        tasks.push(tokio::spawn(async move {
            while let Some(item) = q.get().await {
                match f(item.clone()).await {
                    Ok(again) => {
                        q.forget(&item);
                        if let Some(d) = again {
                            q.add_after(item.clone(), d);
                        }
                    }
                    Err(e) => {
                        tracing::debug!(controller = name, key = %item, error = %e, "sync failed; retrying");
                        q.add_rate_limited(item.clone());
                    }
                }
                q.done(&item);
            }
        }));
    }
    crate::stopped(stop).await;
    queue.shut_down();
    for t in tasks {
        let _ = t.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn deduplicates_and_requeues_items_added_while_processing() {
        let q = Queue::<u32>::new();
        q.add(1);
        q.add(1);
        q.add(2);
        assert_eq!(q.len(), 2);
        let a = q.get().await.unwrap();
        assert_eq!(a, 1);
        q.add(1); // while processing: held back, not handed to a second worker
        assert_eq!(q.get().await, Some(2));
        assert!(q.is_empty());
        q.done(&1);
        assert_eq!(q.get().await, Some(1));
        q.done(&1);
        q.done(&2);
        q.shut_down();
        assert_eq!(q.get().await, None);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::from_millis(5));
        assert_eq!(backoff(2), Duration::from_millis(10));
        assert_eq!(backoff(5), Duration::from_millis(80));
        assert_eq!(backoff(40), MAX_BACKOFF);
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_adds_arrive_after_their_delay() {
        let q = Queue::<u32>::new();
        q.add_after(7, Duration::from_secs(3));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(q.is_empty());
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(q.get().await, Some(7));
    }
}
