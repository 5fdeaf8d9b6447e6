//! The named stages every API request passes: authentication → authorization → admission.
//! Each stage is a trait so later work (tokens, RBAC, webhooks) only adds implementations.

use serde_json::Value;
use skiff_api::ApiError;

/// An authenticated user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct User {
    /// User name (`system:admin`).
    pub name: String,
    /// Groups (`system:masters`, `system:authenticated`).
    pub groups: Vec<String>,
    /// UID (a ServiceAccount's uid for its tokens; empty otherwise).
    pub uid: String,
    /// Extra attributes (`authentication.kubernetes.io/pod-name`, ...).
    pub extra: std::collections::BTreeMap<String, Vec<String>>,
}

impl User {
    /// A user with a name and groups.
    pub fn new(name: impl Into<String>, groups: Vec<String>) -> Self {
        Self {
            name: name.into(),
            groups,
            ..Self::default()
        }
    }

    /// The anonymous user of a request without credentials.
    pub fn anonymous() -> Self {
        Self::new("system:anonymous", vec!["system:unauthenticated".into()])
    }
    /// True for the anonymous user.
    pub fn is_anonymous(&self) -> bool {
        self.name == "system:anonymous"
    }
}

/// What a request wants to do, as an authorizer sees it.
#[derive(Clone, Debug)]
pub struct Attributes<'a> {
    /// The user.
    pub user: &'a User,
    /// Kubernetes verb (`get`, `list`, `watch`, `create`, ...).
    pub verb: &'a str,
    /// API group.
    pub group: &'a str,
    /// Resource (plural).
    pub resource: &'a str,
    /// Subresource, if any.
    pub subresource: &'a str,
    /// Namespace, if any.
    pub namespace: &'a str,
    /// Object name, if any.
    pub name: &'a str,
    /// Non-resource path (`/healthz`) when `resource` is empty.
    pub path: &'a str,
}

/// Decides whether a request may proceed.
pub trait Authorizer: Send + Sync {
    /// `Ok(())` to allow, `Err(Forbidden)` to deny.
    fn authorize(&self, attrs: &Attributes<'_>) -> Result<(), ApiError>;
}

/// Allows every authenticated request (RBAC comes later).
#[derive(Debug, Default)]
pub struct AllowAll;

impl Authorizer for AllowAll {
    fn authorize(&self, attrs: &Attributes<'_>) -> Result<(), ApiError> {
        if attrs.user.is_anonymous() && !attrs.resource.is_empty() {
            return Err(ApiError::Unauthorized);
        }
        Ok(())
    }
}

/// The operation an admission plugin sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// POST
    Create,
    /// PUT / PATCH
    Update,
    /// DELETE
    Delete,
}

/// A request as admission sees it.
#[derive(Debug)]
pub struct AdmissionRequest<'a> {
    /// The operation.
    pub operation: Operation,
    /// The user.
    pub user: &'a User,
    /// The resource.
    pub resource: &'a skiff_api::ResourceInfo,
    /// Subresource (`status`), empty for the main resource.
    pub subresource: &'a str,
    /// The previous object on update and delete.
    pub old: Option<&'a Value>,
    /// Dry run: plugins must not have side effects.
    pub dry_run: bool,
}

/// A mutating admission plugin: may change the object.
pub trait MutatingAdmission: Send + Sync {
    /// Name, for logs.
    fn name(&self) -> &'static str;
    /// Mutates `obj` or refuses the request.
    fn admit(&self, req: &AdmissionRequest<'_>, obj: &mut Value) -> Result<(), ApiError>;
}

/// A validating admission plugin: may only accept or refuse.
pub trait ValidatingAdmission: Send + Sync {
    /// Name, for logs.
    fn name(&self) -> &'static str;
    /// Refuses the request with an error, or accepts it.
    fn validate(&self, req: &AdmissionRequest<'_>, obj: &Value) -> Result<(), ApiError>;
}

/// The admission chain: every mutating plugin, then every validating one.
#[derive(Default)]
pub struct Admission {
    /// Mutating plugins in order.
    pub mutating: Vec<Box<dyn MutatingAdmission>>,
    /// Validating plugins in order.
    pub validating: Vec<Box<dyn ValidatingAdmission>>,
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission")
            .field(
                "mutating",
                &self.mutating.iter().map(|m| m.name()).collect::<Vec<_>>(),
            )
            .field(
                "validating",
                &self.validating.iter().map(|m| m.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Admission {
    /// Runs the chain on `obj`.
    pub fn run(&self, req: &AdmissionRequest<'_>, obj: &mut Value) -> Result<(), ApiError> {
        for m in &self.mutating {
            m.admit(req, obj)?;
        }
        for v in &self.validating {
            v.validate(req, obj)?;
        }
        Ok(())
    }
}
