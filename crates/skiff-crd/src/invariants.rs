//! Checks that run after schema validation, as upstream's custom-resource strategy does:
//! embedded resources' TypeMeta/ObjectMeta (`schema/objectmeta`) and `x-kubernetes-list-type`
//! set/map uniqueness (`schema/listtype`).

use crate::error::{FieldError, Path};
use crate::names;
use crate::schema as sc;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Validates every `x-kubernetes-embedded-resource` object found in `x` (not the root itself).
pub(crate) fn embedded_resources(pth: &Path, x: &Value, s: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    walk_embedded(pth, x, s, &mut errs);
    errs
}

fn walk_embedded(pth: &Path, x: &Value, s: &Value, errs: &mut Vec<FieldError>) {
    match x {
        Value::Object(m) => {
            if sc::embedded(s) {
                embedded_meta(pth, m, errs);
            }
            for (k, v) in m {
                if let Some(p) = sc::property(s, k) {
                    walk_embedded(&pth.child(k), v, p, errs);
                } else if let Some(a) = sc::additional_schema(s) {
                    walk_embedded(&pth.key(k), v, a, errs);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = sc::items(s) {
                for (i, v) in items.iter().enumerate() {
                    walk_embedded(&pth.index(i), v, item, errs);
                }
            }
        }
        _ => {}
    }
}

fn go_json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// apiVersion and kind are required; metadata, when present, must be valid ObjectMeta.
fn embedded_meta(pth: &Path, x: &Map<String, Value>, errs: &mut Vec<FieldError>) {
    for k in ["apiVersion", "kind"] {
        if !x.contains_key(k) {
            errs.push(FieldError::required(pth.child(k), ""));
        }
    }
    for (k, v) in x {
        match k.as_str() {
            "apiVersion" => match v.as_str() {
                None => errs.push(FieldError::invalid(
                    pth.child(k),
                    v.clone(),
                    "must be a string",
                )),
                Some("") => errs.push(FieldError::required(pth.child(k), "")),
                Some(av) if av.matches('/').count() > 1 => errs.push(FieldError::invalid(
                    pth.child(k),
                    av,
                    format!("unexpected GroupVersion string: {av}"),
                )),
                Some(_) => {}
            },
            "kind" => match v.as_str() {
                None => errs.push(FieldError::invalid(
                    pth.child(k),
                    v.clone(),
                    "must be a string",
                )),
                Some("") => errs.push(FieldError::required(pth.child(k), "")),
                Some(kind) => {
                    let e = names::dns1035_label(&kind.to_lowercase());
                    if !e.is_empty() {
                        let detail = format!(
                            "may have mixed case, but should otherwise match: {}",
                            e.join(",")
                        );
                        errs.push(FieldError::invalid(pth.child(k), kind, detail));
                    }
                }
            },
            "metadata" => object_meta(&pth.child(k), v, errs),
            _ => {}
        }
    }
}

/// The parts of `ValidateObjectMeta` that apply to embedded metadata: decodability, name and
/// generateName as path segments, namespace as a DNS-1123 label.
fn object_meta(pth: &Path, v: &Value, errs: &mut Vec<FieldError>) {
    let m = match v {
        Value::Null => return,
        Value::Object(m) => m,
        other => {
            let t = go_json_type(other);
            let detail = format!("json: cannot unmarshal {t} into Go value of type v1.ObjectMeta");
            errs.push(FieldError::invalid(pth, other.clone(), detail));
            return;
        }
    };
    for (field, want_string) in [
        ("name", true),
        ("generateName", true),
        ("namespace", true),
        ("labels", false),
    ] {
        let Some(fv) = m.get(field).filter(|x| !x.is_null()) else {
            continue;
        };
        let ok = if want_string {
            fv.is_string()
        } else {
            fv.as_object()
                .is_some_and(|o| o.values().all(Value::is_string))
        };
        if !ok {
            let go_type = if want_string {
                "string"
            } else {
                "map[string]string"
            };
            let t = go_json_type(fv);
            let detail = format!("json: cannot unmarshal {t} into Go struct field ObjectMeta.{field} of type {go_type}");
            errs.push(FieldError::invalid(pth, v.clone(), detail));
            return;
        }
    }
    let text = |f: &str| m.get(f).and_then(Value::as_str).unwrap_or("");
    let name = text("name");
    if !name.is_empty() {
        for msg in names::path_segment(name) {
            errs.push(FieldError::invalid(pth.child("name"), name, msg));
        }
    }
    let generate = text("generateName");
    if !generate.is_empty() {
        for msg in names::path_segment(generate) {
            errs.push(FieldError::invalid(
                pth.child("generateName"),
                generate,
                msg,
            ));
        }
    }
    let ns = text("namespace");
    if !ns.is_empty() {
        for msg in names::dns1123_label(ns) {
            errs.push(FieldError::invalid(pth.child("namespace"), ns, msg));
        }
    }
}

/// Validates `x-kubernetes-list-type: set` (unique items) and `map` (unique keys) everywhere in `x`.
pub(crate) fn list_sets_and_maps(pth: &Path, s: &Value, x: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Value::Object(m) = x {
        walk_object(pth, s, m, &mut errs);
    }
    errs
}

fn walk_object(pth: &Path, s: &Value, m: &Map<String, Value>, errs: &mut Vec<FieldError>) {
    if let Some(a) = sc::additional_schema(s) {
        for (k, v) in m {
            walk_lists(&pth.key(k), a, v, errs);
        }
    }
    if sc::properties(s).is_some() {
        for (k, v) in m {
            if let Some(p) = sc::property(s, k) {
                walk_lists(&pth.child(k), p, v, errs);
            }
        }
    }
}

fn walk_lists(pth: &Path, s: &Value, x: &Value, errs: &mut Vec<FieldError>) {
    match x {
        Value::Array(items) => {
            match sc::str_of(s, "x-kubernetes-list-type") {
                "set" => {
                    for i in non_unique(items.iter().map(canonical)) {
                        errs.push(FieldError::duplicate(pth.index(i), items[i].clone()));
                    }
                }
                "map" => list_map(pth, s, items, errs),
                _ => {}
            }
            if let Some(item) = sc::items(s) {
                for (i, v) in items.iter().enumerate() {
                    walk_lists(&pth.index(i), item, v, errs);
                }
            }
        }
        Value::Object(m) => walk_object(pth, s, m, errs),
        _ => {}
    }
}

fn list_map(pth: &Path, s: &Value, items: &[Value], errs: &mut Vec<FieldError>) {
    if let Some(i) = items.iter().position(|x| !x.is_null() && !x.is_object()) {
        let detail = "must be an object for an array of list-type map";
        errs.push(FieldError::invalid(pth.index(i), items[i].clone(), detail));
        return;
    }
    let key_fields = sc::strings(s, "x-kubernetes-list-map-keys");
    // One key value per item: the present key fields (an absent single key is "unspecified").
    let keys: Vec<(Map<String, Value>, String)> = items
        .iter()
        .map(|x| {
            let mut key = Map::new();
            for f in &key_fields {
                if let Some(v) = x.get(*f) {
                    key.insert((*f).to_string(), v.clone());
                }
            }
            let canon = if key_fields.len() == 1 && key.is_empty() {
                "\u{0}unspecified".to_string()
            } else {
                canonical(&Value::Object(key.clone()))
            };
            (key, canon)
        })
        .collect();
    for i in non_unique(keys.iter().map(|(_, c)| c.clone())) {
        errs.push(FieldError::duplicate(
            pth.index(i),
            Value::Object(keys[i].0.clone()),
        ));
    }
}

/// Indices of the second appearance of each repeated value (later repeats are not reported).
fn non_unique(values: impl Iterator<Item = String>) -> Vec<usize> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for (i, v) in values.enumerate() {
        let times = seen.entry(v).or_insert(0);
        *times += 1;
        if *times == 2 {
            out.push(i);
        }
    }
    out
}

/// A canonical text of a JSON value (object keys sorted), for identity comparison.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical(&m[k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}
