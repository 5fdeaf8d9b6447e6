//! The node lifecycle controller: watches node heartbeats (Leases and Ready conditions),
//! marks silent nodes Unknown, taints them, and evicts pods that do not tolerate the
//! NoExecute taints (after their tolerationSeconds). The decisions are
//! `skiff_controllers::nodelifecycle::plan`; this loop feeds it and carries out its steps.

use crate::informers::{Caches, Informers};
use crate::runtime::ObjectKey;
use crate::workloads::write::{self, Involved};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, Patch, Preconditions};
use serde_json::json;
use skiff_controllers::cached_pod::CachedPod;
use skiff_controllers::nodelifecycle::{self, taint_eviction, Observed, Options, State, Step};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// How often nodes are checked even without events (upstream's --node-monitor-period).
const MONITOR_PERIOD: Duration = Duration::from_secs(5);
/// Node and Lease changes trigger a check, but at most this often: thousands of nodes renew
/// their Leases every few seconds, and a check reads every node and pod.
const MIN_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The controller, hooked to the shared informers.
pub struct Controller {
    client: kube::Client,
    caches: Caches,
    options: Options,
    wake: Arc<Notify>,
}

impl Controller {
    /// Registers its handlers: any node or Lease change triggers a check.
    pub fn new(client: kube::Client, inf: &Informers, options: Options) -> Self {
        let wake = Arc::new(Notify::new());
        let w = wake.clone();
        inf.nodes.on_change(move |_| w.notify_one());
        let w = wake.clone();
        inf.node_leases.on_change(move |_| w.notify_one());
        Self {
            client,
            caches: inf.caches(),
            options,
            wake,
        }
    }

    /// Checks nodes until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut state = State::default();
        let mut next = MONITOR_PERIOD;
        let mut last_check = std::time::Instant::now() - MIN_CHECK_INTERVAL;
        loop {
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(next) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            let since = last_check.elapsed();
            if since < MIN_CHECK_INTERVAL {
                tokio::select! {
                    _ = tokio::time::sleep(MIN_CHECK_INTERVAL - since) => {}
                    _ = stop.changed() => return,
                }
            }
            last_check = std::time::Instant::now();
            let nodes = self.caches.nodes.list();
            let leases = self.caches.node_leases.list();
            let pods: Vec<Arc<CachedPod>> = self
                .caches
                .pods
                .list()
                .into_iter()
                .filter(|p| {
                    p.spec
                        .as_ref()
                        .and_then(|s| s.node_name.as_ref())
                        .is_some_and(|n| !n.is_empty())
                })
                .collect();
            let outcome = nodelifecycle::plan(&Observed {
                nodes: nodes.iter().map(|n| n.as_ref()).collect(),
                leases: leases.iter().map(|l| l.as_ref()).collect(),
                pods: pods.iter().map(|p| p.as_ref()).collect(),
                state,
                options: self.options,
                now: k8s_openapi::jiff::Timestamp::now(),
            });
            state = outcome.state;
            next = MONITOR_PERIOD;
            for step in outcome.steps {
                if let Step::RequeueAfter(d) = step {
                    next = next.min(d.max(Duration::from_millis(100)));
                } else if let Err(e) = self.carry_out(step).await {
                    tracing::debug!(error = %e, "node lifecycle: step failed; checking again soon");
                    next = Duration::from_secs(1);
                }
            }
        }
    }

    async fn carry_out(&self, step: Step) -> Result<(), kube::Error> {
        const NAME: &str = nodelifecycle::CONTROLLER_NAME;
        let nodes: Api<Node> = Api::all(self.client.clone());
        let now = k8s_openapi::jiff::Timestamp::now();
        match step {
            Step::NodeEvent { node, uid, event } => {
                let involved = Involved {
                    api_version: "v1",
                    kind: "Node",
                    namespace: None,
                    name: &node,
                    uid: Some(&uid),
                };
                write::record_on(&self.client, &involved, NAME, &event).await;
            }
            Step::UpdateNodeStatus { node, conditions } => {
                let patch = json!({"status": {"conditions": conditions}});
                nodes
                    .patch_status(&node, &write::pp(NAME), &Patch::Merge(&patch))
                    .await?;
            }
            Step::SetTaints { node, taints } => {
                let patch = json!({"spec": {"taints": taints}});
                nodes
                    .patch(&node, &write::pp(NAME), &Patch::Merge(&patch))
                    .await?;
            }
            Step::MarkPodsNotReady { pods, .. } => {
                for p in pods {
                    let Some(pod) = self.caches.pods.get(&ObjectKey::new(&p.namespace, &p.name))
                    else {
                        continue;
                    };
                    let Some(ready) = nodelifecycle::not_ready_condition(&pod, now) else {
                        continue;
                    };
                    let api: Api<Pod> = Api::namespaced(self.client.clone(), &p.namespace);
                    // Only the Ready condition, merged by type (strategic merge): the cache
                    // holds only the fields controllers read, and the pod's others stay.
                    let patch = json!({"status": {"conditions": [ready]}});
                    match api
                        .patch_status(&p.name, &write::pp(NAME), &Patch::Strategic(&patch))
                        .await
                    {
                        Ok(_) => {}
                        Err(e) if write::benign(&e) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Step::PodEvent { pod, event } => {
                let involved = Involved {
                    api_version: "v1",
                    kind: "Pod",
                    namespace: Some(&pod.namespace),
                    name: &pod.name,
                    uid: Some(&pod.uid),
                };
                write::record_on(&self.client, &involved, NAME, &event).await;
            }
            Step::DeletePod {
                namespace,
                name,
                uid,
            } => {
                let api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
                // Upstream first records why (the DisruptionTarget condition), then deletes.
                if self
                    .caches
                    .pods
                    .get(&ObjectKey::new(&namespace, &name))
                    .is_some()
                {
                    // A strategic merge: conditions merge by type, so the pod's others stay
                    // (the cache holds only the ones controllers read).
                    let cond = taint_eviction::disruption_target_condition(now);
                    let patch = json!({"status": {"conditions": [cond]}});
                    let _ = api
                        .patch_status(&name, &write::pp(NAME), &Patch::Strategic(&patch))
                        .await;
                }
                let params = DeleteParams {
                    preconditions: Some(Preconditions {
                        uid: Some(uid),
                        resource_version: None,
                    }),
                    ..Default::default()
                };
                match api.delete(&name, &params).await {
                    Ok(_) => {}
                    Err(e) if write::benign(&e) => {}
                    Err(e) => return Err(e),
                }
            }
            Step::RequeueAfter(_) => {}
        }
        Ok(())
    }
}
