//! Handlers of the resource verbs. Each takes a [`Cx`] (the parsed request) and returns a
//! response or an [`ApiError`].

pub mod eviction;
pub mod read;
pub mod reviews;
pub mod subresource;
pub mod watch;
pub mod write;

use crate::negotiate::Output;
use crate::pipeline::User;
use crate::request::{Query, RequestInfo};
use crate::rest::WriteCtx;
use crate::state::AppState;
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{json, Value};
use skiff_api::{ApiError, ResourceInfo};
use std::sync::Arc;

/// One resource request, parsed.
pub struct Cx {
    /// Server state.
    pub state: Arc<AppState>,
    /// The resource addressed.
    pub res: Arc<ResourceInfo>,
    /// Path information.
    pub info: RequestInfo,
    /// Query parameters.
    pub query: Query,
    /// Request headers.
    pub headers: HeaderMap,
    /// Authenticated user.
    pub user: User,
    /// Negotiated response format.
    pub output: Output,
    /// Request body.
    pub body: Bytes,
}

impl Cx {
    /// The write context (field manager, dry run, time).
    pub fn write_ctx(&self, default_manager: Option<&str>) -> Result<WriteCtx, ApiError> {
        let manager = match self.query.get("fieldManager") {
            Some(m) if !m.is_empty() => m.to_string(),
            _ => default_manager
                .map(str::to_string)
                .unwrap_or_else(|| manager_from_user_agent(self.headers.get("user-agent"))),
        };
        if manager.len() > 128 {
            return Err(ApiError::BadRequest(
                "fieldManager: Too long: may not be more than 128 bytes".into(),
            ));
        }
        if let Some(d) = self.query.get("dryRun") {
            if d != "All" {
                return Err(ApiError::BadRequest(format!(
                    "dryRun: Unsupported value: {d:?}: supported values: \"All\""
                )));
            }
        }
        Ok(WriteCtx {
            user: self.user.clone(),
            dry_run: self.query.dry_run(),
            field_manager: manager,
            now: self.state.now(),
            apply: false,
        })
    }

    /// The namespace of the request (the object's own name for namespaces).
    pub fn namespace(&self) -> &str {
        if self.res.namespaced() {
            &self.info.namespace
        } else {
            ""
        }
    }
}

/// Upstream's default field manager: the user agent up to the first `/`.
fn manager_from_user_agent(ua: Option<&HeaderValue>) -> String {
    let ua = ua.and_then(|v| v.to_str().ok()).unwrap_or("unknown");
    let prefix = ua.split('/').next().unwrap_or(ua);
    prefix.chars().take(128).collect()
}

/// A JSON (or YAML) response.
pub fn respond(status: StatusCode, body: &Value, output: &Output, warnings: &[String]) -> Response {
    let (bytes, ct) = crate::negotiate::encode(body, output);
    let mut r = Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, ct);
    for w in warnings {
        let text = format!("299 - {}", serde_json::to_string(w).unwrap_or_default());
        if let Ok(v) = HeaderValue::from_str(&text) {
            r = r.header("Warning", v);
        }
    }
    r.body(Body::from(bytes))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// The error response: a `Status` with the error's code.
pub fn error_response(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    respond(status, &e.to_status(), &Output::Json, &[])
}

/// Custom resources are stored at the version they were written with; versions of a CRD
/// convert with strategy `None`, which only sets `apiVersion` to the version asked for.
pub fn to_version<T: std::borrow::Borrow<Value> + From<Value>>(res: &ResourceInfo, obj: T) -> T {
    crate::rest::in_version(res, obj)
}

/// Renders one object in the negotiated format (Table, PartialObjectMetadata or itself).
pub fn render_object(cx: &Cx, obj: Value) -> Value {
    let obj = to_version(&cx.res, obj);
    match &cx.output {
        Output::Table(v) => {
            let mut t = table(
                cx,
                std::slice::from_ref(&obj),
                json!({"resourceVersion": obj.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!(""))}),
            );
            t["apiVersion"] = json!(format!("meta.k8s.io/{v}"));
            t
        }
        Output::PartialMetadata(v) => into_partial(obj, v),
        _ => obj,
    }
}

/// Builds a Table for `objects`.
pub fn table<T: std::borrow::Borrow<Value>>(cx: &Cx, objects: &[T], list_meta: Value) -> Value {
    let include = match cx.query.str("includeObject") {
        "None" => skiff_printers::IncludeObject::None,
        "Object" => skiff_printers::IncludeObject::Object,
        _ => skiff_printers::IncludeObject::Metadata,
    };
    skiff_printers::table(
        &cx.res,
        objects,
        include,
        list_meta,
        cx.res.printer_columns.as_deref(),
        cx.state.now(),
    )
}

/// PartialObjectMetadata of an object.
pub fn partial(obj: &Value, version: &str) -> Value {
    partial_of(obj.get("metadata").cloned(), version)
}

/// [`partial`] of an object the caller is done with: its metadata is moved, not copied (a
/// metadata-only list of every pod, as the garbage collector makes, copied each pod's
/// metadata, managedFields included, twice).
pub fn into_partial(mut obj: Value, version: &str) -> Value {
    partial_of(obj.get_mut("metadata").map(Value::take), version)
}

fn partial_of(metadata: Option<Value>, version: &str) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("kind".into(), "PartialObjectMetadata".into());
    out.insert("apiVersion".into(), format!("meta.k8s.io/{version}").into());
    out.insert(
        "metadata".into(),
        metadata.unwrap_or_else(|| Value::Object(serde_json::Map::new())),
    );
    Value::Object(out)
}

/// Decodes an object request body (JSON, YAML or protobuf) with field validation per
/// `fieldValidation`. Returns the object and the warnings to send.
pub fn decode_body(cx: &Cx) -> Result<(Value, Vec<String>), ApiError> {
    use crate::negotiate::BodyType;
    let ty = crate::negotiate::request_body_type(&cx.headers)?;
    if !matches!(ty, BodyType::Json | BodyType::Yaml | BodyType::Protobuf) {
        return Err(ApiError::UnsupportedMediaType(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got a {ty:?} body)"
        )));
    }
    let decoded = crate::negotiate::decode_as(&cx.body, ty)?;

    let mut problems: Vec<String> = decoded
        .duplicates
        .iter()
        .map(|d| format!("duplicate field {d:?}"))
        .collect();
    problems.extend(
        crate::schema::unknown_fields(&cx.res, &decoded.value)
            .into_iter()
            .map(|f| format!("unknown field {f:?}")),
    );
    field_validation(cx, problems).map(|w| (decoded.value, w))
}

/// Applies `fieldValidation` to the problems found while decoding.
pub fn field_validation(cx: &Cx, problems: Vec<String>) -> Result<Vec<String>, ApiError> {
    match cx.query.get("fieldValidation").unwrap_or("Warn") {
        "Strict" if !problems.is_empty() => Err(ApiError::BadRequest(format!(
            "strict decoding error: {}",
            problems.join(", ")
        ))),
        "Strict" | "Warn" => Ok(problems),
        "Ignore" => Ok(Vec::new()),
        other => Err(ApiError::BadRequest(format!(
            "fieldValidation: Unsupported value: {other:?}: supported values: \"Ignore\", \"Warn\", \"Strict\""
        ))),
    }
}
