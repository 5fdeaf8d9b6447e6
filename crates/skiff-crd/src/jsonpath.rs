//! Simple dot-notation JSON paths (`.spec.replicas`, `.status.conditions[0].type`) as used by the
//! scale subresource's `specReplicasPath`, `statusReplicasPath` and `labelSelectorPath`.

use serde_json::{Map, Value};

enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Splits `.a.b[0].c` into steps; `None` when the path is malformed.
fn steps(path: &str) -> Option<Vec<Step<'_>>> {
    let mut out = Vec::new();
    let rest = path.strip_prefix('.').unwrap_or(path);
    if rest.is_empty() {
        return Some(out);
    }
    for seg in rest.split('.') {
        let (name, mut idx) = match seg.find('[') {
            Some(i) => (&seg[..i], &seg[i..]),
            None => (seg, ""),
        };
        if name.is_empty() && idx.is_empty() {
            return None;
        }
        if !name.is_empty() {
            out.push(Step::Key(name));
        }
        while !idx.is_empty() {
            let close = idx.find(']')?;
            out.push(Step::Index(idx[1..close].parse().ok()?));
            idx = &idx[close + 1..];
            if !idx.is_empty() && !idx.starts_with('[') {
                return None;
            }
        }
    }
    Some(out)
}

/// The value at `path` (e.g. `.spec.replicas`) in `obj`, if present. `.` is the object itself.
pub fn json_path_get<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    steps(path)?.iter().try_fold(obj, |cur, step| match step {
        Step::Key(k) => cur.as_object()?.get(*k),
        Step::Index(i) => cur.as_array()?.get(*i),
    })
}

/// Sets the value at `path` in `obj`, creating missing (or non-object) intermediate objects.
/// Array indices must already exist; a malformed path or missing index leaves `obj` unchanged.
pub fn json_path_set(obj: &mut Value, path: &str, v: Value) {
    let Some(steps) = steps(path) else { return };
    let mut cur = obj;
    for step in &steps {
        cur = match step {
            Step::Key(k) => {
                if !cur.is_object() {
                    *cur = Value::Object(Map::new());
                }
                let Value::Object(m) = cur else { return };
                m.entry(k.to_string()).or_insert(Value::Null)
            }
            Step::Index(i) => match cur.as_array_mut().and_then(|a| a.get_mut(*i)) {
                Some(item) => item,
                None => return,
            },
        };
    }
    *cur = v;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn get_and_set() {
        let mut obj = json!({"spec": {"replicas": 3, "list": [{"a": 1}]}});
        assert_eq!(json_path_get(&obj, ".spec.replicas"), Some(&json!(3)));
        assert_eq!(json_path_get(&obj, ".spec.list[0].a"), Some(&json!(1)));
        assert_eq!(json_path_get(&obj, ".spec.missing"), None);
        assert_eq!(json_path_get(&obj, ".spec..x"), None);
        assert_eq!(json_path_get(&obj, "."), Some(&obj.clone()));
        json_path_set(&mut obj, ".status.replicas", json!(2));
        json_path_set(&mut obj, ".spec.replicas", json!(5));
        json_path_set(&mut obj, ".spec.list[0].a", json!(7));
        json_path_set(&mut obj, ".spec.list[4].a", json!(7));
        assert_eq!(
            obj,
            json!({"spec": {"replicas": 5, "list": [{"a": 7}]}, "status": {"replicas": 2}})
        );
    }
}
