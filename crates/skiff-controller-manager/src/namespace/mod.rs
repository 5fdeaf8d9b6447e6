//! The namespace controller: a terminating namespace's contents (every namespaced resource,
//! custom resources too) are deleted, its conditions report progress like upstream's, and once
//! nothing is left the `kubernetes` finalizer is removed so the API server deletes it.

pub mod plan;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::discovery::{Discovery, Scope};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::ResourceExt;
use plan::{Observed, Remaining, FINALIZER};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The field manager and event source name, as upstream's controller is called.
pub const NAME: &str = "namespace-controller";

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
#[error("namespace controller: {0}")]
pub struct Error(#[from] kube::Error);

/// Deletes what is in the namespace and reports what is left.
async fn delete_content(client: &kube::Client, ns: &str) -> Result<Observed, kube::Error> {
    let mut obs = Observed::default();
    let discovery = Discovery::new(client.clone()).run_aggregated().await?;
    for group in discovery.groups() {
        for (ar, caps) in group.recommended_resources() {
            if caps.scope != Scope::Namespaced
                || !caps.supports_operation("list")
                || !caps.supports_operation("delete")
            {
                continue;
            }
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
            let res_name = format!("{}.{}", ar.plural, ar.group);
            let deleted = if caps.supports_operation("deletecollection") {
                api.delete_collection(&DeleteParams::background(), &ListParams::default())
                    .await
                    .map(|_| ())
            } else {
                match api.list(&ListParams::default()).await {
                    Ok(list) => {
                        for o in list.items {
                            let _ = api.delete(&o.name_any(), &DeleteParams::background()).await;
                        }
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            };
            if let Err(e) = deleted {
                obs.delete_failures.push(format!("{res_name}: {e}"));
            }
            match api.list(&ListParams::default()).await {
                Ok(left) if !left.items.is_empty() => {
                    let mut r = Remaining {
                        resource: res_name,
                        count: left.items.len(),
                        ..Default::default()
                    };
                    for o in &left.items {
                        for f in o.finalizers() {
                            *r.finalizers.entry(f.clone()).or_default() += 1;
                        }
                    }
                    obs.remaining.push(r);
                }
                Ok(_) => {}
                Err(e) => obs.discovery_failures.push(format!("{res_name}: {e}")),
            }
        }
    }
    Ok(obs)
}

async fn reconcile(ns: Arc<Namespace>, client: Arc<kube::Client>) -> Result<Action, Error> {
    if ns.metadata.deletion_timestamp.is_none() {
        return Ok(Action::await_change());
    }
    let finalizers = ns
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.clone())
        .unwrap_or_default();
    if !finalizers.iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    let name = ns.name_any();
    let obs = delete_content(&client, &name).await?;
    let p = plan::plan(&obs);
    let api: Api<Namespace> = Api::all((*client).clone());
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let old = ns
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let conditions: Vec<serde_json::Value> = p
        .conditions
        .iter()
        .map(|c| {
            let mut c = c.clone();
            let same = old.iter().find(|o| {
                Some(o.type_.as_str()) == c["type"].as_str()
                    && Some(o.status.as_str()) == c["status"].as_str()
            });
            c["lastTransitionTime"] =
                match same.and_then(|o| serde_json::to_value(&o.last_transition_time).ok()) {
                    Some(t) if !t.is_null() => t,
                    _ => json!(now),
                };
            c
        })
        .collect();
    let status = json!({"status": {"phase": "Terminating", "conditions": conditions}});
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    if p.finalize {
        let mut fresh = api.get(&name).await?;
        if let Some(spec) = fresh.spec.as_mut() {
            spec.finalizers = Some(finalizers.into_iter().filter(|f| f != FINALIZER).collect());
        }
        match api
            .replace_subresource("finalize", &name, &PostParams::default(), &fresh)
            .await
        {
            Ok(_) | Err(kube::Error::Api(_)) => {}
            Err(e) => return Err(e.into()),
        }
        tracing::info!(namespace = %name, "namespace content removed; finalized");
        return Ok(Action::await_change());
    }
    Ok(Action::requeue(Duration::from_secs(1)))
}

fn error_policy(_: Arc<Namespace>, e: &Error, _: Arc<kube::Client>) -> Action {
    tracing::warn!(error = %e, "namespace controller");
    Action::requeue(Duration::from_secs(2))
}

/// Runs the controller until `stop` turns true.
pub async fn run(client: kube::Client, stop: watch::Receiver<bool>) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    Controller::new(namespaces, watcher::Config::default())
        .graceful_shutdown_on(crate::stopped(stop))
        .run(reconcile, error_policy, Arc::new(client))
        .for_each(|_| futures::future::ready(()))
        .await;
}
