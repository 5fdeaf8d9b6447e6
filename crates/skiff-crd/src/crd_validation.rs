//! Validation of a CustomResourceDefinition object (upstream's `ValidateCustomResourceDefinition`).
//!
//! Upstream validates the internal type, into which a v1 CRD is converted by folding per-version
//! `schema`, `subresources` and `additionalPrinterColumns` to the top level when all versions carry
//! identical values. Error paths follow that: a single-version CRD's schema errors are reported
//! under `spec.validation.openAPIV3Schema`, differing schemas under `spec.versions[i].schema`.

use crate::crd_parts::{approval, columns, conversion, subresources};
use crate::crd_update::{update_checks, APPROVAL_POINTER};
use crate::default_check::validate_defaults;
use crate::defaults::default_crd;
use crate::error::{FieldError, Path};
use crate::names::{dns1035_label, dns1123_subdomain};
use crate::schema as sc;
use crate::schema_rules::{validate_schema, Ctx};
use crate::structural::{unsupported, validate_structural};
use serde_json::Value;

/// Validates a CustomResourceDefinition (JSON, `apiextensions.k8s.io/v1`) on create or update:
/// the name is `<plural>.<group>`, the group is a DNS subdomain with a dot, names, scope, versions
/// (unique names, exactly one storage version), structural schemas and their defaults,
/// subresources, printer columns, conversion and the API-approval annotation of protected groups.
/// The CRD is defaulted first (as upstream decodes it), so a missing singular or listKind is fine.
pub fn validate_crd(crd: &Value) -> Vec<FieldError> {
    validate_crd_with(crd, None)
}

/// [`validate_crd`] for a create (`old` is None) or an update of `old` (already stored).
pub(crate) fn validate_crd_with(crd: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut crd = crd.clone();
    default_crd(&mut crd);
    let spec = crd.get("spec").unwrap_or(&Value::Null);
    let mut errs = Vec::new();
    let names = spec.get("names").unwrap_or(&Value::Null);
    let required_name = format!(
        "{}.{}",
        sc::str_of(names, "plural"),
        sc::str_of(spec, "group")
    );
    let meta = crd.get("metadata").unwrap_or(&Value::Null);
    let (name, generate) = (sc::str_of(meta, "name"), sc::str_of(meta, "generateName"));
    let detail = r#"must be spec.names.plural+"."+spec.group"#;
    if !name.is_empty() && name != required_name {
        errs.push(FieldError::invalid("metadata.name", name, detail));
    } else if name.is_empty() && !generate.is_empty() && generate != required_name {
        errs.push(FieldError::invalid(
            "metadata.generateName",
            generate,
            detail,
        ));
    }
    errs.extend(validate_spec(spec, &Path::new("spec")));
    if let Some(old) = old {
        errs.extend(update_checks(&crd, old));
    }
    let old_annotation = |o: &Value| o.pointer(APPROVAL_POINTER).cloned();
    if old.is_none_or(|o| old_annotation(o) != old_annotation(&crd)) {
        errs.extend(approval(&crd));
    }
    let old_preserves =
        old.is_some_and(|o| o.pointer("/spec/preserveUnknownFields") == Some(&Value::Bool(true)));
    if sc::flag(spec, "preserveUnknownFields") && !old_preserves {
        let detail = "cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead";
        errs.push(FieldError::invalid(
            "spec.preserveUnknownFields",
            true,
            detail,
        ));
    }
    errs
}

/// A per-version field folded to the top level when every version has the same value.
struct Folded<'a> {
    top: Option<&'a Value>,
    per_version: Vec<Option<&'a Value>>,
}

fn fold<'a>(versions: &'a [Value], key: &str, empty: fn(&Value) -> bool) -> Folded<'a> {
    let values: Vec<Option<&Value>> = versions
        .iter()
        .map(|v| sc::get(v, key).filter(|x| !empty(x)))
        .collect();
    let identical = values
        .first()
        .is_some_and(|first| values.iter().all(|v| v == first));
    if identical {
        Folded {
            top: values[0],
            per_version: vec![None; versions.len()],
        }
    } else {
        Folded {
            top: None,
            per_version: values,
        }
    }
}

/// The `openAPIV3Schema` of a `schema` object, when set.
fn open_api(s: Option<&Value>) -> Option<&Value> {
    s.and_then(|s| sc::get(s, "openAPIV3Schema"))
        .filter(|s| !s.is_null())
}

fn has_status(subresources: Option<&Value>) -> bool {
    subresources
        .and_then(|s| sc::get(s, "status"))
        .is_some_and(|s| !s.is_null())
}

fn any_schema_has(schemas: &[Option<&Value>], pred: &dyn Fn(&Value) -> bool) -> bool {
    fn walk(s: &Value, pred: &dyn Fn(&Value) -> bool) -> bool {
        if !s.is_object() {
            return false;
        }
        pred(s)
            || sc::properties(s)
                .into_iter()
                .flatten()
                .any(|(_, v)| walk(v, pred))
            || sc::get(s, "items").is_some_and(|i| match i {
                Value::Array(a) => a.iter().any(|x| walk(x, pred)),
                other => walk(other, pred),
            })
            || sc::additional_schema(s).is_some_and(|a| walk(a, pred))
            || sc::get(s, "not").is_some_and(|n| walk(n, pred))
            || ["allOf", "anyOf", "oneOf"]
                .iter()
                .any(|k| sc::list(s, k).iter().any(|x| walk(x, pred)))
    }
    schemas.iter().flatten().any(|s| walk(s, pred))
}

fn validate_spec(spec: &Value, p: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let group = sc::str_of(spec, "group");
    if group.is_empty() {
        errs.push(FieldError::required(p.child("group"), ""));
    } else if let e @ [_, ..] = dns1123_subdomain(group).as_slice() {
        errs.push(FieldError::invalid(p.child("group"), group, e.join(",")));
    } else if !group.contains('.') {
        errs.push(FieldError::invalid(
            p.child("group"),
            group,
            "should be a domain with at least one dot",
        ));
    }
    let scope = sc::str_of(spec, "scope");
    if scope.is_empty() {
        errs.push(FieldError::required(p.child("scope"), ""));
    } else if scope != "Cluster" && scope != "Namespaced" {
        errs.push(FieldError::not_supported(
            p.child("scope"),
            scope,
            &["Cluster", "Namespaced"],
        ));
    }

    let versions = sc::list(spec, "versions");
    let schema = fold(versions, "schema", Value::is_null);
    let subs = fold(versions, "subresources", Value::is_null);
    let cols = fold(versions, "additionalPrinterColumns", |v| {
        v.is_null() || v.as_array().is_some_and(Vec::is_empty)
    });

    if open_api(schema.top).is_none() {
        for i in (0..versions.len()).filter(|&i| open_api(schema.per_version[i]).is_none()) {
            let fp = p
                .child("versions")
                .index(i)
                .child("schema")
                .child("openAPIV3Schema");
            errs.push(FieldError::required(fp, "schemas are required"));
        }
    }
    let all_schemas: Vec<Option<&Value>> = std::iter::once(open_api(schema.top))
        .chain(schema.per_version.iter().map(|s| open_api(*s)))
        .collect();
    if sc::flag(spec, "preserveUnknownFields")
        && any_schema_has(&all_schemas, &|s| sc::default_of(s).is_some())
    {
        let detail = "must be false in order to use defaults in the schema";
        errs.push(FieldError::invalid(
            p.child("preserveUnknownFields"),
            true,
            detail,
        ));
    }

    let mut storage = 0;
    let mut seen: Vec<&str> = Vec::new();
    let mut unique = true;
    for (i, v) in versions.iter().enumerate() {
        let vp = p.child("versions").index(i);
        let name = sc::str_of(v, "name");
        if sc::flag(v, "storage") {
            storage += 1;
        }
        if seen.contains(&name) {
            unique = false;
        } else {
            seen.push(name);
        }
        if let e @ [_, ..] = dns1035_label(name).as_slice() {
            errs.push(FieldError::invalid(vp.child("name"), name, e.join(",")));
        }
        deprecation_warning(v, &vp, &mut errs);
        let version_subs = if subs.per_version.iter().any(Option::is_some) {
            subs.per_version[i]
        } else {
            subs.top
        };
        validation(
            schema.per_version[i],
            has_status(version_subs),
            &vp.child("schema"),
            &mut errs,
        );
        errs.extend(subresources(subs.per_version[i], &vp.child("subresources")));
        if let Some(list) = cols.per_version[i].and_then(Value::as_array) {
            for (j, c) in list.iter().enumerate() {
                errs.extend(columns(c, &vp.child("additionalPrinterColumns").index(j)));
            }
        }
    }
    let versions_value = Value::Array(versions.to_vec());
    if !unique {
        errs.push(FieldError::invalid(
            p.child("versions"),
            versions_value.clone(),
            "must contain unique version names",
        ));
    }
    if storage != 1 {
        let detail = "must have exactly one version marked as storage version";
        errs.push(FieldError::invalid(
            p.child("versions"),
            versions_value,
            detail,
        ));
    }
    if let Some(first) = versions
        .first()
        .map(|v| sc::str_of(v, "name"))
        .filter(|n| !n.is_empty())
    {
        if let e @ [_, ..] = dns1035_label(first).as_slice() {
            errs.push(FieldError::invalid(p.child("version"), first, e.join(",")));
        }
    }

    let names = spec.get("names").unwrap_or(&Value::Null);
    for field in ["plural", "singular", "kind", "listKind"] {
        if sc::str_of(names, field).is_empty() {
            errs.push(FieldError::required(p.child("names").child(field), ""));
        }
    }
    validate_names(names, &p.child("names"), &mut errs);
    let any_status = has_status(subs.top) || subs.per_version.iter().any(|s| has_status(*s));
    validation(schema.top, any_status, &p.child("validation"), &mut errs);
    errs.extend(subresources(subs.top, &p.child("subresources")));
    if let Some(list) = cols.top.and_then(Value::as_array) {
        for (j, c) in list.iter().enumerate() {
            errs.extend(columns(c, &p.child("additionalPrinterColumns").index(j)));
        }
    }
    let strategy = spec
        .pointer("/conversion/strategy")
        .and_then(Value::as_str)
        .unwrap_or("");
    if strategy != "None" && sc::flag(spec, "preserveUnknownFields") {
        let fp = p.child("conversion").child("strategy");
        errs.push(FieldError::invalid(
            fp,
            strategy,
            "must be None if spec.preserveUnknownFields is true",
        ));
    }
    errs.extend(conversion(spec.get("conversion"), &p.child("conversion")));
    errs
}

fn deprecation_warning(v: &Value, vp: &Path, errs: &mut Vec<FieldError>) {
    let Some(warning) = sc::get(v, "deprecationWarning").and_then(Value::as_str) else {
        return;
    };
    let fp = vp.child("deprecationWarning");
    if !sc::flag(v, "deprecated") {
        errs.push(FieldError::invalid(
            fp,
            warning,
            "can only be set for deprecated versions",
        ));
        return;
    }
    if warning.len() > 256 {
        errs.push(FieldError::invalid(
            fp.clone(),
            warning,
            "must be <= 256 characters long",
        ));
    }
    if warning.is_empty() {
        errs.push(FieldError::invalid(
            fp.clone(),
            warning,
            "must not be an empty string",
        ));
    }
    if let Some((i, c)) = warning
        .char_indices()
        .find(|(_, c)| c.is_control() || !is_printable(*c))
    {
        let what = if c.is_control() && is_printable(c) {
            "control"
        } else {
            "non-printable"
        };
        let detail = format!(
            "must only contain printable UTF-8 characters; {what} character found at index {i}"
        );
        errs.push(FieldError::invalid(fp, warning, detail));
    }
}

/// Go's `unicode.IsPrint`, approximately: letters, marks, numbers, punctuation, symbols and ASCII space.
fn is_printable(c: char) -> bool {
    c == ' ' || !(c.is_control() || c.is_whitespace() || ('\u{e000}'..='\u{f8ff}').contains(&c))
}

/// Upstream's `ValidateCustomResourceDefinitionNames`.
fn validate_names(names: &Value, p: &Path, errs: &mut Vec<FieldError>) {
    for field in ["plural", "singular"] {
        let v = sc::str_of(names, field);
        if let e @ [_, ..] = dns1035_label(v).as_slice() {
            if !v.is_empty() {
                errs.push(FieldError::invalid(p.child(field), v, e.join(",")));
            }
        }
    }
    for field in ["kind", "listKind"] {
        let v = sc::str_of(names, field);
        if let e @ [_, ..] = dns1035_label(&v.to_lowercase()).as_slice() {
            if !v.is_empty() {
                let detail = format!(
                    "may have mixed case, but should otherwise match: {}",
                    e.join(",")
                );
                errs.push(FieldError::invalid(p.child(field), v, detail));
            }
        }
    }
    for (i, short) in sc::list(names, "shortNames").iter().enumerate() {
        let v = short.as_str().unwrap_or("");
        if let e @ [_, ..] = dns1035_label(v).as_slice() {
            errs.push(FieldError::invalid(
                p.child("shortNames").index(i),
                v,
                e.join(","),
            ));
        }
    }
    let (kind, list_kind) = (sc::str_of(names, "kind"), sc::str_of(names, "listKind"));
    if !kind.is_empty() && kind == list_kind {
        errs.push(FieldError::invalid(
            p.child("listKind"),
            list_kind,
            "kind and listKind may not be the same",
        ));
    }
    for (i, category) in sc::list(names, "categories").iter().enumerate() {
        let v = category.as_str().unwrap_or("");
        if let e @ [_, ..] = dns1035_label(v).as_slice() {
            errs.push(FieldError::invalid(
                p.child("categories").index(i),
                v,
                e.join(","),
            ));
        }
    }
}

/// Schema fields (JSON key, Go field name) in the order of upstream's `JSONSchemaProps`.
const SCHEMA_FIELDS: &[(&str, &str)] = &[
    ("id", "ID"),
    ("$schema", "Schema"),
    ("$ref", "Ref"),
    ("description", "Description"),
    ("type", "Type"),
    ("format", "Format"),
    ("title", "Title"),
    ("default", "Default"),
    ("maximum", "Maximum"),
    ("exclusiveMaximum", "ExclusiveMaximum"),
    ("minimum", "Minimum"),
    ("exclusiveMinimum", "ExclusiveMinimum"),
    ("maxLength", "MaxLength"),
    ("minLength", "MinLength"),
    ("pattern", "Pattern"),
    ("maxItems", "MaxItems"),
    ("minItems", "MinItems"),
    ("uniqueItems", "UniqueItems"),
    ("multipleOf", "MultipleOf"),
    ("enum", "Enum"),
    ("maxProperties", "MaxProperties"),
    ("minProperties", "MinProperties"),
    ("required", "Required"),
    ("items", "Items"),
    ("allOf", "AllOf"),
    ("oneOf", "OneOf"),
    ("anyOf", "AnyOf"),
    ("not", "Not"),
    ("properties", "Properties"),
    ("additionalProperties", "AdditionalProperties"),
    ("patternProperties", "PatternProperties"),
    ("dependencies", "Dependencies"),
    ("additionalItems", "AdditionalItems"),
    ("definitions", "Definitions"),
    ("externalDocs", "ExternalDocs"),
    ("example", "Example"),
    ("nullable", "Nullable"),
    (
        "x-kubernetes-preserve-unknown-fields",
        "XPreserveUnknownFields",
    ),
    ("x-kubernetes-embedded-resource", "XEmbeddedResource"),
    ("x-kubernetes-int-or-string", "XIntOrString"),
    ("x-kubernetes-list-map-keys", "XListMapKeys"),
    ("x-kubernetes-list-type", "XListType"),
    ("x-kubernetes-map-type", "XMapType"),
    ("x-kubernetes-validations", "XValidations"),
];

const ALLOWED_AT_STATUS_ROOT: &[&str] = &[
    "Description",
    "Type",
    "Format",
    "Title",
    "Maximum",
    "ExclusiveMaximum",
    "Minimum",
    "ExclusiveMinimum",
    "MaxLength",
    "MinLength",
    "Pattern",
    "MaxItems",
    "MinItems",
    "UniqueItems",
    "MultipleOf",
    "Required",
    "Items",
    "Properties",
    "ExternalDocs",
    "Example",
    "XPreserveUnknownFields",
    "XValidations",
];

/// With the status subresource, only some keywords may appear at the schema root.
fn status_root(s: &Value, p: &Path, errs: &mut Vec<FieldError>) {
    for (json_key, go_name) in SCHEMA_FIELDS {
        let Some(v) = sc::get(s, json_key) else {
            continue;
        };
        if matches!(v, Value::Null | Value::Bool(false)) || v.as_str() == Some("") {
            continue;
        }
        if *go_name == "Type" {
            if sc::ty(s) != "object" {
                let detail = r#"only "object" is allowed as the type at the root of the schema if the status subresource is enabled"#;
                errs.push(FieldError::invalid(
                    p.child("openAPIV3Schema.type"),
                    sc::ty(s),
                    detail,
                ));
                break;
            }
            continue;
        }
        if !ALLOWED_AT_STATUS_ROOT.contains(go_name) {
            let detail = format!(
                "only [{}] fields are allowed at the root of the schema if the status subresource is enabled",
                ALLOWED_AT_STATUS_ROOT.join(" ")
            );
            errs.push(FieldError::invalid(
                p.child("openAPIV3Schema"),
                s.clone(),
                detail,
            ));
            break;
        }
    }
}

/// Upstream's `validateCustomResourceDefinitionValidation` for a `schema` object at `p`.
fn validation(
    container: Option<&Value>,
    status_enabled: bool,
    p: &Path,
    errs: &mut Vec<FieldError>,
) {
    let Some(s) = container
        .and_then(|c| sc::get(c, "openAPIV3Schema"))
        .filter(|s| !s.is_null())
    else {
        return;
    };
    let before = errs.len();
    if status_enabled {
        status_root(s, p, errs);
    }
    if sc::flag(s, "nullable") {
        errs.push(FieldError::forbidden(
            p.child("openAPIV3Schema.nullable"),
            "nullable cannot be true at the root",
        ));
    }
    let sp = p.child("openAPIV3Schema");
    let mut init_error = None;
    match unsupported(s) {
        Some(reason) => init_error = Some(FieldError::invalid(sp.clone(), "", reason)),
        None => {
            let structural = validate_structural(&sp, s);
            if structural.is_empty() {
                errs.extend(validate_defaults(&sp, s));
            } else {
                errs.extend(structural);
            }
        }
    }
    validate_schema(s, &sp, &Ctx::default(), true, errs);
    if errs.len() == before {
        errs.extend(init_error);
    }
}
