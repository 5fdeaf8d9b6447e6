//! TLS for the API server: rustls with the ring provider, ALPN `h2` and `http/1.1`, and optional
//! client certificates signed by the cluster CA (they authenticate the user).

use crate::pipeline::User;
use crate::pki::Pki;
use rustls::pki_types::CertificateDer;
use rustls::server::WebPkiClientVerifier;
use std::sync::Arc;

/// A TLS setup error.
#[derive(Debug, thiserror::Error)]
#[error("TLS setup: {0}")]
pub struct TlsError(String);

impl TlsError {
    /// An error with this message.
    pub fn new(message: String) -> Self {
        TlsError(message)
    }
}

fn certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError(e.to_string()))
}

/// The rustls server configuration.
pub fn server_config(pki: &Pki) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(&pki.ca_cert)? {
        roots.add(c).map_err(|e| TlsError(e.to_string()))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsError(e.to_string()))?;
    let key = rustls_pemfile::private_key(&mut pki.serving_key.as_bytes())
        .map_err(|e| TlsError(e.to_string()))?
        .ok_or_else(|| TlsError("no private key in serving.key".into()))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(&pki.serving_cert)?, key)
        .map_err(|e| TlsError(e.to_string()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The user a verified client certificate names: CN is the user, each O a group.
pub fn user_from_cert(der: &CertificateDer<'_>) -> Option<User> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let subject = cert.subject();
    let name = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())?
        .to_string();
    let mut groups: Vec<String> = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    groups.push("system:authenticated".into());
    Some(User::new(name, groups))
}
