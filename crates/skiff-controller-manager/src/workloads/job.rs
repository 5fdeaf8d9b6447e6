//! Job and CronJob syncs.

use super::write::{self, err, Error, Written};
use super::{lagging, now, refs, Ctx, Kind};
use crate::runtime::ObjectKey;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams};
use kube::ResourceExt;
use skiff_controllers::{cronjob, job};
use std::sync::Arc;
use std::time::Duration;

/// One Job sync.
pub(crate) async fn sync_job(ctx: Arc<Ctx>, key: ObjectKey) -> Result<Option<Duration>, Error> {
    let Some(j) = ctx.caches.jobs.get(&key) else {
        ctx.forget(Kind::Job, &key);
        return Ok(None);
    };
    if !ctx.caught_up(Kind::Job, &key, ctx.caches.pods.revision(), &*j) {
        return lagging();
    }
    let pods = ctx
        .caches
        .pods
        .claimable(&key.namespace, j.metadata.uid.as_deref().unwrap_or(""));
    let obs = job::Observed {
        job: &j,
        pods: refs(&pods),
        now: now(),
    };
    let steps = job::plan(&obs);
    let mut w = Written::default();
    let r = run_job(&ctx, &j, steps, &mut w).await;
    ctx.wrote(Kind::Job, &key, &w);
    r.map_err(err(job::CONTROLLER_NAME))
}

async fn run_job(
    ctx: &Ctx,
    j: &Job,
    steps: Vec<job::Step>,
    w: &mut Written,
) -> Result<Option<Duration>, kube::Error> {
    const NAME: &str = job::CONTROLLER_NAME;
    const FIN: &str = job::TRACKING_FINALIZER;
    let ns = j.namespace().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    let mut again = None;
    let mut base = j.status.clone();
    for step in steps {
        match step {
            job::Step::AdoptPods(names) => {
                write::set_owner(&pods, &names, j, false, Some(FIN), NAME, w).await?
            }
            job::Step::ReleasePods(names) => {
                write::set_owner(&pods, &names, j, true, Some(FIN), NAME, w).await?
            }
            job::Step::CreatePods(templates) => {
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
            job::Step::DeletePods(names) => {
                write::remove_finalizer(&pods, &names, FIN, NAME, w).await?;
                write::delete_all(&pods, &names, &DeleteParams::default(), w).await?
            }
            job::Step::DeleteActivePods(names) => {
                write::delete_all(&pods, &names, &DeleteParams::default(), w).await?
            }
            job::Step::Status(status) => {
                let o =
                    write::patch_status(&jobs, &j.name_any(), &mut base, &*status, NAME).await?;
                w.note_own(&o);
            }
            job::Step::RemoveFinalizers(names) => {
                write::remove_finalizer(&pods, &names, FIN, NAME, w).await?
            }
            job::Step::DeleteJob => {
                let mut unused = Written::default();
                write::delete_all(
                    &jobs,
                    &[j.name_any()],
                    &DeleteParams::foreground(),
                    &mut unused,
                )
                .await?
            }
            job::Step::Event(ev) => write::record(&ctx.client, j, NAME, &ev).await,
            job::Step::RequeueAfter(d) => again = Some(d),
        }
    }
    Ok(again)
}

/// One CronJob sync.
pub(crate) async fn sync_cron(ctx: Arc<Ctx>, key: ObjectKey) -> Result<Option<Duration>, Error> {
    let Some(cj) = ctx.caches.cron_jobs.get(&key) else {
        ctx.forget(Kind::CronJob, &key);
        return Ok(None);
    };
    if !ctx.caught_up(Kind::CronJob, &key, ctx.caches.jobs.revision(), &*cj) {
        return lagging();
    }
    let jobs = ctx
        .caches
        .jobs
        .claimable(&key.namespace, cj.metadata.uid.as_deref().unwrap_or(""));
    let obs = cronjob::Observed {
        cron_job: &cj,
        jobs: refs(&jobs),
        now: now(),
    };
    let steps = cronjob::plan(&obs);
    let mut w = Written::default();
    let r = run_cron(&ctx, &cj, steps, &mut w).await;
    ctx.wrote(Kind::CronJob, &key, &w);
    r.map_err(err(cronjob::CONTROLLER_NAME))
}

async fn run_cron(
    ctx: &Ctx,
    cj: &CronJob,
    steps: Vec<cronjob::Step>,
    w: &mut Written,
) -> Result<Option<Duration>, kube::Error> {
    const NAME: &str = cronjob::CONTROLLER_NAME;
    let ns = cj.namespace().unwrap_or_default();
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    let crons: Api<CronJob> = Api::namespaced(ctx.client.clone(), &ns);
    let mut created: Vec<Job> = Vec::new();
    let mut again = None;
    let mut base = cj.status.clone();
    for step in steps {
        match step {
            cronjob::Step::DeleteJob(name) => {
                write::delete_all(&jobs, &[name], &DeleteParams::background(), w).await?
            }
            cronjob::Step::CreateJob(job) => match jobs.create(&write::post(NAME), &job).await {
                Ok(o) => {
                    w.note(&o);
                    created.push(o);
                }
                // Upstream treats an existing Job of the same name as already started.
                Err(e) if write::benign(&e) => {}
                Err(e) => return Err(e),
            },
            cronjob::Step::Status(mut status) => {
                for r in status.active.iter_mut().flatten() {
                    if r.uid.is_none() {
                        r.uid = created
                            .iter()
                            .chain(
                                ctx.caches
                                    .jobs
                                    .get(&ObjectKey::new(&ns, r.name.clone().unwrap_or_default()))
                                    .as_deref(),
                            )
                            .find(|j| j.metadata.name == r.name)
                            .and_then(|j| j.metadata.uid.clone());
                    }
                }
                let o =
                    write::patch_status(&crons, &cj.name_any(), &mut base, &*status, NAME).await?;
                w.note_own(&o);
            }
            cronjob::Step::Event(ev) => write::record(&ctx.client, cj, NAME, &ev).await,
            cronjob::Step::RequeueAfter(d) => again = Some(d),
        }
    }
    Ok(again)
}
