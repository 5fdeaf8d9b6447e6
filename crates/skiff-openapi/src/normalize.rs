//! Rewrites JSON Schemas into the dialects kube-apiserver serves: OpenAPI 3.0 (what kube-openapi
//! emits for `/openapi/v3`) and Swagger 2.0 (for `/openapi/v2`). Walks are keyword-aware, so a
//! *property* named `$ref` or `$schema` (as in `JSONSchemaProps`) is never mistaken for a keyword.

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Prefix of v3 component refs.
pub const V3_REF: &str = "#/components/schemas/";
/// Prefix of v2 definition refs.
pub const V2_REF: &str = "#/definitions/";

const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";

/// Keywords whose value is a single subschema.
const SINGLE: &[&str] = &["items", "not", "additionalProperties", "additionalItems"];
/// Keywords whose value is a list of subschemas.
const LISTS: &[&str] = &["allOf", "anyOf", "oneOf"];
/// Keywords whose value is a map of subschemas.
const MAPS: &[&str] = &["properties", "patternProperties"];

/// Applies `f` to every direct subschema of `schema`.
fn for_each_subschema(schema: &mut Map<String, Value>, f: &mut dyn FnMut(&mut Value)) {
    for k in SINGLE {
        if let Some(v) = schema.get_mut(*k) {
            match v {
                Value::Array(items) if *k == "items" => items.iter_mut().for_each(&mut *f),
                Value::Object(_) => f(v),
                _ => {}
            }
        }
    }
    for k in LISTS {
        if let Some(Value::Array(items)) = schema.get_mut(*k) {
            items.iter_mut().for_each(&mut *f);
        }
    }
    for k in MAPS {
        if let Some(Value::Object(m)) = schema.get_mut(*k) {
            m.values_mut().for_each(&mut *f);
        }
    }
}

/// Normalises one schema to OpenAPI 3.0 as kube-openapi writes it: no `$schema`/`$defs`/`const`,
/// no type lists (`nullable` instead), `$ref` alone or wrapped as `allOf: [{$ref}]` when it has
/// siblings, `example` instead of `examples`, boolean exclusive bounds.
pub fn schema_v3(schema: &mut Value) {
    match schema {
        Value::Bool(true) => *schema = json!({}),
        Value::Bool(false) => *schema = json!({ "not": {} }),
        Value::Object(obj) => {
            for k in ["$schema", "$id", "$defs", "definitions", "$comment"] {
                obj.remove(k);
            }
            if let Some(c) = obj.remove("const") {
                obj.insert("enum".into(), Value::Array(vec![c]));
            }
            if let Some(Value::Array(ex)) = obj.remove("examples") {
                if let Some(first) = ex.into_iter().next() {
                    obj.insert("example".into(), first);
                }
            }
            fix_type_list(obj);
            for (bound, plain) in [
                ("exclusiveMinimum", "minimum"),
                ("exclusiveMaximum", "maximum"),
            ] {
                if let Some(n @ Value::Number(_)) = obj.get(bound).cloned() {
                    obj.insert(plain.into(), n);
                    obj.insert(bound.into(), Value::Bool(true));
                }
            }
            if obj.len() > 1 {
                if let Some(r) = obj.remove("$ref") {
                    let all = obj
                        .entry("allOf")
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if let Value::Array(a) = all {
                        a.insert(0, json!({ "$ref": r }));
                    }
                }
            }
            if let Some(Value::Array(items)) = obj.get("items") {
                // Tuple forms do not exist in OpenAPI 3.0: keep the first item schema.
                let first = items.first().cloned().unwrap_or_else(|| json!({}));
                obj.insert("items".into(), first);
            }
            for_each_subschema(obj, &mut |s| {
                // `additionalProperties: true/false` stays boolean; other booleans become schemas.
                if !s.is_boolean() {
                    schema_v3(s);
                }
            });
            for k in ["items", "not"] {
                if let Some(v) = obj.get_mut(k) {
                    if v.is_boolean() {
                        schema_v3(v);
                    }
                }
            }
            for k in LISTS {
                if let Some(Value::Array(items)) = obj.get_mut(*k) {
                    items
                        .iter_mut()
                        .filter(|s| s.is_boolean())
                        .for_each(schema_v3);
                }
            }
            for k in MAPS {
                if let Some(Value::Object(m)) = obj.get_mut(*k) {
                    m.values_mut()
                        .filter(|s| s.is_boolean())
                        .for_each(schema_v3);
                }
            }
        }
        _ => {}
    }
}

/// `type: ["string", "null"]` becomes `type: string, nullable: true`; other lists are dropped.
fn fix_type_list(obj: &mut Map<String, Value>) {
    let Some(Value::Array(types)) = obj.get("type").cloned() else {
        return;
    };
    let nullable = types.iter().any(|t| t == "null");
    let rest: Vec<Value> = types.into_iter().filter(|t| t != "null").collect();
    if rest.len() == 1 {
        obj.insert("type".into(), rest[0].clone());
    } else {
        obj.remove("type");
    }
    if nullable {
        obj.insert("nullable".into(), Value::Bool(true));
    }
}

/// Replaces the few definitions k8s-openapi describes differently from kube-openapi's v3 output
/// (`Quantity`, `IntOrString`).
pub fn upstream_special_forms(defs: &mut BTreeMap<String, Value>) {
    if let Some(q) = defs.get_mut(QUANTITY) {
        let desc = q.get("description").cloned().unwrap_or_default();
        *q = json!({ "description": desc, "oneOf": [{ "type": "string" }, { "type": "number" }] });
    }
    if let Some(i) = defs.get_mut(INT_OR_STRING) {
        let desc = i.get("description").cloned().unwrap_or_default();
        *i = json!({
            "description": desc,
            "format": "int-or-string",
            "oneOf": [{ "type": "integer" }, { "type": "string" }],
        });
    }
}

/// k8s-openapi marks `metadata` required on kinds (its field is not optional); upstream does not.
pub fn drop_required_metadata(def: &mut Map<String, Value>) {
    if let Some(Value::Array(req)) = def.get_mut("required") {
        req.retain(|r| r != "metadata");
        if req.is_empty() {
            def.remove("required");
        }
    }
}

/// Every definition name referenced (`$ref: #/components/schemas/<name>`) anywhere inside `v`.
pub fn refs_in(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, val) in m {
                match (k.as_str(), val) {
                    ("$ref", Value::String(r)) => {
                        if let Some(name) = r.strip_prefix(V3_REF) {
                            out.push(unescape_pointer(name));
                        }
                    }
                    _ => refs_in(val, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs_in(x, out)),
        _ => {}
    }
}

fn unescape_pointer(s: &str) -> String {
    s.replace("~1", "/").replace("~0", "~")
}

/// Converts a v3 schema (as produced by [`schema_v3`]) into Swagger 2.0 form: `#/definitions/`
/// refs, `allOf: [{$ref}]` unwrapped to `$ref` with siblings (as upstream's swagger.json has),
/// no `nullable`, `oneOf`/`anyOf`/`not`, which Swagger 2.0 lacks.
pub fn schema_v2(def_name: Option<&str>, schema: &Value) -> Value {
    let mut s = schema.clone();
    match def_name {
        Some(QUANTITY) => {
            return json!({ "description": schema.get("description").cloned().unwrap_or_default(), "type": "string" })
        }
        Some(INT_OR_STRING) => {
            return json!({
                "description": schema.get("description").cloned().unwrap_or_default(),
                "format": "int-or-string",
                "type": "string",
            })
        }
        _ => {}
    }
    to_v2(&mut s);
    s
}

fn to_v2(schema: &mut Value) {
    let Value::Object(obj) = schema else { return };
    for k in [
        "nullable",
        "oneOf",
        "anyOf",
        "not",
        "deprecated",
        "writeOnly",
    ] {
        obj.remove(k);
    }
    if let Some(Value::String(r)) = obj.get("$ref").cloned() {
        if let Some(name) = r.strip_prefix(V3_REF) {
            obj.insert("$ref".into(), Value::String(format!("{V2_REF}{name}")));
        }
    }
    for_each_subschema(obj, &mut to_v2);
    if let Some(Value::Array(all)) = obj.get("allOf") {
        if all.len() == 1 && all[0].get("$ref").is_some() && !obj.contains_key("$ref") {
            let r = all[0]["$ref"].clone();
            obj.remove("allOf");
            obj.insert("$ref".into(), r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_rewrites_type_lists_const_and_ref_siblings() {
        let mut s = json!({
            "$schema": "x",
            "type": "object",
            "properties": {
                "a": { "type": ["string", "null"] },
                "b": { "const": "x" },
                "c": { "$ref": "#/components/schemas/X", "description": "d" },
                "$ref": { "type": "string" },
            },
            "additionalProperties": true,
        });
        schema_v3(&mut s);
        assert_eq!(
            s,
            json!({
                "type": "object",
                "properties": {
                    "a": { "type": "string", "nullable": true },
                    "b": { "enum": ["x"] },
                    "c": { "description": "d", "allOf": [{ "$ref": "#/components/schemas/X" }] },
                    "$ref": { "type": "string" },
                },
                "additionalProperties": true,
            })
        );
    }

    #[test]
    fn v2_unwraps_single_allof_and_rewrites_refs() {
        let s = json!({
            "properties": { "m": { "allOf": [{ "$ref": "#/components/schemas/M" }], "description": "d", "nullable": true } },
        });
        assert_eq!(
            schema_v2(None, &s),
            json!({ "properties": { "m": { "$ref": "#/definitions/M", "description": "d" } } })
        );
    }

    #[test]
    fn refs_are_collected_but_ref_named_properties_are_not() {
        let s = json!({ "properties": { "$ref": { "type": "string" }, "x": { "items": { "$ref": "#/components/schemas/A" } } } });
        let mut out = Vec::new();
        refs_in(&s, &mut out);
        assert_eq!(out, vec!["A".to_string()]);
    }
}
