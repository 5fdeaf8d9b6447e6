//! [`ApiError`]: the single error type that reaches API clients, rendered as a meta/v1 `Status`
//! with upstream's code, reason and wording.

use serde_json::{json, Value};

/// What is wrong with one field, as upstream's `field.ErrorType`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// `Required value`
    Required,
    /// `Invalid value: <value>: <detail>`
    Invalid(Value),
    /// `Unsupported value: <value>: supported values: ...`
    NotSupported(Value, Vec<String>),
    /// `Duplicate value: <value>`
    Duplicate(Value),
    /// `Forbidden: <detail>`
    Forbidden,
    /// `Too long: may not be more than <n> bytes`
    TooLong(usize),
    /// `field not declared in schema` (strict decoding)
    Unknown,
}

/// One invalid field with its path (`spec.containers[0].image`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field path.
    pub field: String,
    /// What is wrong.
    pub kind: FieldErrorKind,
    /// Extra explanation appended to the message.
    pub detail: String,
}

impl FieldError {
    /// A missing required field.
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            kind: FieldErrorKind::Required,
            detail: detail.into(),
        }
    }
    /// A field whose value is invalid.
    pub fn invalid(
        field: impl Into<String>,
        value: impl Into<Value>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            kind: FieldErrorKind::Invalid(value.into()),
            detail: detail.into(),
        }
    }
    /// A value not in the supported set.
    pub fn not_supported(
        field: impl Into<String>,
        value: impl Into<Value>,
        supported: &[&str],
    ) -> Self {
        Self {
            field: field.into(),
            kind: FieldErrorKind::NotSupported(
                value.into(),
                supported.iter().map(|s| s.to_string()).collect(),
            ),
            detail: String::new(),
        }
    }
    /// A duplicated value.
    pub fn duplicate(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self {
            field: field.into(),
            kind: FieldErrorKind::Duplicate(value.into()),
            detail: String::new(),
        }
    }
    /// A forbidden field or change.
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            kind: FieldErrorKind::Forbidden,
            detail: detail.into(),
        }
    }

    /// Upstream's `reason` for a `StatusCause`.
    pub fn cause_reason(&self) -> &'static str {
        match self.kind {
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::Invalid(_) => "FieldValueInvalid",
            FieldErrorKind::NotSupported(..) => "FieldValueNotSupported",
            FieldErrorKind::Duplicate(_) => "FieldValueDuplicate",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
            FieldErrorKind::TooLong(_) => "FieldValueTooLong",
            FieldErrorKind::Unknown => "FieldValueInvalid",
        }
    }

    /// The message without the field path (`Required value`, `Invalid value: "x": ...`).
    pub fn body(&self) -> String {
        let detail = |s: String| {
            if self.detail.is_empty() {
                s
            } else {
                format!("{s}: {}", self.detail)
            }
        };
        match &self.kind {
            FieldErrorKind::Required => detail("Required value".into()),
            FieldErrorKind::Invalid(v) => detail(format!("Invalid value: {}", show(v))),
            FieldErrorKind::NotSupported(v, s) => {
                let list: Vec<String> = s.iter().map(|x| format!("{x:?}")).collect();
                format!(
                    "Unsupported value: {}: supported values: {}",
                    show(v),
                    list.join(", ")
                )
            }
            FieldErrorKind::Duplicate(v) => format!("Duplicate value: {}", show(v)),
            FieldErrorKind::Forbidden => detail("Forbidden".into()),
            FieldErrorKind::TooLong(n) => format!("Too long: may not be more than {n} bytes"),
            FieldErrorKind::Unknown => "field not declared in schema".into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.body())
        } else {
            write!(f, "{}: {}", self.field, self.body())
        }
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// Identifies the object an error is about (boxed so errors stay small to pass around).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target(Box<TargetFields>);

impl std::ops::Deref for Target {
    type Target = TargetFields;
    fn deref(&self) -> &TargetFields {
        &self.0
    }
}

/// The fields of a [`Target`]: the plural resource (`pods`) names the object in most errors,
/// the kind (`Deployment.apps`) in Invalid.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetFields {
    /// API group.
    pub group: String,
    /// Plural resource.
    pub resource: String,
    /// Kind.
    pub kind: String,
    /// Object name.
    pub name: String,
}

impl Target {
    /// A target for `resource` in `group` named `name`.
    pub fn new(group: &str, resource: &str, kind: &str, name: &str) -> Self {
        Self(Box::new(TargetFields {
            group: group.into(),
            resource: resource.into(),
            kind: kind.into(),
            name: name.into(),
        }))
    }
}

impl TargetFields {
    fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }
    fn group_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }
}

/// Every error a client can see. [`ApiError::to_status`] renders upstream's `Status`.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// 404 NotFound.
    #[error("{} {:?} not found", .0.group_resource(), .0.name)]
    NotFound(Target),
    /// 409 AlreadyExists.
    #[error("{} {:?} already exists", .0.group_resource(), .0.name)]
    AlreadyExists(Target),
    /// 409 Conflict on a stale resourceVersion (or another conflict with a message).
    #[error("Operation cannot be fulfilled on {} {:?}: {}", .0.group_resource(), .0.name, .1)]
    Conflict(Target, String),
    /// 409 Conflict of server-side apply: the message and (field, message) causes.
    #[error("{0}")]
    ApplyConflict(String, Vec<(String, String)>),
    /// 422 Invalid with field causes.
    #[error("{} {:?} is invalid: {}", .0.group_kind(), .0.name, join_causes(.1))]
    Invalid(Target, Vec<FieldError>),
    /// 400 BadRequest.
    #[error("{0}")]
    BadRequest(String),
    /// 401 Unauthorized.
    #[error("Unauthorized")]
    Unauthorized,
    /// 403 Forbidden.
    #[error("{0}")]
    Forbidden(String),
    /// 404 for a path that names no resource.
    #[error("the server could not find the requested resource")]
    NoResource,
    /// 405 MethodNotAllowed.
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    /// 406 NotAcceptable.
    #[error("{0}")]
    NotAcceptable(String),
    /// 410 Expired: a resourceVersion older than the compacted history.
    #[error("{0}")]
    Expired(String),
    /// 413 RequestEntityTooLarge.
    #[error("Request entity too large: {0}")]
    TooLarge(String),
    /// 415 UnsupportedMediaType.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 429 TooManyRequests.
    #[error("{0}")]
    TooManyRequests(String),
    /// 429 TooManyRequests from the eviction subresource: the pod's PodDisruptionBudget allows
    /// no disruption now; the cause (reason `DisruptionBudget`) says why.
    /// The second field is `details.retryAfterSeconds` (0: unset).
    #[error("Cannot evict pod as it would violate the pod's disruption budget.")]
    DisruptionBudget(String, i32),
    /// 500 InternalError: a bug or a backend failure.
    #[error("Internal error occurred: {0}")]
    Internal(String),
    /// 503 ServiceUnavailable.
    #[error("{0}")]
    Unavailable(String),
    /// 504 Timeout.
    #[error("{0}")]
    Timeout(String),
}

fn join_causes(c: &[FieldError]) -> String {
    match c {
        [one] => one.to_string(),
        many => format!(
            "[{}]",
            many.iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl ApiError {
    /// A stale-resourceVersion conflict with upstream's wording.
    pub fn stale(target: Target) -> Self {
        ApiError::Conflict(
            target,
            "the object has been modified; please apply your changes to the latest version and try again".into(),
        )
    }

    /// HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            ApiError::NotFound(_) | ApiError::NoResource => 404,
            ApiError::AlreadyExists(_) | ApiError::Conflict(..) | ApiError::ApplyConflict(..) => {
                409
            }
            ApiError::Invalid(..) => 422,
            ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::MethodNotAllowed => 405,
            ApiError::NotAcceptable(_) => 406,
            ApiError::Expired(_) => 410,
            ApiError::TooLarge(_) => 413,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::TooManyRequests(_) | ApiError::DisruptionBudget(..) => 429,
            ApiError::Internal(_) => 500,
            ApiError::Unavailable(_) => 503,
            ApiError::Timeout(_) => 504,
        }
    }

    /// Upstream's `reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound(_) | ApiError::NoResource => "NotFound",
            ApiError::AlreadyExists(_) => "AlreadyExists",
            ApiError::Conflict(..) | ApiError::ApplyConflict(..) => "Conflict",
            ApiError::Invalid(..) => "Invalid",
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::MethodNotAllowed => "MethodNotAllowed",
            ApiError::NotAcceptable(_) => "NotAcceptable",
            ApiError::Expired(_) => "Expired",
            ApiError::TooLarge(_) => "RequestEntityTooLarge",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::TooManyRequests(_) | ApiError::DisruptionBudget(..) => "TooManyRequests",
            ApiError::Internal(_) => "InternalError",
            ApiError::Unavailable(_) => "ServiceUnavailable",
            ApiError::Timeout(_) => "Timeout",
        }
    }

    /// The meta/v1 `Status` object.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code(),
        });
        let details = match self {
            ApiError::NotFound(t) | ApiError::AlreadyExists(t) | ApiError::Conflict(t, _) => {
                Some(details(t, &t.resource, &[]))
            }
            ApiError::Invalid(t, causes) => Some(details(t, &t.kind, causes)),
            ApiError::ApplyConflict(_, causes) => Some(
                json!({"causes": causes.iter().map(|(f, m)| json!({"reason": "FieldManagerConflict", "message": m, "field": f})).collect::<Vec<_>>()}),
            ),
            ApiError::DisruptionBudget(cause, retry) => {
                let mut d = json!({"causes": [{"reason": "DisruptionBudget", "message": cause}]});
                if *retry > 0 {
                    d["retryAfterSeconds"] = json!(retry);
                }
                Some(d)
            }
            _ => None,
        };
        if let Some(d) = details {
            status["details"] = d;
        }
        status
    }
}

fn details(t: &Target, kind: &str, causes: &[FieldError]) -> Value {
    let mut d = serde_json::Map::new();
    if !t.name.is_empty() {
        d.insert("name".into(), json!(t.name));
    }
    if !t.group.is_empty() {
        d.insert("group".into(), json!(t.group));
    }
    d.insert("kind".into(), json!(kind));
    if !causes.is_empty() {
        d.insert(
            "causes".into(),
            Value::Array(
                causes
                    .iter()
                    .map(|c| json!({"reason": c.cause_reason(), "message": c.body(), "field": c.field}))
                    .collect(),
            ),
        );
    }
    Value::Object(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_uses_group_resource_and_name() {
        let e = ApiError::NotFound(Target::new("apps", "deployments", "Deployment", "web"));
        assert_eq!(e.to_string(), r#"deployments.apps "web" not found"#);
        let s = e.to_status();
        assert_eq!(s["code"], 404);
        assert_eq!(s["reason"], "NotFound");
        assert_eq!(s["details"]["kind"], "deployments");
    }

    #[test]
    fn invalid_lists_every_cause_like_upstream() {
        let t = Target::new("", "pods", "Pod", "web");
        let one = ApiError::Invalid(t.clone(), vec![FieldError::required("spec.containers", "")]);
        assert_eq!(
            one.to_string(),
            r#"Pod "web" is invalid: spec.containers: Required value"#
        );
        let two = ApiError::Invalid(
            t,
            vec![
                FieldError::required("spec.containers[0].image", ""),
                FieldError::invalid("metadata.name", "A_B", "a lowercase RFC 1123 subdomain"),
            ],
        );
        assert_eq!(
            two.to_string(),
            r#"Pod "web" is invalid: [spec.containers[0].image: Required value, metadata.name: Invalid value: "A_B": a lowercase RFC 1123 subdomain]"#
        );
        assert_eq!(
            two.to_status()["details"]["causes"][1]["reason"],
            "FieldValueInvalid"
        );
    }

    #[test]
    fn conflict_has_upstream_wording() {
        let e = ApiError::stale(Target::new("", "configmaps", "ConfigMap", "c"));
        assert_eq!(e.code(), 409);
        assert!(e.to_string().starts_with(
            r#"Operation cannot be fulfilled on configmaps "c": the object has been modified"#
        ));
    }
}
