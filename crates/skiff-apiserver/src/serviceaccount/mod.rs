//! Service-account tokens, as kube-apiserver serves them: the TokenRequest subresource
//! (`serviceaccounts/{name}/token`, what `kubectl create token` and node agents call) mints
//! bound JWTs ([`jwt`]), the authenticator accepts them as
//! `system:serviceaccount:<namespace>:<name>` while the ServiceAccount (and the pod, secret or
//! node the token is bound to) still exists, and the ServiceAccount admission plugin
//! ([`admission`]) gives pods the `kube-api-access-*` volume the agent fills.

pub mod admission;
pub mod jwt;
pub mod token_request;

use crate::pipeline::User;
use crate::rest::Storage;
use crate::state::AppState;
use jwt::{Claims, SigningKey, Verifier};
use serde_json::Value;
use skiff_api::ApiError;
use std::collections::BTreeMap;

/// The issuer of Skiff's service-account tokens (kube-apiserver's usual
/// `--service-account-issuer`; also the default API audience).
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// The group every service account is in.
pub const ALL_GROUP: &str = "system:serviceaccounts";

/// Issues and checks service-account tokens with one key.
#[derive(Debug)]
pub struct Tokens {
    key: SigningKey,
    verifier: Verifier,
    /// The `iss` claim.
    pub issuer: String,
    /// Audiences a token must name one of to authenticate against this API server, and the
    /// default audiences of a TokenRequest.
    pub audiences: Vec<String>,
}

impl Tokens {
    /// Tokens signed by the PEM key of the cluster PKI.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let der = rcgen::KeyPair::from_pem(pem)
            .map_err(|e| format!("service-account.key: {e}"))?
            .serialize_der();
        Ok(Self::new(SigningKey::from_pkcs8(&der)?))
    }

    /// Tokens signed by `key`, with Skiff's issuer and audience.
    pub fn new(key: SigningKey) -> Self {
        Tokens {
            verifier: key.verifier(),
            key,
            issuer: ISSUER.into(),
            audiences: vec![ISSUER.into()],
        }
    }

    /// A signed token for `claims`.
    pub fn sign(&self, claims: &Claims) -> Result<String, ApiError> {
        self.key
            .sign(claims)
            .map_err(|e| ApiError::Internal(format!("signing a service-account token: {e}")))
    }

    /// The claims of a token this server issued, valid now and meant for this API server;
    /// `None` otherwise. Whether the objects it names still exist is checked by
    /// [`Tokens::authenticate`].
    pub fn claims(&self, token: &str, now: i64) -> Option<Claims> {
        let claims = self.verifier.verify(token, now).ok()?;
        let for_us =
            claims.iss == self.issuer && claims.aud.iter().any(|a| self.audiences.contains(a));
        for_us.then_some(claims)
    }

    /// The user of a bearer token, if it is a valid service-account token whose
    /// ServiceAccount and bound object still exist with the uids it names (401 otherwise).
    pub async fn authenticate(
        &self,
        st: &Storage,
        token: &str,
        now: i64,
    ) -> Result<User, ApiError> {
        let claims = self.claims(token, now).ok_or(ApiError::Unauthorized)?;
        let k = &claims.kubernetes;
        // (resource, namespaced, reference): the objects the token depends on.
        let mut checks = vec![("serviceaccounts", true, &k.serviceaccount)];
        if let Some(p) = &k.pod {
            checks.push(("pods", true, p));
        }
        if let Some(s) = &k.secret {
            checks.push(("secrets", true, s));
        }
        if let (Some(n), None) = (&k.node, &k.pod) {
            checks.push(("nodes", false, n));
        }
        for (plural, namespaced, r) in checks {
            let res = st
                .registry
                .by_plural("", "v1", plural)
                .ok_or_else(|| ApiError::Internal(format!("{plural} are not served")))?;
            let ns = if namespaced { k.namespace.as_str() } else { "" };
            let found = st.try_get(&res, ns, &r.name).await?;
            let uid = found
                .as_ref()
                .and_then(|(_, o)| o.pointer("/metadata/uid").and_then(Value::as_str));
            let deleting = found
                .as_ref()
                .is_some_and(|(_, o)| o.pointer("/metadata/deletionTimestamp").is_some());
            if uid != Some(r.uid.as_str()) || (plural == "pods" && deleting) {
                tracing::debug!(%plural, name = %r.name, "service-account token refused: bound object gone");
                return Err(ApiError::Unauthorized);
            }
        }
        Ok(user_of(&claims))
    }
}

/// PURE — the `audiences` of a TokenRequest or TokenReview spec (empty if none).
pub fn audiences(spec: Option<&Value>) -> Vec<String> {
    spec.and_then(|s| s.get("audiences"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(String::from)
        .collect()
}

/// The user of a request's `Authorization: Bearer` header: `Ok(None)` without one, the node
/// agents' user for the join token, a service account for one of its tokens, and 401 for any
/// other token (like upstream, a bad credential is not treated as anonymous).
pub async fn authenticate_bearer(
    state: &AppState,
    authorization: Option<&str>,
) -> Result<Option<User>, ApiError> {
    match crate::join::authenticate(state.join_token.as_ref(), authorization) {
        Ok(user) => Ok(user),
        Err(crate::join::BadToken) => {
            let token = authorization
                .and_then(|h| h.strip_prefix("Bearer "))
                .unwrap_or("")
                .trim();
            if !Verifier::looks_like_jwt(token) {
                return Err(ApiError::Unauthorized);
            }
            let now = state.now().timestamp();
            state
                .service_accounts
                .authenticate(&state.storage, token, now)
                .await
                .map(Some)
        }
    }
}

/// PURE — the user a valid token's claims make: upstream's name, groups and extra.
pub fn user_of(claims: &Claims) -> User {
    let k = &claims.kubernetes;
    let mut extra = BTreeMap::new();
    if let Some(p) = &k.pod {
        extra.insert(
            "authentication.kubernetes.io/pod-name".into(),
            vec![p.name.clone()],
        );
        extra.insert(
            "authentication.kubernetes.io/pod-uid".into(),
            vec![p.uid.clone()],
        );
    }
    if let Some(n) = &k.node {
        extra.insert(
            "authentication.kubernetes.io/node-name".into(),
            vec![n.name.clone()],
        );
        extra.insert(
            "authentication.kubernetes.io/node-uid".into(),
            vec![n.uid.clone()],
        );
    }
    extra.insert(
        "authentication.kubernetes.io/credential-id".into(),
        vec![format!("JTI={}", claims.jti)],
    );
    User {
        name: format!(
            "system:serviceaccount:{}:{}",
            k.namespace, k.serviceaccount.name
        ),
        groups: vec![
            ALL_GROUP.into(),
            format!("{ALL_GROUP}:{}", k.namespace),
            "system:authenticated".into(),
        ],
        uid: k.serviceaccount.uid.clone(),
        extra,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jwt::Ref;

    #[test]
    fn only_tokens_for_this_issuer_and_audience_are_accepted() {
        let tokens = Tokens::new(SigningKey::generate().unwrap());
        let mk = |iss: &str, aud: &str| {
            let c = Claims::new(
                iss,
                vec![aud.into()],
                "ns",
                Ref::new("sa", "u"),
                100,
                3600,
                "j",
            );
            tokens.sign(&c).unwrap()
        };
        assert!(tokens.claims(&mk(ISSUER, ISSUER), 200).is_some());
        assert!(tokens.claims(&mk(ISSUER, "vault"), 200).is_none());
        assert!(tokens
            .claims(&mk("https://elsewhere", ISSUER), 200)
            .is_none());
        assert!(tokens.claims(&mk(ISSUER, ISSUER), 3700).is_none());
    }

    #[test]
    fn the_user_has_upstreams_name_groups_and_extra() {
        let mut c = Claims::new(
            ISSUER,
            vec![],
            "team-a",
            Ref::new("ci", "sa-uid"),
            0,
            600,
            "j-7",
        );
        c.kubernetes.pod = Some(Ref::new("web-0", "pod-uid"));
        c.kubernetes.node = Some(Ref::new("n1", "node-uid"));
        let u = user_of(&c);
        assert_eq!(u.name, "system:serviceaccount:team-a:ci");
        assert_eq!(
            u.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:team-a",
                "system:authenticated"
            ]
        );
        assert_eq!(u.uid, "sa-uid");
        assert_eq!(u.extra["authentication.kubernetes.io/pod-name"], ["web-0"]);
        assert_eq!(u.extra["authentication.kubernetes.io/node-name"], ["n1"]);
        assert_eq!(
            u.extra["authentication.kubernetes.io/credential-id"],
            ["JTI=j-7"]
        );
    }
}
