//! Built-in admission plugins of kube-apiserver that Skiff enables by default:
//! DefaultTolerationSeconds (a [`MutatingAdmission`]), Priority, DefaultStorageClass and
//! [`runtime_class`] (they need lookups, so they run as create hooks: see
//! `Storage::admit_priority`, `Storage::admit_default_storage_class` and
//! `Storage::admit_runtime_class`).

use crate::pipeline::{AdmissionRequest, MutatingAdmission, Operation};
use serde_json::{json, Value};
use skiff_api::ApiError;

pub mod runtime_class;

/// Upstream's default for both tolerations (`--default-not-ready-toleration-seconds`,
/// `--default-unreachable-toleration-seconds`).
pub const DEFAULT_TOLERATION_SECONDS: i64 = 300;

/// The two built-in PriorityClasses every cluster has (name, value).
pub const SYSTEM_PRIORITY_CLASSES: [(&str, i64); 2] = [
    ("system-node-critical", 2_000_001_000),
    ("system-cluster-critical", 2_000_000_000),
];

/// DefaultTolerationSeconds: pods that do not tolerate `node.kubernetes.io/not-ready` and
/// `node.kubernetes.io/unreachable` NoExecute taints get tolerations for them, so they are
/// evicted from a failed node after a while instead of at once.
#[derive(Clone, Copy, Debug)]
pub struct DefaultTolerationSeconds {
    /// tolerationSeconds for node.kubernetes.io/not-ready.
    pub not_ready: i64,
    /// tolerationSeconds for node.kubernetes.io/unreachable.
    pub unreachable: i64,
}

impl Default for DefaultTolerationSeconds {
    fn default() -> Self {
        Self {
            not_ready: DEFAULT_TOLERATION_SECONDS,
            unreachable: DEFAULT_TOLERATION_SECONDS,
        }
    }
}

const NOT_READY: &str = "node.kubernetes.io/not-ready";
const UNREACHABLE: &str = "node.kubernetes.io/unreachable";

/// Whether `tolerations` already cover NoExecute taints with `key` (upstream's check: the
/// key matches or is empty, and the effect is NoExecute or empty).
fn covers(tolerations: &[Value], key: &str) -> bool {
    tolerations.iter().any(|t| {
        let k = t.get("key").and_then(Value::as_str).unwrap_or("");
        let e = t.get("effect").and_then(Value::as_str).unwrap_or("");
        (k == key || k.is_empty()) && (e == "NoExecute" || e.is_empty())
    })
}

impl DefaultTolerationSeconds {
    /// Adds the missing tolerations to a pod.
    pub fn apply(&self, pod: &mut Value) {
        let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
            return;
        };
        let list = spec.entry("tolerations").or_insert_with(|| json!([]));
        if list.is_null() {
            *list = json!([]);
        }
        let Some(list) = list.as_array_mut() else {
            return;
        };
        for (key, secs) in [(NOT_READY, self.not_ready), (UNREACHABLE, self.unreachable)] {
            if !covers(list, key) {
                list.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": secs}));
            }
        }
    }
}

impl MutatingAdmission for DefaultTolerationSeconds {
    fn name(&self) -> &'static str {
        "DefaultTolerationSeconds"
    }

    fn admit(&self, req: &AdmissionRequest<'_>, obj: &mut Value) -> Result<(), ApiError> {
        let r = req.resource;
        if r.group.is_empty() && r.kind == "Pod" && req.operation == Operation::Create {
            self.apply(obj);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tolerations(pod: &Value) -> Vec<(String, i64)> {
        pod["spec"]["tolerations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["key"].as_str().unwrap_or("").to_string(),
                    t["tolerationSeconds"].as_i64().unwrap_or(-1),
                )
            })
            .collect()
    }

    #[test]
    fn adds_both_tolerations_unless_the_pod_has_them() {
        let plugin = DefaultTolerationSeconds {
            not_ready: 300,
            unreachable: 7,
        };
        let mut pod = json!({"spec": {"containers": []}});
        plugin.apply(&mut pod);
        assert_eq!(
            tolerations(&pod),
            [(NOT_READY.to_string(), 300), (UNREACHABLE.to_string(), 7)]
        );
        // Its own unreachable toleration (any effect) is kept and not duplicated.
        let mut pod = json!({"spec": {"tolerations": [{"key": UNREACHABLE, "operator": "Exists", "tolerationSeconds": 2}]}});
        plugin.apply(&mut pod);
        assert_eq!(
            tolerations(&pod),
            [(UNREACHABLE.to_string(), 2), (NOT_READY.to_string(), 300)]
        );
        // A toleration of everything covers both.
        let mut pod = json!({"spec": {"tolerations": [{"operator": "Exists"}]}});
        plugin.apply(&mut pod);
        assert_eq!(tolerations(&pod).len(), 1);
        // A NoSchedule toleration does not.
        let mut pod = json!({"spec": {"tolerations": [{"key": NOT_READY, "operator": "Exists", "effect": "NoSchedule"}]}});
        plugin.apply(&mut pod);
        assert_eq!(tolerations(&pod).len(), 3);
    }
}

/// The Priority plugin's decision for a pod, given the class it names (or the global default
/// class when it names none). Pure; the lookup happens in the caller.
///
/// `class` is `(name, value, preemptionPolicy)`; `named` is whether the pod asked for it.
pub fn resolve_priority(
    pod: &mut Value,
    class: Option<(String, i64, Option<String>)>,
    named: Option<&str>,
) -> Result<(), ApiError> {
    let pod_name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .or_else(|| {
            pod.pointer("/metadata/generateName")
                .and_then(Value::as_str)
        })
        .unwrap_or("")
        .to_string();
    let (name, value, policy) = match (class, named) {
        (Some(c), _) => c,
        (None, Some(n)) => {
            return Err(ApiError::Forbidden(format!(
                "pods \"{pod_name}\" is forbidden: no PriorityClass with name {n} was found"
            )))
        }
        (None, None) => (String::new(), 0, None),
    };
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    if let Some(given) = spec.get("priority").and_then(Value::as_i64) {
        if given != value {
            return Err(ApiError::Forbidden(format!(
                "pods \"{pod_name}\" is forbidden: the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {value} from the given PriorityClass name"
            )));
        }
    }
    if !name.is_empty() {
        spec.insert("priorityClassName".into(), json!(name));
    }
    spec.insert("priority".into(), json!(value));
    let policy = policy.unwrap_or_else(|| "PreemptLowerPriority".into());
    spec.entry("preemptionPolicy").or_insert(json!(policy));
    Ok(())
}

impl crate::rest::Storage {
    /// The Priority admission plugin: sets `spec.priority` (and `preemptionPolicy`) of a new
    /// pod from its PriorityClass, or from the global default class; refuses unknown classes.
    pub async fn admit_priority(&self, pod: &mut Value) -> Result<(), ApiError> {
        let Some(res) = self
            .registry
            .by_plural("scheduling.k8s.io", "v1", "priorityclasses")
        else {
            return Ok(());
        };
        let named = pod
            .pointer("/spec/priorityClassName")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(str::to_string);
        let view = |c: &Value| {
            (
                c.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                c.get("value").and_then(Value::as_i64).unwrap_or(0),
                c.get("preemptionPolicy")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            )
        };
        let class = match &named {
            Some(n) => self.lookup(&res, "", n).await?.map(|c| view(&c)),
            // Every pod without a class looks at every class: read the listed objects in
            // place rather than copying them (list_all's copies were 1% of the API server
            // while pods were being created at scale).
            None => self
                .list(&res, "", &Default::default())
                .await?
                .items
                .iter()
                .filter(|c| c.get("globalDefault").and_then(Value::as_bool) == Some(true))
                .map(|c| view(c))
                // Upstream picks the lowest-valued default if several claim it.
                .min_by_key(|c| c.1),
        };
        resolve_priority(pod, class, named.as_deref())
    }
}

/// PURE — DefaultStorageClass: the class a claim without `storageClassName` gets, by
/// [`skiff_api::storage_class::default_class`] over the stored classes (ones that do not
/// decode are skipped).
pub fn default_storage_class(classes: &[Value]) -> Option<String> {
    let typed: Vec<k8s_openapi::api::storage::v1::StorageClass> = classes
        .iter()
        .filter_map(|c| serde_json::from_value(c.clone()).ok())
        .collect();
    skiff_api::storage_class::default_class(&typed.iter().collect::<Vec<_>>())
}

impl crate::rest::Storage {
    /// The DefaultStorageClass admission plugin: a new claim that names no class gets the
    /// default one (a claim with `storageClassName: ""` asks for none and is left alone).
    pub async fn admit_default_storage_class(&self, claim: &mut Value) -> Result<(), ApiError> {
        let unset = claim
            .pointer("/spec/storageClassName")
            .is_none_or(Value::is_null);
        let Some(res) = self
            .registry
            .by_plural("storage.k8s.io", "v1", "storageclasses")
        else {
            return Ok(());
        };
        if !unset {
            return Ok(());
        }
        let classes = self.list_all(&res, "", &Default::default()).await?;
        if let (Some(name), Some(spec)) = (
            default_storage_class(&classes),
            claim.get_mut("spec").and_then(Value::as_object_mut),
        ) {
            spec.insert("storageClassName".into(), json!(name));
        }
        Ok(())
    }
}

#[cfg(test)]
mod storage_class_tests {
    use super::*;

    #[test]
    fn the_newest_default_class_is_chosen() {
        let class = |name: &str, created: &str, default: Option<&str>| {
            let mut c = json!({"metadata": {"name": name, "creationTimestamp": created}});
            if let Some(d) = default {
                c["metadata"]["annotations"] =
                    json!({"storageclass.kubernetes.io/is-default-class": d});
            }
            c
        };
        assert_eq!(default_storage_class(&[]), None);
        let classes = vec![
            class("old", "2026-01-01T00:00:00Z", Some("true")),
            class("new", "2026-06-01T00:00:00Z", Some("true")),
            class(
                "newest-but-not-default",
                "2026-12-01T00:00:00Z",
                Some("false"),
            ),
            class("plain", "2026-12-02T00:00:00Z", None),
        ];
        assert_eq!(default_storage_class(&classes).as_deref(), Some("new"));
    }
}

#[cfg(test)]
mod priority_tests {
    use super::*;

    #[test]
    fn priority_comes_from_the_class_and_unknown_classes_are_refused() {
        let mut pod = json!({"metadata": {"name": "p"}, "spec": {"priorityClassName": "high"}});
        resolve_priority(&mut pod, Some(("high".into(), 1000, None)), Some("high")).unwrap();
        assert_eq!(pod["spec"]["priority"], 1000);
        assert_eq!(pod["spec"]["preemptionPolicy"], "PreemptLowerPriority");

        let mut pod = json!({"metadata": {"name": "p"}, "spec": {}});
        resolve_priority(&mut pod, None, None).unwrap();
        assert_eq!(pod["spec"]["priority"], 0);

        let mut pod = json!({"metadata": {"name": "p"}, "spec": {"priorityClassName": "nope"}});
        let e = resolve_priority(&mut pod, None, Some("nope")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "pods \"p\" is forbidden: no PriorityClass with name nope was found"
        );

        let mut pod = json!({"metadata": {"name": "p"}, "spec": {"priority": 5}});
        let e = resolve_priority(&mut pod, Some(("d".into(), 7, Some("Never".into()))), None)
            .unwrap_err();
        assert!(e.to_string().contains("computed 7"), "{e}");
    }
}
