//! Joining a cluster with a join token (`skiff agent --server URL --token …`): first contact
//! without verification to fetch `/cacerts`, the CA checked against the token's hash, then a
//! client that verifies the server with that CA and authenticates with the token's secret.

use anyhow::Context;
use skiff_api::join::JoinToken;

/// A client for the API server at `server`, trusted and authenticated through `token`.
pub async fn client(server: &str, token: &JoinToken) -> anyhow::Result<kube::Client> {
    let uri: http::Uri = server.parse().with_context(|| {
        format!("--server {server:?} is not a URL (e.g. https://10.0.0.1:6443)")
    })?;
    let mut probe = kube::Config::new(uri.clone());
    probe.accept_invalid_certs = true;
    let probe = kube::Client::try_from(probe).context("building the first-contact client")?;
    let get = http::Request::get("/cacerts")
        .body(Vec::new())
        .context("building the /cacerts request")?;
    let pem = probe
        .request_text(get)
        .await
        .with_context(|| format!("fetching the cluster CA from {server}/cacerts"))?;
    if !token.trusts(&pem) {
        anyhow::bail!(
            "the server at {server} does not have the CA this token was issued for (wrong --server, or a token of another cluster?)"
        );
    }
    let certs: Vec<Vec<u8>> = rustls_pemfile::certs(&mut pem.as_bytes())
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<_, _>>()
        .context("the server's /cacerts is not PEM")?;
    let mut cfg = kube::Config::new(uri);
    cfg.root_cert = Some(certs);
    cfg.headers.push((
        http::header::AUTHORIZATION,
        http::HeaderValue::from_str(&format!("Bearer {}", token.secret))
            .context("the token's secret is not a valid header value")?,
    ));
    let client = kube::Client::try_from(cfg).context("building the API client")?;
    match client.apiserver_version().await {
        Ok(_) => Ok(client),
        Err(kube::Error::Api(s)) if s.code == 401 => anyhow::bail!(
            "the server at {server} refused the token (401 Unauthorized): use the one in the server's <data-dir>/node-token"
        ),
        Err(e) => Err(e).with_context(|| format!("reaching the server at {server}")),
    }
}
