//! The ServiceAccount controller: every active namespace has a `default` ServiceAccount
//! (upstream's serviceaccounts-controller). Level-triggered: reconciling a namespace twice
//! creates nothing the second time.

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::ResourceExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The ServiceAccount every namespace gets.
pub const DEFAULT_NAME: &str = "default";

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
#[error("serviceaccount controller: {0}")]
pub struct Error(#[from] kube::Error);

/// What to do for one namespace: create the default ServiceAccount or nothing. Pure.
pub fn needs_default(namespace_active: bool, has_default: bool) -> bool {
    namespace_active && !has_default
}

async fn reconcile(ns: Arc<Namespace>, client: Arc<kube::Client>) -> Result<Action, Error> {
    let name = ns.name_any();
    let active = crate::namespace_active(&ns);
    let api: Api<ServiceAccount> = Api::namespaced((*client).clone(), &name);
    let has = api.get_opt(DEFAULT_NAME).await?.is_some();
    if needs_default(active, has) {
        let sa: ServiceAccount =
            serde_json::from_value(serde_json::json!({"metadata": {"name": DEFAULT_NAME}}))
                .expect("invariant: a valid ServiceAccount");
        match api
            .create(
                &PostParams {
                    field_manager: Some("serviceaccount-controller".into()),
                    ..Default::default()
                },
                &sa,
            )
            .await
        {
            Ok(_) => tracing::info!(namespace = %name, "created the default ServiceAccount"),
            Err(kube::Error::Api(e)) if e.code == 409 || e.code == 403 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Action::await_change())
}

fn error_policy(_: Arc<Namespace>, e: &Error, _: Arc<kube::Client>) -> Action {
    tracing::warn!(error = %e, "serviceaccount controller");
    Action::requeue(Duration::from_secs(2))
}

/// Runs the controller until `stop` turns true.
pub async fn run(client: kube::Client, stop: watch::Receiver<bool>) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let accounts: Api<ServiceAccount> = Api::all(client.clone());
    Controller::new(namespaces, watcher::Config::default())
        .watches(
            accounts,
            watcher::Config::default(),
            |sa: ServiceAccount| sa.namespace().map(|ns| ObjectRef::<Namespace>::new(&ns)),
        )
        .graceful_shutdown_on(crate::stopped(stop))
        .run(reconcile, error_policy, Arc::new(client))
        .for_each(|_| futures::future::ready(()))
        .await;
}

#[cfg(test)]
mod tests {
    use super::needs_default;

    #[test]
    fn only_active_namespaces_without_one_get_a_default_service_account() {
        assert!(needs_default(true, false));
        assert!(!needs_default(true, true));
        assert!(!needs_default(false, false));
    }
}
