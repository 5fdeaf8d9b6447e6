//! The request path: parse → authenticate → authorize → route to a handler, with the audit log
//! line every request gets.

use crate::handlers::{self, error_response, respond, Cx};
use crate::negotiate::{choose, Output};
use crate::pipeline::{Attributes, User};
use crate::request::{parse, Query, Target};
use crate::state::AppState;
use axum::body::Body;
use axum::response::Response;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;
use skiff_api::ApiError;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// Largest request body accepted (upstream: 3 MiB).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Serves one request.
pub async fn dispatch(state: Arc<AppState>, user: User, req: Request<Body>) -> Response {
    let started = Instant::now();
    let user = if user.is_anonymous() {
        let header = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match crate::serviceaccount::authenticate_bearer(&state, header).await {
            Ok(Some(u)) => u,
            Ok(None) => user,
            Err(e) => return error_response(&e),
        }
    } else {
        user
    };
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = Query::parse(req.uri().query());
    let target = parse(&method, &path, &query);
    let (verb, resource) = match &target {
        Target::Resource(i) => (i.verb.clone(), i.resource.clone()),
        _ => (method.as_str().to_ascii_lowercase(), String::new()),
    };
    let response = match route(state, user.clone(), req, target, query).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    tracing::debug!(
        user = %user.name,
        verb = %verb,
        resource = %resource,
        path = %path,
        code = response.status().as_u16(),
        latency_us = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

/// Reads the body up to [`MAX_BODY_BYTES`]. A larger body is drained (up to a bound) so the
/// client receives the 413 instead of a reset stream.
async fn read_body(mut body: Body) -> Result<bytes::Bytes, ApiError> {
    const DRAIN_LIMIT: usize = 64 * 1024 * 1024;
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::BadRequest(format!("reading the request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            seen += data.len();
            if seen <= MAX_BODY_BYTES {
                buf.extend_from_slice(&data);
            } else if seen > DRAIN_LIMIT {
                break;
            }
        }
    }
    if seen > MAX_BODY_BYTES {
        return Err(ApiError::TooLarge(format!("limit is {MAX_BODY_BYTES}")));
    }
    Ok(buf.freeze())
}

fn accept(req: &Request<Body>) -> Option<String> {
    req.headers()
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

async fn route(
    state: Arc<AppState>,
    user: User,
    req: Request<Body>,
    target: Target,
    query: Query,
) -> Result<Response, ApiError> {
    let path = req.uri().path().to_string();
    let resource_path = matches!(target, Target::Resource(_));
    let attrs_path = path.clone();
    if path == crate::kubelet::SERVING_CERT_PATH && req.method() == http::Method::POST {
        let body = read_body(req.into_body()).await?;
        return crate::kubelet::issue_serving_cert(&state, &user, &body);
    }
    if path == crate::snapshot::PATH && req.method() == http::Method::GET {
        return crate::snapshot::serve(&state, &user);
    }
    if !resource_path {
        state.authorizer.authorize(&Attributes {
            user: &user,
            verb: "get",
            group: "",
            resource: "",
            subresource: "",
            namespace: "",
            name: "",
            path: &attrs_path,
        })?;
        if !matches!(*req.method(), http::Method::GET | http::Method::HEAD) {
            return Err(ApiError::MethodNotAllowed);
        }
    }
    let reg = state.storage.registry.clone();
    match target {
        Target::CoreVersions => match choose(accept(&req).as_deref(), true)? {
            Output::AggregatedDiscovery(v) => Ok(discovery_response(
                crate::discovery::aggregated(&reg, true, &v),
                &v,
            )),
            o => Ok(respond(
                StatusCode::OK,
                &crate::discovery::core_versions(&state.server_address),
                &o,
                &[],
            )),
        },
        Target::Groups => match choose(accept(&req).as_deref(), true)? {
            Output::AggregatedDiscovery(v) => Ok(discovery_response(
                crate::discovery::aggregated(&reg, false, &v),
                &v,
            )),
            o => Ok(respond(
                StatusCode::OK,
                &crate::discovery::groups(&reg),
                &o,
                &[],
            )),
        },
        Target::Group(g) => {
            let o = choose(accept(&req).as_deref(), false)?;
            let doc = crate::discovery::group(&reg, &g).ok_or(ApiError::NoResource)?;
            Ok(respond(StatusCode::OK, &doc, &o, &[]))
        }
        Target::ResourceList(g, v) => {
            let o = choose(accept(&req).as_deref(), false)?;
            let doc = crate::discovery::resource_list(&reg, &g, &v).ok_or(ApiError::NoResource)?;
            Ok(respond(StatusCode::OK, &doc, &o, &[]))
        }
        Target::NonResource => non_resource(&state, &path, &query, &req),
        Target::Resource(info) => {
            let res = reg
                .by_plural(&info.group, &info.version, &info.resource)
                .ok_or(ApiError::NoResource)?;
            state.authorizer.authorize(&Attributes {
                user: &user,
                verb: &info.verb,
                group: &info.group,
                resource: &info.resource,
                subresource: &info.subresource,
                namespace: &info.namespace,
                name: &info.name,
                path: &path,
            })?;
            if info.verb.is_empty() {
                return Err(ApiError::MethodNotAllowed);
            }
            let pod_stream = (res.group.is_empty() && res.plural == "pods")
                .then(|| crate::kubelet::locate::Stream::of(&info.subresource))
                .flatten();
            if let Some(stream) = pod_stream {
                if !matches!(info.verb.as_str(), "get" | "create") {
                    return Err(ApiError::MethodNotAllowed);
                }
                return crate::kubelet::serve(&state, stream, &info.namespace, &info.name, req)
                    .await;
            }
            let sub_ok = match info.subresource.as_str() {
                "" => true,
                "status" => res.status_subresource,
                "scale" => res.scale.is_some(),
                "binding" | "eviction" => res.group.is_empty() && res.plural == "pods",
                "finalize" => res.group.is_empty() && res.plural == "namespaces",
                "token" => res.group.is_empty() && res.plural == "serviceaccounts",
                _ => false,
            };
            if !sub_ok {
                return Err(ApiError::NoResource);
            }
            if info.subresource.is_empty()
                && !res.verbs.contains(&info.verb)
                && info.verb != "watch"
            {
                return Err(ApiError::MethodNotAllowed);
            }
            let review = res.group == "authentication.k8s.io" && info.subresource.is_empty();
            if res.virtual_only && !review {
                return Err(ApiError::MethodNotAllowed);
            }
            if res.namespaced() && info.namespace.is_empty() && !info.name.is_empty() {
                return Err(ApiError::NoResource);
            }
            let output = choose(accept(&req).as_deref(), false)?;
            let headers = req.headers().clone();
            let body = read_body(req.into_body()).await?;
            let cx = Cx {
                state: state.clone(),
                res,
                info,
                query,
                headers,
                user,
                output,
                body,
            };
            match (cx.info.subresource.as_str(), cx.info.verb.as_str()) {
                ("scale", _) => handlers::subresource::scale(&cx).await,
                ("binding", "create") => handlers::subresource::binding(&cx).await,
                ("eviction", "create") => handlers::eviction::evict(&cx).await,
                ("token", "create") => crate::serviceaccount::token_request::create(&cx).await,
                ("", "create") if review => handlers::reviews::create(&cx).await,
                (_, "get") => handlers::read::get(&cx).await,
                ("", "list") => handlers::read::list(&cx).await,
                ("", "watch") => handlers::watch::watch(cx).await,
                ("", "create") => handlers::write::create(&cx).await,
                (_, "update") => handlers::write::update(&cx).await,
                (_, "patch") => handlers::write::patch(&cx).await,
                ("", "delete") => handlers::write::delete(&cx).await,
                ("", "deletecollection") => handlers::write::delete_collection(&cx).await,
                _ => Err(ApiError::MethodNotAllowed),
            }
        }
    }
}

fn discovery_response(doc: serde_json::Value, version: &str) -> Response {
    let ct = format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList");
    Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, ct)
        .body(Body::from(serde_json::to_vec(&doc).unwrap_or_default()))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

fn text(code: StatusCode, body: String) -> Response {
    Response::builder()
        .status(code)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from(body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

fn bytes_json(bytes: Arc<Vec<u8>>) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(bytes.as_ref().clone()))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

fn non_resource(
    state: &Arc<AppState>,
    path: &str,
    query: &Query,
    req: &Request<Body>,
) -> Result<Response, ApiError> {
    let trimmed = path.trim_end_matches('/');
    match trimmed {
        "/healthz" | "/livez" | "/readyz" => {
            let ready = state.ready.load(Ordering::SeqCst);
            let ok = trimmed != "/readyz" || ready;
            let checks = [
                "ping",
                "etcd",
                "informer-sync",
                "poststarthook/start-apiserver",
            ];
            let body = if query.get("verbose").is_some() {
                let mut s = String::new();
                for c in checks {
                    s.push_str(&format!(
                        "[{}]{c} {}\n",
                        if ok { "+" } else { "-" },
                        if ok { "ok" } else { "failed" }
                    ));
                }
                s.push_str(&format!(
                    "{} check {}\n",
                    &trimmed[1..],
                    if ok { "passed" } else { "failed" }
                ));
                s
            } else if ok {
                "ok".into()
            } else {
                "[-]poststarthook/start-apiserver failed: not finished\nreadyz check failed".into()
            };
            Ok(text(
                if ok {
                    StatusCode::OK
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                },
                body,
            ))
        }
        "/cacerts" => Ok(text(StatusCode::OK, state.ca_cert.clone())),
        "/version" => {
            let (ma, mi, pa) = skiff_api::builtin::KUBERNETES_VERSION;
            Ok(respond(
                StatusCode::OK,
                &json!({
                    "major": ma.to_string(), "minor": mi.to_string(),
                    "gitVersion": format!("v{ma}.{mi}.{pa}+skiff-{}", env!("CARGO_PKG_VERSION")),
                    "gitCommit": "", "gitTreeState": "clean", "buildDate": "",
                    "goVersion": "", "compiler": "rustc", "platform": format!("{}/{}", std::env::consts::OS, arch()),
                }),
                &Output::Json,
                &[],
            ))
        }
        "/openapi/v2" => {
            let accept = accept(req).unwrap_or_default();
            if accept.contains("protobuf") && !accept.contains("json") && !accept.contains("*/*") {
                return Err(ApiError::NotAcceptable(
                    "only application/json is served for /openapi/v2".into(),
                ));
            }
            Ok(bytes_json(state.openapi().v2()))
        }
        "/openapi/v3" => Ok(respond(
            StatusCode::OK,
            &state.openapi().v3_root(),
            &Output::Json,
            &[],
        )),
        p if p.starts_with("/openapi/v3/") => {
            let gv = &p["/openapi/v3/".len()..];
            state
                .openapi()
                .v3_group_version(gv)
                .map(bytes_json)
                .ok_or(ApiError::NoResource)
        }
        _ => Err(ApiError::NoResource),
    }
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}
