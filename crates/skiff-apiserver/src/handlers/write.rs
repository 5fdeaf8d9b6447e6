//! POST, PUT, PATCH, DELETE and DELETE-collection.

use super::{decode_body, render_object, respond, Cx};
use crate::negotiate::BodyType;
use crate::rest::delete::{DeleteOptions, Deleted};
use crate::rest::list::ListOptions;
use crate::rest::meta;
use axum::response::Response;
use http::StatusCode;
use serde_json::{json, Value};
use skiff_api::ApiError;

/// POST: create.
pub async fn create(cx: &Cx) -> Result<Response, ApiError> {
    let (mut obj, warnings) = decode_body(cx)?;
    if !cx.info.name.is_empty() {
        return Err(ApiError::MethodNotAllowed);
    }
    if obj.is_object() && meta::meta_str(&obj, "namespace").is_empty() && cx.res.namespaced() {
        meta::meta_mut(&mut obj).insert("namespace".into(), json!(cx.info.namespace));
    }
    let ctx = cx.write_ctx(None)?;
    let created = cx
        .state
        .storage
        .create(&cx.res, cx.namespace(), obj, &ctx)
        .await?;
    Ok(respond(
        StatusCode::CREATED,
        &render_object(cx, created),
        &cx.output,
        &warnings,
    ))
}

/// PUT: update (main resource, status or finalize).
pub async fn update(cx: &Cx) -> Result<Response, ApiError> {
    let (obj, warnings) = decode_body(cx)?;
    let ctx = cx.write_ctx(None)?;
    let (stored, created) = cx
        .state
        .storage
        .update(
            &cx.res,
            cx.namespace(),
            &cx.info.name,
            &cx.info.subresource,
            obj,
            &ctx,
        )
        .await?;
    Ok(written(cx, stored, created, &warnings))
}

/// The response of a PUT or PATCH: 201 when it created the object, else 200.
fn written(cx: &Cx, stored: Value, created: bool, warnings: &[String]) -> Response {
    let code = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    respond(code, &render_object(cx, stored), &cx.output, warnings)
}

/// PATCH with any of the four patch types.
pub async fn patch(cx: &Cx) -> Result<Response, ApiError> {
    let ty = crate::negotiate::request_body_type(&cx.headers)?;
    if matches!(ty, BodyType::Json | BodyType::Yaml | BodyType::Protobuf) {
        return Err(ApiError::UnsupportedMediaType(
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json".into(),
        ));
    }
    let force = cx.query.flag("force");
    if force && ty != BodyType::ApplyPatch {
        return Err(ApiError::BadRequest(
            "force: Invalid value: true: may not be specified for non-apply patch".into(),
        ));
    }
    if ty == BodyType::ApplyPatch && cx.query.get("fieldManager").is_none_or(str::is_empty) {
        return Err(ApiError::BadRequest("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".into()));
    }
    let ctx = cx.write_ctx(None)?;
    let (stored, created, warnings) = crate::schema::patch(cx, ty, force, &ctx).await?;
    Ok(written(cx, stored, created, &warnings))
}

fn delete_body(cx: &Cx) -> Result<Value, ApiError> {
    if cx.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    let ty = crate::negotiate::request_body_type(&cx.headers)?;
    Ok(crate::negotiate::decode_as(&cx.body, ty)?.value)
}

/// The write context of a delete: `dryRun` may come in the DeleteOptions body too.
fn delete_ctx(cx: &Cx, body: &Value) -> Result<crate::rest::WriteCtx, ApiError> {
    let mut ctx = cx.write_ctx(None)?;
    if let Some(d) = body.get("dryRun").and_then(Value::as_array) {
        for v in d {
            match v.as_str() {
                Some("All") => ctx.dry_run = true,
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "dryRun: Unsupported value: {:?}: supported values: \"All\"",
                        other.unwrap_or_default()
                    )))
                }
            }
        }
    }
    Ok(ctx)
}

/// DELETE one object.
pub async fn delete(cx: &Cx) -> Result<Response, ApiError> {
    let body = delete_body(cx)?;
    let opts = DeleteOptions::parse(&body, &cx.query)?;
    let ctx = delete_ctx(cx, &body)?;
    let out = cx
        .state
        .storage
        .delete(&cx.res, cx.namespace(), &cx.info.name, &opts, &ctx)
        .await?;
    let returns_object = cx.res.group.is_empty()
        && matches!(cx.res.plural.as_str(), "pods" | "namespaces")
        || cx.res.custom;
    Ok(match out {
        Deleted::Pending(obj) => respond(StatusCode::OK, &render_object(cx, obj), &cx.output, &[]),
        Deleted::Now(obj) if returns_object => {
            respond(StatusCode::OK, &render_object(cx, obj), &cx.output, &[])
        }
        Deleted::Now(obj) => {
            let mut details = json!({"name": cx.info.name, "kind": cx.res.plural, "uid": meta::meta_str(&obj, "uid")});
            if !cx.res.group.is_empty() {
                details["group"] = json!(cx.res.group);
            }
            respond(
                StatusCode::OK,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}),
                &cx.output,
                &[],
            )
        }
    })
}

/// DELETE a collection.
pub async fn delete_collection(cx: &Cx) -> Result<Response, ApiError> {
    let body = delete_body(cx)?;
    let opts = DeleteOptions::parse(&body, &cx.query)?;
    let list = ListOptions::parse(&cx.res, &cx.query)?;
    let ctx = delete_ctx(cx, &body)?;
    let items = cx
        .state
        .storage
        .delete_collection(&cx.res, cx.namespace(), &list, &opts, &ctx)
        .await?;
    let body = json!({
        "kind": cx.res.list_kind,
        "apiVersion": cx.res.api_version(),
        "metadata": {},
        "items": items,
    });
    Ok(respond(StatusCode::OK, &body, &cx.output, &[]))
}
