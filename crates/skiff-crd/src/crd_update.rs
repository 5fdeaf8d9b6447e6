//! Rules that only apply when a stored CustomResourceDefinition is updated (upstream's
//! `ValidateCustomResourceDefinitionUpdate`): immutable group, plural (and scope and kind once
//! established), and stored versions that must stay in `spec.versions`.

use crate::crd_validation::validate_crd_with;
use crate::error::FieldError;
use crate::schema as sc;
use serde_json::Value;

/// JSON pointer of the API-approval annotation.
pub(crate) const APPROVAL_POINTER: &str = "/metadata/annotations/api-approved.kubernetes.io";

/// Validates an update of the stored CRD `old` to `crd`: everything [`crate::validate_crd`]
/// checks, plus immutability of `spec.group` and `spec.names.plural` (and of `spec.scope` and
/// `spec.names.kind` once `old` is Established) and that every version in `old`'s
/// `status.storedVersions` is still listed in `spec.versions`. The approval annotation and
/// `spec.preserveUnknownFields` are only checked when they change, as upstream does.
pub fn validate_crd_update(crd: &Value, old: &Value) -> Vec<FieldError> {
    validate_crd_with(crd, Some(old))
}

fn established(crd: &Value) -> bool {
    sc::list(crd.get("status").unwrap_or(&Value::Null), "conditions")
        .iter()
        .any(|c| sc::str_of(c, "type") == "Established" && sc::str_of(c, "status") == "True")
}

/// The update-only errors, in upstream's order (spec immutability, then stored versions).
pub(crate) fn update_checks(crd: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let at = |v: &Value, ptr: &str| v.pointer(ptr).cloned().unwrap_or(Value::Null);
    let mut immutable = |field: &str, ptr: &str| {
        let new = at(crd, ptr);
        if new != at(old, ptr) {
            errs.push(FieldError::invalid(field, new, "field is immutable"));
        }
    };
    if established(old) {
        immutable("spec.scope", "/spec/scope");
        immutable("spec.names.kind", "/spec/names/kind");
    }
    immutable("spec.group", "/spec/group");
    immutable("spec.names.plural", "/spec/names/plural");

    // Upstream keeps the old status on update, adding the new storage version.
    let versions = sc::list(crd.get("spec").unwrap_or(&Value::Null), "versions");
    let listed = |name: &str| versions.iter().any(|v| sc::str_of(v, "name") == name);
    let status = old.get("status").unwrap_or(&Value::Null);
    let mut stored: Vec<&str> = sc::strings(status, "storedVersions");
    if let Some(storage) = versions
        .iter()
        .find(|v| sc::flag(v, "storage"))
        .map(|v| sc::str_of(v, "name"))
    {
        if !stored.contains(&storage) {
            stored.push(storage);
        }
    }
    if stored.is_empty() {
        errs.push(FieldError::invalid(
            "status.storedVersions",
            Value::Array(vec![]),
            "must have at least one stored version",
        ));
    }
    for (i, v) in stored.iter().enumerate() {
        if !listed(v) {
            errs.push(FieldError::invalid(
                format!("status.storedVersions[{i}]"),
                *v,
                "must appear in spec.versions",
            ));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{crontab_crd, fe, inv};
    use serde_json::json;

    #[test]
    fn update_rules() {
        let mut old = crontab_crd();
        old["status"] = json!({"storedVersions": ["v1beta1", "v1"], "conditions": [{"type": "Established", "status": "True"}]});
        let mut new = old.clone();
        new["spec"]["scope"] = json!("Cluster");
        new["spec"]["names"]["plural"] = json!("crons");
        new["metadata"]["name"] = json!("crons.stable.example.com");
        assert_eq!(
            validate_crd_update(&new, &old),
            vec![
                fe("spec.scope", inv("Cluster"), "field is immutable"),
                fe("spec.names.plural", inv("crons"), "field is immutable"),
                fe(
                    "status.storedVersions[0]",
                    inv("v1beta1"),
                    "must appear in spec.versions"
                ),
            ]
        );
        old["status"]["storedVersions"] = json!(["v1"]);
        assert_eq!(validate_crd_update(&old, &old), Vec::<FieldError>::new());
    }
}
