//! POST `pods/{name}/eviction` (policy/v1 Eviction): deletes a pod unless that would violate
//! its PodDisruptionBudget, like upstream's EvictionREST. The budget decisions are the pure
//! functions of `skiff_controllers::disruption::eviction`; this is their I/O.

use super::{respond, Cx};
use crate::rest::delete::DeleteOptions;
use crate::rest::target;
use axum::response::Response;
use http::StatusCode;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde_json::{json, Value};
use skiff_api::ApiError;
use skiff_controllers::cached_pod::CachedPod;
use skiff_controllers::disruption::eviction::{self, Decision, EvictionDenied};

/// Attempts before giving up on concurrent budget updates.
const RETRIES: usize = 16;

fn typed<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, ApiError> {
    serde_json::from_value(v.clone()).map_err(|e| ApiError::Internal(e.to_string()))
}

fn denied(d: EvictionDenied) -> ApiError {
    match d {
        EvictionDenied::TooManyRequests {
            cause,
            retry_after_seconds,
            ..
        } => ApiError::DisruptionBudget(cause, retry_after_seconds),
        EvictionDenied::Forbidden { message } => ApiError::Forbidden(message),
    }
}

/// POST `pods/{name}/eviction`.
pub async fn evict(cx: &Cx) -> Result<Response, ApiError> {
    let st = &cx.state.storage;
    let ty = crate::negotiate::request_body_type(&cx.headers)?;
    let body = crate::negotiate::decode_as(&cx.body, ty)?.value;
    let named = body.pointer("/metadata/name").and_then(Value::as_str);
    if named.is_some_and(|n| n != cx.info.name) {
        return Err(ApiError::BadRequest(format!(
            "name in URL does not match name in Eviction object: {:?} vs {:?}",
            cx.info.name,
            named.unwrap_or("")
        )));
    }
    let mut opts =
        DeleteOptions::parse(body.get("deleteOptions").unwrap_or(&Value::Null), &cx.query)?;
    let ctx = cx.write_ctx(None)?;
    let ns = cx.namespace();
    let pdb_res = st
        .registry
        .by_plural("policy", "v1", "poddisruptionbudgets")
        .ok_or_else(|| ApiError::Internal("poddisruptionbudgets are not served".into()))?;
    for _ in 0..RETRIES {
        let (kv, pod_json) = st.get_kv(&cx.res, ns, &cx.info.name).await?;
        let pod: CachedPod = typed(&pod_json)?;
        let pdbs: Vec<PodDisruptionBudget> = st
            .list_all(&pdb_res, ns, &Default::default())
            .await?
            .iter()
            .map(typed)
            .collect::<Result<_, _>>()?;
        let refs: Vec<&PodDisruptionBudget> = pdbs.iter().collect();
        let now = k8s_openapi::jiff::Timestamp::from_microsecond(ctx.now.timestamp_micros())
            .unwrap_or_default();
        match eviction::decide(&pod, &refs, now) {
            Decision::Delete {
                enforce_resource_version,
            } => {
                if enforce_resource_version && opts.resource_version.is_none() {
                    opts.resource_version = Some(kv.mod_revision.to_string());
                }
                match st.delete(&cx.res, ns, &cx.info.name, &opts, &ctx).await {
                    Ok(_) => return Ok(success(cx)),
                    // The pod changed between the read and the delete: decide again.
                    Err(ApiError::Conflict(..)) if enforce_resource_version => {
                        opts.resource_version = None;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            Decision::DecrementThenDelete { pdb, status } => {
                if !ctx.dry_run {
                    let name = pdb.metadata.name.clone().unwrap_or_default();
                    let (pdb_kv, old) = st.get_kv(&pdb_res, ns, &name).await?;
                    if old.pointer("/metadata/resourceVersion")
                        != Some(&json!(pdb.metadata.resource_version))
                    {
                        continue;
                    }
                    let mut new = old.clone();
                    new["status"] = serde_json::to_value(&*status)
                        .map_err(|e| ApiError::Internal(e.to_string()))?;
                    match st
                        .write_update(&pdb_res, "status", &pdb_kv, &old, new, &ctx, "Update")
                        .await
                    {
                        Ok(_) => {}
                        Err(ApiError::Conflict(..)) => continue,
                        Err(e) => return Err(e),
                    }
                }
                st.delete(&cx.res, ns, &cx.info.name, &opts, &ctx).await?;
                return Ok(success(cx));
            }
            Decision::Denied(d) => return Err(denied(d)),
            Decision::MultipleBudgets => {
                return Err(ApiError::Internal(
                    eviction::MULTIPLE_BUDGETS_MESSAGE.into(),
                ))
            }
        }
    }
    Err(ApiError::stale(target(&cx.res, &cx.info.name)))
}

fn success(cx: &Cx) -> Response {
    respond(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
        &cx.output,
        &[],
    )
}
