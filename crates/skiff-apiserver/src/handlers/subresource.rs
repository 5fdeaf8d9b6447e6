//! Subresources with their own shapes: `/scale` (autoscaling/v1 Scale) and `pods/binding`.

use super::{respond, Cx};
use crate::rest::{meta, target};
use axum::response::Response;
use http::StatusCode;
use serde_json::{json, Value};
use skiff_api::{ApiError, FieldError};

/// A label selector object rendered as upstream's selector string (`app=web,tier in (a,b)`).
pub fn selector_string(sel: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
        let mut kv: Vec<_> = m.iter().collect();
        kv.sort_by(|a, b| a.0.cmp(b.0));
        for (k, v) in kv {
            parts.push(format!("{k}={}", v.as_str().unwrap_or("")));
        }
    }
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e["key"].as_str().unwrap_or("");
        let mut vals: Vec<&str> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        vals.sort();
        match e["operator"].as_str().unwrap_or("") {
            "In" => parts.push(format!("{key} in ({})", vals.join(","))),
            "NotIn" => parts.push(format!("{key} notin ({})", vals.join(","))),
            "Exists" => parts.push(key.to_string()),
            "DoesNotExist" => parts.push(format!("!{key}")),
            _ => {}
        }
    }
    parts.join(",")
}

fn get_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let ptr = format!("/{}", path.trim_start_matches('.').replace('.', "/"));
    obj.pointer(&ptr)
}

fn set_path(obj: &mut Value, path: &str, v: Value) {
    let mut cur = obj;
    let parts: Vec<&str> = path.trim_start_matches('.').split('.').collect();
    for (i, p) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        if i == parts.len() - 1 {
            cur[*p] = v;
            return;
        }
        cur = cur
            .as_object_mut()
            .expect("invariant: made an object")
            .entry(p.to_string())
            .or_insert_with(|| json!({}));
    }
}

fn scale_of(cx: &Cx, parent: &Value) -> Value {
    let info = cx
        .res
        .scale
        .as_ref()
        .expect("invariant: checked by dispatch");
    let selector = match &info.label_selector_path {
        Some(p) if cx.res.custom => get_path(parent, p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        _ => parent
            .pointer("/spec/selector")
            .map(|s| {
                if cx.res.group.is_empty() {
                    // ReplicationController selectors are plain maps.
                    selector_string(&json!({"matchLabels": s}))
                } else {
                    selector_string(s)
                }
            })
            .unwrap_or_default(),
    };
    let m = parent.get("metadata").cloned().unwrap_or(json!({}));
    let mut status = json!({"replicas": get_path(parent, &info.status_replicas_path).and_then(Value::as_i64).unwrap_or(0)});
    if !selector.is_empty() {
        status["selector"] = json!(selector);
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"], "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"]},
        "spec": {"replicas": get_path(parent, &info.spec_replicas_path).and_then(Value::as_i64).unwrap_or(0)},
        "status": status,
    })
}

/// GET, PUT or PATCH `/scale`.
pub async fn scale(cx: &Cx) -> Result<Response, ApiError> {
    let st = &cx.state.storage;
    let info = cx.res.scale.clone().ok_or(ApiError::NoResource)?;
    for _ in 0..16 {
        let (kv, parent) = st.get_kv(&cx.res, cx.namespace(), &cx.info.name).await?;
        let current = scale_of(cx, &parent);
        let wanted = match cx.info.verb.as_str() {
            "get" => return Ok(respond(StatusCode::OK, &current, &cx.output, &[])),
            "update" => {
                let ty = crate::negotiate::request_body_type(&cx.headers)?;
                crate::negotiate::decode_as(&cx.body, ty)?.value
            }
            "patch" => {
                let ty = crate::negotiate::body_type(
                    cx.headers
                        .get(http::header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok()),
                )?;
                crate::schema::patch_value(
                    &current,
                    &cx.body,
                    ty,
                    "io.k8s.api.autoscaling.v1.Scale",
                )?
            }
            _ => return Err(ApiError::MethodNotAllowed),
        };
        if let Some(rv) = meta::resource_version(&wanted) {
            if rv != kv.mod_revision {
                return Err(ApiError::stale(target(&cx.res, &cx.info.name)));
            }
        }
        let replicas = wanted
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if replicas < 0 {
            return Err(ApiError::Invalid(
                skiff_api::error::Target::new("autoscaling", "scale", "Scale", &cx.info.name),
                vec![FieldError::invalid(
                    "spec.replicas",
                    replicas,
                    "must be greater than or equal to 0",
                )],
            ));
        }
        let mut updated = parent.clone();
        set_path(&mut updated, &info.spec_replicas_path, json!(replicas));
        let ctx = cx.write_ctx(None)?;
        match st
            .write_update(&cx.res, "scale", &kv, &parent, updated, &ctx, "Update")
            .await
        {
            Ok(stored) => {
                return Ok(respond(
                    StatusCode::OK,
                    &scale_of(cx, &stored),
                    &cx.output,
                    &[],
                ))
            }
            Err(ApiError::Conflict(..)) if meta::resource_version(&wanted).is_none() => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::stale(target(&cx.res, &cx.info.name)))
}

/// POST `pods/{name}/binding`: assigns a pod to a node, like upstream's BindingREST.
pub async fn binding(cx: &Cx) -> Result<Response, ApiError> {
    let st = &cx.state.storage;
    let ty = crate::negotiate::request_body_type(&cx.headers)?;
    let body = crate::negotiate::decode_as(&cx.body, ty)?.value;

    let node = body
        .pointer("/target/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if node.is_empty() {
        return Err(ApiError::Invalid(
            skiff_api::error::Target::new("", "bindings", "Binding", &cx.info.name),
            vec![FieldError::required("target.name", "")],
        ));
    }
    let ctx = cx.write_ctx(None)?;
    // The first attempt starts from the watch cache's copy (GuaranteedUpdate); being deleted
    // and being assigned never go back, so a cached copy showing either is the truth.
    for attempt in 0..16 {
        let fresh = attempt > 0;
        let Some((kv, pod)) = st
            .current_for_update(&cx.res, cx.namespace(), &cx.info.name, fresh)
            .await?
        else {
            return Err(ApiError::NotFound(target(&cx.res, &cx.info.name)));
        };
        if meta::deleting(&pod) {
            return Err(ApiError::Conflict(
                target(&cx.res, &cx.info.name),
                "pod is being deleted, cannot be assigned to a host".into(),
            ));
        }
        if let Some(n) = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            return Err(ApiError::Conflict(
                target(&cx.res, &cx.info.name),
                format!("pod {} is already assigned to node {n:?}", cx.info.name),
            ));
        }
        let mut bound = pod.clone();
        bound["spec"]["nodeName"] = json!(node);
        let now = meta::time(ctx.now);
        let conds = bound["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut conds: Vec<Value> = conds
            .into_iter()
            .filter(|c| c["type"] != "PodScheduled")
            .collect();
        conds.push(json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now}));
        bound["status"]["conditions"] = json!(conds);
        // Like upstream's BindingREST: spec.nodeName and the condition in one update.
        match st
            .write_update(&cx.res, "binding", &kv, &pod, bound, &ctx, "Update")
            .await
        {
            Ok(_) => {
                return Ok(respond(
                    StatusCode::CREATED,
                    &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
                    &cx.output,
                    &[],
                ));
            }
            Err(ApiError::Conflict(..)) => continue,
            Err(_) if !fresh => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::stale(target(&cx.res, &cx.info.name)))
}
