//! CustomResourceDefinition logic for the API server (apiextensions.k8s.io/v1), pure and
//! synchronous over `serde_json::Value`, following k8s.io/apiextensions-apiserver.
//!
//! - [`validate_crd`] / [`validate_crd_update`] / [`default_crd`]: the CRD object itself
//!   (`crd_validation`, `crd_update`, `crd_parts`, `structural`, `schema_rules`, `default_check`).
//! - [`validate`]: a custom object against its version's `openAPIV3Schema` (`validate`,
//!   `scalars`, `formats`, `invariants`).
//! - [`prune`]: removal of undeclared fields, returning their paths.
//! - [`apply_defaults`]: schema defaults applied to a custom object.
//! - [`json_path_get`] / [`json_path_set`]: the scale subresource's simple JSON paths.
//! - [`FieldError`] / [`FieldErrorKind`]: errors with upstream's paths and detail texts.

mod crd_parts;
mod crd_update;
mod crd_validation;
mod default_check;
mod defaults;
mod error;
mod formats;
mod invariants;
mod jsonpath;
mod names;
mod prune;
mod scalars;
mod schema;
mod schema_rules;
mod structural;
mod validate;

pub use crd_update::validate_crd_update;
pub use crd_validation::validate_crd;
pub use defaults::{apply_defaults, default_crd};
pub use error::{FieldError, FieldErrorKind};
pub use jsonpath::{json_path_get, json_path_set};
pub use prune::prune;
pub use validate::validate;

#[cfg(test)]
mod tests;
