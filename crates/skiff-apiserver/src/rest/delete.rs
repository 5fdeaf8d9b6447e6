//! DELETE and DELETE-collection: preconditions, finalizers, graceful deletion of pods.

use super::{keys, meta, store_error, target, Storage, WriteCtx};
use serde_json::{json, Value};
use skiff_api::{ApiError, ResourceInfo};

/// The finalizer that makes the garbage collector orphan an object's dependents.
pub const ORPHAN_FINALIZER: &str = "orphan";
/// The finalizer that makes the garbage collector delete dependents before the object.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

/// Parsed `DeleteOptions` (body and query).
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    /// `gracePeriodSeconds`
    pub grace_period: Option<i64>,
    /// `preconditions.uid`
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`
    pub resource_version: Option<String>,
    /// `propagationPolicy` (Orphan, Background, Foreground); garbage collection acts on it.
    pub propagation: Option<String>,
}

impl DeleteOptions {
    /// From a DeleteOptions body (may be null) and the query.
    pub fn parse(body: &Value, query: &crate::request::Query) -> Result<Self, ApiError> {
        let mut o = DeleteOptions {
            grace_period: body.get("gracePeriodSeconds").and_then(Value::as_i64),
            uid: body
                .pointer("/preconditions/uid")
                .and_then(Value::as_str)
                .map(String::from),
            resource_version: body
                .pointer("/preconditions/resourceVersion")
                .and_then(Value::as_str)
                .map(String::from),
            propagation: body
                .get("propagationPolicy")
                .and_then(Value::as_str)
                .map(String::from),
        };
        if let Some(g) = query.get("gracePeriodSeconds") {
            o.grace_period =
                Some(g.parse().map_err(|_| {
                    ApiError::BadRequest(format!("invalid gracePeriodSeconds {g:?}"))
                })?);
        }
        if let Some(p) = query.get("propagationPolicy") {
            o.propagation = Some(p.to_string());
        }
        if body.get("orphanDependents").and_then(Value::as_bool) == Some(true)
            || query.flag("orphanDependents")
        {
            o.propagation.get_or_insert_with(|| "Orphan".into());
        }
        if let Some(p) = &o.propagation {
            if !["Orphan", "Background", "Foreground"].contains(&p.as_str()) {
                return Err(ApiError::BadRequest(format!(
                    "propagationPolicy: Unsupported value: {p:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
                )));
            }
        }
        Ok(o)
    }
}

/// What a delete did.
#[derive(Debug)]
pub enum Deleted {
    /// Gone from the store; the object as it was.
    Now(Value),
    /// Marked for deletion (finalizers or a grace period remain); the object as it is now.
    Pending(Value),
}

impl Storage {
    /// DELETE one object.
    pub async fn delete(
        &self,
        res: &ResourceInfo,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
        ctx: &WriteCtx,
    ) -> Result<Deleted, ApiError> {
        for _ in 0..16 {
            let (kv, obj) = self.get_kv(res, ns, name).await?;
            if let Some(uid) = &opts.uid {
                let actual = meta::meta_str(&obj, "uid");
                if uid != actual {
                    return Err(ApiError::Conflict(
                        target(res, name),
                        format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"),
                    ));
                }
            }
            if let Some(rv) = &opts.resource_version {
                let actual = kv.mod_revision.to_string();
                if *rv != actual {
                    return Err(ApiError::Conflict(
                        target(res, name),
                        format!("Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {actual}"),
                    ));
                }
            }
            let grace = self.grace_period(res, &obj, opts);
            let has_finalizers = !meta::finalizers(&obj).is_empty();
            let ns_finalizers = res.group.is_empty()
                && res.kind == "Namespace"
                && obj
                    .pointer("/spec/finalizers")
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty());
            // Orphan and Foreground propagation leave the work to the garbage collector through
            // upstream's finalizers.
            let gc_finalizer = match opts.propagation.as_deref() {
                Some("Orphan") => Some(ORPHAN_FINALIZER),
                Some("Foreground") => Some(FOREGROUND_FINALIZER),
                _ => None,
            };
            let needs_gc =
                gc_finalizer.is_some_and(|f| !meta::finalizers(&obj).iter().any(|x| x == f));
            if has_finalizers || grace > 0 || ns_finalizers || needs_gc {
                if meta::deleting(&obj)
                    && grace
                        >= obj
                            .pointer("/metadata/deletionGracePeriodSeconds")
                            .and_then(Value::as_i64)
                            .unwrap_or(0)
                {
                    return Ok(Deleted::Pending(obj));
                }
                let mut marked = obj.clone();
                let when = ctx.now + chrono::Duration::seconds(grace);
                let m = meta::meta_mut(&mut marked);
                if !m.contains_key("deletionTimestamp") || grace > 0 {
                    m.insert("deletionTimestamp".into(), json!(meta::time(when)));
                }
                m.insert("deletionGracePeriodSeconds".into(), json!(grace));
                if let (true, Some(f)) = (needs_gc, gc_finalizer) {
                    let list = m.entry("finalizers").or_insert_with(|| json!([]));
                    if let Some(a) = list.as_array_mut() {
                        a.push(json!(f));
                    }
                }
                if res.group.is_empty() && res.kind == "Namespace" {
                    marked["status"]["phase"] = json!("Terminating");
                }
                if ctx.dry_run {
                    return Ok(Deleted::Pending(marked));
                }
                let bytes = super::encode(res, &mut marked)?;
                match self.store.update(&kv.key, bytes, kv.mod_revision).await {
                    Ok(kv2) => return Ok(Deleted::Pending(super::stored(marked, &kv2))),
                    Err(skiff_store::StoreError::Conflict { .. }) => continue,
                    Err(e) => return Err(store_error(res, name, e)),
                }
            }
            if ctx.dry_run {
                return Ok(Deleted::Now(obj));
            }
            if res.group == "apiextensions.k8s.io" && res.kind == "CustomResourceDefinition" {
                crate::crd::delete_instances(self, &obj).await?;
            }
            match self
                .store
                .delete(&keys::object(res, ns, name), Some(kv.mod_revision))
                .await
            {
                Ok(gone) => {
                    self.after_write(res, Some(&obj), None).await;
                    // Upstream answers with the object at the delete's revision, so a client
                    // can tell when its watch has seen the deletion.
                    return Ok(Deleted::Now(super::stored(obj, &gone)));
                }
                Err(skiff_store::StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(store_error(res, name, e)),
            }
        }
        Err(ApiError::stale(target(res, name)))
    }

    /// Upstream's graceful deletion: only pods bound to a node and not finished wait.
    fn grace_period(&self, res: &ResourceInfo, obj: &Value, opts: &DeleteOptions) -> i64 {
        if !(res.group.is_empty() && res.kind == "Pod") {
            return 0;
        }
        let bound = obj
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        let phase = obj
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !bound || phase == "Failed" || phase == "Succeeded" {
            return 0;
        }
        opts.grace_period
            .or_else(|| {
                obj.pointer("/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
            })
            .unwrap_or(30)
            .max(0)
    }

    /// DELETE on a collection: deletes every object matching the list options.
    pub async fn delete_collection(
        &self,
        res: &ResourceInfo,
        ns: &str,
        list: &super::list::ListOptions,
        opts: &DeleteOptions,
        ctx: &WriteCtx,
    ) -> Result<Vec<Value>, ApiError> {
        let items = self.list_all(res, ns, list).await?;
        let mut out = Vec::new();
        for item in items {
            let (ins, name) = (
                meta::meta_str(&item, "namespace").to_string(),
                meta::meta_str(&item, "name").to_string(),
            );
            match self.delete(res, &ins, &name, opts, ctx).await {
                Ok(Deleted::Now(v) | Deleted::Pending(v)) => out.push(v),
                Err(ApiError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}
