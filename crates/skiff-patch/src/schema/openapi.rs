//! Builds a [`Schema`] from a CustomResourceDefinition's `openAPIV3Schema`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{ListShape, ListType, Schema, Shape, TypeRef};

/// Why a CRD schema could not be turned into a [`Schema`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The schema (or a nested schema) is not a JSON object.
    #[error("{path}: schema must be an object")]
    NotAnObject {
        /// JSON path of the offending schema.
        path: String,
    },
    /// `x-kubernetes-list-type` has an unknown value.
    #[error("{path}: unsupported x-kubernetes-list-type {value:?}")]
    BadListType {
        /// JSON path of the offending schema.
        path: String,
        /// The value found.
        value: String,
    },
    /// `x-kubernetes-list-type: map` without `x-kubernetes-list-map-keys`.
    #[error("{path}: x-kubernetes-list-type map requires x-kubernetes-list-map-keys")]
    MissingMapKeys {
        /// JSON path of the offending schema.
        path: String,
    },
    /// Nesting deeper than the converter follows.
    #[error("{path}: schema nested too deeply")]
    TooDeep {
        /// JSON path of the offending schema.
        path: String,
    },
}

const MAX_DEPTH: usize = 128;
const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

impl Schema {
    /// Builds the schema of a custom resource from its CRD version's `openAPIV3Schema`.
    ///
    /// Honours `properties`, `items`, `additionalProperties`, `x-kubernetes-list-type`,
    /// `x-kubernetes-list-map-keys`, `x-kubernetes-map-type`,
    /// `x-kubernetes-preserve-unknown-fields`, `x-kubernetes-int-or-string` and
    /// `x-kubernetes-embedded-resource`. The root's `metadata` is the built-in `ObjectMeta`
    /// whatever the CRD says. Returns the schema and its root type.
    pub fn from_openapi_v3(openapi: &Value) -> Result<(Schema, TypeRef), SchemaError> {
        let mut schema = Schema::new();
        let builtin = Schema::builtin();
        let meta = match builtin.lookup(OBJECT_META) {
            Some(t) => schema.import(builtin, t),
            None => Schema::UNTYPED,
        };
        let root = convert(&mut schema, openapi, "", 0, meta)?;
        // The root is always an object with metadata, apiVersion and kind.
        let shape = match schema.shape(root).clone() {
            Shape::Object {
                mut fields,
                additional,
                atomic,
            } => {
                add_type_meta(&mut fields, meta);
                Shape::Object {
                    fields,
                    additional,
                    atomic,
                }
            }
            _ => {
                let mut fields = BTreeMap::new();
                add_type_meta(&mut fields, meta);
                Shape::Object {
                    fields,
                    additional: Some(Schema::UNTYPED),
                    atomic: false,
                }
            }
        };
        let root = if root.0 <= Schema::UNTYPED_ATOMIC.0 {
            schema.push(shape)
        } else {
            schema.replace(root, shape);
            root
        };
        Ok((schema, root))
    }
}

fn add_type_meta(fields: &mut BTreeMap<String, TypeRef>, meta: TypeRef) {
    fields.insert("metadata".into(), meta);
    fields.insert("apiVersion".into(), Schema::SCALAR);
    fields.insert("kind".into(), Schema::SCALAR);
}

fn flag(json: &Value, name: &str) -> bool {
    json.get(name).and_then(Value::as_bool) == Some(true)
}

fn convert(
    schema: &mut Schema,
    json: &Value,
    path: &str,
    depth: usize,
    meta: TypeRef,
) -> Result<TypeRef, SchemaError> {
    let here = || {
        if path.is_empty() {
            ".".to_string()
        } else {
            path.to_string()
        }
    };
    if depth > MAX_DEPTH {
        return Err(SchemaError::TooDeep { path: here() });
    }
    if !json.is_object() {
        return Err(SchemaError::NotAnObject { path: here() });
    }
    if flag(json, "x-kubernetes-int-or-string") {
        return Ok(Schema::UNTYPED_ATOMIC);
    }
    let preserve = flag(json, "x-kubernetes-preserve-unknown-fields");
    let embedded = flag(json, "x-kubernetes-embedded-resource");
    let ty = json.get("type").and_then(Value::as_str);
    let props = json.get("properties").and_then(Value::as_object);
    match ty {
        Some("array") => {
            let items = match json.get("items") {
                Some(items) => convert(schema, items, &format!("{path}[]"), depth + 1, meta)?,
                None => Schema::UNTYPED,
            };
            let list = list_shape(json, items, &here())?;
            Ok(schema.push(Shape::List(list)))
        }
        Some("object") | None if props.is_some() || embedded || ty.is_some() => {
            let mut fields = BTreeMap::new();
            if let Some(props) = props {
                for (name, prop) in props {
                    let t = convert(schema, prop, &format!("{path}.{name}"), depth + 1, meta)?;
                    fields.insert(name.clone(), t);
                }
            }
            if embedded {
                add_type_meta(&mut fields, meta);
            }
            let additional = match json.get("additionalProperties") {
                Some(Value::Bool(true)) => Some(Schema::UNTYPED),
                Some(v @ Value::Object(_)) => {
                    Some(convert(schema, v, &format!("{path}.*"), depth + 1, meta)?)
                }
                _ if preserve => Some(Schema::UNTYPED),
                _ => None,
            };
            if fields.is_empty() && additional.is_none() {
                return Ok(Schema::UNTYPED);
            }
            let atomic =
                json.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic");
            Ok(schema.push(Shape::Object {
                fields,
                additional,
                atomic,
            }))
        }
        Some("string" | "integer" | "number" | "boolean") => Ok(Schema::SCALAR),
        _ => Ok(Schema::UNTYPED),
    }
}

fn list_shape(json: &Value, items: TypeRef, path: &str) -> Result<ListShape, SchemaError> {
    let kind = json
        .get("x-kubernetes-list-type")
        .and_then(Value::as_str)
        .unwrap_or("atomic");
    let mut list = ListShape {
        list_type: ListType::Atomic,
        items,
        merge_key: None,
        patch_merge: false,
        key_defaults: BTreeMap::new(),
    };
    match kind {
        "atomic" => {}
        "set" => {
            list.list_type = ListType::Set;
            list.patch_merge = true;
        }
        "map" => {
            let keys: Vec<String> = json
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            if keys.is_empty() {
                return Err(SchemaError::MissingMapKeys {
                    path: path.to_string(),
                });
            }
            let item_props = json
                .get("items")
                .and_then(|i| i.get("properties"))
                .and_then(Value::as_object);
            for key in &keys {
                if let Some(default) = item_props
                    .and_then(|p| p.get(key))
                    .and_then(|p| p.get("default"))
                {
                    list.key_defaults.insert(key.clone(), default.clone());
                }
            }
            list.merge_key = keys.first().cloned();
            list.patch_merge = true;
            list.list_type = ListType::Map { keys };
        }
        other => {
            return Err(SchemaError::BadListType {
                path: path.to_string(),
                value: other.to_string(),
            })
        }
    }
    Ok(list)
}
