//! Builds the built-in [`Schema`] from k8s-openapi's schemars definitions, the generated
//! list/map strategy table and the hand-written overrides.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use super::overrides::{self, listed};
use super::{ListShape, ListType, Schema, Shape, Strategy, TypeRef};
use crate::builtin_list_types::FIELD_STRATEGIES;
use crate::builtin_roots::register_roots;

/// Generates the definitions of every root kind and converts them.
pub(super) fn build() -> Schema {
    let mut generator = schemars::SchemaGenerator::default();
    register_roots(&mut generator);
    let definitions = generator.take_definitions(false);
    from_definitions(&definitions)
}

/// Converts a map of OpenAPI definitions (name → JSON schema) into a schema.
pub(super) fn from_definitions(definitions: &Map<String, Value>) -> Schema {
    let strategies: HashMap<(&str, &str), Strategy> = FIELD_STRATEGIES
        .iter()
        .map(|(def, field, s)| ((*def, *field), *s))
        .collect();
    let mut converter = Converter {
        schema: Schema::new(),
        strategies,
    };
    let mut pending = Vec::new();
    for name in definitions.keys() {
        let t = converter.schema.push(Shape::Untyped { atomic: false });
        converter.schema.set_name(name.clone(), t);
        pending.push((name, t));
    }
    for (name, t) in pending {
        let definition = &definitions[name];
        let shape = converter.definition(name, definition);
        converter.schema.replace(t, shape);
        let required = definition
            .get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        converter.schema.set_required(t, required);
    }
    converter.schema.set_go_typed(true);
    resolve_granular_copies(&mut converter.schema);
    converter.schema
}

struct Converter {
    schema: Schema,
    strategies: HashMap<(&'static str, &'static str), Strategy>,
}

impl Converter {
    /// The shape of a named definition.
    fn definition(&mut self, name: &str, json: &Value) -> Shape {
        let atomic_struct = overrides::ATOMIC_STRUCTS.contains(&name);
        match self.inline(Some(name), None, json) {
            Inline::Shape(Shape::Object {
                fields, additional, ..
            }) if atomic_struct => Shape::Object {
                fields,
                additional,
                atomic: true,
            },
            Inline::Shape(shape) => shape,
            Inline::Ref(t) => self.schema.shape(t).clone(),
        }
    }

    /// The type of a property or item schema, adding anonymous shapes as needed.
    fn type_of(&mut self, def: &str, field: Option<&str>, json: &Value) -> TypeRef {
        match self.inline(Some(def), field, json) {
            Inline::Ref(t) => t,
            Inline::Shape(shape) => match shape {
                Shape::Scalar => Schema::SCALAR,
                Shape::Untyped { atomic: false } => Schema::UNTYPED,
                Shape::Untyped { atomic: true } => Schema::UNTYPED_ATOMIC,
                shape => self.schema.push(shape),
            },
        }
    }

    fn inline(&mut self, def: Option<&str>, field: Option<&str>, json: &Value) -> Inline {
        let def_name = def.unwrap_or("");
        if let Some(field) = field {
            if listed(overrides::UNTYPED_ATOMIC_FIELDS, def_name, field) {
                return Inline::Ref(Schema::UNTYPED_ATOMIC);
            }
        }
        if let Some(reference) = json.get("$ref").and_then(Value::as_str) {
            let target = reference.rsplit('/').next().unwrap_or(reference);
            let t = self.schema.lookup(target).unwrap_or(Schema::UNTYPED);
            if let Some(field) = field {
                if listed(overrides::GRANULAR_FIELDS, def_name, field) {
                    // The target may not be converted yet; the copy is filled in afterwards.
                    return Inline::Ref(self.granular_copy(target));
                }
            }
            return Inline::Ref(t);
        }
        if json
            .get("x-kubernetes-int-or-string")
            .and_then(Value::as_bool)
            == Some(true)
        {
            return Inline::Ref(Schema::UNTYPED_ATOMIC);
        }
        match json.get("type").and_then(Value::as_str) {
            Some("array") => {
                let items = match json.get("items") {
                    Some(items) => self.type_of(def_name, None, items),
                    None => Schema::UNTYPED,
                };
                Inline::Shape(Shape::List(self.list(def_name, field, items)))
            }
            Some("object") => {
                let mut fields = BTreeMap::new();
                if let Some(props) = json.get("properties").and_then(Value::as_object) {
                    for (name, prop) in props {
                        // Property schemas are converted in the context of this definition.
                        let t = self.type_of(def_name, Some(name), prop);
                        fields.insert(name.clone(), t);
                    }
                }
                let additional = match json.get("additionalProperties") {
                    Some(Value::Bool(true)) => Some(Schema::UNTYPED),
                    Some(v @ Value::Object(_)) => Some(self.type_of(def_name, None, v)),
                    _ => None,
                };
                if fields.is_empty() && additional.is_none() {
                    return Inline::Ref(Schema::UNTYPED);
                }
                let atomic = field.is_some_and(|f| {
                    self.strategies.get(&(def_name, f)) == Some(&Strategy::AtomicMap)
                });
                Inline::Shape(Shape::Object {
                    fields,
                    additional,
                    atomic,
                })
            }
            Some("string" | "integer" | "number" | "boolean") => Inline::Shape(Shape::Scalar),
            _ => Inline::Ref(Schema::UNTYPED),
        }
    }

    /// A placeholder for a non-atomic copy of the named struct, filled in once all named
    /// definitions exist.
    fn granular_copy(&mut self, target: &str) -> TypeRef {
        let key = format!("{target}#granular");
        if let Some(t) = self.schema.lookup(&key) {
            return t;
        }
        let t = self.schema.push(Shape::Untyped { atomic: false });
        self.schema.set_name(key, t);
        t
    }

    fn list(&self, def: &str, field: Option<&str>, items: TypeRef) -> ListShape {
        let field = field.unwrap_or("");
        let strategy = self
            .strategies
            .get(&(def, field))
            .copied()
            .unwrap_or(Strategy::AtomicList);
        let mut shape = ListShape {
            list_type: ListType::Atomic,
            items,
            merge_key: None,
            patch_merge: false,
            key_defaults: BTreeMap::new(),
        };
        match strategy {
            Strategy::SetList => {
                shape.list_type = ListType::Set;
                shape.patch_merge = listed(overrides::SMP_MERGE_SETS, def, field);
            }
            Strategy::MapList(keys) if !keys.is_empty() => {
                shape.merge_key = Some(keys[0].to_string());
                shape.patch_merge = !listed(overrides::SMP_REPLACE_LISTS, def, field);
                let ssa_keys = overrides::SSA_KEYS
                    .iter()
                    .find(|(d, f, _)| *d == def && *f == field)
                    .map(|(_, _, k)| *k)
                    .unwrap_or(keys);
                if !listed(overrides::SSA_ATOMIC_LISTS, def, field) {
                    shape.list_type = ListType::Map {
                        keys: ssa_keys.iter().map(|k| k.to_string()).collect(),
                    };
                }
                for (d, f, key, default) in overrides::KEY_DEFAULTS {
                    if *d == def && *f == field {
                        shape
                            .key_defaults
                            .insert(key.to_string(), Value::String(default.to_string()));
                    }
                }
            }
            _ => {}
        }
        shape
    }
}

enum Inline {
    Ref(TypeRef),
    Shape(Shape),
}

/// Fills the `<name>#granular` placeholders with non-atomic copies of their structs.
fn resolve_granular_copies(schema: &mut Schema) {
    let pending: Vec<(String, TypeRef)> = schema
        .names
        .iter()
        .filter_map(|(n, t)| n.strip_suffix("#granular").map(|b| (b.to_string(), *t)))
        .collect();
    for (base, t) in pending {
        let shape = match schema.lookup(&base).map(|b| schema.shape(b).clone()) {
            Some(Shape::Object {
                fields, additional, ..
            }) => Shape::Object {
                fields,
                additional,
                atomic: false,
            },
            Some(other) => other,
            None => Shape::Untyped { atomic: false },
        };
        schema.replace(t, shape);
    }
}
