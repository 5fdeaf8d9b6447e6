//! How to reach etcd: the `--datastore etcd://HOST:PORT[,HOST:PORT…]` URL and the TLS files.

use std::path::PathBuf;
use std::time::Duration;

/// Client certificate files for an etcd that requires TLS (kube-apiserver's `--etcd-cafile`,
/// `--etcd-certfile`, `--etcd-keyfile`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA that signed the members' serving certificates (PEM).
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM).
    pub cert: Option<PathBuf>,
    /// Its key (PEM).
    pub key: Option<PathBuf>,
}

impl TlsFiles {
    /// Whether any TLS setting is given (then the endpoints are dialled over https).
    pub fn any(&self) -> bool {
        self.ca.is_some() || self.cert.is_some() || self.key.is_some()
    }
}

/// Settings of an [`EtcdStore`](crate::EtcdStore).
#[derive(Clone, Debug)]
pub struct EtcdOptions {
    /// Member client URLs (`http://127.0.0.1:2379`); requests fail over between them.
    pub endpoints: Vec<String>,
    /// TLS, if the members require it.
    pub tls: TlsFiles,
    /// How long a caught-up watch stays idle before it asks etcd for a progress notification.
    pub progress_interval: Duration,
    /// Timeout of a single request (a member that does not answer in time fails it).
    pub request_timeout: Duration,
}

impl EtcdOptions {
    /// Options for `endpoints` with the defaults (no TLS, progress every second, 10 s
    /// requests).
    pub fn new(endpoints: Vec<String>) -> Self {
        EtcdOptions {
            endpoints,
            tls: TlsFiles::default(),
            progress_interval: Duration::from_secs(1),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// PURE — the member URLs of a `--datastore` value: `etcd://h1:2379,h2:2379` → the client
/// URLs, `https://` when `tls` is set, else `http://`.
///
/// ```
/// use skiff_store_etcd::parse_datastore;
/// assert_eq!(
///     parse_datastore("etcd://10.0.0.1:2379,10.0.0.2:2379", false).unwrap(),
///     ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]
/// );
/// ```
pub fn parse_datastore(url: &str, tls: bool) -> Result<Vec<String>, String> {
    let Some(rest) = url.strip_prefix("etcd://") else {
        return Err(format!(
            "--datastore {url:?}: expected etcd://HOST:PORT[,HOST:PORT...]"
        ));
    };
    let scheme = if tls { "https" } else { "http" };
    let endpoints: Vec<String> = rest
        .trim_end_matches('/')
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (host, port) = e.rsplit_once(':').ok_or_else(|| {
                format!("--datastore: {e:?} has no port (expected HOST:PORT, e.g. 127.0.0.1:2379)")
            })?;
            if host.is_empty() || port.parse::<u16>().is_err() {
                return Err(format!(
                    "--datastore: {e:?} is not HOST:PORT (e.g. 127.0.0.1:2379)"
                ));
            }
            Ok(format!("{scheme}://{e}"))
        })
        .collect::<Result<_, _>>()?;
    if endpoints.is_empty() {
        return Err(format!("--datastore {url:?}: no etcd endpoint given"));
    }
    Ok(endpoints)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_parsed_with_the_scheme_tls_asks_for() {
        assert_eq!(
            parse_datastore("etcd://127.0.0.1:2379", true).unwrap(),
            ["https://127.0.0.1:2379"]
        );
        assert_eq!(
            parse_datastore("etcd://a:1, b:2/", false).unwrap(),
            ["http://a:1", "http://b:2"]
        );
    }

    #[test]
    fn malformed_values_name_what_is_expected() {
        assert!(parse_datastore("http://a:1", false)
            .unwrap_err()
            .contains("expected etcd://"));
        assert!(parse_datastore("etcd://a", false)
            .unwrap_err()
            .contains("has no port"));
        assert!(parse_datastore("etcd://a:x", false)
            .unwrap_err()
            .contains("is not HOST:PORT"));
        assert!(parse_datastore("etcd://", false)
            .unwrap_err()
            .contains("no etcd endpoint"));
    }
}
