//! Hand-maintained corrections to the generated built-in table.
//!
//! The generated table (`builtin_list_types.rs`) mirrors k8s-openapi's `DeepMerge` impls,
//! which key a list by its strategic-merge-patch `patchMergeKey` when it has one. Upstream
//! server-side apply reads `x-kubernetes-list-type`/`-list-map-keys` and `structType`
//! instead (see client-go's `applyconfigurations/internal/internal.go`, the schema the
//! apiserver's field manager uses). The differences, checked against that file and
//! `k8s.io/api` struct tags, are listed here.

/// Structs marked `+structType=atomic` upstream (`elementRelationship: atomic` maps).
pub(crate) const ATOMIC_STRUCTS: &[&str] = &[
    "io.k8s.api.admissionregistration.v1.MatchResources",
    "io.k8s.api.admissionregistration.v1.NamedRuleWithOperations",
    "io.k8s.api.admissionregistration.v1.ParamKind",
    "io.k8s.api.admissionregistration.v1.ParamRef",
    "io.k8s.api.admissionregistration.v1.Variable",
    "io.k8s.api.autoscaling.v1.CrossVersionObjectReference",
    "io.k8s.api.core.v1.ConfigMapKeySelector",
    "io.k8s.api.core.v1.EndpointAddress",
    "io.k8s.api.core.v1.EndpointPort",
    "io.k8s.api.core.v1.LocalObjectReference",
    "io.k8s.api.core.v1.NodeSelector",
    "io.k8s.api.core.v1.NodeSelectorTerm",
    "io.k8s.api.core.v1.ObjectFieldSelector",
    "io.k8s.api.core.v1.ObjectReference",
    "io.k8s.api.core.v1.ResourceFieldSelector",
    "io.k8s.api.core.v1.ScopeSelector",
    "io.k8s.api.core.v1.SecretKeySelector",
    "io.k8s.api.core.v1.SecretReference",
    "io.k8s.api.core.v1.TopologySelectorTerm",
    "io.k8s.api.core.v1.TypedLocalObjectReference",
    "io.k8s.api.discovery.v1.EndpointPort",
    "io.k8s.api.networking.v1.ServiceBackendPort",
    "io.k8s.api.rbac.v1.RoleRef",
    "io.k8s.api.rbac.v1.Subject",
    "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
    "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference",
];

/// Fields whose value upstream tracks granularly although their type is an atomic struct
/// (`PersistentVolumeSpec.claimRef` is `elementRelationship: separable`).
pub(crate) const GRANULAR_FIELDS: &[(&str, &str)] =
    &[("io.k8s.api.core.v1.PersistentVolumeSpec", "claimRef")];

/// Fields that are opaque single values upstream (`__untyped_atomic_`).
pub(crate) const UNTYPED_ATOMIC_FIELDS: &[(&str, &str)] =
    &[("io.k8s.api.apps.v1.ControllerRevision", "data")];

/// List-map keys of server-side apply where they differ from the SMP `patchMergeKey`:
/// `Container.ports` merges by `containerPort` in SMP but is keyed by
/// `[containerPort, protocol]` in SSA; `ServiceSpec.ports` by `port` vs `[port, protocol]`.
pub(crate) const SSA_KEYS: &[(&str, &str, &[&str])] = &[
    (
        "io.k8s.api.core.v1.Container",
        "ports",
        &["containerPort", "protocol"],
    ),
    (
        "io.k8s.api.core.v1.EphemeralContainer",
        "ports",
        &["containerPort", "protocol"],
    ),
    (
        "io.k8s.api.core.v1.ServiceSpec",
        "ports",
        &["port", "protocol"],
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "topologySpreadConstraints",
        &["topologyKey", "whenUnsatisfiable"],
    ),
];

/// Defaults of list-map key fields (upstream `default:` on the key field), used when an
/// element omits the key.
pub(crate) const KEY_DEFAULTS: &[(&str, &str, &str, &str)] = &[
    ("io.k8s.api.core.v1.Container", "ports", "protocol", "TCP"),
    (
        "io.k8s.api.core.v1.EphemeralContainer",
        "ports",
        "protocol",
        "TCP",
    ),
    ("io.k8s.api.core.v1.ServiceSpec", "ports", "protocol", "TCP"),
];

/// Lists that strategic merge patch merges by key (`patchStrategy=merge`) while server-side
/// apply treats them as atomic (`+listType=atomic`).
pub(crate) const SSA_ATOMIC_LISTS: &[(&str, &str)] = &[
    ("io.k8s.api.core.v1.PodStatus", "hostIPs"),
    ("io.k8s.api.batch.v1.JobStatus", "conditions"),
];

/// List maps without `patchStrategy=merge`: strategic merge patch replaces them.
pub(crate) const SMP_REPLACE_LISTS: &[(&str, &str)] = &[
    ("io.k8s.api.core.v1.ResourceRequirements", "claims"),
    (
        "io.k8s.api.certificates.v1.CertificateSigningRequestStatus",
        "conditions",
    ),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionStatus",
        "conditions",
    ),
];

/// Sets with `patchStrategy=merge` (strategic merge patch unions them); every other set is
/// replaced by strategic merge patch.
pub(crate) const SMP_MERGE_SETS: &[(&str, &str)] = &[
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "finalizers",
    ),
    ("io.k8s.api.core.v1.NodeSpec", "podCIDRs"),
];

/// Whether `(def, field)` appears in a two-column override table.
pub(crate) fn listed(table: &[(&str, &str)], def: &str, field: &str) -> bool {
    table.iter().any(|(d, f)| *d == def && *f == field)
}
