//! The REST paths of one resource, described once and rendered as OpenAPI 3.0 path items or as
//! Swagger 2.0 ones: collection, item, `/status`, `/scale` and the all-namespaces list, with
//! upstream's operation ids, `x-kubernetes-action` and `x-kubernetes-group-version-kind`.

use crate::builtin_types::{API_RESOURCE_LIST, DELETE_OPTIONS, PATCH, SCALE, STATUS};
use crate::normalize::{V2_REF, V3_REF};
use crate::params::*;
use serde_json::{json, Map, Value};
use skiff_api::ResourceInfo;

/// What a request body holds.
#[derive(Clone, Debug)]
enum Body {
    /// A whole object (`*/*`).
    Object(String),
    /// A patch document in one of the patch content types.
    Patch { strategic: bool },
    /// `DeleteOptions`.
    Delete,
}

/// One operation on a path.
#[derive(Clone, Debug)]
struct Op {
    method: &'static str,
    action: &'static str,
    id: String,
    description: String,
    params: Vec<Param>,
    body: Option<Body>,
    /// Response codes with the definition they return.
    responses: Vec<(&'static str, String)>,
    gvk: Option<(String, String, String)>,
}

/// One path with its shared parameters and operations.
#[derive(Clone, Debug)]
pub struct PathItem {
    /// The URL path, e.g. `/apis/apps/v1/namespaces/{namespace}/deployments/{name}`.
    pub path: String,
    params: Vec<Param>,
    ops: Vec<Op>,
}

/// `/api/v1` or `/apis/{group}/{version}`.
pub fn gv_prefix(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    }
}

/// Upstream's `ToValidOperationID`: drops non-identifier characters, capitalising what follows.
fn op_word(s: &str, capitalize_first: bool) -> String {
    let mut out = String::new();
    let mut cap = capitalize_first;
    for (i, c) in s.chars().enumerate() {
        if c.is_alphabetic() || c == '_' || (i != 0 && c.is_ascii_digit()) {
            if cap {
                out.extend(c.to_uppercase());
                cap = false;
            } else {
                out.push(c);
            }
        } else {
            cap = true;
        }
    }
    out
}

fn group_word(group: &str, capitalize_first: bool) -> String {
    if group.is_empty() {
        return if capitalize_first { "Core" } else { "core" }.into();
    }
    op_word(
        group.strip_suffix(".k8s.io").unwrap_or(group),
        capitalize_first,
    )
}

/// The tag of a group-version's operations, e.g. `apps_v1`, `core_v1`, `rbacAuthorization_v1`.
pub fn tag(group: &str, version: &str) -> String {
    format!("{}_{}", group_word(group, false), version)
}

/// The group-version root path (`GET /apis/apps/v1/` → `APIResourceList`).
pub fn gv_root_path(group: &str, version: &str) -> PathItem {
    PathItem {
        path: format!("{}/", gv_prefix(group, version)),
        params: vec![],
        ops: vec![Op {
            method: "get",
            action: "",
            id: format!(
                "get{}{}APIResources",
                group_word(group, true),
                op_word(version, true)
            ),
            description: "get available resources".into(),
            params: vec![],
            body: None,
            responses: vec![("200", API_RESOURCE_LIST.into())],
            gvk: None,
        }],
    }
}

/// Every path of one resource. `list_def` is the definition name of its list kind.
pub fn resource_paths(res: &ResourceInfo, list_def: &str) -> Vec<PathItem> {
    let gvw = format!(
        "{}{}",
        group_word(&res.group, true),
        op_word(&res.version, true)
    );
    let kind = &res.kind;
    let def = &res.definition;
    let prefix = gv_prefix(&res.group, &res.version);
    let gvk = Some((res.group.clone(), res.version.clone(), kind.clone()));
    let has = |v: &str| res.verbs.iter().any(|x| x == v);
    let ns = if res.namespaced() { "Namespaced" } else { "" };
    let (collection, scope_params) = if res.namespaced() {
        (
            format!("{prefix}/namespaces/{{namespace}}/{}", res.plural),
            vec![namespace_param()],
        )
    } else {
        (format!("{prefix}/{}", res.plural), vec![])
    };
    let obj = |code: &'static str| (code, def.clone());
    let op = |method, action, id: String, description: String, params, body, responses| Op {
        method,
        action,
        id,
        description,
        params,
        body,
        responses,
        gvk: gvk.clone(),
    };
    let mut out = Vec::new();

    if res.namespaced() && has("list") {
        let mut params = list_params();
        params.insert(5, pretty());
        out.push(PathItem {
            path: format!("{prefix}/{}", res.plural),
            params,
            ops: vec![op(
                "get",
                "list",
                format!("list{gvw}{kind}ForAllNamespaces"),
                format!("list or watch objects of kind {kind}"),
                vec![],
                None,
                vec![("200", list_def.to_string())],
            )],
        });
    }

    let mut coll_ops = Vec::new();
    if has("deletecollection") {
        coll_ops.push(op(
            "delete",
            "deletecollection",
            format!("delete{gvw}Collection{ns}{kind}"),
            format!("delete collection of {kind}"),
            delete_collection_params(),
            Some(Body::Delete),
            vec![("200", STATUS.into())],
        ));
    }
    if has("list") {
        coll_ops.push(op(
            "get",
            "list",
            format!("list{gvw}{ns}{kind}"),
            format!("list or watch objects of kind {kind}"),
            list_params(),
            None,
            vec![("200", list_def.to_string())],
        ));
    }
    if has("create") {
        coll_ops.push(op(
            "post",
            "post",
            format!("create{gvw}{ns}{kind}"),
            format!("create a {kind}"),
            write_params(),
            Some(Body::Object(def.clone())),
            vec![obj("200"), obj("201"), obj("202")],
        ));
    }
    if !coll_ops.is_empty() {
        let mut params = scope_params.clone();
        params.push(pretty());
        out.push(PathItem {
            path: collection.clone(),
            params,
            ops: coll_ops,
        });
    }

    let item = format!("{collection}/{{name}}");
    let mut item_params = vec![path_param("name", format!("name of the {kind}"))];
    item_params.extend(scope_params.iter().cloned());
    item_params.push(pretty());
    let strategic = !res.custom;
    let mut item_ops = Vec::new();
    if has("delete") {
        item_ops.push(op(
            "delete",
            "delete",
            format!("delete{gvw}{ns}{kind}"),
            format!("delete a {kind}"),
            delete_params(),
            Some(Body::Delete),
            vec![("200", STATUS.into()), ("202", STATUS.into())],
        ));
    }
    let rw_ops = |suffix: &str, what: &str, target: &str, gvk: Option<(String, String, String)>| {
        let resp = |code: &'static str| (code, target.to_string());
        let mut v = Vec::new();
        if has("get") {
            v.push(Op {
                method: "get",
                action: "get",
                id: format!("read{gvw}{ns}{kind}{suffix}"),
                description: format!("read {what}"),
                params: vec![],
                body: None,
                responses: vec![resp("200")],
                gvk: gvk.clone(),
            });
        }
        if has("patch") {
            v.push(Op {
                method: "patch",
                action: "patch",
                id: format!("patch{gvw}{ns}{kind}{suffix}"),
                description: format!("partially update {what}"),
                params: patch_params(),
                body: Some(Body::Patch { strategic }),
                responses: vec![resp("200"), resp("201")],
                gvk: gvk.clone(),
            });
        }
        if has("update") {
            v.push(Op {
                method: "put",
                action: "put",
                id: format!("replace{gvw}{ns}{kind}{suffix}"),
                description: format!("replace {what}"),
                params: write_params(),
                body: Some(Body::Object(target.to_string())),
                responses: vec![resp("200"), resp("201")],
                gvk,
            });
        }
        v
    };
    item_ops.extend(rw_ops(
        "",
        &format!("the specified {kind}"),
        def,
        gvk.clone(),
    ));
    if !item_ops.is_empty() {
        out.push(PathItem {
            path: item.clone(),
            params: item_params.clone(),
            ops: item_ops,
        });
    }
    if res.status_subresource {
        let ops = rw_ops(
            "Status",
            &format!("status of the specified {kind}"),
            def,
            gvk.clone(),
        );
        if !ops.is_empty() {
            out.push(PathItem {
                path: format!("{item}/status"),
                params: item_params.clone(),
                ops,
            });
        }
    }
    if res.scale.is_some() {
        let scale_gvk = Some((
            "autoscaling".to_string(),
            "v1".to_string(),
            "Scale".to_string(),
        ));
        let ops = rw_ops(
            "Scale",
            &format!("scale of the specified {kind}"),
            SCALE,
            scale_gvk,
        );
        if !ops.is_empty() {
            let mut params = item_params.clone();
            params[0].description = "name of the Scale".into();
            out.push(PathItem {
                path: format!("{item}/scale"),
                params,
                ops,
            });
        }
    }
    out
}

/// Definitions the operations of `items` reference (bodies and responses).
pub fn referenced_definitions(items: &[PathItem]) -> Vec<String> {
    let mut out = Vec::new();
    for op in items.iter().flat_map(|p| &p.ops) {
        out.extend(op.responses.iter().map(|(_, d)| d.clone()));
        match &op.body {
            Some(Body::Object(d)) => out.push(d.clone()),
            Some(Body::Patch { .. }) => out.push(PATCH.into()),
            Some(Body::Delete) => out.push(DELETE_OPTIONS.into()),
            None => {}
        }
    }
    out.sort();
    out.dedup();
    out
}

const MEDIA: &[&str] = &["application/json", "application/yaml"];

fn patch_media(strategic: bool) -> Vec<&'static str> {
    let mut v = vec![
        "application/apply-patch+yaml",
        "application/json-patch+json",
        "application/merge-patch+json",
    ];
    if strategic {
        v.push("application/strategic-merge-patch+json");
    }
    v
}

fn gvk_value(gvk: &(String, String, String)) -> Value {
    json!({ "group": gvk.0, "kind": gvk.2, "version": gvk.1 })
}

fn response_text(code: &str) -> &'static str {
    match code {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted",
        _ => "",
    }
}

fn param_v3(p: &Param) -> Value {
    let mut m = Map::new();
    m.insert("description".into(), p.description.clone().into());
    m.insert("in".into(), p.location.into());
    m.insert("name".into(), p.name.into());
    if p.required {
        m.insert("required".into(), true.into());
    }
    m.insert(
        "schema".into(),
        json!({ "type": p.ty, "uniqueItems": true }),
    );
    Value::Object(m)
}

fn param_v2(p: &Param) -> Value {
    let mut m = Map::new();
    m.insert("description".into(), p.description.clone().into());
    m.insert("in".into(), p.location.into());
    m.insert("name".into(), p.name.into());
    if p.required {
        m.insert("required".into(), true.into());
    }
    m.insert("type".into(), p.ty.into());
    m.insert("uniqueItems".into(), true.into());
    Value::Object(m)
}

fn content(types: &[&str], def: &str) -> Value {
    let schema = json!({ "schema": { "$ref": format!("{V3_REF}{def}") } });
    Value::Object(
        types
            .iter()
            .map(|t| (t.to_string(), schema.clone()))
            .collect(),
    )
}

/// Renders a path item as OpenAPI 3.0.
pub fn render_v3(item: &PathItem, tag: &str) -> Value {
    let mut m = Map::new();
    for op in &item.ops {
        let mut o = Map::new();
        o.insert("description".into(), op.description.clone().into());
        o.insert("operationId".into(), op.id.clone().into());
        if !op.params.is_empty() {
            o.insert(
                "parameters".into(),
                op.params.iter().map(param_v3).collect(),
            );
        }
        match &op.body {
            Some(Body::Object(d)) => {
                o.insert(
                    "requestBody".into(),
                    json!({ "content": content(&["*/*"], d), "required": true }),
                );
            }
            Some(Body::Patch { strategic }) => {
                o.insert(
                    "requestBody".into(),
                    json!({ "content": content(&patch_media(*strategic), PATCH), "required": true }),
                );
            }
            Some(Body::Delete) => {
                o.insert(
                    "requestBody".into(),
                    json!({ "content": content(&["*/*"], DELETE_OPTIONS) }),
                );
            }
            None => {}
        }
        let mut responses = Map::new();
        for (code, def) in &op.responses {
            responses.insert(
                code.to_string(),
                json!({ "content": content(MEDIA, def), "description": response_text(code) }),
            );
        }
        responses.insert("401".into(), json!({ "description": "Unauthorized" }));
        o.insert("responses".into(), Value::Object(responses));
        o.insert("tags".into(), json!([tag]));
        if !op.action.is_empty() {
            o.insert("x-kubernetes-action".into(), op.action.into());
        }
        if let Some(g) = &op.gvk {
            o.insert("x-kubernetes-group-version-kind".into(), gvk_value(g));
        }
        m.insert(op.method.into(), Value::Object(o));
    }
    if !item.params.is_empty() {
        m.insert(
            "parameters".into(),
            item.params.iter().map(param_v3).collect(),
        );
    }
    Value::Object(m)
}

/// Renders a path item as Swagger 2.0.
pub fn render_v2(item: &PathItem, tag: &str) -> Value {
    let mut m = Map::new();
    for op in &item.ops {
        let mut o = Map::new();
        let consumes: Vec<&str> = match &op.body {
            Some(Body::Patch { strategic }) => patch_media(*strategic),
            _ => vec!["*/*"],
        };
        o.insert("consumes".into(), json!(consumes));
        o.insert("description".into(), op.description.clone().into());
        o.insert("operationId".into(), op.id.clone().into());
        let mut params: Vec<Value> = Vec::new();
        let body_def = match &op.body {
            Some(Body::Object(d)) => Some((d.as_str(), true)),
            Some(Body::Patch { .. }) => Some((PATCH, true)),
            Some(Body::Delete) => Some((DELETE_OPTIONS, false)),
            None => None,
        };
        if let Some((d, required)) = body_def {
            let mut b = json!({ "in": "body", "name": "body", "schema": { "$ref": format!("{V2_REF}{d}") } });
            if required {
                b["required"] = true.into();
            }
            params.push(b);
        }
        params.extend(op.params.iter().map(param_v2));
        if !params.is_empty() {
            o.insert("parameters".into(), Value::Array(params));
        }
        o.insert("produces".into(), json!(MEDIA));
        let mut responses = Map::new();
        for (code, def) in &op.responses {
            responses.insert(
                code.to_string(),
                json!({ "description": response_text(code), "schema": { "$ref": format!("{V2_REF}{def}") } }),
            );
        }
        responses.insert("401".into(), json!({ "description": "Unauthorized" }));
        o.insert("responses".into(), Value::Object(responses));
        o.insert("schemes".into(), json!(["https"]));
        o.insert("tags".into(), json!([tag]));
        if !op.action.is_empty() {
            o.insert("x-kubernetes-action".into(), op.action.into());
        }
        if let Some(g) = &op.gvk {
            o.insert("x-kubernetes-group-version-kind".into(), gvk_value(g));
        }
        m.insert(op.method.into(), Value::Object(o));
    }
    if !item.params.is_empty() {
        m.insert(
            "parameters".into(),
            item.params.iter().map(param_v2).collect(),
        );
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_words_follow_upstream() {
        assert_eq!(
            group_word("rbac.authorization.k8s.io", true),
            "RbacAuthorization"
        );
        assert_eq!(group_word("stable.example.com", true), "StableExampleCom");
        assert_eq!(group_word("", true), "Core");
        assert_eq!(op_word("v1beta1", true), "V1beta1");
        assert_eq!(
            tag("flowcontrol.apiserver.k8s.io", "v1"),
            "flowcontrolApiserver_v1"
        );
    }

    #[test]
    fn deployment_paths_and_ids() {
        let reg = skiff_api::Registry::builtin();
        let d = reg.by_plural("apps", "v1", "deployments").unwrap();
        let items = resource_paths(&d, "io.k8s.api.apps.v1.DeploymentList");
        let paths: Vec<&str> = items.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "/apis/apps/v1/deployments",
                "/apis/apps/v1/namespaces/{namespace}/deployments",
                "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
                "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status",
                "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale",
            ]
        );
        let v = render_v3(&items[2], "apps_v1");
        assert_eq!(v["patch"]["operationId"], "patchAppsV1NamespacedDeployment");
        assert_eq!(
            v["delete"]["operationId"],
            "deleteAppsV1NamespacedDeployment"
        );
        let scale = render_v3(&items[4], "apps_v1");
        assert_eq!(
            scale["put"]["x-kubernetes-group-version-kind"]["kind"],
            "Scale"
        );
    }
}
