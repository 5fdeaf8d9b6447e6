//! Strategic merge patch and server-side apply over `serde_json::Value`, driven by a schema.
//!
//! - [`schema`]: the type model ([`Schema`], [`Shape`], [`TypeRef`]) built from k8s-openapi
//!   or from a CRD's `openAPIV3Schema`.
//! - [`strategic`]: `application/strategic-merge-patch+json` ([`strategic_merge`]).
//! - [`apply`]: server-side apply and managed-fields tracking ([`apply::apply`],
//!   [`apply::update_managed_fields`], [`FieldSet`], [`ManagedFields`]).

#![warn(missing_docs)]

pub mod apply;
#[rustfmt::skip]
mod builtin_list_types;
#[rustfmt::skip]
mod builtin_roots;
pub mod schema;
pub mod strategic;

pub use apply::{
    apply, fields_of, track_managed_fields, update_managed_fields, ApplyError, FieldSet,
    ManagedFields, WriteContext,
};
pub use schema::{ListShape, ListType, Schema, SchemaError, Shape, TypeRef};
pub use strategic::{strategic_merge, PatchError};
