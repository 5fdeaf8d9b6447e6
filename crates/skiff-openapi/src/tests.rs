//! Whole-document tests: what kubectl's query-param verifier and `kubectl explain` look for.

use super::*;
use serde_json::{json, Value};
use skiff_api::{Registry, Scope};

fn crontab(version: &str) -> ResourceInfo {
    let mut r = Registry::builtin()
        .by_plural("apps", "v1", "deployments")
        .unwrap()
        .as_ref()
        .clone();
    r.group = "stable.example.com".into();
    r.version = version.into();
    r.kind = "CronTab".into();
    r.list_kind = "CronTabList".into();
    r.plural = "crontabs".into();
    r.singular = "crontab".into();
    r.definition = format!("com.example.stable.{version}.CronTab");
    r.custom = true;
    r.scope = Scope::Namespaced;
    r.scale = None;
    r
}

fn crontab_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "description": "CronTab spec",
                "properties": {
                    "cronSpec": { "type": "string", "description": "the schedule" },
                    "replicas": { "type": "integer", "minimum": 1, "nullable": true },
                    "port": { "x-kubernetes-int-or-string": true },
                },
            },
            "status": { "type": "object", "x-kubernetes-preserve-unknown-fields": true },
        },
    })
}

fn api_with_crd() -> OpenApi {
    let reg = Registry::builtin();
    reg.set_custom("stable.example.com", "crontabs", vec![crontab("v1")]);
    let mut schemas = CustomSchemas::new();
    schemas.insert(
        ("stable.example.com".into(), "v1".into(), "CronTab".into()),
        crontab_schema(),
    );
    OpenApi::build(&reg.all(), &schemas)
}

fn doc(api: &OpenApi, path: &str) -> Value {
    serde_json::from_slice(&api.v3_group_version(path).expect(path)).unwrap()
}

/// What `supportsQueryParamV3` does: the first PATCH with the GVK decides, so all must qualify.
fn supports_field_validation(doc: &Value, group: &str, version: &str, kind: &str) -> bool {
    let mut found = false;
    for item in doc["paths"].as_object().unwrap().values() {
        let op = &item["patch"];
        if op.is_null()
            || op["x-kubernetes-group-version-kind"]
                != json!({"group": group, "kind": kind, "version": version})
        {
            continue;
        }
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        if !params
            .iter()
            .any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
        {
            return false;
        }
        found = true;
    }
    found
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    let mut s = schema;
    loop {
        if let Some(r) = s["$ref"].as_str() {
            s = &doc["components"]["schemas"][r.trim_start_matches(normalize::V3_REF)];
        } else if let Some([one]) = s["allOf"].as_array().map(|a| a.as_slice()) {
            s = one;
        } else {
            return s;
        }
    }
}

/// Walks a field path the way `kubectl explain` does, starting at the schema carrying the GVK.
fn explain<'a>(doc: &'a Value, gvk: &Value, fields: &[&str]) -> Option<&'a Value> {
    let mut s = doc["components"]["schemas"]
        .as_object()?
        .values()
        .find(|s| {
            s["x-kubernetes-group-version-kind"]
                .as_array()
                .is_some_and(|l| l.contains(gvk))
        })?;
    for f in fields {
        s = resolve(doc, s);
        if s["items"].is_object() {
            s = resolve(doc, &s["items"]);
        }
        s = s["properties"].get(*f)?;
    }
    Some(resolve(doc, s))
}

/// Keyword-aware check that a schema is OpenAPI 3.0 as kube-openapi writes it.
fn check_v3_schema(s: &Value, at: &str) {
    let Value::Object(m) = s else {
        panic!("{at}: schema is not an object: {s}");
    };
    for bad in [
        "$schema",
        "$defs",
        "const",
        "examples",
        "$id",
        "prefixItems",
    ] {
        assert!(!m.contains_key(bad), "{at}: has {bad}");
    }
    if let Some(t) = m.get("type") {
        assert!(t.is_string(), "{at}: type {t}");
    }
    if m.contains_key("$ref") {
        assert_eq!(m.len(), 1, "{at}: $ref with siblings");
    }
    for k in ["items", "not"] {
        if let Some(v) = m.get(k) {
            check_v3_schema(v, &format!("{at}.{k}"));
        }
    }
    if let Some(v @ Value::Object(_)) = m.get("additionalProperties") {
        check_v3_schema(v, &format!("{at}.additionalProperties"));
    }
    for k in ["allOf", "anyOf", "oneOf"] {
        for (i, v) in m
            .get(k)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            check_v3_schema(v, &format!("{at}.{k}[{i}]"));
        }
    }
    if let Some(Value::Object(p)) = m.get("properties") {
        for (name, v) in p {
            check_v3_schema(v, &format!("{at}.{name}"));
        }
    }
}

fn all_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => all_refs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| all_refs(x, out)),
        _ => {}
    }
}

#[test]
fn root_lists_group_versions_with_hashes() {
    let api = api_with_crd();
    let root = api.v3_root();
    for gv in [
        "api/v1",
        "apis/apps/v1",
        "apis/autoscaling/v2",
        "apis/autoscaling/v1",
        "apis/stable.example.com/v1",
    ] {
        let url = root["paths"][gv]["serverRelativeURL"].as_str().expect(gv);
        let hash = api.v3_hash(gv).unwrap();
        assert_eq!(url, format!("/openapi/v3/{gv}?hash={hash}"));
    }
    assert!(api.v3_group_version("apis/nope/v1").is_none());
}

#[test]
fn apps_v1_deployment_patch_supports_field_validation() {
    let api = api_with_crd();
    let d = doc(&api, "apis/apps/v1");
    assert_eq!(d["openapi"], "3.0.0");
    assert!(supports_field_validation(&d, "apps", "v1", "Deployment"));
    assert!(supports_field_validation(&d, "autoscaling", "v1", "Scale"));
    let core = doc(&api, "api/v1");
    for kind in ["Pod", "Namespace", "ConfigMap", "Service", "Node", "Secret"] {
        assert!(supports_field_validation(&core, "", "v1", kind), "{kind}");
    }
    let crd = doc(&api, "apis/stable.example.com/v1");
    assert!(supports_field_validation(
        &crd,
        "stable.example.com",
        "v1",
        "CronTab"
    ));
    let op = &d["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert_eq!(op["operationId"], "patchAppsV1NamespacedDeployment");
    assert_eq!(op["x-kubernetes-action"], "patch");
}

#[test]
fn every_ref_resolves_and_schemas_are_openapi3() {
    let api = api_with_crd();
    for gv in api.v3_paths() {
        let d = doc(&api, &gv);
        let mut refs = Vec::new();
        all_refs(&d, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{gv}: bad ref {r}"));
            assert!(
                d["components"]["schemas"].get(name).is_some(),
                "{gv}: unresolved {r}"
            );
        }
        for (name, s) in d["components"]["schemas"].as_object().unwrap() {
            check_v3_schema(s, &format!("{gv}:{name}"));
        }
    }
}

#[test]
fn deployment_explain_reaches_pod_template() {
    let api = api_with_crd();
    let d = doc(&api, "apis/apps/v1");
    let dep = &d["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"];
    assert_eq!(
        dep["x-kubernetes-group-version-kind"],
        json!([{ "group": "apps", "kind": "Deployment", "version": "v1" }])
    );
    assert!(
        dep["required"].is_null(),
        "metadata is not required upstream"
    );
    let gvk = json!({ "group": "apps", "kind": "Deployment", "version": "v1" });
    let tmpl = explain(&d, &gvk, &["spec", "template"]).unwrap();
    assert_eq!(
        tmpl["description"],
        d["components"]["schemas"]["io.k8s.api.core.v1.PodTemplateSpec"]["description"]
    );
    let containers = explain(&d, &gvk, &["spec", "template", "spec", "containers"]).unwrap();
    assert_eq!(containers["type"], "array");
    assert!(explain(
        &d,
        &gvk,
        &["spec", "template", "spec", "containers", "image"]
    )
    .is_some());
    assert!(explain(&d, &gvk, &["spec", "nope"]).is_none());
    let list = &d["components"]["schemas"]["io.k8s.api.apps.v1.DeploymentList"];
    assert_eq!(
        list["x-kubernetes-group-version-kind"][0]["kind"],
        "DeploymentList"
    );
}

#[test]
fn crd_schema_is_served_in_its_group_version() {
    let api = api_with_crd();
    let d = doc(&api, "apis/stable.example.com/v1");
    let s = &d["components"]["schemas"]["com.example.stable.v1.CronTab"];
    assert_eq!(
        s["properties"]["spec"]["properties"]["cronSpec"]["type"],
        "string"
    );
    let gvk = json!({ "group": "stable.example.com", "kind": "CronTab", "version": "v1" });
    assert_eq!(
        explain(&d, &gvk, &["spec", "cronSpec"]).unwrap()["description"],
        "the schedule"
    );
    assert!(explain(&d, &gvk, &["metadata", "labels"]).is_some());
    assert!(d["paths"]
        ["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}/status"]["patch"]
        .is_object());
    let patch =
        &d["paths"]["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}"]["patch"];
    assert!(patch["requestBody"]["content"]["application/merge-patch+json"].is_object());
    assert!(patch["requestBody"]["content"]["application/strategic-merge-patch+json"].is_null());
    assert!(d["components"]["schemas"]["com.example.stable.v1.CronTabList"].is_object());
    // Built-in groups are not affected by the CRD.
    assert!(
        doc(&api, "apis/apps/v1")["components"]["schemas"]["com.example.stable.v1.CronTab"]
            .is_null()
    );
}

#[test]
fn hashes_are_stable_and_change_with_inputs() {
    let a = api_with_crd();
    let b = api_with_crd();
    assert_eq!(a.v3_hash("apis/apps/v1"), b.v3_hash("apis/apps/v1"));
    assert_eq!(
        a.v3_hash("apis/stable.example.com/v1"),
        b.v3_hash("apis/stable.example.com/v1")
    );
    let reg = Registry::builtin();
    reg.set_custom("stable.example.com", "crontabs", vec![crontab("v1")]);
    let mut schemas = CustomSchemas::new();
    schemas.insert(
        ("stable.example.com".into(), "v1".into(), "CronTab".into()),
        json!({ "type": "object", "properties": { "spec": { "type": "object" } } }),
    );
    let c = OpenApi::build(&reg.all(), &schemas);
    assert_ne!(
        a.v3_hash("apis/stable.example.com/v1"),
        c.v3_hash("apis/stable.example.com/v1")
    );
    assert_eq!(a.v3_hash("api/v1"), c.v3_hash("api/v1"));
    let bytes = a.v3_group_version("api/v1").unwrap();
    assert_eq!(a.v3_hash("api/v1").unwrap(), document::hash_hex(&bytes));
}

#[test]
fn v2_has_every_definition_and_path() {
    let api = api_with_crd();
    let v2: Value = serde_json::from_slice(&api.v2()).unwrap();
    assert_eq!(v2["swagger"], "2.0");
    let defs = v2["definitions"].as_object().unwrap();
    for d in [
        "io.k8s.api.apps.v1.Deployment",
        "io.k8s.api.core.v1.Pod",
        "com.example.stable.v1.CronTab",
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
    ] {
        assert!(defs.contains_key(d), "{d}");
    }
    assert_eq!(
        defs["io.k8s.apimachinery.pkg.api.resource.Quantity"]["type"],
        "string"
    );
    let mut refs = Vec::new();
    all_refs(&v2, &mut refs);
    for r in refs {
        let name = r
            .strip_prefix("#/definitions/")
            .unwrap_or_else(|| panic!("bad ref {r}"));
        assert!(defs.contains_key(name), "unresolved {r}");
    }
    let patch = &v2["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"]["kind"],
        "Deployment"
    );
    assert!(patch["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "fieldValidation"));
    assert!(patch["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["in"] == "body"));
    let replicas =
        &defs["com.example.stable.v1.CronTab"]["properties"]["spec"]["properties"]["replicas"];
    assert_eq!(replicas, &json!({ "type": "integer", "minimum": 1 }));
}

#[test]
fn schema_carried_by_the_resource_is_used_when_the_map_has_none() {
    let reg = Registry::builtin();
    let mut r = crontab("v1");
    r.custom_schema = Some(std::sync::Arc::new(crontab_schema()));
    reg.set_custom("stable.example.com", "crontabs", vec![r]);
    let api = OpenApi::build(&reg.all(), &CustomSchemas::new());
    let d = doc(&api, "apis/stable.example.com/v1");
    let s = &d["components"]["schemas"]["com.example.stable.v1.CronTab"];
    assert_eq!(s["properties"]["spec"]["description"], "CronTab spec");
}

#[test]
fn documents_can_be_shared_across_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<OpenApi>();
}
