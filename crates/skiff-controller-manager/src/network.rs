//! The Endpoints and EndpointSlice controllers: for each Service with a selector, keep its
//! Endpoints object and its EndpointSlices in step with the ready and not-ready pods it selects.
//! Planning is in skiff-controllers (`endpoints`, `endpointslice`); this is their I/O.

use crate::informers::{Caches, Informers};
use crate::runtime::{run_workers, Change, Expectations, ObjectKey, Queue};
use crate::workloads::write::{self, Written};
use k8s_openapi::api::core::v1::{Endpoints, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, PostParams};
use skiff_controllers::cached_pod::CachedPod;
use skiff_controllers::ownership::Selector;
use skiff_controllers::{endpoints, endpointslice};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

struct Ctx {
    client: kube::Client,
    caches: Caches,
    /// Slices created with generateName: wait until the cache has them.
    slice_expectations: Expectations<ObjectKey>,
}

/// Both controllers, hooked to the shared informers.
pub struct Controllers {
    ctx: Arc<Ctx>,
    endpoints: Arc<Queue<ObjectKey>>,
    slices: Arc<Queue<ObjectKey>>,
}

fn selects(svc: &Service, pod: &CachedPod) -> bool {
    svc.spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .is_some_and(|m| {
            !m.is_empty() && Selector::from_map(m).matches(pod.metadata.labels.as_ref())
        })
}

impl Controllers {
    /// Registers the event handlers; call before the informers run.
    pub fn new(client: kube::Client, inf: &Informers) -> Self {
        let (eq, sq) = (Queue::new(), Queue::new());
        let both = {
            let (eq, sq) = (eq.clone(), sq.clone());
            move |k: ObjectKey| {
                eq.add(k.clone());
                sq.add(k);
            }
        };
        let add = both.clone();
        inf.services
            .on_change(move |c| add(ObjectKey::of(c.object())));
        // A pod wakes every Service of its namespace that selects it, before or after.
        let (add, services) = (both.clone(), inf.services.cache());
        inf.pods.on_change(move |c| {
            let ns = c.object().metadata.namespace.clone().unwrap_or_default();
            for svc in services.list_namespace(&ns) {
                if selects(&svc, c.object()) || c.old().is_some_and(|o| selects(&svc, o)) {
                    add(ObjectKey::of(svc.as_ref()));
                }
            }
        });
        // Someone deleted an Endpoints we manage: put it back (upstream reacts to deletes only).
        let q = eq.clone();
        inf.endpoints.on_change(move |c| {
            if matches!(c, Change::Deleted(_)) {
                q.add(ObjectKey::of(c.object()));
            }
        });
        let q = sq.clone();
        inf.endpoint_slices.on_change(move |c| {
            let m = &c.object().metadata;
            let labels = m.labels.clone().unwrap_or_default();
            if labels
                .get(endpointslice::MANAGED_BY_LABEL)
                .map(String::as_str)
                != Some(endpointslice::CONTROLLER_NAME)
            {
                return;
            }
            if let Some(svc) = labels.get(endpointslice::SERVICE_NAME_LABEL) {
                q.add(ObjectKey::new(
                    m.namespace.clone().unwrap_or_default(),
                    svc.clone(),
                ));
            }
        });
        let ctx = Arc::new(Ctx {
            client,
            caches: inf.caches(),
            slice_expectations: Expectations::default(),
        });
        Self {
            ctx,
            endpoints: eq,
            slices: sq,
        }
    }

    /// Runs the workers until `stop` turns true (the informers must be running). Endpoints
    /// left from Services deleted while no controller ran are found first (upstream's
    /// checkLeftoverEndpoints).
    pub async fn run(self, stop: watch::Receiver<bool>) {
        for ep in self.ctx.caches.endpoints.list() {
            self.endpoints.add(ObjectKey::of(ep.as_ref()));
        }
        let (c1, c2) = (self.ctx.clone(), self.ctx.clone());
        tokio::join!(
            run_workers("endpoints", self.endpoints, 5, stop.clone(), move |k| {
                let c = c1.clone();
                async move { sync_endpoints(&c, k).await }
            }),
            run_workers("endpointslice", self.slices, 5, stop, move |k| {
                let c = c2.clone();
                async move { sync_slices(&c, k).await }
            }),
        );
    }
}

fn pods_of(ctx: &Ctx, key: &ObjectKey, svc: Option<&Service>) -> Vec<Arc<CachedPod>> {
    match svc {
        Some(svc) => ctx
            .caches
            .pods
            .list_namespace(&key.namespace)
            .into_iter()
            .filter(|p| selects(svc, p))
            .collect(),
        None => Vec::new(),
    }
}

async fn sync_endpoints(ctx: &Ctx, key: ObjectKey) -> Result<Option<Duration>, kube::Error> {
    let svc = ctx.caches.services.get(&key);
    let pods = pods_of(ctx, &key, svc.as_deref());
    let current = ctx.caches.endpoints.get(&key);
    let obs = endpoints::Observed {
        service: svc.as_deref(),
        pods: pods.iter().map(|p| p.as_ref()).collect(),
        endpoints: current.as_deref(),
        now: k8s_openapi::jiff::Timestamp::now(),
    };
    let api: Api<Endpoints> = Api::namespaced(ctx.client.clone(), &key.namespace);
    for step in endpoints::plan(&obs) {
        match step {
            endpoints::Step::Create(ep) => match api
                .create(&write::post(endpoints::CONTROLLER_NAME), &ep)
                .await
            {
                Ok(_) => {}
                // The cache lags: the next event brings the existing one.
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    return Ok(Some(Duration::from_millis(200)))
                }
                Err(e) => return Err(e),
            },
            endpoints::Step::Update(ep) => {
                let name = ep.metadata.name.clone().unwrap_or_default();
                api.replace(&name, &PostParams::default(), &ep).await?;
            }
            endpoints::Step::Delete(name) => {
                write::delete_all(
                    &api,
                    &[name],
                    &DeleteParams::default(),
                    &mut Written::default(),
                )
                .await?
            }
        }
    }
    Ok(None)
}

async fn sync_slices(ctx: &Ctx, key: ObjectKey) -> Result<Option<Duration>, kube::Error> {
    let cache = &ctx.caches.endpoint_slices;
    if !ctx
        .slice_expectations
        .satisfied(&key, cache.revision(), Instant::now())
    {
        return Ok(Some(Duration::from_secs(1)));
    }
    let svc = ctx.caches.services.get(&key);
    let pods = pods_of(ctx, &key, svc.as_deref());
    let slices: Vec<Arc<EndpointSlice>> = cache
        .list_namespace(&key.namespace)
        .into_iter()
        .filter(|s| {
            s.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(endpointslice::SERVICE_NAME_LABEL))
                == Some(&key.name)
        })
        .collect();
    let nodes = ctx.caches.nodes.list();
    let obs = endpointslice::Observed {
        service: svc.as_deref(),
        pods: pods.iter().map(|p| p.as_ref()).collect(),
        slices: slices.iter().map(|s| s.as_ref()).collect(),
        nodes: Some(nodes.iter().map(|n| n.as_ref()).collect()),
        now: k8s_openapi::jiff::Timestamp::now(),
    };
    let api: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), &key.namespace);
    let mut w = Written::default();
    let mut result = Ok(None);
    for step in endpointslice::plan(&obs) {
        let r = match step {
            endpointslice::Step::CreateSlice(s) => api
                .create(&write::post(endpointslice::CONTROLLER_NAME), &s)
                .await
                .map(|o| w.note(&o)),
            endpointslice::Step::UpdateSlice(s) => {
                let name = s.metadata.name.clone().unwrap_or_default();
                api.replace(&name, &PostParams::default(), &s)
                    .await
                    .map(|o| w.note(&o))
            }
            endpointslice::Step::DeleteSlice(name) => {
                write::delete_all(&api, &[name], &DeleteParams::default(), &mut w).await
            }
        };
        if let Err(e) = r {
            result = Err(e);
            break;
        }
    }
    if w.children > 0 {
        ctx.slice_expectations
            .expect(&key, w.children, Instant::now());
    }
    result
}
