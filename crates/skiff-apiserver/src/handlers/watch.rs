//! WATCH: a chunked stream of JSON watch events, from the watch cache.
//!
//! Semantics as upstream: no resourceVersion (or "0") starts with the current state as ADDED
//! events; `sendInitialEvents=true` ends that state with a BOOKMARK annotated
//! `k8s.io/initial-events-end`; a resourceVersion resumes after it; an object that stops
//! matching the selectors arrives as DELETED; a compacted resourceVersion yields a 410 ERROR
//! event; bookmarks are sent when asked for; `timeoutSeconds` ends the stream.

use super::Cx;
use crate::negotiate::Output;
use crate::rest::list::ListOptions;
use crate::watchcache::{Change, Item};
use axum::body::Body;
use axum::response::Response;
use futures::StreamExt;
use serde_json::{json, Value};
use skiff_api::{ApiError, ResourceInfo};
use std::sync::Arc;
use std::time::Duration;

/// Upstream's default watch timeout range starts at the 30 minute min-request-timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

fn event(ty: &str, object: Value) -> bytes::Bytes {
    let mut line = serde_json::to_vec(&json!({"type": ty, "object": object})).unwrap_or_default();
    line.push(b'\n');
    bytes::Bytes::from(line)
}

/// A watch event line around an already-encoded object.
fn event_raw(ty: &str, object: &[u8]) -> bytes::Bytes {
    let mut line = Vec::with_capacity(object.len() + 32);
    line.extend_from_slice(b"{\"type\":\"");
    line.extend_from_slice(ty.as_bytes());
    line.extend_from_slice(b"\",\"object\":");
    line.extend_from_slice(object);
    line.extend_from_slice(b"}\n");
    bytes::Bytes::from(line)
}

fn bookmark(res: &ResourceInfo, rev: i64, initial_end: bool) -> Value {
    let mut meta = json!({"resourceVersion": rev.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": res.kind, "apiVersion": res.api_version(), "metadata": meta})
}

/// Renders an event object in the negotiated format.
struct Renderer {
    cx: Arc<Cx>,
    first_table: std::sync::atomic::AtomicBool,
}

impl Renderer {
    fn render(&self, obj: Value) -> Value {
        let obj = super::to_version(&self.cx.res, obj);
        match &self.cx.output {
            Output::Table(v) => {
                let rv = obj
                    .pointer("/metadata/resourceVersion")
                    .cloned()
                    .unwrap_or(json!(""));
                let mut t = super::table(
                    &self.cx,
                    std::slice::from_ref(&obj),
                    json!({"resourceVersion": rv}),
                );
                t["apiVersion"] = json!(format!("meta.k8s.io/{v}"));
                if !self
                    .first_table
                    .swap(false, std::sync::atomic::Ordering::SeqCst)
                {
                    if let Some(o) = t.as_object_mut() {
                        o.remove("columnDefinitions");
                    }
                }
                t
            }
            Output::PartialMetadata(v) => super::partial(&obj, v),
            _ => obj,
        }
    }
}

/// Starts a watch.
pub async fn watch(cx: Cx) -> Result<Response, ApiError> {
    let opts = ListOptions::parse(&cx.res, &cx.query)?;
    let send_initial = cx.query.get("sendInitialEvents").map(|v| v == "true");
    let bookmarks = cx.query.flag("allowWatchBookmarks");
    if send_initial.is_some() && (cx.query.str("resourceVersionMatch") != "NotOlderThan") {
        return Err(ApiError::Invalid(
            skiff_api::error::Target::new("meta.k8s.io", "listoptions", "ListOptions", ""),
            vec![skiff_api::FieldError::forbidden(
                "sendInitialEvents",
                "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled and resourceVersionMatch is set to NotOlderThan",
            )],
        ));
    }
    let timeout = cx
        .query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let rv = cx.query.str("resourceVersion").to_string();
    let initial = send_initial.unwrap_or(rv.is_empty() || rv == "0");
    let st = cx.state.storage.clone();
    let prefix = crate::rest::keys::collection(&cx.res, cx.namespace());
    let interval = cx.state.bookmark_interval;
    let cx = Arc::new(cx);
    let renderer = Arc::new(Renderer {
        cx: cx.clone(),
        first_table: true.into(),
    });

    // The initial state, then the changes after it.
    let (initial_events, from) = if initial {
        let min = rv.parse::<i64>().ok().filter(|r| *r > 0);
        let (objs, rev) = st.cache.list(&prefix, min, rv.is_empty()).await?;
        let evs: Vec<bytes::Bytes> = objs
            .iter()
            .filter_map(|s| s.decode())
            .filter(|o| opts.matches(&cx.res, o))
            .map(|o| event("ADDED", renderer.render(o)))
            .collect();
        (evs, rev)
    } else {
        let r = rv
            .parse::<i64>()
            .map_err(|_| ApiError::BadRequest(format!("invalid resource version {rv:?}")))?;
        (Vec::new(), r)
    };
    let mut head = initial_events;
    if send_initial == Some(true) {
        head.push(event("BOOKMARK", bookmark(&cx.res, from, true)));
    }

    let changes = match st.cache.watch(&prefix, from).await {
        Ok(s) => s,
        Err(e @ ApiError::Expired(_)) => {
            let body = Body::from(event("ERROR", e.to_status()));
            return Ok(stream_response(body));
        }
        Err(e) => return Err(e),
    };
    let res = cx.res.clone();
    let selecting = !opts.label.is_empty() || !opts.field.0.is_empty();
    let opts = Arc::new(opts);
    // A bookmark may only name a revision whose events this stream has already passed on.
    let last = Arc::new(std::sync::atomic::AtomicI64::new(from));
    let last2 = last.clone();
    let r2 = renderer.clone();
    let res2 = res.clone();
    // The version events are encoded in, named once rather than per event.
    let api_version: Arc<str> = res.api_version().into();
    let events = changes.filter_map(move |item| {
        let (opts, res, r, last) = (opts.clone(), res.clone(), r2.clone(), last2.clone());
        let api_version = api_version.clone();
        async move {
            match item {
                Ok(Item::Event(e)) => {
                    last.fetch_max(e.revision, std::sync::atomic::Ordering::SeqCst);
                    // Watchers that do not select need the object only to convert it.
                    let now = !selecting || opts.matches(&res, e.selectable()?);
                    // The previous state decides only for watchers that select.
                    let before = match selecting {
                        true => e.prev_selectable().is_some_and(|p| opts.matches(&res, p)),
                        false => e.has_prev(),
                    };
                    let ty = match (e.change, before, now) {
                        (Change::Added, _, true) => "ADDED",
                        (Change::Modified, true, true) => "MODIFIED",
                        (Change::Modified, false, true) => "ADDED",
                        (Change::Modified, true, false) => "DELETED",
                        (Change::Deleted, _, _) if now || before => "DELETED",
                        _ => return None,
                    };
                    if matches!(r.cx.output, Output::Json) {
                        // Plain JSON: encode once per event and version, for every watcher.
                        let bytes = e.encoded(&api_version, |o| {
                            serde_json::to_vec(&super::to_version(&res, o.clone()))
                                .unwrap_or_default()
                        })?;
                        return Some(Ok::<_, std::io::Error>(event_raw(ty, &bytes)));
                    }
                    Some(Ok::<_, std::io::Error>(event(
                        ty,
                        r.render((**e.object()?).clone()),
                    )))
                }
                Ok(Item::Progress(p)) => {
                    last.fetch_max(p, std::sync::atomic::Ordering::SeqCst);
                    None
                }
                Err(e) => Some(Ok(event("ERROR", e.to_status()))),
            }
        }
    });
    let ticks = futures::stream::unfold((), move |_| async move {
        tokio::time::sleep(interval).await;
        Some(((), ()))
    });
    let bookmarks_stream = ticks.filter_map(move |_| {
        let rev = last.load(std::sync::atomic::Ordering::SeqCst);
        let res = res2.clone();
        async move {
            bookmarks
                .then(|| Ok::<_, std::io::Error>(event("BOOKMARK", bookmark(&res, rev, false))))
        }
    });
    let body_stream = futures::stream::iter(head.into_iter().map(Ok))
        .chain(futures::stream::select(events, bookmarks_stream))
        .take_until(tokio::time::sleep(timeout));
    Ok(stream_response(Body::from_stream(body_stream)))
}

fn stream_response(body: Body) -> Response {
    Response::builder()
        .status(http::StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::CACHE_CONTROL, "no-cache, private")
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::empty()))
}
