//! Value validation of a custom object against its `openAPIV3Schema`, following kube-openapi's
//! `SchemaValidator` (messages, paths, validator order) and the field-error mapping of
//! apiextensions-apiserver's `kubeOpenAPIResultToFieldErrors`.

use crate::error::{FieldError, FieldErrorKind, Path};
use crate::formats::{self, go_quote};
use crate::scalars::{check_number, check_string};
use crate::schema::{self as sc, Additional};
use serde_json::{Map, Value};

/// The kube-openapi error code, which decides the field-error kind.
#[derive(Debug, Clone)]
pub(crate) enum Code {
    Required,
    Enum(Vec<Value>),
    TooLong(i64),
    TooMany(i64, i64),
    InvalidType,
    Other,
    /// Not a `*Validation` (anyOf/oneOf/allOf/not): reported at the prefix with value "".
    Plain,
}

/// One kube-openapi error: the failing path (`spec.replicas`), code, value and message.
#[derive(Debug, Clone)]
pub(crate) struct OErr {
    name: String,
    code: Code,
    value: Value,
    message: String,
}

/// A validation result: errors plus kube-openapi's `MatchCount` (used to pick anyOf/oneOf failures).
#[derive(Debug, Default)]
pub(crate) struct Res {
    errors: Vec<OErr>,
    matches: usize,
}

impl Res {
    pub(crate) fn err(&mut self, name: &str, code: Code, value: Value, message: String) {
        self.errors.push(OErr {
            name: name.to_string(),
            code,
            value,
            message,
        });
    }
    fn merge(&mut self, other: Res) {
        self.errors.extend(other.errors);
        self.matches += other.matches;
    }
    fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Validates a custom object against its version's `openAPIV3Schema`: the schema's value
/// validation (root `apiVersion`/`kind` skipped, root `metadata` limited to `name`/`generateName`),
/// then embedded resources' TypeMeta/ObjectMeta, then `x-kubernetes-list-type` set/map uniqueness.
/// All errors are collected, in upstream's order.
pub fn validate(schema: &Value, obj: &Value) -> Vec<FieldError> {
    let root = Path::default();
    let mut errs = to_field_errors(&root, validate_value(schema, obj, true));
    errs.extend(crate::invariants::embedded_resources(&root, obj, schema));
    errs.extend(crate::invariants::list_sets_and_maps(&root, schema, obj));
    errs
}

/// Validates `data` against `schema` as kube-openapi does, with `root` marking the resource root
/// (where apiVersion/kind are skipped and only metadata.name/generateName are checked).
pub(crate) fn validate_value(schema: &Value, data: &Value, root: bool) -> Res {
    node(schema, data, "", root)
}

/// Maps kube-openapi errors to field errors under `prefix`, like `kubeOpenAPIResultToFieldErrors`.
pub(crate) fn to_field_errors(prefix: &Path, res: Res) -> Vec<FieldError> {
    res.errors
        .into_iter()
        .map(|e| {
            let field = match e.name.as_str() {
                "" | "." => prefix.clone(),
                n => prefix.child(n.strip_prefix('.').unwrap_or(n)),
            };
            match e.code {
                Code::Plain => FieldError::invalid(prefix, "", e.message),
                Code::Required => FieldError::required(field, ""),
                Code::Enum(values) => {
                    let supported = values
                        .iter()
                        .map(|v| match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect();
                    FieldError {
                        field: field.into(),
                        kind: FieldErrorKind::NotSupported(e.value, supported),
                        detail: String::new(),
                    }
                }
                Code::TooLong(max) => FieldError {
                    field: field.into(),
                    kind: FieldErrorKind::TooLong(usize::try_from(max).unwrap_or(0)),
                    detail: String::new(),
                },
                Code::TooMany(actual, max) => FieldError {
                    field: field.into(),
                    kind: FieldErrorKind::TooMany(
                        usize::try_from(actual).unwrap_or(0),
                        usize::try_from(max).unwrap_or(0),
                    ),
                    detail: String::new(),
                },
                Code::InvalidType | Code::Other => FieldError::invalid(field, e.value, e.message),
            }
        })
        .collect()
}

/// The JSON types a node accepts (`x-kubernetes-int-or-string` means integer and string).
fn types_of(s: &Value) -> Vec<&str> {
    if sc::int_or_string(s) {
        vec!["integer", "string"]
    } else {
        match sc::ty(s) {
            "" => vec![],
            t => vec![t],
        }
    }
}

fn type_message(path: &str, ty: &str, data: &str) -> String {
    format!("{path} in body must be of type {ty}: {}", go_quote(data))
}

/// kube-openapi's `IsFloat64AJSONInteger`.
pub(crate) fn is_json_integer(f: f64) -> bool {
    const MAX: f64 = 9_007_199_254_740_991.0;
    f.is_finite() && (-MAX..=MAX).contains(&f) && (f - f.round()).abs() < 1e-9
}

/// The data's JSON schema type and Go format (integers decode as int64, others as float64).
fn json_type(d: &Value) -> (&'static str, &'static str) {
    match d {
        Value::Null => ("null", ""),
        Value::Bool(_) => ("boolean", ""),
        Value::Number(n) if n.is_i64() => ("integer", "int64"),
        Value::Number(_) => ("number", "float64"),
        Value::String(_) => ("string", ""),
        Value::Array(_) => ("array", ""),
        Value::Object(_) => ("object", ""),
    }
}

fn node(s: &Value, d: &Value, path: &str, root: bool) -> Res {
    let mut res = Res::default();
    let types = types_of(s);
    let format = formats::effective(sc::str_of(s, "format"));
    if d.is_null() {
        if !types.is_empty() && !sc::flag(s, "nullable") {
            res.err(
                path,
                Code::InvalidType,
                "null".into(),
                type_message(path, &types.join(","), "null"),
            );
        }
        check_enum(s, d, path, &mut res);
        return res;
    }
    // Match counts mimic kube-openapi's `MatchCount`: every applied validator counts once, and
    // again for what it counted itself (type on success, schema props, number and slice always).
    if !types.is_empty() || !format.is_empty() {
        let before = res.errors.len();
        check_type(d, path, &types, format, &mut res);
        res.matches += if res.errors.len() == before { 2 } else { 1 };
    }
    res.merge(schema_props(s, d, path));
    res.matches += 2;
    if let Value::String(text) = d {
        check_string(s, text, path, &mut res);
        res.matches += 1;
        if !format.is_empty() {
            if !formats::is_valid(format, text) {
                res.err(
                    path,
                    Code::InvalidType,
                    d.clone(),
                    type_message(path, format, text),
                );
            }
            res.matches += 1;
        }
    }
    if d.is_number() {
        check_number(s, d, path, &mut res);
        res.matches += 2;
    }
    if let Value::Array(items) = d {
        res.merge(check_slice(s, items, path));
        res.matches += 2;
    }
    check_enum(s, d, path, &mut res);
    res.matches += 1;
    if let Value::Object(map) = d {
        res.merge(check_object(s, map, path, root));
        res.matches += 1;
    }
    res.matches += 1;
    res
}

fn check_type(d: &Value, path: &str, types: &[&str], format: &str, res: &mut Res) {
    let (sch, dfmt) = json_type(d);
    let has = |t: &str| types.contains(&t);
    let is_float_int = sch == "number" && d.as_f64().is_some_and(is_json_integer) && has("integer");
    let is_int_float = sch == "integer" && has("number");
    let str_or_slice = d.is_string() || d.is_array();
    let format_fits =
        format.is_empty() || has(sch) || dfmt == format || is_float_int || is_int_float;
    if !str_or_slice && !format_fits {
        res.err(
            path,
            Code::InvalidType,
            dfmt.into(),
            type_message(path, format, dfmt),
        );
        return;
    }
    let numeric = has("number") || has("integer");
    if str_or_slice && !format.is_empty() && !numeric {
        return;
    }
    if !(has(sch) || is_float_int || is_int_float) {
        res.err(
            path,
            Code::InvalidType,
            sch.into(),
            type_message(path, &types.join(","), sch),
        );
    }
}

fn schema_props(s: &Value, d: &Value, path: &str) -> Res {
    let mut main = Res::default();
    let q = go_quote(path);
    let any_of = sc::list(s, "anyOf");
    if !any_of.is_empty() {
        let mut best: Option<Res> = None;
        let mut succeeded = false;
        for branch in any_of {
            let r = node(branch, d, path, false);
            if r.is_valid() {
                succeeded = true;
                best = None;
                main.matches += r.matches;
                break;
            }
            if best.as_ref().is_none_or(|b| r.matches > b.matches) {
                best = Some(r);
            }
        }
        if !succeeded {
            main.err(
                path,
                Code::Plain,
                "".into(),
                format!("{q} must validate at least one schema (anyOf)"),
            );
        }
        if let Some(b) = best {
            main.merge(b);
        }
    }
    let one_of = sc::list(s, "oneOf");
    if !one_of.is_empty() {
        let mut best: Option<Res> = None;
        let mut validated = 0;
        for branch in one_of {
            let r = node(branch, d, path, false);
            if r.is_valid() {
                validated += 1;
                best = None;
                continue;
            }
            if validated == 0 && best.as_ref().is_none_or(|b| r.matches > b.matches) {
                best = Some(r);
            }
        }
        if validated != 1 {
            let extra = if validated == 0 {
                "Found none valid".to_string()
            } else {
                format!("Found {validated} valid alternatives")
            };
            main.err(
                path,
                Code::Plain,
                "".into(),
                format!("{q} must validate one and only one schema (oneOf). {extra}"),
            );
            if let Some(b) = best {
                main.merge(b);
            }
        }
    }
    let all_of = sc::list(s, "allOf");
    if !all_of.is_empty() {
        let mut validated = 0;
        for branch in all_of {
            let r = node(branch, d, path, false);
            if r.is_valid() {
                validated += 1;
            }
            main.merge(r);
        }
        if validated != all_of.len() {
            let extra = if validated == 0 {
                ". None validated"
            } else {
                ""
            };
            main.err(
                path,
                Code::Plain,
                "".into(),
                format!("{q} must validate all the schemas (allOf){extra}"),
            );
        }
    }
    if let Some(not) = sc::get(s, "not").filter(|v| v.is_object()) {
        if node(not, d, path, false).is_valid() {
            main.err(
                path,
                Code::Plain,
                "".into(),
                format!("{q} must not validate the schema (not)"),
            );
        }
    }
    main
}

fn check_slice(s: &Value, items: &[Value], path: &str) -> Res {
    let mut res = Res::default();
    if let Some(item_schema) = sc::items(s) {
        for (i, item) in items.iter().enumerate() {
            res.merge(node(item_schema, item, &format!("{path}[{i}]"), false));
        }
    }
    let size = i64::try_from(items.len()).unwrap_or(i64::MAX);
    if let Some(min) = sc::count(s, "minItems") {
        if size < min {
            let msg = format!("{path} in body should have at least {min} items");
            res.err(path, Code::Other, size.into(), msg);
        }
    }
    if let Some(max) = sc::count(s, "maxItems") {
        if size > max {
            let msg = format!("{path} in body should have at most {max} items");
            res.err(path, Code::TooMany(size, max), size.into(), msg);
        }
    }
    if sc::flag(s, "uniqueItems")
        && items
            .iter()
            .enumerate()
            .any(|(i, a)| items[..i].contains(a))
    {
        res.err(
            path,
            Code::Other,
            "".into(),
            format!("{path} in body shouldn't contain duplicates"),
        );
    }
    res
}

/// Enum membership with Go's numeric conversion (an integer matches an equal float).
fn enum_matches(candidate: &Value, d: &Value) -> bool {
    match (candidate, d) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

fn check_enum(s: &Value, d: &Value, path: &str, res: &mut Res) {
    let values = sc::list(s, "enum");
    if values.is_empty() || (!d.is_null() && values.iter().any(|c| enum_matches(c, d))) {
        return;
    }
    let shown: Vec<String> = values
        .iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    let msg = format!("{path} in body should be one of [{}]", shown.join(" "));
    res.err(path, Code::Enum(values.to_vec()), d.clone(), msg);
}

fn check_object(s: &Value, map: &Map<String, Value>, path: &str, root: bool) -> Res {
    let mut res = Res::default();
    let keys = i64::try_from(map.len()).unwrap_or(i64::MAX);
    if let Some(min) = sc::count(s, "minProperties") {
        if keys < min {
            let msg = format!("{path} in body should have at least {min} properties");
            res.err(path, Code::Other, keys.into(), msg);
            return res;
        }
    }
    if let Some(max) = sc::count(s, "maxProperties") {
        if keys > max {
            let msg = format!("{path} in body should have at most {max} properties");
            res.err(path, Code::TooMany(keys, max), keys.into(), msg);
            return res;
        }
    }
    let props = sc::properties(s);
    let declared = |k: &str| props.is_some_and(|p| p.contains_key(k));
    match sc::additional(s) {
        Additional::Bool(false) => {
            for k in map.keys().filter(|k| !declared(k)) {
                let msg = format!("{path}.{k} in body is a forbidden property");
                res.err(path, Code::Other, k.as_str().into(), msg);
            }
        }
        Additional::Schema(add) => {
            for (k, v) in map.iter().filter(|(k, _)| !declared(k)) {
                res.merge(node(add, v, &format!("{path}.{k}"), false));
            }
        }
        _ => {}
    }
    for (name, sub) in props.into_iter().flatten() {
        let Some(v) = map.get(name) else { continue };
        let child = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        if root && (name == "apiVersion" || name == "kind") {
            continue;
        }
        if root && name == "metadata" {
            for field in ["name", "generateName"] {
                if let (Some(fs), Some(fv)) = (sc::property(sub, field), v.get(field)) {
                    res.merge(node(fs, fv, &format!("metadata.{field}"), false));
                }
            }
            continue;
        }
        res.merge(node(sub, v, &child, false));
    }
    for k in sc::strings(s, "required") {
        if !map.contains_key(k) {
            res.err(
                &format!("{path}.{k}"),
                Code::Required,
                Value::Null,
                format!("{path}.{k} in body is required"),
            );
        }
    }
    res
}
