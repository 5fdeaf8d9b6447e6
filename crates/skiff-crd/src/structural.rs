//! Structural-schema rules (upstream's `schema.ValidateStructural`: invariants and completeness),
//! applied to an `openAPIV3Schema` held as JSON.

use crate::error::{FieldError, Path};
use crate::scalars::compile;
use crate::schema::{self as sc, Additional};
use serde_json::{json, Value};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Item,
    Field,
}

/// Why upstream's `NewStructural` would refuse the schema (then no structural errors are computed),
/// searching the whole tree.
pub(crate) fn unsupported(s: &Value) -> Option<&'static str> {
    if !s.is_object() {
        return None;
    }
    let present = |k: &str| sc::get(s, k).is_some_and(|v| !v.is_null());
    let non_empty = |k: &str| {
        sc::get(s, k)
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty())
    };
    if !sc::str_of(s, "id").is_empty() {
        return Some("id is unsupported");
    }
    if !sc::str_of(s, "$schema").is_empty() {
        return Some("$schema is unsupported");
    }
    if present("$ref") {
        return Some("$ref is unsupported");
    }
    if non_empty("definitions") {
        return Some("definitions is unsupported");
    }
    if present("additionalItems") {
        return Some("additionalItems cannot be set");
    }
    if non_empty("patternProperties") {
        return Some("patternProperties cannot be set");
    }
    if sc::get(s, "items")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        return Some("items must be a schema object and not an array");
    }
    if present("dependencies") {
        return Some("dependencies cannot be set");
    }
    let children = sc::properties(s)
        .into_iter()
        .flat_map(|m| m.values())
        .chain(sc::items(s))
        .chain(sc::additional_schema(s))
        .chain(sc::get(s, "not").filter(|v| v.is_object()))
        .chain(
            ["allOf", "anyOf", "oneOf"]
                .into_iter()
                .flat_map(|k| sc::list(s, k)),
        );
    children.into_iter().find_map(unsupported)
}

/// The structural errors of a schema at `path`, sorted like upstream (by message text).
pub(crate) fn validate_structural(path: &Path, s: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    invariants(s, Level::Root, path, &mut errs);
    completeness(s, s, path, path, &mut errs);
    errs.sort_by_cached_key(FieldError::sort_key);
    errs
}

fn int_or_string_any_of(s: &Value) -> bool {
    let any = sc::list(s, "anyOf");
    any.len() == 2 && any[0] == json!({"type": "integer"}) && any[1] == json!({"type": "string"})
}

fn int_or_string_all_of(s: &Value) -> bool {
    sc::list(s, "allOf")
        .first()
        .is_some_and(int_or_string_any_of)
}

fn invariants(s: &Value, lvl: Level, p: &Path, errs: &mut Vec<FieldError>) {
    if !s.is_object() {
        return;
    }
    let ty = sc::ty(s);
    if ty == "array" && sc::items(s).is_none() {
        errs.push(FieldError::required(p.child("items"), "must be specified"));
    }
    if let Some(items) = sc::items(s) {
        invariants(items, Level::Item, &p.child("items"), errs);
    }
    for (k, v) in sc::properties(s).into_iter().flatten() {
        invariants(v, Level::Field, &p.child("properties").key(k), errs);
    }
    let has_additional = !matches!(sc::additional(s), Additional::Absent);
    if has_additional {
        if lvl == Level::Root {
            errs.push(FieldError::forbidden(
                p.child("additionalProperties"),
                "must not be used at the root",
            ));
        }
        if let Some(a) = sc::additional_schema(s) {
            invariants(a, Level::Field, &p.child("additionalProperties"), errs);
        }
    }
    let (ios, preserve, embedded) = (sc::int_or_string(s), sc::preserves(s), sc::embedded(s));
    if ios && preserve {
        let detail = "must be false if x-kubernetes-int-or-string is true";
        errs.push(FieldError::invalid(
            p.child("x-kubernetes-preserve-unknown-fields"),
            true,
            detail,
        ));
    }
    if ios && embedded {
        let detail = "must be false if x-kubernetes-int-or-string is true";
        errs.push(FieldError::invalid(
            p.child("x-kubernetes-embedded-resource"),
            true,
            detail,
        ));
    }
    value_validation(s, int_or_string_any_of(s), int_or_string_all_of(s), p, errs);
    let check_metadata = lvl == Level::Root || embedded;
    if embedded && ty != "object" {
        let detail = "must be object if x-kubernetes-embedded-resource is true";
        errs.push(if ty.is_empty() {
            FieldError::required(p.child("type"), detail)
        } else {
            FieldError::invalid(p.child("type"), ty, detail)
        });
    } else if ty.is_empty() && !ios && !preserve {
        let detail = match lvl {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        errs.push(FieldError::required(p.child("type"), detail));
    }
    if embedded && has_additional {
        let detail = "must not be used if x-kubernetes-embedded-resource is set";
        errs.push(FieldError::forbidden(
            p.child("additionalProperties"),
            detail,
        ));
    }
    if lvl == Level::Root && !ty.is_empty() && ty != "object" {
        errs.push(FieldError::invalid(
            p.child("type"),
            ty,
            "must be object at the root",
        ));
    }
    for field in ["kind", "apiVersion"] {
        if let Some(f) = sc::property(s, field).filter(|_| check_metadata) {
            if sc::ty(f) != "string" {
                let fp = p.child("properties").key(field).child("type");
                errs.push(FieldError::invalid(fp, sc::ty(f), "must be string"));
            }
        }
    }
    if let Some(m) = sc::property(s, "metadata") {
        metadata_invariants(
            m,
            check_metadata,
            lvl,
            &p.child("properties").key("metadata"),
            errs,
        );
    }
    if embedded && !preserve && sc::properties(s).is_none_or(|m| m.is_empty()) {
        let detail = "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields";
        errs.push(FieldError::required(p.child("properties"), detail));
    }
}

/// Whether a schema key holds its Go zero value (then it does not count as specified).
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

fn metadata_invariants(m: &Value, check: bool, lvl: Level, p: &Path, errs: &mut Vec<FieldError>) {
    if check && sc::ty(m) != "object" {
        errs.push(FieldError::invalid(
            p.child("type"),
            sc::ty(m),
            "must be object",
        ));
    }
    if lvl != Level::Root {
        return;
    }
    let names_only = |props: &serde_json::Map<String, Value>| {
        let (name, generate) = (
            props.contains_key("name"),
            props.contains_key("generateName"),
        );
        (name && generate && props.len() == 2) || ((name || generate) && props.len() == 1)
    };
    let specified = m
        .as_object()
        .into_iter()
        .flatten()
        .any(|(k, v)| match k.as_str() {
            "type" | "default" => false,
            "properties" => v.as_object().is_none_or(|props| !names_only(props)) && !v.is_null(),
            _ => !is_zero(v),
        });
    if specified {
        let detail = "must not specify anything other than name and generateName, but metadata is implicitly specified";
        errs.push(FieldError::forbidden(p, detail));
    }
}

fn value_validation(
    s: &Value,
    skip_any_of: bool,
    skip_first_all_of_any_of: bool,
    p: &Path,
    errs: &mut Vec<FieldError>,
) {
    if !skip_any_of {
        for (i, v) in sc::list(s, "anyOf").iter().enumerate() {
            nested(v, false, &p.child("anyOf").index(i), errs);
        }
    }
    for (i, v) in sc::list(s, "allOf").iter().enumerate() {
        nested(
            v,
            skip_first_all_of_any_of && i == 0,
            &p.child("allOf").index(i),
            errs,
        );
    }
    for (i, v) in sc::list(s, "oneOf").iter().enumerate() {
        nested(v, false, &p.child("oneOf").index(i), errs);
    }
    if let Some(not) = sc::get(s, "not").filter(|v| v.is_object()) {
        nested(not, false, &p.child("not"), errs);
    }
    let pattern = sc::str_of(s, "pattern");
    if !pattern.is_empty() {
        if let Err(e) = compile(pattern) {
            let detail = format!("must be a valid regular expression, but isn't: {e}");
            errs.push(FieldError::invalid(p.child("pattern"), pattern, detail));
        }
    }
}

/// A schema under allOf/anyOf/oneOf/not: only value validations are allowed there.
fn nested(v: &Value, skip_any_of: bool, p: &Path, errs: &mut Vec<FieldError>) {
    if !v.is_object() {
        return;
    }
    value_validation(v, skip_any_of, false, p, errs);
    if let Some(items) = sc::items(v) {
        nested(items, false, &p.child("items"), errs);
    }
    for (k, f) in sc::properties(v).into_iter().flatten() {
        nested(f, false, &p.child("properties").key(k), errs);
    }
    let has = |k: &str| sc::get(v, k).is_some_and(|x| !is_zero(x));
    let rules: [(&str, &str); 14] = [
        ("type", "must be empty to be structural"),
        ("additionalProperties", "must be undefined to be structural"),
        ("default", "must be undefined to be structural"),
        ("title", "must be empty to be structural"),
        ("description", "must be empty to be structural"),
        ("nullable", "must be false to be structural"),
        ("externalDocs", "must be undefined to be structural"),
        (
            "x-kubernetes-preserve-unknown-fields",
            "must be false to be structural",
        ),
        (
            "x-kubernetes-embedded-resource",
            "must be false to be structural",
        ),
        (
            "x-kubernetes-int-or-string",
            "must be false to be structural",
        ),
        (
            "x-kubernetes-list-map-keys",
            "must be empty to be structural",
        ),
        (
            "x-kubernetes-list-type",
            "must be undefined to be structural",
        ),
        (
            "x-kubernetes-map-type",
            "must be undefined to be structural",
        ),
        ("x-kubernetes-validations", "must be empty to be structural"),
    ];
    for (key, detail) in rules {
        let set = match key {
            "x-kubernetes-list-map-keys" | "x-kubernetes-validations" => sc::get(v, key)
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty()),
            "additionalProperties" => !matches!(sc::additional(v), Additional::Absent),
            "default" => sc::default_of(v).is_some(),
            _ => has(key),
        };
        if set {
            errs.push(FieldError::forbidden(p.child(key), detail));
        }
    }
    if sc::property(v, "metadata").is_some() {
        let fp = p.child("properties").key("metadata");
        errs.push(FieldError::forbidden(
            fp,
            "must not be specified in a nested context",
        ));
    }
}

/// Completeness: every field or item a value validation (allOf/anyOf/oneOf/not) talks about must
/// be specified structurally too. Upstream checks the root's value validation.
fn completeness(v: &Value, s: &Value, s_path: &Path, v_path: &Path, errs: &mut Vec<FieldError>) {
    if let Some(not) = sc::get(v, "not").filter(|x| x.is_object()) {
        nested_completeness(not, Some(s), s_path, &v_path.child("not"), errs);
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        for (i, x) in sc::list(v, key).iter().enumerate() {
            nested_completeness(x, Some(s), s_path, &v_path.child(key).index(i), errs);
        }
    }
}

fn nested_completeness(
    v: &Value,
    s: Option<&Value>,
    s_path: &Path,
    v_path: &Path,
    errs: &mut Vec<FieldError>,
) {
    if !v.is_object() {
        return;
    }
    let Some(s) = s else {
        errs.push(FieldError::required(
            s_path,
            format!("because it is defined in {v_path}"),
        ));
        return;
    };
    completeness(v, s, s_path, v_path, errs);
    if let Some(items) = sc::items(v) {
        nested_completeness(
            items,
            sc::items(s),
            &s_path.child("items"),
            &v_path.child("items"),
            errs,
        );
    }
    for (k, f) in sc::properties(v).into_iter().flatten() {
        let sp = s_path.child("properties").key(k);
        let vp = v_path.child("properties").key(k);
        match sc::property(s, k) {
            Some(sf) => nested_completeness(f, Some(sf), &sp, &vp, errs),
            None => errs.push(FieldError::required(
                sp,
                format!("because it is defined in {vp}"),
            )),
        }
    }
}
