//! The cluster PKI: a CA, a serving certificate and an admin client certificate, generated on
//! first start under `<data-dir>/tls` and reused afterwards; and the admin kubeconfig.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use std::fs;
use std::path::{Path, PathBuf};

/// A PKI error, naming the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A file could not be read or written.
    #[error("{path}: {source} (check that the data directory is writable by this user)")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Certificate generation or parsing failed.
    #[error("certificate {what}: {msg} (delete {dir} to regenerate the cluster certificates)")]
    Cert {
        /// Which certificate.
        what: String,
        /// The cause.
        msg: String,
        /// The tls directory.
        dir: PathBuf,
    },
}

/// PEM material the server and clients use.
#[derive(Clone, Debug)]
pub struct Pki {
    /// CA certificate (PEM).
    pub ca_cert: String,
    /// Serving certificate chain (PEM).
    pub serving_cert: String,
    /// Serving key (PEM).
    pub serving_key: String,
    /// Admin client certificate (PEM).
    pub admin_cert: String,
    /// Admin client key (PEM).
    pub admin_key: String,
    /// The API server's client certificate towards node agents (PEM; CN
    /// `kube-apiserver-kubelet-client`, O `system:masters`, like upstream's).
    pub kubelet_client_cert: String,
    /// Its key (PEM).
    pub kubelet_client_key: String,
    /// The key service-account tokens are signed with (PEM, PKCS#8 ECDSA P-256;
    /// `service-account.key`, like kube-apiserver's `--service-account-key-file`).
    pub service_account_key: String,
    /// CA key (PEM): signs node agents' serving certificates.
    ca_key: String,
    /// The tls directory (named in errors).
    dir: PathBuf,
}

fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// A node agent's serving certificate and key (PEM), signed by the cluster CA.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct NodeServingCert {
    /// Certificate (PEM).
    pub certificate: String,
    /// Private key (PEM).
    pub key: String,
    /// The cluster CA (PEM), to verify the API server's client certificate with.
    pub ca: String,
}

impl Pki {
    /// Issues a serving certificate for the agent of node `name`, valid for `name` and
    /// `addresses` (IPs or DNS names; anything unparsable is skipped).
    pub fn node_serving_cert(
        &self,
        name: &str,
        addresses: &[String],
    ) -> Result<NodeServingCert, PkiError> {
        let err = |e: rcgen::Error| PkiError::Cert {
            what: format!("serving certificate of node {name}"),
            msg: e.to_string(),
            dir: self.dir.clone(),
        };
        let ca_key = KeyPair::from_pem(&self.ca_key).map_err(err)?;
        let issuer = Issuer::from_ca_cert_pem(&self.ca_cert, ca_key).map_err(err)?;
        let mut p = CertificateParams::default();
        p.distinguished_name = dn(&format!("system:node:{name}"), Some("system:nodes"));
        p.subject_alt_names = std::iter::once(name.to_string())
            .chain(addresses.iter().cloned())
            .filter_map(|a| match a.parse::<std::net::IpAddr>() {
                Ok(ip) => Some(SanType::IpAddress(ip)),
                Err(_) if is_dns_name(&a) => a.try_into().ok().map(SanType::DnsName),
                Err(_) => None,
            })
            .collect();
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let key = KeyPair::generate().map_err(err)?;
        let cert = p.signed_by(&key, &issuer).map_err(err)?;
        Ok(NodeServingCert {
            certificate: cert.pem(),
            key: key.serialize_pem(),
            ca: self.ca_cert.clone(),
        })
    }
}

fn read(path: &Path) -> Result<Option<String>, PkiError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PkiError::Io {
            path: path.into(),
            source,
        }),
    }
}

/// Writes a file atomically (temp file + rename), private when `secret`.
pub fn write_file(path: &Path, contents: &str, secret: bool) -> Result<(), PkiError> {
    let io = |source| PkiError::Io {
        path: path.into(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, contents).map_err(io)?;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    let _ = secret;
    fs::rename(&tmp, path).map_err(io)
}

fn dn(cn: &str, org: Option<&str>) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    d.push(DnType::CommonName, cn);
    if let Some(o) = org {
        d.push(DnType::OrganizationName, o);
    }
    d
}

/// Loads the PKI from `dir`, generating whatever is missing. The serving certificate is
/// regenerated when the wanted SANs change (the CA and admin certificate never are).
pub fn load_or_create(dir: &Path, sans: &[String]) -> Result<Pki, PkiError> {
    let cert_err = |what: &str, e: rcgen::Error| PkiError::Cert {
        what: what.into(),
        msg: e.to_string(),
        dir: dir.into(),
    };
    let ca_cert_path = dir.join("ca.crt");
    let ca_key_path = dir.join("ca.key");
    let (ca_cert, ca_key) = match (read(&ca_cert_path)?, read(&ca_key_path)?) {
        (Some(c), Some(k)) => (c, k),
        _ => {
            let key = KeyPair::generate().map_err(|e| cert_err("ca", e))?;
            let mut p = CertificateParams::default();
            p.distinguished_name = dn("skiff-ca", None);
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            let cert = p.self_signed(&key).map_err(|e| cert_err("ca", e))?;
            write_file(&ca_key_path, &key.serialize_pem(), true)?;
            write_file(&ca_cert_path, &cert.pem(), false)?;
            (cert.pem(), key.serialize_pem())
        }
    };
    let ca_keypair = KeyPair::from_pem(&ca_key).map_err(|e| cert_err("ca key", e))?;
    let issuer = Issuer::from_ca_cert_pem(&ca_cert, ca_keypair).map_err(|e| cert_err("ca", e))?;

    let leaf = |name: &str, p: CertificateParams| -> Result<(String, String), PkiError> {
        let key = KeyPair::generate().map_err(|e| cert_err(name, e))?;
        let cert = p.signed_by(&key, &issuer).map_err(|e| cert_err(name, e))?;
        Ok((cert.pem(), key.serialize_pem()))
    };

    let sans_path = dir.join("serving.sans");
    let wanted = sans.join(",");
    let serving = match (
        read(&dir.join("serving.crt"))?,
        read(&dir.join("serving.key"))?,
        read(&sans_path)?,
    ) {
        (Some(c), Some(k), Some(s)) if s.trim() == wanted => (c, k),
        _ => {
            let mut p = CertificateParams::default();
            p.distinguished_name = dn("skiff-apiserver", None);
            p.subject_alt_names = sans
                .iter()
                .map(|s| match s.parse::<std::net::IpAddr>() {
                    Ok(ip) => Ok(SanType::IpAddress(ip)),
                    Err(_) => s
                        .clone()
                        .try_into()
                        .map(SanType::DnsName)
                        .map_err(|e| cert_err("serving SAN", e)),
                })
                .collect::<Result<_, _>>()?;
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            p.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ];
            let (c, k) = leaf("serving", p)?;
            write_file(&dir.join("serving.key"), &k, true)?;
            write_file(&dir.join("serving.crt"), &c, false)?;
            write_file(&sans_path, &wanted, false)?;
            (c, k)
        }
    };
    let client = |file: &str, cn: &str| -> Result<(String, String), PkiError> {
        let (cert_path, key_path) = (
            dir.join(format!("{file}.crt")),
            dir.join(format!("{file}.key")),
        );
        if let (Some(c), Some(k)) = (read(&cert_path)?, read(&key_path)?) {
            return Ok((c, k));
        }
        let mut p = CertificateParams::default();
        p.distinguished_name = dn(cn, Some("system:masters"));
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let (c, k) = leaf(file, p)?;
        write_file(&key_path, &k, true)?;
        write_file(&cert_path, &c, false)?;
        Ok((c, k))
    };
    let admin = client("admin", "system:admin")?;
    let kubelet_client = client("kubelet-client", "kube-apiserver-kubelet-client")?;
    let sa_key_path = dir.join("service-account.key");
    let service_account_key = match read(&sa_key_path)? {
        Some(k) => k,
        None => {
            let key = KeyPair::generate().map_err(|e| cert_err("service-account key", e))?;
            write_file(&sa_key_path, &key.serialize_pem(), true)?;
            key.serialize_pem()
        }
    };
    Ok(Pki {
        service_account_key,
        ca_cert,
        serving_cert: serving.0,
        serving_key: serving.1,
        admin_cert: admin.0,
        admin_key: admin.1,
        kubelet_client_cert: kubelet_client.0,
        kubelet_client_key: kubelet_client.1,
        ca_key,
        dir: dir.into(),
    })
}

/// The admin kubeconfig for `server` (e.g. `https://127.0.0.1:6443`).
pub fn admin_kubeconfig(pki: &Pki, server: &str) -> String {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: skiff\n  cluster:\n    server: {server}\n    certificate-authority-data: {}\nusers:\n- name: skiff-admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n- name: skiff\n  context:\n    cluster: skiff\n    user: skiff-admin\ncurrent-context: skiff\npreferences: {{}}\n",
        b64(&pki.ca_cert),
        b64(&pki.admin_cert),
        b64(&pki.admin_key)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pki_is_generated_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let sans = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let a = load_or_create(dir.path(), &sans).unwrap();
        let b = load_or_create(dir.path(), &sans).unwrap();
        assert_eq!(a.ca_cert, b.ca_cert);
        assert_eq!(a.serving_cert, b.serving_cert);
        assert_eq!(a.admin_cert, b.admin_cert);
        assert_eq!(a.service_account_key, b.service_account_key);
        let mut more = sans.clone();
        more.push("skiff.example".into());
        let c = load_or_create(dir.path(), &more).unwrap();
        assert_eq!(a.ca_cert, c.ca_cert);
        assert_ne!(a.serving_cert, c.serving_cert);
        assert_eq!(a.kubelet_client_cert, c.kubelet_client_cert);
    }

    #[test]
    fn node_serving_certificates_are_signed_by_the_ca_for_the_node_addresses() {
        let dir = tempfile::tempdir().unwrap();
        let pki = load_or_create(dir.path(), &["localhost".to_string()]).unwrap();
        let issued = pki
            .node_serving_cert("n1", &["10.0.0.7".into(), "not a name!".into()])
            .unwrap();
        assert_eq!(issued.ca, pki.ca_cert);
        let der = rustls_pemfile::certs(&mut issued.certificate.as_bytes())
            .next()
            .unwrap()
            .unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
        let sans = cert.subject_alternative_name().unwrap().unwrap().value;
        let names: Vec<String> = sans.general_names.iter().map(|n| format!("{n}")).collect();
        assert!(names.iter().any(|n| n.contains("n1")), "{names:?}");
        assert!(names.iter().any(|n| n.contains("0a:00:00:07")), "{names:?}");
        assert_eq!(names.len(), 2, "{names:?}");
        let ca_der = rustls_pemfile::certs(&mut pki.ca_cert.as_bytes())
            .next()
            .unwrap()
            .unwrap();
        let (_, ca) = x509_parser::parse_x509_certificate(ca_der.as_ref()).unwrap();
        assert_eq!(cert.issuer(), ca.subject());
    }
}
