//! Conversion between the versions of a resource that share one storage: `events.k8s.io/v1`
//! Events are stored as core `v1` Events (so `kubectl describe` sees events recorded through
//! either API), `autoscaling/v1` HorizontalPodAutoscalers as `autoscaling/v2` (upstream's
//! storage version), and custom resources convert with strategy `None` (only `apiVersion`
//! changes). Pure functions over JSON, like upstream's generated conversions.

use serde_json::{json, Map, Value};

/// Converts `obj` to `to_api_version` (e.g. `events.k8s.io/v1`). Objects of kinds without a
/// field mapping only get their `apiVersion` set.
pub fn convert(obj: &Value, to_api_version: &str) -> Value {
    let from = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if from == to_api_version {
        return obj.clone();
    }
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let mut out = match (kind, from, to_api_version) {
        ("Event", "v1", "events.k8s.io/v1") => rename(obj, CORE_TO_EVENTS),
        ("Event", "events.k8s.io/v1", "v1") => rename(obj, EVENTS_TO_CORE),
        ("HorizontalPodAutoscaler", "autoscaling/v2", "autoscaling/v1") => hpa_v2_to_v1(obj),
        ("HorizontalPodAutoscaler", "autoscaling/v1", "autoscaling/v2") => hpa_v1_to_v2(obj),
        _ => obj.clone(),
    };
    out["apiVersion"] = json!(to_api_version);
    out
}

/// core/v1 Event field → events.k8s.io/v1 field.
const CORE_TO_EVENTS: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
];

/// events.k8s.io/v1 Event field → core/v1 field.
const EVENTS_TO_CORE: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

fn rename(obj: &Value, pairs: &[(&str, &str)]) -> Value {
    let Some(m) = obj.as_object() else {
        return obj.clone();
    };
    let out: Map<String, Value> = m
        .iter()
        .map(|(k, v)| {
            let key = pairs
                .iter()
                .find(|(from, _)| from == k)
                .map_or(k.as_str(), |(_, to)| to);
            (key.to_string(), v.clone())
        })
        .collect();
    Value::Object(out)
}

const METRICS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/metrics";
const CURRENT_METRICS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
const CONDITIONS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/conditions";
const BEHAVIOR_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/behavior";

/// Copies the fields named in `keys` that `from` has into `to`.
fn copy_fields(from: &Value, to: &mut Value, keys: &[&str]) {
    for k in keys {
        if let Some(v) = from.get(*k) {
            to[*k] = v.clone();
        }
    }
}

/// Spec fields both HPA versions share.
const HPA_SPEC_FIELDS: &[&str] = &["scaleTargetRef", "minReplicas", "maxReplicas"];
/// Status fields both HPA versions share.
const HPA_STATUS_FIELDS: &[&str] = &[
    "observedGeneration",
    "lastScaleTime",
    "currentReplicas",
    "desiredReplicas",
];

fn is_cpu_utilization(metric: &Value) -> bool {
    metric["type"] == "Resource"
        && metric["resource"]["name"] == "cpu"
        && metric["resource"]["target"]["type"] == "Utilization"
}

fn annotate(obj: &mut Value, key: &str, value: &Value) {
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    if !obj["metadata"]["annotations"].is_object() {
        obj["metadata"]["annotations"] = json!({});
    }
    obj["metadata"]["annotations"][key] = json!(value.to_string());
}

fn take_annotation(obj: &mut Value, key: &str) -> Option<Value> {
    let ann = obj.pointer_mut("/metadata/annotations")?.as_object_mut()?;
    let raw = ann.remove(key)?;
    if ann.is_empty() {
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("annotations");
        }
    }
    serde_json::from_str(raw.as_str()?).ok()
}

/// autoscaling/v2 → v1: the CPU utilization target becomes `targetCPUUtilizationPercentage`;
/// every other metric, the behavior and the status conditions travel in upstream's annotations.
fn hpa_v2_to_v1(obj: &Value) -> Value {
    let mut out = obj.clone();
    let spec = obj.get("spec").cloned().unwrap_or(json!({}));
    let mut v1_spec = json!({});
    copy_fields(&spec, &mut v1_spec, HPA_SPEC_FIELDS);
    let metrics = spec["metrics"].as_array().cloned().unwrap_or_default();
    let (cpu, other): (Vec<Value>, Vec<Value>) = metrics.into_iter().partition(is_cpu_utilization);
    if let Some(u) = cpu
        .first()
        .and_then(|m| m["resource"]["target"].get("averageUtilization"))
    {
        v1_spec["targetCPUUtilizationPercentage"] = u.clone();
    }
    if !other.is_empty() {
        annotate(&mut out, METRICS_ANNOTATION, &json!(other));
    }
    if let Some(b) = spec.get("behavior") {
        annotate(&mut out, BEHAVIOR_ANNOTATION, b);
    }
    out["spec"] = v1_spec;
    if let Some(status) = obj.get("status") {
        let mut s = json!({});
        copy_fields(status, &mut s, HPA_STATUS_FIELDS);
        if s.get("currentReplicas").is_none() {
            s["currentReplicas"] = json!(0);
        }
        if s.get("desiredReplicas").is_none() {
            s["desiredReplicas"] = json!(0);
        }
        let current = status["currentMetrics"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let (cpu, other): (Vec<Value>, Vec<Value>) = current
            .into_iter()
            .partition(|m| m["type"] == "Resource" && m["resource"]["name"] == "cpu");
        if let Some(u) = cpu
            .first()
            .and_then(|m| m["resource"]["current"].get("averageUtilization"))
        {
            s["currentCPUUtilizationPercentage"] = u.clone();
        }
        if !other.is_empty() {
            annotate(&mut out, CURRENT_METRICS_ANNOTATION, &json!(other));
        }
        if let Some(c) = status.get("conditions") {
            annotate(&mut out, CONDITIONS_ANNOTATION, c);
        }
        out["status"] = s;
    }
    out
}

/// autoscaling/v1 → v2: the inverse of [`hpa_v2_to_v1`].
fn hpa_v1_to_v2(obj: &Value) -> Value {
    let mut out = obj.clone();
    let other = take_annotation(&mut out, METRICS_ANNOTATION);
    let behavior = take_annotation(&mut out, BEHAVIOR_ANNOTATION);
    let current_other = take_annotation(&mut out, CURRENT_METRICS_ANNOTATION);
    let conditions = take_annotation(&mut out, CONDITIONS_ANNOTATION);
    let spec = obj.get("spec").cloned().unwrap_or(json!({}));
    let mut v2_spec = json!({});
    copy_fields(&spec, &mut v2_spec, HPA_SPEC_FIELDS);
    let mut metrics = Vec::new();
    if let Some(u) = spec.get("targetCPUUtilizationPercentage") {
        metrics.push(json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": u}}}));
    }
    if let Some(Value::Array(o)) = other {
        metrics.extend(o);
    }
    if !metrics.is_empty() {
        v2_spec["metrics"] = json!(metrics);
    }
    if let Some(b) = behavior {
        v2_spec["behavior"] = b;
    }
    out["spec"] = v2_spec;
    if let Some(status) = obj.get("status") {
        let mut s = json!({});
        copy_fields(status, &mut s, HPA_STATUS_FIELDS);
        let mut current = Vec::new();
        if let Some(u) = status.get("currentCPUUtilizationPercentage") {
            current.push(json!({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": u}}}));
        }
        if let Some(Value::Array(o)) = current_other {
            current.extend(o);
        }
        if !current.is_empty() {
            s["currentMetrics"] = json!(current);
        }
        if let Some(c) = conditions {
            s["conditions"] = c;
        }
        out["status"] = s;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_between_groups() {
        let core = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
            "involvedObject": {"kind": "Pod", "name": "p"}, "message": "hello", "reason": "Started",
            "source": {"component": "kubelet"}, "count": 2, "type": "Normal"});
        let ev = convert(&core, "events.k8s.io/v1");
        assert_eq!(ev["apiVersion"], "events.k8s.io/v1");
        assert_eq!(ev["regarding"]["name"], "p");
        assert_eq!(ev["note"], "hello");
        assert_eq!(ev["deprecatedSource"]["component"], "kubelet");
        assert_eq!(ev["deprecatedCount"], 2);
        assert!(ev.get("message").is_none());
        assert_eq!(convert(&ev, "v1"), core);
    }

    #[test]
    fn hpa_cpu_target_maps_both_ways_and_other_metrics_survive() {
        let v2 = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"}, "minReplicas": 1, "maxReplicas": 5,
                "metrics": [
                    {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}},
                    {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}}
                ]},
            "status": {"currentReplicas": 2, "desiredReplicas": 3}});
        let v1 = convert(&v2, "autoscaling/v1");
        assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 60);
        assert!(v1["spec"].get("metrics").is_none());
        assert!(v1["metadata"]["annotations"][METRICS_ANNOTATION]
            .as_str()
            .unwrap()
            .contains("memory"));
        let back = convert(&v1, "autoscaling/v2");
        assert_eq!(back["spec"], v2["spec"]);
        assert_eq!(back["status"], v2["status"]);
        assert!(back["metadata"].get("annotations").is_none());
    }

    #[test]
    fn same_version_and_plain_kinds_only_set_api_version() {
        let cr = json!({"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"a": 1}});
        let v2 = convert(&cr, "example.com/v2");
        assert_eq!(
            v2,
            json!({"apiVersion": "example.com/v2", "kind": "Widget", "spec": {"a": 1}})
        );
        assert_eq!(convert(&cr, "example.com/v1"), cr);
    }
}
