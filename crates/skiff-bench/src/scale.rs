//! The scheduling-at-scale benchmark of issue 3: a real `skiff server` with `skiff sim`
//! nodes; Deployments of 100 replicas each until `--pods` pods exist; a watch observes when
//! each pod is bound and Running. Reports end-to-end pods/s, the scheduler's binding rate, API
//! p99 latency during the run (a probe GETs every 100 ms), and peak RSS of the control plane
//! and of the simulator. The scheduler's throughput alone is measured after it, on a fresh
//! server ([`crate::scale_scheduler`]).

use crate::apiserver::{client, start, SkiffChild};
use crate::measure::{cpu_time, ms, peak_rss_mib, percentile};
use crate::Args;
use anyhow::{bail, Result};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::watcher::{self, Event};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const NS: &str = "bench";
const REPLICAS: usize = 100;

#[derive(Default)]
struct Seen {
    bound: HashMap<String, Instant>,
    running: HashMap<String, Instant>,
}

/// The pod template of workload `i` (label `app: scale-<i>`), shared with the
/// scheduler-alone phase.
pub(crate) fn pod_template(i: usize) -> serde_json::Value {
    json!({
        "metadata": {"labels": {"app": format!("scale-{i:04}")}},
        "spec": {"containers": [{"name": "c", "image": "scale:1"}]},
    })
}

fn deployment(i: usize) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": format!("scale-{i:04}"), "namespace": NS},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": {"app": format!("scale-{i:04}")}},
            "template": pod_template(i),
        },
    }))
    .expect("valid deployment")
}

/// Runs the benchmark with `args.nodes` simulated nodes and `args.pods` pods.
pub async fn run(args: &Args) -> Result<String> {
    let (nodes, pods) = (args.nodes, args.pods.div_ceil(REPLICAS) * REPLICAS);
    let (server, _) = start(args, &[]).await?;
    let c = client(&server.kubeconfig).await?;
    eprintln!("skiff-bench: starting {nodes} simulated nodes");
    let sim = SkiffChild::spawn(
        args,
        &["sim", "--nodes", &nodes.to_string()],
        &server.kubeconfig,
    )?;
    let node_api: Api<Node> = Api::all(c.clone());
    let registered = Instant::now();
    loop {
        let n = node_api
            .list_metadata(&ListParams::default().labels("type=skiff-sim"))
            .await?
            .items
            .len();
        if n >= nodes {
            break;
        }
        if registered.elapsed() > Duration::from_secs(600) {
            bail!("only {n}/{nodes} simulated nodes after 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let registration = registered.elapsed();
    eprintln!("skiff-bench: {nodes} nodes registered in {registration:?}");
    // Let the scheduler see every node before the pods come.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": NS}}))?;
    Api::<Namespace>::all(c.clone())
        .create(&PostParams::default(), &ns)
        .await?;

    // Watch the pods.
    let seen = Arc::new(Mutex::new(Seen::default()));
    let watch = {
        let (seen, api) = (seen.clone(), Api::<Pod>::namespaced(c.clone(), NS));
        tokio::spawn(async move {
            let stream = watcher::watcher(api, watcher::Config::default());
            futures::pin_mut!(stream);
            while let Some(e) = stream.next().await {
                let (Ok(Event::Apply(p)) | Ok(Event::InitApply(p))) = e else {
                    continue;
                };
                let now = Instant::now();
                let name = p.metadata.name.clone().unwrap_or_default();
                let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
                if p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some() {
                    s.bound.entry(name.clone()).or_insert(now);
                }
                if p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running") {
                    s.running.entry(name).or_insert(now);
                }
            }
        })
    };
    // Probe API latency during the run.
    let probe_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let probe = {
        let (c, stop) = (c.clone(), probe_stop.clone());
        tokio::spawn(async move {
            let api: Api<Namespace> = Api::all(c);
            let mut lat = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let t = Instant::now();
                if api.get("default").await.is_ok() {
                    lat.push(t.elapsed());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            lat
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (cp_cpu0, sim_cpu0) = (cpu_time(server.child.id()), cpu_time(sim.0.id()));
    let started = Instant::now();
    let deploy_api: Api<Deployment> = Api::namespaced(c.clone(), NS);
    let count = pods / REPLICAS;
    futures::stream::iter(0..count)
        .map(|i| {
            let api = deploy_api.clone();
            async move { api.create(&PostParams::default(), &deployment(i)).await }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    eprintln!(
        "skiff-bench: {count} Deployments created in {:?}",
        started.elapsed()
    );
    let mut last_report = Instant::now();
    loop {
        let (b, r) = {
            let s = seen.lock().unwrap_or_else(|e| e.into_inner());
            (s.bound.len(), s.running.len())
        };
        if r >= pods {
            break;
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "skiff-bench: {b}/{pods} bound, {r}/{pods} Running after {:?}",
                started.elapsed()
            );
            last_report = Instant::now();
        }
        if started.elapsed() > Duration::from_secs(3600) {
            bail!("only {r}/{pods} pods Running after an hour");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    probe_stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut lat = probe.await?;
    watch.abort();
    lat.sort();
    let (bound_first, bound_last, running_last) = {
        let s = seen.lock().unwrap_or_else(|e| e.into_inner());
        (
            s.bound.values().min().copied().unwrap_or(started),
            s.bound.values().max().copied().unwrap_or(started),
            s.running.values().max().copied().unwrap_or(started),
        )
    };
    let total = running_last.duration_since(started);
    let binding = bound_last.duration_since(bound_first);
    let cp_cpu = cpu_time(server.child.id()).saturating_sub(cp_cpu0);
    let sim_cpu = cpu_time(sim.0.id()).saturating_sub(sim_cpu0);
    let cp_rss = peak_rss_mib(server.child.id());
    let sim_rss = peak_rss_mib(sim.0.id());
    let e2e = pods as f64 / total.as_secs_f64();
    let bind_rate = pods as f64 / binding.as_secs_f64().max(0.001);
    Ok(format!(
        "#### {pods} pods on {nodes} simulated nodes\n\n\
         | measure | value |\n|---|---|\n\
         | nodes registered by `skiff sim` | {registration:.1?} |\n\
         | {count} Deployments × {REPLICAS} replicas: created → all {pods} pods Running (watch) | {:.1} s |\n\
         | end to end | **{e2e:.0} pods/s** |\n\
         | scheduler: first → last binding | {:.1} s = **{bind_rate:.0} pods/s** |\n\
         | API latency during the run (GET namespace every 100 ms, {} samples) | p50 {}, p99 **{}** |\n\
         | control plane peak RSS (API server + scheduler + controllers, one process) | **{cp_rss:.0} MiB** |\n\
         | simulator peak RSS | {sim_rss:.0} MiB |\n\
         | CPU during the run: control plane / simulator (of 2 cores × {:.1} s) | {:.1} s / {:.1} s |\n",
        total.as_secs_f64(),
        binding.as_secs_f64(),
        lat.len(),
        ms(percentile(&lat, 50.0)),
        ms(percentile(&lat, 99.0)),
        total.as_secs_f64(),
        cp_cpu.as_secs_f64(),
        sim_cpu.as_secs_f64(),
    ))
}
