//! The API server's side of node agents: `pods/log`, `pods/exec`, `pods/attach` and
//! `pods/portforward` forwarded to the agent running the pod (over TLS, the agent's serving
//! certificate verified against the cluster CA, the API server authenticated by its
//! `kube-apiserver-kubelet-client` certificate), and `POST /v1-skiff/serving-cert`, where an
//! agent gets that serving certificate.
//!
//! Where a stream goes is decided by the pure [`locate`]; the bytes are moved by
//! [`skiff_upgrade::forward`].

pub mod locate;

use crate::pipeline::User;
use crate::pki::Pki;
use crate::state::AppState;
use axum::body::Body;
use axum::response::Response;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use locate::Stream;
use serde_json::Value;
use skiff_api::ApiError;
use std::sync::Arc;
use std::time::Duration;

/// Where agents get their serving certificate.
pub const SERVING_CERT_PATH: &str = "/v1-skiff/serving-cert";

/// How long connecting to an agent may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// A TLS client to node agents, and the CA that signs their serving certificates.
pub struct NodeClient {
    pki: Pki,
    tls: tokio_rustls::TlsConnector,
}

impl std::fmt::Debug for NodeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeClient").finish_non_exhaustive()
    }
}

fn pem_certs(pem: &str) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

impl NodeClient {
    /// A client trusting the cluster CA and presenting the kubelet-client certificate.
    pub fn new(pki: &Pki) -> Result<Self, crate::tls::TlsError> {
        let err = |e: String| crate::tls::TlsError::new(format!("node agent client: {e}"));
        let mut roots = rustls::RootCertStore::empty();
        for c in pem_certs(&pki.ca_cert).map_err(err)? {
            roots.add(c).map_err(|e| err(e.to_string()))?;
        }
        let key = rustls_pemfile::private_key(&mut pki.kubelet_client_key.as_bytes())
            .map_err(|e| err(e.to_string()))?
            .ok_or_else(|| err("no private key in kubelet-client.key".into()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| err(e.to_string()))?
            .with_root_certificates(roots)
            .with_client_auth_cert(pem_certs(&pki.kubelet_client_cert).map_err(err)?, key)
            .map_err(|e| err(e.to_string()))?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(NodeClient {
            pki: pki.clone(),
            tls: tokio_rustls::TlsConnector::from(Arc::new(cfg)),
        })
    }

    async fn dial(
        &self,
        host: &str,
        port: u16,
    ) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| format!("{host}: {e}"))?;
        let connect = async {
            let tcp = tokio::net::TcpStream::connect((host, port))
                .await
                .map_err(|e| format!("dial tcp {host}:{port}: {e}"))?;
            self.tls
                .connect(name, tcp)
                .await
                .map_err(|e| format!("tls handshake with {host}:{port}: {e}"))
        };
        tokio::time::timeout(DIAL_TIMEOUT, connect)
            .await
            .map_err(|_| format!("dial tcp {host}:{port}: i/o timeout"))?
    }
}

fn typed<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, ApiError> {
    serde_json::from_value(v).map_err(|e| ApiError::Internal(e.to_string()))
}

/// Serves `pods/{name}/{log,exec,attach,portforward}` in `ns` by forwarding to the agent of
/// the pod's node.
pub async fn serve(
    state: &AppState,
    stream: Stream,
    ns: &str,
    name: &str,
    req: Request<Body>,
) -> Result<Response, ApiError> {
    let st = &state.storage;
    let pods = st
        .registry
        .by_plural("", "v1", "pods")
        .ok_or(ApiError::NoResource)?;
    let pod: Pod = typed(st.get(&pods, ns, name).await?)?;
    let node_name = pod.spec.as_ref().and_then(|s| s.node_name.clone());
    let node: Option<Node> = match node_name.filter(|n| !n.is_empty()) {
        Some(n) => {
            let nodes = st
                .registry
                .by_plural("", "v1", "nodes")
                .ok_or(ApiError::NoResource)?;
            match st.try_get(&nodes, "", &n).await? {
                Some((_, v)) => Some(typed(v)?),
                None => None,
            }
        }
        None => None,
    };
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let Some(loc) = locate::locate(stream, &pod, node.as_ref(), &query)? else {
        return Ok(text_plain(StatusCode::OK, Body::empty()));
    };
    let client = state
        .nodes
        .as_ref()
        .ok_or_else(|| ApiError::Unavailable("this server has no node agent client".into()))?;
    let io = client
        .dial(&loc.host, loc.port)
        .await
        .map_err(|e| ApiError::Unavailable(format!("error dialing backend: {e}")))?;
    let host = format!("{}:{}", loc.host, loc.port);
    let resp = skiff_upgrade::forward(req, io, &loc.path_and_query, &host).await;
    if stream != Stream::Log || resp.status().is_success() {
        return Ok(resp);
    }
    // The agent refused (a container waiting to start, no previous container, …): its one
    // line becomes the Status message, with its code, as upstream does.
    let code = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let message = String::from_utf8_lossy(&bytes).trim().to_string();
    Err(match code.as_u16() {
        400..=499 => ApiError::BadRequest(message),
        _ => ApiError::Unavailable(message),
    })
}

fn text_plain(code: StatusCode, body: Body) -> Response {
    let mut r = Response::new(body);
    *r.status_mut() = code;
    r
}

/// The body of a serving-certificate request.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct CertRequest {
    node_name: String,
    #[serde(default)]
    addresses: Vec<String>,
}

/// `POST /v1-skiff/serving-cert` `{"nodeName": …, "addresses": […]}`: a serving certificate for
/// a node agent. Only nodes (the join token's user) and cluster admins may ask.
pub fn issue_serving_cert(
    state: &AppState,
    user: &User,
    body: &[u8],
) -> Result<Response, ApiError> {
    if !user
        .groups
        .iter()
        .any(|g| g == skiff_api::join::NODES_GROUP || g == "system:masters")
    {
        return Err(ApiError::Forbidden(format!(
            "User \"{}\" cannot request a node serving certificate: only nodes (the join token) and cluster admins may",
            user.name
        )));
    }
    let req: CertRequest = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("a serving-certificate request: {e}")))?;
    if req.node_name.is_empty() {
        return Err(ApiError::BadRequest("nodeName is required".into()));
    }
    let client = state
        .nodes
        .as_ref()
        .ok_or_else(|| ApiError::Unavailable("this server issues no node certificates".into()))?;
    let issued = client
        .pki
        .node_serving_cert(&req.node_name, &req.addresses)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut r = Response::new(Body::from(
        serde_json::to_vec(&issued).map_err(|e| ApiError::Internal(e.to_string()))?,
    ));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(r)
}
