//! A CustomResourceDefinition encoded by prost from k8s-pb: JSONSchemaProps and its unions
//! (JSONSchemaPropsOrArray, OrBool, JSON) decode to the JSON schema Kubernetes serves.

use k8s_pb::apiextensions_apiserver::pkg::apis::apiextensions::v1 as ext;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use serde_json::json;
use support::{decode, envelope, s};

mod support;

#[test]
fn custom_resource_definition_schema_unions() {
    let string = ext::JsonSchemaProps {
        r#type: s("string"),
        ..Default::default()
    };
    let schema = ext::JsonSchemaProps {
        r#type: s("object"),
        properties: [
            (
                "spec".to_string(),
                ext::JsonSchemaProps {
                    r#type: s("object"),
                    properties: [
                        (
                            "cron".to_string(),
                            ext::JsonSchemaProps {
                                pattern: s("^\\d+$"),
                                ..string.clone()
                            },
                        ),
                        (
                            "replicas".to_string(),
                            ext::JsonSchemaProps {
                                r#type: s("integer"),
                                minimum: Some(1.0),
                                maximum: Some(10.5),
                                default: Some(ext::Json {
                                    raw: Some(b"3".to_vec()),
                                }),
                                ..Default::default()
                            },
                        ),
                        (
                            "tags".to_string(),
                            ext::JsonSchemaProps {
                                r#type: s("array"),
                                items: Some(Box::new(ext::JsonSchemaPropsOrArray {
                                    schema: Some(Box::new(string.clone())),
                                    j_son_schemas: vec![],
                                })),
                                x_kubernetes_list_type: s("set"),
                                ..Default::default()
                            },
                        ),
                        (
                            "labels".to_string(),
                            ext::JsonSchemaProps {
                                r#type: s("object"),
                                additional_properties: Some(Box::new(ext::JsonSchemaPropsOrBool {
                                    allows: Some(true),
                                    schema: Some(Box::new(string.clone())),
                                })),
                                ..Default::default()
                            },
                        ),
                    ]
                    .into(),
                    x_kubernetes_preserve_unknown_fields: Some(false),
                    ..Default::default()
                },
            ),
            (
                "status".to_string(),
                ext::JsonSchemaProps {
                    r#type: s("object"),
                    x_kubernetes_preserve_unknown_fields: Some(true),
                    additional_properties: Some(Box::new(ext::JsonSchemaPropsOrBool {
                        allows: Some(false),
                        schema: None,
                    })),
                    ..Default::default()
                },
            ),
        ]
        .into(),
        r#enum: vec![],
        ..Default::default()
    };
    let crd = ext::CustomResourceDefinition {
        metadata: Some(meta::ObjectMeta {
            name: s("crontabs.stable.example.com"),
            ..Default::default()
        }),
        spec: Some(ext::CustomResourceDefinitionSpec {
            group: s("stable.example.com"),
            names: Some(ext::CustomResourceDefinitionNames {
                plural: s("crontabs"),
                kind: s("CronTab"),
                short_names: vec!["ct".into()],
                ..Default::default()
            }),
            scope: s("Namespaced"),
            versions: vec![ext::CustomResourceDefinitionVersion {
                name: s("v1"),
                served: Some(true),
                storage: Some(true),
                schema: Some(ext::CustomResourceValidation {
                    open_apiv3_schema: Some(schema),
                }),
                subresources: Some(ext::CustomResourceSubresources {
                    status: Some(ext::CustomResourceSubresourceStatus {}),
                    scale: None,
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: None,
    };
    let value = decode(&envelope(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        &crd,
    ));
    let version = &value["spec"]["versions"][0];
    assert_eq!(version["subresources"], json!({"status": {}}));
    assert_eq!(
        version["schema"]["openAPIV3Schema"],
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": false, "properties": {
                "cron": {"type": "string", "pattern": "^\\d+$"},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 10.5, "default": 3},
                "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "additionalProperties": false}}})
    );
    assert_eq!(
        value["spec"]["names"],
        json!({"plural": "crontabs", "kind": "CronTab", "shortNames": ["ct"]})
    );
}
