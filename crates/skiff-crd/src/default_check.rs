//! Validation of schema `default`s when a CRD is written (upstream's `defaulting.ValidateDefaults`):
//! a default must be pruned already, be a valid embedded resource where one is declared, and
//! validate against its own schema.

use crate::error::{FieldError, Path};
use crate::invariants::embedded_resources;
use crate::prune::prune_value;
use crate::schema::{self as sc, META_FIELDS};
use crate::validate::{to_field_errors, validate_value};
use serde_json::Value;

/// Errors of the defaults found in the root schema `s` at `p`.
pub(crate) fn validate_defaults(p: &Path, s: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    walk(p, s, true, false, &mut errs);
    errs
}

fn walk(p: &Path, s: &Value, resource: bool, inside_meta: bool, errs: &mut Vec<FieldError>) {
    if !s.is_object() {
        return;
    }
    let resource = resource || sc::embedded(s);
    let inside_meta = inside_meta && !sc::embedded(s);
    if let Some(d) = sc::default_of(s) {
        check_default(&p.child("default"), s, d, resource, inside_meta, errs);
    }
    if let Some(items) = sc::items(s) {
        walk(&p.child("items"), items, false, inside_meta, errs);
    }
    for (k, v) in sc::properties(s).into_iter().flatten() {
        let meta = inside_meta || (resource && META_FIELDS.contains(&k.as_str()));
        walk(&p.child("properties").key(k), v, false, meta, errs);
    }
}

fn check_default(
    dp: &Path,
    s: &Value,
    d: &Value,
    resource: bool,
    inside_meta: bool,
    errs: &mut Vec<FieldError>,
) {
    if !inside_meta {
        let mut pruned = d.clone();
        if !prune_value(s, &mut pruned, resource).is_empty() {
            errs.push(FieldError::invalid(
                dp,
                d.clone(),
                "must not have unknown fields",
            ));
        }
        let embedded = embedded_resources(dp, d, s);
        if !embedded.is_empty() {
            errs.extend(embedded);
            return;
        }
    }
    errs.extend(to_field_errors(dp, validate_value(s, d, false)));
}
