//! Tests of field sets: fieldsV1 encoding, decoding and set algebra.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

/// The fieldsV1 of a `kubectl create deployment` entry, as upstream writes it.
fn kubectl_create_fields() -> Value {
    json!({
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {
            "f:progressDeadlineSeconds": {},
            "f:replicas": {},
            "f:selector": {},
            "f:strategy": {
                "f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}},
                "f:type": {}
            },
            "f:template": {
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {
                    "f:containers": {
                        "k:{\"name\":\"nginx\"}": {
                            ".": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {},
                            "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                                ".": {}, "f:containerPort": {}, "f:protocol": {}}},
                            "f:resources": {}
                        }
                    },
                    "f:dnsPolicy": {},
                    "f:finalizers": {"v:\"a\"": {}}
                }
            }
        }
    })
}

fn field(name: &str) -> PathElement {
    PathElement::Field(name.into())
}

#[test]
fn upstream_fields_v1_round_trips_byte_for_byte() {
    let v = kubectl_create_fields();
    let set = FieldSet::from_fields_v1(&v).expect("valid fieldsV1");
    assert_eq!(set.to_fields_v1().to_string(), v.to_string());
}

#[test]
fn decoded_fields_v1_has_the_expected_paths() {
    let set = FieldSet::from_fields_v1(&kubectl_create_fields()).expect("valid fieldsV1");
    let paths = set.path_strings();
    for expected in [
        ".spec.replicas",
        ".spec.selector",
        ".metadata.labels",
        ".metadata.labels.app",
        ".spec.template.spec.containers[name=\"nginx\"]",
        ".spec.template.spec.containers[name=\"nginx\"].ports[containerPort=80,protocol=\"TCP\"].protocol",
        ".spec.template.spec.finalizers[=\"a\"]",
    ] {
        assert!(paths.iter().any(|p| p == expected), "missing {expected} in {paths:?}");
    }
    assert!(!set.has(&[field("spec")]), "spec only appears as a parent");
    assert!(set.has(&[field("spec"), field("strategy"), field("rollingUpdate")]));
}

#[test]
fn malformed_fields_v1_is_rejected() {
    let cases = [
        (
            json!({"x:bad": {}}),
            "fieldsV1: invalid path element \"x:bad\" at \"\"",
        ),
        (
            json!({"f:spec": {"k:notjson": {}}}),
            "fieldsV1: invalid path element \"k:notjson\" at \".spec\"",
        ),
        (
            json!({"f:spec": []}),
            "fieldsV1: expected an object at \".spec\"",
        ),
        (json!("f:spec"), "fieldsV1: expected an object at \"\""),
    ];
    for (doc, message) in cases {
        let err = FieldSet::from_fields_v1(&doc).expect_err("must fail");
        assert_eq!(err.to_string(), message);
    }
}

fn set_of(paths: &[&[&str]]) -> FieldSet {
    FieldSet::from_field_paths(paths)
}

#[test]
fn set_algebra_follows_structured_merge_diff() {
    let a = set_of(&[&["spec", "replicas"], &["spec", "paused"], &["status"]]);
    let b = set_of(&[&["spec", "replicas"], &["metadata", "labels", "x"]]);
    let cases: Vec<(&str, FieldSet, FieldSet)> = vec![
        (
            "union holds paths of both",
            a.union(&b),
            set_of(&[
                &["spec", "replicas"],
                &["spec", "paused"],
                &["status"],
                &["metadata", "labels", "x"],
            ]),
        ),
        (
            "intersection holds common paths",
            a.intersection(&b),
            set_of(&[&["spec", "replicas"]]),
        ),
        (
            "difference removes exact paths only",
            a.difference(&set_of(&[&["spec"], &["spec", "replicas"]])),
            set_of(&[&["spec", "paused"], &["status"]]),
        ),
        (
            "recursive difference removes whole subtrees",
            a.recursive_difference(&set_of(&[&["spec"]])),
            set_of(&[&["status"]]),
        ),
    ];
    for (name, got, expected) in cases {
        assert_eq!(got, expected, "{name}");
    }
}

fn arb_element() -> impl Strategy<Value = PathElement> {
    prop_oneof![
        "[a-z]{1,6}".prop_map(PathElement::Field),
        ("[a-z]{1,4}", 0i64..100).prop_map(|(k, v)| PathElement::key(vec![
            ("name".into(), Value::String(k)),
            ("port".into(), Value::from(v)),
        ])),
        "[a-z]{0,4}".prop_map(|s| PathElement::Value(Value::String(s))),
        (0i64..5).prop_map(|n| PathElement::Value(Value::from(n))),
        (0usize..5).prop_map(PathElement::Index),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn fields_v1_encoding_round_trips(paths in prop::collection::vec(prop::collection::vec(arb_element(), 1..5), 0..12)) {
        let mut set = FieldSet::new();
        for p in &paths {
            set.insert(p);
        }
        let encoded = set.to_fields_v1();
        let decoded = FieldSet::from_fields_v1(&encoded).expect("own encoding parses");
        prop_assert_eq!(&decoded, &set);
        prop_assert_eq!(decoded.to_fields_v1(), encoded);
        for p in &paths {
            prop_assert!(decoded.has(p));
        }
    }
}

/// Paths over a small alphabet, so that two sets share prefixes and members.
fn arb_small_set() -> impl Strategy<Value = FieldSet> {
    let element = prop_oneof![
        "[ab]".prop_map(PathElement::Field),
        (0usize..2).prop_map(PathElement::Index),
    ];
    prop::collection::vec(prop::collection::vec(element, 1..4), 0..10).prop_map(|paths| {
        let mut set = FieldSet::new();
        for p in &paths {
            set.insert(p);
        }
        set
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn in_place_removal_matches_the_set_algebra(a in arb_small_set(), b in arb_small_set()) {
        let mut removed = a.clone();
        removed.remove_all(&b);
        prop_assert_eq!(&removed, &a.difference(&b));
        let mut recursive = a.clone();
        recursive.remove_recursive(&b);
        prop_assert_eq!(&recursive, &a.recursive_difference(&b));
        // No empty subtree is left behind: the encoding of the result parses back to it.
        prop_assert_eq!(FieldSet::from_fields_v1(&removed.to_fields_v1()).unwrap(), removed);
        prop_assert_eq!(FieldSet::from_fields_v1(&recursive.to_fields_v1()).unwrap(), recursive);
    }
}
