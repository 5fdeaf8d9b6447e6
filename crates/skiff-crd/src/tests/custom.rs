//! Custom objects: validation, pruning and defaulting against the CronTab schema and small schemas.

use super::{crontab_schema, fe, inv};
use crate::FieldErrorKind::{Duplicate, NotSupported, Required, TooLong, TooMany};
use crate::{apply_defaults, prune, validate, FieldError};
use serde_json::{json, Value};

fn object(spec: Value) -> Value {
    json!({"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x", "namespace": "d"}, "spec": spec})
}

#[test]
fn valid_crontab_has_no_errors() {
    let obj = object(json!({
        "cronSpec": "*/5 * * * *",
        "image": "busybox",
        "replicas": 3,
        "mode": "Fast",
        "ports": [{"name": "http", "port": 80}, {"name": "dns", "port": 53}],
        "tags": ["a", "b"],
        "extra": {"anything": [1, {"x": null}]},
        "size": "50%",
        "ratio": 1.5,
        "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}},
        "startAt": "2024-05-01T10:00:00Z",
        "labels": {"a": "ok"}
    }));
    assert_eq!(validate(&crontab_schema(), &obj), Vec::<FieldError>::new());
}

#[test]
fn invalid_crontab_reports_every_error_in_upstream_order() {
    let obj = object(json!({
        "cronSpec": "bad",
        "image": "",
        "replicas": 0,
        "mode": "Medium",
        "ports": [{"name": "a", "port": 1}, {"name": "a", "port": 2}, {"name": "b"}, {"port": 4}],
        "tags": ["x", "y", "x", "x"],
        "size": true,
        "ratio": 0.3,
        "template": {"kind": "Pod"},
        "startAt": "never",
        "labels": {"a": "toolong"}
    }));
    let want = vec![
        fe(
            "spec.cronSpec",
            inv("bad"),
            r"spec.cronSpec in body should match '^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$'",
        ),
        fe(
            "spec.image",
            inv(""),
            "spec.image in body should be at least 1 chars long",
        ),
        fe(
            "spec.replicas",
            inv(0),
            "spec.replicas in body should be greater than or equal to 1",
        ),
        fe(
            "spec.mode",
            NotSupported(json!("Medium"), vec!["Fast".into(), "Slow".into()]),
            "",
        ),
        fe("spec.ports[3].name", Required, ""),
        fe("spec.ports", TooMany(4, 3), ""),
        fe(
            "spec.size",
            inv("boolean"),
            r#"spec.size in body must be of type integer,string: "boolean""#,
        ),
        fe(
            "spec.ratio",
            inv(0.3),
            "spec.ratio in body should be a multiple of 0.5",
        ),
        fe(
            "spec.startAt",
            inv("never"),
            r#"spec.startAt in body must be of type date-time: "never""#,
        ),
        fe("spec.labels.a", TooLong(5), ""),
        fe("spec.template.apiVersion", Required, ""),
        fe("spec.ports[1]", Duplicate(json!({"name": "a"})), ""),
        fe("spec.tags[2]", Duplicate(json!("x")), ""),
    ];
    assert_eq!(validate(&crontab_schema(), &obj), want);
}

#[test]
fn value_rules_table() {
    let cases: Vec<(&str, Value, Value, Vec<FieldError>)> = vec![
        (
            "type mismatch",
            json!({"type": "integer"}),
            json!("string"),
            vec![fe("spec.x", inv("string"), r#"spec.x in body must be of type integer: "string""#)],
        ),
        ("integral float is an integer", json!({"type": "integer"}), json!(2.0), vec![]),
        (
            "fraction is not an integer",
            json!({"type": "integer"}),
            json!(2.5),
            vec![fe("spec.x", inv("number"), r#"spec.x in body must be of type integer: "number""#)],
        ),
        ("number accepts integers", json!({"type": "number", "maximum": 3}), json!(3), vec![]),
        (
            "null is not nullable",
            json!({"type": "string"}),
            Value::Null,
            vec![fe("spec.x", inv("null"), r#"spec.x in body must be of type string: "null""#)],
        ),
        ("nullable null", json!({"type": "string", "nullable": true}), Value::Null, vec![]),
        (
            "exclusive maximum on a float",
            json!({"type": "number", "maximum": 1.5, "exclusiveMaximum": true}),
            json!(1.5),
            vec![fe("spec.x", inv(1.5), "spec.x in body should be less than 1.5")],
        ),
        (
            "exclusive minimum on an integer",
            json!({"type": "integer", "minimum": 2, "exclusiveMinimum": true}),
            json!(2),
            vec![fe("spec.x", inv(2), "spec.x in body should be greater than 2")],
        ),
        (
            "large bounds print like Go",
            json!({"type": "number", "maximum": 1000000}),
            json!(2000000.5),
            vec![fe("spec.x", inv(2000000.5), "spec.x in body should be less than or equal to 1e+06")],
        ),
        (
            "integer multipleOf",
            json!({"type": "integer", "multipleOf": 3}),
            json!(7),
            vec![fe("spec.x", inv(7), "spec.x in body should be a multiple of 3")],
        ),
        (
            "maxLength counts characters",
            json!({"type": "string", "maxLength": 2}),
            json!("éé"),
            vec![],
        ),
        (
            "only the first string failure",
            json!({"type": "string", "maxLength": 1, "pattern": "^[0-9]+$"}),
            json!("abc"),
            vec![fe("spec.x", TooLong(1), "")],
        ),
        (
            "minItems",
            json!({"type": "array", "minItems": 2, "items": {"type": "string"}}),
            json!(["a"]),
            vec![fe("spec.x", inv(1), "spec.x in body should have at least 2 items")],
        ),
        (
            "maxProperties stops there",
            json!({"type": "object", "maxProperties": 1, "required": ["z"]}),
            json!({"a": 1, "b": 2}),
            vec![fe("spec.x", TooMany(2, 1), "")],
        ),
        (
            "minProperties",
            json!({"type": "object", "minProperties": 1}),
            json!({}),
            vec![fe("spec.x", inv(0), "spec.x in body should have at least 1 properties")],
        ),
        (
            "enum with numbers",
            json!({"type": "integer", "enum": [1, 2]}),
            json!(3),
            vec![fe("spec.x", NotSupported(json!(3), vec!["1".into(), "2".into()]), "")],
        ),
        ("enum matches integral floats", json!({"type": "number", "enum": [1.0]}), json!(1), vec![]),
        (
            "unknown formats are ignored",
            json!({"type": "string", "format": "my-format"}),
            json!("whatever"),
            vec![],
        ),
        ("int32 format is not range-checked", json!({"type": "integer", "format": "int32"}), json!(1_u64 << 40), vec![]),
        (
            "byte format",
            json!({"type": "string", "format": "byte"}),
            json!("not base64!"),
            vec![fe("spec.x", inv("not base64!"), r#"spec.x in body must be of type byte: "not base64!""#)],
        ),
        (
            "anyOf reports the best branch",
            json!({"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 5}]}),
            json!(3),
            vec![
                fe("", inv(""), r#""spec.x" must validate at least one schema (anyOf)"#),
                fe("spec.x", inv(3), "spec.x in body should be greater than or equal to 5"),
            ],
        ),
        (
            "oneOf with two matches",
            json!({"oneOf": [{"minimum": 1}, {"maximum": 10}]}),
            json!(5),
            vec![fe("", inv(""), r#""spec.x" must validate one and only one schema (oneOf). Found 2 valid alternatives"#)],
        ),
        (
            "allOf merges failures",
            json!({"allOf": [{"minimum": 10}, {"maximum": 1}]}),
            json!(5),
            vec![
                fe("spec.x", inv(5), "spec.x in body should be greater than or equal to 10"),
                fe("spec.x", inv(5), "spec.x in body should be less than or equal to 1"),
                fe("", inv(""), r#""spec.x" must validate all the schemas (allOf). None validated"#),
            ],
        ),
        (
            "not",
            json!({"type": "string", "not": {"enum": ["forbidden"]}}),
            json!("forbidden"),
            vec![fe("", inv(""), r#""spec.x" must not validate the schema (not)"#)],
        ),
        (
            "embedded resource needs apiVersion and kind",
            json!({"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}),
            json!({"apiVersion": "a/b/c", "kind": "Bad_Kind", "metadata": {"name": "a/b"}}),
            vec![
                fe("spec.x.apiVersion", inv("a/b/c"), "unexpected GroupVersion string: a/b/c"),
                fe(
                    "spec.x.kind",
                    inv("Bad_Kind"),
                    "may have mixed case, but should otherwise match: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
                ),
                fe("spec.x.metadata.name", inv("a/b"), "may not contain '/'"),
            ],
        ),
        (
            "list-map with two keys and a non-object item",
            json!({"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["a", "b"],
                   "items": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}}),
            json!([{"a": "x", "b": 1}, {"b": 1, "a": "x", "c": true}, {"a": "x", "b": 2}]),
            vec![fe("spec.x[1]", Duplicate(json!({"a": "x", "b": 1})), "")],
        ),
        (
            "list-map rejects scalars",
            json!({"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["a"],
                   "items": {"x-kubernetes-preserve-unknown-fields": true}}),
            json!([{"a": 1}, 5]),
            vec![fe("spec.x[1]", inv(5), "must be an object for an array of list-type map")],
        ),
    ];
    for (name, prop, value, want) in cases {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {"x": prop}}}});
        let obj = json!({"apiVersion": "a/v1", "kind": "K", "metadata": {}, "spec": {"x": value}});
        assert_eq!(validate(&schema, &obj), want, "{name}");
    }
}

#[test]
fn root_metadata_only_name_constraints_apply() {
    let schema = json!({
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "enum": ["never"]},
            "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 3}}},
            "spec": {"type": "object"}
        }
    });
    let obj = json!({"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "toolong", "labels": {"a": "b"}}});
    assert_eq!(
        validate(&schema, &obj),
        vec![
            fe("metadata.name", TooLong(3), ""),
            fe("spec", Required, "")
        ]
    );
}

#[test]
fn additional_properties_false_forbids_keys() {
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "additionalProperties": false}}});
    let obj = json!({"spec": {"k": 1}});
    assert_eq!(
        validate(&schema, &obj),
        vec![fe(
            "spec",
            inv("k"),
            "spec.k in body is a forbidden property"
        )]
    );
}

#[test]
fn prune_removes_unknown_fields_and_reports_paths() {
    let mut obj = json!({
        "apiVersion": "stable.example.com/v1",
        "kind": "CronTab",
        "metadata": {"name": "x", "junk": 1, "labels": {"a": "b"}},
        "spec": {
            "cronSpec": "* * * * *",
            "foo": {"deep": true},
            "ports": [{"name": "a", "bogus": 1}, {"name": "b"}],
            "extra": {"free": {"form": 1}},
            "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "nope": 2}, "spec": {"any": 1}},
            "labels": {"k": "v"}
        },
        "status": {"replicas": 1, "x": 2},
        "other": "gone"
    });
    let pruned = prune(&crontab_schema(), &mut obj);
    assert_eq!(
        pruned,
        vec![
            "metadata.junk",
            "spec.ports[0].bogus",
            "spec.template.metadata.nope",
            "spec.foo",
            "status.x",
            "other"
        ]
    );
    assert_eq!(
        obj,
        json!({
            "apiVersion": "stable.example.com/v1",
            "kind": "CronTab",
            "metadata": {"name": "x", "labels": {"a": "b"}},
            "spec": {
                "cronSpec": "* * * * *",
                "ports": [{"name": "a"}, {"name": "b"}],
                "extra": {"free": {"form": 1}},
                "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"any": 1}},
                "labels": {"k": "v"}
            },
            "status": {"replicas": 1}
        })
    );
}

#[test]
fn prune_inside_preserved_subtree_still_prunes_declared_fields() {
    let schema = json!({
        "type": "object",
        "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
            "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}}}}
    });
    let mut obj = json!({"spec": {"free": 1, "known": {"a": "x", "b": "y"}}});
    assert_eq!(prune(&schema, &mut obj), vec!["spec.known.b"]);
    assert_eq!(obj, json!({"spec": {"free": 1, "known": {"a": "x"}}}));
}

#[test]
fn defaults_inside_arrays_then_validate() {
    let mut obj = object(
        json!({"cronSpec": "* * * * *", "ports": [{"name": "a"}, {"name": "b", "protocol": "UDP"}]}),
    );
    apply_defaults(&crontab_schema(), &mut obj);
    assert_eq!(
        obj["spec"]["ports"],
        json!([{"name": "a", "protocol": "TCP"}, {"name": "b", "protocol": "UDP"}])
    );
    assert_eq!(obj["spec"]["replicas"], json!(1));
    assert_eq!(validate(&crontab_schema(), &obj), Vec::<FieldError>::new());
}
