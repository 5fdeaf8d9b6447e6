//! The disruption controller: keeps each PodDisruptionBudget's status (healthy pods, desired,
//! expected, disruptions allowed) current; the eviction subresource reads it. Decisions are
//! `skiff_controllers::disruption::plan`.

use crate::informers::{Caches, Informers};
use crate::runtime::{run_workers, ObjectKey, Queue};
use crate::workloads::write::{self, Involved};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::Api;
use skiff_controllers::cached_pod::CachedPod;
use skiff_controllers::disruption::{self, ControllerScale, Observed, Step};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The controller, hooked to the shared informers.
pub struct Controller {
    client: kube::Client,
    caches: Caches,
    queue: Arc<Queue<ObjectKey>>,
}

impl Controller {
    /// Registers its handlers: a budget, or a pod a budget selects (before or after), queues
    /// the budget.
    pub fn new(client: kube::Client, inf: &Informers) -> Self {
        let queue = Queue::new();
        let q = queue.clone();
        inf.pdbs
            .on_change(move |c| q.add(ObjectKey::of(c.object())));
        let (q, pdbs) = (queue.clone(), inf.pdbs.cache());
        inf.pods.on_change(move |c| {
            let ns = c.object().metadata.namespace.clone().unwrap_or_default();
            for pdb in pdbs.list_namespace(&ns) {
                if disruption::selects(&pdb, c.object())
                    || c.old().is_some_and(|o| disruption::selects(&pdb, o))
                {
                    q.add(ObjectKey::of(pdb.as_ref()));
                }
            }
        });
        Self {
            client,
            caches: inf.caches(),
            queue,
        }
    }

    /// Runs the workers until `stop` turns true.
    pub async fn run(self, stop: watch::Receiver<bool>) {
        let me = Arc::new((self.client, self.caches));
        run_workers("disruption", self.queue, 2, stop, move |k| {
            let me = me.clone();
            async move { sync(&me.0, &me.1, k).await }
        })
        .await
    }
}

/// The scale of the controller a pod's controller reference leads to (a ReplicaSet's
/// Deployment counts for the ReplicaSet), keyed by the reference's uid.
fn scales(caches: &Caches, pods: &[Arc<CachedPod>]) -> BTreeMap<String, ControllerScale> {
    let mut out = BTreeMap::new();
    for pod in pods {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let Some(r) = pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|r| r.controller == Some(true))
        else {
            continue;
        };
        if out.contains_key(&r.uid) {
            continue;
        }
        let key = ObjectKey::new(&ns, &r.name);
        let scale = match (r.api_version.as_str(), r.kind.as_str()) {
            ("apps/v1", "ReplicaSet") => caches.replica_sets.get(&key).and_then(|rs| {
                let owner = rs
                    .metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .find(|o| o.controller == Some(true) && o.kind == "Deployment");
                match owner {
                    Some(o) => caches
                        .deployments
                        .get(&ObjectKey::new(&ns, &o.name))
                        .filter(|d| d.metadata.uid.as_deref() == Some(&o.uid))
                        .map(|d| {
                            (
                                o.uid.clone(),
                                d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
                            )
                        }),
                    None => Some((
                        r.uid.clone(),
                        rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
                    )),
                }
            }),
            ("v1", "ReplicationController") => caches.replication_controllers.get(&key).map(|rc| {
                (
                    r.uid.clone(),
                    rc.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
                )
            }),
            ("apps/v1", "StatefulSet") => caches.stateful_sets.get(&key).map(|s| {
                (
                    r.uid.clone(),
                    s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
                )
            }),
            _ => None,
        };
        if let Some((uid, replicas)) = scale {
            out.insert(r.uid.clone(), ControllerScale { uid, replicas });
        }
    }
    out
}

async fn sync(
    client: &kube::Client,
    caches: &Caches,
    key: ObjectKey,
) -> Result<Option<Duration>, String> {
    const NAME: &str = disruption::CONTROLLER_NAME;
    let Some(pdb) = caches.pdbs.get(&key) else {
        return Ok(None);
    };
    let pods = caches.pods.list_namespace(&key.namespace);
    let controllers = scales(caches, &pods);
    let steps = disruption::plan(&Observed {
        pdb: &pdb,
        pods: pods.iter().map(|p| p.as_ref()).collect(),
        controllers,
        now: k8s_openapi::jiff::Timestamp::now(),
    });
    let api: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), &key.namespace);
    let mut result = Ok(None);
    for step in steps {
        match step {
            Step::Event(e) => write::record(client, pdb.as_ref(), NAME, &e).await,
            Step::PodEvent { pod, event } => {
                let uid = caches
                    .pods
                    .get(&ObjectKey::new(&key.namespace, &pod))
                    .and_then(|p| p.metadata.uid.clone());
                let involved = Involved {
                    api_version: "v1",
                    kind: "Pod",
                    namespace: Some(&key.namespace),
                    name: &pod,
                    uid: uid.as_deref(),
                };
                write::record_on(client, &involved, NAME, &event).await;
            }
            Step::Status(status) => {
                let rv = pdb.metadata.resource_version.as_deref();
                write::patch_status_at(&api, &key.name, rv, pdb.status.as_ref(), &*status, NAME)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Step::Failed(e) => result = Err(e),
            Step::RequeueAfter(d) => {
                if result.is_ok() {
                    result = Ok(Some(d));
                }
            }
        }
    }
    result
}
