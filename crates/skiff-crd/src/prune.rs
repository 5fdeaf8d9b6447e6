//! Pruning of fields not declared in the schema (upstream's `schema/pruning` plus the ObjectMeta
//! coercion of `schema/objectmeta`), reporting the pruned paths for `fieldValidation`.

use crate::schema::{self as sc, META_FIELDS, OBJECT_META_FIELDS};
use serde_json::{Map, Value};

/// Removes fields of `obj` not declared in `schema`, except under
/// `x-kubernetes-preserve-unknown-fields` and `apiVersion`/`kind`/`metadata` of the root and of
/// embedded resources; `metadata` itself is cut down to ObjectMeta's fields. Returns the pruned
/// paths (`metadata.junk`, `spec.items[0].bar`, `spec.foo`): metadata first, then depth-first,
/// an object's nested paths before its own removed keys.
pub fn prune(schema: &Value, obj: &mut Value) -> Vec<String> {
    prune_value(schema, obj, true)
}

/// Prunes `obj` against `schema`; `resource` treats `obj` as a resource (root or embedded).
pub(crate) fn prune_value(schema: &Value, obj: &mut Value, resource: bool) -> Vec<String> {
    let mut pruned = Vec::new();
    let mut path = String::new();
    if resource {
        if let Value::Object(m) = obj {
            resource_meta(m, &path, &mut pruned);
        }
    }
    walk(obj, Some(schema), resource, &mut path, &mut pruned);
    pruned
}

fn join_key(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Cuts `metadata` of a resource (root or embedded) down to ObjectMeta's fields.
fn resource_meta(m: &mut Map<String, Value>, path: &str, pruned: &mut Vec<String>) {
    let Some(Value::Object(meta)) = m.get_mut("metadata") else {
        return;
    };
    let meta_path = join_key(path, "metadata");
    meta.retain(|k, _| {
        let keep = OBJECT_META_FIELDS.contains(&k.as_str());
        if !keep {
            pruned.push(join_key(&meta_path, k));
        }
        keep
    });
}

/// Prunes `x` against `s` (`None`: nothing is declared). `resource` marks the root or an
/// embedded resource, whose TypeMeta/ObjectMeta fields are skipped.
fn walk(
    x: &mut Value,
    s: Option<&Value>,
    resource: bool,
    path: &mut String,
    pruned: &mut Vec<String>,
) {
    if let Some(s) = s.filter(|s| sc::preserves(s)) {
        skip(x, s, resource, path, pruned);
        return;
    }
    match x {
        Value::Object(m) => {
            let Some(s) = s else {
                pruned.extend(m.keys().map(|k| join_key(path, k)));
                m.clear();
                return;
            };
            let additional = sc::get(s, "additionalProperties").is_some_and(|a| !a.is_null());
            let mut removed = Vec::new();
            for (k, v) in m.iter_mut() {
                if resource && META_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                if let Some(p) = sc::property(s, k) {
                    descend(v, Some(p), k, path, pruned);
                } else if additional {
                    descend(v, sc::additional_schema(s), k, path, pruned);
                } else {
                    removed.push(k.clone());
                }
            }
            for k in removed {
                m.shift_remove(&k);
                pruned.push(join_key(path, &k));
            }
        }
        Value::Array(items) => {
            let item_schema = s.and_then(sc::items);
            for (i, v) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                enter(v, item_schema, path, pruned);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// Recurses into the value of property `k`, handling embedded resources' metadata.
fn descend(v: &mut Value, s: Option<&Value>, k: &str, path: &mut String, pruned: &mut Vec<String>) {
    let len = path.len();
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(k);
    enter(v, s, path, pruned);
    path.truncate(len);
}

/// Prunes a value at `path`, treating it as a resource when its schema is an embedded resource.
fn enter(v: &mut Value, s: Option<&Value>, path: &mut String, pruned: &mut Vec<String>) {
    let embedded = s.is_some_and(sc::embedded);
    if embedded {
        if let Value::Object(m) = v {
            resource_meta(m, path, pruned);
        }
    }
    walk(v, s, embedded, path, pruned);
}

/// Under `x-kubernetes-preserve-unknown-fields`: unknown fields stay, declared ones are pruned.
fn skip(x: &mut Value, s: &Value, resource: bool, path: &mut String, pruned: &mut Vec<String>) {
    match x {
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                if resource && META_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                if let Some(p) = sc::property(s, k) {
                    descend(v, Some(p), k, path, pruned);
                } else if let Some(a) = sc::additional_schema(s) {
                    descend(v, Some(a), k, path, pruned);
                }
            }
        }
        Value::Array(items) => {
            let Some(item_schema) = sc::items(s) else {
                return;
            };
            for (i, v) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                if sc::embedded(item_schema) {
                    if let Value::Object(m) = v {
                        resource_meta(m, path, pruned);
                    }
                }
                skip(v, item_schema, sc::embedded(item_schema), path, pruned);
                path.truncate(len);
            }
        }
        _ => {}
    }
}
