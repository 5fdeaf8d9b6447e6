//! The root CA publisher: every active namespace has a ConfigMap `kube-root-ca.crt` whose
//! `ca.crt` is the cluster CA (upstream's root-ca-cert-publisher; pods read it through the
//! `kube-api-access-*` volume to trust the API server). Level-triggered: a namespace whose
//! ConfigMap is right is left alone; one edited or deleted by hand is put back.

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::ResourceExt;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The ConfigMap's name.
pub const NAME: &str = "kube-root-ca.crt";
/// Upstream's description annotation.
pub const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
#[error("root-ca-cert-publisher: {0}")]
pub struct Error(#[from] kube::Error);

/// What a namespace needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing (inactive namespace, or the ConfigMap is right).
    Nothing,
    /// Create the ConfigMap.
    Create(Value),
    /// Replace its data and description (the rest of the object is kept).
    Update(Value),
}

/// A ConfigMap's string map (data, annotations).
pub type Strings = BTreeMap<String, String>;

/// PURE — the step for a namespace given the ConfigMap's current data and annotations.
pub fn step(active: bool, current: Option<(&Strings, &Strings)>, ca: &str) -> Step {
    if !active {
        return Step::Nothing;
    }
    let wanted = json!({
        "metadata": {"name": NAME, "annotations": {"kubernetes.io/description": DESCRIPTION}},
        "data": {"ca.crt": ca},
    });
    match current {
        None => Step::Create(wanted),
        Some((data, annotations)) => {
            let right = data.len() == 1
                && data.get("ca.crt").map(String::as_str) == Some(ca)
                && annotations
                    .get("kubernetes.io/description")
                    .map(String::as_str)
                    == Some(DESCRIPTION);
            if right {
                Step::Nothing
            } else {
                Step::Update(wanted)
            }
        }
    }
}

struct Ctx {
    client: kube::Client,
    ca: String,
}

async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let name = ns.name_any();
    let active = crate::namespace_active(&ns);
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &name);
    let current = if active {
        api.get_opt(NAME).await?
    } else {
        None
    };
    let (data, annotations) = current
        .as_ref()
        .map(|cm| {
            (
                cm.data.clone().unwrap_or_default(),
                cm.annotations().clone(),
            )
        })
        .unwrap_or_default();
    let pp = PostParams {
        field_manager: Some("root-ca-cert-publisher".into()),
        ..Default::default()
    };
    let view = current.as_ref().map(|_| (&data, &annotations));
    match step(active, view, &ctx.ca) {
        Step::Nothing => {}
        Step::Create(v) => {
            let cm: ConfigMap = serde_json::from_value(v).expect("invariant: a valid ConfigMap");
            match api.create(&pp, &cm).await {
                Ok(_) => tracing::debug!(namespace = %name, "published the root CA"),
                // Exists already (a race with ourselves) or the namespace is terminating.
                Err(kube::Error::Api(e)) if e.code == 409 || e.code == 403 => {}
                Err(e) => return Err(e.into()),
            }
        }
        Step::Update(v) => {
            let mut cm = current.expect("invariant: an update has a current object");
            cm.data = serde_json::from_value(v["data"].clone()).ok();
            cm.binary_data = None;
            cm.annotations_mut()
                .insert("kubernetes.io/description".into(), DESCRIPTION.into());
            match api.replace(NAME, &pp, &cm).await {
                Ok(_) => tracing::info!(namespace = %name, "restored the root CA ConfigMap"),
                Err(kube::Error::Api(e)) if e.code == 409 || e.code == 404 => {
                    return Ok(Action::requeue(Duration::from_millis(200)))
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(Action::await_change())
}

fn error_policy(_: Arc<Namespace>, e: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(error = %e, "root-ca-cert-publisher");
    Action::requeue(Duration::from_secs(2))
}

/// Runs the publisher for CA `ca` (PEM) until `stop` turns true.
pub async fn run(client: kube::Client, ca: String, stop: watch::Receiver<bool>) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let maps: Api<ConfigMap> = Api::all(client.clone());
    let only_ours = watcher::Config::default().fields(&format!("metadata.name={NAME}"));
    Controller::new(namespaces, watcher::Config::default())
        .watches(maps, only_ours, |cm: ConfigMap| {
            cm.namespace().map(|ns| ObjectRef::<Namespace>::new(&ns))
        })
        .graceful_shutdown_on(crate::stopped(stop))
        .run(reconcile, error_policy, Arc::new(Ctx { client, ca }))
        .for_each(|_| futures::future::ready(()))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    fn described() -> BTreeMap<String, String> {
        BTreeMap::from([("kubernetes.io/description".into(), DESCRIPTION.into())])
    }

    #[test]
    fn a_missing_config_map_is_created_and_a_right_one_left_alone() {
        let Step::Create(v) = step(true, None, CA) else {
            panic!("expected a create")
        };
        assert_eq!(v["data"]["ca.crt"], CA);
        assert_eq!(v["metadata"]["name"], NAME);
        let data = BTreeMap::from([("ca.crt".to_string(), CA.to_string())]);
        assert_eq!(step(true, Some((&data, &described())), CA), Step::Nothing);
        assert_eq!(step(false, None, CA), Step::Nothing);
    }

    #[test]
    fn edited_data_or_a_lost_description_is_put_back() {
        let wrong = BTreeMap::from([("ca.crt".to_string(), "tampered".to_string())]);
        assert!(matches!(
            step(true, Some((&wrong, &described())), CA),
            Step::Update(_)
        ));
        let extra = BTreeMap::from([
            ("ca.crt".to_string(), CA.to_string()),
            ("more".to_string(), "x".to_string()),
        ]);
        assert!(matches!(
            step(true, Some((&extra, &described())), CA),
            Step::Update(_)
        ));
        let right = BTreeMap::from([("ca.crt".to_string(), CA.to_string())]);
        assert!(matches!(
            step(true, Some((&right, &BTreeMap::new())), CA),
            Step::Update(_)
        ));
    }
}
