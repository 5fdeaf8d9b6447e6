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
        if let Some(normalize) = res.normalize {
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
