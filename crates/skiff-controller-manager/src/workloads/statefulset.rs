//! StatefulSet syncs.

use super::write::{self, err, Error, Written};
use super::{lagging, now, refs, Ctx, Kind};
use crate::runtime::ObjectKey;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, DeleteParams, PostParams};
use kube::ResourceExt;
use skiff_controllers::statefulset;
use std::sync::Arc;
use std::time::Duration;

/// One StatefulSet sync.
pub(crate) async fn sync(ctx: Arc<Ctx>, key: ObjectKey) -> Result<Option<Duration>, Error> {
    let Some(set) = ctx.caches.stateful_sets.get(&key) else {
        ctx.forget(Kind::StatefulSet, &key);
        return Ok(None);
    };
    if !ctx.caught_up(Kind::StatefulSet, &key, ctx.caches.pods.revision(), &*set) {
        return lagging();
    }
    let uid = set.metadata.uid.clone().unwrap_or_default();
    let pods = ctx.caches.pods.claimable(&key.namespace, &uid);
    let revisions = ctx.caches.revisions.claimable(&key.namespace, &uid);
    let claims = ctx.caches.claims.list_namespace(&key.namespace);
    let obs = statefulset::Observed {
        set: &set,
        pods: refs(&pods),
        revisions: refs(&revisions),
        claims: refs(&claims),
        now: now(),
    };
    let steps = statefulset::plan(&obs);
    let mut w = Written::default();
    let r = run(&ctx, &set, steps, &mut w).await;
    ctx.wrote(Kind::StatefulSet, &key, &w);
    r.map_err(err(statefulset::CONTROLLER_NAME))
}

async fn run(
    ctx: &Ctx,
    set: &StatefulSet,
    steps: Vec<statefulset::Step>,
    w: &mut Written,
) -> Result<Option<Duration>, kube::Error> {
    const NAME: &str = statefulset::CONTROLLER_NAME;
    let ns = set.namespace().unwrap_or_default();
    let client = ctx.client.clone();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let revisions: Api<ControllerRevision> = Api::namespaced(client.clone(), &ns);
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns);
    let sets: Api<StatefulSet> = Api::namespaced(client, &ns);
    let mut unused = Written::default();
    let mut again = None;
    let mut base = set.status.clone();
    for step in steps {
        match step {
            statefulset::Step::AdoptPods(names) => {
                write::set_owner(&pods, &names, set, false, None, NAME, w).await?
            }
            statefulset::Step::ReleasePods(names) => {
                write::set_owner(&pods, &names, set, true, None, NAME, w).await?
            }
            statefulset::Step::CreateRevision(rev) => {
                match revisions.create(&write::post(NAME), &rev).await {
                    Ok(_) => {}
                    Err(e) if write::benign(&e) => {}
                    Err(e) => return Err(e),
                }
            }
            statefulset::Step::UpdateRevision(rev) => {
                revisions
                    .replace(&rev.name_any(), &PostParams::default(), &rev)
                    .await?;
            }
            statefulset::Step::DeleteRevisions(names) => {
                write::delete_all(&revisions, &names, &DeleteParams::default(), &mut unused).await?
            }
            statefulset::Step::CreateClaims(list) => {
                for c in list {
                    match claims.create(&write::post(NAME), &c).await {
                        Ok(_) => {}
                        Err(kube::Error::Api(s)) if s.code == 409 => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            statefulset::Step::CreatePod(pod) => {
                match pods.create(&write::post(NAME), &pod).await {
                    Ok(o) => w.note(&o),
                    Err(kube::Error::Api(s)) if s.code == 409 => {}
                    Err(e) => return Err(e),
                }
            }
            statefulset::Step::DeletePod(name) => {
                write::delete_all(&pods, &[name], &DeleteParams::default(), w).await?
            }
            statefulset::Step::Status(status) => {
                let o =
                    write::patch_status(&sets, &set.name_any(), &mut base, &*status, NAME).await?;
                w.note_own(&o);
            }
            statefulset::Step::RequeueAfter(d) => again = Some(d),
        }
    }
    Ok(again)
}
