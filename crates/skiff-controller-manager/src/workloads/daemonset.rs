//! DaemonSet syncs.

use super::write::{self, err, Error, Written};
use super::{lagging, now, refs, Ctx, Kind};
use crate::runtime::ObjectKey;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, PostParams};
use kube::ResourceExt;
use skiff_controllers::daemonset;
use std::sync::Arc;
use std::time::Duration;

/// One DaemonSet sync.
pub(crate) async fn sync(ctx: Arc<Ctx>, key: ObjectKey) -> Result<Option<Duration>, Error> {
    let Some(ds) = ctx.caches.daemon_sets.get(&key) else {
        ctx.forget(Kind::DaemonSet, &key);
        return Ok(None);
    };
    if !ctx.caught_up(Kind::DaemonSet, &key, ctx.caches.pods.revision(), &*ds) {
        return lagging();
    }
    let uid = ds.metadata.uid.clone().unwrap_or_default();
    let pods = ctx.caches.pods.claimable(&key.namespace, &uid);
    let revisions = ctx.caches.revisions.claimable(&key.namespace, &uid);
    let nodes = ctx.caches.nodes.list();
    let obs = daemonset::Observed {
        daemon_set: &ds,
        nodes: refs(&nodes),
        pods: refs(&pods),
        revisions: refs(&revisions),
        now: now(),
    };
    let steps = daemonset::plan(&obs);
    let mut w = Written::default();
    let r = run(&ctx, &ds, steps, &mut w).await;
    ctx.wrote(Kind::DaemonSet, &key, &w);
    r.map_err(err(daemonset::CONTROLLER_NAME))
}

async fn run(
    ctx: &Ctx,
    ds: &DaemonSet,
    steps: Vec<daemonset::Step>,
    w: &mut Written,
) -> Result<Option<Duration>, kube::Error> {
    const NAME: &str = daemonset::CONTROLLER_NAME;
    let ns = ds.namespace().unwrap_or_default();
    let client = ctx.client.clone();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let revisions: Api<ControllerRevision> = Api::namespaced(client.clone(), &ns);
    let sets: Api<DaemonSet> = Api::namespaced(client, &ns);
    let mut unused = Written::default();
    let mut again = None;
    let mut base = ds.status.clone();
    for step in steps {
        match step {
            daemonset::Step::AdoptPods(names) => {
                write::set_owner(&pods, &names, ds, false, None, NAME, w).await?
            }
            daemonset::Step::ReleasePods(names) => {
                write::set_owner(&pods, &names, ds, true, None, NAME, w).await?
            }
            daemonset::Step::CreateRevision(rev) => {
                match revisions.create(&write::post(NAME), &rev).await {
                    Ok(_) => {}
                    Err(e) if write::benign(&e) => {}
                    Err(e) => return Err(e),
                }
            }
            daemonset::Step::UpdateRevision(rev) => {
                revisions
                    .replace(&rev.name_any(), &PostParams::default(), &rev)
                    .await?;
            }
            daemonset::Step::DeleteRevisions(names) => {
                write::delete_all(&revisions, &names, &DeleteParams::default(), &mut unused).await?
            }
            daemonset::Step::DeletePods(names) => {
                write::delete_all(&pods, &names, &DeleteParams::default(), w).await?
            }
            daemonset::Step::CreatePods(templates) => {
                let all = templates
                    .into_iter()
                    .map(|t| Pod {
                        metadata: t.metadata.unwrap_or_default(),
                        spec: t.spec,
                        status: None,
                    })
                    .collect();
                write::create_all(&pods, all, NAME, w).await?
            }
            daemonset::Step::Status(status) => {
                let o =
                    write::patch_status(&sets, &ds.name_any(), &mut base, &*status, NAME).await?;
                w.note_own(&o);
            }
            daemonset::Step::Event(ev) => write::record(&ctx.client, ds, NAME, &ev).await,
            daemonset::Step::RequeueAfter(d) => again = Some(d),
        }
    }
    Ok(again)
}
