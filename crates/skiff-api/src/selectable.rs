//! The part of an object that selectors read, decoded straight from its JSON.
//!
//! Label selectors read `metadata.labels`; field selectors read scalar fields one or two
//! levels deep (`spec.nodeName`, `status.phase`, `involvedObject.name`, `type`, …) and
//! `status.podIPs`. A watch with a selector checks every change against it, and decoding a
//! whole pod into a `serde_json::Value` for that (containers, managedFields, conditions…) costs
//! several times more than skipping those parts while parsing.
//!
//! ```
//! use serde_json::json;
//! let pod = json!({"metadata": {"name": "p", "labels": {"app": "web"}, "annotations": {"a": "b"}},
//!                  "spec": {"nodeName": "n1", "containers": [{"name": "c"}]}});
//! let view = skiff_api::selectable::view(&serde_json::to_vec(&pod).unwrap()).unwrap();
//! assert_eq!(view, json!({"metadata": {"name": "p", "labels": {"app": "web"}},
//!                         "spec": {"nodeName": "n1"}}));
//! ```

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Fields kept whole at the second level: what selectors read that is not a scalar.
const KEPT_WHOLE: &[&str] = &["labels", "podIPs"];

/// The selectable view of a JSON object: top-level scalars, and in each top-level object its
/// scalars plus `labels` and `podIPs`. `None` if `bytes` is not a JSON object.
pub fn view(bytes: &[u8]) -> Option<Value> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = Level { depth: 0 }.deserialize(&mut de).ok()??;
    de.end().ok()?;
    v.is_object().then_some(v)
}

/// Decodes a value at `depth` (0 = the object itself): objects are walked at depths 0 and 1,
/// scalars kept, and anything deeper skipped (`None`).
#[derive(Clone, Copy)]
struct Level {
    depth: u8,
}

impl<'de> DeserializeSeed<'de> for Level {
    type Value = Option<Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Level {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map(Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Value::String(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Value::String(v)))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Some(Value::Null))
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Some(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        if self.depth > 1 {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(None);
        }
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = if self.depth == 1 && KEPT_WHOLE.contains(&key.as_str()) {
                Some(map.next_value::<Value>()?)
            } else {
                map.next_value_seed(Level {
                    depth: self.depth + 1,
                })?
            };
            if let Some(v) = value {
                out.insert(key, v);
            }
        }
        Ok(Some(Value::Object(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::view;
    use crate::selector::{field_values, supported_fields, FieldSelector, LabelSelector};
    use serde_json::json;

    #[test]
    fn selectors_decide_the_same_on_the_view_as_on_the_object() {
        let objects = [
            json!({"metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web", "tier": "x"},
                                "managedFields": [{"manager": "m"}]},
                   "spec": {"nodeName": "n1", "hostNetwork": true, "schedulerName": "s",
                            "containers": [{"name": "c", "image": "i"}]},
                   "status": {"phase": "Running", "podIP": "10.0.0.1",
                              "podIPs": [{"ip": "10.0.0.1"}], "conditions": [{"type": "Ready"}]}}),
            json!({"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "p"},
                   "source": {"component": "kubelet"}, "reason": "Started", "type": "Normal"}),
            json!({"metadata": {"name": "q"}, "spec": {}, "status": {"replicas": 3}}),
        ];
        let fields = [
            "metadata.name=p",
            "spec.nodeName=n1",
            "spec.nodeName!=",
            "status.phase=Running",
            "status.podIPs=10.0.0.1",
            "spec.hostNetwork=false",
            "involvedObject.name=p,source=kubelet",
            "status.replicas=3",
        ];
        for o in &objects {
            let v = view(&serde_json::to_vec(o).unwrap()).unwrap();
            for (group, plural) in [("", "pods"), ("", "events"), ("apps", "replicasets")] {
                let supported = supported_fields(group, plural);
                assert_eq!(field_values(o, supported), field_values(&v, supported));
                for f in fields {
                    let sel = FieldSelector::parse(f).unwrap();
                    if sel.check_supported(supported).is_err() {
                        continue;
                    }
                    assert_eq!(
                        sel.matches(&field_values(o, supported)),
                        sel.matches(&field_values(&v, supported))
                    );
                }
            }
            for l in ["app=web", "app!=web", "tier", "!tier"] {
                let sel = LabelSelector::parse(l).unwrap();
                let labels = |x: &serde_json::Value| {
                    x.pointer("/metadata/labels")
                        .cloned()
                        .unwrap_or(serde_json::Value::Null)
                };
                assert_eq!(sel.matches(&labels(o)), sel.matches(&labels(&v)));
            }
        }
    }

    #[test]
    fn what_is_not_an_object_has_no_view() {
        assert!(view(b"[1]").is_none());
        assert!(view(b"{\"a\":").is_none());
        assert!(view(b"\"x\"").is_none());
        assert!(view(b"{} x").is_none());
    }
}
