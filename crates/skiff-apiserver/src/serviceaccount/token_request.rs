//! POST `serviceaccounts/{name}/token` (authentication.k8s.io/v1 TokenRequest): mints a token
//! for the ServiceAccount, optionally bound to a Pod, Secret or Node, like upstream's TokenREST.
//! [`parse`] checks the request (pure); [`create`] looks the objects up and signs.

use super::jwt::{Claims, Ref};
use crate::handlers::{respond, Cx};
use axum::response::Response;
use chrono::{DateTime, SecondsFormat, Utc};
use http::StatusCode;
use serde_json::{json, Value};
use skiff_api::error::Target;
use skiff_api::{ApiError, FieldError};

/// A token's lifetime when the request names none (upstream: one hour).
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// The shortest lifetime a request may ask for (upstream: ten minutes).
pub const MIN_EXPIRATION_SECONDS: i64 = 600;
/// The longest (upstream: 2^32 seconds).
pub const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;

/// The object a token is bound to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoundRef {
    /// `Pod`, `Secret` or `Node`.
    pub kind: String,
    /// Name.
    pub name: String,
    /// UID the caller expects (empty: any).
    pub uid: String,
}

/// A checked TokenRequest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Audiences (the API server's when the request names none).
    pub audiences: Vec<String>,
    /// Lifetime in seconds.
    pub expiration_seconds: i64,
    /// The bound object, if any.
    pub bound: Option<BoundRef>,
    /// The request as sent, with defaults filled in (echoed back with a status).
    pub echo: Value,
}

fn invalid(sa: &str, e: FieldError) -> ApiError {
    ApiError::Invalid(
        Target::new("authentication.k8s.io", "tokenrequests", "TokenRequest", sa),
        vec![e],
    )
}

/// PURE — checks a TokenRequest for ServiceAccount `sa` and fills in upstream's defaults.
pub fn parse(body: &Value, sa: &str, default_audiences: &[String]) -> Result<Request, ApiError> {
    let spec = body.get("spec").cloned().unwrap_or_else(|| json!({}));
    let mut audiences = super::audiences(Some(&spec));
    if audiences.is_empty() {
        audiences = default_audiences.to_vec();
    }
    let expiration_seconds = match spec.get("expirationSeconds") {
        None | Some(Value::Null) => DEFAULT_EXPIRATION_SECONDS,
        Some(v) => v.as_i64().ok_or_else(|| {
            invalid(
                sa,
                FieldError::invalid("spec.expirationSeconds", v.clone(), "must be an integer"),
            )
        })?,
    };
    if expiration_seconds < MIN_EXPIRATION_SECONDS {
        return Err(invalid(
            sa,
            FieldError::invalid(
                "spec.expirationSeconds",
                expiration_seconds,
                "may not specify a duration less than 10 minutes",
            ),
        ));
    }
    if expiration_seconds > MAX_EXPIRATION_SECONDS {
        return Err(invalid(
            sa,
            FieldError::invalid(
                "spec.expirationSeconds",
                expiration_seconds,
                "may not specify a duration larger than 2^32 seconds",
            ),
        ));
    }
    let bound = match spec.get("boundObjectRef").filter(|b| !b.is_null()) {
        None => None,
        Some(b) => {
            let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let (kind, api_version) = (s("kind"), s("apiVersion"));
            if !matches!(kind.as_str(), "Pod" | "Secret" | "Node") || api_version != "v1" {
                let gvk = if api_version.is_empty() {
                    format!(", Kind={kind}")
                } else {
                    format!("{api_version}, Kind={kind}")
                };
                return Err(ApiError::BadRequest(format!(
                    "cannot bind token to object of type {}",
                    gvk.trim_start_matches(", ")
                )));
            }
            Some(BoundRef {
                kind,
                name: s("name"),
                uid: s("uid"),
            })
        }
    };
    let mut echo = json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": body.get("metadata").cloned().unwrap_or_else(|| json!({})),
        "spec": spec,
    });
    echo["spec"]["audiences"] = json!(audiences);
    echo["spec"]["expirationSeconds"] = json!(expiration_seconds);
    if bound.is_none() {
        echo["spec"]["boundObjectRef"] = Value::Null;
    }
    Ok(Request {
        audiences,
        expiration_seconds,
        bound,
        echo,
    })
}

fn uid_of(o: &Value) -> String {
    o.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// POST `serviceaccounts/{name}/token`.
pub async fn create(cx: &Cx) -> Result<Response, ApiError> {
    let st = &cx.state.storage;
    let tokens = &cx.state.service_accounts;
    let ty = crate::negotiate::request_body_type(&cx.headers)?;
    let body = crate::negotiate::decode_as(&cx.body, ty)?.value;
    let (ns, sa_name) = (cx.namespace().to_string(), cx.info.name.clone());
    let req = parse(&body, &sa_name, &tokens.audiences)?;
    let (_, sa) = st.get_kv(&cx.res, &ns, &sa_name).await?;
    let now = cx.state.now();
    let mut claims = Claims::new(
        &tokens.issuer,
        req.audiences.clone(),
        &ns,
        Ref::new(&sa_name, uid_of(&sa)),
        now.timestamp(),
        req.expiration_seconds,
        &uuid::Uuid::new_v4().to_string(),
    );
    let mut bound_uid = None;
    if let Some(b) = &req.bound {
        let (plural, namespaced) = match b.kind.as_str() {
            "Pod" => ("pods", true),
            "Secret" => ("secrets", true),
            _ => ("nodes", false),
        };
        let res = st
            .registry
            .by_plural("", "v1", plural)
            .ok_or_else(|| ApiError::Internal(format!("{plural} are not served")))?;
        let (_, obj) = st
            .get_kv(&res, if namespaced { &ns } else { "" }, &b.name)
            .await?;
        let uid = uid_of(&obj);
        if !b.uid.is_empty() && b.uid != uid {
            return Err(ApiError::Conflict(
                Target::new("", &b.kind, &b.kind, &b.name),
                format!("the UID in the bound object reference ({}) does not match the UID in record. The object might have been deleted and then recreated", b.uid),
            ));
        }
        bound_uid = Some(uid.clone());
        let r = Ref::new(&b.name, uid);
        match b.kind.as_str() {
            "Pod" => {
                let runs_as = obj
                    .pointer("/spec/serviceAccountName")
                    .and_then(Value::as_str)
                    .unwrap_or("default");
                if runs_as != sa_name {
                    return Err(ApiError::BadRequest(format!(
                        "cannot bind token for serviceaccount {sa_name:?} to pod running with different serviceaccount name."
                    )));
                }
                if let Some(node) = obj
                    .pointer("/spec/nodeName")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                {
                    let nodes = st.registry.by_plural("", "v1", "nodes");
                    if let Some(nodes) = nodes {
                        if let Some((_, n)) = st.try_get(&nodes, "", node).await? {
                            claims.kubernetes.node = Some(Ref::new(node, uid_of(&n)));
                        }
                    }
                }
                claims.kubernetes.pod = Some(r);
            }
            "Secret" => claims.kubernetes.secret = Some(r),
            _ => claims.kubernetes.node = Some(r),
        }
    }
    let token = tokens.sign(&claims)?;
    let mut out = req.echo;
    let meta = &mut out["metadata"];
    if meta
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        meta["name"] = json!(sa_name);
    }
    meta["namespace"] = json!(ns);
    meta["creationTimestamp"] = json!(rfc3339(now));
    if let Some(uid) = bound_uid {
        out["spec"]["boundObjectRef"]["uid"] = json!(uid);
    }
    let expires = now + chrono::Duration::seconds(req.expiration_seconds);
    out["status"] = json!({"token": token, "expirationTimestamp": rfc3339(expires)});
    Ok(respond(StatusCode::CREATED, &out, &cx.output, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auds() -> Vec<String> {
        vec![super::super::ISSUER.into()]
    }

    #[test]
    fn defaults_are_an_hour_and_the_api_audience() {
        let r = parse(&json!({"spec": {}}), "default", &auds()).unwrap();
        assert_eq!(r.expiration_seconds, 3600);
        assert_eq!(r.audiences, auds());
        assert_eq!(r.bound, None);
        assert_eq!(r.echo["spec"]["expirationSeconds"], 3600);
        let r = parse(
            &json!({"spec": {"audiences": ["vault"], "expirationSeconds": 7200,
                "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web"}}}),
            "default",
            &auds(),
        )
        .unwrap();
        assert_eq!(r.audiences, ["vault"]);
        assert_eq!(r.bound.unwrap().name, "web");
    }

    #[test]
    fn short_long_and_unbindable_requests_are_refused_like_upstream() {
        let e = parse(&json!({"spec": {"expirationSeconds": 60}}), "ci", &auds()).unwrap_err();
        assert_eq!(e.code(), 422);
        assert_eq!(
            e.to_string(),
            "TokenRequest.authentication.k8s.io \"ci\" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes"
        );
        let e = parse(
            &json!({"spec": {"expirationSeconds": (1i64 << 32) + 1}}),
            "ci",
            &auds(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("larger than 2^32 seconds"), "{e}");
        let e = parse(
            &json!({"spec": {"boundObjectRef": {"kind": "ConfigMap", "apiVersion": "v1", "name": "x"}}}),
            "ci",
            &auds(),
        )
        .unwrap_err();
        assert_eq!(e.code(), 400);
        assert_eq!(
            e.to_string(),
            "cannot bind token to object of type v1, Kind=ConfigMap"
        );
    }
}
