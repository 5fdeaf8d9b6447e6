//! Pure Kubernetes API machinery: no I/O, no async runtime, no clock reads.
//!
//! - [`resource`]: what a resource is (group, version, kind, plural, scope, verbs, names).
//! - [`builtin`]: the built-in resources Skiff serves, taken from k8s-openapi.
//! - [`registry`]: lookup of resources by path, kind or short name, including custom resources.
//! - [`error`]: [`ApiError`], the one error type that reaches users, rendered as a meta/v1 `Status`.
//! - [`names`]: name, label and annotation validation.
//! - [`selector`]: label and field selectors.
//! - [`defaults`]: upstream defaulting for the built-in kinds.
//! - [`validation`]: required fields of the core kinds.

pub mod builtin;
pub mod cidr;
pub mod conversion;
pub mod defaults;
pub mod error;
pub mod join;
pub mod names;
pub mod pod_resources;
pub mod qos;
pub mod quantity;
pub mod registry;
pub mod resource;
pub mod selectable;
pub mod selector;
pub mod storage_class;
pub mod validation;

pub use error::{ApiError, FieldError, FieldErrorKind};
pub use registry::Registry;
pub use resource::{ResourceInfo, Scope};
