//! OpenAPI documents for Skiff, shaped like kube-apiserver's so the real kubectl can use them:
//! `/openapi/v3` (root and one document per group-version, which `kubectl apply` reads to find
//! `fieldValidation` support and `kubectl explain` reads for field docs) and `/openapi/v2`.
//!
//! - [`builtin_types`]: the built-in definitions, generated from k8s-openapi via schemars.
//! - [`normalize`]: schema rewriting into kube-openapi's v3 and Swagger 2.0 dialects.
//! - [`kinds`]: kind and list-kind schemas, including custom resources' CRD schemas.
//! - [`paths`]: the REST paths and operations of each resource; [`params`]: their parameters.
//! - [`document`]: assembling and hashing whole documents.
//!
//! Pure: no I/O. Documents are built lazily, on first request, and cached as serialized bytes;
//! bytes of a group-version whose inputs did not change are shared across rebuilds.

pub mod builtin_types;
pub mod document;
pub mod kinds;
pub mod normalize;
pub mod params;
pub mod paths;

use skiff_api::ResourceInfo;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

/// For custom resources: `(group, version, kind)` → the CRD version's `openAPIV3Schema`.
pub type CustomSchemas = BTreeMap<(String, String, String), serde_json::Value>;

/// A serialized document and its hash.
type Served = (Arc<Vec<u8>>, String);

/// One served group-version and its lazily built document.
struct Gv {
    group: String,
    version: String,
    resources: Vec<Arc<ResourceInfo>>,
    custom: CustomSchemas,
    key: u64,
    doc: OnceLock<Served>,
}

/// The OpenAPI documents of one set of served resources. Built once per registry change; cheap
/// to build and to query (documents are generated on first request).
///
/// ```
/// let reg = skiff_api::Registry::builtin();
/// let api = skiff_openapi::OpenApi::build(&reg.all(), &Default::default());
/// let root = api.v3_root();
/// assert!(root["paths"]["apis/apps/v1"]["serverRelativeURL"]
///     .as_str()
///     .unwrap()
///     .starts_with("/openapi/v3/apis/apps/v1?hash="));
/// ```
pub struct OpenApi {
    gvs: BTreeMap<String, Gv>,
    v2: OnceLock<Arc<Vec<u8>>>,
}

/// Serialized documents of recent inputs, so rebuilding after a CRD change does not regenerate
/// the unchanged built-in groups. Keyed by [`document::fingerprint`].
fn memo() -> &'static Mutex<HashMap<u64, Served>> {
    static MEMO: OnceLock<Mutex<HashMap<u64, Served>>> = OnceLock::new();
    MEMO.get_or_init(Default::default)
}

/// The path of a group-version under `/openapi/v3/`: `api/v1` or `apis/{group}/{version}`.
pub fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

impl Gv {
    fn document(&self) -> &Served {
        self.doc.get_or_init(|| {
            if let Some(hit) = memo()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&self.key)
            {
                return hit.clone();
            }
            let parts =
                document::gv_parts(&self.group, &self.version, &self.resources, &self.custom);
            let bytes = serde_json::to_vec(&document::v3_document(&parts)).unwrap_or_default();
            let hash = document::hash_hex(&bytes);
            let entry = (Arc::new(bytes), hash);
            let mut m = memo().lock().unwrap_or_else(|e| e.into_inner());
            if m.len() >= 256 {
                m.clear();
            }
            m.insert(self.key, entry.clone());
            entry
        })
    }
}

impl OpenApi {
    /// Groups `resources` by group-version. Custom resources take their kind schema from
    /// `custom_schemas`; built-ins from k8s-openapi.
    pub fn build(resources: &[Arc<ResourceInfo>], custom_schemas: &CustomSchemas) -> Self {
        let mut gvs: BTreeMap<String, Gv> = BTreeMap::new();
        for r in resources {
            let gv = gvs
                .entry(gv_path(&r.group, &r.version))
                .or_insert_with(|| Gv {
                    group: r.group.clone(),
                    version: r.version.clone(),
                    resources: Vec::new(),
                    custom: CustomSchemas::new(),
                    key: 0,
                    doc: OnceLock::new(),
                });
            gv.resources.push(r.clone());
            let key = (r.group.clone(), r.version.clone(), r.kind.clone());
            if let Some(s) = custom_schemas.get(&key) {
                gv.custom.insert(key, s.clone());
            }
        }
        for gv in gvs.values_mut() {
            gv.key = document::fingerprint(&gv.resources, &gv.custom);
        }
        OpenApi {
            gvs,
            v2: OnceLock::new(),
        }
    }

    fn gv(&self, path: &str) -> Option<&Gv> {
        self.gvs
            .get(path.trim_start_matches('/').trim_end_matches('/'))
    }

    /// `GET /openapi/v3`: `{"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=..."}}}`.
    pub fn v3_root(&self) -> serde_json::Value {
        let paths: serde_json::Map<String, serde_json::Value> = self
            .gvs
            .iter()
            .map(|(path, gv)| {
                let url = format!("/openapi/v3/{path}?hash={}", gv.document().1);
                (
                    path.clone(),
                    serde_json::json!({ "serverRelativeURL": url }),
                )
            })
            .collect();
        serde_json::json!({ "paths": paths })
    }

    /// `GET /openapi/v3/{path}` for `path` = `api/v1` or `apis/{group}/{version}`: the serialized
    /// OpenAPI 3.0 document, or `None` for an unknown group-version.
    pub fn v3_group_version(&self, path: &str) -> Option<Arc<Vec<u8>>> {
        self.gv(path).map(|gv| gv.document().0.clone())
    }

    /// The hash of a group-version's document (as in its `serverRelativeURL`).
    pub fn v3_hash(&self, path: &str) -> Option<String> {
        self.gv(path).map(|gv| gv.document().1.clone())
    }

    /// The group-version paths served (`api/v1`, `apis/apps/v1`, ...).
    pub fn v3_paths(&self) -> Vec<String> {
        self.gvs.keys().cloned().collect()
    }

    /// `GET /openapi/v2`: the serialized Swagger 2.0 document with every definition and path.
    pub fn v2(&self) -> Arc<Vec<u8>> {
        self.v2
            .get_or_init(|| {
                let parts: Vec<document::GvParts> = self
                    .gvs
                    .values()
                    .map(|gv| document::gv_parts(&gv.group, &gv.version, &gv.resources, &gv.custom))
                    .collect();
                Arc::new(serde_json::to_vec(&document::v2_document(&parts)).unwrap_or_default())
            })
            .clone()
    }
}

#[cfg(test)]
mod tests;
