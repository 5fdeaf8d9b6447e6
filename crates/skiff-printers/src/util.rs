//! Small readers over plain JSON objects (missing or mistyped fields read as empty), and the
//! formatting helpers upstream's printers share: labels, label selectors, container lists.

use serde_json::{Map, Value};

/// The value at a `/`-separated JSON pointer, if any.
pub fn at<'a>(v: &'a Value, pointer: &str) -> Option<&'a Value> {
    v.pointer(pointer)
}

/// A string field, `""` when missing or not a string.
pub fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    at(v, pointer).and_then(Value::as_str).unwrap_or("")
}

/// An optional string field.
pub fn opt_s<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    at(v, pointer).and_then(Value::as_str)
}

/// An integer field (floats truncated), 0 when missing.
pub fn i(v: &Value, pointer: &str) -> i64 {
    opt_i(v, pointer).unwrap_or(0)
}

/// An optional integer field.
pub fn opt_i(v: &Value, pointer: &str) -> Option<i64> {
    let x = at(v, pointer)?;
    x.as_i64().or_else(|| x.as_f64().map(|f| f as i64))
}

/// A boolean field, false when missing.
pub fn b(v: &Value, pointer: &str) -> bool {
    at(v, pointer).and_then(Value::as_bool).unwrap_or(false)
}

/// An array field, empty when missing.
pub fn arr<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    at(v, pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// An object field, if present.
pub fn obj<'a>(v: &'a Value, pointer: &str) -> Option<&'a Map<String, Value>> {
    at(v, pointer).and_then(Value::as_object)
}

/// The number of keys of an object field.
pub fn len_obj(v: &Value, pointer: &str) -> i64 {
    obj(v, pointer).map_or(0, |m| m.len() as i64)
}

/// The object's name.
pub fn name(v: &Value) -> String {
    s(v, "/metadata/name").to_string()
}

/// True when `metadata.deletionTimestamp` is set.
pub fn deleting(v: &Value) -> bool {
    at(v, "/metadata/deletionTimestamp").is_some_and(|t| !t.is_null())
}

/// `"<none>"` for an empty string.
pub fn or_none(x: &str) -> String {
    if x.is_empty() {
        "<none>".into()
    } else {
        x.to_string()
    }
}

/// A scalar as text: strings as-is, numbers and booleans printed, anything else empty.
pub fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

/// A quantity as `Quantity.String()` prints it; stored quantities are already strings, a
/// missing one is zero.
pub fn quantity(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "0".into(),
    }
}

/// `labels.FormatLabels`: `k=v` pairs sorted by key, comma-joined; `<none>` when empty.
pub fn format_labels(m: Option<&Map<String, Value>>) -> String {
    let mut pairs: Vec<(String, String)> = m
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), text(Some(v))))
        .collect();
    if pairs.is_empty() {
        return "<none>".into();
    }
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `LabelSelectorAsSelector(sel).String()`: requirements sorted by key. `None` when the selector
/// is invalid; an empty or missing selector gives `""`.
pub fn selector_string(sel: Option<&Value>) -> Option<String> {
    let Some(sel) = sel.filter(|s| s.is_object()) else {
        return Some(String::new());
    };
    let mut reqs: Vec<(String, String)> = Vec::new();
    if let Some(ml) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in ml {
            reqs.push((k.clone(), format!("{k}={}", text(Some(v)))));
        }
    }
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e.get("key").and_then(Value::as_str).unwrap_or("");
        let mut values: Vec<String> = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|v| text(Some(v)))
            .collect();
        values.sort();
        let r = match e.get("operator").and_then(Value::as_str).unwrap_or("") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            _ => return None,
        };
        reqs.push((key.to_string(), r));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    Some(reqs.into_iter().map(|r| r.1).collect::<Vec<_>>().join(","))
}

/// `metav1.FormatLabelSelector`: like [`selector_string`] but `<none>` when empty and
/// `<error>` when invalid.
pub fn format_label_selector(sel: Option<&Value>) -> String {
    match selector_string(sel) {
        None => "<error>".into(),
        Some(s) if s.is_empty() => "<none>".into(),
        Some(s) => s,
    }
}

/// `layoutContainerCells`: container names and images, comma-joined.
pub fn containers(list: &[Value]) -> (String, String) {
    let names: Vec<&str> = list.iter().map(|c| s(c, "/name")).collect();
    let images: Vec<&str> = list.iter().map(|c| s(c, "/image")).collect();
    (names.join(","), images.join(","))
}

/// `printBoolPtr`: `True`, `False` or `<unset>`.
pub fn bool_ptr(v: Option<&Value>) -> String {
    match v.and_then(Value::as_bool) {
        Some(true) => "True".into(),
        Some(false) => "False".into(),
        None => "<unset>".into(),
    }
}

/// The status (`"True"`, ...) of the first condition of `kind` in a conditions list.
pub fn condition_status<'a>(conditions: &'a [Value], kind: &str) -> Option<&'a str> {
    conditions
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
        .map(|c| c.get("status").and_then(Value::as_str).unwrap_or(""))
}

/// Upstream's `listWithMoreString`: `a,b,c + 2 more...`, or `<unset>` when empty.
pub fn list_with_more(list: &[String], count: usize, max: usize) -> String {
    let ret = list.join(",");
    if count > max {
        return format!("{ret} + {} more...", count - max);
    }
    if ret.is_empty() {
        "<unset>".into()
    } else {
        ret
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors_format_like_upstream() {
        let sel = json!({
            "matchLabels": { "b": "2", "a": "1" },
            "matchExpressions": [
                { "key": "env", "operator": "In", "values": ["prod", "dev"] },
                { "key": "gone", "operator": "DoesNotExist" },
            ],
        });
        assert_eq!(
            format_label_selector(Some(&sel)),
            "a=1,b=2,env in (dev,prod),!gone"
        );
        assert_eq!(format_label_selector(Some(&json!({}))), "<none>");
        assert_eq!(format_label_selector(None), "<none>");
        assert_eq!(
            format_label_selector(Some(
                &json!({ "matchExpressions": [{ "key": "k", "operator": "Bad" }] })
            )),
            "<error>"
        );
        assert_eq!(
            format_labels(json!({ "z": "1", "a": "2" }).as_object()),
            "a=2,z=1"
        );
        assert_eq!(format_labels(None), "<none>");
    }
}
