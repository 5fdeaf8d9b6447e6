//! CustomResourceDefinition validation: whole error lists for realistic and broken CRDs.

use super::{crontab_crd, fe, inv};
use crate::FieldErrorKind::{Forbidden, NotSupported, Required};
use crate::{validate_crd, FieldError};
use serde_json::{json, Value};

const SCHEMA: &str = "spec.validation.openAPIV3Schema";

/// A one-version CRD carrying `schema` as its openAPIV3Schema.
fn with_schema(schema: Value) -> Value {
    let mut crd = crontab_crd();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = schema;
    crd["spec"]["versions"][0]
        .as_object_mut()
        .map(|v| v.remove("subresources"));
    crd
}

fn spec_with(props: Value) -> Value {
    json!({"type": "object", "properties": {"spec": props}})
}

#[test]
fn realistic_crd_is_valid() {
    assert_eq!(validate_crd(&crontab_crd()), Vec::<FieldError>::new());
}

#[test]
fn name_must_be_plural_dot_group() {
    let mut crd = crontab_crd();
    crd["metadata"]["name"] = json!("crontab.stable.example.com");
    assert_eq!(
        validate_crd(&crd),
        vec![fe(
            "metadata.name",
            inv("crontab.stable.example.com"),
            r#"must be spec.names.plural+"."+spec.group"#
        )]
    );
}

#[test]
fn non_structural_schema_is_rejected() {
    let crd = with_schema(spec_with(
        json!({"properties": {"foo": {"type": "string"}}}),
    ));
    assert_eq!(
        validate_crd(&crd),
        vec![fe(
            &format!("{SCHEMA}.properties[spec].type"),
            Required,
            "must not be empty for specified object fields"
        )]
    );
}

#[test]
fn differing_version_schemas_are_reported_per_version() {
    let mut crd = crontab_crd();
    let mut v2 = crd["spec"]["versions"][0].clone();
    v2["name"] = json!("v2");
    v2["storage"] = json!(false);
    v2["schema"]["openAPIV3Schema"] =
        json!({"type": "object", "properties": {"spec": {"type": "array"}}});
    if let Some(v) = crd["spec"]["versions"].as_array_mut() {
        v.push(v2);
    }
    assert_eq!(
        validate_crd(&crd),
        vec![fe(
            "spec.versions[1].schema.openAPIV3Schema.properties[spec].items",
            Required,
            "must be specified"
        )]
    );
}

#[test]
fn spec_level_errors() {
    let crd = json!({
        "metadata": {"name": "crontabs.example"},
        "spec": {
            "group": "example",
            "scope": "Global",
            "names": {"plural": "crontabs", "kind": "CronTab", "listKind": "CronTab", "shortNames": ["C T"]},
            "versions": [
                {"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}},
                {"name": "v1", "served": true, "storage": true}
            ]
        }
    });
    let versions = crd["spec"]["versions"].clone();
    let dns1035 = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
    assert_eq!(
        validate_crd(&crd),
        vec![
            fe(
                "spec.group",
                inv("example"),
                "should be a domain with at least one dot"
            ),
            fe(
                "spec.scope",
                NotSupported(json!("Global"), vec!["Cluster".into(), "Namespaced".into()]),
                ""
            ),
            fe(
                "spec.versions[1].schema.openAPIV3Schema",
                Required,
                "schemas are required"
            ),
            fe(
                "spec.versions",
                inv(versions.clone()),
                "must contain unique version names"
            ),
            fe(
                "spec.versions",
                inv(versions),
                "must have exactly one version marked as storage version"
            ),
            fe("spec.names.shortNames[0]", inv("C T"), dns1035),
            fe(
                "spec.names.listKind",
                inv("CronTab"),
                "kind and listKind may not be the same"
            ),
        ]
    );
}

#[test]
fn empty_spec_reports_required_fields() {
    let crd = json!({"metadata": {"name": "x"}, "spec": {}});
    assert_eq!(
        validate_crd(&crd),
        vec![
            fe(
                "metadata.name",
                inv("x"),
                r#"must be spec.names.plural+"."+spec.group"#
            ),
            fe("spec.group", Required, ""),
            fe("spec.scope", Required, ""),
            fe(
                "spec.versions",
                inv(Value::Array(vec![])),
                "must have exactly one version marked as storage version"
            ),
            fe("spec.names.plural", Required, ""),
            fe("spec.names.singular", Required, ""),
            fe("spec.names.kind", Required, ""),
            fe("spec.names.listKind", Required, ""),
        ]
    );
}

#[test]
fn schema_rules_table() {
    let p = |s: &str| format!("{SCHEMA}.{s}");
    let cases: Vec<(&str, Value, Vec<FieldError>)> = vec![
        (
            "additionalProperties with properties",
            spec_with(json!({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "string"}})),
            vec![fe(&p("properties[spec].additionalProperties"), Forbidden, "additionalProperties and properties are mutual exclusive")],
        ),
        (
            "metadata may only constrain name and generateName",
            json!({"type": "object", "properties": {"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}}}),
            vec![fe(
                &p("properties[metadata]"),
                Forbidden,
                "must not specify anything other than name and generateName, but metadata is implicitly specified",
            )],
        ),
        (
            "metadata name constraints are fine, defaults there are not",
            json!({"type": "object", "properties": {"metadata": {"type": "object",
                "properties": {"name": {"type": "string", "maxLength": 10, "default": "x"}}}}}),
            vec![fe(&p("properties[metadata].properties[name].default"), Forbidden, "must not be set in top-level metadata")],
        ),
        (
            "list-map keys need a default or required",
            spec_with(json!({"type": "object", "properties": {"ports": {"type": "array", "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"], "items": {"type": "object", "properties": {"name": {"type": "string"}}}}}})),
            vec![fe(
                &p("properties[spec].properties[ports].items.properties[name].default"),
                Required,
                "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
            )],
        ),
        (
            "defaults must validate",
            spec_with(json!({"type": "object", "properties": {"replicas": {"type": "integer", "default": "x"}}})),
            vec![fe(
                &p("properties[spec].properties[replicas].default"),
                inv("string"),
                r#" in body must be of type integer: "string""#,
            )],
        ),
        (
            "defaults must be pruned",
            spec_with(json!({"type": "object", "default": {"a": 1, "b": 2}, "properties": {"a": {"type": "integer"}}})),
            vec![fe(&p("properties[spec].default"), inv(json!({"a": 1, "b": 2})), "must not have unknown fields")],
        ),
        (
            "uniqueItems and unsupported keywords",
            spec_with(json!({"type": "array", "items": {"type": "string"}, "uniqueItems": true})),
            vec![fe(
                &p("properties[spec].uniqueItems"),
                Forbidden,
                "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
            )],
        ),
        (
            "invalid type names",
            spec_with(json!({"type": "object", "properties": {"a": {"type": "text"}}})),
            vec![fe(
                &p("properties[spec].properties[a].type"),
                NotSupported(json!("text"), ["array", "boolean", "integer", "number", "object", "string"].map(String::from).to_vec()),
                "",
            )],
        ),
        (
            "root must be an object",
            json!({"type": "string"}),
            vec![fe(&p("type"), inv("string"), "must be object at the root")],
        ),
        (
            "int-or-string anyOf pattern is structural",
            spec_with(json!({"type": "object", "properties": {"port": {"x-kubernetes-int-or-string": true,
                "anyOf": [{"type": "integer"}, {"type": "string"}]}}})),
            vec![],
        ),
        (
            "types inside value validation",
            spec_with(json!({"type": "object", "properties": {"a": {"type": "string", "anyOf": [{"type": "string", "maxLength": 3}]}}})),
            vec![fe(&p("properties[spec].properties[a].anyOf[0].type"), Forbidden, "must be empty to be structural")],
        ),
        (
            "completeness of root value validation",
            json!({"type": "object", "properties": {"spec": {"type": "object"}},
                "anyOf": [{"properties": {"spec": {"required": ["a"]}}}, {"properties": {"other": {}}}]}),
            vec![fe(
                &p("properties[other]"),
                Required,
                &format!("because it is defined in {SCHEMA}.anyOf[1].properties[other]"),
            )],
        ),
        (
            "structural errors are sorted",
            spec_with(json!({"type": "object", "properties": {"b": {}, "a": {"type": "array"}}})),
            vec![
                fe(&p("properties[spec].properties[a].items"), Required, "must be specified"),
                fe(&p("properties[spec].properties[b].type"), Required, "must not be empty for specified object fields"),
            ],
        ),
        (
            "preserve-unknown-fields false and list types",
            spec_with(json!({"type": "object", "x-kubernetes-preserve-unknown-fields": false,
                "properties": {"t": {"type": "string", "x-kubernetes-list-type": "bag"}}})),
            vec![
                fe(&p("properties[spec].properties[t].type"), inv("string"), "must be array if x-kubernetes-list-type is specified"),
                fe(
                    &p("properties[spec].properties[t].x-kubernetes-list-type"),
                    NotSupported(json!("bag"), vec!["atomic".into(), "set".into(), "map".into()]),
                    "",
                ),
                fe(&p("properties[spec].x-kubernetes-preserve-unknown-fields"), inv(false), "must be true or undefined"),
            ],
        ),
        (
            "x-kubernetes-validations shape",
            spec_with(json!({"type": "object", "x-kubernetes-validations": [
                {"rule": " "}, {"rule": "self.a", "message": "  "}, {"rule": "a\nb"}]})),
            vec![
                fe(&p("properties[spec].x-kubernetes-validations[0].rule"), Required, "rule is not specified"),
                fe(&p("properties[spec].x-kubernetes-validations[1].message"), inv("  "), "message must be non-empty if specified"),
                fe(
                    &p("properties[spec].x-kubernetes-validations[2].message"),
                    Required,
                    "message must be specified if rule contains line breaks",
                ),
            ],
        ),
        (
            "set items must be atomic",
            spec_with(json!({"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "object"}})),
            vec![fe(
                &p("properties[spec].items.x-kubernetes-map-type"),
                inv(Value::Null),
                "must be atomic as item of a list with x-kubernetes-list-type=set",
            )],
        ),
        (
            "embedded resources are objects with properties",
            spec_with(json!({"x-kubernetes-embedded-resource": true})),
            vec![
                fe(
                    &p("properties[spec].properties"),
                    Required,
                    "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
                ),
                fe(&p("properties[spec].type"), Required, "must be object if x-kubernetes-embedded-resource is true"),
            ],
        ),
    ];
    for (name, schema, want) in cases {
        assert_eq!(validate_crd(&with_schema(schema)), want, "{name}");
    }
}

#[test]
fn bad_pattern_is_reported() {
    let errs = validate_crd(&with_schema(spec_with(
        json!({"type": "string", "pattern": "(["}),
    )));
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].field, format!("{SCHEMA}.properties[spec].pattern"));
    assert_eq!(errs[0].kind, inv("(["));
    assert!(
        errs[0]
            .detail
            .starts_with("must be a valid regular expression, but isn't: "),
        "{}",
        errs[0].detail
    );
}

#[test]
fn status_subresource_restricts_the_root() {
    let mut crd = crontab_crd();
    let schema = &mut crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    schema["nullable"] = json!(true);
    let want_value = schema.clone();
    let allowed = "Description Type Format Title Maximum ExclusiveMaximum Minimum ExclusiveMinimum MaxLength MinLength Pattern MaxItems MinItems UniqueItems MultipleOf Required Items Properties ExternalDocs Example XPreserveUnknownFields XValidations";
    assert_eq!(
        validate_crd(&crd),
        vec![
            fe(
                SCHEMA,
                inv(want_value),
                &format!("only [{allowed}] fields are allowed at the root of the schema if the status subresource is enabled"),
            ),
            fe(&format!("{SCHEMA}.nullable"), Forbidden, "nullable cannot be true at the root"),
        ]
    );
}

#[test]
fn subresources_and_columns() {
    let mut crd = crontab_crd();
    let v = &mut crd["spec"]["versions"][0];
    v["subresources"]["scale"] = json!({"specReplicasPath": "spec.replicas", "statusReplicasPath": ".spec.x", "labelSelectorPath": ".foo"});
    v["additionalPrinterColumns"] =
        json!([{"name": "", "type": "text", "format": "weird", "jsonPath": "spec"}]);
    assert_eq!(
        validate_crd(&crd),
        vec![
            fe(
                "spec.subresources.scale.specReplicasPath",
                inv("spec.replicas"),
                "must be a simple json path starting with ."
            ),
            fe(
                "spec.subresources.scale.statusReplicasPath",
                inv(".spec.x"),
                "should be a json path under .status"
            ),
            fe(
                "spec.subresources.scale.labelSelectorPath",
                inv(".foo"),
                "should be a json path under either .spec or .status"
            ),
            fe("spec.additionalPrinterColumns[0].name", Required, ""),
            fe(
                "spec.additionalPrinterColumns[0].type",
                inv("text"),
                "must be one of boolean,date,integer,number,string"
            ),
            fe(
                "spec.additionalPrinterColumns[0].format",
                inv("weird"),
                "must be one of byte,date,date-time,double,float,int32,int64,password"
            ),
            fe(
                "spec.additionalPrinterColumns[0].JSONPath",
                inv("spec"),
                "must be a simple json path starting with ."
            ),
        ]
    );
}

#[test]
fn conversion_and_approval() {
    let mut crd = crontab_crd();
    crd["spec"]["conversion"] = json!({"strategy": "Webhook", "webhook": {
        "clientConfig": {"url": "http://user@host/x?q=1"}, "conversionReviewVersions": ["v2", "v2"]}});
    assert_eq!(
        validate_crd(&crd),
        vec![
            fe(
                "spec.conversion.webhookClientConfig.url",
                inv("http"),
                "'https' is the only allowed URL scheme; desired format: https://host[/path]"
            ),
            fe(
                "spec.conversion.webhookClientConfig.url",
                inv("user"),
                "user information is not permitted in the URL"
            ),
            fe(
                "spec.conversion.webhookClientConfig.url",
                inv("q=1"),
                "query parameters are not permitted in the URL"
            ),
            fe(
                "spec.conversion.conversionReviewVersions[1]",
                inv("v2"),
                "duplicate version"
            ),
            fe(
                "spec.conversion.conversionReviewVersions",
                inv(json!(["v2", "v2"])),
                "must include at least one of v1, v1beta1"
            ),
        ]
    );

    let mut crd = crontab_crd();
    crd["spec"]["group"] = json!("stable.k8s.io");
    crd["metadata"]["name"] = json!("crontabs.stable.k8s.io");
    let detail = r#"protected groups must have approval annotation "api-approved.kubernetes.io", see https://github.com/kubernetes/enhancements/pull/1111"#;
    assert_eq!(
        validate_crd(&crd),
        vec![fe(
            "metadata.annotations[api-approved.kubernetes.io]",
            Required,
            detail
        )]
    );
    crd["metadata"]["annotations"] =
        json!({"api-approved.kubernetes.io": "https://github.com/kubernetes/kubernetes/pull/1"});
    assert_eq!(validate_crd(&crd), Vec::<FieldError>::new());
}
