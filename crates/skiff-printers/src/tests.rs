//! Whole-table tests through the public API.

use super::*;
use skiff_api::{Registry, Scope};

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn res(group: &str, plural: &str) -> ResourceInfo {
    let reg = Registry::builtin();
    let r = reg
        .all()
        .into_iter()
        .find(|r| r.group == group && r.plural == plural)
        .unwrap();
    r.as_ref().clone()
}

fn crontab() -> ResourceInfo {
    let mut r = res("apps", "deployments");
    r.group = "stable.example.com".into();
    r.kind = "CronTab".into();
    r.plural = "crontabs".into();
    r.custom = true;
    r.scope = Scope::Namespaced;
    r
}

#[test]
fn pod_table_with_metadata_objects() {
    let pod = json!({
        "metadata": { "name": "web", "namespace": "default", "creationTimestamp": "2024-05-01T11:59:00Z" },
        "spec": { "containers": [{ "name": "a" }] },
        "status": { "phase": "Succeeded", "containerStatuses": [{ "name": "a", "state": { "terminated": { "exitCode": 0, "reason": "Completed" } } }] },
    });
    let t = table(
        &res("", "pods"),
        &[pod],
        IncludeObject::default(),
        json!({ "resourceVersion": "42", "continue": "" }),
        None,
        now(),
    );
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(t["metadata"], json!({ "resourceVersion": "42" }));
    let names: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
            "IP",
            "Node",
            "Nominated Node",
            "Readiness Gates"
        ]
    );
    assert_eq!(t["columnDefinitions"][0]["format"], "name");
    assert_eq!(t["columnDefinitions"][5]["priority"], 1);
    let row = &t["rows"][0];
    assert_eq!(
        row["cells"],
        json!([
            "web",
            "0/1",
            "Completed",
            "0",
            "60s",
            "<none>",
            "<none>",
            "<none>",
            "<none>"
        ])
    );
    assert_eq!(row["conditions"][0]["type"], "Completed");
    assert_eq!(row["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(row["object"]["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(row["object"]["metadata"]["name"], "web");
}

#[test]
fn include_object_variants() {
    let cm = json!({ "metadata": { "name": "cm" }, "data": { "a": "b" } });
    let r = res("", "configmaps");
    let none = table(
        &r,
        std::slice::from_ref(&cm),
        IncludeObject::None,
        json!({}),
        None,
        now(),
    );
    assert!(none["rows"][0].get("object").is_none());
    assert_eq!(none["metadata"], json!({}));
    let full = table(
        &r,
        std::slice::from_ref(&cm),
        IncludeObject::Object,
        json!({ "remainingItemCount": 3 }),
        None,
        now(),
    );
    assert_eq!(full["rows"][0]["object"], cm);
    assert_eq!(full["metadata"]["remainingItemCount"], 3);
    assert_eq!(IncludeObject::parse("Object"), Some(IncludeObject::Object));
    assert_eq!(IncludeObject::parse("bogus"), None);
}

#[test]
fn roles_and_crds_use_the_default_table() {
    let role =
        json!({ "metadata": { "name": "reader", "creationTimestamp": "2024-05-01T10:00:00Z" } });
    let r = res("rbac.authorization.k8s.io", "roles");
    let cols: Vec<String> = columns_for(&r, None).into_iter().map(|c| c.name).collect();
    assert_eq!(cols, vec!["Name", "Created At"]);
    assert_eq!(
        row_cells(&r, &role, None, now()),
        vec![json!("reader"), json!("2024-05-01T10:00:00Z")]
    );
    let crd = res("apiextensions.k8s.io", "customresourcedefinitions");
    assert_eq!(columns_for(&crd, None)[1].type_, "date");
}

#[test]
fn custom_resources_use_printer_columns() {
    let r = crontab();
    let obj = json!({ "metadata": { "name": "ct", "creationTimestamp": "2024-05-01T11:00:00Z" }, "spec": { "cronSpec": "* * * * *" } });
    assert_eq!(
        row_cells(&r, &obj, None, now()),
        vec![json!("ct"), json!("60m")]
    );
    let apc = json!([
        { "name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec" },
        { "name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp" },
    ]);
    let t = table(
        &r,
        std::slice::from_ref(&obj),
        IncludeObject::Metadata,
        json!({}),
        Some(&apc),
        now(),
    );
    assert_eq!(t["rows"][0]["cells"], json!(["ct", "* * * * *", "60m"]));
    assert_eq!(t["columnDefinitions"][1]["name"], "Spec");
    // Columns the resource carries are used when none are passed.
    let mut carried = crontab();
    carried.printer_columns = Some(std::sync::Arc::new(apc.clone()));
    assert_eq!(
        row_cells(&carried, &obj, None, now()),
        vec![json!("ct"), json!("* * * * *"), json!("60m")]
    );
}

#[test]
fn every_builtin_resource_prints_without_panicking() {
    let junk = [
        json!({}),
        json!(null),
        json!({ "metadata": { "name": 5, "creationTimestamp": 7 }, "spec": "x", "status": [1] }),
        json!({ "spec": { "containers": "x", "ports": [null, 3], "rules": [1] }, "status": { "conditions": [null] } }),
    ];
    for r in Registry::builtin().all() {
        let cols = columns_for(&r, None);
        for j in &junk {
            let cells = row_cells(&r, j, None, now());
            assert_eq!(cells.len(), cols.len(), "{}", r.plural);
        }
    }
}
