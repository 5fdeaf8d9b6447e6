//! PURE — registry credentials from a pod's `imagePullSecrets`, like the kubelet's
//! keyring: `kubernetes.io/dockerconfigjson` (`{"auths": {host: {...}}}`) and the legacy
//! `kubernetes.io/dockercfg` (`{host: {...}}`) secrets, matched against the image's registry
//! (Docker Hub's many names count as one).

use serde_json::Value;

/// Credentials for one registry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
    /// `auth` as given (base64 of `user:password`), if any.
    pub auth: String,
    /// The registry as the secret names it.
    pub server_address: String,
}

const DOCKER_HUB: &str = "docker.io";

fn canonical_host(h: &str) -> String {
    let h = h
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = h.split('/').next().unwrap_or(h).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            DOCKER_HUB.to_string()
        }
        _ => host,
    }
}

/// The registry host of an image reference (`docker.io` for `busybox` or `library/x`).
pub fn registry_of(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            canonical_host(first)
        }
        _ => DOCKER_HUB.to_string(),
    }
}

fn decode_b64(s: &str) -> Option<String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// The entries (registry key → entry) of one pull secret.
fn entries(
    secret_type: &str,
    data: &std::collections::BTreeMap<String, Vec<u8>>,
) -> Vec<(String, Value)> {
    let (key, nested) = match secret_type {
        "kubernetes.io/dockerconfigjson" => (".dockerconfigjson", true),
        "kubernetes.io/dockercfg" => (".dockercfg", false),
        _ => return Vec::new(),
    };
    let Some(v) = data
        .get(key)
        .and_then(|b| serde_json::from_slice::<Value>(b).ok())
    else {
        return Vec::new();
    };
    let map = if nested {
        v.get("auths").cloned()
    } else {
        Some(v)
    };
    map.and_then(|m| m.as_object().cloned())
        .map(|m| m.into_iter().collect())
        .unwrap_or_default()
}

/// The credentials the secrets (`(type, data)`, in the pod's order) hold for `image`'s
/// registry: the first match wins.
pub fn credentials(
    image: &str,
    secrets: &[(String, std::collections::BTreeMap<String, Vec<u8>>)],
) -> Option<Credentials> {
    let want = registry_of(image);
    for (t, data) in secrets {
        for (host, entry) in entries(t, data) {
            if canonical_host(&host) != want {
                continue;
            }
            let s = |k: &str| {
                entry
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            let (mut username, mut password, auth) = (s("username"), s("password"), s("auth"));
            if username.is_empty() && !auth.is_empty() {
                if let Some((u, p)) = decode_b64(&auth).as_deref().and_then(|d| d.split_once(':')) {
                    username = u.to_string();
                    password = p.to_string();
                }
            }
            return Some(Credentials {
                username,
                password,
                auth,
                server_address: host,
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn secret(t: &str, key: &str, json: &str) -> (String, BTreeMap<String, Vec<u8>>) {
        (
            t.to_string(),
            BTreeMap::from([(key.to_string(), json.as_bytes().to_vec())]),
        )
    }

    #[test]
    fn the_registry_of_an_image() {
        assert_eq!(registry_of("busybox"), "docker.io");
        assert_eq!(registry_of("library/busybox:1"), "docker.io");
        assert_eq!(
            registry_of("127.0.0.1:5000/test/busybox:v1"),
            "127.0.0.1:5000"
        );
        assert_eq!(registry_of("ghcr.io/a/b"), "ghcr.io");
        assert_eq!(registry_of("localhost/x"), "localhost");
    }

    #[test]
    fn credentials_come_from_the_matching_entry() {
        let cfg = secret(
            "kubernetes.io/dockerconfigjson",
            ".dockerconfigjson",
            r#"{"auths": {"127.0.0.1:5000": {"username": "u", "password": "p", "auth": "dTpw"},
                          "https://index.docker.io/v1/": {"auth": "aHViOnNlY3JldA=="}}}"#,
        );
        let c = credentials("127.0.0.1:5000/test/busybox:v1", std::slice::from_ref(&cfg)).unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p"));
        // only an auth field: decoded; Docker Hub under its v1 URL
        let hub = credentials("nginx:1.25", std::slice::from_ref(&cfg)).unwrap();
        assert_eq!(
            (hub.username.as_str(), hub.password.as_str()),
            ("hub", "secret")
        );
        assert_eq!(credentials("ghcr.io/x/y", &[cfg]), None);
        let legacy = secret(
            "kubernetes.io/dockercfg",
            ".dockercfg",
            r#"{"ghcr.io": {"username": "g", "password": "h"}}"#,
        );
        assert_eq!(credentials("ghcr.io/x/y", &[legacy]).unwrap().username, "g");
        let opaque = secret("Opaque", ".dockerconfigjson", "{}");
        assert_eq!(credentials("busybox", &[opaque]), None);
    }
}
