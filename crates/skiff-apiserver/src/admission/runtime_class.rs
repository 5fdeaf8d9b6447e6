//! The RuntimeClass admission plugin, like upstream's: a new pod that names a RuntimeClass
//! gets the class's `overhead.podFixed` as its `spec.overhead` (so the scheduler, quotas and
//! the node's pod cgroup count it) and the class's `scheduling` (its nodeSelector merged into
//! the pod's, its tolerations added); a class that does not exist, an overhead the pod set
//! itself that differs from the class's, or a nodeSelector conflict refuse the pod (403).
//!
//! ```
//! use skiff_apiserver::admission::runtime_class::apply;
//! let mut pod = serde_json::json!({"metadata": {"name": "p"}, "spec": {"runtimeClassName": "kata"}});
//! let class = serde_json::json!({"handler": "kata", "overhead": {"podFixed": {"memory": "120Mi"}}});
//! apply(&mut pod, Some(&class)).unwrap();
//! assert_eq!(pod["spec"]["overhead"], serde_json::json!({"memory": "120Mi"}));
//! ```

use k8s_openapi::api::core::v1::Toleration;
use serde_json::{json, Value};
use skiff_api::ApiError;

/// The pod's name as upstream's admission errors show it (empty before a generated name).
fn pod_name(pod: &Value) -> &str {
    pod.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn forbidden(pod: &Value, why: &str) -> ApiError {
    ApiError::Forbidden(format!("pods \"{}\" is forbidden: {why}", pod_name(pod)))
}

/// Whether two resource lists hold the same quantities (`1Gi` equals `1024Mi`).
fn same_quantities(a: &Value, b: &Value) -> bool {
    let list = |v: &Value| -> Option<Vec<(String, Option<i128>)>> {
        let mut out: Vec<_> = v
            .as_object()?
            .iter()
            .map(|(k, q)| (k.clone(), q.as_str().and_then(skiff_api::quantity::parse)))
            .collect();
        out.sort();
        Some(out)
    };
    match (a.is_null(), b.is_null()) {
        (true, true) => true,
        (false, false) => list(a) == list(b),
        _ => false,
    }
}

/// PURE — the plugin on a new pod, given the RuntimeClass it names (`None`: it names none).
/// The lookup (and "not found") is the caller's.
pub fn apply(pod: &mut Value, class: Option<&Value>) -> Result<(), ApiError> {
    let given = pod
        .pointer("/spec/overhead")
        .cloned()
        .unwrap_or(Value::Null);
    let Some(class) = class else {
        if !given.is_null() {
            return Err(forbidden(
                pod,
                "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead",
            ));
        }
        return Ok(());
    };
    // Overhead: the class's, which a pod may only repeat.
    match class.get("overhead").filter(|o| !o.is_null()) {
        Some(overhead) => {
            let fixed = overhead.get("podFixed").cloned().unwrap_or(Value::Null);
            let set = given.as_object().is_some_and(|m| !m.is_empty());
            if set && !same_quantities(&fixed, &given) {
                return Err(forbidden(
                    pod,
                    "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead",
                ));
            }
            if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
                if fixed.is_null() {
                    spec.remove("overhead");
                } else {
                    spec.insert("overhead".into(), fixed);
                }
            }
        }
        None if !given.is_null() => {
            return Err(forbidden(
                pod,
                "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead",
            ));
        }
        None => {}
    }
    // Scheduling: the class's node selector and tolerations join the pod's.
    let Some(scheduling) = class.get("scheduling").filter(|s| !s.is_null()) else {
        return Ok(());
    };
    let mut selector = pod
        .pointer("/spec/nodeSelector")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(wanted) = scheduling.get("nodeSelector").and_then(Value::as_object) {
        for (k, v) in wanted {
            if let Some(mine) = selector.get(k).filter(|mine| *mine != v) {
                let show = |v: &Value| v.as_str().unwrap_or_default().to_string();
                return Err(forbidden(
                    pod,
                    &format!(
                        "conflict: runtimeClass.scheduling.nodeSelector[{k}] = {}; pod.spec.nodeSelector[{k}] = {}",
                        show(v),
                        show(mine)
                    ),
                ));
            }
            selector.insert(k.clone(), v.clone());
        }
    }
    let read = |v: Option<&Value>| -> Vec<Toleration> {
        v.and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    };
    let mine = read(pod.pointer("/spec/tolerations"));
    let theirs = read(scheduling.get("tolerations"));
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    if !selector.is_empty() {
        spec.insert("nodeSelector".into(), Value::Object(selector));
    }
    if !theirs.is_empty() {
        spec.insert("tolerations".into(), json!(merge_tolerations(mine, theirs)));
    }
    Ok(())
}

/// Upstream's `MergeTolerations`: both lists, keeping only the widest of tolerations where one
/// tolerates everything another does (the first of equal ones).
pub fn merge_tolerations(first: Vec<Toleration>, second: Vec<Toleration>) -> Vec<Toleration> {
    let all: Vec<Toleration> = first.into_iter().chain(second).collect();
    let mut merged: Vec<Toleration> = Vec::new();
    for (i, t) in all.iter().enumerate() {
        let redundant = merged.iter().any(|m| is_superset(m, t))
            || all[i + 1..]
                .iter()
                .any(|later| later != t && is_superset(later, t));
        if !redundant {
            merged.push(t.clone());
        }
    }
    merged
}

/// Whether `ss` tolerates everything `t` does (upstream `isSuperset`).
fn is_superset(ss: &Toleration, t: &Toleration) -> bool {
    if ss == t {
        return true;
    }
    let op = |x: &Toleration| x.operator.clone().unwrap_or_default();
    let exists = |x: &Toleration| op(x) == "Exists";
    let key = |x: &Toleration| x.key.clone().unwrap_or_default();
    if key(t) != key(ss) && (!key(ss).is_empty() || !exists(ss)) {
        return false;
    }
    let effect = |x: &Toleration| x.effect.clone().unwrap_or_default();
    if effect(t) != effect(ss) && !effect(ss).is_empty() {
        return false;
    }
    if effect(ss) == "NoExecute" {
        if let Some(limit) = ss.toleration_seconds {
            if t.toleration_seconds.is_none_or(|s| s > limit) {
                return false;
            }
        }
    }
    match op(ss).as_str() {
        "" | "Equal" => matches!(op(t).as_str(), "" | "Equal") && t.value == ss.value,
        "Exists" => true,
        _ => false,
    }
}

impl crate::rest::Storage {
    /// The RuntimeClass admission plugin on a new pod: looks its class up and applies
    /// [`apply`]; an unknown class refuses the pod like upstream.
    pub async fn admit_runtime_class(&self, pod: &mut Value) -> Result<(), ApiError> {
        let name = pod
            .pointer("/spec/runtimeClassName")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(str::to_string);
        let Some(name) = name else {
            return apply(pod, None);
        };
        let Some(res) = self
            .registry
            .by_plural("node.k8s.io", "v1", "runtimeclasses")
        else {
            return Ok(());
        };
        match self.lookup(&res, "", &name).await? {
            Some(class) => apply(pod, Some(&class)),
            None => Err(forbidden(
                pod,
                &format!("pod rejected: RuntimeClass {name:?} not found"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(spec: Value) -> Value {
        json!({"metadata": {"name": "p"}, "spec": spec})
    }

    fn message(e: ApiError) -> String {
        match e {
            ApiError::Forbidden(m) => m,
            other => panic!("not Forbidden: {other:?}"),
        }
    }

    #[test]
    fn the_class_overhead_is_set_and_a_differing_one_refused() {
        let class = json!({"overhead": {"podFixed": {"cpu": "250m", "memory": "120Mi"}}});
        let mut p = pod(json!({"runtimeClassName": "k"}));
        apply(&mut p, Some(&class)).unwrap();
        assert_eq!(
            p["spec"]["overhead"],
            json!({"cpu": "250m", "memory": "120Mi"})
        );
        // The same amounts written differently are the same overhead.
        let mut same = pod(json!({"overhead": {"cpu": "0.25", "memory": "120Mi"}}));
        apply(&mut same, Some(&class)).unwrap();
        let mut other = pod(json!({"overhead": {"cpu": "1"}}));
        assert_eq!(
            message(apply(&mut other, Some(&class)).unwrap_err()),
            "pods \"p\" is forbidden: pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead"
        );
    }

    #[test]
    fn an_overhead_without_a_class_overhead_is_refused() {
        for class in [None, Some(json!({"handler": "runc"}))] {
            let mut p = pod(json!({"overhead": {"cpu": "1"}}));
            assert_eq!(
                message(apply(&mut p, class.as_ref()).unwrap_err()),
                "pods \"p\" is forbidden: pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead"
            );
        }
        let mut plain = pod(json!({"containers": []}));
        apply(&mut plain, None).unwrap();
        assert_eq!(plain, pod(json!({"containers": []})));
    }

    #[test]
    fn scheduling_merges_the_selector_and_adds_tolerations() {
        let class = json!({"scheduling": {
            "nodeSelector": {"sandbox": "kata"},
            "tolerations": [
                {"key": "sandbox", "operator": "Exists", "effect": "NoSchedule"},
                {"key": "a", "operator": "Equal", "value": "1"},
            ],
        }});
        let mut p = pod(json!({
            "nodeSelector": {"zone": "z1"},
            "tolerations": [{"operator": "Exists", "key": "a"}],
        }));
        apply(&mut p, Some(&class)).unwrap();
        assert_eq!(
            p["spec"]["nodeSelector"],
            json!({"zone": "z1", "sandbox": "kata"})
        );
        // The pod's `a Exists` covers the class's `a=1`.
        assert_eq!(
            p["spec"]["tolerations"],
            json!([
                {"key": "a", "operator": "Exists"},
                {"key": "sandbox", "operator": "Exists", "effect": "NoSchedule"},
            ])
        );
        let mut clash = pod(json!({"nodeSelector": {"sandbox": "gvisor"}}));
        assert_eq!(
            message(apply(&mut clash, Some(&class)).unwrap_err()),
            "pods \"p\" is forbidden: conflict: runtimeClass.scheduling.nodeSelector[sandbox] = kata; pod.spec.nodeSelector[sandbox] = gvisor"
        );
    }

    #[test]
    fn tolerations_merge_like_upstream() {
        let t = |v: Value| -> Toleration { serde_json::from_value(v).unwrap() };
        let wide = t(json!({"key": "k", "operator": "Exists"}));
        let narrow =
            t(json!({"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}));
        let timed = t(
            json!({"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}),
        );
        let longer = t(
            json!({"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}),
        );
        // A later superset wins over an earlier subset; equal ones keep the first.
        assert_eq!(
            merge_tolerations(vec![narrow.clone()], vec![wide.clone(), wide.clone()]),
            vec![wide.clone()]
        );
        // A shorter tolerationSeconds does not cover a longer one.
        assert_eq!(
            merge_tolerations(vec![timed.clone()], vec![longer.clone()]),
            vec![longer.clone()]
        );
        assert_eq!(
            merge_tolerations(vec![longer.clone()], vec![timed.clone()]),
            vec![longer]
        );
        let other = t(json!({"key": "x", "operator": "Exists"}));
        assert_eq!(
            merge_tolerations(vec![other.clone()], vec![narrow.clone()]),
            vec![other, narrow]
        );
    }
}
