//! The generic object layer ("REST storage"): turns API verbs into store operations with
//! Kubernetes object semantics — uids, resourceVersions, generation, finalizers, graceful
//! deletion, defaulting, validation and admission. One implementation serves every resource.

pub mod delete;
pub mod fields;
pub mod hooks;
pub mod keys;
pub mod list;
pub mod meta;
pub mod prepare;
pub mod write;

use crate::allocator::Allocators;
use crate::pipeline::{Admission, User};
use crate::watchcache::WatchCache;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::Value;
use skiff_api::error::Target;
use skiff_api::{ApiError, Registry, ResourceInfo};
use skiff_store::{KeyValue, Store, StoreError};
use std::sync::Arc;

/// Largest object the store accepts, like etcd's default request limit (1.5 MiB).
pub const MAX_OBJECT_BYTES: usize = 1536 * 1024;

/// Everything a write needs to know about the request.
#[derive(Clone, Debug)]
pub struct WriteCtx {
    /// Who is writing.
    pub user: User,
    /// `dryRun=All`: run every step but do not persist.
    pub dry_run: bool,
    /// The field manager (`fieldManager` or derived from the user agent).
    pub field_manager: String,
    /// Request time.
    pub now: DateTime<Utc>,
    /// Server-side apply already computed managedFields.
    pub apply: bool,
}

/// The object layer over a [`Store`].
pub struct Storage {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Served resources.
    pub registry: Registry,
    /// The watch cache.
    pub cache: Arc<WatchCache>,
    /// Admission plugins.
    pub admission: Admission,
    /// ClusterIP and NodePort allocators.
    pub allocators: Allocators,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage").finish_non_exhaustive()
    }
}

/// The error target for an object.
pub fn target(res: &ResourceInfo, name: &str) -> Target {
    Target::new(&res.group, &res.plural, &res.kind, name)
}

/// Maps a store failure to the API error clients see.
pub fn store_error(res: &ResourceInfo, name: &str, e: StoreError) -> ApiError {
    match e {
        StoreError::AlreadyExists { .. } => ApiError::AlreadyExists(target(res, name)),
        StoreError::NotFound { .. } => ApiError::NotFound(target(res, name)),
        StoreError::Conflict { .. } => ApiError::stale(target(res, name)),
        StoreError::Compacted {
            requested,
            compacted,
        } => ApiError::Expired(format!(
            "too old resource version: {requested} ({compacted})"
        )),
        StoreError::FutureRevision { requested, current } => ApiError::Timeout(format!(
            "Too large resource version: {requested}, current: {current}"
        )),
        other => ApiError::Unavailable(format!("storage is unavailable: {other}")),
    }
}

/// Decodes a stored value, stamping `metadata.resourceVersion` from the key's mod revision.
pub fn decode(kv: &KeyValue) -> Result<Value, ApiError> {
    let mut v: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::Internal(format!("stored object {} is not JSON: {e}", kv.key)))?;
    meta::set_resource_version(&mut v, kv.mod_revision);
    Ok(v)
}

/// An object read from storage, in the version `res` serves (see [`ResourceInfo::storage_version`]).
pub fn in_version<T: std::borrow::Borrow<Value> + From<Value>>(res: &ResourceInfo, obj: T) -> T {
    let want = res.api_version();
    if obj.borrow().get("apiVersion").and_then(Value::as_str) == Some(want.as_str()) {
        return obj;
    }
    T::from(skiff_api::conversion::convert(obj.borrow(), &want))
}

/// Encodes an object for the store (in the storage version, without `resourceVersion`, which
/// the store owns).
pub fn encode(res: &ResourceInfo, obj: &mut Value) -> Result<Bytes, ApiError> {
    meta::meta_mut(obj).remove("resourceVersion");
    let bytes = if res.storage_version != res.api_version() {
        serde_json::to_vec(&skiff_api::conversion::convert(obj, &res.storage_version))
    } else {
        serde_json::to_vec(obj)
    }
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    if bytes.len() > MAX_OBJECT_BYTES {
        return Err(ApiError::TooLarge(format!(
            "limit is {MAX_OBJECT_BYTES} bytes for a stored {} object",
            res.kind
        )));
    }
    // Copied into an exact-size buffer: the encoder's vector grew by doubling, and these
    // bytes live on in the watch cache and its replay window.
    Ok(Bytes::copy_from_slice(&bytes))
}

/// The object as stored at `kv`: `obj` with the key's mod revision as its resourceVersion.
pub fn stored(mut obj: Value, kv: &KeyValue) -> Value {
    meta::set_resource_version(&mut obj, kv.mod_revision);
    obj
}

/// The create revision given to the `KeyValue` of a watch-cache copy (a stored key's is at
/// least 1).
const CACHED_COPY: skiff_store::Revision = 0;

/// Whether `kv` describes a watch-cache copy from [`Storage::current_for_update`] rather than
/// a read of the store.
pub fn is_cached_copy(kv: &KeyValue) -> bool {
    kv.create_revision == CACHED_COPY
}

impl Storage {
    /// Reads one object at the current revision.
    pub async fn get(&self, res: &ResourceInfo, ns: &str, name: &str) -> Result<Value, ApiError> {
        let (kv, _) = self.get_kv(res, ns, name).await?;
        decode(&kv)
    }

    /// Reads one object and its raw key-value.
    pub async fn get_kv(
        &self,
        res: &ResourceInfo,
        ns: &str,
        name: &str,
    ) -> Result<(KeyValue, Value), ApiError> {
        let key = keys::object(res, ns, name);
        match self.store.get(&key, None).await {
            Ok((Some(kv), _)) => {
                let v = in_version(res, decode(&kv)?);
                Ok((kv, v))
            }
            Ok((None, _)) => Err(ApiError::NotFound(target(res, name))),
            Err(e) => Err(store_error(res, name, e)),
        }
    }

    /// Reads one object the way upstream's admission plugins do, from the watch cache (their
    /// informers' listers), with a read of the store when the cache does not have it (yet),
    /// like their live-lookup fallback. For checks that may trail the store by a few events
    /// (the namespace of a create, a pod's service account or priority class), not for
    /// read-modify-write.
    pub async fn lookup(
        &self,
        res: &ResourceInfo,
        ns: &str,
        name: &str,
    ) -> Result<Option<Value>, ApiError> {
        if let Some(v) = self
            .cache
            .get(&keys::object(res, ns, name))
            .and_then(|raw| raw.decode())
        {
            return Ok(Some(in_version(res, v)));
        }
        Ok(self.try_get(res, ns, name).await?.map(|(_, v)| v))
    }

    /// The object an update starts from, like upstream's GuaranteedUpdate: on the first
    /// attempt (`fresh` false) the watch cache's copy, which may trail the store by a few
    /// events; later attempts, and a first one the cache cannot answer, read the store. A
    /// stale copy fails the update's compare-and-swap on its revision, so callers retry with
    /// `fresh` after a conflict, and after any other error on a cached copy too (it may come
    /// from stale data). The `KeyValue` of a cached copy is marked by [`is_cached_copy`]:
    /// [`Storage::write_update`] confirms a no-op or a dry run on it against the store.
    pub async fn current_for_update(
        &self,
        res: &ResourceInfo,
        ns: &str,
        name: &str,
        fresh: bool,
    ) -> Result<Option<(KeyValue, Value)>, ApiError> {
        if !fresh {
            let key = keys::object(res, ns, name);
            if let Some((raw, v)) = self
                .cache
                .get(&key)
                .and_then(|raw| raw.decode().map(|v| (raw, v)))
            {
                let kv = KeyValue {
                    key,
                    value: raw.bytes().clone(),
                    create_revision: CACHED_COPY,
                    mod_revision: raw.revision(),
                };
                return Ok(Some((kv, in_version(res, v))));
            }
        }
        self.try_get(res, ns, name).await
    }

    /// Reads one object if it exists.
    pub async fn try_get(
        &self,
        res: &ResourceInfo,
        ns: &str,
        name: &str,
    ) -> Result<Option<(KeyValue, Value)>, ApiError> {
        match self.get_kv(res, ns, name).await {
            Ok(x) => Ok(Some(x)),
            Err(ApiError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The namespace resource.
    pub fn namespaces(&self) -> Arc<ResourceInfo> {
        self.registry
            .by_plural("", "v1", "namespaces")
            .expect("invariant: namespaces are built in")
    }
}
