//! Drivers of the ReplicaSet and Deployment controllers: observe through the API, call the pure
//! planners of skiff-controllers, and carry out their steps. Level-triggered: a failed step ends
//! the sync with an error and the next sync plans again from what it observes.

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event as CoreEvent, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde_json::json;
use skiff_controllers::{deployment, replicaset};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Why a sync failed.
#[derive(Debug, thiserror::Error)]
#[error("{controller}: {source}")]
pub struct Error {
    controller: &'static str,
    #[source]
    source: kube::Error,
}

fn err(controller: &'static str) -> impl Fn(kube::Error) -> Error {
    move |source| Error { controller, source }
}

fn now() -> skiff_controllers::Timestamp {
    skiff_controllers::Timestamp::now()
}

fn pp(manager: &str) -> PatchParams {
    PatchParams {
        field_manager: Some(manager.into()),
        ..Default::default()
    }
}

fn controller_ref<K: Resource<DynamicType = ()>>(owner: &K) -> serde_json::Value {
    json!({
        "apiVersion": K::api_version(&()), "kind": K::kind(&()),
        "name": owner.meta().name, "uid": owner.meta().uid,
        "controller": true, "blockOwnerDeletion": true,
    })
}

/// Adds (or with `release`, removes) `owner` as the controller of each named object.
async fn set_owner<K, O>(
    api: &Api<K>,
    names: &[String],
    owner: &O,
    release: bool,
    manager: &str,
) -> Result<(), kube::Error>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
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
        let patch = json!({"metadata": {"ownerReferences": refs, "resourceVersion": obj.meta().resource_version}});
        api.patch(name, &pp(manager), &Patch::Merge(&patch)).await?;
    }
    Ok(())
}

async fn record<K: Resource<DynamicType = ()>>(
    client: &kube::Client,
    obj: &K,
    source: &str,
    e: &skiff_controllers::event::Event,
) {
    let ns = obj.meta().namespace.clone().unwrap_or_default();
    let ev = json!({
        "metadata": {"generateName": format!("{}.", obj.meta().name.clone().unwrap_or_default()), "namespace": ns},
        "involvedObject": {"apiVersion": K::api_version(&()), "kind": K::kind(&()), "name": obj.meta().name, "namespace": ns, "uid": obj.meta().uid},
        "reason": e.reason, "message": e.message,
        "type": match e.type_ { skiff_controllers::event::EventType::Normal => "Normal", skiff_controllers::event::EventType::Warning => "Warning" },
        "source": {"component": source}, "reportingComponent": source, "count": 1,
        "firstTimestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "lastTimestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    if let Ok(ev) = serde_json::from_value::<CoreEvent>(ev) {
        let _ = Api::<CoreEvent>::namespaced(client.clone(), &ns)
            .create(&PostParams::default(), &ev)
            .await;
    }
}

/// Upstream's slow start: creates go out in batches of 1, 2, 4, … and stop at the first error.
async fn create_pods(
    api: &Api<Pod>,
    count: u32,
    template: &k8s_openapi::api::core::v1::PodTemplateSpec,
    manager: &str,
) -> Result<(), kube::Error> {
    let pod = Pod {
        metadata: template.metadata.clone().unwrap_or_default(),
        spec: template.spec.clone(),
        status: None,
    };
    let params = PostParams {
        field_manager: Some(manager.into()),
        ..Default::default()
    };
    let (mut done, mut batch) = (0u32, 1u32);
    while done < count {
        let n = batch.min(count - done);
        let results = futures::future::join_all((0..n).map(|_| api.create(&params, &pod))).await;
        for r in results {
            r?;
        }
        done += n;
        batch *= 2;
    }
    Ok(())
}

async fn reconcile_rs(rs: Arc<ReplicaSet>, client: Arc<kube::Client>) -> Result<Action, Error> {
    const NAME: &str = replicaset::CONTROLLER_NAME;
    let e = err(NAME);
    let ns = rs.namespace().unwrap_or_default();
    let pods_api: Api<Pod> = Api::namespaced((*client).clone(), &ns);
    let pods = pods_api
        .list(&ListParams::default())
        .await
        .map_err(&e)?
        .items;
    let obs = replicaset::Observed {
        replica_set: &rs,
        pods: pods.iter().collect(),
        related_pods: vec![],
        now: now(),
    };
    let mut action = Action::await_change();
    for step in replicaset::plan(&obs) {
        match step {
            replicaset::Step::AdoptPods(names) => {
                set_owner(&pods_api, &names, rs.as_ref(), false, NAME)
                    .await
                    .map_err(&e)?
            }
            replicaset::Step::ReleasePods(names) => {
                set_owner(&pods_api, &names, rs.as_ref(), true, NAME)
                    .await
                    .map_err(&e)?
            }
            replicaset::Step::CreatePods { count, template } => {
                create_pods(&pods_api, count, &template, NAME)
                    .await
                    .map_err(&e)?
            }
            replicaset::Step::DeletePods(names) => {
                for n in names {
                    match pods_api.delete(&n, &DeleteParams::default()).await {
                        Ok(_) | Err(kube::Error::Api(_)) => {}
                        Err(x) => return Err(e(x)),
                    }
                }
            }
            replicaset::Step::Status(status) => {
                let api: Api<ReplicaSet> = Api::namespaced((*client).clone(), &ns);
                api.patch_status(
                    &rs.name_any(),
                    &pp(NAME),
                    &Patch::Merge(&json!({"status": status})),
                )
                .await
                .map_err(&e)?;
            }
            replicaset::Step::RequeueAfter(d) => action = Action::requeue(d),
        }
    }
    Ok(action)
}

async fn reconcile_deploy(d: Arc<Deployment>, client: Arc<kube::Client>) -> Result<Action, Error> {
    const NAME: &str = deployment::CONTROLLER_NAME;
    let e = err(NAME);
    let ns = d.namespace().unwrap_or_default();
    let rs_api: Api<ReplicaSet> = Api::namespaced((*client).clone(), &ns);
    let pods_api: Api<Pod> = Api::namespaced((*client).clone(), &ns);
    let d_api: Api<Deployment> = Api::namespaced((*client).clone(), &ns);
    let sets = rs_api.list(&ListParams::default()).await.map_err(&e)?.items;
    let pods = pods_api
        .list(&ListParams::default())
        .await
        .map_err(&e)?
        .items;
    let obs = deployment::Observed {
        deployment: &d,
        replica_sets: sets.iter().collect(),
        pods: pods.iter().collect(),
        now: now(),
    };
    let mut action = Action::await_change();
    for step in deployment::plan(&obs) {
        match step {
            deployment::Step::AdoptReplicaSets(names) => {
                set_owner(&rs_api, &names, d.as_ref(), false, NAME)
                    .await
                    .map_err(&e)?
            }
            deployment::Step::ReleaseReplicaSets(names) => {
                set_owner(&rs_api, &names, d.as_ref(), true, NAME)
                    .await
                    .map_err(&e)?
            }
            deployment::Step::CreateReplicaSet(rs) => {
                match rs_api.create(&PostParams::default(), &rs).await {
                    Ok(_) | Err(kube::Error::Api(_)) => {}
                    Err(x) => return Err(e(x)),
                }
            }
            deployment::Step::UpdateReplicaSet(rs) => {
                rs_api
                    .replace(&rs.name_any(), &PostParams::default(), &rs)
                    .await
                    .map_err(&e)?;
            }
            deployment::Step::DeleteReplicaSet(name) => {
                let _ = rs_api.delete(&name, &DeleteParams::background()).await;
            }
            deployment::Step::SetRevision(rev) => {
                let patch = json!({"metadata": {"annotations": {"deployment.kubernetes.io/revision": rev}}});
                d_api
                    .patch(&d.name_any(), &pp(NAME), &Patch::Merge(&patch))
                    .await
                    .map_err(&e)?;
            }
            deployment::Step::Status(status) => {
                d_api
                    .patch_status(
                        &d.name_any(),
                        &pp(NAME),
                        &Patch::Merge(&json!({"status": status})),
                    )
                    .await
                    .map_err(&e)?;
            }
            deployment::Step::Event(ev) => record(&client, d.as_ref(), NAME, &ev).await,
            deployment::Step::RequeueAfter(dur) => action = Action::requeue(dur),
        }
    }
    Ok(action)
}

fn error_policy<K>(_: Arc<K>, e: &Error, _: Arc<kube::Client>) -> Action {
    tracing::debug!(error = %e, "sync failed; retrying");
    Action::requeue(Duration::from_millis(500))
}

/// Runs the ReplicaSet and Deployment controllers until `stop` turns true.
pub async fn run(client: kube::Client, stop: watch::Receiver<bool>) {
    let rs = Controller::new(
        Api::<ReplicaSet>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(Api::<Pod>::all(client.clone()), watcher::Config::default())
    .graceful_shutdown_on(crate::stopped(stop.clone()))
    .run(reconcile_rs, error_policy, Arc::new(client.clone()))
    .for_each(|_| futures::future::ready(()));
    let deploy = Controller::new(
        Api::<Deployment>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(
        Api::<ReplicaSet>::all(client.clone()),
        watcher::Config::default(),
    )
    .graceful_shutdown_on(crate::stopped(stop))
    .run(reconcile_deploy, error_policy, Arc::new(client))
    .for_each(|_| futures::future::ready(()));
    tokio::join!(rs, deploy);
}
