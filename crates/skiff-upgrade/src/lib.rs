//! Forwarding one HTTP/1.1 request to a backend connection, the way kube-apiserver's
//! upgrade-aware proxy does for `pods/log`, `pods/exec`, `pods/attach` and
//! `pods/portforward`:
//!
//! - a plain request gets the backend's response, its body streamed as it arrives (so
//!   `kubectl logs -f` follows);
//! - a request with `Connection: Upgrade` (SPDY/3.1 or WebSocket) is sent with all its
//!   negotiation headers; when the backend answers `101 Switching Protocols`, the client gets
//!   that 101 with the backend's headers and then both connections are spliced byte for byte,
//!   so neither hop needs to understand SPDY or WebSocket framing. Any other answer (say a
//!   400 refusing a protocol) reaches the client unchanged, which lets kubectl fall back from
//!   WebSocket to SPDY.
//!
//! ```no_run
//! # async fn demo(req: http::Request<axum::body::Body>) -> std::io::Result<()> {
//! let backend = tokio::net::TcpStream::connect("127.0.0.1:10010").await?;
//! let response = skiff_upgrade::forward(req, backend, "/exec/abc", "127.0.0.1:10010").await;
//! # let _ = response; Ok(()) }
//! ```

use axum::body::Body;
use http::{header, HeaderValue, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

/// Headers that belong to one hop and are not copied to the backend (upgrade negotiation
/// headers — `Connection`, `Upgrade`, `Sec-WebSocket-*`, `X-Stream-Protocol-Version` — are).
const HOP_HEADERS: [header::HeaderName; 4] = [
    header::HOST,
    header::AUTHORIZATION,
    header::PROXY_AUTHORIZATION,
    header::TE,
];

/// Whether `req` asks to switch protocols.
pub fn is_upgrade<B>(req: &Request<B>) -> bool {
    let has = |name: header::HeaderName, token: &str| {
        req.headers().get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    has(header::CONNECTION, "upgrade") && req.headers().contains_key(header::UPGRADE)
}

/// A plain-text error response (what the kubelet sends when it refuses a stream).
pub fn text_response(code: StatusCode, message: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(format!("{message}\n")));
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Sends `req` to the backend over `io` as `GET|POST <path_and_query>` with `Host: host` and
/// returns the response to give the client (see the crate docs). Connection failures become
/// `502 Bad Gateway` with the cause.
pub async fn forward<IO>(
    mut req: Request<Body>,
    io: IO,
    path_and_query: &str,
    host: &str,
) -> Response<Body>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let upgrade = is_upgrade(&req);
    let client_side = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(io)).await {
        Ok(x) => x,
        Err(e) => return bad_gateway(&e),
    };
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "backend connection ended");
        }
    });
    let (parts, body) = req.into_parts();
    let mut out = Request::builder().method(parts.method).uri(path_and_query);
    for (name, value) in &parts.headers {
        if !HOP_HEADERS.contains(name) {
            out = out.header(name, value);
        }
    }
    let out = match out.header(header::HOST, host).body(body) {
        Ok(r) => r,
        Err(e) => return bad_gateway(&e),
    };
    let mut resp = match sender.send_request(out).await {
        Ok(r) => r,
        Err(e) => return bad_gateway(&e),
    };
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        return resp.map(Body::new);
    }
    let Some(client_side) = client_side else {
        return text_response(
            StatusCode::BAD_GATEWAY,
            "the backend switched protocols on a request that did not ask to",
        );
    };
    let backend_side = hyper::upgrade::on(&mut resp);
    tokio::spawn(async move {
        match tokio::try_join!(client_side, backend_side) {
            Ok((c, b)) => {
                let (mut c, mut b) = (TokioIo::new(c), TokioIo::new(b));
                if let Err(e) = tokio::io::copy_bidirectional(&mut c, &mut b).await {
                    tracing::debug!(error = %e, "upgraded stream ended");
                }
            }
            Err(e) => tracing::debug!(error = %e, "upgrade failed"),
        }
    });
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *r.headers_mut() = resp.headers().clone();
    r
}

fn bad_gateway(e: &dyn std::fmt::Display) -> Response<Body> {
    text_response(
        StatusCode::BAD_GATEWAY,
        &format!("error trying to reach the node agent: {e}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgrades_are_recognised_by_their_headers() {
        let r = Request::builder()
            .header("Connection", "keep-alive, Upgrade")
            .header("Upgrade", "SPDY/3.1")
            .body(())
            .unwrap();
        assert!(is_upgrade(&r));
        let plain = Request::builder()
            .header("Connection", "keep-alive")
            .body(())
            .unwrap();
        assert!(!is_upgrade(&plain));
        let no_protocol = Request::builder()
            .header("Connection", "upgrade")
            .body(())
            .unwrap();
        assert!(!is_upgrade(&no_protocol));
    }

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A backend that answers `status_line` after reading a request head, then echoes.
    async fn backend(status_line: &'static str) -> std::net::SocketAddr {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut c, _) = l.accept().await.unwrap();
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                c.read_exact(&mut b).await.unwrap();
                head.push(b[0]);
            }
            let head = String::from_utf8(head).unwrap();
            assert!(
                head.contains("x-stream-protocol-version: v4.channel.k8s.io"),
                "{head}"
            );
            assert!(
                !head.to_ascii_lowercase().contains("authorization"),
                "{head}"
            );
            c.write_all(status_line.as_bytes()).await.unwrap();
            let mut buf = [0u8; 64];
            loop {
                let n = c.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                c.write_all(&buf[..n]).await.unwrap();
            }
        });
        addr
    }

    /// A front server forwarding everything to `to` with [`forward`].
    async fn front(to: std::net::SocketAddr) -> std::net::SocketAddr {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (c, _) = l.accept().await.unwrap();
            let svc =
                hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| async move {
                    let io = tokio::net::TcpStream::connect(to).await.unwrap();
                    Ok::<_, std::convert::Infallible>(
                        forward(req.map(Body::new), io, "/exec/token", "backend").await,
                    )
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(c), svc)
                .with_upgrades()
                .await;
        });
        addr
    }

    async fn exchange(front: std::net::SocketAddr, upgrade: bool) -> (String, String) {
        let mut c = tokio::net::TcpStream::connect(front).await.unwrap();
        let conn = if upgrade { "Upgrade" } else { "close" };
        let req = format!(
            "POST /api/v1/namespaces/d/pods/p/exec HTTP/1.1\r\nHost: front\r\nAuthorization: Bearer secret\r\nConnection: {conn}\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\nContent-Length: 0\r\n\r\n"
        );
        c.write_all(req.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            c.read_exact(&mut b).await.unwrap();
            head.push(b[0]);
        }
        let mut after = String::new();
        if head.starts_with(b"HTTP/1.1 101") {
            c.write_all(b"ping").await.unwrap();
            let mut buf = [0u8; 4];
            c.read_exact(&mut buf).await.unwrap();
            after = String::from_utf8_lossy(&buf).into_owned();
        }
        (String::from_utf8(head).unwrap(), after)
    }

    #[tokio::test]
    async fn an_upgrade_is_spliced_after_the_backends_101() {
        let b = backend("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n").await;
        let f = front(b).await;
        let (head, echoed) = exchange(f, true).await;
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("x-stream-protocol-version: v4.channel.k8s.io"),
            "{head}"
        );
        assert_eq!(echoed, "ping");
    }

    #[tokio::test]
    async fn a_refused_upgrade_reaches_the_client_unchanged() {
        let b = backend(
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\nConnection: close\r\n\r\nno\n",
        )
        .await;
        let f = front(b).await;
        let (head, _) = exchange(f, true).await;
        assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    }
}
