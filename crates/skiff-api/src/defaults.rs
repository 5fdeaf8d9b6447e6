//! Upstream defaulting for the built-in kinds (what `kubectl get -o yaml` shows and `kubectl diff`
//! compares). Works on JSON so that unknown fields are preserved byte for byte.

use serde_json::{json, Map, Value};

fn obj(v: &mut Value) -> Option<&mut Map<String, Value>> {
    v.as_object_mut()
}

/// Sets `key` to `value` when absent or null.
fn default(m: &mut Map<String, Value>, key: &str, value: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_string(), value);
    }
}

fn child<'a>(m: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    m.get_mut(key).and_then(Value::as_object_mut)
}

fn each<'a>(
    m: &'a mut Map<String, Value>,
    key: &str,
) -> impl Iterator<Item = &'a mut Map<String, Value>> {
    m.get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flat_map(|a| a.iter_mut().filter_map(Value::as_object_mut))
}

/// `Always` for `:latest` or untagged images, else `IfNotPresent` (digests count as tagged).
pub fn image_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) if tag != "latest" => "IfNotPresent",
        _ => "Always",
    }
}

fn default_probe(p: &mut Map<String, Value>) {
    default(p, "timeoutSeconds", json!(1));
    default(p, "periodSeconds", json!(10));
    default(p, "successThreshold", json!(1));
    default(p, "failureThreshold", json!(3));
    if let Some(h) = child(p, "httpGet") {
        default(h, "scheme", json!("HTTP"));
        default(h, "path", json!("/"));
    }
}

fn default_container(c: &mut Map<String, Value>) {
    default(c, "terminationMessagePath", json!("/dev/termination-log"));
    default(c, "terminationMessagePolicy", json!("File"));
    let image = c
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    default(c, "imagePullPolicy", json!(image_pull_policy(&image)));
    default(c, "resources", json!({}));
    for p in each(c, "ports") {
        default(p, "protocol", json!("TCP"));
    }
    for e in each(c, "env") {
        if let Some(fr) = child(e, "valueFrom").and_then(|vf| child(vf, "fieldRef")) {
            default(fr, "apiVersion", json!("v1"));
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = child(c, probe) {
            default_probe(p);
        }
    }
}

/// Defaults a PodSpec (used by pods and every pod template).
pub fn pod_spec(spec: &mut Map<String, Value>) {
    default(spec, "restartPolicy", json!("Always"));
    default(spec, "dnsPolicy", json!("ClusterFirst"));
    default(spec, "schedulerName", json!("default-scheduler"));
    default(spec, "terminationGracePeriodSeconds", json!(30));
    default(spec, "securityContext", json!({}));
    for key in ["containers", "initContainers", "ephemeralContainers"] {
        for c in each(spec, key) {
            default_container(c);
        }
    }
    for v in each(spec, "volumes") {
        for src in ["configMap", "secret"] {
            if let Some(s) = child(v, src) {
                default(s, "defaultMode", json!(420));
            }
        }
        if let Some(p) = child(v, "projected") {
            default(p, "defaultMode", json!(420));
        }
        if let Some(p) = child(v, "downwardAPI") {
            default(p, "defaultMode", json!(420));
        }
        if let Some(h) = child(v, "hostPath") {
            default(h, "type", json!(""));
        }
    }
}

fn template_spec(spec: &mut Map<String, Value>) {
    if let Some(ps) = child(spec, "template").and_then(|t| child(t, "spec")) {
        pod_spec(ps);
    }
}

/// Applies upstream defaults to an object of `group`/`kind`. Idempotent.
///
/// ```
/// let mut d = serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}}});
/// skiff_api::defaults::apply("apps", "Deployment", &mut d);
/// assert_eq!(d["spec"]["replicas"], 1);
/// assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
/// assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"], "Always");
/// ```
pub fn apply(group: &str, kind: &str, object: &mut Value) {
    let Some(o) = obj(object) else { return };
    if kind == "Secret" && group.is_empty() {
        default(o, "type", json!("Opaque"));
        return;
    }
    if kind == "Namespace" && group.is_empty() {
        let name = o
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .map(str::to_string);
        if let (Some(name), Some(meta)) = (name, child(o, "metadata")) {
            default(meta, "labels", json!({}));
            if let Some(l) = child(meta, "labels") {
                l.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
        }
        default(o, "spec", json!({}));
        if let Some(s) = child(o, "spec") {
            default(s, "finalizers", json!(["kubernetes"]));
        }
        default(o, "status", json!({}));
        if let Some(s) = child(o, "status") {
            default(s, "phase", json!("Active"));
        }
        return;
    }
    default(o, "spec", json!({}));
    let Some(spec) = child(o, "spec") else { return };
    match (group, kind) {
        ("", "Pod") => {
            pod_spec(spec);
            default(spec, "enableServiceLinks", json!(true));
            // priority and preemptionPolicy come from the Priority admission plugin.
            default(spec, "serviceAccountName", json!("default"));
            if let Some(sa) = spec.get("serviceAccountName").cloned() {
                default(spec, "serviceAccount", sa);
            }
            // Tolerations for not-ready/unreachable come from the DefaultTolerationSeconds
            // admission plugin (skiff-apiserver), not from defaulting.
        }
        ("", "PodTemplate") => {
            if let Some(ps) = child(o, "template").and_then(|t| child(t, "spec")) {
                pod_spec(ps);
            }
            o.remove("spec");
        }
        ("", "ReplicationController") => {
            default(spec, "replicas", json!(1));
            let labels = spec
                .get("template")
                .and_then(|t| t.pointer("/metadata/labels"))
                .cloned();
            if let Some(l) = labels {
                default(spec, "selector", l);
            }
            template_spec(spec);
        }
        ("", "Service") => {
            let ty = spec
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("ClusterIP")
                .to_string();
            default(spec, "type", json!(ty));
            default(spec, "sessionAffinity", json!("None"));
            if ty != "ExternalName" {
                default(spec, "internalTrafficPolicy", json!("Cluster"));
            }
            if ty == "NodePort" || ty == "LoadBalancer" {
                default(spec, "externalTrafficPolicy", json!("Cluster"));
            }
            for p in each(spec, "ports") {
                default(p, "protocol", json!("TCP"));
                if let Some(port) = p.get("port").cloned() {
                    default(p, "targetPort", port);
                }
            }
        }
        ("", "PersistentVolumeClaim") => default(spec, "volumeMode", json!("Filesystem")),
        ("", "PersistentVolume") => {
            default(spec, "persistentVolumeReclaimPolicy", json!("Retain"));
            default(spec, "volumeMode", json!("Filesystem"));
        }
        ("apps", "Deployment") => {
            default(spec, "replicas", json!(1));
            default(spec, "revisionHistoryLimit", json!(10));
            default(spec, "progressDeadlineSeconds", json!(600));
            default(spec, "strategy", json!({}));
            if let Some(s) = child(spec, "strategy") {
                default(s, "type", json!("RollingUpdate"));
                if s.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                    default(s, "rollingUpdate", json!({}));
                    if let Some(ru) = child(s, "rollingUpdate") {
                        default(ru, "maxSurge", json!("25%"));
                        default(ru, "maxUnavailable", json!("25%"));
                    }
                }
            }
            template_spec(spec);
        }
        ("apps", "ReplicaSet") => {
            default(spec, "replicas", json!(1));
            template_spec(spec);
        }
        ("apps", "StatefulSet") => {
            default(spec, "replicas", json!(1));
            default(spec, "podManagementPolicy", json!("OrderedReady"));
            default(spec, "revisionHistoryLimit", json!(10));
            default(spec, "updateStrategy", json!({}));
            if let Some(s) = child(spec, "updateStrategy") {
                default(s, "type", json!("RollingUpdate"));
                if s.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                    default(s, "rollingUpdate", json!({}));
                    if let Some(ru) = child(s, "rollingUpdate") {
                        default(ru, "partition", json!(0));
                    }
                }
            }
            default(
                spec,
                "persistentVolumeClaimRetentionPolicy",
                json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
            );
            for pvc in each(spec, "volumeClaimTemplates") {
                if let Some(s) = child(pvc, "spec") {
                    default(s, "volumeMode", json!("Filesystem"));
                }
            }
            template_spec(spec);
        }
        ("apps", "DaemonSet") => {
            default(spec, "revisionHistoryLimit", json!(10));
            default(spec, "updateStrategy", json!({}));
            if let Some(s) = child(spec, "updateStrategy") {
                default(s, "type", json!("RollingUpdate"));
                if s.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                    default(s, "rollingUpdate", json!({}));
                    if let Some(ru) = child(s, "rollingUpdate") {
                        default(ru, "maxUnavailable", json!(1));
                        default(ru, "maxSurge", json!(0));
                    }
                }
            }
            template_spec(spec);
        }
        ("batch", "Job") => job_spec(spec),
        ("autoscaling", "HorizontalPodAutoscaler") => {
            default(spec, "minReplicas", json!(1));
            let v2 = o.get("apiVersion").and_then(Value::as_str) == Some("autoscaling/v2");
            if let (true, Some(spec)) = (v2, child(o, "spec")) {
                if spec
                    .get("metrics")
                    .and_then(Value::as_array)
                    .is_none_or(|m| m.is_empty())
                {
                    spec.insert(
                        "metrics".into(),
                        json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]),
                    );
                }
            }
        }
        ("batch", "CronJob") => {
            default(spec, "concurrencyPolicy", json!("Allow"));
            default(spec, "suspend", json!(false));
            default(spec, "successfulJobsHistoryLimit", json!(3));
            default(spec, "failedJobsHistoryLimit", json!(1));
            if let Some(js) = child(spec, "jobTemplate").and_then(|t| child(t, "spec")) {
                job_spec(js);
            }
        }
        ("scheduling.k8s.io", "PriorityClass") => {
            o.remove("spec");
            default(o, "preemptionPolicy", json!("PreemptLowerPriority"));
        }
        ("storage.k8s.io", "StorageClass") => {
            o.remove("spec");
            default(o, "reclaimPolicy", json!("Delete"));
            default(o, "volumeBindingMode", json!("Immediate"));
        }
        _ => {
            // Kinds without a spec keep their shape: drop the placeholder we added.
            if spec.is_empty() && !has_spec(kind) {
                o.remove("spec");
            }
        }
    }
}

fn job_spec(spec: &mut Map<String, Value>) {
    let has_completions = spec.get("completions").is_some_and(|v| !v.is_null());
    let has_parallelism = spec.get("parallelism").is_some_and(|v| !v.is_null());
    if !has_completions && !has_parallelism {
        spec.insert("completions".into(), json!(1));
        spec.insert("parallelism".into(), json!(1));
    }
    default(spec, "parallelism", json!(1));
    default(spec, "backoffLimit", json!(6));
    default(spec, "completionMode", json!("NonIndexed"));
    default(spec, "suspend", json!(false));
    default(spec, "manualSelector", Value::Null);
    if spec.get("manualSelector").is_some_and(Value::is_null) {
        spec.remove("manualSelector");
    }
    default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
    template_spec(spec);
}

/// Kinds whose objects carry a `spec` (so an empty one is kept).
fn has_spec(kind: &str) -> bool {
    matches!(
        kind,
        "Node"
            | "LimitRange"
            | "ResourceQuota"
            | "NetworkPolicy"
            | "Ingress"
            | "IngressClass"
            | "HorizontalPodAutoscaler"
            | "PodDisruptionBudget"
            | "Lease"
            | "CertificateSigningRequest"
            | "CustomResourceDefinition"
            | "CSIDriver"
            | "CSINode"
            | "VolumeAttachment"
            | "ValidatingAdmissionPolicy"
            | "ValidatingAdmissionPolicyBinding"
            | "IPAddress"
            | "ServiceCIDR"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(image_pull_policy("nginx"), "Always");
        assert_eq!(image_pull_policy("nginx:latest"), "Always");
        assert_eq!(image_pull_policy("nginx:1.25"), "IfNotPresent");
        assert_eq!(image_pull_policy("localhost:5000/nginx"), "Always");
        assert_eq!(image_pull_policy("localhost:5000/nginx:v1"), "IfNotPresent");
        assert_eq!(image_pull_policy("nginx@sha256:abc"), "IfNotPresent");
    }

    #[test]
    fn pods_get_upstream_defaults_and_defaulting_is_idempotent() {
        let mut p = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox:1", "ports": [{"containerPort": 80}]}]}});
        apply("", "Pod", &mut p);
        let once = p.clone();
        apply("", "Pod", &mut p);
        assert_eq!(p, once);
        assert_eq!(p["spec"]["restartPolicy"], "Always");
        assert_eq!(p["spec"]["dnsPolicy"], "ClusterFirst");
        assert_eq!(p["spec"]["enableServiceLinks"], true);
        assert_eq!(p["spec"]["containers"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(
            p["spec"]["containers"][0]["terminationMessagePolicy"],
            "File"
        );
        // Tolerations and priority are admission's business, not defaulting's.
        assert!(p["spec"].get("tolerations").is_none());
        assert!(p["spec"].get("priority").is_none());
    }

    #[test]
    fn services_default_target_port_and_type() {
        let mut s = json!({"spec": {"ports": [{"port": 80}]}});
        apply("", "Service", &mut s);
        assert_eq!(s["spec"]["type"], "ClusterIP");
        assert_eq!(s["spec"]["ports"][0]["targetPort"], 80);
        assert_eq!(s["spec"]["sessionAffinity"], "None");
    }

    #[test]
    fn configmaps_get_no_spec() {
        let mut c = json!({"data": {"a": "b"}});
        apply("", "ConfigMap", &mut c);
        assert!(c.get("spec").is_none());
    }

    #[test]
    fn jobs_default_completions_only_when_both_unset() {
        let mut j = json!({"spec": {"parallelism": 3, "template": {"spec": {"containers": []}}}});
        apply("batch", "Job", &mut j);
        assert!(j["spec"].get("completions").is_none());
        assert_eq!(j["spec"]["backoffLimit"], 6);
    }
}
