//! Required fields and basic checks of the core kinds, reported as field errors with paths.

use crate::error::FieldError;
use crate::names;
use serde_json::Value;

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn containers(spec: &Value, path: &str, key: &str, required: bool, out: &mut Vec<FieldError>) {
    let list = spec.get(key).and_then(Value::as_array);
    match list {
        None | Some(_) if required && list.is_none_or(|l| l.is_empty()) => {
            out.push(FieldError::required(format!("{path}.{key}"), ""));
        }
        _ => {}
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, c) in list.into_iter().flatten().enumerate() {
        let p = format!("{path}.{key}[{i}]");
        match str_at(c, "name") {
            None | Some("") => out.push(FieldError::required(format!("{p}.name"), "")),
            Some(n) => {
                for e in names::dns1123_label(n) {
                    out.push(FieldError::invalid(format!("{p}.name"), n, e));
                }
                if !seen.insert(n.to_string()) {
                    out.push(FieldError::duplicate(format!("{p}.name"), n));
                }
            }
        }
        if key != "ephemeralContainers" && str_at(c, "image").is_none_or(str::is_empty) {
            out.push(FieldError::required(format!("{p}.image"), ""));
        }
        container_ports(c, &p, out);
    }
}

fn access_modes(spec: &Value, path: &str, out: &mut Vec<FieldError>) {
    let supported = [
        "ReadOnlyMany",
        "ReadWriteMany",
        "ReadWriteOnce",
        "ReadWriteOncePod",
    ];
    for (i, m) in spec["accessModes"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let m = m.as_str().unwrap_or("");
        if !supported.contains(&m) {
            out.push(FieldError::not_supported(
                format!("{path}[{i}]"),
                m,
                &supported,
            ));
        }
    }
}

fn container_ports(c: &Value, path: &str, out: &mut Vec<FieldError>) {
    for (i, p) in c["ports"].as_array().into_iter().flatten().enumerate() {
        match p.get("containerPort").and_then(Value::as_i64) {
            Some(n) if (1..=65535).contains(&n) => {}
            Some(n) => out.push(FieldError::invalid(
                format!("{path}.ports[{i}].containerPort"),
                n,
                "must be between 1 and 65535, inclusive",
            )),
            None => out.push(FieldError::required(
                format!("{path}.ports[{i}].containerPort"),
                "",
            )),
        }
    }
    for (i, e) in c["env"].as_array().into_iter().flatten().enumerate() {
        if str_at(e, "name").is_none_or(str::is_empty) {
            out.push(FieldError::required(format!("{path}.env[{i}].name"), ""));
        }
    }
}

/// Validates a PodSpec found at `path`.
pub fn pod_spec(spec: &Value, path: &str) -> Vec<FieldError> {
    let mut out = Vec::new();
    containers(spec, path, "containers", true, &mut out);
    containers(spec, path, "initContainers", false, &mut out);
    if let Some(rp) = str_at(spec, "restartPolicy") {
        if !["Always", "OnFailure", "Never"].contains(&rp) {
            out.push(FieldError::not_supported(
                format!("{path}.restartPolicy"),
                rp,
                &["Always", "OnFailure", "Never"],
            ));
        }
    }
    if let Some(dp) = str_at(spec, "dnsPolicy") {
        let ok = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
        if !ok.contains(&dp) {
            out.push(FieldError::not_supported(
                format!("{path}.dnsPolicy"),
                dp,
                &ok,
            ));
        }
    }
    out
}

fn selector_matches_template(spec: &Value, out: &mut Vec<FieldError>) {
    let Some(sel) = spec.get("selector") else {
        out.push(FieldError::required("spec.selector", ""));
        return;
    };
    let labels = spec
        .pointer("/template/metadata/labels")
        .cloned()
        .unwrap_or(Value::Null);
    match crate::selector::LabelSelector::from_object(sel) {
        Ok(s) if s.is_empty() => out.push(FieldError::invalid(
            "spec.selector",
            sel.clone(),
            "empty selector is invalid for deployment",
        )),
        Ok(s) if !s.matches(&labels) => out.push(FieldError::invalid(
            "spec.template.metadata.labels",
            labels,
            "`selector` does not match template `labels`",
        )),
        Ok(_) => {}
        Err(e) => out.push(FieldError::invalid("spec.selector", sel.clone(), e)),
    }
}

/// Kind-specific validation of a whole object (after defaulting).
pub fn validate(group: &str, kind: &str, obj: &Value) -> Vec<FieldError> {
    // Borrowed, not cloned: this runs on every write, and a pod's spec is most of the pod.
    let null = Value::Null;
    let spec = obj.get("spec").unwrap_or(&null);
    let mut out = Vec::new();
    match (group, kind) {
        ("", "Pod") => out.extend(pod_spec(spec, "spec")),
        ("", "PodTemplate") => {
            let ps = obj.pointer("/template/spec").unwrap_or(&null);
            out.extend(pod_spec(ps, "template.spec"));
        }
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => {
            selector_matches_template(spec, &mut out);
            let ps = spec.pointer("/template/spec").unwrap_or(&null);
            out.extend(pod_spec(ps, "spec.template.spec"));
            if let Some(r) = spec.get("replicas").and_then(Value::as_i64) {
                if r < 0 {
                    out.push(FieldError::invalid(
                        "spec.replicas",
                        r,
                        "must be greater than or equal to 0",
                    ));
                }
            }
        }
        ("batch", "Job") => {
            let ps = spec.pointer("/template/spec").unwrap_or(&null);
            out.extend(pod_spec(ps, "spec.template.spec"));
            let rp = str_at(ps, "restartPolicy").unwrap_or("Always");
            if rp != "OnFailure" && rp != "Never" {
                out.push(FieldError::not_supported(
                    "spec.template.spec.restartPolicy",
                    rp,
                    &["OnFailure", "Never"],
                ));
            }
        }
        ("batch", "CronJob") => {
            if str_at(spec, "schedule").is_none_or(str::is_empty) {
                out.push(FieldError::required("spec.schedule", ""));
            }
            if spec.pointer("/jobTemplate/spec/template/spec").is_none() {
                out.push(FieldError::required("spec.jobTemplate", ""));
            }
        }
        ("", "Service") => {
            let ty = str_at(spec, "type").unwrap_or("ClusterIP");
            let ports = spec.get("ports").and_then(Value::as_array);
            if ty != "ExternalName"
                && ports.is_none_or(|p| p.is_empty())
                && str_at(spec, "clusterIP") != Some("None")
            {
                out.push(FieldError::required("spec.ports", ""));
            }
            for (i, p) in ports.into_iter().flatten().enumerate() {
                match p.get("port").and_then(Value::as_i64) {
                    Some(n) if (1..=65535).contains(&n) => {}
                    Some(n) => out.push(FieldError::invalid(
                        format!("spec.ports[{i}].port"),
                        n,
                        "must be between 1 and 65535, inclusive",
                    )),
                    None => out.push(FieldError::required(format!("spec.ports[{i}].port"), "")),
                }
                if ports.is_some_and(|l| l.len() > 1) && str_at(p, "name").is_none_or(str::is_empty)
                {
                    out.push(FieldError::required(format!("spec.ports[{i}].name"), ""));
                }
            }
            let types = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];
            if !types.contains(&ty) {
                out.push(FieldError::not_supported("spec.type", ty, &types));
            }
        }
        ("", "PersistentVolumeClaim") => {
            if spec
                .get("accessModes")
                .and_then(Value::as_array)
                .is_none_or(|a| a.is_empty())
            {
                out.push(FieldError::required("spec.accessModes", ""));
            }
            access_modes(spec, "spec.accessModes", &mut out);
            if spec.pointer("/resources/requests/storage").is_none() {
                out.push(FieldError::required("spec.resources[storage]", ""));
            }
        }
        ("", "PersistentVolume") => {
            if spec.pointer("/capacity/storage").is_none() {
                out.push(FieldError::required("spec.capacity", ""));
            }
            if spec
                .get("accessModes")
                .and_then(Value::as_array)
                .is_none_or(|a| a.is_empty())
            {
                out.push(FieldError::required("spec.accessModes", ""));
            }
            access_modes(spec, "spec.accessModes", &mut out);
            let sources = [
                "hostPath",
                "local",
                "nfs",
                "csi",
                "iscsi",
                "fc",
                "rbd",
                "cephfs",
                "azureFile",
                "azureDisk",
                "gcePersistentDisk",
                "awsElasticBlockStore",
                "cinder",
                "flexVolume",
                "glusterfs",
                "portworxVolume",
                "quobyte",
                "scaleIO",
                "storageos",
                "vsphereVolume",
                "photonPersistentDisk",
                "flocker",
            ];
            if !sources.iter().any(|s| spec.get(*s).is_some()) {
                out.push(FieldError::required("spec", "must specify a volume type"));
            }
        }
        ("", "Event") if obj.get("involvedObject").is_none_or(Value::is_null) => {
            out.push(FieldError::required("involvedObject", ""));
        }
        ("", "LimitRange") => {
            for (i, l) in spec["limits"].as_array().into_iter().flatten().enumerate() {
                let ty = str_at(l, "type").unwrap_or("");
                let types = ["Pod", "Container", "PersistentVolumeClaim"];
                if !types.contains(&ty) {
                    out.push(FieldError::not_supported(
                        format!("spec.limits[{i}].type"),
                        ty,
                        &types,
                    ));
                }
            }
        }
        ("", "ReplicationController") => {
            if spec
                .get("selector")
                .and_then(Value::as_object)
                .is_none_or(|m| m.is_empty())
            {
                out.push(FieldError::required("spec.selector", ""));
            }
            let ps = spec.pointer("/template/spec").unwrap_or(&null);
            out.extend(pod_spec(ps, "spec.template.spec"));
        }
        ("", "Endpoints") => {
            for (i, s) in obj["subsets"].as_array().into_iter().flatten().enumerate() {
                for (j, a) in s["addresses"].as_array().into_iter().flatten().enumerate() {
                    if str_at(a, "ip").is_none_or(str::is_empty) {
                        out.push(FieldError::required(
                            format!("subsets[{i}].addresses[{j}].ip"),
                            "",
                        ));
                    }
                }
            }
        }
        ("", "ConfigMap" | "Secret") => {
            for field in ["data", "binaryData", "stringData"] {
                if let Some(m) = obj.get(field).and_then(Value::as_object) {
                    for k in m.keys() {
                        let valid = !k.is_empty()
                            && k.len() <= 253
                            && k.chars()
                                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
                        if !valid {
                            out.push(FieldError::invalid(
                                format!("{field}[{k}]"),
                                k.as_str(),
                                "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                            ));
                        }
                    }
                }
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pods_need_containers_with_images() {
        let errs = validate("", "Pod", &json!({"spec": {"containers": [{"name": "c"}]}}));
        assert_eq!(
            errs,
            vec![FieldError::required("spec.containers[0].image", "")]
        );
        let errs = validate("", "Pod", &json!({"spec": {}}));
        assert_eq!(errs[0].field, "spec.containers");
    }

    #[test]
    fn deployment_selector_must_match_template() {
        let d = json!({"spec": {"selector": {"matchLabels": {"app": "a"}}, "template": {"metadata": {"labels": {"app": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        let errs = validate("apps", "Deployment", &d);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "spec.template.metadata.labels");
    }

    #[test]
    fn claims_need_access_modes_and_a_storage_request() {
        let errs = validate(
            "",
            "PersistentVolumeClaim",
            &json!({"spec": {"accessModes": ["ReadWriteSometimes"]}}),
        );
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec!["spec.accessModes[0]", "spec.resources[storage]"]
        );
    }

    #[test]
    fn container_ports_must_be_in_range() {
        let errs = validate(
            "",
            "Pod",
            &json!({"spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 70000}]}]}}),
        );
        assert_eq!(errs[0].field, "spec.containers[0].ports[0].containerPort");
    }

    #[test]
    fn configmap_keys_are_checked() {
        assert_eq!(
            validate(
                "",
                "ConfigMap",
                &json!({"data": {"ok.key": "", "bad key": ""}})
            )
            .len(),
            1
        );
    }
}
