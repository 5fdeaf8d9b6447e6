//! PURE — service-account tokens as kube-apiserver issues them: ES256-signed JWTs whose
//! `kubernetes.io` claim names the namespace, the ServiceAccount and the object the token is
//! bound to. Signing and verification take the key and the time as arguments.
//!
//! ```
//! use skiff_apiserver::serviceaccount::jwt::{Claims, Ref, SigningKey};
//! let key = SigningKey::generate().unwrap();
//! let claims = Claims::new("https://issuer", vec!["api".into()], "default",
//!     Ref::new("default", "sa-uid"), 1_000, 3_600, "jti-1");
//! let token = key.sign(&claims).unwrap();
//! assert_eq!(key.verifier().verify(&token, 1_100).unwrap(), claims);
//! ```

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

/// A named object with its uid, as the `kubernetes.io` claim records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ref {
    /// Name.
    pub name: String,
    /// UID.
    pub uid: String,
}

impl Ref {
    /// A reference.
    pub fn new(name: impl Into<String>, uid: impl Into<String>) -> Self {
        Ref {
            name: name.into(),
            uid: uid.into(),
        }
    }
}

/// The private `kubernetes.io` claim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesClaim {
    /// The ServiceAccount's namespace.
    pub namespace: String,
    /// The node of a token bound to a pod (or to a node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<Ref>,
    /// The pod the token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<Ref>,
    /// The secret the token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Ref>,
    /// The ServiceAccount.
    pub serviceaccount: Ref,
}

/// The claims of a service-account token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Audiences.
    pub aud: Vec<String>,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Issuer.
    pub iss: String,
    /// Token id (shown as the credential id of the user).
    pub jti: String,
    /// Kubernetes' own claim.
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaim,
    /// Not valid before.
    pub nbf: i64,
    /// `system:serviceaccount:<namespace>:<name>`.
    pub sub: String,
}

impl Claims {
    /// Claims for ServiceAccount `sa` of `namespace`, valid from `now` for `ttl` seconds, not yet
    /// bound to an object.
    pub fn new(
        issuer: &str,
        audiences: Vec<String>,
        namespace: &str,
        sa: Ref,
        now: i64,
        ttl: i64,
        jti: &str,
    ) -> Self {
        Claims {
            aud: audiences,
            exp: now + ttl,
            iat: now,
            iss: issuer.into(),
            jti: jti.into(),
            sub: format!("system:serviceaccount:{namespace}:{}", sa.name),
            kubernetes: KubernetesClaim {
                namespace: namespace.into(),
                node: None,
                pod: None,
                secret: None,
                serviceaccount: sa,
            },
            nbf: now,
        }
    }
}

/// Why a token is not a valid service-account token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts of JSON.
    #[error("token is malformed")]
    Malformed,
    /// Signed with another algorithm or key, or altered.
    #[error("invalid signature")]
    Signature,
    /// Past its `exp`.
    #[error("token has expired")]
    Expired,
    /// Before its `nbf`.
    #[error("token is not valid yet")]
    NotYetValid,
}

/// The server's signing key (ECDSA P-256, PKCS#8).
pub struct SigningKey {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A key from PKCS#8 DER (what `rcgen::KeyPair::serialize_der` writes).
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, String> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
            .map_err(|e| format!("not an ECDSA P-256 PKCS#8 key: {e}"))?;
        Ok(SigningKey { pair, rng })
    }

    /// A fresh key (tests and first start).
    pub fn generate() -> Result<Self, String> {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|e| e.to_string())?;
        Self::from_pkcs8(doc.as_ref())
    }

    /// The matching verifier.
    pub fn verifier(&self) -> Verifier {
        Verifier {
            public: self.pair.public_key().as_ref().to_vec(),
        }
    }

    /// A signed compact JWT.
    pub fn sign(&self, claims: &Claims) -> Result<String, String> {
        let header = serde_json::json!({"alg": "ES256", "kid": self.verifier().key_id()});
        let signing_input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(serde_json::to_vec(claims).map_err(|e| e.to_string())?)
        );
        let sig = self
            .pair
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|e| e.to_string())?;
        Ok(format!("{signing_input}.{}", B64.encode(sig.as_ref())))
    }
}

/// Verifies tokens signed by one key.
#[derive(Clone, Debug)]
pub struct Verifier {
    public: Vec<u8>,
}

impl Verifier {
    /// The key id in token headers: base64url of the SHA-256 of the public key.
    pub fn key_id(&self) -> String {
        B64.encode(ring::digest::digest(&ring::digest::SHA256, &self.public))
    }

    /// Whether `token` looks like a JWT at all (three dot-separated parts), so other bearer
    /// tokens can be told apart without a signature check.
    pub fn looks_like_jwt(token: &str) -> bool {
        token.split('.').count() == 3 && token.starts_with("eyJ")
    }

    /// The claims of `token` if it is signed by this key and valid at `now` (seconds).
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: serde_json::Value = B64
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        if header.get("alg").and_then(|a| a.as_str()) != Some("ES256") {
            return Err(TokenError::Signature);
        }
        let sig = B64.decode(s).map_err(|_| TokenError::Malformed)?;
        UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &self.public)
            .verify(&token.as_bytes()[..h.len() + 1 + p.len()], &sig)
            .map_err(|_| TokenError::Signature)?;
        let claims: Claims = B64
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        if now >= claims.exp {
            return Err(TokenError::Expired);
        }
        // A minute of leeway for clocks, like upstream's validator.
        if now + 60 < claims.nbf {
            return Err(TokenError::NotYetValid);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: i64) -> Claims {
        let mut c = Claims::new(
            "https://kubernetes.default.svc.cluster.local",
            vec!["https://kubernetes.default.svc.cluster.local".into()],
            "team-a",
            Ref::new("builder", "u-1"),
            now,
            600,
            "j-1",
        );
        c.kubernetes.pod = Some(Ref::new("web-0", "p-1"));
        c
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let key = SigningKey::generate().unwrap();
        let token = key.sign(&claims(1000)).unwrap();
        assert!(Verifier::looks_like_jwt(&token));
        let v = key.verifier();
        let got = v.verify(&token, 1599).unwrap();
        assert_eq!(got.sub, "system:serviceaccount:team-a:builder");
        assert_eq!(got.kubernetes.pod, Some(Ref::new("web-0", "p-1")));
        assert_eq!(v.verify(&token, 1600), Err(TokenError::Expired));
        assert_eq!(v.verify(&token, 900), Err(TokenError::NotYetValid));
    }

    #[test]
    fn another_key_or_an_altered_payload_is_refused() {
        let key = SigningKey::generate().unwrap();
        let other = SigningKey::generate().unwrap();
        let token = key.sign(&claims(1000)).unwrap();
        assert_eq!(
            other.verifier().verify(&token, 1001),
            Err(TokenError::Signature)
        );
        let mut forged = claims(1000);
        forged.kubernetes.namespace = "kube-system".into();
        let parts: Vec<&str> = token.split('.').collect();
        let altered = format!(
            "{}.{}.{}",
            parts[0],
            B64.encode(serde_json::to_vec(&forged).unwrap()),
            parts[2]
        );
        assert_eq!(
            key.verifier().verify(&altered, 1001),
            Err(TokenError::Signature)
        );
        assert_eq!(
            key.verifier().verify("abc.def", 1001),
            Err(TokenError::Malformed)
        );
        assert!(!Verifier::looks_like_jwt("K10abc::server:secret"));
    }

    #[test]
    fn a_key_round_trips_through_pkcs8() {
        let gen = rcgen::KeyPair::generate().unwrap();
        let key = SigningKey::from_pkcs8(&gen.serialize_der()).unwrap();
        let token = key.sign(&claims(0)).unwrap();
        let again = SigningKey::from_pkcs8(&gen.serialize_der()).unwrap();
        assert!(again.verifier().verify(&token, 1).is_ok());
        assert_eq!(key.verifier().key_id(), again.verifier().key_id());
    }
}
