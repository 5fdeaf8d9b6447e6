//! [`PatchError`]: why a strategic merge patch could not be applied, worded like upstream.

use serde_json::Value;

/// A strategic merge patch failure. Messages follow `k8s.io/apimachinery`'s `mergepatch`
/// errors so clients see familiar text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The original or the patch is not a JSON object.
    #[error("invalid JSON document")]
    BadJsonDoc,
    /// A list contains lists.
    #[error("lists of lists are not supported")]
    NoListOfLists,
    /// `$deleteFromPrimitiveList/<field>` is malformed.
    #[error("invalid patch format of primitive list")]
    BadPatchFormatForPrimitiveList,
    /// `$retainKeys` is not a list, or the patch sets a key it does not retain.
    #[error("invalid patch format of retainKeys")]
    BadPatchFormatForRetainKeys,
    /// `$setElementOrder/<field>` is malformed.
    #[error("invalid patch format of setElementOrder list")]
    BadPatchFormatForSetElementOrderList,
    /// A list element lacks the list's merge key.
    #[error("map: {map} does not contain declared merge key: {key}")]
    NoMergeKey {
        /// The element, Go-formatted.
        map: String,
        /// The merge key.
        key: String,
    },
    /// `$patch` has an unknown value.
    #[error("unknown patch type: {directive} in map: {map}")]
    BadPatchType {
        /// The directive value.
        directive: String,
        /// The map holding it, Go-formatted.
        map: String,
    },
    /// `$patch: merge` inside a list.
    #[error("merging lists cannot yet be specified in the patch")]
    MergeDirectiveInList,
    /// A merging list of objects has no merge key in the schema.
    #[error("cannot merge lists without merge key for type {kind}")]
    NoMergeKeyForList {
        /// The element kind.
        kind: String,
    },
    /// Elements of a merging list have different JSON types.
    #[error("list element types are not identical: {lists}")]
    MixedListElements {
        /// The lists, Go-formatted.
        lists: String,
    },
    /// The patch list orders elements differently from `$setElementOrder`.
    #[error("The order in patch list:\n{patch}\n doesn't match $setElementOrder list:\n{order}\n")]
    SetElementOrderMismatch {
        /// The patch list, Go-formatted.
        patch: String,
        /// The order list, Go-formatted.
        order: String,
    },
    /// A value has the wrong JSON type (e.g. a directive that must be a list).
    #[error("expected a {expected}, but received a {actual}")]
    BadArgType {
        /// Expected JSON type.
        expected: &'static str,
        /// Actual JSON type.
        actual: &'static str,
    },
    /// A `$`-prefixed key that is neither a directive nor a declared field.
    #[error("unknown directive {key:?}")]
    UnknownDirective {
        /// The key.
        key: String,
    },
    /// The documents nest deeper than the merge follows.
    #[error("patch nested too deeply")]
    TooDeep,
}

impl PatchError {
    /// The HTTP status the apiserver should answer with: 400 for malformed patches and
    /// documents, 422 for patches that are well-formed but cannot be applied.
    pub fn status_code(&self) -> u16 {
        match self {
            PatchError::BadJsonDoc
            | PatchError::BadPatchFormatForPrimitiveList
            | PatchError::BadPatchFormatForRetainKeys
            | PatchError::BadPatchFormatForSetElementOrderList
            | PatchError::BadPatchType { .. }
            | PatchError::BadArgType { .. }
            | PatchError::UnknownDirective { .. }
            | PatchError::MergeDirectiveInList
            | PatchError::SetElementOrderMismatch { .. } => 400,
            _ => 422,
        }
    }
}

/// The JSON type name of a value, as used in error messages.
pub(crate) fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

/// Formats a value the way Go's `%v` prints decoded JSON (`map[a:1 b:[x y]]`).
pub(crate) fn go_fmt(v: &Value) -> String {
    let mut out = String::new();
    go_fmt_into(v, &mut out, 0);
    out
}

fn go_fmt_into(v: &Value, out: &mut String, depth: usize) {
    if depth > 64 {
        out.push_str("...");
        return;
    }
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                go_fmt_into(item, out, depth + 1);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push_str("map[");
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                go_fmt_into(&map[k], out, depth + 1);
            }
            out.push(']');
        }
    }
}
