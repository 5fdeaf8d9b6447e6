//! Schema-driven walks over values, ported from structured-merge-diff's `typed` package:
//! field sets (`ToFieldSet`), merging (`Merge`), comparing (`Compare`) and removing
//! (`RemoveItems`), plus `EnsureNamedFieldsAreMembers`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::fieldset::FieldSet;
use super::path::{path_to_string, PathElement};
use crate::schema::{ListShape, ListType, Schema, Shape, TypeRef};

const MAX_DEPTH: usize = 200;

/// How a type is walked.
enum Kind<'s> {
    /// Owned and replaced as a whole.
    Leaf,
    /// Fields/keys tracked one by one; `None` means "unknown field" falls back to untyped.
    Map {
        fields: Option<&'s BTreeMap<String, TypeRef>>,
        additional: Option<TypeRef>,
    },
    /// Elements tracked one by one.
    List(&'s ListShape),
}

fn kind<'s>(schema: &'s Schema, t: TypeRef, v: Option<&Value>) -> Kind<'s> {
    match schema.shape(t) {
        Shape::Scalar | Shape::Untyped { atomic: true } => Kind::Leaf,
        Shape::Untyped { atomic: false } => match v {
            Some(Value::Object(_)) => Kind::Map {
                fields: None,
                additional: Some(Schema::UNTYPED),
            },
            _ => Kind::Leaf,
        },
        Shape::Object { atomic: true, .. } => Kind::Leaf,
        Shape::Object {
            fields, additional, ..
        } => Kind::Map {
            fields: Some(fields),
            additional: *additional,
        },
        Shape::List(list) if list.list_type == ListType::Atomic => Kind::Leaf,
        Shape::List(list) => Kind::List(list),
    }
}

/// Type of key `k` of a map-kind value and whether it is a declared (named) field.
fn field_type(
    fields: Option<&BTreeMap<String, TypeRef>>,
    additional: Option<TypeRef>,
    k: &str,
) -> (TypeRef, bool) {
    match fields.and_then(|f| f.get(k)) {
        Some(t) => (*t, true),
        None => (additional.unwrap_or(Schema::UNTYPED), false),
    }
}

/// The path element of a list item (`listItemToPathElement`). Missing key fields take
/// their default; without one they are left out of the key (upstream rejects such items).
pub(crate) fn item_element(list: &ListShape, item: &Value, index: usize) -> PathElement {
    match &list.list_type {
        ListType::Map { keys } => match item {
            Value::Object(map) => {
                let fields = keys
                    .iter()
                    .filter_map(|k| {
                        map.get(k)
                            .or_else(|| list.key_defaults.get(k))
                            .map(|v| (k.clone(), v.clone()))
                    })
                    .collect();
                PathElement::key(fields)
            }
            _ => PathElement::Index(index),
        },
        ListType::Set => PathElement::Value(item.clone()),
        ListType::Atomic => PathElement::Index(index),
    }
}

/// Checks the list-map keys of an applied configuration: every element must be an object
/// carrying (or defaulting) every key, and no key may repeat. Returns the first problem.
pub(crate) fn validate_config(schema: &Schema, t: TypeRef, v: &Value) -> Result<(), String> {
    validate_rec(schema, t, v, &mut Vec::new())
}

fn validate_rec(
    schema: &Schema,
    t: TypeRef,
    v: &Value,
    path: &mut Vec<PathElement>,
) -> Result<(), String> {
    if path.len() > MAX_DEPTH {
        return Err("object nested too deeply".into());
    }
    match (kind(schema, t, Some(v)), v) {
        (Kind::Map { fields, additional }, Value::Object(map)) => {
            for (k, child) in map {
                let (ft, _) = field_type(fields, additional, k);
                path.push(PathElement::Field(k.clone()));
                let r = validate_rec(schema, ft, child, path);
                path.pop();
                r?;
            }
        }
        (Kind::List(list), Value::Array(items)) => {
            let mut seen: Vec<PathElement> = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                if let ListType::Map { keys } = &list.list_type {
                    let Value::Object(map) = item else {
                        return Err(format!(
                            "{}: element {i}: associative list with keys may not have non-map elements",
                            path_to_string(path)
                        ));
                    };
                    if let Some(k) = keys
                        .iter()
                        .find(|k| !map.contains_key(*k) && !list.key_defaults.contains_key(*k))
                    {
                        return Err(format!(
                            "{}: element {i}: associative list with keys has an element that omits key field {k:?} (and doesn't have default value)",
                            path_to_string(path)
                        ));
                    }
                }
                let pe = item_element(list, item, i);
                if seen.contains(&pe) {
                    return Err(format!(
                        "{}: duplicate entries for key {pe}",
                        path_to_string(path)
                    ));
                }
                path.push(pe.clone());
                let r = validate_rec(schema, list.items, item, path);
                path.pop();
                r?;
                seen.push(pe);
            }
        }
        _ => {}
    }
    Ok(())
}

/// The set of paths a value sets (`ToFieldSet`): leaves, atomic values, list elements,
/// undeclared map keys and fields whose value is `null` or `{}`.
pub fn fields_of(value: &Value, schema: &Schema, root: TypeRef) -> FieldSet {
    let mut set = FieldSet::new();
    to_set(schema, root, value, &mut Vec::new(), &mut set);
    set
}

fn to_set(schema: &Schema, t: TypeRef, v: &Value, path: &mut Vec<PathElement>, set: &mut FieldSet) {
    if path.len() > MAX_DEPTH {
        set.insert(path);
        return;
    }
    match (kind(schema, t, Some(v)), v) {
        (Kind::Leaf, _) => set.insert(path),
        (Kind::Map { fields, additional }, Value::Object(map)) => {
            for (k, child) in map {
                let (ft, declared) = field_type(fields, additional, k);
                path.push(PathElement::Field(k.clone()));
                to_set(schema, ft, child, path, set);
                let empty_map = child.as_object().is_some_and(Map::is_empty);
                if child.is_null() || empty_map || !declared {
                    set.insert(path);
                }
                path.pop();
            }
        }
        (Kind::List(list), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                path.push(item_element(list, item, i));
                to_set(schema, list.items, item, path, set);
                set.insert(path);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Adds as members the declared struct fields that only appear as parents
/// (`EnsureNamedFieldsAreMembers`).
pub(crate) fn ensure_named_fields_are_members(
    set: &FieldSet,
    schema: &Schema,
    t: TypeRef,
) -> FieldSet {
    ensure_rec(set, schema, t, 0)
}

fn ensure_rec(set: &FieldSet, schema: &Schema, t: TypeRef, depth: usize) -> FieldSet {
    let mut out = FieldSet::new();
    for pe in set.members() {
        out.insert_member(pe.clone());
    }
    let shape = schema.shape(t);
    for (pe, child) in set.children() {
        let child_type = match (pe, shape) {
            (PathElement::Field(name), Shape::Object { fields, .. }) => {
                if fields.contains_key(name) {
                    out.insert_member(pe.clone());
                }
                schema.field_or_untyped(t, name)
            }
            (PathElement::Field(_), _) => Schema::UNTYPED,
            (_, Shape::List(list)) => list.items,
            _ => Schema::UNTYPED,
        };
        let child = if depth > MAX_DEPTH {
            child.clone()
        } else {
            ensure_rec(child, schema, child_type, depth + 1)
        };
        out.set_child(pe.clone(), child);
    }
    out
}

/// Merges `rhs` (an applied configuration) into `lhs` (`Merge`): maps and list maps/sets
/// merge item by item, everything atomic takes `rhs`.
pub(crate) fn merge(
    schema: &Schema,
    t: TypeRef,
    lhs: Option<&Value>,
    rhs: Option<&Value>,
) -> Option<Value> {
    merge_rec(schema, t, lhs, rhs, 0)
}

fn merge_rec(
    schema: &Schema,
    t: TypeRef,
    lhs: Option<&Value>,
    rhs: Option<&Value>,
    depth: usize,
) -> Option<Value> {
    let (l, r) = match (lhs, rhs) {
        (None, None) => return None,
        (Some(l), None) => return Some(l.clone()),
        (None, Some(r)) => return Some(r.clone()),
        (Some(l), Some(r)) => (l, r),
    };
    if depth > MAX_DEPTH {
        return Some(r.clone());
    }
    match (kind(schema, t, Some(r)), l, r) {
        (Kind::Map { fields, additional }, Value::Object(lm), Value::Object(rm)) => {
            let mut out = lm.clone();
            for (k, rv) in rm {
                let (ft, _) = field_type(fields, additional, k);
                let merged = merge_rec(schema, ft, lm.get(k), Some(rv), depth + 1);
                if let Some(v) = merged {
                    out.insert(k.clone(), v);
                }
            }
            Some(Value::Object(out))
        }
        (Kind::List(list), Value::Array(la), Value::Array(ra)) => {
            Some(Value::Array(merge_lists(schema, list, la, ra, depth)))
        }
        _ => Some(r.clone()),
    }
}

/// A list's path elements in order, and the item for each distinct element (`None` for
/// duplicated elements, which are not merged).
fn index_items<'v>(
    list: &ListShape,
    items: &'v [Value],
) -> (Vec<PathElement>, BTreeMap<PathElement, Option<&'v Value>>) {
    let mut pes = Vec::with_capacity(items.len());
    let mut observed = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        let pe = item_element(list, item, i);
        match observed.get_mut(&pe) {
            Some(slot) => *slot = None,
            None => {
                observed.insert(pe.clone(), Some(item));
            }
        }
        pes.push(pe);
    }
    (pes, observed)
}

/// `visitListItems` of the merging walker: shared items follow the configuration's order,
/// live-only items stay where they were relative to the shared ones.
fn merge_lists(
    schema: &Schema,
    list: &ListShape,
    lhs: &[Value],
    rhs: &[Value],
    depth: usize,
) -> Vec<Value> {
    let (rhs_pes, observed_rhs) = index_items(list, rhs);
    let (lhs_pes, observed_lhs) = index_items(list, lhs);
    let mut shared: std::collections::VecDeque<&PathElement> = rhs_pes
        .iter()
        .filter(|pe| observed_lhs.contains_key(pe))
        .collect();
    let mut next_shared = shared.pop_front();
    let mut merged_rhs: std::collections::BTreeSet<&PathElement> = Default::default();
    let mut out = Vec::with_capacity(lhs.len().max(rhs.len()));
    let item =
        |l: Option<&Value>, r: Option<&Value>| merge_rec(schema, list.items, l, r, depth + 1);
    let (mut li, mut ri) = (0, 0);
    while li < lhs_pes.len() || ri < rhs_pes.len() {
        if li < lhs_pes.len() && ri < rhs_pes.len() {
            let pe = &lhs_pes[li];
            if *pe == rhs_pes[ri] {
                merged_rhs.insert(pe);
                let l = observed_lhs.get(pe).copied().flatten();
                let r = observed_rhs.get(pe).copied().flatten();
                out.extend(item(l, r));
                li += 1;
                ri += 1;
                next_shared = shared.pop_front();
                continue;
            }
            if observed_rhs.contains_key(pe) && next_shared.is_some_and(|n| n != pe) {
                li += 1;
                continue;
            }
        }
        if li < lhs_pes.len() {
            let pe = &lhs_pes[li];
            if !observed_rhs.contains_key(pe) {
                out.extend(item(lhs.get(li), None));
                li += 1;
                continue;
            } else if merged_rhs.contains(pe) {
                li += 1;
                continue;
            }
        }
        if ri < rhs_pes.len() {
            let pe = &rhs_pes[ri];
            merged_rhs.insert(pe);
            let l = observed_lhs.get(pe).copied().flatten();
            let r = observed_rhs.get(pe).copied().flatten();
            out.extend(item(l, r));
            ri += 1;
            if next_shared.is_some_and(|n| n == pe) {
                next_shared = shared.pop_front();
            }
        }
    }
    out
}

/// The paths added, modified and removed between two values (`Compare`).
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Comparison {
    pub added: FieldSet,
    pub modified: FieldSet,
    pub removed: FieldSet,
}

impl Comparison {
    /// Drops paths under the ignored prefixes.
    pub fn filter(mut self, ignored: &FieldSet) -> Comparison {
        if !ignored.is_empty() {
            self.added.remove_recursive(ignored);
            self.modified.remove_recursive(ignored);
            self.removed.remove_recursive(ignored);
        }
        self
    }
}

/// Compares `old` with `new` of type `t`.
pub(crate) fn compare(schema: &Schema, t: TypeRef, old: &Value, new: &Value) -> Comparison {
    let mut cmp = Comparison::default();
    compare_rec(
        schema,
        t,
        Some(old),
        Some(new),
        true,
        &mut Vec::new(),
        &mut cmp,
    );
    cmp
}

fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(i, j)| values_equal(i, j))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => a == b,
    }
}

fn is_struct(schema: &Schema, t: TypeRef) -> bool {
    matches!(schema.shape(t), Shape::Object { fields, atomic: false, .. } if !fields.is_empty())
}

fn compare_leaf(l: Option<&Value>, r: Option<&Value>, path: &[PathElement], cmp: &mut Comparison) {
    match (l, r) {
        (None, None) => {}
        (None, Some(_)) => cmp.added.insert(path),
        (Some(_), None) => cmp.removed.insert(path),
        (Some(a), Some(b)) => {
            if !values_equal(a, b) {
                cmp.modified.insert(path);
            }
        }
    }
}

/// `metadata.managedFields` is bookkeeping, never a field anyone owns: comparisons skip it
/// (upstream strips it from both objects first).
fn is_managed_fields(path: &[PathElement], key: &str) -> bool {
    key == "managedFields" && matches!(path, [PathElement::Field(f)] if f == "metadata")
}

/// `presence`: whether the node itself is added/removed when it appears/disappears. Upstream
/// compares typed Go objects, where non-pointer struct fields (`spec`, `template`, ...) and
/// fields without `omitempty` (the required ones, like `containers`) always exist; in the
/// built-in schema those are therefore not tracked themselves, while list items, map
/// entries and optional map/list fields (`labels`, `env`) are.
fn compare_rec(
    schema: &Schema,
    t: TypeRef,
    l: Option<&Value>,
    r: Option<&Value>,
    presence: bool,
    path: &mut Vec<PathElement>,
    cmp: &mut Comparison,
) {
    if path.len() > MAX_DEPTH {
        compare_leaf(l, r, path, cmp);
        return;
    }
    let probe = r.or(l);
    let mut in_leaf = false;
    let kind = kind(schema, t, probe);
    // Equal subtrees hold no change: skip walking them (a status update leaves the spec
    // alone, an update of labels the rest of the object).
    if !matches!(kind, Kind::Leaf) {
        if let (Some(a), Some(b)) = (l, r) {
            if values_equal(a, b) {
                return;
            }
        }
    }
    match kind {
        Kind::Leaf => {
            compare_leaf(l, r, path, cmp);
            in_leaf = true;
        }
        Kind::Map { fields, additional } => {
            let lm = l.and_then(Value::as_object);
            let rm = r.and_then(Value::as_object);
            if lm.is_none_or(Map::is_empty) && rm.is_none_or(Map::is_empty) {
                compare_leaf(l, r, path, cmp);
                in_leaf = true;
            } else {
                let empty = Map::new();
                let (lm, rm) = (lm.unwrap_or(&empty), rm.unwrap_or(&empty));
                let keys = lm.keys().chain(rm.keys().filter(|k| !lm.contains_key(*k)));
                for k in keys {
                    if is_managed_fields(path, k) {
                        continue;
                    }
                    let (ft, declared) = field_type(fields, additional, k);
                    let always_present = declared
                        && schema.is_go_typed()
                        && (schema.is_required(t, k) || is_struct(schema, ft));
                    path.push(PathElement::Field(k.clone()));
                    compare_rec(schema, ft, lm.get(k), rm.get(k), !always_present, path, cmp);
                    path.pop();
                }
            }
        }
        Kind::List(list) => {
            let la = l.and_then(Value::as_array);
            let ra = r.and_then(Value::as_array);
            if la.is_none_or(Vec::is_empty) && ra.is_none_or(Vec::is_empty) {
                compare_leaf(l, r, path, cmp);
                in_leaf = true;
            } else {
                let empty = Vec::new();
                compare_lists(
                    schema,
                    list,
                    la.unwrap_or(&empty),
                    ra.unwrap_or(&empty),
                    path,
                    cmp,
                );
            }
        }
    }
    if !in_leaf && presence {
        if l.is_none() {
            cmp.added.insert(path);
        } else if r.is_none() {
            cmp.removed.insert(path);
        }
    }
}

fn compare_lists(
    schema: &Schema,
    list: &ListShape,
    lhs: &[Value],
    rhs: &[Value],
    path: &mut Vec<PathElement>,
    cmp: &mut Comparison,
) {
    let mut order: Vec<PathElement> = Vec::new();
    let mut lvals: BTreeMap<PathElement, Vec<&Value>> = BTreeMap::new();
    let mut rvals: BTreeMap<PathElement, Vec<&Value>> = BTreeMap::new();
    for (i, item) in lhs.iter().enumerate() {
        let pe = item_element(list, item, i);
        if !lvals.contains_key(&pe) {
            order.push(pe.clone());
        }
        lvals.entry(pe).or_default().push(item);
    }
    for (i, item) in rhs.iter().enumerate() {
        let pe = item_element(list, item, i);
        if !lvals.contains_key(&pe) && !rvals.contains_key(&pe) {
            order.push(pe.clone());
        }
        rvals.entry(pe).or_default().push(item);
    }
    let none: Vec<&Value> = Vec::new();
    for pe in order {
        let ls = lvals.get(&pe).unwrap_or(&none);
        let rs = rvals.get(&pe).unwrap_or(&none);
        path.push(pe);
        match (ls.len(), rs.len()) {
            (0..=1, 0..=1) => compare_rec(
                schema,
                list.items,
                ls.first().copied(),
                rs.first().copied(),
                true,
                path,
                cmp,
            ),
            (l, r) if l >= 2 && r >= 2 => {
                let same =
                    ls.len() == rs.len() && ls.iter().zip(rs).all(|(a, b)| values_equal(a, b));
                if !same {
                    cmp.modified.insert(path);
                }
            }
            (l, _) if l >= 2 => {
                if let Some(first) = rs.first() {
                    compare_rec(schema, list.items, None, Some(first), true, path, cmp);
                }
                cmp.removed.insert(path);
            }
            _ => {
                if let Some(first) = ls.first() {
                    compare_rec(schema, list.items, Some(first), None, true, path, cmp);
                }
                cmp.added.insert(path);
            }
        }
        path.pop();
    }
}

/// Removes every member of `to_remove` from the value (`RemoveItems`). A map or list
/// emptied by the removal stays, empty (upstream turns it into `null`, which its typed
/// round trip then drops or keeps depending on the Go field; keeping it makes repeated
/// applies converge).
pub(crate) fn remove_items(schema: &Schema, t: TypeRef, v: &Value, to_remove: &FieldSet) -> Value {
    remove_rec(schema, t, v, to_remove, 0)
}

fn remove_rec(schema: &Schema, t: TypeRef, v: &Value, to_remove: &FieldSet, depth: usize) -> Value {
    if depth > MAX_DEPTH || to_remove.is_empty() {
        return v.clone();
    }
    match (kind(schema, t, Some(v)), v) {
        (Kind::Map { fields, additional }, Value::Object(map)) if !map.is_empty() => {
            let mut out = Map::new();
            for (k, child) in map {
                let pe = PathElement::Field(k.clone());
                if to_remove.has_member(&pe) {
                    continue;
                }
                let kept = match to_remove.child(&pe) {
                    Some(sub) => {
                        let (ft, _) = field_type(fields, additional, k);
                        remove_rec(schema, ft, child, sub, depth + 1)
                    }
                    None => child.clone(),
                };
                out.insert(k.clone(), kept);
            }
            Value::Object(out)
        }
        (Kind::List(list), Value::Array(items)) if !items.is_empty() => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let pe = item_element(list, item, i);
                if to_remove.has_member(&pe) {
                    continue;
                }
                out.push(match to_remove.child(&pe) {
                    Some(sub) => remove_rec(schema, list.items, item, sub, depth + 1),
                    None => item.clone(),
                });
            }
            Value::Array(out)
        }
        _ => v.clone(),
    }
}

/// Drops `null`-valued fields of typed maps (typed decoding upstream drops them too);
/// untyped JSON keeps its nulls.
pub(crate) fn drop_nulls(schema: &Schema, t: TypeRef, v: &mut Value) {
    drop_nulls_rec(schema, t, v, 0);
}

fn drop_nulls_rec(schema: &Schema, t: TypeRef, v: &mut Value, depth: usize) {
    if depth > MAX_DEPTH || matches!(schema.shape(t), Shape::Untyped { .. }) {
        return;
    }
    match v {
        Value::Object(map) => {
            let (fields, additional) = match schema.shape(t) {
                Shape::Object {
                    fields, additional, ..
                } => (Some(fields), *additional),
                _ => (None, None),
            };
            map.retain(|_, child| !child.is_null());
            for (k, child) in map.iter_mut() {
                let (ft, _) = field_type(fields, additional, k);
                drop_nulls_rec(schema, ft, child, depth + 1);
            }
        }
        Value::Array(items) => {
            if let Shape::List(list) = schema.shape(t) {
                for item in items.iter_mut() {
                    drop_nulls_rec(schema, list.items, item, depth + 1);
                }
            }
        }
        _ => {}
    }
}
