//! The agent's HTTPS endpoint, the kubelet API the API server forwards `kubectl logs`, `exec`,
//! `attach` and `port-forward` to:
//!
//! - `GET /containerLogs/{ns}/{pod}/{container}` — the container's CRI log file rendered by
//!   the pure [`logs`] (follow, previous, tail, since, timestamps, limit-bytes);
//! - `/exec/{ns}/{pod}/{container}`, `/attach/{ns}/{pod}/{container}`,
//!   `/portForward/{ns}/{pod}` — asks CRI for a streaming URL and splices the client's
//!   upgraded connection (SPDY or WebSocket) onto containerd's streaming server.
//!
//! Its serving certificate comes from the API server (`POST /v1-skiff/serving-cert`, signed by
//! the cluster CA), and only clients with a certificate from that CA (the API server) get in.

mod handlers;
pub mod logs;

use crate::cri::Cri;
use anyhow::Context;
use axum::routing::{any, get};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::sync::watch;

/// Where the serving certificate is requested.
const SERVING_CERT_PATH: &str = "/v1-skiff/serving-cert";

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) client: kube::Client,
    pub(crate) cri: Cri,
}

/// A serving certificate from the API server.
#[derive(Debug, serde::Deserialize)]
struct Issued {
    certificate: String,
    key: String,
    ca: String,
}

/// Asks the API server for a serving certificate for `node` at `addresses`.
async fn serving_cert(
    client: &kube::Client,
    node: &str,
    addresses: &[String],
) -> anyhow::Result<Issued> {
    let body = serde_json::to_vec(&serde_json::json!({
        "nodeName": node,
        "addresses": addresses,
    }))?;
    let req = http::Request::post(SERVING_CERT_PATH)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body)?;
    client
        .request::<Issued>(req)
        .await
        .context("requesting the agent's serving certificate from the API server")
}

fn tls_config(issued: &Issued) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let certs =
        |pem: &str| rustls_pemfile::certs(&mut pem.as_bytes()).collect::<Result<Vec<_>, _>>();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(&issued.ca)? {
        roots.add(c)?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()?;
    let key = rustls_pemfile::private_key(&mut issued.key.as_bytes())?
        .context("no private key in the issued serving certificate")?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(&issued.certificate)?, key)?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The bound endpoint, before it serves.
pub struct KubeletServer {
    listener: tokio::net::TcpListener,
    tls: tokio_rustls::TlsAcceptor,
    shared: Shared,
}

impl KubeletServer {
    /// Binds `0.0.0.0:port` (0: a free port) and gets a serving certificate for `node` at
    /// `addresses`.
    pub async fn bind(
        client: kube::Client,
        cri: Cri,
        node: &str,
        addresses: &[String],
        port: u16,
    ) -> anyhow::Result<Self> {
        let addr = SocketAddr::new(IpAddr::from([0, 0, 0, 0]), port);
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on {addr} for the API server's streams (pick another --kubelet-port)")
        })?;
        let issued = serving_cert(&client, node, addresses).await?;
        Ok(KubeletServer {
            listener,
            tls: tokio_rustls::TlsAcceptor::from(tls_config(&issued)?),
            shared: Shared { client, cri },
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map_or(0, |a| a.port())
    }

    /// Serves until `stop`.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let router = axum::Router::new()
            .route(
                "/containerLogs/{ns}/{pod}/{container}",
                get(handlers::container_logs),
            )
            .route("/exec/{ns}/{pod}/{container}", any(handlers::exec))
            .route("/attach/{ns}/{pod}/{container}", any(handlers::attach))
            .route("/portForward/{ns}/{pod}", any(handlers::port_forward))
            .route("/healthz", get(|| async { "ok" }))
            .with_state(self.shared);
        loop {
            let (tcp, _) = tokio::select! {
                a = self.listener.accept() => match a {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting a connection failed");
                        continue;
                    }
                },
                _ = crate::stopped(&mut stop) => return,
            };
            let (tls, router) = (self.tls.clone(), router.clone());
            tokio::spawn(async move {
                let Ok(Ok(stream)) =
                    tokio::time::timeout(std::time::Duration::from_secs(10), tls.accept(tcp)).await
                else {
                    return;
                };
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let router = router.clone();
                        async move {
                            use tower::ServiceExt;
                            router.oneshot(req.map(axum::body::Body::new)).await
                        }
                    },
                );
                let builder = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                );
                let _ = builder
                    .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    }
}
