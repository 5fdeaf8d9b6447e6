//! The shape of the generated message table (`messages.rs`) and lookups into it.

use crate::messages::{KINDS, MESSAGES};

/// One Kubernetes protobuf message: its wire fields and their JSON names.
#[derive(Debug)]
pub(crate) struct Message {
    /// Upstream proto full name, e.g. `k8s.io.api.core.v1.ConfigMap`.
    pub proto: &'static str,
    /// OpenAPI definition name, e.g. `io.k8s.api.core.v1.ConfigMap`.
    pub definition: &'static str,
    /// A JSON form of its own (Time, Quantity, ...) instead of an object of its fields.
    pub special: Special,
    /// Fields sorted by tag.
    pub fields: &'static [Field],
}

/// One field of a message.
#[derive(Debug)]
pub(crate) struct Field {
    /// Protobuf field number.
    pub tag: u32,
    /// JSON name; empty for a Go-inlined (`json:",inline"`) message whose fields are the parent's.
    pub json: &'static str,
    /// Value kind (of the map value, for maps).
    pub kind: Kind,
    /// Single, repeated or map (string keys).
    pub label: Label,
    /// A Go non-pointer `omitempty` field: Kubernetes' JSON leaves out its zero value.
    pub omit_zero: bool,
}

/// The kind of a field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `string`.
    S,
    /// `bool`.
    B,
    /// `int32`.
    I32,
    /// `int64`.
    I64,
    /// `double`.
    F64,
    /// `bytes` (base64 in JSON).
    BY,
    /// A message: index into `MESSAGES`.
    M(u16),
}

/// Cardinality of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Label {
    /// At most one value (last one wins; messages merge).
    Single,
    /// A JSON array.
    Repeated,
    /// A JSON object: entries are messages {key = 1 (string), value = 2}.
    Map,
}

/// Messages whose JSON is not an object of their fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Special {
    /// An ordinary message.
    None,
    /// `resource.Quantity` {string = 1} → a string.
    Quantity,
    /// `intstr.IntOrString` {type = 1, intVal = 2, strVal = 3} → a number or a string.
    IntOrString,
    /// `metav1.Time` {seconds = 1, nanos = 2} → RFC 3339 in seconds, or null when zero.
    Time,
    /// `metav1.MicroTime` → RFC 3339 with 6 fraction digits, or null when zero.
    MicroTime,
    /// `metav1.Duration` {duration = 1 (ns)} → a Go duration string.
    Duration,
    /// {raw = 1} holding JSON (`FieldsV1`, apiextensions `JSON`) → that JSON value.
    RawJson,
    /// `runtime.RawExtension` {raw = 1}: JSON, or a nested `k8s\0` protobuf object.
    RawExtension,
    /// A named `[]string` (`Verbs`, `ExtraValue`) {items = 1} → an array of strings.
    StringList,
    /// apiextensions `JSONSchemaPropsOrArray` {schema = 1, JSONSchemas = 2}.
    SchemaOrArray,
    /// apiextensions `JSONSchemaPropsOrBool` {allows = 1, schema = 2}.
    SchemaOrBool,
    /// apiextensions `JSONSchemaPropsOrStringArray` {schema = 1, property = 2}.
    SchemaOrStringArray,
}

/// Kinds of meta.k8s.io/v1 that Kubernetes registers in every group version.
const META_KINDS: &[&str] = &[
    "CreateOptions",
    "DeleteOptions",
    "GetOptions",
    "ListOptions",
    "PatchOptions",
    "Status",
    "UpdateOptions",
    "WatchEvent",
];

const META_PREFIX: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.";

/// The message at `index` (indices in the table are always valid).
pub(crate) fn message(index: u16) -> &'static Message {
    &MESSAGES[usize::from(index)]
}

/// The message with this OpenAPI definition name or proto full name.
pub(crate) fn by_definition(name: &str) -> Option<&'static Message> {
    match MESSAGES.binary_search_by(|m| m.definition.cmp(name)) {
        Ok(i) => Some(&MESSAGES[i]),
        Err(_) => MESSAGES.iter().find(|m| m.proto == name),
    }
}

/// The message of an apiVersion and kind.
pub(crate) fn by_kind(api_version: &str, kind: &str) -> Option<&'static Message> {
    if let Ok(i) = KINDS.binary_search_by(|(v, k, _)| (*v, *k).cmp(&(api_version, kind))) {
        return Some(message(KINDS[i].2));
    }
    if META_KINDS.contains(&kind) {
        return by_definition(&format!("{META_PREFIX}{kind}"));
    }
    None
}

/// The field with this tag.
pub(crate) fn field(message: &Message, tag: u32) -> Option<&'static Field> {
    message
        .fields
        .binary_search_by_key(&tag, |f| f.tag)
        .ok()
        .map(|i| &message.fields[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_consistent() {
        assert!(MESSAGES
            .windows(2)
            .all(|w| w[0].definition < w[1].definition));
        assert!(KINDS
            .windows(2)
            .all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1)));
        for m in MESSAGES {
            assert!(
                m.fields.windows(2).all(|w| w[0].tag < w[1].tag),
                "{}",
                m.proto
            );
            for f in m.fields {
                assert!(f.tag > 0, "{}", m.proto);
                if let Kind::M(i) = f.kind {
                    assert!(usize::from(i) < MESSAGES.len());
                    if f.json.is_empty() {
                        assert_eq!(message(i).special, Special::None, "{}", m.proto);
                    }
                }
            }
        }
    }

    #[test]
    fn looks_up_kinds_and_definitions() {
        let cm = by_kind("v1", "ConfigMap").unwrap();
        assert_eq!(cm.definition, "io.k8s.api.core.v1.ConfigMap");
        assert_eq!(
            by_kind("apps/v1", "Deployment").unwrap().proto,
            "k8s.io.api.apps.v1.Deployment"
        );
        assert_eq!(
            by_kind("v1", "ConfigMapList").unwrap().proto,
            "k8s.io.api.core.v1.ConfigMapList"
        );
        for v in ["v1", "meta.k8s.io/v1", "apps/v1", "policy/v1"] {
            let d = by_kind(v, "DeleteOptions").unwrap();
            assert_eq!(
                d.definition,
                "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"
            );
        }
        let crd = by_kind("apiextensions.k8s.io/v1", "CustomResourceDefinition").unwrap();
        assert_eq!(
            crd.definition,
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"
        );
        assert!(by_kind("apiextensions.k8s.io/v1", "CustomResourceDefinitionList").is_some());
        assert!(by_kind("policy/v1", "Eviction").is_some());
        assert!(by_kind("v1", "Nope").is_none());
        assert!(by_definition("k8s.io.api.core.v1.Pod").is_some());
    }

    #[test]
    fn covers_the_ga_groups() {
        for (v, k) in [
            ("v1", "Pod"),
            ("v1", "Service"),
            ("v1", "Secret"),
            ("v1", "Namespace"),
            ("v1", "Node"),
            ("v1", "PersistentVolumeClaim"),
            ("v1", "Binding"),
            ("apps/v1", "StatefulSet"),
            ("apps/v1", "DaemonSet"),
            ("batch/v1", "CronJob"),
            ("autoscaling/v1", "Scale"),
            ("autoscaling/v2", "HorizontalPodAutoscaler"),
            ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
            ("coordination.k8s.io/v1", "Lease"),
            ("discovery.k8s.io/v1", "EndpointSlice"),
            ("events.k8s.io/v1", "Event"),
            ("networking.k8s.io/v1", "NetworkPolicy"),
            ("networking.k8s.io/v1", "ServiceCIDR"),
            ("storage.k8s.io/v1", "StorageClass"),
            ("scheduling.k8s.io/v1", "PriorityClass"),
            ("node.k8s.io/v1", "RuntimeClass"),
            ("certificates.k8s.io/v1", "CertificateSigningRequest"),
            (
                "admissionregistration.k8s.io/v1",
                "ValidatingWebhookConfiguration",
            ),
            ("authentication.k8s.io/v1", "TokenRequest"),
            ("authentication.k8s.io/v1", "TokenReview"),
            ("authentication.k8s.io/v1", "SelfSubjectReview"),
            ("authorization.k8s.io/v1", "SubjectAccessReview"),
            ("authorization.k8s.io/v1", "LocalSubjectAccessReview"),
            ("authorization.k8s.io/v1", "SelfSubjectAccessReview"),
            ("authorization.k8s.io/v1", "SelfSubjectRulesReview"),
        ] {
            assert!(by_kind(v, k).is_some(), "{v} {k}");
        }
    }
}
