//! Shared state of a running API server.

use crate::pipeline::Authorizer;
use crate::rest::Storage;
use chrono::{DateTime, Utc};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// A source of the current time (passed in so tests can control it).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Everything handlers share.
pub struct AppState {
    /// The object layer (and through it the registry and the store).
    pub storage: Arc<Storage>,
    /// The authorizer.
    pub authorizer: Box<dyn Authorizer>,
    /// OpenAPI documents, rebuilt when the registry generation changes.
    pub openapi: RwLock<Option<(u64, Arc<skiff_openapi::OpenApi>)>>,
    /// True once the server serves and the store is open.
    pub ready: AtomicBool,
    /// The address clients use (for `/api`'s serverAddressByClientCIDRs).
    pub server_address: String,
    /// Time source.
    pub clock: Clock,
    /// How often an idle watch with bookmarks gets one.
    pub bookmark_interval: Duration,
    /// The cluster CA (PEM), served at `/cacerts`.
    pub ca_cert: String,
    /// The node join token agents authenticate with (as a bearer token).
    pub join_token: Option<skiff_api::join::JoinToken>,
    /// Issues and checks service-account tokens.
    pub service_accounts: Arc<crate::serviceaccount::Tokens>,
    /// The client to node agents (streams) and the CA that signs their certificates.
    pub nodes: Option<crate::kubelet::NodeClient>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("server_address", &self.server_address)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Now.
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// The OpenAPI documents for the current set of resources.
    pub fn openapi(&self) -> Arc<skiff_openapi::OpenApi> {
        let registry = &self.storage.registry;
        let generation = registry.generation();
        if let Some((g, o)) = self
            .openapi
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            if *g == generation {
                return o.clone();
            }
        }
        let resources = registry.all();
        let mut custom = skiff_openapi::CustomSchemas::new();
        for r in resources.iter().filter(|r| r.custom) {
            if let Some(s) = &r.custom_schema {
                custom.insert(
                    (r.group.clone(), r.version.clone(), r.kind.clone()),
                    (**s).clone(),
                );
            }
        }
        let built = Arc::new(skiff_openapi::OpenApi::build(&resources, &custom));
        *self.openapi.write().unwrap_or_else(|e| e.into_inner()) =
            Some((generation, built.clone()));
        built
    }
}
