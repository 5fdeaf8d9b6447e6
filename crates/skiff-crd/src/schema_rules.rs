//! Per-node rules for a CRD's `openAPIV3Schema` (upstream's `ValidateCustomResourceDefinitionOpenAPISchema`
//! with the v3 `specStandardValidator`): unsupported keywords, defaults placement, list/map types
//! and `x-kubernetes-validations` shape (CEL itself is not compiled).

use crate::error::{FieldError, Path};
use crate::schema::{self as sc, Additional, META_FIELDS};
use serde_json::Value;

const OPENAPI_TYPES: &[&str] = &["array", "boolean", "integer", "number", "object", "string"];

/// Where in the schema tree the walk is.
#[derive(Clone, Default)]
pub(crate) struct Ctx {
    /// Defaults are forbidden here, for this reason (None: allowed).
    pub(crate) defaults_forbidden: Option<String>,
    /// Inside TypeMeta/ObjectMeta of the root or an embedded resource.
    pub(crate) inside_meta: bool,
}

impl Ctx {
    fn forbid_defaults(&self, reason: String) -> Ctx {
        Ctx {
            defaults_forbidden: Some(reason),
            ..self.clone()
        }
    }
}

/// Validates schema node `s` at path `p` and everything below it.
pub(crate) fn validate_schema(
    s: &Value,
    p: &Path,
    ctx: &Ctx,
    is_root: bool,
    errs: &mut Vec<FieldError>,
) {
    if !s.is_object() {
        return;
    }
    standard(s, p, ctx, errs);
    if sc::flag(s, "uniqueItems") {
        let detail =
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic";
        errs.push(FieldError::forbidden(p.child("uniqueItems"), detail));
    }
    let has_props = sc::properties(s).is_some_and(|m| !m.is_empty());
    match sc::additional(s) {
        Additional::Absent => {}
        additional => {
            if has_props && !matches!(additional, Additional::Bool(true)) {
                let detail = "additionalProperties and properties are mutual exclusive";
                errs.push(FieldError::forbidden(
                    p.child("additionalProperties"),
                    detail,
                ));
            }
            if let Additional::Schema(a) = additional {
                let sub = if ctx.inside_meta {
                    ctx.forbid_defaults(
                        "inside additionalProperties applying to object metadata".into(),
                    )
                } else {
                    ctx.clone()
                };
                validate_schema(a, &p.child("additionalProperties"), &sub, false, errs);
            }
        }
    }
    for (k, v) in sc::properties(s).into_iter().flatten() {
        let mut sub = ctx.clone();
        if (is_root || sc::embedded(s)) && META_FIELDS.contains(&k.as_str()) {
            sub.inside_meta = true;
            if is_root {
                sub = sub.forbid_defaults(format!("in top-level {k}"));
            }
        }
        validate_schema(v, &p.child("properties").key(k), &sub, false, errs);
    }
    if let Some(not) = sc::get(s, "not") {
        validate_schema(not, &p.child("not"), ctx, false, errs);
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        for (i, v) in sc::list(s, key).iter().enumerate() {
            validate_schema(v, &p.child(key).index(i), ctx, false, errs);
        }
    }
    for (k, v) in sc::get(s, "definitions")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        validate_schema(v, &p.child("definitions").key(k), ctx, false, errs);
    }
    match sc::get(s, "items") {
        Some(Value::Array(list)) => {
            for (i, v) in list.iter().enumerate() {
                validate_schema(v, &p.child("items").index(i), ctx, false, errs);
            }
        }
        Some(items) => validate_schema(items, &p.child("items"), ctx, false, errs),
        None => {}
    }
    for (k, v) in sc::get(s, "dependencies")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        validate_schema(v, &p.child("dependencies").key(k), ctx, false, errs);
    }
    extensions(s, p, errs);
    validations(s, p, errs);
}

/// The v3 `specStandardValidator.validate` checks of one node.
fn standard(s: &Value, p: &Path, ctx: &Ctx, errs: &mut Vec<FieldError>) {
    let ty = sc::ty(s);
    if !ty.is_empty() && !OPENAPI_TYPES.contains(&ty) {
        errs.push(FieldError::not_supported(
            p.child("type"),
            ty,
            OPENAPI_TYPES,
        ));
    }
    if let (Some(_), Some(reason)) = (sc::default_of(s), &ctx.defaults_forbidden) {
        errs.push(FieldError::forbidden(
            p.child("default"),
            format!("must not be set {reason}"),
        ));
    }
    let present = |k: &str| sc::get(s, k).is_some_and(|v| !v.is_null());
    let non_empty = |k: &str| {
        sc::get(s, k)
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty())
    };
    if !sc::str_of(s, "id").is_empty() {
        errs.push(FieldError::forbidden(p.child("id"), "id is not supported"));
    }
    if present("additionalItems") {
        errs.push(FieldError::forbidden(
            p.child("additionalItems"),
            "additionalItems is not supported",
        ));
    }
    if non_empty("patternProperties") {
        errs.push(FieldError::forbidden(
            p.child("patternProperties"),
            "patternProperties is not supported",
        ));
    }
    if non_empty("definitions") {
        errs.push(FieldError::forbidden(
            p.child("definitions"),
            "definitions is not supported",
        ));
    }
    if present("dependencies") {
        errs.push(FieldError::forbidden(
            p.child("dependencies"),
            "dependencies is not supported",
        ));
    }
    if present("$ref") {
        errs.push(FieldError::forbidden(
            p.child("$ref"),
            "$ref is not supported",
        ));
    }
    if ty == "null" {
        let detail = "type cannot be set to null, use nullable as an alternative";
        errs.push(FieldError::forbidden(p.child("type"), detail));
    }
    if sc::get(s, "items")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        let detail = "items must be a schema object and not an array";
        errs.push(FieldError::forbidden(p.child("items"), detail));
    }
    if ctx.inside_meta && sc::embedded(s) {
        let detail = "must not be used inside of resource meta";
        errs.push(FieldError::forbidden(
            p.child("x-kubernetes-embedded-resource"),
            detail,
        ));
    }
}

fn required_or_invalid(p: Path, value: &str, detail: &str) -> FieldError {
    if value.is_empty() {
        FieldError::required(p, detail)
    } else {
        FieldError::invalid(p, value, detail)
    }
}

/// x-kubernetes-preserve-unknown-fields, -map-type, -list-type and -list-map-keys rules.
fn extensions(s: &Value, p: &Path, errs: &mut Vec<FieldError>) {
    let ty = sc::ty(s);
    if sc::get(s, "x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(false)) {
        let fp = p.child("x-kubernetes-preserve-unknown-fields");
        errs.push(FieldError::invalid(fp, false, "must be true or undefined"));
    }
    let map_type = sc::get(s, "x-kubernetes-map-type").and_then(Value::as_str);
    if let Some(mt) = map_type {
        if ty != "object" {
            errs.push(required_or_invalid(
                p.child("type"),
                ty,
                "must be object if x-kubernetes-map-type is specified",
            ));
        }
        if mt != "atomic" && mt != "granular" {
            errs.push(FieldError::not_supported(
                p.child("x-kubernetes-map-type"),
                mt,
                &["atomic", "granular"],
            ));
        }
    }
    let list_type = sc::get(s, "x-kubernetes-list-type").and_then(Value::as_str);
    let items = sc::items(s);
    if list_type.is_some() && ty != "array" {
        errs.push(required_or_invalid(
            p.child("type"),
            ty,
            "must be array if x-kubernetes-list-type is specified",
        ));
    } else if let (Some("set"), Some(is)) = (list_type, items) {
        let detail = "must be atomic as item of a list with x-kubernetes-list-type=set";
        let item_list_type = sc::get(is, "x-kubernetes-list-type")
            .cloned()
            .unwrap_or(Value::Null);
        match sc::ty(is) {
            "array" if !item_list_type.is_null() && item_list_type != "atomic" => {
                let fp = p.child("items").child("x-kubernetes-list-type");
                errs.push(FieldError::invalid(fp, item_list_type, detail));
            }
            "object" if sc::str_of(is, "x-kubernetes-map-type") != "atomic" => {
                let fp = p.child("items").child("x-kubernetes-map-type");
                errs.push(FieldError::invalid(fp, item_list_type, detail));
            }
            _ => {}
        }
    }
    if let Some(lt) = list_type.filter(|lt| !["atomic", "set", "map"].contains(lt)) {
        errs.push(FieldError::not_supported(
            p.child("x-kubernetes-list-type"),
            lt,
            &["atomic", "set", "map"],
        ));
    }
    let keys = sc::strings(s, "x-kubernetes-list-map-keys");
    let keys_value = sc::get(s, "x-kubernetes-list-map-keys")
        .cloned()
        .unwrap_or(Value::Null);
    if !keys.is_empty() && list_type != Some("map") {
        let detail = "must be map if x-kubernetes-list-map-keys is non-empty";
        errs.push(required_or_invalid(
            p.child("x-kubernetes-list-type"),
            list_type.unwrap_or(""),
            detail,
        ));
    }
    if list_type == Some("map") {
        if keys.is_empty() {
            let detail = "must not be empty if x-kubernetes-list-type is map";
            errs.push(FieldError::required(
                p.child("x-kubernetes-list-map-keys"),
                detail,
            ));
        }
        match sc::get(s, "items") {
            None | Some(Value::Null) => {
                let detail = "must have a schema if x-kubernetes-list-type is map";
                errs.push(FieldError::required(p.child("items"), detail));
            }
            Some(Value::Array(a)) => {
                let detail = "must only have a single schema if x-kubernetes-list-type is map";
                errs.push(FieldError::invalid(
                    p.child("items"),
                    Value::Array(a.clone()),
                    detail,
                ));
            }
            Some(is) if sc::ty(is) != "object" => {
                let detail = "must be object if parent array's x-kubernetes-list-type is map";
                errs.push(FieldError::invalid(
                    p.child("items").child("type"),
                    sc::ty(is),
                    detail,
                ));
            }
            Some(is) => {
                let mut seen = Vec::new();
                for k in &keys {
                    match sc::property(is, k) {
                        Some(prop) if matches!(sc::ty(prop), "array" | "object") => {
                            let fp = p.child("items").child("properties").key(k).child("type");
                            let detail = "must be a scalar type if parent array's x-kubernetes-list-type is map";
                            errs.push(FieldError::invalid(fp, sc::ty(is), detail));
                        }
                        Some(_) => {}
                        None => {
                            let detail = "entries must all be names of item properties";
                            let fp = p.child("x-kubernetes-list-map-keys");
                            errs.push(FieldError::invalid(fp, keys_value.clone(), detail));
                        }
                    }
                    if seen.contains(k) {
                        let fp = p.child("x-kubernetes-list-map-keys");
                        errs.push(FieldError::invalid(
                            fp,
                            keys_value.clone(),
                            "must not contain duplicate entries",
                        ));
                    }
                    seen.push(k);
                }
            }
        }
    }
    map_list_keys_map_set(s, list_type, &keys, p, errs);
}

/// Items of set/map lists are not nullable; map keys are required or defaulted, never nullable.
fn map_list_keys_map_set(
    s: &Value,
    list_type: Option<&str>,
    keys: &[&str],
    p: &Path,
    errs: &mut Vec<FieldError>,
) {
    let (Some(is), Some(lt)) = (sc::items(s), list_type) else {
        return;
    };
    if lt != "set" && lt != "map" {
        return;
    }
    if sc::flag(is, "nullable") {
        let detail = format!("cannot be nullable when x-kubernetes-list-type is {lt}");
        errs.push(FieldError::forbidden(
            p.child("items").child("nullable"),
            detail,
        ));
    }
    if lt != "map" {
        return;
    }
    let required = sc::strings(is, "required");
    for k in keys {
        let Some(prop) = sc::property(is, k) else {
            continue;
        };
        let kp = p.child("items").child("properties").key(k);
        if !required.contains(k) && sc::default_of(prop).is_none() {
            let detail = "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property";
            errs.push(FieldError::required(kp.child("default"), detail));
        }
        if sc::flag(prop, "nullable") {
            let detail = "this property is in x-kubernetes-list-map-keys, so it cannot be nullable";
            errs.push(FieldError::forbidden(kp.child("nullable"), detail));
        }
    }
}

/// The shape of `x-kubernetes-validations` entries (rules are not compiled).
fn validations(s: &Value, p: &Path, errs: &mut Vec<FieldError>) {
    let newline = |t: &str| t.contains(['\n', '\r']);
    for (i, rule) in sc::list(s, "x-kubernetes-validations").iter().enumerate() {
        let rp = p.child("x-kubernetes-validations").index(i);
        let text = sc::str_of(rule, "rule").trim();
        let message = sc::str_of(rule, "message");
        let trimmed = message.trim();
        if text.is_empty() {
            errs.push(FieldError::required(
                rp.child("rule"),
                "rule is not specified",
            ));
        } else if !message.is_empty() && trimmed.is_empty() {
            errs.push(FieldError::invalid(
                rp.child("message"),
                message,
                "message must be non-empty if specified",
            ));
        } else if newline(trimmed) {
            errs.push(FieldError::invalid(
                rp.child("message"),
                message,
                "message must not contain line breaks",
            ));
        } else if newline(text) && trimmed.is_empty() {
            let detail = "message must be specified if rule contains line breaks";
            errs.push(FieldError::required(rp.child("message"), detail));
        }
    }
}
