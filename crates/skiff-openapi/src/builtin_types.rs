//! The built-in schema definitions: every k8s-openapi type Skiff may serve, generated once per
//! process with schemars' OpenAPI 3.0 settings and normalised to kube-openapi's v3 shape.

use crate::normalize;
use k8s_openapi::api;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;
use k8s_openapi::apimachinery::pkg::apis::meta;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Definition names of the meta types every group-version document references.
pub const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
/// `DeleteOptions`, the body of DELETE requests.
pub const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
/// `Patch`, the body of PATCH requests.
pub const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
/// `ObjectMeta`.
pub const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
/// `ListMeta`.
pub const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
/// `APIResourceList`, returned by the group-version root path.
pub const API_RESOURCE_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList";
/// `autoscaling/v1` `Scale`, the body of every `/scale` subresource.
pub const SCALE: &str = "io.k8s.api.autoscaling.v1.Scale";

/// All built-in definitions, keyed by upstream definition name, in v3 form
/// (`#/components/schemas/...` refs). Root kinds carry `x-kubernetes-group-version-kind`.
pub fn definitions() -> &'static BTreeMap<String, Value> {
    static DEFS: OnceLock<BTreeMap<String, Value>> = OnceLock::new();
    DEFS.get_or_init(generate)
}

/// One registered type: adds itself (and everything it references) to a generator.
struct Entry {
    gvk: Option<(&'static str, &'static str, &'static str)>,
    name: String,
    add: fn(&mut SchemaGenerator),
}

fn add<T: schemars::JsonSchema>(g: &mut SchemaGenerator) {
    g.subschema_for::<T>();
}

macro_rules! kinds {
    ($($t:ty),* $(,)?) => {
        vec![$(Entry {
            gvk: Some((
                <$t as k8s_openapi::Resource>::GROUP,
                <$t as k8s_openapi::Resource>::VERSION,
                <$t as k8s_openapi::Resource>::KIND,
            )),
            name: <$t as schemars::JsonSchema>::schema_name().into_owned(),
            add: add::<$t>,
        }),*]
    };
}

macro_rules! plain {
    ($($t:ty),* $(,)?) => {
        vec![$(Entry {
            gvk: None,
            name: <$t as schemars::JsonSchema>::schema_name().into_owned(),
            add: add::<$t>,
        }),*]
    };
}

fn entries() -> Vec<Entry> {
    use api::*;
    let mut v = kinds![
        core::v1::Binding,
        core::v1::ConfigMap,
        core::v1::Endpoints,
        core::v1::Event,
        core::v1::LimitRange,
        core::v1::Namespace,
        core::v1::Node,
        core::v1::PersistentVolumeClaim,
        core::v1::PersistentVolume,
        core::v1::Pod,
        core::v1::PodTemplate,
        core::v1::ReplicationController,
        core::v1::ResourceQuota,
        core::v1::Secret,
        core::v1::ServiceAccount,
        core::v1::Service,
        admissionregistration::v1::MutatingWebhookConfiguration,
        admissionregistration::v1::ValidatingAdmissionPolicy,
        admissionregistration::v1::ValidatingAdmissionPolicyBinding,
        admissionregistration::v1::ValidatingWebhookConfiguration,
        apiextensions::v1::CustomResourceDefinition,
        apps::v1::ControllerRevision,
        apps::v1::DaemonSet,
        apps::v1::Deployment,
        apps::v1::ReplicaSet,
        apps::v1::StatefulSet,
        authentication::v1::SelfSubjectReview,
        authentication::v1::TokenRequest,
        authentication::v1::TokenReview,
        authorization::v1::LocalSubjectAccessReview,
        authorization::v1::SelfSubjectAccessReview,
        authorization::v1::SelfSubjectRulesReview,
        authorization::v1::SubjectAccessReview,
        autoscaling::v1::HorizontalPodAutoscaler,
        autoscaling::v1::Scale,
        autoscaling::v2::HorizontalPodAutoscaler,
        batch::v1::CronJob,
        batch::v1::Job,
        certificates::v1::CertificateSigningRequest,
        coordination::v1::Lease,
        discovery::v1::EndpointSlice,
        events::v1::Event,
        flowcontrol::v1::FlowSchema,
        flowcontrol::v1::PriorityLevelConfiguration,
        networking::v1::IngressClass,
        networking::v1::Ingress,
        networking::v1::IPAddress,
        networking::v1::NetworkPolicy,
        networking::v1::ServiceCIDR,
        node::v1::RuntimeClass,
        policy::v1::Eviction,
        policy::v1::PodDisruptionBudget,
        rbac::v1::ClusterRoleBinding,
        rbac::v1::ClusterRole,
        rbac::v1::RoleBinding,
        rbac::v1::Role,
        scheduling::v1::PriorityClass,
        storage::v1::CSIDriver,
        storage::v1::CSINode,
        storage::v1::CSIStorageCapacity,
        storage::v1::StorageClass,
        storage::v1::VolumeAttachment,
    ];
    v.extend(plain![
        meta::v1::Status,
        meta::v1::DeleteOptions,
        meta::v1::Patch,
        meta::v1::APIResourceList,
        meta::v1::ListMeta,
        meta::v1::ObjectMeta,
    ]);
    v
}

fn generate() -> BTreeMap<String, Value> {
    let mut g = SchemaSettings::openapi3()
        .with(|s| s.meta_schema = None)
        .into_generator();
    let entries = entries();
    for e in &entries {
        (e.add)(&mut g);
    }
    let defs: Map<String, Value> = g.take_definitions(true);
    let mut out: BTreeMap<String, Value> = defs
        .into_iter()
        .map(|(name, mut schema)| {
            normalize::schema_v3(&mut schema);
            (name, schema)
        })
        .collect();
    normalize::upstream_special_forms(&mut out);
    add_list_extensions(&mut out);
    for e in &entries {
        if let (Some((group, version, kind)), Some(Value::Object(def))) =
            (e.gvk, out.get_mut(&e.name))
        {
            normalize::drop_required_metadata(def);
            def.insert(
                "x-kubernetes-group-version-kind".into(),
                gvk_ext(group, version, kind),
            );
        }
    }
    out
}

/// Adds upstream's list extensions to every array property of a built-in definition:
/// `x-kubernetes-list-type` (+ `x-kubernetes-list-map-keys`) and, where strategic merge patch
/// merges the list, `x-kubernetes-patch-strategy: merge` (+ `x-kubernetes-patch-merge-key`).
/// kubectl computes client-side apply patches from these; without them every list is replaced.
fn add_list_extensions(defs: &mut BTreeMap<String, Value>) {
    use skiff_patch::{ListType, Schema, Shape};
    let schema = Schema::builtin();
    for (name, def) in defs.iter_mut() {
        let Some(t) = schema.lookup(name) else {
            continue;
        };
        let Some(props) = def.get_mut("properties").and_then(Value::as_object_mut) else {
            continue;
        };
        for (field, prop) in props.iter_mut() {
            let Some(ft) = schema.field(t, field) else {
                continue;
            };
            let Shape::List(list) = schema.shape(ft) else {
                continue;
            };
            let Some(p) = prop.as_object_mut() else {
                continue;
            };
            match &list.list_type {
                ListType::Atomic => {
                    p.insert("x-kubernetes-list-type".into(), json!("atomic"));
                }
                ListType::Set => {
                    p.insert("x-kubernetes-list-type".into(), json!("set"));
                }
                ListType::Map { keys } => {
                    p.insert("x-kubernetes-list-type".into(), json!("map"));
                    p.insert("x-kubernetes-list-map-keys".into(), json!(keys));
                }
            }
            if list.patch_merge {
                p.insert("x-kubernetes-patch-strategy".into(), json!("merge"));
                if let Some(k) = &list.merge_key {
                    p.insert("x-kubernetes-patch-merge-key".into(), json!(k));
                }
            }
        }
    }
}

/// `x-kubernetes-group-version-kind` as schemas carry it: a list of one GVK.
pub fn gvk_ext(group: &str, version: &str, kind: &str) -> Value {
    json!([{ "group": group, "kind": kind, "version": version }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_is_generated_with_its_gvk() {
        let defs = definitions();
        let d = &defs["io.k8s.api.apps.v1.Deployment"];
        assert_eq!(
            d["x-kubernetes-group-version-kind"][0]["kind"],
            "Deployment"
        );
        assert_eq!(
            d["properties"]["spec"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"
        );
        assert!(defs.contains_key("io.k8s.api.core.v1.PodTemplateSpec"));
        assert!(defs.contains_key(SCALE) && defs.contains_key(STATUS) && defs.contains_key(PATCH));
    }
}
