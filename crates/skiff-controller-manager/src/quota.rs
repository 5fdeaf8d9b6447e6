//! The ResourceQuota controller: computes each quota's `status.used` (and `status.hard`) from
//! the objects of its namespace. Pods, Services and claims come from the shared caches;
//! other counts are listed (metadata only) when a quota names them. Decisions are
//! `skiff_controllers::resourcequota::plan`.

use crate::informers::{Caches, Informers};
use crate::runtime::{run_workers, ObjectKey, Queue};
use crate::workloads::write;
use k8s_openapi::api::core::v1::{ConfigMap, ResourceQuota, Secret};
use kube::api::{Api, DynamicObject, ListParams};
use kube::discovery::Scope;
use skiff_controllers::resourcequota::{self, Observed, Step};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Every quota is recomputed at least this often, so kinds without a watch (ConfigMaps,
/// Secrets, `count/…`) catch up (upstream: --resource-quota-sync-period, 5m).
const RESYNC: Duration = Duration::from_secs(30);

/// The controller, hooked to the shared informers.
pub struct Controller {
    client: kube::Client,
    caches: Caches,
    queue: Arc<Queue<ObjectKey>>,
}

impl Controller {
    /// Registers its handlers: a quota, or a pod, Service or claim of its namespace, queues it.
    pub fn new(client: kube::Client, inf: &Informers) -> Self {
        let queue = Queue::new();
        let q = queue.clone();
        inf.quotas.on_change(move |c| {
            let changed = match c.old() {
                Some(old) => old.spec != c.object().spec,
                None => true,
            };
            if changed {
                q.add(ObjectKey::of(c.object()))
            }
        });
        let quotas = inf.quotas.cache();
        let by_namespace = move |q: &Arc<Queue<ObjectKey>>, ns: Option<&String>| {
            for quota in quotas.list_namespace(ns.map(String::as_str).unwrap_or("")) {
                q.add(ObjectKey::of(quota.as_ref()));
            }
        };
        let (q, f) = (queue.clone(), by_namespace.clone());
        inf.pods
            .on_change(move |c| f(&q, c.object().metadata.namespace.as_ref()));
        let (q, f) = (queue.clone(), by_namespace.clone());
        inf.services
            .on_change(move |c| f(&q, c.object().metadata.namespace.as_ref()));
        let (q, f) = (queue.clone(), by_namespace);
        inf.claims
            .on_change(move |c| f(&q, c.object().metadata.namespace.as_ref()));
        Self {
            client,
            caches: inf.caches(),
            queue,
        }
    }

    /// Runs the workers until `stop` turns true.
    pub async fn run(self, stop: watch::Receiver<bool>) {
        let me = Arc::new((self.client, self.caches));
        run_workers("resourcequota", self.queue, 2, stop, move |k| {
            let me = me.clone();
            async move { sync(&me.0, &me.1, k).await }
        })
        .await
    }
}

async fn count<K>(client: &kube::Client, ns: &str) -> Result<usize, kube::Error>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    Ok(api.list_metadata(&ListParams::default()).await?.items.len())
}

/// Counts the objects of `count/<resource>[.<group>]` in `ns` (None if the kind is unknown).
async fn count_named(client: &kube::Client, ns: &str, name: &str) -> Option<i64> {
    let spec = name.strip_prefix("count/")?;
    let (plural, group) = spec.split_once('.').unwrap_or((spec, ""));
    let discovered = kube::discovery::group(client, group).await.ok()?;
    let (ar, caps) = discovered
        .recommended_resources()
        .into_iter()
        .find(|(ar, _)| ar.plural == plural)?;
    if caps.scope != Scope::Namespaced {
        return None;
    }
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
    let list = api.list_metadata(&ListParams::default()).await.ok()?;
    i64::try_from(list.items.len()).ok()
}

/// `count/…` names the typed fields of the planner already cover.
fn covered(name: &str) -> bool {
    matches!(
        name,
        "count/pods"
            | "count/services"
            | "count/configmaps"
            | "count/secrets"
            | "count/persistentvolumeclaims"
            | "count/replicationcontrollers"
            | "count/resourcequotas"
    )
}

async fn sync(
    client: &kube::Client,
    caches: &Caches,
    key: ObjectKey,
) -> Result<Option<Duration>, kube::Error> {
    let Some(quota) = caches.quotas.get(&key) else {
        return Ok(None);
    };
    let ns = key.namespace.as_str();
    let hard: Vec<String> = quota
        .spec
        .as_ref()
        .and_then(|s| s.hard.as_ref())
        .map(|h| h.keys().cloned().collect())
        .unwrap_or_default();
    let names = |n: &[&str]| hard.iter().any(|h| n.contains(&h.as_str()));
    let config_maps = if names(&["configmaps", "count/configmaps"]) {
        count::<ConfigMap>(client, ns).await?
    } else {
        0
    };
    let secrets = if names(&["secrets", "count/secrets"]) {
        count::<Secret>(client, ns).await?
    } else {
        0
    };
    let replication_controllers = caches.replication_controllers.list_namespace(ns).len();
    let resource_quotas = caches.quotas.list_namespace(ns).len();
    let mut object_counts = BTreeMap::new();
    for h in hard
        .iter()
        .filter(|h| h.starts_with("count/") && !covered(h))
    {
        if let Some(n) = count_named(client, ns, h).await {
            object_counts.insert(h.clone(), n);
        }
    }
    let pods = caches.pods.list_namespace(ns);
    let services = caches.services.list_namespace(ns);
    let claims = caches.claims.list_namespace(ns);
    let steps = resourcequota::plan(&Observed {
        quota: &quota,
        pods: pods.iter().map(|p| p.as_ref()).collect(),
        services: services.iter().map(|s| s.as_ref()).collect(),
        persistent_volume_claims: claims.iter().map(|c| c.as_ref()).collect(),
        config_maps,
        secrets,
        replication_controllers,
        resource_quotas,
        object_counts,
        now: k8s_openapi::jiff::Timestamp::now(),
    });
    let api: Api<ResourceQuota> = Api::namespaced(client.clone(), ns);
    let mut again = RESYNC;
    for step in steps {
        match step {
            Step::Status(status) => {
                write::patch_status(
                    &api,
                    &key.name,
                    &mut quota.status.clone(),
                    &*status,
                    resourcequota::CONTROLLER_NAME,
                )
                .await?;
            }
            Step::RequeueAfter(d) => again = again.min(d),
        }
    }
    Ok(Some(again))
}
