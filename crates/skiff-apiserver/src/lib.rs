//! The Skiff API server: a Kubernetes API server that the real kubectl and client libraries drive
//! unchanged.
//!
//! The request path: [`serve`] terminates TLS (client certificates authenticate) and hands every
//! request to [`dispatch`], which parses the path into a [`request::RequestInfo`], runs the
//! [`pipeline`] (authentication → authorization → admission) and calls a handler in
//! [`handlers`]; handlers use [`rest::Storage`], the generic object layer (uids, resourceVersions,
//! generation, finalizers, defaulting, validation) over a [`skiff_store::Store`].

pub mod admission;
pub mod allocator;
pub mod compactor;
pub mod config;
pub mod crd;
pub mod discovery;
pub mod dispatch;
pub mod handlers;
pub mod join;
pub mod kubelet;
pub mod list_snapshots;
pub mod negotiate;
pub mod pipeline;
pub mod pki;
pub mod request;
pub mod rest;
pub mod schema;
pub mod serve;
pub mod serviceaccount;
pub mod snapshot;
pub mod state;
pub mod stored_json;
pub mod tls;
pub mod watchcache;

pub use config::ServerConfig;
pub use serve::{start, RunningServer};
pub use state::AppState;
