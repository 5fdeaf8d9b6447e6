//! The HTTP GET of `httpGet` probes and lifecycle hooks: one request over plain TCP, or for
//! `scheme: HTTPS` over TLS **without certificate verification**, like the kubelet (a pod's
//! serving certificate is rarely issued for its IP, so upstream probes skip verification;
//! the handshake's signatures are still checked). 2xx and 3xx succeed; failures carry the
//! kubelet's messages (`HTTP probe failed with statuscode: 500`, `Get "https://…": …`).

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Where and what to GET, resolved from an `HTTPGetAction` (host defaulted to the pod IP,
/// named port resolved, path defaulted to `/`).
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub host: String,
    pub port: u16,
    pub path: String,
    pub https: bool,
    /// Extra request headers (`httpHeaders`).
    pub headers: Vec<(String, String)>,
}

impl Target {
    fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}:{}{}", self.host, self.port, self.path)
    }

    fn request(&self) -> String {
        let mut head = format!(
            "GET {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\nConnection: close\r\n",
            self.path, self.host, self.port
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        head
    }
}

/// GETs `t` within `limit`; `Err` is the kubelet's failure message.
pub(crate) async fn get(t: &Target, limit: Duration) -> Result<(), String> {
    let url = t.url();
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect((t.host.as_str(), t.port))
            .await
            .map_err(|e| format!("Get \"{url}\": dial tcp {}:{}: {e}", t.host, t.port))?;
        if !t.https {
            return status_of(tcp, &t.request(), &url).await;
        }
        let name = ServerName::try_from(t.host.clone())
            .map_err(|e| format!("Get \"{url}\": invalid server name: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(insecure_client_config()?)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("Get \"{url}\": {e}"))?;
        status_of(tls, &t.request(), &url).await
    };
    tokio::time::timeout(limit, exchange).await.unwrap_or_else(|_| {
        Err(format!(
            "Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        ))
    })
}

/// Sends `request` and reads the status line of the answer.
async fn status_of<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    request: &str,
    url: &str,
) -> Result<(), String> {
    s.write_all(request.as_bytes())
        .await
        .map_err(|e| format!("Get \"{url}\": {e}"))?;
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    while !buf.contains(&b'\n') && buf.len() < 4096 {
        let n = s
            .read(&mut chunk)
            .await
            .map_err(|e| format!("Get \"{url}\": {e}"))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&buf);
    let code: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("Get \"{url}\": malformed HTTP response"))?;
    if (200..400).contains(&code) {
        Ok(())
    } else {
        Err(format!("HTTP probe failed with statuscode: {code}"))
    }
}

/// The TLS client of HTTPS probes, built once.
fn insecure_client_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS client: {e}"))?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth();
            Ok(Arc::new(cfg))
        })
        .clone()
}

/// Accepts any server certificate (Go's `InsecureSkipVerify`) but still checks that the
/// server holds the certificate's key.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server on a free loopback port that answers every request with `status`, over TLS
    /// with a self-signed certificate for `localhost` when `tls`.
    async fn serve(status: u16, tls: bool) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = tls.then(|| {
            let key = rcgen::KeyPair::generate().unwrap();
            let params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
            let cert = params.self_signed(&key).unwrap();
            let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
            tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
        });
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let answer = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n");
                    match acceptor {
                        Some(a) => {
                            if let Ok(s) = a.accept(tcp).await {
                                answer_once(s, &answer).await;
                            }
                        }
                        None => answer_once(tcp, &answer).await,
                    }
                });
            }
        });
        port
    }

    async fn answer_once<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, answer: &str) {
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await;
        let _ = s.write_all(answer.as_bytes()).await;
        let _ = s.shutdown().await;
    }

    fn target(port: u16, https: bool) -> Target {
        Target {
            host: "127.0.0.1".into(),
            port,
            path: "/healthz".into(),
            https,
            headers: vec![("X-Probe".into(), "1".into())],
        }
    }

    const LIMIT: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn https_probes_read_the_status_behind_a_self_signed_certificate() {
        let ok = serve(200, true).await;
        assert_eq!(get(&target(ok, true), LIMIT).await, Ok(()));
        let failing = serve(500, true).await;
        assert_eq!(
            get(&target(failing, true), LIMIT).await,
            Err("HTTP probe failed with statuscode: 500".into())
        );
    }

    #[tokio::test]
    async fn http_probes_read_the_status() {
        let redirect = serve(302, false).await;
        assert_eq!(get(&target(redirect, false), LIMIT).await, Ok(()));
        let missing = serve(404, false).await;
        assert_eq!(
            get(&target(missing, false), LIMIT).await,
            Err("HTTP probe failed with statuscode: 404".into())
        );
    }

    #[tokio::test]
    async fn an_https_probe_of_a_plain_http_server_fails() {
        let plain = serve(200, false).await;
        let err = get(&target(plain, true), LIMIT).await.unwrap_err();
        assert!(
            err.starts_with(&format!("Get \"https://127.0.0.1:{plain}/healthz\": ")),
            "{err}"
        );
    }
}
