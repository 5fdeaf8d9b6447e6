//! The scheduler alone (issue 3's "scheduler throughput alone"), set up like upstream's
//! scheduler_perf: a `skiff server` without its scheduler and controller manager, Node objects
//! written directly (Ready, no kubelet or simulator behind them, so nothing but bindings
//! writes), and pending pods owned by ReplicaSets of 100 (so the default topology spreading
//! scores them as in the end-to-end run). Then `skiff scheduler` starts as a process of its
//! own and a watch times the bindings.

use crate::apiserver::{client, start, SkiffChild};
use crate::measure::{cpu_time, peak_rss_mib};
use crate::scale::pod_template;
use crate::Args;
use anyhow::{bail, Result};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, Event};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const NS: &str = "bench";
const REPLICAS: usize = 100;

fn node(i: usize) -> Node {
    let name = format!("sched-{i:05}");
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
        }},
    }))
    .expect("valid node")
}

fn node_status() -> serde_json::Value {
    let resources = json!({"cpu": "32", "memory": "256Gi", "pods": "110"});
    json!({"status": {
        "capacity": resources,
        "allocatable": resources,
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "message": "ready", "lastHeartbeatTime": "2026-01-01T00:00:00Z",
                        "lastTransitionTime": "2026-01-01T00:00:00Z"}],
    }})
}

fn replica_set(i: usize) -> ReplicaSet {
    serde_json::from_value(json!({
        "metadata": {"name": format!("scale-{i:04}"), "namespace": NS},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": {"app": format!("scale-{i:04}")}},
            "template": pod_template(i),
        },
    }))
    .expect("valid replicaset")
}

fn pod(i: usize, j: usize, owner_uid: &str) -> Pod {
    let mut p = pod_template(i);
    p["metadata"]["name"] = json!(format!("scale-{i:04}-{j:03}"));
    p["metadata"]["namespace"] = json!(NS);
    p["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("scale-{i:04}"),
        "uid": owner_uid, "controller": true, "blockOwnerDeletion": true,
    }]);
    serde_json::from_value(p).expect("valid pod")
}

/// Runs `futures` `width` at a time; the first error wins.
async fn all<F, T>(futures: impl Iterator<Item = F>, width: usize) -> Result<Vec<T>>
where
    F: std::future::Future<Output = Result<T, kube::Error>>,
{
    let out: Vec<Result<T, kube::Error>> = futures::stream::iter(futures)
        .buffer_unordered(width)
        .collect()
        .await;
    Ok(out.into_iter().collect::<Result<Vec<T>, _>>()?)
}

/// The rows of the scheduler-alone measure for `args.nodes` nodes and `args.pods` pods.
pub async fn run(args: &Args) -> Result<String> {
    let (nodes, pods) = (args.nodes, args.pods.div_ceil(REPLICAS) * REPLICAS);
    let quiet = ["--disable-scheduler", "--disable-controller-manager"];
    let (server, _) = start(args, &quiet).await?;
    let c = client(&server.kubeconfig).await?;
    eprintln!("skiff-bench: scheduler alone: writing {nodes} Node objects");
    let node_api: Api<Node> = Api::all(c.clone());
    all(
        (0..nodes).map(|i| {
            let api = node_api.clone();
            async move {
                let n = api.create(&PostParams::default(), &node(i)).await?;
                let name = n.metadata.name.unwrap_or_default();
                api.patch_status(&name, &PatchParams::default(), &Patch::Merge(node_status()))
                    .await
            }
        }),
        16,
    )
    .await?;
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": NS}}))?;
    Api::<Namespace>::all(c.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    let count = pods / REPLICAS;
    let rs_api: Api<ReplicaSet> = Api::namespaced(c.clone(), NS);
    let owners = all(
        (0..count).map(|i| {
            let api = rs_api.clone();
            async move { api.create(&PostParams::default(), &replica_set(i)).await }
        }),
        8,
    )
    .await?;
    eprintln!("skiff-bench: scheduler alone: creating {pods} pending pods");
    let pod_api: Api<Pod> = Api::namespaced(c.clone(), NS);
    let uids: Vec<(usize, String)> = owners
        .iter()
        .map(|rs| {
            let name = rs.metadata.name.clone().unwrap_or_default();
            let i = name.trim_start_matches("scale-").parse().unwrap_or(0);
            (i, rs.metadata.uid.clone().unwrap_or_default())
        })
        .collect();
    all(
        uids.iter().flat_map(|(i, uid)| {
            let api = pod_api.clone();
            (0..REPLICAS).map(move |j| {
                let (api, p) = (api.clone(), pod(*i, j, uid));
                async move { api.create(&PostParams::default(), &p).await }
            })
        }),
        32,
    )
    .await?;

    // Watch the bindings, then let the scheduler loose.
    let bound: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let synced = Arc::new(tokio::sync::Notify::new());
    let watch = {
        let (bound, synced, api) = (bound.clone(), synced.clone(), pod_api.clone());
        tokio::spawn(async move {
            let mut seen = std::collections::HashSet::new();
            let stream = watcher::watcher(api, watcher::Config::default());
            futures::pin_mut!(stream);
            while let Some(e) = stream.next().await {
                let p = match e {
                    Ok(Event::InitDone) => {
                        synced.notify_one();
                        continue;
                    }
                    Ok(Event::Apply(p) | Event::InitApply(p)) => p,
                    _ => continue,
                };
                if p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some()
                    && seen.insert(p.metadata.name.unwrap_or_default())
                {
                    bound
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(Instant::now());
                }
            }
        })
    };
    synced.notified().await;
    let (api_cpu0, started) = (cpu_time(server.child.id()), Instant::now());
    let sched = SkiffChild::spawn(args, &["scheduler"], &server.kubeconfig)?;
    let mut last_report = Instant::now();
    loop {
        let n = bound.lock().unwrap_or_else(|e| e.into_inner()).len();
        if n >= pods {
            break;
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "skiff-bench: scheduler alone: {n}/{pods} bound after {:?}",
                started.elapsed()
            );
            last_report = Instant::now();
        }
        if started.elapsed() > Duration::from_secs(1800) {
            bail!("the scheduler alone bound only {n}/{pods} pods in 30 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sched_cpu = cpu_time(sched.0.id());
    let api_cpu = cpu_time(server.child.id()).saturating_sub(api_cpu0);
    let sched_rss = peak_rss_mib(sched.0.id());
    watch.abort();
    let times = bound.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let (first, last) = (
        times.iter().min().copied().unwrap_or(started),
        times.iter().max().copied().unwrap_or(started),
    );
    let binding = last.duration_since(first).as_secs_f64().max(0.001);
    Ok(format!(
        "| scheduler alone (`skiff scheduler` as its own process; {pods} pending pods of {count} ReplicaSets, {nodes} Node objects without kubelets): first → last binding | {binding:.1} s = **{:.0} pods/s** |\n\
         | … scheduler start → all bound (start-up, list and cache fill included) | {:.1} s |\n\
         | … CPU meanwhile: scheduler / API server | {:.1} s / {:.1} s |\n\
         | … scheduler peak RSS | {sched_rss:.0} MiB |\n",
        pods as f64 / binding,
        last.duration_since(started).as_secs_f64(),
        sched_cpu.as_secs_f64(),
        api_cpu.as_secs_f64(),
    ))
}
