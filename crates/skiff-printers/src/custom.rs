//! Custom resources: columns from the CRD version's `additionalPrinterColumns` (default
//! `Age`), cells converted as apiextensions' table convertor does (`integer`, `number`,
//! `boolean`, `string` printed like kubectl's JSONPath, `date` as an age).

use crate::age::human_between;
use crate::column::{name_col, Column, AGE_DESC};
use crate::jsonpath;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// One additional printer column.
struct Apc {
    column: Column,
    path: Option<jsonpath::Path>,
}

fn default_apc() -> Value {
    json!([{ "name": "Age", "type": "date", "description": AGE_DESC, "jsonPath": ".metadata.creationTimestamp" }])
}

fn apcs(defs: Option<&Value>) -> Vec<Apc> {
    let given = defs.and_then(Value::as_array).filter(|a| !a.is_empty());
    let fallback = default_apc();
    let list = given.unwrap_or_else(|| fallback.as_array().expect("literal array"));
    list.iter()
        .map(|d| {
            let path_str = d.get("jsonPath").and_then(Value::as_str).unwrap_or("");
            let desc = match d.get("description").and_then(Value::as_str) {
                Some(x) if !x.is_empty() => x.to_string(),
                _ => format!("Custom resource definition column (in JSONPath format): {path_str}"),
            };
            let text = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            Apc {
                column: Column {
                    name: text("name"),
                    type_: text("type"),
                    format: text("format"),
                    description: desc,
                    priority: d.get("priority").and_then(Value::as_i64).unwrap_or(0) as i32,
                },
                path: jsonpath::parse(path_str),
            }
        })
        .collect()
}

/// Columns: `Name`, then each additional printer column (or `Age` when there are none).
pub fn columns(defs: Option<&Value>) -> Vec<Column> {
    let mut cols = vec![name_col()];
    cols.extend(apcs(defs).into_iter().map(|a| a.column));
    cols
}

/// Cells of one custom object.
pub fn cells(obj: &Value, defs: Option<&Value>, now: DateTime<Utc>) -> Vec<Value> {
    let mut cells = vec![json!(crate::util::name(obj))];
    for apc in apcs(defs) {
        let value = apc.path.as_ref().and_then(|p| p.find(obj).first().copied());
        cells.push(match value {
            None | Some(Value::Null) => Value::Null,
            Some(v) => cell(&apc.column.type_, v, now),
        });
    }
    cells
}

fn cell(type_: &str, v: &Value, now: DateTime<Utc>) -> Value {
    match (type_, v) {
        ("integer", Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map_or(Value::Null, |i| json!(i)),
        ("number", Value::Number(n)) => n.as_f64().map_or(Value::Null, |f| json!(f)),
        ("boolean", Value::Bool(b)) => json!(b),
        ("string", v) => json!(print_text(v)),
        ("date", Value::String(s)) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => json!(human_between(t.with_timezone(&Utc), now)),
            Err(_) => json!("<invalid>"),
        },
        _ => Value::Null,
    }
}

/// How kubectl's JSONPath prints one result: strings raw, numbers and booleans as Go prints
/// them, objects and arrays as compact JSON with sorted keys.
pub fn print_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.to_string(),
            (_, Some(u)) => u.to_string(),
            _ => go_float(n.as_f64().unwrap_or(0.0)),
        },
        Value::Null => "<nil>".into(),
        _ => sorted_json(v)
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026"),
    }
}

fn sorted_json(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        Value::String((*k).clone()),
                        sorted_json(&m[k.as_str()])
                    )
                })
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(sorted_json).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

/// Go's `%v` (`%g`, shortest) for a float64: exponent form below 1e-4 or from 1e6.
fn go_float(f: f64) -> String {
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".into()
        } else if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let sci = format!("{f:e}"); // e.g. "1.5e-7", "1e21"
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn crontab() -> Value {
        json!({
            "metadata": { "name": "ct1", "creationTimestamp": "2024-05-01T11:57:30Z" },
            "spec": { "cronSpec": "* * * * */5", "replicas": 2, "image": "img", "ratio": 0.5, "paused": false, "tags": { "b": 1, "a": "<x>" } },
            "status": { "conditions": [{ "type": "Ready", "status": "True", "lastTransitionTime": "2024-05-01T11:00:00Z" }] },
        })
    }

    #[test]
    fn default_columns_are_name_and_age() {
        let cols = columns(None);
        assert_eq!(
            cols.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            vec!["Name", "Age"]
        );
        assert_eq!(cols[1].type_, "date");
        assert_eq!(
            cells(&crontab(), Some(&json!([])), now()),
            vec![json!("ct1"), json!("2m30s")]
        );
    }

    #[test]
    fn typed_columns() {
        let apc = json!([
            { "name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec" },
            { "name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas" },
            { "name": "Ratio", "type": "number", "jsonPath": ".spec.ratio", "priority": 1 },
            { "name": "Paused", "type": "boolean", "jsonPath": ".spec.paused" },
            { "name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status" },
            { "name": "Since", "type": "date", "jsonPath": ".status.conditions[0].lastTransitionTime" },
            { "name": "Tags", "type": "string", "jsonPath": ".spec.tags" },
            { "name": "Missing", "type": "string", "jsonPath": ".spec.nothing" },
            { "name": "Wrong", "type": "integer", "jsonPath": ".spec.image" },
        ]);
        let cols = columns(Some(&apc));
        assert_eq!(cols.len(), 10);
        assert_eq!(cols[3].priority, 1);
        assert_eq!(
            cols[1].description,
            "Custom resource definition column (in JSONPath format): .spec.cronSpec"
        );
        assert_eq!(
            cells(&crontab(), Some(&apc), now()),
            vec![
                json!("ct1"),
                json!("* * * * */5"),
                json!(2),
                json!(0.5),
                json!(false),
                json!("True"),
                json!("60m"),
                json!(r#"{"a":"\u003cx\u003e","b":1}"#),
                Value::Null,
                Value::Null
            ]
        );
    }

    #[test]
    fn go_float_formatting() {
        assert_eq!(print_text(&json!(1.5)), "1.5");
        assert_eq!(print_text(&json!(1e21)), "1e+21");
        assert_eq!(print_text(&json!(0.00001)), "1e-05");
        assert_eq!(print_text(&json!(7)), "7");
        assert_eq!(print_text(&json!(123456.5)), "123456.5");
        assert_eq!(print_text(&json!(1234567.5)), "1.2345675e+06");
    }
}
