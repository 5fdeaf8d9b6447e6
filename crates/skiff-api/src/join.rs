//! Node join tokens, in k3s' format: `K10<sha256 of the cluster CA, hex>::node:<secret>`.
//!
//! The secret authenticates the agent (as a bearer token); the CA hash lets the agent trust
//! the server on first contact: it fetches `/cacerts` without verification, checks the hash,
//! and from then on verifies the server against that CA.
//!
//! ```
//! use skiff_api::join::{ca_hash, JoinToken};
//! let pem = "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n";
//! let t = JoinToken { ca_hash: ca_hash(pem), secret: "s3cr3t".into() };
//! let parsed: JoinToken = t.to_string().parse().unwrap();
//! assert_eq!(parsed, t);
//! assert!(parsed.trusts(pem));
//! ```

use std::fmt;
use std::str::FromStr;

/// The user name an agent authenticated by the join token acts as.
pub const AGENT_USER: &str = "system:node:skiff-agent";
/// The group of nodes.
pub const NODES_GROUP: &str = "system:nodes";

/// A parsed join token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinToken {
    /// Hex sha256 of the cluster CA certificate (PEM bytes).
    pub ca_hash: String,
    /// The shared secret.
    pub secret: String,
}

/// Hex sha256 of `ca_pem`'s bytes.
pub fn ca_hash(ca_pem: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, ca_pem.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

impl JoinToken {
    /// Whether `ca_pem` is the CA this token was issued for.
    pub fn trusts(&self, ca_pem: &str) -> bool {
        self.ca_hash == ca_hash(ca_pem)
    }

    /// Whether `presented` is this token's secret (constant time in the length of the secret).
    pub fn accepts(&self, presented: &str) -> bool {
        let (a, b) = (self.secret.as_bytes(), presented.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl fmt::Display for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "K10{}::node:{}", self.ca_hash, self.secret)
    }
}

/// Why a token was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a join token (expected K10<64 hex digits>::node:<secret>, as in the server's <data-dir>/node-token)")]
pub struct TokenError;

impl FromStr for JoinToken {
    type Err = TokenError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s.trim().strip_prefix("K10").ok_or(TokenError)?;
        let (hash, cred) = rest.split_once("::").ok_or(TokenError)?;
        let secret = cred.strip_prefix("node:").ok_or(TokenError)?;
        let hex = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex || secret.is_empty() {
            return Err(TokenError);
        }
        Ok(JoinToken {
            ca_hash: hash.to_ascii_lowercase(),
            secret: secret.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_tokens_are_rejected() {
        let h = "a".repeat(64);
        assert!(format!("K10{h}::node:x").parse::<JoinToken>().is_ok());
        for bad in [
            "",
            "secret",
            &format!("K10{h}::node:"),
            &format!("K10{h}:node:x"),
            &format!("K10{}::node:x", "a".repeat(63)),
            &format!("K10{}::node:x", "g".repeat(64)),
            &format!("K10{h}::admin:x"),
        ] {
            assert_eq!(bad.parse::<JoinToken>(), Err(TokenError), "{bad:?}");
        }
    }

    #[test]
    fn only_the_exact_secret_is_accepted() {
        let t = JoinToken {
            ca_hash: ca_hash("ca"),
            secret: "abc".into(),
        };
        assert!(t.accepts("abc"));
        assert!(!t.accepts("abd") && !t.accepts("ab") && !t.accepts("abcd"));
        assert!(t.trusts("ca") && !t.trusts("other"));
    }
}
