//! Tests of the type model: built-in strategies, atomicity and CRD conversion.

use serde_json::json;

use super::*;

fn builtin_field(path: &str) -> TypeRef {
    let mut parts = path.split('/');
    let root = parts.next().expect("type name");
    let schema = Schema::builtin();
    let mut t = schema
        .lookup(&format!("io.k8s.{root}"))
        .unwrap_or_else(|| panic!("no type {root}"));
    for part in parts {
        t = match schema.shape(t) {
            Shape::List(list) if part == "[]" => list.items,
            _ => schema
                .field(t, part)
                .unwrap_or_else(|| panic!("no field {part} in {path}")),
        };
    }
    t
}

fn list_of(path: &str) -> ListShape {
    match Schema::builtin().shape(builtin_field(path)) {
        Shape::List(list) => list.clone(),
        other => panic!("{path} is not a list: {other:?}"),
    }
}

fn map_keys(keys: &[&str]) -> ListType {
    ListType::Map {
        keys: keys.iter().map(|k| k.to_string()).collect(),
    }
}

#[test]
fn builtin_lists_carry_upstream_strategies() {
    // (field path, SSA list type, SMP merge key, SMP merges)
    let cases: Vec<(&str, ListType, Option<&str>, bool)> = vec![
        (
            "api.core.v1.PodSpec/containers",
            map_keys(&["name"]),
            Some("name"),
            true,
        ),
        (
            "api.core.v1.Container/env",
            map_keys(&["name"]),
            Some("name"),
            true,
        ),
        (
            "api.core.v1.Container/ports",
            map_keys(&["containerPort", "protocol"]),
            Some("containerPort"),
            true,
        ),
        (
            "api.core.v1.ServiceSpec/ports",
            map_keys(&["port", "protocol"]),
            Some("port"),
            true,
        ),
        (
            "api.core.v1.PodSpec/topologySpreadConstraints",
            map_keys(&["topologyKey", "whenUnsatisfiable"]),
            Some("topologyKey"),
            true,
        ),
        (
            "api.core.v1.PodSpec/tolerations",
            ListType::Atomic,
            None,
            false,
        ),
        ("api.core.v1.Container/args", ListType::Atomic, None, false),
        (
            "apimachinery.pkg.apis.meta.v1.ObjectMeta/finalizers",
            ListType::Set,
            None,
            true,
        ),
        (
            "apimachinery.pkg.apis.meta.v1.ObjectMeta/ownerReferences",
            map_keys(&["uid"]),
            Some("uid"),
            true,
        ),
        (
            "apimachinery.pkg.apis.meta.v1.ObjectMeta/managedFields",
            ListType::Atomic,
            None,
            false,
        ),
        (
            "api.discovery.v1.Endpoint/addresses",
            ListType::Set,
            None,
            false,
        ),
        (
            "api.core.v1.PodStatus/hostIPs",
            ListType::Atomic,
            Some("ip"),
            true,
        ),
        (
            "api.batch.v1.JobStatus/conditions",
            ListType::Atomic,
            Some("type"),
            true,
        ),
        (
            "api.core.v1.ResourceRequirements/claims",
            map_keys(&["name"]),
            Some("name"),
            false,
        ),
        (
            "api.apps.v1.StatefulSetSpec/volumeClaimTemplates",
            ListType::Atomic,
            None,
            false,
        ),
    ];
    for (path, list_type, merge_key, patch_merge) in cases {
        let list = list_of(path);
        assert_eq!(list.list_type, list_type, "{path}: list type");
        assert_eq!(list.merge_key.as_deref(), merge_key, "{path}: merge key");
        assert_eq!(list.patch_merge, patch_merge, "{path}: patch strategy");
    }
    assert_eq!(
        list_of("api.core.v1.Container/ports").key_defaults,
        [("protocol".to_string(), json!("TCP"))]
            .into_iter()
            .collect(),
        "a port's protocol defaults to TCP in its key"
    );
}

#[test]
fn builtin_maps_and_structs_are_atomic_where_upstream_says_so() {
    let schema = Schema::builtin();
    let cases = [
        ("apimachinery.pkg.apis.meta.v1.ObjectMeta/labels", false),
        (
            "apimachinery.pkg.apis.meta.v1.ObjectMeta/annotations",
            false,
        ),
        ("api.core.v1.PodSpec/nodeSelector", true),
        ("api.core.v1.ServiceSpec/selector", true),
        ("api.apps.v1.DeploymentSpec/selector", true),
        ("api.apps.v1.DeploymentSpec/strategy", false),
        ("api.core.v1.EnvVarSource/secretKeyRef", true),
        ("api.core.v1.PersistentVolumeSpec/claimRef", false),
        ("api.core.v1.ObjectReference", true),
        ("api.apps.v1.ControllerRevision/data", true),
        ("api.apps.v1.DeploymentSpec/replicas", true),
        ("apimachinery.pkg.util.intstr.IntOrString", true),
    ];
    for (path, atomic) in cases {
        assert_eq!(schema.is_atomic(builtin_field(path)), atomic, "{path}");
    }
}

#[test]
fn every_ga_root_kind_is_known() {
    for name in [
        "io.k8s.api.core.v1.Pod",
        "io.k8s.api.core.v1.ConfigMap",
        "io.k8s.api.apps.v1.Deployment",
        "io.k8s.api.batch.v1.CronJob",
        "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler",
        "io.k8s.api.policy.v1.PodDisruptionBudget",
        "io.k8s.api.rbac.v1.ClusterRoleBinding",
        "io.k8s.api.coordination.v1.Lease",
        "io.k8s.api.discovery.v1.EndpointSlice",
        "io.k8s.api.events.v1.Event",
        "io.k8s.api.networking.v1.Ingress",
        "io.k8s.api.storage.v1.StorageClass",
        "io.k8s.api.scheduling.v1.PriorityClass",
        "io.k8s.api.node.v1.RuntimeClass",
        "io.k8s.api.certificates.v1.CertificateSigningRequest",
        "io.k8s.api.admissionregistration.v1.ValidatingWebhookConfiguration",
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
    ] {
        let (schema, t) = Schema::for_builtin(name).unwrap_or_else(|| panic!("{name} missing"));
        assert!(
            matches!(schema.shape(t), Shape::Object { fields, .. } if fields.contains_key("metadata")),
            "{name} is an object with metadata"
        );
    }
}

#[test]
fn crd_schemas_map_their_extensions() {
    let openapi = json!({
        "type": "object",
        "properties": {
            "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 5}}},
            "spec": {
                "type": "object",
                "x-kubernetes-map-type": "atomic",
                "properties": {"size": {"x-kubernetes-int-or-string": true}}
            },
            "items": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name", "proto"],
                "items": {"type": "object", "properties": {
                    "name": {"type": "string"}, "proto": {"type": "string", "default": "TCP"}}}
            },
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}}
        }
    });
    let (schema, root) = Schema::from_openapi_v3(&openapi).expect("schema");
    let field = |name: &str| schema.field(root, name).expect(name);
    let meta = field("metadata");
    assert!(
        matches!(schema.shape(meta), Shape::Object { fields, .. } if fields.contains_key("ownerReferences")),
        "metadata is the built-in ObjectMeta"
    );
    assert!(
        schema.is_atomic(field("spec")),
        "x-kubernetes-map-type: atomic"
    );
    assert_eq!(
        schema.field(field("spec"), "size"),
        Some(Schema::UNTYPED_ATOMIC)
    );
    let Shape::List(items) = schema.shape(field("items")) else {
        panic!("items is a list")
    };
    assert_eq!(items.list_type, map_keys(&["name", "proto"]));
    assert_eq!(items.key_defaults.get("proto"), Some(&json!("TCP")));
    assert_eq!(
        schema.field(field("free"), "anything"),
        Some(Schema::UNTYPED)
    );
    assert_eq!(schema.field(field("labels"), "x"), Some(Schema::SCALAR));
    assert_eq!(schema.field(root, "apiVersion"), Some(Schema::SCALAR));
}

#[test]
fn malformed_crd_schemas_are_rejected() {
    let cases = [
        (
            json!({"type": "object", "properties": {"a": 3}}),
            "the .a: schema must be an object",
        ),
        (
            json!({"type": "array", "x-kubernetes-list-type": "bag"}),
            "the .: unsupported x-kubernetes-list-type \"bag\"",
        ),
        (
            json!({"type": "object", "properties": {"l": {"type": "array", "x-kubernetes-list-type": "map"}}}),
            "the .l: x-kubernetes-list-type map requires x-kubernetes-list-map-keys",
        ),
    ];
    for (openapi, message) in cases {
        let err = Schema::from_openapi_v3(&openapi).expect_err("invalid");
        assert_eq!(format!("the {err}"), message);
    }
}
