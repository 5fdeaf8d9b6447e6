//! The garbage collector: objects whose owners are gone are deleted (background propagation),
//! an owner deleted with `propagationPolicy=Orphan` releases its dependents (finalizer
//! `orphan`), and one deleted with `Foreground` waits until its dependents are gone (finalizer
//! `foregroundDeletion`). Each sweep observes every object through the API; before deleting a
//! dependent, the absence of its owner is confirmed with a live read, as upstream does.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::discovery::{ApiResource, Discovery, Scope};
use kube::ResourceExt;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::sync::watch;

/// Field manager and event source, as upstream's controller is called.
pub const NAME: &str = "garbage-collector-controller";
const ORPHAN: &str = "orphan";
const FOREGROUND: &str = "foregroundDeletion";
/// How often the collector sweeps (at most; see [`SWEEP_DUTY_DIVISOR`]).
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(1);
/// After a sweep that took `t`, the next one waits at least `t` × this, so sweeping uses at
/// most a twentieth of the time however many objects there are (where a sweep takes 0.5 s,
/// orphans wait up to ~10 s; upstream's collector follows watches instead and is quicker,
/// at the cost of holding every object's metadata in memory).
pub const SWEEP_DUTY_DIVISOR: u32 = 20;

/// One observed object.
#[derive(Clone, Debug)]
pub struct Node {
    /// Where it is served.
    pub resource: ApiResource,
    /// Whether its resource is namespaced.
    pub namespaced: bool,
    /// Namespace.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// Uid.
    pub uid: String,
    /// Its owners.
    pub owners: Vec<OwnerReference>,
    /// Its finalizers.
    pub finalizers: Vec<String>,
    /// Whether it is being deleted.
    pub deleting: bool,
}

/// What one sweep must do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Objects (by index) whose every owner seems gone: confirm, then delete.
    pub maybe_orphaned: Vec<usize>,
    /// (dependent, owner uid) pairs whose reference must be removed (orphaning).
    pub release: Vec<(usize, String)>,
    /// Objects (by index) to delete because their owner is being deleted in the foreground.
    pub delete_for_foreground: Vec<usize>,
    /// (object, finalizer) pairs to remove: orphaning done, or no dependents left.
    pub remove_finalizer: Vec<(usize, &'static str)>,
}

/// Pure: decides from the observed objects.
pub fn plan(nodes: &[Node]) -> Plan {
    let uids: BTreeSet<&str> = nodes.iter().map(|n| n.uid.as_str()).collect();
    let mut dependents: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for o in &n.owners {
            dependents.entry(o.uid.as_str()).or_default().push(i);
        }
    }
    let mut p = Plan::default();
    for (i, n) in nodes.iter().enumerate() {
        let deps = dependents.get(n.uid.as_str()).cloned().unwrap_or_default();
        if n.deleting && n.finalizers.iter().any(|f| f == ORPHAN) {
            if deps.is_empty() {
                p.remove_finalizer.push((i, ORPHAN));
            } else {
                p.release.extend(deps.iter().map(|d| (*d, n.uid.clone())));
            }
        }
        if n.deleting && n.finalizers.iter().any(|f| f == FOREGROUND) {
            // Every dependent goes, but only those with blockOwnerDeletion hold the owner back.
            p.delete_for_foreground
                .extend(deps.iter().filter(|d| !nodes[**d].deleting));
            let blocking = deps.iter().any(|d| {
                nodes[*d]
                    .owners
                    .iter()
                    .any(|o| o.uid == n.uid && o.block_owner_deletion == Some(true))
            });
            if !blocking {
                p.remove_finalizer.push((i, FOREGROUND));
            }
        }
        if !n.owners.is_empty()
            && !n.deleting
            && n.owners.iter().all(|o| !uids.contains(o.uid.as_str()))
        {
            p.maybe_orphaned.push(i);
        }
    }
    p
}

/// Objects per page when the sweep lists a kind.
const LIST_PAGE: u32 = 500;

async fn observe(
    client: &kube::Client,
) -> Result<(Vec<Node>, BTreeMap<(String, String), (ApiResource, bool)>), kube::Error> {
    let discovery = Discovery::new(client.clone()).run_aggregated().await?;
    let mut kinds = BTreeMap::new();
    let mut nodes = Vec::new();
    for group in discovery.groups() {
        for (ar, caps) in group.recommended_resources() {
            let namespaced = caps.scope == Scope::Namespaced;
            kinds.insert(
                (ar.api_version.clone(), ar.kind.clone()),
                (ar.clone(), namespaced),
            );
            if !caps.supports_operation("list")
                || !caps.supports_operation("delete")
                || ar.plural == "events"
            {
                continue;
            }
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
            // In pages, so that neither side holds a whole large collection at once. A kind
            // whose listing fails part-way is seen in part: that only hides candidates, and
            // every deletion checks the owner with a live read first.
            let mut params = ListParams::default().limit(LIST_PAGE);
            while let Ok(list) = api.list_metadata(&params).await {
                for o in list.items {
                    nodes.push(Node {
                        resource: ar.clone(),
                        namespaced,
                        namespace: o.namespace(),
                        name: o.name_any(),
                        uid: o.uid().unwrap_or_default(),
                        owners: o.owner_references().to_vec(),
                        finalizers: o.finalizers().to_vec(),
                        deleting: o.metadata.deletion_timestamp.is_some(),
                    });
                }
                match list.metadata.continue_.filter(|c| !c.is_empty()) {
                    Some(token) => params = params.continue_token(&token),
                    None => break,
                }
            }
        }
    }
    Ok((nodes, kinds))
}

fn api_for(client: &kube::Client, n: &Node) -> Api<DynamicObject> {
    match (&n.namespace, n.namespaced) {
        (Some(ns), true) => Api::namespaced_with(client.clone(), ns, &n.resource),
        _ => Api::all_with(client.clone(), &n.resource),
    }
}

/// Whether the owner still exists with the referenced uid (a live read).
async fn owner_exists(
    client: &kube::Client,
    kinds: &BTreeMap<(String, String), (ApiResource, bool)>,
    n: &Node,
    o: &OwnerReference,
) -> bool {
    let Some((ar, namespaced)) = kinds.get(&(o.api_version.clone(), o.kind.clone())) else {
        return false;
    };
    let api: Api<DynamicObject> = match (&n.namespace, namespaced) {
        (Some(ns), true) => Api::namespaced_with(client.clone(), ns, ar),
        _ => Api::all_with(client.clone(), ar),
    };
    match api.get_opt(&o.name).await {
        Ok(Some(obj)) => obj.uid().as_deref() == Some(o.uid.as_str()),
        Ok(None) => false,
        Err(_) => true, // unsure: keep the dependent
    }
}

/// The cluster's current resourceVersion (of a one-item list), to skip sweeps when nothing
/// changed since the last one.
async fn cluster_revision(client: &kube::Client) -> Result<String, kube::Error> {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let list = api.list_metadata(&ListParams::default().limit(1)).await?;
    Ok(list.metadata.resource_version.unwrap_or_default())
}

async fn sweep(client: &kube::Client) -> Result<(), kube::Error> {
    let (nodes, kinds) = observe(client).await?;
    let p = plan(&nodes);
    let pp = PatchParams {
        field_manager: Some(NAME.into()),
        ..Default::default()
    };
    for i in p.maybe_orphaned {
        let n = &nodes[i];
        let mut alive = false;
        for o in &n.owners {
            alive |= owner_exists(client, &kinds, n, o).await;
        }
        if !alive {
            tracing::info!(object = %n.name, kind = %n.resource.kind, "garbage collecting: its owner is gone");
            let _ = api_for(client, n)
                .delete(&n.name, &DeleteParams::background())
                .await;
        }
    }
    for (i, owner_uid) in p.release {
        let n = &nodes[i];
        let owners: Vec<&OwnerReference> = n.owners.iter().filter(|o| o.uid != owner_uid).collect();
        let patch = json!({"metadata": {"ownerReferences": owners}});
        let _ = api_for(client, n)
            .patch(&n.name, &pp, &Patch::Merge(&patch))
            .await;
    }
    for i in p.delete_for_foreground {
        let n = &nodes[i];
        let _ = api_for(client, n)
            .delete(&n.name, &DeleteParams::foreground())
            .await;
    }
    for (i, f) in p.remove_finalizer {
        let n = &nodes[i];
        let rest: Vec<&String> = n.finalizers.iter().filter(|x| *x != f).collect();
        let patch = json!({"metadata": {"finalizers": rest}});
        let _ = api_for(client, n)
            .patch(&n.name, &pp, &Patch::Merge(&patch))
            .await;
    }
    Ok(())
}

/// Runs the collector until `stop` turns true.
pub async fn run(client: kube::Client, mut stop: watch::Receiver<bool>) {
    let mut last = String::new();
    let mut pause = SWEEP_INTERVAL;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => return,
        }
        let Ok(rev) = cluster_revision(&client).await else {
            continue;
        };
        if rev == last {
            continue;
        }
        let started = std::time::Instant::now();
        let swept = sweep(&client).await;
        // A sweep reads every object: on a big, busy cluster keep it to a fraction of the time.
        pause = SWEEP_INTERVAL.max(started.elapsed() * SWEEP_DUTY_DIVISOR);
        match swept {
            // What the sweep itself wrote moves the revision: the next sweep confirms the result.
            Ok(()) => last = rev,
            Err(e) => tracing::debug!(error = %e, "garbage collector sweep failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(uid: &str, owners: &[&str], finalizers: &[&str], deleting: bool) -> Node {
        Node {
            resource: ApiResource::erase::<k8s_openapi::api::core::v1::Pod>(&()),
            namespaced: true,
            namespace: Some("default".into()),
            name: uid.into(),
            uid: uid.into(),
            owners: owners
                .iter()
                .map(|o| OwnerReference {
                    uid: o.to_string(),
                    name: o.to_string(),
                    kind: "ReplicaSet".into(),
                    api_version: "apps/v1".into(),
                    ..Default::default()
                })
                .collect(),
            finalizers: finalizers.iter().map(|f| f.to_string()).collect(),
            deleting,
        }
    }

    #[test]
    fn dependents_of_a_missing_owner_are_candidates_and_others_are_not() {
        let p = plan(&[
            node("rs", &[], &[], false),
            node("a", &["rs"], &[], false),
            node("b", &["gone"], &[], false),
        ]);
        assert_eq!(p.maybe_orphaned, vec![2]);
    }

    #[test]
    fn orphaning_releases_dependents_then_the_finalizer() {
        let p = plan(&[
            node("rs", &[], &[ORPHAN], true),
            node("a", &["rs"], &[], false),
        ]);
        assert_eq!(p.release, vec![(1, "rs".to_string())]);
        assert!(p.remove_finalizer.is_empty());
        let p = plan(&[node("rs", &[], &[ORPHAN], true), node("a", &[], &[], false)]);
        assert_eq!(p.remove_finalizer, vec![(0, ORPHAN)]);
    }

    #[test]
    fn foreground_deletes_dependents_first() {
        let mut rs = node("rs", &["d"], &[], false);
        rs.owners[0].block_owner_deletion = Some(true);
        let p = plan(&[node("d", &[], &[FOREGROUND], true), rs.clone()]);
        assert_eq!(p.delete_for_foreground, vec![1]);
        assert!(
            p.remove_finalizer.is_empty(),
            "a blocking dependent holds the owner"
        );
        let p = plan(&[node("d", &[], &[FOREGROUND], true)]);
        assert_eq!(p.remove_finalizer, vec![(0, FOREGROUND)]);
        // A dependent without blockOwnerDeletion is deleted but does not hold the owner back.
        rs.owners[0].block_owner_deletion = None;
        let p = plan(&[node("d", &[], &[FOREGROUND], true), rs]);
        assert_eq!(p.delete_for_foreground, vec![1]);
        assert_eq!(p.remove_finalizer, vec![(0, FOREGROUND)]);
    }
}
