//! Property tests: no entry point panics on arbitrary JSON, whether as object or as schema.

use super::{crontab_crd, crontab_schema};
use crate::{apply_defaults, json_path_get, json_path_set, prune, validate, validate_crd};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Keys likely to hit real code paths: CronTab fields and schema keywords.
const KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "spec",
    "status",
    "cronSpec",
    "replicas",
    "ports",
    "tags",
    "extra",
    "size",
    "template",
    "labels",
    "protocol",
    "type",
    "properties",
    "items",
    "additionalProperties",
    "required",
    "default",
    "enum",
    "anyOf",
    "allOf",
    "oneOf",
    "not",
    "pattern",
    "minimum",
    "maximum",
    "multipleOf",
    "maxLength",
    "minItems",
    "maxProperties",
    "nullable",
    "format",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-int-or-string",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-validations",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        (-3i64..12).prop_map(Value::from),
        prop::sample::select(vec![
            "",
            "object",
            "array",
            "string",
            "integer",
            "number",
            "map",
            "set",
            "([",
            "^a+$",
            "date-time",
            "byte",
            "a",
        ])
        .prop_map(Value::from),
        "[a-z*/ 0-9]{0,12}".prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|kv| {
                Value::Object(
                    kv.into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn custom_object_functions_never_panic(obj in json_value(), spec in json_value()) {
        let schema = crontab_schema();
        let mut obj = obj;
        if let Value::Object(m) = &mut obj {
            m.insert("spec".into(), spec);
        }
        let _ = validate(&schema, &obj);
        let mut pruned = obj.clone();
        let _ = prune(&schema, &mut pruned);
        apply_defaults(&schema, &mut pruned);
        let _ = validate(&schema, &pruned);
        let _ = json_path_get(&obj, ".spec.replicas");
        json_path_set(&mut pruned, ".spec.replicas", Value::from(1));
    }

    #[test]
    fn arbitrary_schemas_never_panic(schema in json_value(), obj in json_value()) {
        let _ = validate(&schema, &obj);
        let mut o = obj.clone();
        let _ = prune(&schema, &mut o);
        apply_defaults(&schema, &mut o);
        let mut crd = crontab_crd();
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = schema;
        let _ = validate_crd(&crd);
        let _ = validate_crd(&obj);
    }
}
