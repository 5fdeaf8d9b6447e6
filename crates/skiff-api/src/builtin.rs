//! The built-in resources Skiff serves: every storable kind of the GA groups of Kubernetes 1.33,
//! with upstream's short names, categories and subresources. Types come from k8s-openapi.

use crate::resource::{ResourceInfo, ScaleInfo, Scope, STORABLE_VERBS};
use k8s_openapi::api;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;

/// The Kubernetes version Skiff reports (matches the k8s-openapi feature `v1_33`).
pub const KUBERNETES_VERSION: (u32, u32, u32) = (1, 33, 0);

/// Options of one built-in entry.
#[derive(Default)]
struct Opts {
    short: &'static [&'static str],
    categories: &'static [&'static str],
    status: bool,
    scale: bool,
    generation: bool,
    verbs: Option<&'static [&'static str]>,
    virtual_only: bool,
}

fn normalize<T: serde::de::DeserializeOwned + serde::Serialize>(
    v: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    let typed = T::deserialize(v).map_err(|e| e.to_string())?;
    serde_json::to_value(typed).map_err(|e| e.to_string())
}

fn entry<T>(opts: Opts) -> ResourceInfo
where
    T: k8s_openapi::Resource
        + schemars::JsonSchema
        + serde::de::DeserializeOwned
        + serde::Serialize,
    T::Scope: ScopeOf,
{
    let plural = T::URL_PATH_SEGMENT.to_string();
    let group = T::GROUP.to_string();
    ResourceInfo {
        storage_resource: storage_segment(&group, &plural).to_string(),
        storage_version: storage_version(&group, T::VERSION),
        group,
        version: T::VERSION.to_string(),
        kind: T::KIND.to_string(),
        list_kind: format!("{}List", T::KIND),
        singular: T::KIND.to_ascii_lowercase(),
        plural,
        scope: <T::Scope as ScopeOf>::SCOPE,
        short_names: opts.short.iter().map(|s| s.to_string()).collect(),
        categories: opts.categories.iter().map(|s| s.to_string()).collect(),
        verbs: opts
            .verbs
            .unwrap_or(STORABLE_VERBS)
            .iter()
            .map(|s| s.to_string())
            .collect(),
        status_subresource: opts.status,
        scale: opts.scale.then(|| ScaleInfo {
            spec_replicas_path: ".spec.replicas".into(),
            status_replicas_path: ".status.replicas".into(),
            label_selector_path: Some(".status.selector".into()),
        }),
        definition: T::schema_name().to_string(),
        custom: false,
        has_generation: opts.generation,
        normalize: Some(normalize::<T>),
        virtual_only: opts.virtual_only,
        custom_schema: None,
        printer_columns: None,
    }
}

/// Maps k8s-openapi's scope marker types to [`Scope`].
pub trait ScopeOf {
    /// The scope.
    const SCOPE: Scope;
}
impl ScopeOf for k8s_openapi::NamespaceResourceScope {
    const SCOPE: Scope = Scope::Namespaced;
}
impl ScopeOf for k8s_openapi::ClusterResourceScope {
    const SCOPE: Scope = Scope::Cluster;
}
impl ScopeOf for k8s_openapi::SubResourceScope {
    const SCOPE: Scope = Scope::Namespaced;
}

/// kube-apiserver's etcd key segment of a built-in resource.
fn storage_segment<'a>(group: &str, plural: &'a str) -> &'a str {
    match (group, plural) {
        ("", "services") => "services/specs",
        ("", "endpoints") => "services/endpoints",
        ("", "nodes") => "minions",
        ("", "replicationcontrollers") => "controllers",
        ("networking.k8s.io", "ingresses") => "ingress",
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            "apiextensions.k8s.io/customresourcedefinitions"
        }
        _ => plural,
    }
}

/// The apiVersion a built-in resource is stored in (upstream's storage versions where two
/// group/versions share objects).
fn storage_version(group: &str, version: &str) -> String {
    match group {
        "events.k8s.io" => "v1".into(),
        "autoscaling" => "autoscaling/v2".into(),
        "" => version.into(),
        g => format!("{g}/{version}"),
    }
}

const ALL: &[&str] = &["all"];
const CREATE_ONLY: &[&str] = &["create"];

/// Every built-in resource, in discovery order.
pub fn resources() -> Vec<ResourceInfo> {
    use api::*;
    let o = Opts::default;
    let st = || Opts {
        status: true,
        generation: true,
        ..o()
    };
    vec![
        // core/v1
        entry::<core::v1::Binding>(Opts {
            verbs: Some(CREATE_ONLY),
            virtual_only: true,
            ..o()
        }),
        entry::<core::v1::ConfigMap>(Opts {
            short: &["cm"],
            ..o()
        }),
        entry::<core::v1::Endpoints>(Opts {
            short: &["ep"],
            ..o()
        }),
        entry::<core::v1::Event>(Opts {
            short: &["ev"],
            ..o()
        }),
        entry::<core::v1::LimitRange>(Opts {
            short: &["limits"],
            ..o()
        }),
        entry::<core::v1::Namespace>(Opts {
            short: &["ns"],
            status: true,
            verbs: Some(&[
                "create", "delete", "get", "list", "patch", "update", "watch",
            ]),
            ..o()
        }),
        entry::<core::v1::Node>(Opts {
            short: &["no"],
            status: true,
            ..o()
        }),
        entry::<core::v1::PersistentVolumeClaim>(Opts {
            short: &["pvc"],
            status: true,
            ..o()
        }),
        entry::<core::v1::PersistentVolume>(Opts {
            short: &["pv"],
            status: true,
            ..o()
        }),
        entry::<core::v1::Pod>(Opts {
            short: &["po"],
            categories: ALL,
            status: true,
            ..o()
        }),
        entry::<core::v1::PodTemplate>(o()),
        entry::<core::v1::ReplicationController>(Opts {
            short: &["rc"],
            categories: ALL,
            scale: true,
            ..st()
        }),
        entry::<core::v1::ResourceQuota>(Opts {
            short: &["quota"],
            status: true,
            ..o()
        }),
        entry::<core::v1::Secret>(o()),
        entry::<core::v1::ServiceAccount>(Opts {
            short: &["sa"],
            ..o()
        }),
        entry::<core::v1::Service>(Opts {
            short: &["svc"],
            categories: ALL,
            status: true,
            verbs: Some(&[
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ]),
            ..o()
        }),
        // admissionregistration.k8s.io/v1
        entry::<admissionregistration::v1::MutatingWebhookConfiguration>(Opts {
            categories: &["api-extensions"],
            generation: true,
            ..o()
        }),
        entry::<admissionregistration::v1::ValidatingAdmissionPolicy>(Opts {
            categories: &["api-extensions"],
            ..st()
        }),
        entry::<admissionregistration::v1::ValidatingAdmissionPolicyBinding>(Opts {
            categories: &["api-extensions"],
            generation: true,
            ..o()
        }),
        entry::<admissionregistration::v1::ValidatingWebhookConfiguration>(Opts {
            categories: &["api-extensions"],
            generation: true,
            ..o()
        }),
        // apiextensions.k8s.io/v1
        entry::<apiextensions::v1::CustomResourceDefinition>(Opts {
            short: &["crd", "crds"],
            categories: &["api-extensions"],
            ..st()
        }),
        // apps/v1
        // authentication.k8s.io/v1 (create-only reviews)
        entry::<authentication::v1::SelfSubjectReview>(Opts {
            verbs: Some(CREATE_ONLY),
            virtual_only: true,
            ..o()
        }),
        entry::<authentication::v1::TokenReview>(Opts {
            verbs: Some(CREATE_ONLY),
            virtual_only: true,
            ..o()
        }),
        entry::<apps::v1::ControllerRevision>(o()),
        entry::<apps::v1::DaemonSet>(Opts {
            short: &["ds"],
            categories: ALL,
            ..st()
        }),
        entry::<apps::v1::Deployment>(Opts {
            short: &["deploy"],
            categories: ALL,
            scale: true,
            ..st()
        }),
        entry::<apps::v1::ReplicaSet>(Opts {
            short: &["rs"],
            categories: ALL,
            scale: true,
            ..st()
        }),
        entry::<apps::v1::StatefulSet>(Opts {
            short: &["sts"],
            categories: ALL,
            scale: true,
            ..st()
        }),
        // autoscaling
        entry::<autoscaling::v2::HorizontalPodAutoscaler>(Opts {
            short: &["hpa"],
            categories: ALL,
            ..st()
        }),
        entry::<autoscaling::v1::HorizontalPodAutoscaler>(Opts {
            short: &["hpa"],
            categories: ALL,
            ..st()
        }),
        // batch/v1
        entry::<batch::v1::CronJob>(Opts {
            short: &["cj"],
            categories: ALL,
            ..st()
        }),
        entry::<batch::v1::Job>(Opts {
            categories: ALL,
            ..st()
        }),
        // certificates.k8s.io/v1
        entry::<certificates::v1::CertificateSigningRequest>(Opts {
            short: &["csr"],
            status: true,
            ..o()
        }),
        // coordination.k8s.io/v1
        entry::<coordination::v1::Lease>(o()),
        // discovery.k8s.io/v1
        entry::<discovery::v1::EndpointSlice>(o()),
        // events.k8s.io/v1
        entry::<events::v1::Event>(Opts {
            short: &["ev"],
            ..o()
        }),
        // networking.k8s.io/v1
        entry::<networking::v1::IngressClass>(o()),
        entry::<networking::v1::Ingress>(Opts {
            short: &["ing"],
            ..st()
        }),
        entry::<networking::v1::IPAddress>(Opts {
            short: &["ip"],
            ..o()
        }),
        entry::<networking::v1::NetworkPolicy>(Opts {
            short: &["netpol"],
            generation: true,
            ..o()
        }),
        entry::<networking::v1::ServiceCIDR>(Opts { ..st() }),
        // node.k8s.io/v1
        entry::<node::v1::RuntimeClass>(o()),
        // policy/v1
        entry::<policy::v1::PodDisruptionBudget>(Opts {
            short: &["pdb"],
            ..st()
        }),
        // rbac.authorization.k8s.io/v1
        entry::<rbac::v1::ClusterRoleBinding>(o()),
        entry::<rbac::v1::ClusterRole>(o()),
        entry::<rbac::v1::RoleBinding>(o()),
        entry::<rbac::v1::Role>(o()),
        // scheduling.k8s.io/v1
        entry::<scheduling::v1::PriorityClass>(Opts {
            short: &["pc"],
            ..o()
        }),
        // storage.k8s.io/v1
        entry::<storage::v1::CSIDriver>(o()),
        entry::<storage::v1::CSINode>(o()),
        entry::<storage::v1::CSIStorageCapacity>(o()),
        entry::<storage::v1::StorageClass>(Opts {
            short: &["sc"],
            ..o()
        }),
        entry::<storage::v1::VolumeAttachment>(Opts {
            status: true,
            ..o()
        }),
    ]
}

/// Preferred version of each built-in group, as discovery advertises it.
pub fn preferred_version(group: &str) -> &'static str {
    match group {
        "autoscaling" => "v2",
        _ => "v1",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_are_namespaced_and_nodes_are_not() {
        let all = resources();
        let pods = all.iter().find(|r| r.plural == "pods").unwrap();
        let nodes = all.iter().find(|r| r.plural == "nodes").unwrap();
        assert_eq!(pods.scope, Scope::Namespaced);
        assert_eq!(nodes.scope, Scope::Cluster);
        assert_eq!(pods.definition, "io.k8s.api.core.v1.Pod");
    }

    #[test]
    fn deployments_have_scale_and_status() {
        let all = resources();
        let d = all.iter().find(|r| r.plural == "deployments").unwrap();
        assert!(d.status_subresource && d.scale.is_some());
        assert_eq!(d.group_resource(), "deployments.apps");
        assert_eq!(d.api_version(), "apps/v1");
    }

    #[test]
    fn normalize_rejects_wrong_types_and_drops_unknown_fields() {
        let all = resources();
        let cm = all.iter().find(|r| r.plural == "configmaps").unwrap();
        let n = cm.normalize.unwrap();
        let ok = n(&serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}, "bogus": 1})).unwrap();
        assert_eq!(
            ok,
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}, "metadata": {}})
        );
        assert!(
            n(&serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": 1}}))
                .is_err()
        );
    }
}
