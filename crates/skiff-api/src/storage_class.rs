//! Which StorageClass is the cluster's default — one rule for the DefaultStorageClass
//! admission plugin (claims created without a class) and the volume controller (claims that
//! were created while no class was the default).
//!
//! ```
//! use k8s_openapi::api::storage::v1::StorageClass;
//! let fast: StorageClass = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "fast", "annotations": {
//!         "storageclass.kubernetes.io/is-default-class": "true"}},
//!     "provisioner": "example.com/fast",
//! })).unwrap();
//! assert_eq!(skiff_api::storage_class::default_class(&[&fast]).as_deref(), Some("fast"));
//! ```

use k8s_openapi::api::storage::v1::StorageClass;

/// The annotations that mark a StorageClass as the default (GA and beta).
pub const DEFAULT_CLASS_ANNOTATIONS: [&str; 2] = [
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
];

/// The default StorageClass: of the classes annotated default, the newest (then the first by
/// name), like upstream since 1.28.
pub fn default_class(classes: &[&StorageClass]) -> Option<String> {
    classes
        .iter()
        .filter(|c| {
            let annotations = c.metadata.annotations.as_ref();
            DEFAULT_CLASS_ANNOTATIONS
                .iter()
                .any(|a| annotations.and_then(|m| m.get(*a)).map(String::as_str) == Some("true"))
        })
        .map(|c| {
            let created = c.metadata.creation_timestamp.as_ref().map(|t| t.0);
            (created, c.metadata.name.clone().unwrap_or_default())
        })
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(&a.1)))
        .map(|(_, name)| name)
}
