//! Tests of server-side apply and managed-fields tracking, read as scenarios.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

const T0: &str = "2024-05-01T10:00:00Z";
const T1: &str = "2024-05-01T11:00:00Z";
const T2: &str = "2024-05-01T12:00:00Z";

fn deployment_schema() -> (&'static Schema, TypeRef) {
    Schema::for_builtin("io.k8s.api.apps.v1.Deployment").expect("builtin Deployment")
}

fn nginx(replicas: i64, labels: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "nginx", "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25",
                    "ports": [{"containerPort": 80}]}]}
            }
        }
    })
}

fn run_apply(
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
    time: &str,
) -> Result<(Value, ManagedFields), ApplyError> {
    let (schema, root) = deployment_schema();
    let managed = live
        .map(|l| ManagedFields::from_object(l).expect("valid managed fields"))
        .unwrap_or_default();
    apply(
        live,
        config,
        force,
        &managed,
        schema,
        root,
        &WriteContext::new(manager, time),
    )
}

fn run_update(old: Option<&Value>, new: &Value, manager: &str, time: &str) -> Value {
    let (schema, root) = deployment_schema();
    let managed = old
        .map(|l| ManagedFields::from_object(l).expect("valid managed fields"))
        .unwrap_or_default();
    let mut out = new.clone();
    let managed = update_managed_fields(
        old,
        new,
        &managed,
        schema,
        root,
        &WriteContext::new(manager, time),
    );
    managed.write_to(&mut out);
    out
}

fn entry(manager: &str, operation: &str, time: &str, fields: Value) -> Value {
    json!({"manager": manager, "operation": operation, "apiVersion": "apps/v1", "time": time,
        "fieldsType": "FieldsV1", "fieldsV1": fields})
}

fn nginx_apply_fields() -> Value {
    json!({
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {
            "f:replicas": {},
            "f:selector": {},
            "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {
                    ".": {}, "f:image": {}, "f:name": {},
                    "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}
                }}}
            }
        }
    })
}

fn with_managed(mut object: Value, entries: Value) -> Value {
    object["metadata"]["managedFields"] = entries;
    object
}

#[test]
fn creating_through_apply_owns_exactly_the_applied_fields() {
    let config = nginx(2, json!({"app": "nginx"}));
    let (object, _) = run_apply(None, &config, "kubectl", false, T0).expect("apply");
    let expected = with_managed(
        config,
        json!([entry("kubectl", "Apply", T0, nginx_apply_fields())]),
    );
    assert_eq!(object, expected);
}

#[test]
fn applying_the_same_configuration_twice_changes_nothing() {
    let config = nginx(2, json!({"app": "nginx"}));
    let (first, _) = run_apply(None, &config, "kubectl", false, T0).expect("first apply");
    let (second, _) = run_apply(Some(&first), &config, "kubectl", false, T1).expect("second apply");
    assert_eq!(
        second, first,
        "same object and managed fields, time untouched"
    );
}

#[test]
fn fields_dropped_from_the_configuration_are_removed() {
    let (first, _) = run_apply(
        None,
        &nginx(2, json!({"app": "nginx", "tier": "web"})),
        "kubectl",
        false,
        T0,
    )
    .expect("first apply");
    let mut second_config = nginx(2, json!({"app": "nginx"}));
    second_config["spec"]
        .as_object_mut()
        .expect("spec")
        .shift_remove("replicas");
    let (second, _) =
        run_apply(Some(&first), &second_config, "kubectl", false, T1).expect("second apply");
    let mut fields = nginx_apply_fields();
    fields["f:spec"]
        .as_object_mut()
        .expect("spec")
        .shift_remove("f:replicas");
    assert_eq!(
        second,
        with_managed(
            second_config,
            json!([entry("kubectl", "Apply", T1, fields)])
        )
    );
}

#[test]
fn fields_dropped_by_one_applier_stay_while_another_applies_them() {
    let (first, _) =
        run_apply(None, &nginx(2, json!({"app": "nginx"})), "alice", false, T0).expect("alice");
    let bob = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx", "labels": {"app": "nginx"}}, "spec": {"replicas": 2}});
    let (second, _) = run_apply(Some(&first), &bob, "bob", false, T1).expect("bob shares values");
    let mut alice_config = nginx(2, json!({}));
    alice_config["metadata"]
        .as_object_mut()
        .expect("meta")
        .shift_remove("labels");
    alice_config["spec"]
        .as_object_mut()
        .expect("spec")
        .shift_remove("replicas");
    let (third, _) =
        run_apply(Some(&second), &alice_config, "alice", false, T2).expect("alice drops");
    assert_eq!(
        third["metadata"]["labels"],
        json!({"app": "nginx"}),
        "bob still applies the label"
    );
    assert_eq!(
        third["spec"]["replicas"],
        json!(2),
        "bob still applies replicas"
    );
    let entries = ManagedFields::from_object(&third).expect("decode");
    let bob_entry = entries
        .entries
        .iter()
        .find(|e| e.manager == "bob")
        .expect("bob entry");
    assert_eq!(
        bob_entry.fields.to_fields_v1(),
        json!({"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:replicas": {}}})
    );
}

#[test]
fn changing_a_field_owned_by_another_manager_conflicts() {
    let created = run_update(
        None,
        &nginx(2, json!({"app": "nginx"})),
        "kubectl-client-side-apply",
        T0,
    );
    let err = run_apply(
        Some(&created),
        &nginx(3, json!({"app": "nginx"})),
        "ci",
        false,
        T1,
    )
    .expect_err("conflict");
    assert_eq!(err.status_code(), 409);
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
    );
    let ApplyError::Conflict(conflicts) = err else {
        panic!("not a conflict")
    };
    assert_eq!(
        conflicts.conflicts[0].cause_message(),
        "conflict with \"kubectl-client-side-apply\" using apps/v1"
    );
    assert_eq!(conflicts.conflicts[0].path, ".spec.replicas");
}

#[test]
fn several_conflicts_are_listed_per_manager() {
    let created = run_update(
        None,
        &nginx(2, json!({"app": "nginx"})),
        "kubectl-create",
        T0,
    );
    let mut config = nginx(3, json!({"app": "web"}));
    config["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.26");
    let err = run_apply(Some(&created), &config, "ci", false, T1).expect_err("conflicts");
    assert_eq!(
        err.to_string(),
        "Apply failed with 3 conflicts: conflicts with \"kubectl-create\" using apps/v1\n\
         - .metadata.labels.app\n\
         - .spec.replicas\n\
         - .spec.template.spec.containers[name=\"nginx\"].image"
    );
}

#[test]
fn forcing_moves_ownership_to_the_applier() {
    let created = run_update(
        None,
        &nginx(2, json!({"app": "nginx"})),
        "kubectl-create",
        T0,
    );
    let config = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx"}, "spec": {"replicas": 5}});
    let (object, managed) = run_apply(Some(&created), &config, "hpa", true, T1).expect("forced");
    assert_eq!(object["spec"]["replicas"], json!(5));
    let create = managed
        .entries
        .iter()
        .find(|e| e.manager == "kubectl-create")
        .expect("creator");
    assert!(!create
        .fields
        .path_strings()
        .contains(&".spec.replicas".to_string()));
    let hpa = managed
        .entries
        .iter()
        .find(|e| e.manager == "hpa")
        .expect("applier");
    assert_eq!(
        hpa.fields.to_fields_v1(),
        json!({"f:spec": {"f:replicas": {}}})
    );
    assert_eq!(hpa.time.as_deref(), Some(T1));
}

#[test]
fn updates_take_the_fields_they_change_from_other_managers() {
    let (applied, _) = run_apply(
        None,
        &nginx(2, json!({"app": "nginx"})),
        "kubectl",
        false,
        T0,
    )
    .expect("apply");
    let mut scaled = applied.clone();
    scaled["spec"]["replicas"] = json!(4);
    scaled["status"] = json!({"replicas": 4});
    let updated = run_update(Some(&applied), &scaled, "kubectl-scale", T1);
    let mut apply_fields = nginx_apply_fields();
    apply_fields["f:spec"]
        .as_object_mut()
        .expect("spec")
        .shift_remove("f:replicas");
    let mut expected = scaled.clone();
    expected["metadata"]["managedFields"] = json!([
        entry("kubectl", "Apply", T0, apply_fields),
        entry(
            "kubectl-scale",
            "Update",
            T1,
            json!({"f:spec": {"f:replicas": {}}})
        ),
    ]);
    assert_eq!(
        updated, expected,
        "status is not tracked on the main resource"
    );
}

#[test]
fn an_update_that_changes_nothing_tracked_adds_no_entry() {
    let created = run_update(
        None,
        &nginx(2, json!({"app": "nginx"})),
        "kubectl-create",
        T0,
    );
    let mut touched = created.clone();
    touched["metadata"]["resourceVersion"] = json!("42");
    touched["status"] = json!({"replicas": 2});
    let updated = run_update(Some(&created), &touched, "controller", T1);
    assert_eq!(
        updated["metadata"]["managedFields"],
        created["metadata"]["managedFields"]
    );
}

#[test]
fn managers_left_with_nothing_disappear() {
    let created = run_update(
        None,
        &json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "x"}, "spec": {"replicas": 1}}),
        "creator",
        T0,
    );
    let mut changed = created.clone();
    changed["spec"]["replicas"] = json!(2);
    let updated = run_update(Some(&created), &changed, "scaler", T1);
    assert_eq!(
        updated["metadata"]["managedFields"],
        json!([entry(
            "scaler",
            "Update",
            T1,
            json!({"f:spec": {"f:replicas": {}}})
        )])
    );
}

#[test]
fn managed_fields_sent_with_an_update_replace_or_reset_the_stored_ones() {
    let created = run_update(None, &nginx(2, json!({"app": "nginx"})), "creator", T0);
    let mut reset = created.clone();
    reset["metadata"]["managedFields"] = json!([{}]);
    let cleared = run_update(Some(&created), &reset, "someone", T1);
    assert_eq!(
        cleared["metadata"].get("managedFields"),
        None,
        "[{{}}] resets, and no tracking follows"
    );
}

#[test]
fn the_first_apply_to_an_untracked_object_conflicts_with_before_first_apply() {
    let legacy = nginx(2, json!({"app": "nginx"}));
    let err = run_apply(
        Some(&legacy),
        &nginx(3, json!({"app": "nginx"})),
        "ci",
        false,
        T1,
    )
    .expect_err("conflict");
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"before-first-apply\" using apps/v1: .spec.replicas"
    );
}

#[test]
fn kubectl_may_take_over_values_it_applied_client_side() {
    let mut config = nginx(2, json!({"app": "nginx"}));
    let mut live = config.clone();
    live["metadata"]["annotations"] = json!({LAST_APPLIED_ANNOTATION: config.to_string()});
    let live = run_update(None, &live, "kubectl-client-side-apply", T0);
    config["metadata"]["labels"]["extra"] = json!("yes");
    let (object, managed) =
        run_apply(Some(&live), &config, "kubectl", false, T1).expect("no conflict");
    assert_eq!(
        object["metadata"]["annotations"][LAST_APPLIED_ANNOTATION],
        json!(config.to_string()),
        "the last-applied annotation follows the server-side applied configuration"
    );
    let kubectl = managed
        .entries
        .iter()
        .find(|e| e.manager == "kubectl")
        .expect("applier");
    assert!(kubectl
        .fields
        .path_strings()
        .contains(&".spec.replicas".to_string()));
}

#[test]
fn invalid_configurations_are_rejected() {
    let mut duplicate = nginx(1, json!({}));
    duplicate["spec"]["template"]["spec"]["containers"] =
        json!([{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]);
    let mut keyless = nginx(1, json!({}));
    keyless["spec"]["template"]["spec"]["containers"] = json!([{"image": "x"}]);
    let mut with_managed_fields = nginx(1, json!({}));
    with_managed_fields["metadata"]["managedFields"] = json!([]);
    let cases = [
        (duplicate, 422, ".spec.template.spec.containers: duplicate entries for key [name=\"a\"]"),
        (keyless, 422, ".spec.template.spec.containers: element 0: associative list with keys has an element that omits key field \"name\" (and doesn't have default value)"),
        (with_managed_fields, 400, "metadata.managedFields must be nil"),
        (json!([]), 400, "apply configuration must be an object"),
    ];
    for (config, status, message) in cases {
        let err = run_apply(None, &config, "m", false, T0).expect_err("invalid");
        assert_eq!(
            (err.status_code(), err.to_string()),
            (status, message.to_string())
        );
    }
}

#[test]
fn list_maps_merge_by_key_and_keep_other_managers_elements() {
    let (first, _) = run_apply(None, &nginx(1, json!({})), "alice", false, T0).expect("alice");
    let sidecar = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx"},
        "spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "envoy"}]}}}});
    let (second, _) = run_apply(Some(&first), &sidecar, "bob", false, T1).expect("bob");
    assert_eq!(
        second["spec"]["template"]["spec"]["containers"],
        json!([{"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}]},
               {"name": "sidecar", "image": "envoy"}])
    );
    let mut without_nginx = nginx(1, json!({}));
    without_nginx["spec"]["template"]["spec"]["containers"] = json!([]);
    let (third, _) =
        run_apply(Some(&second), &without_nginx, "alice", false, T2).expect("alice drops nginx");
    assert_eq!(
        third["spec"]["template"]["spec"]["containers"],
        json!([{"name": "sidecar", "image": "envoy"}])
    );
}

#[test]
fn custom_resources_follow_their_openapi_schema() {
    let openapi = json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "hosts": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                    "routes": {"type": "array", "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["path"],
                        "items": {"type": "object", "properties": {
                            "path": {"type": "string"}, "backend": {"type": "string"}}}},
                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                }
            }
        }
    });
    let (schema, root) = Schema::from_openapi_v3(&openapi).expect("schema");
    let config = json!({"apiVersion": "example.com/v1", "kind": "Site", "metadata": {"name": "s",
        "labels": {"a": "b"}},
        "spec": {"hosts": ["x.com"], "routes": [{"path": "/", "backend": "web"}], "extra": {"k": {"n": 1}}}});
    assert_eq!(
        fields_of(&config, &schema, root).to_fields_v1(),
        json!({
            "f:apiVersion": {}, "f:kind": {},
            "f:metadata": {"f:labels": {"f:a": {}}, "f:name": {}},
            "f:spec": {
                "f:extra": {"f:k": {".": {}, "f:n": {}}},
                "f:hosts": {"v:\"x.com\"": {}},
                "f:routes": {"k:{\"path\":\"/\"}": {".": {}, "f:backend": {}, "f:path": {}}}
            }
        })
    );
    let ctx = WriteContext::new("m", T0);
    let (object, _) = apply(
        None,
        &config,
        false,
        &ManagedFields::new(),
        &schema,
        root,
        &ctx,
    )
    .expect("apply");
    let mut more = config.clone();
    more["spec"]["hosts"] = json!(["y.com"]);
    let managed = ManagedFields::from_object(&object).expect("decode");
    let (object, _) = apply(
        Some(&object),
        &more,
        false,
        &managed,
        &schema,
        root,
        &WriteContext::new("m", T1),
    )
    .expect("re-apply");
    assert_eq!(
        object["spec"]["hosts"],
        json!(["y.com"]),
        "the dropped set element is pruned"
    );
}

#[test]
fn a_create_is_recorded_like_upstreams_kubectl_create_entry() {
    let created = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx", "labels": {"app": "nginx"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "nginx"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {"metadata": {"labels": {"app": "nginx"}}, "spec": {
                "containers": [{"name": "nginx", "image": "nginx", "resources": {}}],
                "securityContext": {}}}},
        "status": {}});
    let recorded = run_update(None, &created, "kubectl-create", T0);
    // Upstream also marks the pointer struct rollingUpdate with ".": Skiff cannot tell Go
    // pointers from values and treats every declared struct field as always present.
    assert_eq!(
        recorded["metadata"]["managedFields"],
        json!([entry(
            "kubectl-create",
            "Update",
            T0,
            json!({
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {
                    "f:replicas": {}, "f:selector": {},
                    "f:strategy": {"f:rollingUpdate": {"f:maxSurge": {}, "f:maxUnavailable": {}}, "f:type": {}},
                    "f:template": {
                        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                        "f:spec": {
                            "f:containers": {"k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {}, "f:resources": {}}},
                            "f:securityContext": {}
                        }
                    }
                }
            })
        )])
    );
}

#[test]
fn update_managers_beyond_ten_fold_into_ancient_changes() {
    let mut object = run_update(
        None,
        &json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "x", "labels": {}}}),
        "m00",
        T0,
    );
    for i in 1..=11 {
        let mut next = object.clone();
        next["metadata"]["labels"][format!("l{i}")] = json!("v");
        object = run_update(
            Some(&object),
            &next,
            &format!("m{i:02}"),
            &format!("2024-05-01T10:00:{i:02}Z"),
        );
    }
    let managed = ManagedFields::from_object(&object).expect("decode");
    let names: Vec<&str> = managed.entries.iter().map(|e| e.manager.as_str()).collect();
    assert_eq!(names.len(), MAX_UPDATE_MANAGERS, "{names:?}");
    let ancient = managed
        .entries
        .iter()
        .find(|e| e.manager == ANCIENT_CHANGES)
        .expect("bucket");
    assert_eq!(
        ancient.fields.to_fields_v1(),
        json!({"f:metadata": {"f:labels": {".": {}, "f:l1": {}, "f:l2": {}}}}),
        "the three oldest entries (m00 created the labels map) are folded together"
    );
    for gone in ["m00", "m01", "m02"] {
        assert!(!names.contains(&gone), "{gone} folded: {names:?}");
    }
}

#[test]
fn subresource_writers_are_named_with_their_subresource() {
    let (schema, root) = deployment_schema();
    let created = run_update(None, &nginx(2, json!({})), "creator", T0);
    let mut scaled = created.clone();
    scaled["spec"]["replicas"] = json!(3);
    let ctx = WriteContext::new("scaler", T1).with_subresource("scale");
    let managed = ManagedFields::from_object(&created).expect("decode");
    let managed = update_managed_fields(Some(&created), &scaled, &managed, schema, root, &ctx);
    let mut live = scaled.clone();
    managed.write_to(&mut live);
    let err = run_apply(Some(&live), &nginx(4, json!({})), "ci", false, T2).expect_err("conflict");
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"scaler\" with subresource \"scale\" using apps/v1: .spec.replicas"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn applying_any_configuration_twice_is_idempotent(
        replicas in 0i64..5,
        labels in prop::collection::btree_map("[a-c]", "[x-z]", 0..3),
        previous in prop::option::of(prop::collection::btree_map("[a-c]", "[x-z]", 0..3)),
    ) {
        let mut live = None;
        if let Some(prev) = previous {
            let (object, _) = run_apply(None, &nginx(1, json!(prev)), "kubectl", false, T0).expect("seed");
            live = Some(object);
        }
        let config = nginx(replicas, json!(labels));
        let (once, m1) = run_apply(live.as_ref(), &config, "kubectl", false, T1).expect("first");
        let (twice, m2) = run_apply(Some(&once), &config, "kubectl", false, T2).expect("second");
        prop_assert_eq!(&twice, &once);
        prop_assert_eq!(m1, m2);
        prop_assert_eq!(&once["metadata"]["labels"], &json!(labels));
    }

    #[test]
    fn random_configurations_never_panic(
        live in arb_json(),
        config in arb_json(),
        force in any::<bool>(),
    ) {
        let (schema, root) = deployment_schema();
        let ctx = WriteContext::new("m", T0);
        let managed = ManagedFields::new();
        let live_obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": live});
        let _ = apply(Some(&live_obj), &json!({"spec": config.clone()}), force, &managed, schema, root, &ctx);
        let _ = update_managed_fields(Some(&live_obj), &json!({"spec": config}), &managed, schema, root, &ctx);
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..3).prop_map(Value::from),
        prop::sample::select(vec!["a", "name", "x"]).prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "replicas",
                        "template",
                        "spec",
                        "containers",
                        "name",
                        "env",
                        "ports",
                        "containerPort",
                        "selector",
                        "matchLabels",
                        "metadata",
                        "labels",
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
