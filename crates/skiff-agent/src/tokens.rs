//! The token manager (the kubelet's): fetches bound service-account tokens for the pods'
//! `serviceAccountToken` projections through the TokenRequest API and reuses each one until
//! 80% of its lifetime, or 24 hours, has passed — then the volume gets a fresh token.

use crate::podsync::volumes::TokenKey;
use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::api::{Api, PostParams};
use kube::ResourceExt;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The oldest a token may get before it is replaced, whatever its lifetime (upstream: 24 h).
pub const MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// PURE — whether a token fetched `age` ago with lifetime `ttl` is due for replacement.
pub fn needs_refresh(age: Duration, ttl: Duration) -> bool {
    age >= ttl.mul_f64(0.8) || age >= MAX_AGE
}

#[derive(Clone, Debug)]
struct Cached {
    token: String,
    fetched: Instant,
    ttl: Duration,
}

fn message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        e => e.to_string(),
    }
}

/// Bound tokens by pod uid and projection.
#[derive(Clone)]
pub struct TokenManager {
    client: kube::Client,
    cache: Arc<Mutex<HashMap<(String, TokenKey), Cached>>>,
}

impl TokenManager {
    /// A manager that requests tokens with the agent's client.
    pub fn new(client: kube::Client) -> Self {
        TokenManager {
            client,
            cache: Default::default(),
        }
    }

    /// A token for `pod`'s ServiceAccount, bound to the pod, as projection `key` asks.
    pub async fn get(&self, pod: &Pod, key: &TokenKey) -> Result<String, String> {
        let uid = pod.uid().unwrap_or_default();
        let id = (uid.clone(), key.clone());
        if let Some(c) = self.lock().get(&id) {
            if !needs_refresh(c.fetched.elapsed(), c.ttl) {
                return Ok(c.token.clone());
            }
        }
        let sa_name = pod
            .spec
            .as_ref()
            .and_then(|s| s.service_account_name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".into());
        let request = TokenRequest {
            spec: TokenRequestSpec {
                audiences: if key.audience.is_empty() {
                    Vec::new()
                } else {
                    vec![key.audience.clone()]
                },
                expiration_seconds: Some(key.expiration_seconds),
                bound_object_ref: Some(BoundObjectReference {
                    api_version: Some("v1".into()),
                    kind: Some("Pod".into()),
                    name: Some(pod.name_any()),
                    uid: Some(uid),
                }),
            },
            ..Default::default()
        };
        let accounts: Api<ServiceAccount> =
            Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
        let started = Instant::now();
        let answer: TokenRequest = accounts
            .create_subresource("token", &sa_name, &PostParams::default(), &request)
            .await
            .map_err(|e| format!("failed to fetch token: {}", message(&e)))?;
        let status = answer
            .status
            .ok_or("failed to fetch token: the TokenRequest came back without a status")?;
        let left = status.expiration_timestamp.0.as_second()
            - k8s_openapi::jiff::Timestamp::now().as_second();
        let ttl = Duration::from_secs(if left > 0 {
            left as u64
        } else {
            key.expiration_seconds.max(0) as u64
        });
        self.lock().insert(
            id,
            Cached {
                token: status.token.clone(),
                fetched: started,
                ttl,
            },
        );
        Ok(status.token)
    }

    /// Forgets the tokens of pods not in `live`.
    pub fn retain(&self, live: &HashSet<String>) {
        self.lock().retain(|(uid, _), _| live.contains(uid));
    }

    /// Forgets the tokens of pod `uid`.
    pub fn forget(&self, uid: &str) {
        self.lock().retain(|(u, _), _| u != uid);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, TokenKey), Cached>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_replaced_at_eighty_percent_of_their_life_or_after_a_day() {
        let hour = Duration::from_secs(3600);
        assert!(!needs_refresh(Duration::from_secs(2879), hour));
        assert!(needs_refresh(Duration::from_secs(2880), hour));
        let year = Duration::from_secs(365 * 24 * 3600);
        assert!(!needs_refresh(Duration::from_secs(23 * 3600), year));
        assert!(needs_refresh(MAX_AGE, year));
    }
}
