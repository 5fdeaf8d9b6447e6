//! managedFields bookkeeping for non-apply writes (the field-set algebra is skiff-patch's).

use super::{meta, WriteCtx};
use serde_json::Value;
use skiff_api::ResourceInfo;

/// Records the creating manager as owner of every field it set.
pub fn on_create(res: &ResourceInfo, obj: &mut Value, ctx: &WriteCtx) {
    if ctx.apply {
        return; // server-side apply computed managedFields itself
    }
    crate::schema::track_update(res, None, obj, &ctx.field_manager, "", &meta::time(ctx.now));
}

/// Moves ownership of the fields `ctx.field_manager` changed to it.
pub fn on_update(
    res: &ResourceInfo,
    old: &Value,
    new: &mut Value,
    ctx: &WriteCtx,
    operation: &str,
    subresource: &str,
) {
    // A binding writes storage directly upstream (BindingREST bypasses the field manager),
    // so the scheduler gets no managedFields entry.
    if operation == "Apply" || subresource == "binding" {
        return;
    }
    crate::schema::track_update(
        res,
        Some(old),
        new,
        &ctx.field_manager,
        subresource,
        &meta::time(ctx.now),
    );
}
