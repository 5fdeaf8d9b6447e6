//! The schemas of a resource's kind and list kind: built-ins from k8s-openapi, custom resources
//! from their CRD's `openAPIV3Schema` (with `metadata` pointing at `ObjectMeta`), list kinds
//! built the way upstream's are.

use crate::builtin_types::{self, gvk_ext, LIST_META, OBJECT_META};
use crate::normalize::{self, V3_REF};
use serde_json::{json, Map, Value};
use skiff_api::ResourceInfo;

const API_VERSION_DESC: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND_DESC: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";
const METADATA_DESC: &str = "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const LIST_METADATA_DESC: &str = "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// The CRD schema of a custom resource: from `custom` (keyed by group, version, kind), else the
/// one the resource carries.
pub fn crd_schema<'a>(
    res: &'a ResourceInfo,
    custom: &'a crate::CustomSchemas,
) -> Option<&'a Value> {
    custom
        .get(&(res.group.clone(), res.version.clone(), res.kind.clone()))
        .or(res.custom_schema.as_deref())
}

/// The definition name of a resource's list kind: the kind's definition with its last segment
/// replaced (`io.k8s.api.apps.v1.Deployment` → `io.k8s.api.apps.v1.DeploymentList`).
pub fn list_definition(res: &ResourceInfo) -> String {
    match res.definition.rsplit_once('.') {
        Some((prefix, _)) => format!("{prefix}.{}", res.list_kind),
        None => res.list_kind.clone(),
    }
}

fn ref_with(name: &str, description: &str) -> Value {
    json!({ "allOf": [{ "$ref": format!("{V3_REF}{name}") }], "description": description })
}

/// The kind schema of a resource. Built-ins come from the generated definitions; custom
/// resources from `crd_schema` (their `openAPIV3Schema`); anything unknown gets an open object.
pub fn kind_schema(res: &ResourceInfo, crd_schema: Option<&Value>) -> Value {
    if !res.custom {
        if let Some(def) = builtin_types::definitions().get(&res.definition) {
            let mut def = def.clone();
            if let Value::Object(m) = &mut def {
                m.insert(
                    "x-kubernetes-group-version-kind".into(),
                    gvk_ext(&res.group, &res.version, &res.kind),
                );
            }
            return def;
        }
    }
    let mut schema = match crd_schema {
        Some(s @ Value::Object(_)) => s.clone(),
        _ => json!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true }),
    };
    normalize::schema_v3(&mut schema);
    let Value::Object(m) = &mut schema else {
        return schema;
    };
    m.insert("type".into(), "object".into());
    let props = m
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    if !props.is_object() {
        *props = Value::Object(Map::new());
    }
    if let Value::Object(p) = props {
        p.insert(
            "apiVersion".into(),
            json!({ "description": API_VERSION_DESC, "type": "string" }),
        );
        p.insert(
            "kind".into(),
            json!({ "description": KIND_DESC, "type": "string" }),
        );
        p.insert("metadata".into(), ref_with(OBJECT_META, METADATA_DESC));
        p.sort_keys();
    }
    normalize::drop_required_metadata(m);
    m.insert(
        "x-kubernetes-group-version-kind".into(),
        gvk_ext(&res.group, &res.version, &res.kind),
    );
    schema
}

/// The list kind schema of a resource.
pub fn list_schema(res: &ResourceInfo) -> Value {
    json!({
        "description": format!("{} is a list of {}", res.list_kind, res.kind),
        "properties": {
            "apiVersion": { "description": API_VERSION_DESC, "type": "string" },
            "items": {
                "description": format!("List of {}. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md", res.plural),
                "items": { "$ref": format!("{V3_REF}{}", res.definition) },
                "type": "array",
            },
            "kind": { "description": KIND_DESC, "type": "string" },
            "metadata": ref_with(LIST_META, LIST_METADATA_DESC),
        },
        "required": ["items"],
        "type": "object",
        "x-kubernetes-group-version-kind": gvk_ext(&res.group, &res.version, &res.list_kind),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::Scope;

    fn crontab() -> ResourceInfo {
        let mut r = skiff_api::Registry::builtin()
            .by_plural("apps", "v1", "deployments")
            .unwrap()
            .as_ref()
            .clone();
        r.group = "stable.example.com".into();
        r.kind = "CronTab".into();
        r.list_kind = "CronTabList".into();
        r.plural = "crontabs".into();
        r.definition = "com.example.stable.v1.CronTab".into();
        r.custom = true;
        r.scope = Scope::Namespaced;
        r
    }

    #[test]
    fn custom_schema_gets_meta_and_gvk() {
        let r = crontab();
        let s = kind_schema(
            &r,
            Some(&json!({
                "type": "object",
                "properties": { "spec": { "type": "object", "properties": { "cronSpec": { "type": "string" } } }, "metadata": { "type": "object" } },
                "required": ["metadata", "spec"],
            })),
        );
        assert_eq!(
            s["properties"]["metadata"]["allOf"][0]["$ref"],
            format!("{V3_REF}{OBJECT_META}")
        );
        assert_eq!(
            s["properties"]["spec"]["properties"]["cronSpec"]["type"],
            "string"
        );
        assert_eq!(s["required"], json!(["spec"]));
        assert_eq!(
            s["x-kubernetes-group-version-kind"],
            json!([{ "group": "stable.example.com", "kind": "CronTab", "version": "v1" }])
        );
        assert_eq!(list_definition(&r), "com.example.stable.v1.CronTabList");
        assert_eq!(list_schema(&r)["items"], Value::Null);
        assert_eq!(list_schema(&r)["required"], json!(["items"]));
    }
}
