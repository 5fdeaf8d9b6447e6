//! CustomResourceDefinitions: turning a CRD into served resources at once, establishing it,
//! and validating, defaulting and pruning its custom objects (the schema logic is skiff-crd's).

use crate::rest::{keys, meta, Storage};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use skiff_api::resource::ScaleInfo;
use skiff_api::{ApiError, FieldError, FieldErrorKind, Registry, ResourceInfo, Scope};
use std::sync::Arc;

/// Converts a skiff-crd field error into the server's.
pub fn field_error(e: skiff_crd::FieldError) -> FieldError {
    use skiff_crd::FieldErrorKind as K;
    let kind = match e.kind {
        K::Required => FieldErrorKind::Required,
        K::Invalid(v) => FieldErrorKind::Invalid(v),
        K::NotSupported(v, s) => FieldErrorKind::NotSupported(v, s),
        K::Duplicate(v) => FieldErrorKind::Duplicate(v),
        K::Forbidden => FieldErrorKind::Forbidden,
        K::TooLong(n) => FieldErrorKind::TooLong(n),
        K::TooMany(actual, max) => {
            return FieldError {
                field: e.field,
                kind: FieldErrorKind::Invalid(json!(actual)),
                detail: format!("must have at most {max} items"),
            }
        }
    };
    FieldError {
        field: e.field,
        kind,
        detail: e.detail,
    }
}

/// Validates a CRD object.
pub fn validate_crd(crd: &Value) -> Vec<FieldError> {
    skiff_crd::validate_crd(crd)
        .into_iter()
        .map(field_error)
        .collect()
}

/// Sets the status a served CRD has: accepted names and the NamesAccepted/Established conditions.
pub fn establish(crd: &mut Value, now: DateTime<Utc>) {
    skiff_crd::default_crd(crd);
    let names = crd["spec"]["names"].clone();
    let stored: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["storage"] == true)
        .map(|v| v["name"].clone())
        .collect();
    let t = meta::time(now);
    let old_conditions = crd["status"]["conditions"].clone();
    let since = |ty: &str| {
        old_conditions
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == ty && c["status"] == "True")
            .map(|c| c["lastTransitionTime"].clone())
            .unwrap_or_else(|| json!(t))
    };
    let mut stored_versions = crd["status"]["storedVersions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for s in stored {
        if !stored_versions.contains(&s) {
            stored_versions.push(s);
        }
    }
    crd["status"] = json!({
        "acceptedNames": names,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": since("NamesAccepted")},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": since("Established")},
        ],
        "storedVersions": stored_versions,
    });
}

/// The served resources of a CRD, one per served version.
pub fn resources_of(crd: &Value) -> Vec<ResourceInfo> {
    let spec = &crd["spec"];
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let group = s(&spec["group"]);
    let names = &spec["names"];
    let kind = s(&names["kind"]);
    let plural = s(&names["plural"]);
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(String::from))
            .collect()
    };
    let scope = if spec["scope"] == "Cluster" {
        Scope::Cluster
    } else {
        Scope::Namespaced
    };
    let storage_version = spec["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["storage"] == true)
        .and_then(|v| v["name"].as_str())
        .unwrap_or("v1")
        .to_string();
    spec["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["served"] != false)
        .map(|v| {
            let version = s(&v["name"]);
            let sub = &v["subresources"];
            ResourceInfo {
                storage_resource: format!("{group}/{plural}"),
                storage_version: format!("{group}/{storage_version}"),
                group: group.clone(),
                version: version.clone(),
                kind: kind.clone(),
                list_kind: names["listKind"]
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| format!("{kind}List")),
                plural: plural.clone(),
                singular: names["singular"]
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| kind.to_ascii_lowercase()),
                scope,
                short_names: list(&names["shortNames"]),
                categories: list(&names["categories"]),
                verbs: skiff_api::resource::STORABLE_VERBS
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                status_subresource: sub.get("status").is_some(),
                scale: sub.get("scale").map(|sc| ScaleInfo {
                    spec_replicas_path: s(&sc["specReplicasPath"]),
                    status_replicas_path: s(&sc["statusReplicasPath"]),
                    label_selector_path: sc["labelSelectorPath"].as_str().map(String::from),
                }),
                definition: format!("{}.{}.{}", reverse_domain(&group), version, kind),
                custom: true,
                has_generation: true,
                normalize: None,
                virtual_only: false,
                custom_schema: v.pointer("/schema/openAPIV3Schema").cloned().map(Arc::new),
                printer_columns: v.get("additionalPrinterColumns").cloned().map(Arc::new),
            }
        })
        .collect()
}

fn reverse_domain(group: &str) -> String {
    let mut parts: Vec<&str> = group.split('.').collect();
    parts.reverse();
    parts.join(".")
}

/// Serves a CRD's resources (replacing what it served before).
pub fn register(registry: &Registry, crd: &Value) {
    let group = crd["spec"]["group"].as_str().unwrap_or("");
    let plural = crd["spec"]["names"]["plural"].as_str().unwrap_or("");
    if meta::deleting(crd) {
        registry.remove_custom(group, plural);
        return;
    }
    registry.set_custom(group, plural, resources_of(crd));
}

/// Stops serving a CRD's resources.
pub fn unregister(registry: &Registry, crd: &Value) {
    registry.remove_custom(
        crd["spec"]["group"].as_str().unwrap_or(""),
        crd["spec"]["names"]["plural"].as_str().unwrap_or(""),
    );
}

/// Applies schema defaults and prunes unknown fields of a custom object.
pub fn default_and_prune(res: &ResourceInfo, obj: &mut Value) -> Vec<String> {
    let Some(schema) = &res.custom_schema else {
        return Vec::new();
    };
    let pruned = skiff_crd::prune(schema, obj);
    skiff_crd::apply_defaults(schema, obj);
    pruned
}

/// Validates a custom object against its schema.
pub fn validate_custom(res: &ResourceInfo, obj: &Value) -> Vec<FieldError> {
    match &res.custom_schema {
        Some(schema) => skiff_crd::validate(schema, obj)
            .into_iter()
            .map(field_error)
            .collect(),
        None => Vec::new(),
    }
}

/// Deletes every object of a CRD (all namespaces, all versions share one prefix).
pub async fn delete_instances(st: &Storage, crd: &Value) -> Result<(), ApiError> {
    for res in resources_of(crd).into_iter().take(1) {
        let prefix = keys::collection(&res, "");
        loop {
            let page = st
                .store
                .list(skiff_store::ListRequest {
                    prefix: prefix.clone(),
                    limit: 500,
                    ..Default::default()
                })
                .await
                .map_err(|e| ApiError::Unavailable(format!("storage is unavailable: {e}")))?;
            for kv in &page.kvs {
                let _ = st.store.delete(&kv.key, None).await;
            }
            if !page.more {
                break;
            }
        }
    }
    Ok(())
}

/// Registers every stored CRD (at start-up).
pub async fn load_all(st: &Storage) -> Result<(), ApiError> {
    let crds = st
        .registry
        .by_plural("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        .expect("invariant: CRDs are built in");
    for crd in st.list_all(&crds, "", &Default::default()).await? {
        register(&st.registry, &crd);
    }
    Ok(())
}
