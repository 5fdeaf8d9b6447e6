//! Defaulting: schema `default`s applied to custom objects (upstream's `schema/defaulting`,
//! including the pruning of non-nullable nulls), and the CRD object's own defaults.

use crate::schema as sc;
use serde_json::{json, Value};

/// Applies schema `default`s to `obj`: a property that is absent, or null while not nullable, gets
/// its default (deep-copied); defaults apply inside array items and `additionalProperties` too.
/// As upstream does before defaulting, a null for a non-nullable property without a default is
/// removed.
pub fn apply_defaults(schema: &Value, obj: &mut Value) {
    prune_nulls(obj, Some(schema));
    default(obj, Some(schema));
}

fn non_nullable_null(x: &Value, s: Option<&Value>) -> bool {
    x.is_null() && s.is_some_and(|s| !sc::flag(s, "nullable"))
}

/// Upstream's `Default`.
fn default(x: &mut Value, s: Option<&Value>) {
    let Some(s) = s else { return };
    match x {
        Value::Object(m) => {
            for (k, prop) in sc::properties(s).into_iter().flatten() {
                let Some(d) = sc::default_of(prop) else {
                    continue;
                };
                let missing = m.get(k).is_none_or(|v| non_nullable_null(v, Some(prop)));
                if missing {
                    m.insert(k.clone(), d.clone());
                }
            }
            let additional = sc::additional_schema(s);
            for (k, v) in m.iter_mut() {
                if let Some(prop) = sc::property(s, k) {
                    default(v, Some(prop));
                } else if let Some(a) = additional {
                    if non_nullable_null(v, Some(a)) {
                        *v = sc::default_of(a).cloned().unwrap_or(Value::Null);
                    }
                    default(v, Some(a));
                }
            }
        }
        Value::Array(items) => {
            let item_schema = sc::items(s);
            for v in items.iter_mut() {
                if non_nullable_null(v, item_schema) {
                    *v = item_schema
                        .and_then(sc::default_of)
                        .cloned()
                        .unwrap_or(Value::Null);
                }
                default(v, item_schema);
            }
        }
        _ => {}
    }
}

/// Upstream's `PruneNonNullableNullsWithoutDefaults`: drops object fields that are null, not
/// nullable and have no default.
fn prune_nulls(x: &mut Value, s: Option<&Value>) {
    let Some(s) = s else { return };
    match x {
        Value::Object(m) => {
            let additional = sc::additional_schema(s);
            m.retain(|k, v| {
                let sub = sc::property(s, k).or(additional);
                !(v.is_null()
                    && sub.is_some_and(|p| !sc::flag(p, "nullable") && sc::default_of(p).is_none()))
            });
            for (k, v) in m.iter_mut() {
                prune_nulls(v, sc::property(s, k).or(additional));
            }
        }
        Value::Array(items) => {
            let item_schema = sc::items(s);
            for v in items.iter_mut() {
                prune_nulls(v, item_schema);
            }
        }
        _ => {}
    }
}

/// Fills a CustomResourceDefinition's defaults like upstream's v1 defaulters:
/// `spec.names.singular` (lowercase kind), `spec.names.listKind` (kind + "List"),
/// `spec.conversion` (`{strategy: None}`) and a webhook service's `port` (443).
pub fn default_crd(crd: &mut Value) {
    let Some(spec) = crd.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(names) = spec.get_mut("names").and_then(Value::as_object_mut) {
        let kind = names
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let empty = |v: Option<&Value>| v.and_then(Value::as_str).is_none_or(str::is_empty);
        if empty(names.get("singular")) {
            names.insert("singular".into(), json!(kind.to_lowercase()));
        }
        if empty(names.get("listKind")) && !kind.is_empty() {
            names.insert("listKind".into(), json!(format!("{kind}List")));
        }
    }
    match spec.get_mut("conversion") {
        None | Some(Value::Null) => {
            spec.insert("conversion".into(), json!({"strategy": "None"}));
        }
        Some(conversion) => {
            if let Some(Value::Object(service)) =
                conversion.pointer_mut("/webhook/clientConfig/service")
            {
                if service.get("port").is_none_or(Value::is_null) {
                    service.insert("port".into(), json!(443));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_absent_fields_in_objects_arrays_and_maps() {
        let schema = json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "replicas": {"type": "integer", "default": 1},
                        "mode": {"type": "string", "default": "auto"},
                        "note": {"type": "string", "nullable": true, "default": "n"},
                        "gone": {"type": "string"},
                        "ports": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "protocol": {"type": "string", "default": "TCP"},
                                    "port": {"type": "integer"}
                                }
                            }
                        },
                        "limits": {
                            "type": "object",
                            "additionalProperties": {
                                "type": "object",
                                "properties": {"unit": {"type": "string", "default": "Mi"}}
                            }
                        }
                    }
                }
            }
        });
        let mut obj = json!({
            "spec": {
                "mode": null,
                "note": null,
                "gone": null,
                "ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}],
                "limits": {"memory": {}, "cpu": {"unit": "m"}}
            }
        });
        apply_defaults(&schema, &mut obj);
        assert_eq!(
            obj,
            json!({
                "spec": {
                    "mode": "auto",
                    "note": null,
                    "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
                    "limits": {"memory": {"unit": "Mi"}, "cpu": {"unit": "m"}},
                    "replicas": 1
                }
            })
        );
    }

    #[test]
    fn defaults_apply_inside_defaulted_objects() {
        let schema = json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "default": {},
                    "properties": {"size": {"type": "integer", "default": 3}}
                }
            }
        });
        let mut obj = json!({"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "x"}});
        apply_defaults(&schema, &mut obj);
        assert_eq!(obj["spec"], json!({"size": 3}));
    }

    #[test]
    fn crd_defaults() {
        let mut crd = json!({"spec": {"names": {"kind": "CronTab", "plural": "crontabs"}}});
        default_crd(&mut crd);
        assert_eq!(
            crd["spec"],
            json!({
                "names": {"kind": "CronTab", "plural": "crontabs", "singular": "crontab", "listKind": "CronTabList"},
                "conversion": {"strategy": "None"}
            })
        );
        let mut hooked = json!({"spec": {"names": {"kind": "A", "singular": "one", "listKind": "AList"},
            "conversion": {"strategy": "Webhook", "webhook": {"clientConfig": {"service": {"name": "s", "namespace": "n"}}}}}});
        default_crd(&mut hooked);
        assert_eq!(hooked["spec"]["names"]["singular"], "one");
        assert_eq!(
            hooked.pointer("/spec/conversion/webhook/clientConfig/service/port"),
            Some(&json!(443))
        );
    }
}
