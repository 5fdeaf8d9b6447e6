//! Writes the workload controllers share: ownership changes, slow-start pod creation, deletes,
//! status patches and events. Each write notes the revision it produced in [`Written`] so the
//! controller can wait for its cache to see it (see `runtime::Expectations`).

use k8s_openapi::api::core::v1::{Event as CoreEvent, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::Resource;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use std::fmt::Debug;

/// The highest revisions a sync wrote: to the children cache it waits on, and to its own
/// object (the next sync waits until the cached object is at least that new).
#[derive(Debug, Default)]
pub(crate) struct Written {
    /// The highest revision written to a child (pods, ReplicaSets, …).
    pub children: u64,
    /// The revision of the controller's last write to its own object (its status).
    pub own: u64,
}

impl Written {
    /// Remembers a write to a child.
    pub(crate) fn note<K: Resource>(&mut self, obj: &K) {
        self.children = self.children.max(crate::runtime::revision_of(obj));
    }

    /// Remembers a write to the controller's own object, as the server returned it.
    pub(crate) fn note_own<K: Resource>(&mut self, obj: &K) {
        self.own = self.own.max(crate::runtime::revision_of(obj));
    }
}

/// Why a sync failed.
#[derive(Debug, thiserror::Error)]
#[error("{controller}: {source}")]
pub struct Error {
    pub(crate) controller: &'static str,
    #[source]
    pub(crate) source: kube::Error,
}

pub(crate) fn err(controller: &'static str) -> impl Fn(kube::Error) -> Error {
    move |source| Error { controller, source }
}

/// Whether the API refused for a reason another sync will see and fix (already exists,
/// not found, conflict), rather than a transport failure.
pub(crate) fn benign(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if [404, 409].contains(&s.code))
}

pub(crate) fn pp(manager: &str) -> PatchParams {
    PatchParams {
        field_manager: Some(manager.into()),
        ..Default::default()
    }
}

pub(crate) fn post(manager: &str) -> PostParams {
    PostParams {
        field_manager: Some(manager.into()),
        ..Default::default()
    }
}

/// A controller reference to `owner` (controller and blockOwnerDeletion true).
pub(crate) fn controller_ref<K: Resource<DynamicType = ()>>(owner: &K) -> serde_json::Value {
    json!({
        "apiVersion": K::api_version(&()), "kind": K::kind(&()),
        "name": owner.meta().name, "uid": owner.meta().uid,
        "controller": true, "blockOwnerDeletion": true,
    })
}

/// Adds (or with `release`, removes) `owner` as the controller of each named object, and
/// adds or removes `finalizer` with it when given.
pub(crate) async fn set_owner<K, O>(
    api: &Api<K>,
    names: &[String],
    owner: &O,
    release: bool,
    finalizer: Option<&str>,
    manager: &str,
    written: &mut Written,
) -> Result<(), kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
    O: Resource<DynamicType = ()>,
{
    let uid = owner.meta().uid.clone().unwrap_or_default();
    for name in names {
        let Some(obj) = api.get_opt(name).await? else {
            continue;
        };
        let mut refs: Vec<serde_json::Value> = obj
            .meta()
            .owner_references
            .iter()
            .flatten()
            .filter(|r| r.uid != uid)
            .map(|r| serde_json::to_value(r).unwrap_or_default())
            .collect();
        if !release {
            refs.push(controller_ref(owner));
        }
        let mut patch = json!({"metadata": {"ownerReferences": refs, "resourceVersion": obj.meta().resource_version}});
        if let Some(f) = finalizer {
            let mut fins: Vec<String> = obj.meta().finalizers.clone().unwrap_or_default();
            fins.retain(|x| x != f);
            if !release {
                fins.push(f.to_string());
            }
            patch["metadata"]["finalizers"] = json!(fins);
        }
        match api.patch(name, &pp(manager), &Patch::Merge(&patch)).await {
            Ok(o) => written.note(&o),
            Err(e) if benign(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Removes `finalizer` from each named pod (guarded by its resourceVersion).
pub(crate) async fn remove_finalizer(
    api: &Api<Pod>,
    names: &[String],
    finalizer: &str,
    manager: &str,
    written: &mut Written,
) -> Result<(), kube::Error> {
    for name in names {
        let Some(pod) = api.get_opt(name).await? else {
            continue;
        };
        let fins = pod.metadata.finalizers.clone().unwrap_or_default();
        if !fins.iter().any(|f| f == finalizer) {
            continue;
        }
        let keep: Vec<&String> = fins.iter().filter(|f| *f != finalizer).collect();
        let patch = json!({"metadata": {"finalizers": keep, "resourceVersion": pod.metadata.resource_version}});
        match api.patch(name, &pp(manager), &Patch::Merge(&patch)).await {
            Ok(o) => written.note(&o),
            Err(e) if benign(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Upstream's slow start: creates go out in batches of 1, 2, 4, … and stop at the first error.
pub(crate) async fn create_all<K>(
    api: &Api<K>,
    objs: Vec<K>,
    manager: &str,
    written: &mut Written,
) -> Result<(), kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    let params = post(manager);
    let mut rest = objs.into_iter();
    let mut batch = 1usize;
    loop {
        let chunk: Vec<K> = rest.by_ref().take(batch).collect();
        if chunk.is_empty() {
            return Ok(());
        }
        let results = futures::future::join_all(chunk.iter().map(|o| api.create(&params, o))).await;
        let mut first_err = None;
        for r in results {
            match r {
                Ok(o) => written.note(&o),
                Err(e) if first_err.is_none() => first_err = Some(e),
                Err(_) => {}
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        batch *= 2;
    }
}

/// Deletes each named object (already gone is fine), optionally only if its uid matches.
pub(crate) async fn delete_all<K>(
    api: &Api<K>,
    names: &[String],
    params: &DeleteParams,
    written: &mut Written,
) -> Result<(), kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let results = futures::future::join_all(names.iter().map(|n| api.delete(n, params))).await;
    for r in results {
        match r {
            Ok(either) => {
                if let Some(o) = either.left() {
                    written.note(&o);
                }
            }
            Err(e) if benign(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A JSON merge patch turning `old` into `new`: changed and added keys with their new
/// values, removed keys as null (arrays and scalars are replaced whole).
pub(crate) fn merge_diff(old: &serde_json::Value, new: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut patch = serde_json::Map::new();
            for (k, v) in n {
                match o.get(k) {
                    Some(ov) if ov == v => {}
                    Some(ov) => {
                        patch.insert(k.clone(), merge_diff(ov, v));
                    }
                    None => {
                        patch.insert(k.clone(), v.clone());
                    }
                }
            }
            for k in o.keys() {
                if !n.contains_key(k) {
                    patch.insert(k.clone(), Value::Null);
                }
            }
            Value::Object(patch)
        }
        _ => new.clone(),
    }
}

/// `{"status": <merge patch from old to new>}`.
fn status_patch<S: Serialize>(old: Option<&S>, status: &S) -> serde_json::Value {
    let new = serde_json::to_value(status).unwrap_or_default();
    let old = old
        .and_then(|o| serde_json::to_value(o).ok())
        .unwrap_or_else(|| json!({}));
    json!({ "status": merge_diff(&old, &new) })
}

/// Writes `status` through the status subresource as a merge patch from `base`, so fields
/// the planner dropped are removed too, then makes `status` the new base.
///
/// `base` starts as the cached status; a sync with several status steps passes the same
/// `base` to each, so the second patch diffs against what the first one wrote, not against
/// the cache (diffing against the cache would leave behind fields the first patch set and
/// the second cleared: a Job's `uncountedTerminatedPods` would then be counted twice).
///
/// Use: `let mut base = job.status.clone();` before the sync's steps, then
/// `patch_status(&jobs, name, &mut base, &status, manager)` for each status step.
pub(crate) async fn patch_status<K, S>(
    api: &Api<K>,
    name: &str,
    base: &mut Option<S>,
    status: &S,
    manager: &str,
) -> Result<K, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
    S: Serialize + Clone,
{
    let patch = status_patch(base.as_ref(), status);
    let o = api
        .patch_status(name, &pp(manager), &Patch::Merge(&patch))
        .await?;
    *base = Some(status.clone());
    Ok(o)
}

/// [`patch_status`] guarded by the resourceVersion the status was computed from (409 if the
/// object changed since), for statuses other writers also change.
pub(crate) async fn patch_status_at<K, S>(
    api: &Api<K>,
    name: &str,
    resource_version: Option<&str>,
    old: Option<&S>,
    status: &S,
    manager: &str,
) -> Result<K, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
    S: Serialize,
{
    let mut patch = status_patch(old, status);
    patch["metadata"] = json!({ "resourceVersion": resource_version });
    api.patch_status(name, &pp(manager), &Patch::Merge(&patch))
        .await
}

/// The object an Event is about.
pub(crate) struct Involved<'a> {
    pub api_version: &'a str,
    pub kind: &'a str,
    /// None for cluster-scoped objects (their events go to `default`, like upstream).
    pub namespace: Option<&'a str>,
    pub name: &'a str,
    pub uid: Option<&'a str>,
}

/// Records a core/v1 Event about `obj` (best effort, like upstream's event recorder).
pub(crate) async fn record<K: Resource<DynamicType = ()>>(
    client: &kube::Client,
    obj: &K,
    source: &str,
    e: &skiff_controllers::event::Event,
) {
    let (api_version, kind) = (K::api_version(&()), K::kind(&()));
    let m = obj.meta();
    let involved = Involved {
        api_version: &api_version,
        kind: &kind,
        namespace: m.namespace.as_deref(),
        name: m.name.as_deref().unwrap_or_default(),
        uid: m.uid.as_deref(),
    };
    record_on(client, &involved, source, e).await
}

/// Records a core/v1 Event about `involved`.
pub(crate) async fn record_on(
    client: &kube::Client,
    involved: &Involved<'_>,
    source: &str,
    e: &skiff_controllers::event::Event,
) {
    let ns = involved.namespace.unwrap_or("default");
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let ev = json!({
        "metadata": {"generateName": format!("{}.", involved.name), "namespace": ns},
        "involvedObject": {"apiVersion": involved.api_version, "kind": involved.kind, "name": involved.name, "namespace": involved.namespace, "uid": involved.uid},
        "reason": e.reason, "message": e.message,
        "type": match e.type_ { skiff_controllers::event::EventType::Normal => "Normal", skiff_controllers::event::EventType::Warning => "Warning" },
        "source": {"component": source}, "reportingComponent": source, "count": 1,
        "firstTimestamp": now, "lastTimestamp": now,
    });
    if let Ok(ev) = serde_json::from_value::<CoreEvent>(ev) {
        let _ = Api::<CoreEvent>::namespaced(client.clone(), ns)
            .create(&PostParams::default(), &ev)
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::merge_diff;
    use serde_json::json;

    #[test]
    fn merge_diff_sets_changes_and_nulls_removals() {
        let old = json!({"replicas": 3, "active": [{"name": "a"}], "x": {"y": 1, "z": 2}});
        let new = json!({"replicas": 4, "x": {"y": 1}});
        assert_eq!(
            merge_diff(&old, &new),
            json!({"replicas": 4, "active": null, "x": {"z": null}})
        );
        let mut patched = old.clone();
        json_patch::merge(&mut patched, &merge_diff(&old, &new));
        assert_eq!(patched, new);
    }
}
