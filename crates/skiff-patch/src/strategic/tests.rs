//! Tests of strategic merge patch with kubectl-shaped patches, errors and random input.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

const DEPLOYMENT: &str = "io.k8s.api.apps.v1.Deployment";
const POD: &str = "io.k8s.api.core.v1.Pod";

fn patch_of(kind: &str, original: &Value, patch: &Value) -> Result<Value, PatchError> {
    let (schema, root) = Schema::for_builtin(kind).expect("builtin kind");
    strategic_merge(original, patch, schema, root)
}

fn deployment(containers: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
        "spec": {
            "replicas": 2,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {"spec": {"containers": containers}}
        }
    })
}

struct Case {
    name: &'static str,
    kind: &'static str,
    original: Value,
    patch: Value,
    expected: Value,
}

fn check(cases: Vec<Case>) {
    for case in cases {
        let got = patch_of(case.kind, &case.original, &case.patch)
            .unwrap_or_else(|e| panic!("{}: unexpected error {e}", case.name));
        assert_eq!(got, case.expected, "{}", case.name);
    }
}

#[test]
fn kubectl_style_patches_merge_like_upstream() {
    let nginx =
        json!({"name": "nginx", "image": "nginx:1.24", "env": [{"name": "A", "value": "1"}]});
    let sidecar = json!({"name": "sidecar", "image": "busybox"});
    check(vec![
        Case {
            name: "an env var is added by merge key, first as upstream without $setElementOrder",
            kind: DEPLOYMENT,
            original: deployment(json!([nginx.clone()])),
            patch: json!({"spec": {"template": {"spec": {"containers": [
                {"name": "nginx", "env": [{"name": "B", "value": "2"}]}
            ]}}}}),
            expected: deployment(json!([{"name": "nginx", "image": "nginx:1.24",
                "env": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]}])),
        },
        Case {
            name: "a label is removed with null",
            kind: DEPLOYMENT,
            original: deployment(json!([nginx.clone()])),
            patch: json!({"metadata": {"labels": {"tier": null}}}),
            expected: {
                let mut d = deployment(json!([nginx.clone()]));
                d["metadata"]["labels"] = json!({"app": "web"});
                d
            },
        },
        Case {
            name: "the image changes under $setElementOrder/containers, keeping order",
            kind: DEPLOYMENT,
            original: deployment(json!([nginx.clone(), sidecar.clone()])),
            patch: json!({"spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
                "containers": [{"name": "sidecar", "image": "busybox:1.36"}]
            }}}}),
            expected: deployment(
                json!([nginx.clone(), {"name": "sidecar", "image": "busybox:1.36"}]),
            ),
        },
        Case {
            name: "$setElementOrder reorders containers",
            kind: DEPLOYMENT,
            original: deployment(json!([nginx.clone(), sidecar.clone()])),
            patch: json!({"spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "nginx"}]
            }}}}),
            expected: deployment(json!([sidecar.clone(), nginx.clone()])),
        },
        Case {
            name: "a container is deleted with $patch: delete",
            kind: DEPLOYMENT,
            original: deployment(json!([nginx.clone(), sidecar.clone()])),
            patch: json!({"spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "nginx"}],
                "containers": [{"$patch": "delete", "name": "sidecar"}]
            }}}}),
            expected: deployment(json!([nginx.clone()])),
        },
        Case {
            name: "an env var is deleted inside a container, as kubectl apply sends it",
            kind: DEPLOYMENT,
            original: deployment(json!([{"name": "nginx", "env": [
                {"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}])),
            patch: json!({"spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "nginx"}],
                "containers": [{"name": "nginx",
                    "$setElementOrder/env": [{"name": "B"}],
                    "env": [{"$patch": "delete", "name": "A"}]}]
            }}}}),
            expected: deployment(json!([{"name": "nginx", "env": [{"name": "B", "value": "2"}]}])),
        },
        Case {
            name: "a new container is appended after the existing ones",
            kind: DEPLOYMENT,
            original: deployment(json!([nginx.clone()])),
            patch: json!({"spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
                "containers": [{"name": "sidecar", "image": "busybox"}]
            }}}}),
            expected: deployment(json!([nginx.clone(), sidecar.clone()])),
        },
        Case {
            name: "$retainKeys switches the deployment strategy to Recreate",
            kind: DEPLOYMENT,
            original: deployment(json!([nginx.clone()])),
            patch: json!({"spec": {"strategy": {
                "$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null
            }}}),
            expected: {
                let mut d = deployment(json!([nginx.clone()]));
                d["spec"]["strategy"] = json!({"type": "Recreate"});
                d
            },
        },
        Case {
            name: "$retainKeys on a volume swaps its source",
            kind: POD,
            original: json!({"spec": {"volumes": [
                {"name": "data", "emptyDir": {}},
                {"name": "cfg", "configMap": {"name": "a"}}
            ]}}),
            patch: json!({"spec": {
                "$setElementOrder/volumes": [{"name": "data"}, {"name": "cfg"}],
                "volumes": [{"$retainKeys": ["hostPath", "name"], "name": "data",
                    "hostPath": {"path": "/tmp"}, "emptyDir": null}]
            }}),
            expected: json!({"spec": {"volumes": [
                {"name": "data", "hostPath": {"path": "/tmp"}},
                {"name": "cfg", "configMap": {"name": "a"}}
            ]}}),
        },
        Case {
            name: "finalizers are unioned without duplicates",
            kind: POD,
            original: json!({"metadata": {"finalizers": ["a", "b"]}}),
            patch: json!({"metadata": {"finalizers": ["b", "c"]}}),
            expected: json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
        },
        Case {
            name: "$deleteFromPrimitiveList removes finalizers",
            kind: POD,
            original: json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
            patch: json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}),
            expected: json!({"metadata": {"finalizers": ["a", "c"]}}),
        },
        Case {
            name: "$setElementOrder orders a primitive list",
            kind: POD,
            original: json!({"metadata": {"finalizers": ["a", "b"]}}),
            patch: json!({"metadata": {"$setElementOrder/finalizers": ["c", "b", "a"], "finalizers": ["c"]}}),
            expected: json!({"metadata": {"finalizers": ["c", "b", "a"]}}),
        },
        Case {
            name: "lists without a merge strategy are replaced",
            kind: POD,
            original: json!({"spec": {"tolerations": [{"key": "a"}], "containers": [
                {"name": "c", "args": ["x", "y"]}]}}),
            patch: json!({"spec": {"tolerations": [{"key": "b"}], "containers": [
                {"name": "c", "args": ["z"]}]}}),
            expected: json!({"spec": {"tolerations": [{"key": "b"}], "containers": [
                {"name": "c", "args": ["z"]}]}}),
        },
        Case {
            name: "container ports merge by containerPort",
            kind: POD,
            original: json!({"spec": {"containers": [{"name": "c", "ports": [
                {"containerPort": 80, "name": "http"}]}]}}),
            patch: json!({"spec": {"containers": [{"name": "c", "ports": [
                {"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443}]}]}}),
            expected: json!({"spec": {"containers": [{"name": "c", "ports": [
                {"containerPort": 80, "name": "http", "protocol": "TCP"}, {"containerPort": 443}]}]}}),
        },
        Case {
            name: "$patch: replace replaces a map",
            kind: POD,
            original: json!({"metadata": {"labels": {"a": "1", "b": "2"}}}),
            patch: json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}}}),
            expected: json!({"metadata": {"labels": {"c": "3"}}}),
        },
        Case {
            name: "$patch: delete empties a map",
            kind: DEPLOYMENT,
            original: deployment(json!([])),
            patch: json!({"spec": {"strategy": {"$patch": "delete"}}}),
            expected: {
                let mut d = deployment(json!([]));
                d["spec"]["strategy"] = json!({});
                d
            },
        },
        Case {
            name: "$patch: replace in a list replaces the whole list",
            kind: DEPLOYMENT,
            original: deployment(json!([nginx.clone(), sidecar.clone()])),
            patch: json!({"spec": {"template": {"spec": {"containers": [
                {"$patch": "replace"}, {"name": "only", "image": "x", "tty": null}
            ]}}}}),
            expected: deployment(json!([{"name": "only", "image": "x"}])),
        },
        Case {
            name: "resource maps merge key by key",
            kind: POD,
            original: json!({"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "1"}}}]}}),
            patch: json!({"spec": {"containers": [{"name": "c", "resources": {"limits": {"memory": "1Gi"}}}]}}),
            expected: json!({"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}}),
        },
        Case {
            name: "a value added where there was none is cleaned of nulls and directives",
            kind: POD,
            original: json!({"spec": {}}),
            patch: json!({"spec": {"containers": [{"name": "c", "image": null,
                "env": [{"name": "X", "value": "1"}, {"$patch": "delete", "name": "Y"}]}]}}),
            expected: json!({"spec": {"containers": [{"name": "c", "env": [{"name": "X", "value": "1"}]}]}}),
        },
        Case {
            name: "fields unknown to the schema merge as plain JSON",
            kind: POD,
            original: json!({"spec": {"x-extra": {"a": 1, "b": [1, 2]}}}),
            patch: json!({"spec": {"x-extra": {"b": [3], "c": null, "d": true}}}),
            expected: json!({"spec": {"x-extra": {"a": 1, "b": [3], "d": true}}}),
        },
    ]);
}

#[test]
fn malformed_patches_are_rejected_with_upstream_messages() {
    let original =
        json!({"metadata": {"labels": {"a": "1"}}, "spec": {"containers": [{"name": "c"}]}});
    let cases = vec![
        (
            "an unknown $patch value",
            json!({"metadata": {"labels": {"$patch": "explode"}}}),
            "unknown patch type: explode in map: map[$patch:explode]",
        ),
        (
            "a list element without its merge key",
            json!({"spec": {"containers": [{"image": "x"}]}}),
            "map: map[image:x] does not contain declared merge key: name",
        ),
        (
            "$patch: merge inside a list",
            json!({"spec": {"containers": [{"$patch": "merge", "name": "c"}]}}),
            "merging lists cannot yet be specified in the patch",
        ),
        (
            "$retainKeys that is not a list",
            json!({"metadata": {"$retainKeys": "labels"}}),
            "invalid patch format of retainKeys",
        ),
        (
            "a patch setting a key $retainKeys does not keep",
            json!({"metadata": {"$retainKeys": ["name"], "labels": {"b": "2"}}}),
            "invalid patch format of retainKeys",
        ),
        (
            "an unknown directive",
            json!({"metadata": {"$frobnicate": true}}),
            "unknown directive \"$frobnicate\"",
        ),
        (
            "a patch list ordered against $setElementOrder",
            json!({"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "d"}],
                "containers": [{"name": "d"}, {"name": "c"}]}}),
            "The order in patch list:\n[map[name:d] map[name:c]]\n doesn't match $setElementOrder list:\n[map[name:c] map[name:d]]\n",
        ),
        (
            "lists of lists",
            json!({"metadata": {"finalizers": [["a"]]}}),
            "lists of lists are not supported",
        ),
    ];
    for (name, patch, message) in cases {
        match patch_of(POD, &original, &patch) {
            Ok(v) => panic!("{name}: expected an error, got {v}"),
            Err(e) => assert_eq!(e.to_string(), message, "{name}"),
        }
    }
    assert_eq!(
        patch_of(POD, &json!([]), &json!({})),
        Err(PatchError::BadJsonDoc),
        "a non-object document is invalid JSON for a patch"
    );
}

#[test]
fn patched_objects_keep_their_key_order() {
    let original = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "labels": {"a": "1", "b": "2"}, "uid": "u"},
        "spec": {"containers": [{"name": "c", "image": "x"}]}, "status": {"phase": "Running"}});
    let patch = json!({"metadata": {"labels": {"a": null, "c": "3"}}, "spec": {"containers": [{"name": "c", "image": "y"}]}});
    let got = patch_of(POD, &original, &patch).expect("patch");
    assert_eq!(
        got.to_string(),
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "labels": {"b": "2", "c": "3"}, "uid": "u"},
            "spec": {"containers": [{"name": "c", "image": "y"}]}, "status": {"phase": "Running"}})
        .to_string()
    );
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-5i64..5).prop_map(Value::from),
        prop::sample::select(vec!["a", "b", "name", "$patch", "delete", "replace", "c"])
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "metadata",
                        "labels",
                        "spec",
                        "containers",
                        "name",
                        "env",
                        "finalizers",
                        "$patch",
                        "$retainKeys",
                        "$setElementOrder/containers",
                        "$deleteFromPrimitiveList/finalizers",
                        "image",
                        "a",
                    ]),
                    inner
                ),
                0..4
            )
            .prop_map(|kv| Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn an_empty_patch_leaves_any_object_unchanged(original in arb_json()) {
        let original = match original {
            Value::Object(_) => original,
            other => json!({"metadata": {"annotations": {"x": "y"}}, "spec": {"other": other}}),
        };
        // An original with directive-like keys is not a valid object; only check clean ones.
        prop_assume!(!original.to_string().contains('$'));
        let got = patch_of(POD, &original, &json!({}));
        prop_assert_eq!(got, Ok(original));
    }

    #[test]
    fn random_patches_never_panic(original in arb_json(), patch in arb_json()) {
        let _ = patch_of(POD, &original, &patch);
        let _ = patch_of(DEPLOYMENT, &json!({"spec": original.clone()}), &json!({"spec": patch.clone()}));
    }
}
