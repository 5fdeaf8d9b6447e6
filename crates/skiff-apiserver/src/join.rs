//! The node join token on the server: created once under the data dir, accepted as a bearer
//! token from agents (as [`skiff_api::join::AGENT_USER`] in group `system:nodes`), and the
//! CA it names served unauthenticated at `/cacerts`, like k3s.

use crate::pipeline::User;
use crate::pki::{write_file, PkiError};
use skiff_api::join::{ca_hash, JoinToken, AGENT_USER, NODES_GROUP};
use std::path::Path;

/// Reads the token at `path`, or writes a new one for `ca_pem` (mode 0600). A token issued
/// for another CA (the CA was replaced) is replaced too.
pub fn load_or_create(path: &Path, ca_pem: &str) -> Result<JoinToken, PkiError> {
    if let Ok(text) = std::fs::read_to_string(path) {
        if let Ok(t) = text.parse::<JoinToken>() {
            if t.trusts(ca_pem) {
                return Ok(t);
            }
        }
    }
    let token = JoinToken {
        ca_hash: ca_hash(ca_pem),
        secret: format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        ),
    };
    write_file(path, &format!("{token}\n"), true)?;
    Ok(token)
}

/// A bearer token that is not the join token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadToken;

/// The user a request's `Authorization: Bearer` header names: `Ok(None)` without one,
/// `Err(BadToken)` for a token that is not the join token (401, like upstream).
pub fn authenticate(
    token: Option<&JoinToken>,
    authorization: Option<&str>,
) -> Result<Option<User>, BadToken> {
    let Some(presented) = authorization.and_then(|h| h.strip_prefix("Bearer ")) else {
        return Ok(None);
    };
    match token {
        Some(t) if t.accepts(presented.trim()) => Ok(Some(User::new(
            AGENT_USER,
            vec![NODES_GROUP.into(), "system:authenticated".into()],
        ))),
        _ => Err(BadToken),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_file_is_created_once_and_follows_the_ca() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("node-token");
        let a = load_or_create(&path, "ca-1").unwrap();
        assert_eq!(load_or_create(&path, "ca-1").unwrap(), a);
        assert!(std::fs::read_to_string(&path).unwrap().starts_with("K10"));
        let b = load_or_create(&path, "ca-2").unwrap();
        assert!(b.trusts("ca-2") && b.secret != a.secret);
    }

    #[test]
    fn bearer_tokens_map_to_the_agent_or_are_refused() {
        let t = JoinToken {
            ca_hash: ca_hash("ca"),
            secret: "s".into(),
        };
        let u = authenticate(Some(&t), Some("Bearer s")).unwrap().unwrap();
        assert_eq!(u.name, AGENT_USER);
        assert!(u.groups.contains(&NODES_GROUP.to_string()));
        assert_eq!(authenticate(Some(&t), None), Ok(None));
        assert_eq!(authenticate(Some(&t), Some("Basic eA==")), Ok(None));
        assert_eq!(authenticate(Some(&t), Some("Bearer wrong")), Err(BadToken));
        assert_eq!(authenticate(None, Some("Bearer s")), Err(BadToken));
    }
}
