//! The machinery every controller shares, as in kube-controller-manager: informers that keep
//! an indexed cache of one kind and call handlers on each change, a deduplicating work queue
//! with delayed and rate-limited adds, and expectations that hold a controller back until its
//! own writes are visible in the cache.
//!
//! ```no_run
//! use std::sync::Arc;
//! use k8s_openapi::api::core::v1::Pod;
//! use skiff_controller_manager::runtime::{Informer, Queue, ObjectKey};
//!
//! # async fn demo(client: kube::Client, stop: tokio::sync::watch::Receiver<bool>) {
//! let pods = Informer::<Pod>::new(kube::Api::all(client));
//! let queue: Arc<Queue<ObjectKey>> = Queue::new();
//! let q = queue.clone();
//! pods.on_change(move |c| q.add(ObjectKey::of(c.object())));
//! tokio::spawn(pods.clone().run(stop));
//! pods.cache().wait_synced().await;
//! # }
//! ```

mod cache;
mod expectations;
mod informer;
mod queue;

pub(crate) use cache::revision_of;
pub use cache::{Cache, ObjectKey};
pub use expectations::{Expectations, SyncExpectations};
pub use informer::{Change, Informer};
pub use queue::{run_workers, Queue};
