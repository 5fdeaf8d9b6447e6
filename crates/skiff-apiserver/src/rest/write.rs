//! Create and update (PUT, PATCH, status and scale) with optimistic concurrency.

use super::{encode, keys, meta, store_error, target, Storage, WriteCtx};
use crate::pipeline::Operation;
use serde_json::{json, Value};
use skiff_api::{ApiError, FieldError, ResourceInfo};
use skiff_store::{KeyValue, StoreError};

/// How many times a write retries after losing a race it did not ask to lose.
const MAX_RETRIES: usize = 16;

/// Kinds that may be created by a PUT to a missing name (upstream's AllowCreateOnUpdate).
fn allow_create_on_update(res: &ResourceInfo) -> bool {
    res.group.is_empty() && matches!(res.plural.as_str(), "endpoints" | "events")
        || res.group == "coordination.k8s.io"
}

/// Fills `apiVersion`/`kind` or rejects a body of another kind.
pub fn check_type_meta(res: &ResourceInfo, obj: &mut Value) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::BadRequest(format!(
            "the body of the request must be a {} object",
            res.kind
        )));
    }
    let want_av = res.api_version();
    let av = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if !av.is_empty() && av != want_av {
        return Err(ApiError::BadRequest(format!(
            "the API version in the data ({av}) does not match the expected API version ({want_av})"
        )));
    }
    if !kind.is_empty() && kind != res.kind {
        return Err(ApiError::BadRequest(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            res.kind
        )));
    }
    obj["apiVersion"] = json!(want_av);
    obj["kind"] = json!(res.kind);
    Ok(())
}

fn check_namespace(res: &ResourceInfo, ns: &str, obj: &mut Value) -> Result<(), ApiError> {
    let m = meta::meta_mut(obj);
    if res.namespaced() {
        let body_ns = m.get("namespace").and_then(Value::as_str).unwrap_or("");
        if body_ns.is_empty() {
            m.insert("namespace".into(), json!(ns));
        } else if !ns.is_empty() && body_ns != ns {
            return Err(ApiError::BadRequest(
                "the namespace of the provided object does not match the namespace sent on the request".into(),
            ));
        }
    } else {
        m.remove("namespace");
    }
    Ok(())
}

/// QoS class of a pod spec, like upstream's `GetPodQOS`.
fn qos_class(spec: &Value) -> &'static str {
    let mut any = false;
    let mut guaranteed = true;
    for c in spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(spec["initContainers"].as_array().into_iter().flatten())
    {
        let req = &c["resources"]["requests"];
        let lim = &c["resources"]["limits"];
        for r in ["cpu", "memory"] {
            let (q, l) = (req.get(r), lim.get(r));
            if q.is_some() || l.is_some() {
                any = true;
            }
            match (q, l) {
                (_, None) => guaranteed = false,
                (Some(q), Some(l)) if q != l => guaranteed = false,
                _ => {}
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

impl Storage {
    /// Checks the namespace of a namespaced create exists and is not terminating.
    async fn check_namespace_open(&self, res: &ResourceInfo, ns: &str) -> Result<(), ApiError> {
        if !res.namespaced() {
            return Ok(());
        }
        let nsres = self.namespaces();
        match self.lookup(&nsres, "", ns).await? {
            None => Err(ApiError::NotFound(target(&nsres, ns))),
            Some(n) if n.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating") => {
                Err(ApiError::Forbidden(format!(
                    "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                    res.group_resource(),
                    meta::meta_str(&n, "name")
                )))
            }
            Some(_) => Ok(()),
        }
    }

    /// POST: creates an object.
    pub async fn create(
        &self,
        res: &ResourceInfo,
        ns: &str,
        mut obj: Value,
        ctx: &WriteCtx,
    ) -> Result<Value, ApiError> {
        check_type_meta(res, &mut obj)?;
        check_namespace(res, ns, &mut obj)?;
        let ns = meta::meta_str(&obj, "namespace").to_string();
        let generate = meta::meta_str(&obj, "generateName").to_string();
        let named = !meta::meta_str(&obj, "name").is_empty();
        {
            let m = meta::meta_mut(&mut obj);
            m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
            m.insert("creationTimestamp".into(), json!(meta::time(ctx.now)));
            for f in [
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "resourceVersion",
                "selfLink",
            ] {
                m.remove(f);
            }
            if res.has_generation || res.custom {
                m.insert("generation".into(), json!(1));
            } else {
                m.remove("generation");
            }
        }
        if !named && !generate.is_empty() {
            let errs = skiff_api::names::validate_name(
                skiff_api::names::rule_for(&res.group, &res.plural),
                &generate,
                true,
            );
            if !errs.is_empty() {
                return Err(ApiError::Invalid(
                    target(res, ""),
                    errs.into_iter()
                        .map(|e| FieldError::invalid("metadata.generateName", generate.as_str(), e))
                        .collect(),
                ));
            }
        }
        self.reset_status_on_create(res, &mut obj);
        self.check_namespace_open(res, &ns).await?;
        for attempt in 0.. {
            let mut candidate = obj.clone();
            if !named && !generate.is_empty() {
                let suffix = meta::name_suffix(&mut rand::rng());
                meta::meta_mut(&mut candidate)
                    .insert("name".into(), json!(format!("{generate}{suffix}")));
            }
            let name = meta::meta_str(&candidate, "name").to_string();
            self.prepare(res, Operation::Create, "", None, &mut candidate, ctx)?;
            crate::rest::fields::on_create(res, &mut candidate, ctx);
            self.before_create(res, &mut candidate, ctx).await?;
            if ctx.dry_run {
                return Ok(candidate);
            }
            let bytes = encode(res, &mut candidate)?;
            match self
                .store
                .create(&keys::object(res, &ns, &name), bytes)
                .await
            {
                Ok(kv) => {
                    self.after_write(res, None, Some(&candidate)).await;
                    return Ok(super::stored(candidate, &kv));
                }
                Err(StoreError::AlreadyExists { .. }) if !named && attempt < 8 => {
                    self.release(res, &candidate).await;
                    continue;
                }
                Err(e) => {
                    self.release(res, &candidate).await;
                    return Err(store_error(res, &name, e));
                }
            }
        }
        unreachable!("the loop returns")
    }

    fn reset_status_on_create(&self, res: &ResourceInfo, obj: &mut Value) {
        if !res.status_subresource {
            return;
        }
        match (res.group.as_str(), res.kind.as_str()) {
            ("", "Node") | ("", "Namespace") => {}
            ("", "Pod") => {
                let qos = qos_class(&obj["spec"]);
                obj["status"] = json!({"phase": "Pending", "qosClass": qos});
            }
            _ => {
                if let Some(o) = obj.as_object_mut() {
                    o.remove("status");
                }
            }
        }
    }

    /// PUT: replaces an object (or its status), honouring a resourceVersion precondition.
    pub async fn update(
        &self,
        res: &ResourceInfo,
        ns: &str,
        name: &str,
        subresource: &str,
        mut body: Value,
        ctx: &WriteCtx,
    ) -> Result<(Value, bool), ApiError> {
        check_type_meta(res, &mut body)?;
        check_namespace(res, ns, &mut body)?;
        let body_name = meta::meta_str(&body, "name");
        if body_name.is_empty() {
            meta::meta_mut(&mut body).insert("name".into(), json!(name));
        } else if body_name != name {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let precondition = meta::resource_version(&body);
        for _ in 0..MAX_RETRIES {
            let Some((kv, old)) = self.try_get(res, ns, name).await? else {
                if allow_create_on_update(res) && subresource.is_empty() {
                    return self.create(res, ns, body, ctx).await.map(|v| (v, true));
                }
                return Err(ApiError::NotFound(target(res, name)));
            };
            if let Some(rv) = precondition {
                if rv != kv.mod_revision {
                    return Err(ApiError::stale(target(res, name)));
                }
            }
            match self
                .write_update(res, subresource, &kv, &old, body.clone(), ctx, "Update")
                .await
            {
                Err(ApiError::Conflict(..)) if precondition.is_none() => continue,
                other => return other.map(|v| (v, false)),
            }
        }
        Err(ApiError::stale(target(res, name)))
    }

    /// Merges server-owned fields of `old` into `new`, prepares and writes it conditionally on
    /// `kv`'s revision. Returns the stored object. A Conflict means the caller may retry.
    #[allow(clippy::too_many_arguments)]
    pub async fn write_update(
        &self,
        res: &ResourceInfo,
        subresource: &str,
        kv: &KeyValue,
        old: &Value,
        mut new: Value,
        ctx: &WriteCtx,
        operation: &str,
    ) -> Result<Value, ApiError> {
        let name = meta::meta_str(old, "name").to_string();
        if let Some(uid) = new.pointer("/metadata/uid").and_then(Value::as_str) {
            let old_uid = meta::meta_str(old, "uid");
            if !uid.is_empty() && uid != old_uid {
                return Err(ApiError::Conflict(
                    target(res, &name),
                    format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {old_uid}"),
                ));
            }
        }
        carry_server_fields(res, subresource, old, &mut new);
        if meta::deleting(old) {
            let before = meta::finalizers(old);
            if let Some(added) = meta::finalizers(&new)
                .into_iter()
                .find(|f| !before.contains(f))
            {
                return Err(ApiError::Invalid(
                    target(res, &name),
                    vec![FieldError::forbidden(
                        "metadata.finalizers",
                        format!("no new finalizers can be added if the object is being deleted, found new finalizers []string{{{added:?}}}"),
                    )],
                ));
            }
        }
        if (res.has_generation || res.custom) && meta::spec_of(old) != meta::spec_of(&new) {
            let g = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            meta::meta_mut(&mut new).insert("generation".into(), json!(g + 1));
        }
        self.prepare(
            res,
            Operation::Update,
            subresource,
            Some(old),
            &mut new,
            ctx,
        )?;
        // A no-op or a dry run answers without writing, so it must not rest on a cached copy
        // that may be stale: like upstream's GuaranteedUpdate, refresh from the store first
        // (a Conflict makes the caller retry with a fresh read).
        let unverified = super::is_cached_copy(kv) && (ctx.dry_run || same_object(old, &new));
        if unverified {
            return Err(ApiError::Conflict(
                target(res, &name),
                "the cached copy must be confirmed against storage".into(),
            ));
        }
        if same_object(old, &new) {
            return Ok(old.clone());
        }
        crate::rest::fields::on_update(res, old, &mut new, ctx, operation, subresource);
        self.before_update(res, old, &mut new, ctx).await?;
        if ctx.dry_run {
            return Ok(new);
        }
        let key = keys::object(res, meta::meta_str(old, "namespace"), &name);
        if removable(res, &new) {
            return match self.store.delete(&key, Some(kv.mod_revision)).await {
                Ok(_) => {
                    self.after_write(res, Some(old), None).await;
                    Ok(new)
                }
                Err(e) => Err(store_error(res, &name, e)),
            };
        }
        let bytes = encode(res, &mut new)?;
        match self.store.update(&key, bytes, kv.mod_revision).await {
            Ok(kv) => {
                self.after_write(res, Some(old), Some(&new)).await;
                Ok(super::stored(new, &kv))
            }

            Err(e) => Err(store_error(res, &name, e)),
        }
    }
}

/// A deleted object whose finalizers are all gone (for namespaces, `spec.finalizers` too) is
/// removed from storage by the write that clears them.
fn removable(res: &ResourceInfo, obj: &Value) -> bool {
    let spec_finalizers_left = res.group.is_empty()
        && res.kind == "Namespace"
        && obj
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
    meta::deleting(obj) && meta::finalizers(obj).is_empty() && !spec_finalizers_left
}

/// Copies what a client may not change on update from `old` into `new`.
fn carry_server_fields(res: &ResourceInfo, subresource: &str, old: &Value, new: &mut Value) {
    if subresource == "status" {
        // Only the status changes through /status (and metadata the server owns).
        *new = status_write(old, std::mem::take(new));
        return;
    }
    // A binding sets spec.nodeName and the PodScheduled condition in one write.
    if (res.status_subresource || subresource == "finalize") && subresource != "binding" {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(o) = new.as_object_mut() {
                    o.remove("status");
                }
            }
        }
    }
    if res.group.is_empty() && res.kind == "Namespace" {
        if subresource == "finalize" {
            let fins = new.pointer("/spec/finalizers").cloned();
            let mut merged = old.clone();
            merged["spec"]["finalizers"] = fins.unwrap_or(json!([]));
            *new = merged;
            return;
        }
        if let Some(f) = old.pointer("/spec/finalizers") {
            new["spec"]["finalizers"] = f.clone();
        }
    }
    let no_meta = json!({});
    let old_meta = old.get("metadata").unwrap_or(&no_meta);
    let m = meta::meta_mut(new);
    for f in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "namespace",
        "name",
    ] {
        match old_meta.get(f) {
            Some(v) => {
                m.insert(f.into(), v.clone());
            }
            None => {
                m.remove(f);
            }
        }
    }
    m.remove("selfLink");
    if m.get("managedFields").is_none() {
        if let Some(mf) = old_meta.get("managedFields") {
            m.insert("managedFields".into(), mf.clone());
        }
    }
}

/// What a write through `/status` stores: `old` with `new`'s status (none if `new` has none).
/// `new` is mostly `old` already (a patch applied to it, or a PUT sending it back), so the
/// parts equal to `old`'s are moved from `new` and only the others copied from `old`: a status
/// write does not copy the whole object.
fn status_write(old: &Value, mut new: Value) -> Value {
    let mut status = new.get_mut("status").map(Value::take);
    let Some(old_map) = old.as_object() else {
        let mut merged = old.clone();
        if let Some(s) = status {
            merged["status"] = s;
        }
        return merged;
    };
    let mut mine = match new {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    let mut merged = serde_json::Map::new();
    for (k, v) in old_map {
        if k == "status" {
            if let Some(s) = status.take() {
                merged.insert(k.clone(), s);
            }
            continue;
        }
        let same = mine.get_mut(k).filter(|w| **w == *v).map(Value::take);
        merged.insert(k.clone(), same.unwrap_or_else(|| v.clone()));
    }
    if let Some(s) = status {
        merged.insert("status".into(), s);
    }
    Value::Object(merged)
}

/// Equal apart from resourceVersion and managedFields: a no-op write. Compares in place (this
/// runs on every update; cloning both objects to strip the two fields was ~3% of the API
/// server's CPU while binding pods).
fn same_object(old: &Value, new: &Value) -> bool {
    let (Some(o), Some(n)) = (old.as_object(), new.as_object()) else {
        return old == new;
    };
    let same_meta = |a: &Value, b: &Value| match (a.as_object(), b.as_object()) {
        (Some(a), Some(b)) => {
            let kept = |k: &str| k != "resourceVersion" && k != "managedFields";
            let count = |m: &serde_json::Map<String, Value>| m.keys().filter(|k| kept(k)).count();
            count(a) == count(b)
                && a.iter()
                    .filter(|(k, _)| kept(k))
                    .all(|(k, v)| b.get(k) == Some(v))
        }
        _ => a == b,
    };
    o.len() == n.len()
        && o.iter().all(|(k, v)| match n.get(k) {
            Some(w) if k == "metadata" => same_meta(v, w),
            Some(w) => v == w,
            None => false,
        })
}

#[cfg(test)]
mod tests {
    use super::{same_object, status_write};
    use serde_json::{json, Value};

    /// The plain definition: a copy of `old` with `new`'s status.
    fn status_write_by_copy(old: &Value, new: &Value) -> Value {
        let mut merged = old.clone();
        match new.get("status") {
            Some(s) => merged["status"] = s.clone(),
            None => {
                if let Some(o) = merged.as_object_mut() {
                    o.shift_remove("status");
                }
            }
        }
        merged
    }

    #[test]
    fn a_status_write_keeps_everything_but_the_status_from_the_stored_object() {
        let old = json!({"apiVersion": "v1", "kind": "Pod",
                         "metadata": {"name": "p", "resourceVersion": "4", "labels": {"a": "b"}},
                         "spec": {"nodeName": "n1"}, "status": {"phase": "Pending"}});
        let cases = [
            // A status patch: only the status differs.
            json!({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": "p", "resourceVersion": "4", "labels": {"a": "b"}},
                   "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}}),
            // Attempts to change the spec, labels and version through /status are dropped.
            json!({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": "p", "resourceVersion": "9", "labels": {"x": "y"}},
                   "spec": {"nodeName": "n2"}, "extra": 1, "status": {"phase": "Failed"}}),
            // Keys in another order, and no status at all.
            json!({"spec": {"nodeName": "n1"}, "kind": "Pod", "metadata": {"name": "p"}}),
            json!({"status": {"phase": "Running"}}),
            json!(null),
        ];
        for new in cases {
            let want = status_write_by_copy(&old, &new);
            let got = status_write(&old, new.clone());
            assert_eq!(got, want, "{new}");
            let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
            assert_eq!(keys(&got), keys(&want), "{new}");
        }
        // A stored object without a status gets the new one at the end.
        let bare = json!({"metadata": {"name": "p"}, "spec": {}});
        let got = status_write(
            &bare,
            json!({"metadata": {"name": "p"}, "status": {"phase": "Running"}}),
        );
        assert_eq!(
            got,
            json!({"metadata": {"name": "p"}, "spec": {}, "status": {"phase": "Running"}})
        );
    }

    #[test]
    fn a_write_is_a_no_op_when_only_the_version_and_managed_fields_differ() {
        let old = json!({"metadata": {"name": "a", "resourceVersion": "1", "managedFields": [1]},
                         "spec": {"x": 1}});
        let same = json!({"spec": {"x": 1}, "metadata": {"resourceVersion": "9", "name": "a"}});
        assert!(same_object(&old, &same));
        for changed in [
            json!({"metadata": {"name": "a", "labels": {"k": "v"}}, "spec": {"x": 1}}),
            json!({"metadata": {"name": "b"}, "spec": {"x": 1}}),
            json!({"metadata": {"name": "a"}, "spec": {"x": 2}}),
            json!({"metadata": {"name": "a"}, "spec": {"x": 1}, "status": {}}),
            json!({"metadata": {"name": "a"}}),
        ] {
            assert!(!same_object(&old, &changed), "{changed}");
        }
    }
}
