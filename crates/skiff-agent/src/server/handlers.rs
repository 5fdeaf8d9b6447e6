//! The kubelet API's handlers: logs from the CRI log files, and exec/attach/port-forward as
//! CRI streaming URLs the client's upgraded connection is spliced onto.

use super::logs::{self, Renderer};
use super::Shared;
use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::response::Response;
use http::StatusCode;
use k8s_cri::v1 as cri;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::ResourceExt;
use skiff_upgrade::text_response;
use std::collections::HashMap;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// How often a followed log file is read again.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

fn pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn flag(pairs: &[(String, String)], name: &str) -> bool {
    pairs.iter().any(|(k, v)| k == name && logs::truthy(v))
}

async fn pod(s: &Shared, ns: &str, name: &str) -> Result<Pod, Response> {
    Api::<Pod>::namespaced(s.client.clone(), ns)
        .get(name)
        .await
        .map_err(|e| match e {
            kube::Error::Api(st) if st.code == 404 => {
                text_response(StatusCode::NOT_FOUND, &format!("pod {ns}/{name} not found"))
            }
            e => text_response(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        })
}

/// The CRI id of the running container `name` of `pod`.
pub(crate) fn running_container_id(pod: &Pod, name: &str) -> Option<String> {
    let status = pod.status.as_ref()?;
    status
        .container_statuses
        .iter()
        .chain(status.init_container_statuses.iter())
        .chain(status.ephemeral_container_statuses.iter())
        .flatten()
        .find(|c| c.name == name && c.state.as_ref().is_some_and(|s| s.running.is_some()))
        .and_then(|c| c.container_id.as_deref())
        .map(logs::runtime_id)
}

/// Complete lines of `buf` fed to the renderer; returns how many bytes were consumed.
fn feed_complete(r: &mut Renderer, buf: &[u8], out: &mut Vec<u8>) -> usize {
    let Some(last_nl) = buf.iter().rposition(|b| *b == b'\n') else {
        return 0;
    };
    for line in buf[..last_nl].split(|b| *b == b'\n') {
        if r.full() {
            break;
        }
        r.feed(&String::from_utf8_lossy(line), out);
    }
    last_nl + 1
}

/// `GET /containerLogs/{ns}/{pod}/{container}`.
pub(crate) async fn container_logs(
    State(s): State<Shared>,
    Path((ns, name, container)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let opts = match logs::Options::from_query(&pairs(query.as_deref()), Timestamp::now()) {
        Ok(o) => o,
        Err(m) => return text_response(StatusCode::BAD_REQUEST, &m),
    };
    let pod = match pod(&s, &ns, &name).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let id = match logs::container_id(&pod, &container, opts.previous) {
        Ok(id) => id,
        Err(m) => return text_response(StatusCode::BAD_REQUEST, &m),
    };
    let mut runtime = s.cri.runtime.clone();
    let status = match runtime
        .container_status(cri::ContainerStatusRequest {
            container_id: id.clone(),
            verbose: false,
        })
        .await
    {
        Ok(r) => r.into_inner().status.unwrap_or_default(),
        Err(e) => {
            return text_response(
                StatusCode::BAD_REQUEST,
                &format!("container {container:?} in pod {name:?}: {}", e.message()),
            )
        }
    };
    let content = tokio::fs::read(&status.log_path).await.unwrap_or_default();
    let start = opts.tail_lines.map_or(0, |n| logs::tail_start(&content, n));
    let mut r = Renderer::new(opts.clone());
    let mut out = Vec::new();
    let mut offset = (start + feed_complete(&mut r, &content[start..], &mut out)) as u64;
    let running = status.state == cri::ContainerState::ContainerRunning as i32;
    if !opts.follow || !running || r.full() {
        return Response::new(Body::from(out));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    let path = status.log_path;
    tokio::spawn(async move {
        if !out.is_empty() && tx.send(out).await.is_err() {
            return;
        }
        let mut polls = 0u32;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(FOLLOW_POLL) => {}
                _ = tx.closed() => return,
            }
            polls += 1;
            let mut buf = Vec::new();
            if let Ok(mut f) = tokio::fs::File::open(&path).await {
                if f.seek(std::io::SeekFrom::Start(offset)).await.is_ok() {
                    let _ = f.read_to_end(&mut buf).await;
                }
            }
            let mut chunk = Vec::new();
            offset += feed_complete(&mut r, &buf, &mut chunk) as u64;
            if !chunk.is_empty() && tx.send(chunk).await.is_err() {
                return;
            }
            if r.full() {
                return;
            }
            // The container stopping ends the stream once its last lines are out.
            if buf.is_empty() && polls.is_multiple_of(5) {
                let state = runtime
                    .container_status(cri::ContainerStatusRequest {
                        container_id: id.clone(),
                        verbose: false,
                    })
                    .await
                    .ok()
                    .and_then(|r| r.into_inner().status)
                    .map(|s| s.state);
                if state != Some(cri::ContainerState::ContainerRunning as i32) {
                    return;
                }
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    Response::new(Body::from_stream(stream))
}

/// Splices `req` onto a CRI streaming URL (`http://127.0.0.1:PORT/exec/TOKEN`).
async fn forward_to(req: Request, url: &str) -> Response {
    let uri: http::Uri = match url.parse() {
        Ok(u) => u,
        Err(e) => {
            return text_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("the runtime gave an unusable streaming URL {url:?}: {e}"),
            )
        }
    };
    let authority = uri.authority().map(|a| a.to_string()).unwrap_or_default();
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    match tokio::net::TcpStream::connect(&authority).await {
        Ok(tcp) => skiff_upgrade::forward(req, tcp, &path, &authority).await,
        Err(e) => text_response(
            StatusCode::BAD_GATEWAY,
            &format!("cannot reach the runtime's streaming server at {authority}: {e}"),
        ),
    }
}

/// The CRI id of the running `container` of pod `ns/name`, or the response refusing.
async fn running(s: &Shared, ns: &str, name: &str, container: &str) -> Result<String, Response> {
    let pod = pod(s, ns, name).await?;
    running_container_id(&pod, container).ok_or_else(|| {
        text_response(
            StatusCode::NOT_FOUND,
            &format!("container not found ({container:?})"),
        )
    })
}

fn runtime_error(e: &tonic::Status) -> Response {
    text_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        &format!("container runtime: {}", e.message()),
    )
}

/// `/exec/{ns}/{pod}/{container}?command=…&stdin=…&stdout=…&stderr=…&tty=…`.
pub(crate) async fn exec(
    State(s): State<Shared>,
    Path((ns, name, container)): Path<(String, String, String)>,
    req: Request,
) -> Response {
    let q = pairs(req.uri().query());
    let cmd: Vec<String> = q
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone())
        .collect();
    if cmd.is_empty() {
        return text_response(
            StatusCode::BAD_REQUEST,
            "you must specify at least 1 command",
        );
    }
    let id = match running(&s, &ns, &name, &container).await {
        Ok(id) => id,
        Err(r) => return r,
    };
    let request = cri::ExecRequest {
        container_id: id,
        cmd,
        tty: flag(&q, "tty"),
        stdin: flag(&q, "stdin"),
        stdout: flag(&q, "stdout"),
        stderr: flag(&q, "stderr"),
    };
    match s.cri.runtime.clone().exec(request).await {
        Ok(r) => forward_to(req, &r.into_inner().url).await,
        Err(e) => runtime_error(&e),
    }
}

/// `/attach/{ns}/{pod}/{container}?stdin=…&stdout=…&stderr=…&tty=…`.
pub(crate) async fn attach(
    State(s): State<Shared>,
    Path((ns, name, container)): Path<(String, String, String)>,
    req: Request,
) -> Response {
    let q = pairs(req.uri().query());
    let id = match running(&s, &ns, &name, &container).await {
        Ok(id) => id,
        Err(r) => return r,
    };
    let request = cri::AttachRequest {
        container_id: id,
        stdin: flag(&q, "stdin"),
        tty: flag(&q, "tty"),
        stdout: flag(&q, "stdout"),
        stderr: flag(&q, "stderr"),
    };
    match s.cri.runtime.clone().attach(request).await {
        Ok(r) => forward_to(req, &r.into_inner().url).await,
        Err(e) => runtime_error(&e),
    }
}

/// `/portForward/{ns}/{pod}`.
pub(crate) async fn port_forward(
    State(s): State<Shared>,
    Path((ns, name)): Path<(String, String)>,
    req: Request,
) -> Response {
    let pod = match pod(&s, &ns, &name).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let filter = cri::PodSandboxFilter {
        state: Some(cri::PodSandboxStateValue {
            state: cri::PodSandboxState::SandboxReady as i32,
        }),
        label_selector: HashMap::from([(
            crate::pods::LABEL_UID.to_string(),
            pod.uid().unwrap_or_default(),
        )]),
        ..Default::default()
    };
    let mut runtime = s.cri.runtime.clone();
    let sandbox = match runtime
        .list_pod_sandbox(cri::ListPodSandboxRequest {
            filter: Some(filter),
        })
        .await
    {
        Ok(r) => r.into_inner().items.into_iter().next(),
        Err(e) => return runtime_error(&e),
    };
    let Some(sandbox) = sandbox else {
        return text_response(
            StatusCode::NOT_FOUND,
            &format!("pod {ns}/{name} has no running sandbox on this node"),
        );
    };
    // WebSocket clients name the ports in the query (`?ports=8080`); SPDY clients name them
    // per stream. Both reach the runtime: in the CRI request and on the streaming URL.
    let query = req.uri().query().map(str::to_string);
    let ports: Vec<i32> = pairs(query.as_deref())
        .iter()
        .filter(|(k, _)| k == "ports" || k == "port")
        .flat_map(|(_, v)| {
            v.split(',')
                .filter_map(|p| p.trim().parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect();
    let request = cri::PortForwardRequest {
        pod_sandbox_id: sandbox.id,
        port: ports,
    };
    match runtime.port_forward(request).await {
        Ok(r) => {
            let mut url = r.into_inner().url;
            if let Some(q) = query.filter(|q| !q.is_empty()) {
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str(&q);
            }
            forward_to(req, &url).await
        }
        Err(e) => runtime_error(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_a_running_container_is_exec_target() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "status": {"containerStatuses": [
                {"name": "a", "image": "x", "imageID": "", "ready": true, "restartCount": 0,
                 "containerID": "containerd://abc", "state": {"running": {}}},
                {"name": "b", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
                 "containerID": "containerd://def", "state": {"terminated": {"exitCode": 0}}}
            ]}
        }))
        .unwrap();
        assert_eq!(running_container_id(&pod, "a").as_deref(), Some("abc"));
        assert_eq!(running_container_id(&pod, "b"), None);
        assert_eq!(running_container_id(&pod, "c"), None);
    }

    #[test]
    fn only_complete_lines_are_consumed() {
        let mut r = Renderer::new(logs::Options::default());
        let mut out = Vec::new();
        let buf = b"2026-12-04T10:00:00Z stdout F a\n2026-12-04T10:00:00Z stdout F b";
        let n = feed_complete(&mut r, buf, &mut out);
        assert_eq!(out, b"a\n");
        assert_eq!(&buf[n..], b"2026-12-04T10:00:00Z stdout F b");
        assert_eq!(feed_complete(&mut r, b"no newline", &mut out), 0);
    }
}
