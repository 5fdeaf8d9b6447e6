//! Read-only accessors over an `openAPIV3Schema` node held as JSON (tolerant of malformed input).

use serde_json::{Map, Value};

/// The `additionalProperties` of a schema node.
pub(crate) enum Additional<'a> {
    /// Not set.
    Absent,
    /// `true` or `false`.
    Bool(bool),
    /// A schema.
    Schema(&'a Value),
}

/// `s[key]` when `s` is an object.
pub(crate) fn get<'a>(s: &'a Value, key: &str) -> Option<&'a Value> {
    s.as_object().and_then(|m| m.get(key))
}

/// `s[key]` as a string, or "".
pub(crate) fn str_of<'a>(s: &'a Value, key: &str) -> &'a str {
    get(s, key).and_then(Value::as_str).unwrap_or("")
}

/// `s.type` ("" when unset).
pub(crate) fn ty(s: &Value) -> &str {
    str_of(s, "type")
}

/// Whether the boolean `s[key]` is true.
pub(crate) fn flag(s: &Value, key: &str) -> bool {
    get(s, key).and_then(Value::as_bool).unwrap_or(false)
}

/// `s.properties` when it is an object.
pub(crate) fn properties(s: &Value) -> Option<&Map<String, Value>> {
    get(s, "properties").and_then(Value::as_object)
}

/// `s.properties[name]`.
pub(crate) fn property<'a>(s: &'a Value, name: &str) -> Option<&'a Value> {
    properties(s).and_then(|p| p.get(name))
}

/// `s.items` when it is a single schema (an object).
pub(crate) fn items(s: &Value) -> Option<&Value> {
    get(s, "items").filter(|v| v.is_object())
}

/// `s.additionalProperties`.
pub(crate) fn additional(s: &Value) -> Additional<'_> {
    match get(s, "additionalProperties") {
        None | Some(Value::Null) => Additional::Absent,
        Some(Value::Bool(b)) => Additional::Bool(*b),
        Some(v) if v.is_object() => Additional::Schema(v),
        Some(_) => Additional::Absent,
    }
}

/// The schema of `additionalProperties` when it is one.
pub(crate) fn additional_schema(s: &Value) -> Option<&Value> {
    match additional(s) {
        Additional::Schema(v) => Some(v),
        _ => None,
    }
}

/// `s[key]` as an array of schema nodes (`allOf`, `anyOf`, `oneOf`).
pub(crate) fn list<'a>(s: &'a Value, key: &str) -> &'a [Value] {
    get(s, key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// `s[key]` as a list of strings (non-strings skipped).
pub(crate) fn strings<'a>(s: &'a Value, key: &str) -> Vec<&'a str> {
    list(s, key).iter().filter_map(Value::as_str).collect()
}

/// `s[key]` as a number.
pub(crate) fn num(s: &Value, key: &str) -> Option<f64> {
    get(s, key).and_then(Value::as_f64)
}

/// `s[key]` as a non-negative integer (large or fractional values saturate/truncate).
pub(crate) fn count(s: &Value, key: &str) -> Option<i64> {
    let v = get(s, key)?;
    v.as_i64()
        .or_else(|| v.as_u64().map(|_| i64::MAX))
        .or_else(|| v.as_f64().map(|f| f as i64))
}

/// Whether `s` has `default` set (to anything but null).
pub(crate) fn default_of(s: &Value) -> Option<&Value> {
    get(s, "default").filter(|v| !v.is_null())
}

/// Whether the node preserves unknown fields.
pub(crate) fn preserves(s: &Value) -> bool {
    flag(s, "x-kubernetes-preserve-unknown-fields")
}

/// Whether the node is an embedded resource.
pub(crate) fn embedded(s: &Value) -> bool {
    flag(s, "x-kubernetes-embedded-resource")
}

/// Whether the node is int-or-string.
pub(crate) fn int_or_string(s: &Value) -> bool {
    flag(s, "x-kubernetes-int-or-string")
}

/// The ObjectMeta fields kept by pruning and coercion.
pub(crate) const OBJECT_META_FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// TypeMeta and ObjectMeta: the fields a resource (root or embedded) always has.
pub(crate) const META_FIELDS: &[&str] = &["apiVersion", "kind", "metadata"];
