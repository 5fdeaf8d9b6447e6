//! The type model that strategic merge patch and server-side apply walk.
//!
//! A [`Schema`] is an arena of [`Shape`]s addressed by [`TypeRef`]. Named types (OpenAPI
//! definition names such as `io.k8s.api.apps.v1.Deployment`) can be looked up by name.
//! Two sources exist: [`Schema::builtin`] (k8s-openapi's schemars output plus the generated
//! list-type table) and [`Schema::from_openapi_v3`] (a CRD's `openAPIV3Schema`).

mod builtin;
mod openapi;
mod overrides;

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use serde_json::Value;

pub use openapi::SchemaError;

/// Index of a [`Shape`] inside one [`Schema`]. Only meaningful with the schema that issued it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypeRef(u32);

/// How a list is merged and tracked by server-side apply (`x-kubernetes-list-type`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListType {
    /// The list is one value: replaced wholesale, owned as a leaf.
    Atomic,
    /// A set of scalars; elements are identified by value (`v:` path elements).
    Set,
    /// A map of objects keyed by the named fields (`k:` path elements).
    Map {
        /// Key field names, in schema order.
        keys: Vec<String>,
    },
}

/// The structure of one type.
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    /// A string, number or boolean.
    Scalar,
    /// Anything goes (int-or-string, quantities, free-form or preserve-unknown-fields JSON).
    ///
    /// With `atomic: false` objects are tracked field by field ("deduced", like upstream's
    /// `__untyped_deduced_`) while lists and scalars are leaves; with `atomic: true` the
    /// whole value is one leaf.
    Untyped {
        /// Whether the whole value is a single leaf.
        atomic: bool,
    },
    /// A struct with named fields and/or a map with arbitrary keys (`additional`).
    Object {
        /// Declared fields.
        fields: BTreeMap<String, TypeRef>,
        /// Type of undeclared keys (`additionalProperties`), e.g. labels.
        additional: Option<TypeRef>,
        /// `x-kubernetes-map-type: atomic` / `structType=atomic`: replaced and owned as a whole.
        atomic: bool,
    },
    /// A list.
    List(ListShape),
}

/// The details of a [`Shape::List`].
#[derive(Clone, Debug, PartialEq)]
pub struct ListShape {
    /// Server-side apply semantics.
    pub list_type: ListType,
    /// Element type.
    pub items: TypeRef,
    /// Strategic merge patch `patchMergeKey` (lists of objects merged by this field).
    pub merge_key: Option<String>,
    /// Strategic merge patch `patchStrategy=merge`: merged by `merge_key` (objects) or by
    /// value (scalars); otherwise the patch replaces the list.
    pub patch_merge: bool,
    /// Defaults of list-map key fields that an element may omit (e.g. `protocol: TCP`).
    pub key_defaults: BTreeMap<String, Value>,
}

/// A merge strategy row of the generated built-in table (`builtin_list_types.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Strategy {
    AtomicList,
    SetList,
    MapList(&'static [&'static str]),
    AtomicMap,
    GranularMap,
}

/// A collection of types addressed by [`TypeRef`], some of them named.
#[derive(Clone, Debug)]
pub struct Schema {
    shapes: Vec<Shape>,
    names: HashMap<String, TypeRef>,
    /// Required fields of object types (built-in types only).
    required: HashMap<TypeRef, Vec<String>>,
    /// Whether values follow Go's typed encoding, where struct-typed and required fields
    /// are always present (built-in types), or are plain JSON (custom resources).
    go_typed: bool,
}

static UNTYPED_SHAPE: Shape = Shape::Untyped { atomic: false };
static BUILTIN: LazyLock<Schema> = LazyLock::new(builtin::build);

impl Default for Schema {
    fn default() -> Self {
        Self::new()
    }
}

impl Schema {
    /// A scalar leaf.
    pub const SCALAR: TypeRef = TypeRef(0);
    /// Free-form JSON whose objects are tracked field by field.
    pub const UNTYPED: TypeRef = TypeRef(1);
    /// Free-form JSON that is a single leaf (int-or-string, quantity, raw data).
    pub const UNTYPED_ATOMIC: TypeRef = TypeRef(2);

    /// An empty schema holding only [`Schema::SCALAR`], [`Schema::UNTYPED`] and
    /// [`Schema::UNTYPED_ATOMIC`].
    pub fn new() -> Self {
        Schema {
            shapes: vec![
                Shape::Scalar,
                Shape::Untyped { atomic: false },
                Shape::Untyped { atomic: true },
            ],
            names: HashMap::new(),
            required: HashMap::new(),
            go_typed: false,
        }
    }

    /// The schema of every type reachable from the built-in kinds (built once).
    pub fn builtin() -> &'static Schema {
        &BUILTIN
    }

    /// The built-in schema together with the named type, e.g. `io.k8s.api.apps.v1.Deployment`.
    pub fn for_builtin(type_name: &str) -> Option<(&'static Schema, TypeRef)> {
        let schema = Schema::builtin();
        schema.lookup(type_name).map(|t| (schema, t))
    }

    /// The type with this definition name.
    pub fn lookup(&self, name: &str) -> Option<TypeRef> {
        self.names.get(name).copied()
    }

    /// Names of all named types (unordered).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names
            .keys()
            .map(String::as_str)
            .filter(|n| !n.contains('#'))
    }

    /// The shape of a type. A [`TypeRef`] from another schema yields an untyped shape.
    pub fn shape(&self, t: TypeRef) -> &Shape {
        self.shapes.get(t.0 as usize).unwrap_or(&UNTYPED_SHAPE)
    }

    /// The type of field `name` of an object (declared field, else `additional`), `UNTYPED`
    /// below untyped values, `None` when the type has no such field.
    pub fn field(&self, t: TypeRef, name: &str) -> Option<TypeRef> {
        match self.shape(t) {
            Shape::Object {
                fields, additional, ..
            } => fields.get(name).copied().or(*additional),
            Shape::Untyped { atomic: false } => Some(Schema::UNTYPED),
            Shape::Untyped { atomic: true } => Some(Schema::UNTYPED_ATOMIC),
            _ => None,
        }
    }

    /// The type of field `name`, falling back to [`Schema::UNTYPED`] for unknown fields.
    pub fn field_or_untyped(&self, t: TypeRef, name: &str) -> TypeRef {
        self.field(t, name).unwrap_or(Schema::UNTYPED)
    }

    /// Whether the type is replaced and owned as a whole by server-side apply.
    pub fn is_atomic(&self, t: TypeRef) -> bool {
        match self.shape(t) {
            Shape::Scalar => true,
            Shape::Untyped { atomic } => *atomic,
            Shape::Object { atomic, .. } => *atomic,
            Shape::List(list) => list.list_type == ListType::Atomic,
        }
    }

    /// Whether `field` of object type `t` is required (always serialized by upstream).
    pub fn is_required(&self, t: TypeRef, field: &str) -> bool {
        self.required
            .get(&t)
            .is_some_and(|r| r.iter().any(|f| f == field))
    }

    /// Whether values of this schema come from Go types, in which struct-typed and required
    /// fields always exist (the built-in schema), rather than from plain JSON (CRDs).
    pub fn is_go_typed(&self) -> bool {
        self.go_typed
    }

    pub(crate) fn set_required(&mut self, t: TypeRef, fields: Vec<String>) {
        if !fields.is_empty() {
            self.required.insert(t, fields);
        }
    }

    pub(crate) fn set_go_typed(&mut self, go_typed: bool) {
        self.go_typed = go_typed;
    }

    /// Adds a shape and returns its reference.
    pub fn push(&mut self, shape: Shape) -> TypeRef {
        let t = TypeRef(u32::try_from(self.shapes.len()).unwrap_or(u32::MAX));
        self.shapes.push(shape);
        t
    }

    /// Gives a type a name (replacing any previous type of that name).
    pub fn set_name(&mut self, name: impl Into<String>, t: TypeRef) {
        self.names.insert(name.into(), t);
    }

    pub(crate) fn replace(&mut self, t: TypeRef, shape: Shape) {
        if let Some(slot) = self.shapes.get_mut(t.0 as usize) {
            *slot = shape;
        }
    }

    /// Copies type `t` of `other` (and everything it reaches) into this schema, keeping the
    /// names of named types, and returns the new reference.
    pub fn import(&mut self, other: &Schema, t: TypeRef) -> TypeRef {
        let mut memo = HashMap::new();
        let names: HashMap<TypeRef, &str> =
            other.names.iter().map(|(n, t)| (*t, n.as_str())).collect();
        let new = self.import_rec(other, t, &mut memo);
        for (old, new) in memo {
            if let Some(name) = names.get(&old) {
                self.names.entry((*name).to_string()).or_insert(new);
            }
        }
        new
    }

    fn import_rec(
        &mut self,
        other: &Schema,
        t: TypeRef,
        memo: &mut HashMap<TypeRef, TypeRef>,
    ) -> TypeRef {
        if t.0 <= Schema::UNTYPED_ATOMIC.0 {
            return t;
        }
        if let Some(done) = memo.get(&t) {
            return *done;
        }
        let slot = self.push(Shape::Untyped { atomic: false });
        memo.insert(t, slot);
        let shape = match other.shape(t).clone() {
            Shape::Object {
                fields,
                additional,
                atomic,
            } => Shape::Object {
                fields: fields
                    .into_iter()
                    .map(|(k, v)| (k, self.import_rec(other, v, memo)))
                    .collect(),
                additional: additional.map(|a| self.import_rec(other, a, memo)),
                atomic,
            },
            Shape::List(mut list) => {
                list.items = self.import_rec(other, list.items, memo);
                Shape::List(list)
            }
            shape => shape,
        };
        self.replace(slot, shape);
        slot
    }
}

#[cfg(test)]
mod tests;
