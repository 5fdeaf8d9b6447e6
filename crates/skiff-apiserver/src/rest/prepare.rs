//! The steps every write runs before it reaches the store: typed decoding check, defaulting,
//! metadata and kind validation, and admission.

use super::{meta, target, Storage, WriteCtx};
use crate::pipeline::{AdmissionRequest, Operation};
use serde_json::Value;
use skiff_api::{names, validation, ApiError, FieldError, ResourceInfo};

impl Storage {
    /// Defaults, validates and admits `obj` for `op`.
    pub fn prepare(
        &self,
        res: &ResourceInfo,
        op: Operation,
        subresource: &str,
        old: Option<&Value>,
        obj: &mut Value,
        ctx: &WriteCtx,
    ) -> Result<(), ApiError> {
        let name = meta::meta_str(obj, "name").to_string();
        let through_status = subresource == "status" && old.is_some();
        if let Some(normalize) = res
            .normalize
            .filter(|n| !(through_status && status_only(*n, obj)))
        {
            *obj = normalize(obj).map_err(|e| {
                ApiError::BadRequest(format!(
                    "{kind} in version \"{v}\" cannot be handled as a {kind}: {e}",
                    kind = res.kind,
                    v = res.version
                ))
            })?;
        }
        if !res.custom {
            skiff_api::defaults::apply(&res.group, &res.kind, obj);
        } else {
            let _ = crate::crd::default_and_prune(res, obj);
        }
        let mut errs = validate_meta(res, obj);
        if !res.custom {
            errs.extend(validation::validate(&res.group, &res.kind, obj));
        } else {
            errs.extend(crate::crd::validate_custom(res, obj));
        }
        if res.group == "apiextensions.k8s.io" && res.kind == "CustomResourceDefinition" {
            errs.extend(crate::crd::validate_crd(obj));
        }
        if !errs.is_empty() {
            return Err(ApiError::Invalid(target(res, &name), errs));
        }
        let req = AdmissionRequest {
            operation: op,
            user: &ctx.user,
            resource: res,
            subresource,
            old,
            dry_run: ctx.dry_run,
        };
        self.admission.run(&req, obj)
    }
}

/// Normalizes only the `status` of `obj`, for a write through `/status`: everything else is
/// the stored object's, normalized when it was written, and a pod's spec is most of it.
/// False when the status alone does not decode (then the whole object is normalized, for the
/// whole object's error).
fn status_only(normalize: fn(&Value) -> Result<Value, String>, obj: &mut Value) -> bool {
    let Some(o) = obj.as_object_mut() else {
        return false;
    };
    let Some(status) = o.get_mut("status").map(Value::take) else {
        return true;
    };
    let mut alone = serde_json::Map::new();
    for k in ["apiVersion", "kind"] {
        if let Some(v) = o.get(k) {
            alone.insert(k.into(), v.clone());
        }
    }
    alone.insert("status".into(), status);
    let mut alone = Value::Object(alone);
    match normalize(&alone) {
        Ok(mut done) => {
            match done.get_mut("status").map(Value::take) {
                Some(s) => o["status"] = s,
                None => {
                    o.shift_remove("status");
                }
            }
            true
        }
        Err(_) => {
            o["status"] = alone["status"].take();
            false
        }
    }
}

/// Validates `metadata`: name (or generateName), labels and annotations.
pub fn validate_meta(res: &ResourceInfo, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = meta::meta_str(obj, "name");
    let rule = names::rule_for(&res.group, &res.plural);
    if name.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        for e in names::validate_name(rule, name, false) {
            errs.push(FieldError::invalid("metadata.name", name, e));
        }
    }
    if let Some(l) = obj.pointer("/metadata/labels") {
        errs.extend(names::validate_labels(l, "metadata.labels"));
    }
    if let Some(a) = obj.pointer("/metadata/annotations") {
        errs.extend(names::validate_annotations(a, "metadata.annotations"));
    }
    if res.namespaced() && meta::meta_str(obj, "namespace").is_empty() {
        errs.push(FieldError::required("metadata.namespace", ""));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::status_only;
    use serde_json::{json, Value};

    fn pod_normalize() -> fn(&Value) -> Result<Value, String> {
        let reg = skiff_api::Registry::builtin();
        let res = reg.by_plural("", "v1", "pods").expect("pods are served");
        res.normalize.expect("pods are typed")
    }

    #[test]
    fn a_status_write_normalizes_the_status_as_the_whole_object_would() {
        let normalize = pod_normalize();
        let obj = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "default", "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Running", "unknownField": 1, "podIP": "10.0.0.1",
                       "conditions": [{"type": "Ready", "status": "True", "bogus": "x"}]},
        });
        let whole = normalize(&obj).unwrap();
        let mut partly = obj.clone();
        assert!(status_only(normalize, &mut partly));
        assert_eq!(partly, whole);
        assert!(partly.pointer("/status/unknownField").is_none());
        // Key order too: what is stored is what lists and watches serve.
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&partly), keys(&whole));
        assert_eq!(keys(&partly["status"]), keys(&whole["status"]));
    }

    #[test]
    fn a_null_status_goes_and_a_bad_one_falls_back_to_the_whole_object() {
        let normalize = pod_normalize();
        let mut obj =
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "status": null});
        assert!(status_only(normalize, &mut obj));
        assert_eq!(obj, normalize(&obj).unwrap());
        assert!(obj.get("status").is_none());
        let bad = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                         "status": {"phase": 7}});
        let mut obj = bad.clone();
        assert!(!status_only(normalize, &mut obj));
        assert_eq!(obj, bad, "left as it was for the whole object's error");
        assert!(normalize(&bad).is_err());
    }
}
