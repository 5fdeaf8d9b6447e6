//! Schema-driven operations on objects, bridging skiff-patch (strategic merge patch, server-side
//! apply, managed fields) and skiff-crd (pruning of custom objects): unknown-field detection,
//! the PATCH flow and managedFields bookkeeping.

use crate::handlers::{field_validation, Cx};
use crate::negotiate::BodyType;
use crate::rest::{meta, target, WriteCtx};
use serde_json::{json, Value};
use skiff_api::{ApiError, FieldError, ResourceInfo};
use skiff_patch::{Schema, TypeRef};
use std::borrow::Cow;
use std::fmt::Write;

/// The type model of a resource: built-in from k8s-openapi, custom from the CRD schema.
pub fn model(res: &ResourceInfo) -> Option<(Cow<'static, Schema>, TypeRef)> {
    if res.custom {
        let schema = res.custom_schema.as_deref().cloned().unwrap_or_else(
            || json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        );
        let (s, t) = Schema::from_openapi_v3(&schema).ok()?;
        return Some((Cow::Owned(s), t));
    }
    let (s, t) = Schema::for_builtin(&res.definition)?;
    Some((Cow::Borrowed(s), t))
}

fn model_by_name(name: &str) -> Result<(&'static Schema, TypeRef), ApiError> {
    Schema::for_builtin(name).ok_or_else(|| ApiError::Internal(format!("no schema for {name}")))
}

/// Fields of `obj` that its kind does not declare (`spec.foo`, `spec.containers[0].bar`).
pub fn unknown_fields(res: &ResourceInfo, obj: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if !obj.is_object() {
        return out;
    }
    if res.custom {
        if let Some(schema) = &res.custom_schema {
            let mut copy = obj.clone();
            out = skiff_crd::prune(schema, &mut copy);
        }
    } else if let Some((s, t)) = Schema::for_builtin(&res.definition) {
        walk_unknown(s, t, obj, &mut String::new(), &mut out);
    }
    out
}

/// Walks `v` along the type model, collecting fields the type does not declare. Values of the
/// wrong type are left to the typed decoder, which reports them as errors.
///
/// `path` is where `v` is (one buffer for the whole walk: it runs on every write, and a
/// string per visited field was most of its cost).
fn walk_unknown(schema: &Schema, t: TypeRef, v: &Value, path: &mut String, out: &mut Vec<String>) {
    match (schema.shape(t), v) {
        (
            skiff_patch::Shape::Object {
                fields, additional, ..
            },
            Value::Object(m),
        ) => {
            for (k, child) in m {
                if child.is_null() {
                    continue;
                }
                let len = path.len();
                if len > 0 {
                    path.push('.');
                }
                path.push_str(k);
                match fields.get(k).copied().or(*additional) {
                    Some(ft) => walk_unknown(schema, ft, child, path, out),
                    None => out.push(path.clone()),
                }
                path.truncate(len);
            }
        }
        (skiff_patch::Shape::List(l), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                let _ = write!(path, "[{i}]");
                walk_unknown(schema, l.items, item, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// Records a non-apply write by `manager` in `new`'s managedFields (`old` is None on create).
pub fn track_update(
    res: &ResourceInfo,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: &str,
    now: &str,
) {
    let Some((s, t)) = model(res) else { return };
    // The entries the write starts from: those `new` carries (a PATCH or PUT carries the
    // stored ones unless it changed them), else the stored object's. That is upstream's
    // decodeLiveOrNew, decided here once so that `new`'s entries are decoded once.
    let managed = skiff_patch::ManagedFields::from_object(new)
        .or_else(|_| {
            old.map_or(
                Ok(Default::default()),
                skiff_patch::ManagedFields::from_object,
            )
        })
        .unwrap_or_default();
    let mut ctx = skiff_patch::WriteContext::new(manager, now);
    if !subresource.is_empty() {
        ctx = ctx.with_subresource(subresource);
    }
    let updated = skiff_patch::track_managed_fields(old, new, managed, &s, t, &ctx);
    updated.write_to(new);
}

/// Server-side apply of `applied` onto `live` by the write's field manager.
fn server_side_apply(
    res: &ResourceInfo,
    name: &str,
    live: Option<&Value>,
    applied: &Value,
    force: bool,
    ctx: &WriteCtx,
    subresource: &str,
) -> Result<Value, ApiError> {
    let (s, t) =
        model(res).ok_or_else(|| ApiError::Internal(format!("no schema for {}", res.kind)))?;
    let managed = live
        .map(skiff_patch::ManagedFields::from_object)
        .transpose()
        .map_err(|e| ApiError::BadRequest(format!("metadata.managedFields: {e}")))?
        .unwrap_or_default();
    let now = meta::time(ctx.now);
    let mut wctx = skiff_patch::WriteContext::new(&ctx.field_manager, &now);
    if !subresource.is_empty() {
        wctx = wctx.with_subresource(subresource);
    }
    let (obj, _) = skiff_patch::apply(live, applied, force, &managed, &s, t, &wctx)
        .map_err(|e| apply_error(res, name, e))?;
    Ok(obj)
}

fn invalid_patch(res: &ResourceInfo, name: &str, msg: String) -> ApiError {
    ApiError::Invalid(
        target(res, name),
        vec![FieldError::invalid("", Value::Null, msg)],
    )
}

/// Applies a json, merge or strategic patch to `current` (for subresource shapes like Scale).
pub fn patch_value(
    current: &Value,
    body: &[u8],
    ty: BodyType,
    definition: &str,
) -> Result<Value, ApiError> {
    let patch = crate::negotiate::decode(body, false)?.value;
    match ty {
        BodyType::JsonPatch => {
            let p: json_patch::Patch =
                serde_json::from_value(patch).map_err(|e| ApiError::BadRequest(e.to_string()))?;
            let mut doc = current.clone();
            json_patch::patch(&mut doc, &p).map_err(|e| {
                ApiError::BadRequest(format!(
                    "the server rejected our request due to an error in our request: {e}"
                ))
            })?;
            Ok(doc)
        }
        BodyType::MergePatch => {
            let mut doc = current.clone();
            json_patch::merge(&mut doc, &patch);
            Ok(doc)
        }
        BodyType::StrategicMergePatch => {
            let (s, t) = model_by_name(definition)?;
            skiff_patch::strategic_merge(current, &patch, s, t)
                .map_err(|e| ApiError::BadRequest(e.to_string()))
        }
        _ => Err(ApiError::UnsupportedMediaType(format!(
            "{ty:?} is not supported here"
        ))),
    }
}

/// What one attempt of a PATCH came to.
enum PatchStep {
    /// The stored object, whether it was created (apply), and warnings.
    Done((Value, bool, Vec<String>)),
    /// Lost a write race: try again (with these warnings).
    Retry(Vec<String>),
}

/// The PATCH flow for every patch type, with retries on write races.
/// Returns the stored object, whether it was created (apply), and warnings.
pub async fn patch(
    cx: &Cx,
    ty: BodyType,
    force: bool,
    ctx: &WriteCtx,
) -> Result<(Value, bool, Vec<String>), ApiError> {
    let st = &cx.state.storage;
    let res = &cx.res;
    let (ns, name, sub) = (
        cx.namespace().to_string(),
        cx.info.name.clone(),
        cx.info.subresource.clone(),
    );
    let patch_doc = crate::negotiate::decode(&cx.body, ty == BodyType::ApplyPatch)?;
    let mut problems: Vec<String> = patch_doc
        .duplicates
        .iter()
        .map(|d| format!("duplicate field {d:?}"))
        .collect();
    if ty == BodyType::ApplyPatch {
        problems.extend(
            unknown_fields(res, &patch_doc.value)
                .into_iter()
                .map(|f| format!("unknown field {f:?}")),
        );
    }
    let patch = patch_doc.value;
    if ty == BodyType::StrategicMergePatch && res.custom {
        return Err(ApiError::UnsupportedMediaType(
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml".into(),
        ));
    }
    // Like upstream's GuaranteedUpdate: the first attempt patches the watch cache's copy; a
    // conflict, or any error on that copy (it may be stale), retries from the store.
    let mut fresh = false;
    for _ in 0..16 {
        let carried = problems.clone();
        let step: Result<PatchStep, ApiError> = async {
            let Some((kv, old)) = st.current_for_update(res, &ns, &name, fresh).await? else {
                if ty != BodyType::ApplyPatch || !sub.is_empty() {
                    return Err(ApiError::NotFound(target(res, &name)));
                }
                let warnings = field_validation(cx, problems)?;
                let mut applied = patch.clone();
                crate::rest::write::check_type_meta(res, &mut applied)?;
                let obj = server_side_apply(res, &name, None, &applied, force, ctx, "")?;
                let mut c = ctx.clone();
                c.apply = true;
                let created = st.create(res, &ns, obj, &c).await?;
                return Ok(PatchStep::Done((created, true, warnings)));
            };
            let mut operation = "Update";
            let new = match ty {
                BodyType::JsonPatch => {
                    let p: json_patch::Patch = serde_json::from_value(patch.clone())
                        .map_err(|e| ApiError::BadRequest(format!("error decoding patch: {e}")))?;
                    let mut doc = old.clone();
                    json_patch::patch(&mut doc, &p)
                        .map_err(|e| invalid_patch(res, &name, e.to_string()))?;
                    doc
                }
                BodyType::MergePatch => {
                    if !patch.is_object() {
                        return Err(ApiError::BadRequest(
                            "merge patch must be a JSON object".into(),
                        ));
                    }
                    let mut doc = old.clone();
                    json_patch::merge(&mut doc, &patch);
                    doc
                }
                BodyType::StrategicMergePatch => {
                    let (s, t) =
                        model(res).ok_or_else(|| ApiError::Internal("no schema".into()))?;
                    skiff_patch::strategic_merge(&old, &patch, &s, t).map_err(|e| {
                        match e.status_code() {
                            400 => ApiError::BadRequest(e.to_string()),
                            _ => invalid_patch(res, &name, e.to_string()),
                        }
                    })?
                }
                BodyType::ApplyPatch => {
                    operation = "Apply";
                    let mut applied = patch.clone();
                    crate::rest::write::check_type_meta(res, &mut applied)?;
                    server_side_apply(res, &name, Some(&old), &applied, force, ctx, &sub)?
                }
                BodyType::Json | BodyType::Yaml | BodyType::Protobuf => {
                    return Err(ApiError::UnsupportedMediaType("not a patch".into()))
                }
            };
            if ty != BodyType::ApplyPatch {
                // A merge patch has the object's shape and the stored object has no unknown
                // fields, so the patch holds any the result has (nulls delete and are
                // skipped): walk it rather than the whole object.
                let probe = if ty == BodyType::MergePatch && !res.custom {
                    &patch
                } else {
                    &new
                };
                problems.extend(
                    unknown_fields(res, probe)
                        .into_iter()
                        .map(|f| format!("unknown field {f:?}")),
                );
            }
            let warnings = field_validation(cx, std::mem::take(&mut problems))?;
            let precondition = meta::resource_version(&new).filter(|rv| *rv != kv.mod_revision);
            if precondition.is_some() {
                return Err(ApiError::stale(target(res, &name)));
            }
            let explicit_rv = patch.pointer("/metadata/resourceVersion").is_some();
            match st
                .write_update(res, &sub, &kv, &old, new, ctx, operation)
                .await
            {
                Err(ApiError::Conflict(..)) if !explicit_rv => Ok(PatchStep::Retry(warnings)),
                other => other.map(|v| PatchStep::Done((v, false, warnings))),
            }
        }
        .await;
        match step {
            Ok(PatchStep::Done(done)) => return Ok(done),
            Ok(PatchStep::Retry(warnings)) => problems = warnings,
            Err(_) if !fresh => problems = carried,
            Err(e) => return Err(e),
        }
        fresh = true;
    }
    Err(ApiError::stale(target(res, &name)))
}

fn apply_error(res: &ResourceInfo, name: &str, e: skiff_patch::ApplyError) -> ApiError {
    match e {
        skiff_patch::ApplyError::Conflict(c) => ApiError::ApplyConflict(
            c.to_string(),
            c.conflicts
                .iter()
                .map(|x| (x.path.clone(), x.cause_message()))
                .collect(),
        ),
        skiff_patch::ApplyError::BadRequest(m) => ApiError::BadRequest(m),
        skiff_patch::ApplyError::Invalid(m) => invalid_patch(res, name, m),
    }
}
