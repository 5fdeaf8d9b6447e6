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
    let admin = match (read(&dir.join("admin.crt"))?, read(&dir.join("admin.key"))?) {
        (Some(c), Some(k)) => (c, k),
        _ => {
            let mut p = CertificateParams::default();
            p.distinguished_name = dn("system:admin", Some("system:masters"));
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            p.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ];
            let (c, k) = leaf("admin", p)?;
            write_file(&dir.join("admin.key"), &k, true)?;
            write_file(&dir.join("admin.crt"), &c, false)?;
            (c, k)
        }
    };
    Ok(Pki {
        ca_cert,
        serving_cert: serving.0,
        serving_key: serving.1,
        admin_cert: admin.0,
        admin_key: admin.1,
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
        let mut more = sans.clone();
        more.push("skiff.example".into());
        let c = load_or_create(dir.path(), &more).unwrap();
        assert_eq!(a.ca_cert, c.ca_cert);
        assert_ne!(a.serving_cert, c.serving_cert);
    }
}
