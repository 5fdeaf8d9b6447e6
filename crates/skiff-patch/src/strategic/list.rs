//! Merging lists: merge-key lists of objects, scalar sets, list directives and the element
//! ordering rules (`$setElementOrder` > patch order > live order).

use serde_json::Value;

use super::error::{go_fmt, kind_name};
use super::{Merger, PatchError, DIRECTIVE};
use crate::schema::TypeRef;

/// Kind of the elements of the lists being merged.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ElemKind {
    Map,
    Scalar(u8),
}

impl Merger<'_> {
    /// `mergeSlice`: merges two lists of a `patchStrategy=merge` field.
    pub(super) fn merge_slice(
        &self,
        original: Vec<Value>,
        patch: Vec<Value>,
        items: TypeRef,
        merge_key: Option<&str>,
        delete_list: bool,
        depth: usize,
    ) -> Result<Vec<Value>, PatchError> {
        if original.is_empty() && patch.is_empty() {
            return Ok(original);
        }
        match element_kind(&[&original, &patch])? {
            None => Ok(original),
            Some(ElemKind::Scalar(_)) => {
                if delete_list {
                    return Ok(original
                        .into_iter()
                        .filter(|v| !contains(&patch, v))
                        .collect());
                }
                let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
                for v in original.iter().chain(patch.iter()) {
                    if !contains(&merged, v) {
                        merged.push(v.clone());
                    }
                }
                let (in_patch, server_only) = partition(&merged, &patch, None)?;
                normalize_element_order(in_patch, server_only, &patch, &original, None)
            }
            Some(ElemKind::Map) => {
                let key = merge_key
                    .ok_or_else(|| PatchError::NoMergeKeyForList { kind: "map".into() })?;
                let (original, patch) =
                    self.special_elements(original, patch, key, items, depth)?;
                let merged = self.merge_by_key(original.clone(), &patch, key, items, depth)?;
                let (in_patch, server_only) = partition(&merged, &patch, Some(key))?;
                normalize_element_order(in_patch, server_only, &patch, &original, Some(key))
            }
        }
    }

    /// `mergeSliceWithSpecialElements`: applies `$patch: delete|replace` elements and returns
    /// the new original and the patch without them.
    fn special_elements(
        &self,
        mut original: Vec<Value>,
        patch: Vec<Value>,
        key: &str,
        items: TypeRef,
        depth: usize,
    ) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
        let mut plain = Vec::with_capacity(patch.len());
        let mut replace = false;
        for element in patch {
            let Some(directive) = element.get(DIRECTIVE) else {
                plain.push(element);
                continue;
            };
            match directive.as_str() {
                Some("delete") => match element.get(key) {
                    Some(value) => original.retain(|o| !o.get(key).is_some_and(|v| eq(v, value))),
                    None => {
                        return Err(PatchError::NoMergeKey {
                            map: go_fmt(&element),
                            key: key.into(),
                        })
                    }
                },
                Some("replace") => replace = true,
                Some("merge") => return Err(PatchError::MergeDirectiveInList),
                _ => {
                    return Err(PatchError::BadPatchType {
                        directive: go_fmt(directive),
                        map: go_fmt(&element),
                    })
                }
            }
        }
        if replace {
            let mut replaced = Vec::with_capacity(plain.len());
            for element in plain {
                replaced.push(self.fresh(element, items, depth)?);
            }
            return Ok((replaced, Vec::new()));
        }
        Ok((original, plain))
    }

    /// `mergeSliceWithoutSpecialElements`: merges each patch element into the original
    /// element with the same merge key, appending the others.
    fn merge_by_key(
        &self,
        mut original: Vec<Value>,
        patch: &[Value],
        key: &str,
        items: TypeRef,
        depth: usize,
    ) -> Result<Vec<Value>, PatchError> {
        for element in patch {
            let Value::Object(fields) = element else {
                return Err(PatchError::BadArgType {
                    expected: "map",
                    actual: kind_name(element),
                });
            };
            let Some(value) = fields.get(key) else {
                return Err(PatchError::NoMergeKey {
                    map: go_fmt(element),
                    key: key.into(),
                });
            };
            let found = original
                .iter()
                .position(|o| o.get(key).is_some_and(|v| eq(v, value)));
            match found.map(|i| (i, original[i].take())) {
                Some((i, Value::Object(existing))) => {
                    let merged = self.merge_map(existing, fields.clone(), items, depth + 1)?;
                    original[i] = Value::Object(merged);
                }
                _ => original.push(self.fresh(element.clone(), items, depth)?),
            }
        }
        Ok(original)
    }
}

/// The common kind of all elements, `None` when there are none.
fn element_kind(lists: &[&[Value]]) -> Result<Option<ElemKind>, PatchError> {
    let mut kind = None;
    for v in lists.iter().flat_map(|l| l.iter()) {
        let k = match v {
            Value::Array(_) => return Err(PatchError::NoListOfLists),
            Value::Object(_) => ElemKind::Map,
            Value::String(_) => ElemKind::Scalar(0),
            Value::Number(_) => ElemKind::Scalar(1),
            Value::Bool(_) => ElemKind::Scalar(2),
            Value::Null => ElemKind::Scalar(3),
        };
        match kind {
            None => kind = Some(k),
            Some(prev) if prev != k => {
                let all: Vec<String> = lists
                    .iter()
                    .map(|l| go_fmt(&Value::Array(l.to_vec())))
                    .collect();
                return Err(PatchError::MixedListElements {
                    lists: format!("[{}]", all.join(" ")),
                });
            }
            Some(_) => {}
        }
    }
    Ok(kind)
}

/// JSON equality with numbers compared numerically (`80` equals `80.0`, as in Go).
pub(super) fn eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn contains(list: &[Value], v: &Value) -> bool {
    list.iter().any(|x| eq(x, v))
}

/// The value identifying an element: its merge key for objects, itself for scalars.
fn identity<'v>(v: &'v Value, key: Option<&str>) -> Option<&'v Value> {
    match key {
        Some(k) => v.get(k),
        None => Some(v),
    }
}

fn index_of(list: &[Value], v: &Value, key: Option<&str>) -> Option<usize> {
    let id = identity(v, key)?;
    list.iter()
        .position(|item| identity(item, key).is_some_and(|x| eq(x, id)))
}

/// Splits `merged` into the items present in `by` and the others (server-only).
pub(super) fn partition(
    merged: &[Value],
    by: &[Value],
    key: Option<&str>,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut in_patch = Vec::new();
    let mut server_only = Vec::new();
    if key.is_some() {
        if let Some(other) = by.iter().find(|b| !b.is_object()) {
            return Err(PatchError::BadArgType {
                expected: "map",
                actual: kind_name(other),
            });
        }
    }
    for v in merged {
        if let Some(k) = key {
            require_key(v, k)?;
        }
        if index_of(by, v, key).is_some() {
            in_patch.push(v.clone());
        } else {
            server_only.push(v.clone());
        }
    }
    Ok((in_patch, server_only))
}

fn require_key(v: &Value, key: &str) -> Result<(), PatchError> {
    match v {
        Value::Object(m) if m.contains_key(key) => Ok(()),
        Value::Object(_) => Err(PatchError::NoMergeKey {
            map: go_fmt(v),
            key: key.into(),
        }),
        other => Err(PatchError::BadArgType {
            expected: "map",
            actual: kind_name(other),
        }),
    }
}

fn is_delete_directive(v: &Value) -> bool {
    v.get(DIRECTIVE).and_then(Value::as_str) == Some("delete")
}

/// `normalizeElementOrder`: sorts patch items by `patch_order` and server-only items by
/// `server_order`, then interleaves them keeping both relative orders.
pub(super) fn normalize_element_order(
    patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    key: Option<&str>,
) -> Result<Vec<Value>, PatchError> {
    let patch = normalize_slice_order(patch, patch_order, key)?;
    let server_only = normalize_slice_order(server_only, server_order, key)?;
    Ok(merge_sorted(server_only, patch, server_order, key))
}

fn normalize_slice_order(
    mut to_sort: Vec<Value>,
    order: &[Value],
    key: Option<&str>,
) -> Result<Vec<Value>, PatchError> {
    let mut to_delete = Vec::new();
    if let Some(k) = key {
        for v in to_sort.iter().chain(order.iter()) {
            require_key(v, k)?;
        }
        let (keep, delete): (Vec<Value>, Vec<Value>) =
            to_sort.into_iter().partition(|v| !is_delete_directive(v));
        to_sort = keep;
        to_delete = delete;
    }
    to_sort.sort_by_key(|v| index_of(order, v, key).unwrap_or(usize::MAX));
    to_sort.extend(to_delete);
    Ok(to_sort)
}

/// `mergeSortedSlice`: inserts each `left` item before the first `right` item that comes
/// after it in `server_order`; items not both in `server_order` keep `right` first.
fn merge_sorted(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    key: Option<&str>,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                match (
                    index_of(server_order, l, key),
                    index_of(server_order, r, key),
                ) {
                    (Some(li), Some(ri)) => li < ri,
                    _ => false,
                }
            }
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

/// `validatePatchWithSetOrderList`: the patch list must be ordered like, and (ignoring
/// deletions) contained in, the `$setElementOrder` list.
pub(super) fn validate_patch_with_set_order(
    patch: Option<&[Value]>,
    order: &[Value],
    key: Option<&str>,
) -> Result<(), PatchError> {
    let patch = patch.unwrap_or_default();
    if order.is_empty() || patch.is_empty() {
        return Ok(());
    }
    let non_delete: Vec<&Value> = match key {
        Some(_) => {
            if let Some(bad) = patch.iter().find(|v| !v.is_object()) {
                return Err(PatchError::BadArgType {
                    expected: "map",
                    actual: kind_name(bad),
                });
            }
            patch.iter().filter(|v| !is_delete_directive(v)).collect()
        }
        None => patch.iter().collect(),
    };
    let (mut pi, mut oi) = (0, 0);
    while pi < non_delete.len() && oi < order.len() {
        if non_delete[pi].get(DIRECTIVE).is_some() {
            pi += 1;
            continue;
        }
        if key_values_equal(non_delete[pi], &order[oi], key)? {
            pi += 1;
        }
        oi += 1;
    }
    if pi < non_delete.len() && oi >= order.len() {
        return Err(PatchError::SetElementOrderMismatch {
            patch: go_fmt(&Value::Array(patch.to_vec())),
            order: go_fmt(&Value::Array(order.to_vec())),
        });
    }
    Ok(())
}

fn key_values_equal(left: &Value, right: &Value, key: Option<&str>) -> Result<bool, PatchError> {
    let Some(k) = key else {
        return Ok(eq(left, right));
    };
    require_key(left, k)?;
    require_key(right, k)?;
    Ok(match (left.get(k), right.get(k)) {
        (Some(l), Some(r)) => eq(l, r),
        _ => false,
    })
}
