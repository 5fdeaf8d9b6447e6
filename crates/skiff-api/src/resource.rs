//! The description of one served resource: everything discovery, routing and storage need.

use std::sync::Arc;

/// Whether objects of a resource live in a namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Objects live in a namespace (`/namespaces/{ns}/pods/{name}`).
    Namespaced,
    /// Objects are cluster-wide (`/nodes/{name}`).
    Cluster,
}

/// The verbs a normal storable resource supports, as discovery lists them.
pub const STORABLE_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// Decodes JSON into a kind's type and encodes it again (see [`ResourceInfo::normalize`]).
pub type NormalizeFn = fn(&serde_json::Value) -> Result<serde_json::Value, String>;

/// One resource at one group/version.
///
/// ```
/// let reg = skiff_api::Registry::builtin();
/// let pods = reg.by_plural("", "v1", "pods").unwrap();
/// assert_eq!(pods.kind, "Pod");
/// assert_eq!(pods.short_names, vec!["po"]);
/// ```
#[derive(Clone, Debug)]
pub struct ResourceInfo {
    /// API group, empty for the core group.
    pub group: String,
    /// API version within the group, e.g. `v1`.
    pub version: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Kind of the list, e.g. `DeploymentList`.
    pub list_kind: String,
    /// Plural resource name used in paths, e.g. `deployments`.
    pub plural: String,
    /// Singular name, e.g. `deployment`.
    pub singular: String,
    /// Namespaced or cluster-scoped.
    pub scope: Scope,
    /// Short names (`deploy`).
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Verbs served on the main resource.
    pub verbs: Vec<String>,
    /// Whether a `/status` subresource is served.
    pub status_subresource: bool,
    /// Whether a `/scale` subresource is served, and the JSON paths it maps.
    pub scale: Option<ScaleInfo>,
    /// OpenAPI definition name of the kind (`io.k8s.api.apps.v1.Deployment`); for custom
    /// resources `<group>.<version>.<kind>` reversed as upstream does.
    pub definition: String,
    /// The storage key segment (`deployments`, `services/specs`, `<group>/<plural>` for custom
    /// resources), as kube-apiserver lays out etcd. Resources that share it share their objects.
    pub storage_resource: String,
    /// The apiVersion objects are stored in (`v1` for `events.k8s.io/v1` Events, whose storage
    /// is core Events'); reads and writes convert with [`crate::conversion::convert`].
    pub storage_version: String,
    /// True for custom resources defined by a CRD.
    pub custom: bool,
    /// Whether the kind has a spec whose changes bump `metadata.generation`.
    pub has_generation: bool,
    /// Decodes a JSON object into the kind's type and encodes it again, as upstream's decoding
    /// into Go structs does: wrong types are errors, unknown fields are dropped (None for custom
    /// resources).
    pub normalize: Option<NormalizeFn>,
    /// Only some verbs, no storage (e.g. `bindings`, `selfsubjectaccessreviews`).
    pub virtual_only: bool,
    /// For custom resources: the version's `openAPIV3Schema`.
    pub custom_schema: Option<Arc<serde_json::Value>>,
    /// For custom resources: the version's `additionalPrinterColumns`.
    pub printer_columns: Option<Arc<serde_json::Value>>,
}

/// JSON paths that a `/scale` subresource maps to and from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScaleInfo {
    /// Path of the desired replicas, e.g. `.spec.replicas`.
    pub spec_replicas_path: String,
    /// Path of the observed replicas, e.g. `.status.replicas`.
    pub status_replicas_path: String,
    /// Path of the label selector string in status, if any.
    pub label_selector_path: Option<String>,
}

impl ResourceInfo {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployments.apps`, or `pods` for the core group, as used in error messages.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// True for namespaced resources.
    pub fn namespaced(&self) -> bool {
        self.scope == Scope::Namespaced
    }

    /// Shared handle.
    pub fn shared(self) -> Arc<ResourceInfo> {
        Arc::new(self)
    }
}
