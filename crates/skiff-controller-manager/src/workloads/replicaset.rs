//! ReplicaSet and ReplicationController syncs.

use super::write::{self, err, Error, Written};
use super::{lagging, now, refs, Ctx, Kind};
use crate::runtime::ObjectKey;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::api::{Api, DeleteParams};
use kube::ResourceExt;
use skiff_controllers::replicaset::{self, rc};
use std::sync::Arc;
use std::time::Duration;

fn pod_from(template: &k8s_openapi::api::core::v1::PodTemplateSpec) -> Pod {
    Pod {
        metadata: template.metadata.clone().unwrap_or_default(),
        spec: template.spec.clone(),
        status: None,
    }
}

/// One ReplicaSet sync.
pub(crate) async fn sync_rs(ctx: Arc<Ctx>, key: ObjectKey) -> Result<Option<Duration>, Error> {
    const NAME: &str = replicaset::CONTROLLER_NAME;
    let Some(rs) = ctx.caches.replica_sets.get(&key) else {
        ctx.forget(Kind::ReplicaSet, &key);
        return Ok(None);
    };
    if !ctx.caught_up(Kind::ReplicaSet, &key, ctx.caches.pods.revision(), &*rs) {
        return lagging();
    }
    let pods = ctx
        .caches
        .pods
        .claimable(&key.namespace, rs.metadata.uid.as_deref().unwrap_or(""));
    let obs = replicaset::Observed {
        replica_set: &rs,
        pods: refs(&pods),
        related_pods: vec![],
        now: now(),
    };
    let steps = replicaset::plan(&obs);
    let mut w = Written::default();
    let r = run_rs(&ctx, &rs, steps, &mut w).await;
    ctx.wrote(Kind::ReplicaSet, &key, &w);
    r.map_err(err(NAME))
}

async fn run_rs(
    ctx: &Ctx,
    rs: &ReplicaSet,
    steps: Vec<replicaset::Step>,
    w: &mut Written,
) -> Result<Option<Duration>, kube::Error> {
    const NAME: &str = replicaset::CONTROLLER_NAME;
    let ns = rs.namespace().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let mut again = None;
    let mut base = rs.status.clone();
    for step in steps {
        match step {
            replicaset::Step::AdoptPods(names) => {
                write::set_owner(&pods, &names, rs, false, None, NAME, w).await?
            }
            replicaset::Step::ReleasePods(names) => {
                write::set_owner(&pods, &names, rs, true, None, NAME, w).await?
            }
            replicaset::Step::CreatePods { count, template } => {
                let all = vec![pod_from(&template); count as usize];
                write::create_all(&pods, all, NAME, w).await?
            }
            replicaset::Step::DeletePods(names) => {
                write::delete_all(&pods, &names, &DeleteParams::default(), w).await?
            }
            replicaset::Step::Status(status) => {
                let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &ns);
                let o = write::patch_status(&api, &rs.name_any(), &mut base, &status, NAME).await?;
                w.note_own(&o);
            }
            replicaset::Step::RequeueAfter(d) => again = Some(d),
        }
    }
    Ok(again)
}

/// One ReplicationController sync.
pub(crate) async fn sync_rc(ctx: Arc<Ctx>, key: ObjectKey) -> Result<Option<Duration>, Error> {
    const NAME: &str = rc::CONTROLLER_NAME;
    let Some(ctl) = ctx.caches.replication_controllers.get(&key) else {
        ctx.forget(Kind::ReplicationController, &key);
        return Ok(None);
    };
    if !ctx.caught_up(
        Kind::ReplicationController,
        &key,
        ctx.caches.pods.revision(),
        &*ctl,
    ) {
        return lagging();
    }
    let pods = ctx
        .caches
        .pods
        .claimable(&key.namespace, ctl.metadata.uid.as_deref().unwrap_or(""));
    let obs = rc::Observed {
        controller: &ctl,
        pods: refs(&pods),
        now: now(),
    };
    let steps = rc::plan(&obs);
    let mut w = Written::default();
    let r = run_rc(&ctx, &ctl, steps, &mut w).await;
    ctx.wrote(Kind::ReplicationController, &key, &w);
    r.map_err(err(NAME))
}

async fn run_rc(
    ctx: &Ctx,
    ctl: &ReplicationController,
    steps: Vec<rc::Step>,
    w: &mut Written,
) -> Result<Option<Duration>, kube::Error> {
    const NAME: &str = rc::CONTROLLER_NAME;
    let ns = ctl.namespace().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let mut again = None;
    let mut base = ctl.status.clone();
    for step in steps {
        match step {
            rc::Step::AdoptPods(names) => {
                write::set_owner(&pods, &names, ctl, false, None, NAME, w).await?
            }
            rc::Step::ReleasePods(names) => {
                write::set_owner(&pods, &names, ctl, true, None, NAME, w).await?
            }
            rc::Step::CreatePods { count, template } => {
                let all = vec![pod_from(&template); count as usize];
                write::create_all(&pods, all, NAME, w).await?
            }
            rc::Step::DeletePods(names) => {
                write::delete_all(&pods, &names, &DeleteParams::default(), w).await?
            }
            rc::Step::Status(status) => {
                let api: Api<ReplicationController> = Api::namespaced(ctx.client.clone(), &ns);
                let o =
                    write::patch_status(&api, &ctl.name_any(), &mut base, &status, NAME).await?;
                w.note_own(&o);
            }
            rc::Step::RequeueAfter(d) => again = Some(d),
        }
    }
    Ok(again)
}
