//! The authentication.k8s.io reviews: POST `selfsubjectreviews` (who am I — what
//! `kubectl auth whoami` calls) and POST `tokenreviews` (is this token valid, and whose is it).

use super::{respond, Cx};
use crate::pipeline::User;
use axum::response::Response;
use http::StatusCode;
use serde_json::{json, Value};
use skiff_api::ApiError;

/// PURE — upstream's `UserInfo` of a user.
pub fn user_info(u: &User) -> Value {
    let mut info = json!({"username": u.name, "groups": u.groups});
    if !u.uid.is_empty() {
        info["uid"] = json!(u.uid);
    }
    if !u.extra.is_empty() {
        info["extra"] = json!(u.extra);
    }
    info
}

/// POST `selfsubjectreviews` or `tokenreviews`.
pub async fn create(cx: &Cx) -> Result<Response, ApiError> {
    let ty = crate::negotiate::request_body_type(&cx.headers)?;
    let body = crate::negotiate::decode_as(&cx.body, ty)?.value;
    let mut out = json!({
        "kind": cx.res.kind,
        "apiVersion": format!("{}/{}", cx.res.group, cx.res.version),
        "metadata": {"creationTimestamp": null},
    });
    match cx.res.plural.as_str() {
        "selfsubjectreviews" => {
            out["status"] = json!({"userInfo": user_info(&cx.user)});
        }
        "tokenreviews" => {
            let token = body
                .pointer("/spec/token")
                .and_then(Value::as_str)
                .unwrap_or("");
            out["spec"] = body.get("spec").cloned().unwrap_or_else(|| json!({}));
            let header = format!("Bearer {token}");
            let tokens = &cx.state.service_accounts;
            let wanted = crate::serviceaccount::audiences(body.get("spec"));
            let audiences = if wanted.is_empty() {
                tokens.audiences.clone()
            } else {
                wanted
                    .into_iter()
                    .filter(|a| tokens.audiences.contains(a))
                    .collect()
            };
            let user = if token.is_empty() || audiences.is_empty() {
                Err(ApiError::Unauthorized)
            } else {
                crate::serviceaccount::authenticate_bearer(&cx.state, Some(&header))
                    .await
                    .and_then(|u| u.ok_or(ApiError::Unauthorized))
            };
            out["status"] = match user {
                Ok(u) => {
                    json!({"authenticated": true, "user": user_info(&u), "audiences": audiences})
                }
                Err(ApiError::Unauthorized) => {
                    json!({"user": {}, "error": "[invalid bearer token, service account token is not valid]"})
                }
                Err(e) => return Err(e),
            };
        }
        _ => return Err(ApiError::MethodNotAllowed),
    }
    Ok(respond(StatusCode::CREATED, &out, &cx.output, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_leaves_out_an_empty_uid_and_extra() {
        let u = User::new("system:admin", vec!["system:masters".into()]);
        assert_eq!(
            user_info(&u),
            json!({"username": "system:admin", "groups": ["system:masters"]})
        );
        let mut sa = u.clone();
        sa.uid = "u1".into();
        sa.extra.insert("k".into(), vec!["v".into()]);
        assert_eq!(user_info(&sa)["extra"], json!({"k": ["v"]}));
        assert_eq!(user_info(&sa)["uid"], "u1");
    }
}
