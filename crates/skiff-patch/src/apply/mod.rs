//! Server-side apply and managed-fields tracking, after kube-apiserver's field manager
//! (`k8s.io/apimachinery/pkg/util/managedfields`) and structured-merge-diff.
//!
//! - [`apply`]: merges an applied configuration into the live object, prunes fields the
//!   manager stopped applying, detects conflicts with other managers.
//! - [`update_managed_fields`]: attributes the fields changed by a create/update/patch.
//!
//! Both work in one API version (no conversion between versions) and record times only
//! from the caller ([`WriteContext::time`]).

mod error;
mod fieldset;
mod managed;
mod path;
mod typed;

use serde_json::{Map, Value};

pub use error::{ApplyError, Conflict, Conflicts};
pub use fieldset::{FieldSet, FieldSetError};
pub use managed::{ManagedFields, ManagedFieldsEntry, ManagedFieldsError, Operation};
pub use path::{path_to_string, PathElement};
pub use typed::fields_of;

use crate::schema::{Schema, TypeRef};
use typed::{compare, ensure_named_fields_are_members, merge, remove_items, Comparison};

/// The manager upstream attributes pre-existing fields to on the first apply.
pub const BEFORE_FIRST_APPLY: &str = "before-first-apply";
/// The manager that absorbs the oldest update entries beyond [`MAX_UPDATE_MANAGERS`].
pub const ANCIENT_CHANGES: &str = "ancient-changes";
/// Most update (non-apply) managers kept per object.
pub const MAX_UPDATE_MANAGERS: usize = 10;
/// kubectl's client-side apply annotation.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Who writes, when, and which fields are not tracked.
#[derive(Clone, Debug)]
pub struct WriteContext<'a> {
    /// The field manager (`?fieldManager=`, or derived from the user agent).
    pub manager: &'a str,
    /// The current time (RFC 3339), recorded on entries that change.
    pub time: &'a str,
    /// The subresource written through, `None` for the main resource.
    pub subresource: Option<&'a str>,
    /// Field prefixes whose changes are not tracked (upstream's reset fields).
    pub ignored: FieldSet,
}

impl<'a> WriteContext<'a> {
    /// A write to the main resource: `status` is not tracked.
    pub fn new(manager: &'a str, time: &'a str) -> Self {
        WriteContext {
            manager,
            time,
            subresource: None,
            ignored: FieldSet::from_field_paths(&[&["status"]]),
        }
    }

    /// A write through a subresource; for `status`, `spec` is not tracked, otherwise
    /// everything is.
    pub fn with_subresource(mut self, subresource: &'a str) -> Self {
        self.subresource = Some(subresource);
        self.ignored = if subresource == "status" {
            FieldSet::from_field_paths(&[&["spec"]])
        } else {
            FieldSet::new()
        };
        self
    }

    fn entry(&self, operation: Operation, api_version: &str) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: self.manager.to_string(),
            operation,
            api_version: api_version.to_string(),
            time: None,
            fields: FieldSet::new(),
            subresource: self.subresource.map(str::to_string),
        }
    }
}

/// Applies `applied` (a server-side apply configuration) to `live` (`None` when the object
/// does not exist yet) on behalf of `ctx.manager`.
///
/// Returns the new object, carrying its `metadata.managedFields`, and those entries.
/// Without `force`, changing a field another manager owns fails with
/// [`ApplyError::Conflict`]; with `force`, ownership moves to the applier.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    force: bool,
    managed: &ManagedFields,
    schema: &Schema,
    root: TypeRef,
    ctx: &WriteContext<'_>,
) -> Result<(Value, ManagedFields), ApplyError> {
    if !applied.is_object() {
        return Err(ApplyError::BadRequest(
            "apply configuration must be an object".into(),
        ));
    }
    if applied
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .is_some_and(|m| !m.is_null())
    {
        return Err(ApplyError::BadRequest(
            "metadata.managedFields must be nil".into(),
        ));
    }
    typed::validate_config(schema, root, applied).map_err(ApplyError::Invalid)?;

    let live_obj =
        without_managed_fields(live.cloned().unwrap_or_else(|| Value::Object(Map::new())));
    let mut managed = managed.clone();
    if managed.is_empty() && live.is_some() {
        // skipNonAppliedManager: the fields already there belong to "before-first-apply".
        let first = WriteContext {
            manager: BEFORE_FIRST_APPLY,
            ..ctx.clone()
        };
        let empty = Value::Object(Map::new());
        managed = track_update(&empty, &live_obj, managed, schema, root, &first);
    }

    let result = apply_structured(&live_obj, applied, force, &managed, schema, root, ctx);
    let (mut object, mut managed) = match result {
        Err(ApplyError::Conflict(conflicts)) if ctx.manager == "kubectl" && !force => {
            // lastAppliedManager: conflicts on values kubectl client-side applied are fine.
            let allowed = allowed_from_last_applied(&live_obj, schema, root);
            let remaining = conflicts.without(allowed.as_ref());
            if !remaining.is_empty() {
                return Err(ApplyError::Conflict(remaining));
            }
            apply_structured(&live_obj, applied, true, &managed, schema, root, ctx)?
        }
        other => other?,
    };
    cap_update_managers(&mut managed);
    if ctx.manager == "kubectl" && last_applied(&live_obj).is_some() {
        set_last_applied(&mut object, applied);
    }
    managed.write_to(&mut object);
    Ok((object, managed))
}

/// The structured-merge part of apply: merge, prune, take ownership, detect conflicts.
fn apply_structured(
    live: &Value,
    applied: &Value,
    force: bool,
    managed: &ManagedFields,
    schema: &Schema,
    root: TypeRef,
    ctx: &WriteContext<'_>,
) -> Result<(Value, ManagedFields), ApplyError> {
    let api_version = applied
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut managed = managed.clone();
    let me = ctx.entry(Operation::Apply, api_version);
    let last = managed
        .find(&me)
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let previous_time = managed.find(&me).and_then(|e| e.time.clone());

    let merged = merge(schema, root, Some(live), Some(applied)).unwrap_or(Value::Null);
    let config_set = strip(fields_of(applied, schema, root).recursive_difference(&ctx.ignored));
    match managed.find_mut(&me) {
        Some(entry) => {
            entry.fields = config_set;
            entry.api_version = api_version.to_string();
        }
        None => managed.entries.push(ManagedFieldsEntry {
            fields: config_set,
            ..me.clone()
        }),
    }
    let mut object = prune(&merged, &managed, &last, schema, root);
    typed::drop_nulls(schema, root, &mut object);
    take_ownership(
        live,
        &object,
        &mut managed,
        Some(&me),
        force,
        schema,
        root,
        &ctx.ignored,
    )?;
    let changed = object != *live;
    if let Some(entry) = managed.find_mut(&me) {
        entry.time = if changed {
            Some(ctx.time.to_string())
        } else {
            previous_time
        };
    }
    strip_all(&mut managed);
    Ok((object, managed))
}

/// Records the fields a non-apply write (create, update, patch) changed between `old`
/// (`None` on create) and `new`, for `ctx.manager` with operation `Update`.
///
/// As upstream, managed fields carried by `new` itself replace `managed` on the main
/// resource (`[]` or `[{}]` resets them), and an existing object without managed fields
/// stays untracked until it is first applied.
pub fn update_managed_fields(
    old: Option<&Value>,
    new: &Value,
    managed: &ManagedFields,
    schema: &Schema,
    root: TypeRef,
    ctx: &WriteContext<'_>,
) -> ManagedFields {
    let base = decode_live_or_new(new, managed, ctx.subresource.is_some());
    track_managed_fields(old, new, base, schema, root, ctx)
}

/// [`update_managed_fields`] for a caller that has already decided which entries the write
/// starts from (`managed`: the ones `new` carries on the main resource, else the live
/// object's): no second decoding of `new`'s managed fields.
pub fn track_managed_fields(
    old: Option<&Value>,
    new: &Value,
    managed: ManagedFields,
    schema: &Schema,
    root: TypeRef,
    ctx: &WriteContext<'_>,
) -> ManagedFields {
    if managed.is_empty() && old.is_some() {
        return managed;
    }
    // The comparison skips metadata.managedFields, so neither object needs a stripped copy.
    let empty = Value::Object(Map::new());
    let mut out = track_update(old.unwrap_or(&empty), new, managed, schema, root, ctx);
    cap_update_managers(&mut out);
    out
}

/// Updater.Update wrapped by managedFieldsUpdater and stripMeta: the changed fields move
/// to the manager's Update entry, whose time is bumped when it gains anything.
fn track_update(
    old: &Value,
    new: &Value,
    mut managed: ManagedFields,
    schema: &Schema,
    root: TypeRef,
    ctx: &WriteContext<'_>,
) -> ManagedFields {
    let api_version = new
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let cmp = match take_ownership(
        old,
        new,
        &mut managed,
        None,
        true,
        schema,
        root,
        &ctx.ignored,
    ) {
        Ok(cmp) => cmp,
        Err(_) => return managed,
    };
    // take_ownership filtered the comparison by the ignored fields already.
    let mut taken = cmp.modified;
    taken.union_with(&cmp.added);
    strip_in_place(&mut taken);
    if !taken.is_empty() {
        let me = ctx.entry(Operation::Update, api_version);
        match managed.find_mut(&me) {
            Some(entry) => {
                entry.fields.union_with(&taken);
                entry.time = Some(ctx.time.to_string());
            }
            None => managed.entries.push(ManagedFieldsEntry {
                fields: taken,
                time: Some(ctx.time.to_string()),
                ..me
            }),
        }
    }
    strip_all(&mut managed);
    managed
}

/// Updater.update: every manager but `me` loses the fields that changed or disappeared;
/// without `force`, losing a changed field is a conflict.
#[allow(clippy::too_many_arguments)]
fn take_ownership(
    old: &Value,
    new: &Value,
    managed: &mut ManagedFields,
    me: Option<&ManagedFieldsEntry>,
    force: bool,
    schema: &Schema,
    root: TypeRef,
    ignored: &FieldSet,
) -> Result<Comparison, ApplyError> {
    let cmp = compare(schema, root, old, new).filter(ignored);
    let changed = cmp.modified.union(&cmp.added);
    let is_me = |e: &ManagedFieldsEntry| me.is_some_and(|m| e.same_manager(m));
    if !force {
        let conflicts: Vec<(String, FieldSet)> = managed
            .entries
            .iter()
            .filter(|e| !is_me(e))
            .map(|e| (e.display_name(), e.fields.intersection(&changed)))
            .filter(|(_, set)| !set.is_empty())
            .collect();
        if !conflicts.is_empty() {
            return Err(ApplyError::Conflict(Conflicts::from_sets(conflicts)));
        }
    }
    for entry in managed.entries.iter_mut().filter(|e| !is_me(e)) {
        entry.fields.remove_all(&changed);
        entry.fields.remove_all(&cmp.removed);
    }
    managed.drop_empty();
    Ok(cmp)
}

/// Updater.prune: removes what the applier applied last time, no longer applies, and no
/// other manager owns.
fn prune(
    merged: &Value,
    managed: &ManagedFields,
    last: &FieldSet,
    schema: &Schema,
    root: TypeRef,
) -> Value {
    if last.is_empty() {
        return merged.clone();
    }
    let named = |set: &FieldSet| ensure_named_fields_are_members(set, schema, root);
    let fields = |v: &Value| named(&fields_of(v, schema, root));
    let last = named(last);
    let pruned = remove_items(schema, root, merged, &last);
    // addBackOwnedItems
    let mut owned = FieldSet::new();
    for entry in &managed.entries {
        owned.union_with(&entry.fields);
    }
    let owned = named(&owned);
    let merged_set = fields(merged);
    let unowned = merged_set.difference(&fields(&pruned).union(&owned));
    let pruned = remove_items(schema, root, merged, &unowned);
    // addBackDanglingItems
    let dangling = merged_set.difference(&fields(&pruned)).intersection(&last);
    remove_items(schema, root, merged, &dangling)
}

/// Paths never tracked (stripMetaManager).
fn strip_set() -> &'static FieldSet {
    static SET: std::sync::LazyLock<FieldSet> = std::sync::LazyLock::new(|| {
        FieldSet::from_field_paths(&[
            &["apiVersion"],
            &["kind"],
            &["metadata"],
            &["metadata", "name"],
            &["metadata", "namespace"],
            &["metadata", "creationTimestamp"],
            &["metadata", "selfLink"],
            &["metadata", "uid"],
            &["metadata", "clusterName"],
            &["metadata", "generation"],
            &["metadata", "managedFields"],
            &["metadata", "resourceVersion"],
        ])
    });
    &SET
}

fn strip(mut set: FieldSet) -> FieldSet {
    strip_in_place(&mut set);
    set
}

fn strip_in_place(set: &mut FieldSet) {
    set.remove_all(strip_set());
}

fn strip_all(managed: &mut ManagedFields) {
    for entry in &mut managed.entries {
        strip_in_place(&mut entry.fields);
    }
    managed.drop_empty();
}

fn without_managed_fields(mut object: Value) -> Value {
    if let Some(Value::Object(meta)) = object.get_mut("metadata") {
        meta.shift_remove("managedFields");
    }
    object
}

/// decodeLiveOrNew: managed fields sent with the object win on the main resource.
fn decode_live_or_new(new: &Value, live: &ManagedFields, subresource: bool) -> ManagedFields {
    if subresource {
        return live.clone();
    }
    let Some(sent) = new.get("metadata").and_then(|m| m.get("managedFields")) else {
        return live.clone();
    };
    match sent {
        Value::Array(items) if items.is_empty() => return ManagedFields::new(),
        Value::Array(items)
            if items.len() == 1 && items[0].as_object().is_some_and(Map::is_empty) =>
        {
            return ManagedFields::new()
        }
        _ => {}
    }
    match ManagedFields::from_value(sent) {
        Ok(decoded) if !decoded.is_empty() => decoded,
        _ => live.clone(),
    }
}

/// capManagersManager: folds the oldest update entries into `ancient-changes` entries
/// (one per API version) until at most [`MAX_UPDATE_MANAGERS`] update entries remain.
fn cap_update_managers(managed: &mut ManagedFields) {
    let updates = managed
        .entries
        .iter()
        .filter(|e| e.operation == Operation::Update)
        .count();
    if updates <= MAX_UPDATE_MANAGERS {
        return;
    }
    let mut order: Vec<usize> = (0..managed.entries.len())
        .filter(|i| managed.entries[*i].operation == Operation::Update)
        .collect();
    order.sort_by(|a, b| {
        let (ea, eb) = (&managed.entries[*a], &managed.entries[*b]);
        ea.time
            .cmp(&eb.time)
            .then_with(|| ea.manager.cmp(&eb.manager))
    });
    let mut remaining = updates;
    let mut folded: Vec<usize> = Vec::new();
    let mut first_of_version: Vec<(String, usize)> = Vec::new();
    let mut buckets: Vec<ManagedFieldsEntry> = Vec::new();
    for i in order {
        if remaining <= MAX_UPDATE_MANAGERS {
            break;
        }
        let entry = managed.entries[i].clone();
        let Some(first) = first_of_version
            .iter()
            .find(|(v, _)| *v == entry.api_version)
            .map(|(_, first)| *first)
        else {
            first_of_version.push((entry.api_version.clone(), i));
            continue;
        };
        let bucket = match buckets
            .iter()
            .position(|b| b.api_version == entry.api_version)
        {
            Some(b) => &mut buckets[b],
            None => {
                folded.push(first);
                buckets.push(ManagedFieldsEntry {
                    manager: ANCIENT_CHANGES.into(),
                    subresource: None,
                    ..managed.entries[first].clone()
                });
                let last = buckets.len() - 1;
                &mut buckets[last]
            }
        };
        bucket.fields.union_with(&entry.fields);
        bucket.time = entry.time.clone();
        folded.push(i);
        remaining -= 1;
    }
    let mut index = 0;
    managed.entries.retain(|_| {
        let keep = !folded.contains(&index);
        index += 1;
        keep
    });
    for bucket in buckets {
        managed.merge_entry(bucket);
    }
}

fn last_applied(object: &Value) -> Option<&str> {
    object
        .get("metadata")?
        .get("annotations")?
        .get(LAST_APPLIED_ANNOTATION)?
        .as_str()
        .filter(|s| !s.is_empty())
}

/// lastAppliedManager: fields of the last client-side applied configuration whose live
/// value still matches it.
fn allowed_from_last_applied(live: &Value, schema: &Schema, root: TypeRef) -> Option<FieldSet> {
    let last: Value = serde_json::from_str(last_applied(live)?).ok()?;
    let cmp = compare(schema, root, &last, live);
    Some(fields_of(&last, schema, root).difference(&cmp.modified))
}

/// lastAppliedUpdater: keeps the client-side apply annotation in sync with what kubectl
/// server-side applied.
fn set_last_applied(object: &mut Value, applied: &Value) {
    let mut config = applied.clone();
    if let Some(Value::Object(annotations)) = config
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
    {
        annotations.shift_remove(LAST_APPLIED_ANNOTATION);
    }
    let text = config.to_string();
    if let Some(Value::Object(annotations)) = object
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
    {
        annotations.insert(LAST_APPLIED_ANNOTATION.into(), Value::String(text));
    }
}

#[cfg(test)]
mod tests;
