//! GET and LIST.

use super::{into_partial, render_object, respond, table, Cx};
use crate::negotiate::Output;
use crate::rest::list::{list_object, ListOptions};
use axum::response::Response;
use http::StatusCode;
use serde_json::{json, Value};
use skiff_api::ApiError;
use std::sync::Arc;

/// GET one object.
pub async fn get(cx: &Cx) -> Result<Response, ApiError> {
    let obj = cx
        .state
        .storage
        .get(&cx.res, cx.namespace(), &cx.info.name)
        .await?;
    Ok(respond(
        StatusCode::OK,
        &render_object(cx, obj),
        &cx.output,
        &[],
    ))
}

/// LIST a collection.
pub async fn list(cx: &Cx) -> Result<Response, ApiError> {
    let mut opts = ListOptions::parse(&cx.res, &cx.query)?;
    opts.metadata_only = matches!(cx.output, Output::PartialMetadata(_));
    if matches!(cx.output, Output::Json) {
        let body = cx
            .state
            .storage
            .list_json(&cx.res, cx.namespace(), &opts)
            .await?;
        return Ok(axum::response::Response::builder()
            .status(StatusCode::OK)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(body))
            .unwrap_or_default());
    }
    let page = cx
        .state
        .storage
        .list(&cx.res, cx.namespace(), &opts)
        .await?;

    let body = match &cx.output {
        Output::Table(v) => {
            let mut meta = json!({"resourceVersion": page.revision.to_string()});
            if let Some(c) = &page.continue_token {
                meta["continue"] = json!(c);
            }
            if let Some(r) = page.remaining {
                meta["remainingItemCount"] = json!(r);
            }
            let mut t = table(cx, &page.items, meta);
            t["apiVersion"] = json!(format!("meta.k8s.io/{v}"));
            t
        }
        Output::PartialMetadata(v) => {
            let metadata = page.list_meta();
            // The listed objects are this request's own copies: move their metadata out.
            let items: Vec<Value> = page
                .items
                .into_iter()
                .map(|o| into_partial(Arc::unwrap_or_clone(o), v))
                .collect();
            let mut l = serde_json::Map::new();
            l.insert("metadata".into(), metadata);
            l.insert("items".into(), Value::Array(items));
            l.insert("kind".into(), "PartialObjectMetadataList".into());
            l.insert("apiVersion".into(), format!("meta.k8s.io/{v}").into());
            Value::Object(l)
        }
        _ => list_object(&cx.res, &page),
    };
    Ok(respond(StatusCode::OK, &body, &cx.output, &[]))
}
