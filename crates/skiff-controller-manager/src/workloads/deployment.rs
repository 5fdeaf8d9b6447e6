//! Deployment syncs.

use super::write::{self, err, Error, Written};
use super::{lagging, now, refs, Ctx, Kind};
use crate::runtime::ObjectKey;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Api, DeleteParams, Patch, PostParams};
use kube::ResourceExt;
use serde_json::json;
use skiff_controllers::deployment;
use std::sync::Arc;
use std::time::Duration;

/// One Deployment sync.
pub(crate) async fn sync(ctx: Arc<Ctx>, key: ObjectKey) -> Result<Option<Duration>, Error> {
    let Some(d) = ctx.caches.deployments.get(&key) else {
        ctx.forget(Kind::Deployment, &key);
        return Ok(None);
    };
    if !ctx.caught_up(
        Kind::Deployment,
        &key,
        ctx.caches.replica_sets.revision(),
        &*d,
    ) {
        return lagging();
    }
    let uid = d.metadata.uid.clone().unwrap_or_default();
    let sets = ctx.caches.replica_sets.claimable(&key.namespace, &uid);
    let pods: Vec<_> = sets
        .iter()
        .filter_map(|rs| rs.metadata.uid.as_deref())
        .flat_map(|u| ctx.caches.pods.controlled_by(u))
        .collect();
    let obs = deployment::Observed {
        deployment: &d,
        replica_sets: refs(&sets),
        pods: refs(&pods),
        now: now(),
    };
    let steps = deployment::plan(&obs);
    let mut w = Written::default();
    let r = run(&ctx, &d, steps, &mut w).await;
    ctx.wrote(Kind::Deployment, &key, &w);
    r.map_err(err(deployment::CONTROLLER_NAME))
}

async fn run(
    ctx: &Ctx,
    d: &Deployment,
    steps: Vec<deployment::Step>,
    w: &mut Written,
) -> Result<Option<Duration>, kube::Error> {
    const NAME: &str = deployment::CONTROLLER_NAME;
    let ns = d.namespace().unwrap_or_default();
    let sets: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &ns);
    let deploys: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
    let mut again = None;
    let mut base = d.status.clone();
    for step in steps {
        match step {
            deployment::Step::AdoptReplicaSets(names) => {
                write::set_owner(&sets, &names, d, false, None, NAME, w).await?
            }
            deployment::Step::ReleaseReplicaSets(names) => {
                write::set_owner(&sets, &names, d, true, None, NAME, w).await?
            }
            deployment::Step::CreateReplicaSet(rs) => {
                match sets.create(&write::post(NAME), &rs).await {
                    Ok(o) => w.note(&o),
                    // Same name, same template hash: an earlier sync made it.
                    Err(e) if write::benign(&e) => {}
                    Err(e) => return Err(e),
                }
            }
            deployment::Step::UpdateReplicaSet(rs) => {
                let o = sets
                    .replace(&rs.name_any(), &PostParams::default(), &rs)
                    .await?;
                w.note(&o);
            }
            deployment::Step::DeleteReplicaSet(name) => {
                write::delete_all(&sets, &[name], &DeleteParams::background(), w).await?
            }
            deployment::Step::SetRevision(rev) => {
                let patch = json!({"metadata": {"annotations": {"deployment.kubernetes.io/revision": rev}}});
                deploys
                    .patch(&d.name_any(), &write::pp(NAME), &Patch::Merge(&patch))
                    .await?;
            }
            deployment::Step::Status(status) => {
                let o =
                    write::patch_status(&deploys, &d.name_any(), &mut base, &status, NAME).await?;
                w.note_own(&o);
            }
            deployment::Step::Event(ev) => write::record(&ctx.client, d, NAME, &ev).await,
            deployment::Step::RequeueAfter(dur) => again = Some(dur),
        }
    }
    Ok(again)
}
