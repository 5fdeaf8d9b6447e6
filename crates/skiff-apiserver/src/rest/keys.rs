//! The storage key layout, like kube-apiserver's: `/registry/<resource>/<namespace>/<name>`
//! for namespaced objects and `/registry/<resource>/<name>` for cluster-scoped ones; custom
//! resources live under `/registry/<group>/<resource>/...`.

use skiff_api::ResourceInfo;

/// Root of every object key.
pub const ROOT: &str = "/registry/";

/// The key of one object.
pub fn object(res: &ResourceInfo, namespace: &str, name: &str) -> String {
    if res.namespaced() {
        format!("{ROOT}{}/{namespace}/{name}", res.storage_resource)
    } else {
        format!("{ROOT}{}/{name}", res.storage_resource)
    }
}

/// The prefix of a collection: all namespaces when `namespace` is empty.
pub fn collection(res: &ResourceInfo, namespace: &str) -> String {
    if res.namespaced() && !namespace.is_empty() {
        format!("{ROOT}{}/{namespace}/", res.storage_resource)
    } else {
        format!("{ROOT}{}/", res.storage_resource)
    }
}

/// Splits a key of `res` back into (namespace, name).
pub fn split<'a>(res: &ResourceInfo, key: &'a str) -> (&'a str, &'a str) {
    let rest = key
        .strip_prefix(ROOT)
        .and_then(|k| k.strip_prefix(res.storage_resource.as_str()))
        .and_then(|k| k.strip_prefix('/'))
        .unwrap_or("");
    if res.namespaced() {
        rest.split_once('/').unwrap_or(("", rest))
    } else {
        ("", rest)
    }
}
