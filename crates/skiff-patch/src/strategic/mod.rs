//! Strategic merge patch (`application/strategic-merge-patch+json`), as applied by the
//! apiserver (`k8s.io/apimachinery/pkg/util/strategicpatch`, `MergeParallelList` and
//! `IgnoreUnmatchedNulls` on).
//!
//! Maps merge recursively and `null` deletes a key. Lists follow the schema: lists with
//! `patchStrategy=merge` merge objects by their merge key and union scalars; every other
//! list is replaced. Directives: `$patch: replace|delete|merge` in maps, `$patch:
//! replace|delete` in list elements, `$retainKeys`, `$setElementOrder/<field>` and
//! `$deleteFromPrimitiveList/<field>`.
//!
//! Deviations from upstream, all lenient: `$patch: merge` in a map is accepted as a plain
//! merge; values added where the original has no value are cleaned of directives and
//! `null`s (upstream stores them raw and relies on typed decoding to drop them); fields
//! unknown to the schema merge like untyped JSON instead of failing.

mod error;
mod list;

use serde_json::{Map, Value};

pub use error::PatchError;

use crate::schema::{Schema, Shape, TypeRef};
use error::{go_fmt, kind_name};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";
const MAX_DEPTH: usize = 200;

/// Applies a strategic merge `patch` to `original` (both JSON objects) of type `root`.
pub fn strategic_merge(
    original: &Value,
    patch: &Value,
    schema: &Schema,
    root: TypeRef,
) -> Result<Value, PatchError> {
    let (Value::Object(original), Value::Object(patch)) = (original, patch) else {
        return Err(PatchError::BadJsonDoc);
    };
    let merger = Merger { schema };
    merger
        .merge_map(original.clone(), patch.clone(), root, 0)
        .map(Value::Object)
}

struct Merger<'a> {
    schema: &'a Schema,
}

impl Merger<'_> {
    /// `mergeMap`: merges `patch` into `original`, both values of type `t`.
    fn merge_map(
        &self,
        mut original: Map<String, Value>,
        mut patch: Map<String, Value>,
        t: TypeRef,
        depth: usize,
    ) -> Result<Map<String, Value>, PatchError> {
        if depth > MAX_DEPTH {
            return Err(PatchError::TooDeep);
        }
        if let Some(directive) = patch.get(DIRECTIVE) {
            match directive.as_str() {
                Some("replace") => {
                    patch.shift_remove(DIRECTIVE);
                    return self.merge_map(Map::new(), patch, t, depth + 1);
                }
                Some("delete") => return Ok(Map::new()),
                Some("merge") => {
                    patch.shift_remove(DIRECTIVE);
                }
                _ => {
                    return Err(PatchError::BadPatchType {
                        directive: go_fmt(directive),
                        map: go_fmt(&Value::Object(patch)),
                    })
                }
            }
        }
        apply_retain_keys(&mut original, &mut patch)?;
        self.merge_set_element_orders(&mut original, &mut patch, t, depth)?;

        for (key, patch_value) in patch {
            let (key, delete_list) = match key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
                Some(rest) if !rest.is_empty() => (rest.to_string(), true),
                Some(_) => return Err(PatchError::BadPatchFormatForPrimitiveList),
                None => (key, false),
            };
            if key.starts_with('$') && !delete_list && self.schema.field(t, &key).is_none() {
                return Err(PatchError::UnknownDirective { key });
            }
            if patch_value.is_null() {
                original.shift_remove(&key);
                continue;
            }
            let field = self.schema.field_or_untyped(t, &key);
            let existing = original.get_mut(&key).map(std::mem::take);
            let merged = match (existing, patch_value) {
                (None, _) if delete_list => continue,
                (None, p) => self.fresh(p, field, depth)?,
                (Some(Value::Object(o)), Value::Object(p)) => {
                    Value::Object(self.merge_map(o, p, field, depth + 1)?)
                }
                (Some(Value::Array(o)), Value::Array(p)) => {
                    self.merge_list_field(o, p, field, delete_list, depth)?
                }
                (Some(old), _) if delete_list => old,
                (Some(_), p) => self.fresh(p, field, depth)?,
            };
            // Replace in place so the original key order is kept.
            match original.get_mut(&key) {
                Some(slot) => *slot = merged,
                None => {
                    original.insert(key, merged);
                }
            }
        }
        Ok(original)
    }

    /// A patch value placed where the original has nothing comparable: merged into an empty
    /// value so directives and nulls are resolved.
    fn fresh(&self, value: Value, t: TypeRef, depth: usize) -> Result<Value, PatchError> {
        match value {
            Value::Object(p) => Ok(Value::Object(self.merge_map(
                Map::new(),
                p,
                t,
                depth + 1,
            )?)),
            Value::Array(p) => self.merge_list_field(Vec::new(), p, t, false, depth),
            scalar => Ok(scalar),
        }
    }

    /// `mergeSliceHandler`: merges lists with `patchStrategy=merge`, replaces the others.
    fn merge_list_field(
        &self,
        original: Vec<Value>,
        patch: Vec<Value>,
        t: TypeRef,
        delete_list: bool,
        depth: usize,
    ) -> Result<Value, PatchError> {
        match self.schema.shape(t) {
            Shape::List(list) if list.patch_merge => {
                let merge_key = list.merge_key.as_deref();
                self.merge_slice(original, patch, list.items, merge_key, delete_list, depth)
                    .map(Value::Array)
            }
            _ => Ok(Value::Array(patch)),
        }
    }

    /// `mergePatchIntoOriginal`: handles every `$setElementOrder/<field>` of `patch` together
    /// with the patch list of that field, removing both from `patch`.
    fn merge_set_element_orders(
        &self,
        original: &mut Map<String, Value>,
        patch: &mut Map<String, Value>,
        t: TypeRef,
        depth: usize,
    ) -> Result<(), PatchError> {
        let keys: Vec<String> = patch
            .keys()
            .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
            .cloned()
            .collect();
        for directive_key in keys {
            let Some(order) = patch.shift_remove(&directive_key) else {
                continue;
            };
            let Value::Array(order) = order else {
                return Err(PatchError::BadArgType {
                    expected: "list",
                    actual: kind_name(&order),
                });
            };
            let field_key = match directive_key.strip_prefix(SET_ELEMENT_ORDER) {
                Some(k) if !k.is_empty() => k.to_string(),
                _ => return Err(PatchError::BadPatchFormatForSetElementOrderList),
            };
            let original_list = match original.get(&field_key) {
                None => None,
                Some(Value::Array(items)) => Some(items.clone()),
                Some(other) => {
                    return Err(PatchError::BadArgType {
                        expected: "list",
                        actual: kind_name(other),
                    })
                }
            };
            let patch_list = match patch.shift_remove(&field_key) {
                None => None,
                Some(Value::Array(items)) => Some(items),
                Some(other) => {
                    return Err(PatchError::BadArgType {
                        expected: "list",
                        actual: kind_name(&other),
                    })
                }
            };
            let field = self.schema.field_or_untyped(t, &field_key);
            let (merge_key, patch_merge) = match self.schema.shape(field) {
                Shape::List(list) => (list.merge_key.clone(), list.patch_merge),
                _ => (None, false),
            };
            let merge_key = merge_key.as_deref();
            list::validate_patch_with_set_order(patch_list.as_deref(), &order, merge_key)?;
            let merged = match (original_list.clone(), patch_list.clone()) {
                (None, None) => continue,
                (Some(o), None) => o,
                (o, Some(p)) => {
                    match self.merge_list_field(o.unwrap_or_default(), p, field, false, depth)? {
                        Value::Array(items) => items,
                        _ => Vec::new(),
                    }
                }
            };
            if !patch_merge || merged.is_empty() {
                original.insert(field_key, Value::Array(merged));
                continue;
            }
            let original_items = original_list.unwrap_or_default();
            let (in_patch, server_only) = list::partition(&merged, &order, merge_key)?;
            let both = list::normalize_element_order(
                in_patch,
                server_only,
                &order,
                &original_items,
                merge_key,
            )?;
            original.insert(field_key, Value::Array(both));
        }
        Ok(())
    }
}

/// `applyRetainKeysDirective`: drops keys of `original` that `$retainKeys` does not list,
/// after checking that the patch only sets retained keys.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), PatchError> {
    let Some(retain) = patch.shift_remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(PatchError::BadPatchFormatForRetainKeys);
    };
    let retained = |k: &str| retain.iter().any(|r| r.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || k.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !retained(k) {
            return Err(PatchError::BadPatchFormatForRetainKeys);
        }
    }
    original.retain(|k, _| retained(k));
    Ok(())
}

#[cfg(test)]
mod tests;
