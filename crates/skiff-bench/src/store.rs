//! The store benchmark of issue 5, side by side in one run: raw etcd puts (etcd-client) at 1,
//! 16 and 64 clients; the same load as ConfigMap creates through Skiff on etcd and on its
//! embedded store; watch delivery latency on both; RSS of Skiff and of etcd; and the embedded
//! file's size under a long steady update load with the compactor's policy.

use crate::apiserver::{client, start};
use crate::measure::{age_of, ms, percentile, rss_mib, run_numbered, stamped_configmap};
use crate::Args;
use anyhow::{bail, Context, Result};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;
use skiff_store::Store;
use skiff_store_etcd::testing::EtcdCluster;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Client counts measured.
const LEVELS: [usize; 3] = [1, 16, 64];

/// Throughput and latencies of one load.
struct Load {
    per_s: f64,
    p50: Duration,
    p99: Duration,
}

impl Load {
    fn of(n: usize, took: Duration, mut lat: Vec<Duration>) -> Load {
        lat.sort();
        Load {
            per_s: n as f64 / took.as_secs_f64(),
            p50: percentile(&lat, 50.0),
            p99: percentile(&lat, 99.0),
        }
    }
    fn cell(&self) -> String {
        format!(
            "{:.0}/s (p50 {}, p99 {})",
            self.per_s,
            ms(self.p50),
            ms(self.p99)
        )
    }
}

/// How many operations a level runs: fewer for one client, whose every op waits for an fsync.
fn ops(args: &Args, clients: usize) -> usize {
    if clients == 1 {
        args.objects.min(2_000)
    } else {
        args.objects
    }
}

async fn raw_etcd(endpoints: &[String], clients: usize, n: usize, round: usize) -> Result<Load> {
    let client = etcd_client::Client::connect(endpoints, None)
        .await
        .context("connecting to etcd")?;
    let value = vec![b'x'; 1024];
    let kvs = vec![client.kv_client(); clients];
    let (took, lat) = run_numbered(kvs, n, move |mut kv, i| {
        let value = value.clone();
        async move {
            kv.put(format!("/bench/raw-{round}/{i:07}"), value, None)
                .await
                .map(drop)
        }
    })
    .await?;
    Ok(Load::of(n, took, lat))
}

fn configmap(name: &str) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name}, "data": {"payload": "x".repeat(1024)}}),
    )
    .expect("valid configmap")
}

async fn creates(kubeconfig: &std::path::Path, clients: usize, n: usize, ns: &str) -> Result<Load> {
    let admin = client(kubeconfig).await?;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(admin);
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}}))?,
        )
        .await?;
    let mut apis: Vec<Api<ConfigMap>> = Vec::new();
    for _ in 0..clients {
        apis.push(Api::namespaced(client(kubeconfig).await?, ns));
    }
    let (took, lat) = run_numbered(apis, n, |api, i| async move {
        api.create(&PostParams::default(), &configmap(&format!("c-{i:07}")))
            .await
            .map(drop)
    })
    .await?;
    Ok(Load::of(n, took, lat))
}

/// Latency from a create's send time to its watch event, one watcher, `events` creates.
async fn watch_latency(
    kubeconfig: &std::path::Path,
    events: usize,
) -> Result<(Duration, Duration)> {
    let c = client(kubeconfig).await?;
    let api: Api<ConfigMap> = Api::namespaced(c, "default");
    let rv = api
        .list(&ListParams::default().limit(1))
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let stream = api.watch(&WatchParams::default().timeout(120), &rv).await?;
    let watcher = tokio::spawn(async move {
        let mut stream = stream.boxed();
        let mut lat = Vec::new();
        while lat.len() < events {
            match tokio::time::timeout(Duration::from_secs(30), stream.next()).await {
                Ok(Some(Ok(WatchEvent::Added(cm)))) => lat.extend(age_of(&cm)),
                Ok(Some(Ok(_))) => {}
                _ => break,
            }
        }
        lat
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..events {
        api.create(&PostParams::default(), &stamped_configmap(i))
            .await?;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut lat = watcher.await?;
    if lat.len() < events {
        bail!("the watcher saw {} of {events} events", lat.len());
    }
    lat.sort();
    Ok((percentile(&lat, 50.0), percentile(&lat, 99.0)))
}

/// The embedded store file under `updates` updates of `objects` keys from 64 writers,
/// compacted at each of 20 samples to the revision seen at the previous one (the compactor's
/// policy): (updates so far, file MiB) samples, and the update rate.
async fn file_growth(updates: usize, objects: usize) -> Result<(Vec<(usize, f64)>, f64)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("state.redb");
    let store = Arc::new(skiff_store::EmbeddedStore::open(&path)?);
    let value = bytes::Bytes::from(vec![b'x'; 1024]);
    let mut revs = Vec::with_capacity(objects);
    for i in 0..objects {
        revs.push(
            store
                .create(&format!("/registry/bench/{i:05}"), value.clone())
                .await?
                .mod_revision,
        );
    }
    let revs = Arc::new(std::sync::Mutex::new(revs));
    let samples = 20;
    let chunk = updates / samples;
    let mut out = vec![(0, file_mib(&path))];
    let mut previous = None;
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    for s in 1..=samples {
        let target = s * chunk;
        let mut tasks = Vec::new();
        for w in 0..64 {
            let (store, revs, done, value) =
                (store.clone(), revs.clone(), done.clone(), value.clone());
            tasks.push(tokio::spawn(async move {
                // Each writer owns the keys ≡ w (mod 64): no two race for one key.
                let mine: Vec<usize> = (w..objects).step_by(64).collect();
                let mut j = 0;
                while !mine.is_empty() && done.fetch_add(1, Ordering::SeqCst) < target {
                    let i = mine[j % mine.len()];
                    j += 1;
                    let expected = revs.lock().unwrap()[i];
                    let kv = store
                        .update(&format!("/registry/bench/{i:05}"), value.clone(), expected)
                        .await?;
                    revs.lock().unwrap()[i] = kv.mod_revision;
                }
                Ok::<_, skiff_store::StoreError>(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        done.store(target, Ordering::SeqCst);
        if let Some(p) = previous {
            store.compact(p).await?;
        }
        previous = Some(store.current_revision().await?);
        out.push((target, file_mib(&path)));
        eprintln!(
            "skiff-bench: {target} updates, store file {:.1} MiB",
            file_mib(&path)
        );
    }
    let per_s = (samples * chunk) as f64 / started.elapsed().as_secs_f64();
    store.close()?;
    Ok((out, per_s))
}

fn file_mib(path: &std::path::Path) -> f64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) as f64 / (1024.0 * 1024.0)
}

/// Runs the store benchmark and returns the Markdown report.
pub async fn run(args: &Args) -> Result<String> {
    let etcd = tokio::task::spawn_blocking(|| EtcdCluster::start(1)).await?;
    let endpoints = etcd.endpoints();
    let mut raw = Vec::new();
    for (round, c) in LEVELS.iter().enumerate() {
        eprintln!("skiff-bench: raw etcd puts, {c} clients");
        raw.push(raw_etcd(&endpoints, *c, ops(args, *c), round).await?);
    }
    let etcd_pid = etcd.pid(0).unwrap_or(0);
    let etcd_rss = rss_mib(etcd_pid);

    // Skiff on a fresh etcd, then on its embedded store, with the same loads.
    let skiff_etcd = tokio::task::spawn_blocking(|| EtcdCluster::start(1)).await?;
    let url = skiff_etcd.datastore_url();
    let quiet = ["--disable-scheduler", "--disable-controller-manager"];
    let mut results = Vec::new();
    for (name, datastore) in [("etcd", Some(url.as_str())), ("embedded", None)] {
        let mut flags: Vec<&str> = quiet.to_vec();
        if let Some(u) = datastore {
            flags.extend(["--datastore", u]);
        }
        let (server, _) = start(args, &flags).await?;
        let mut loads = Vec::new();
        for c in LEVELS {
            eprintln!("skiff-bench: Skiff on {name}, {c} clients");
            loads.push(creates(&server.kubeconfig, c, ops(args, c), &format!("load-{c}")).await?);
        }
        let watch = watch_latency(&server.kubeconfig, 200).await?;
        let rss = rss_mib(server.child.id());
        results.push((name, loads, watch, rss));
    }
    let skiff_etcd_rss = rss_mib(skiff_etcd.pid(0).unwrap_or(0));

    let updates = args.updates;
    eprintln!("skiff-bench: {updates} updates of 1,000 objects on the embedded store");
    let (growth, store_updates_per_s) = file_growth(updates, 1_000).await?;

    let mut out = format!(
        "One run on this machine (2 cores shared by etcd, Skiff and the load generator); values of 1 KiB; {} operations per level (2,000 at 1 client).\n\n",
        args.objects
    );
    out.push_str("| clients | raw etcd puts | Skiff on etcd: ConfigMap creates | Skiff on embedded: ConfigMap creates |\n|---|---|---|---|\n");
    for (i, c) in LEVELS.iter().enumerate() {
        out.push_str(&format!(
            "| {c} | {} | {} | {} |\n",
            raw[i].cell(),
            results[0].1[i].cell(),
            results[1].1[i].cell()
        ));
    }
    let ratio = results[0].1[2].per_s / raw[2].per_s;
    out.push_str(&format!(
        "\nSkiff on etcd / raw etcd at 64 clients: **{ratio:.2}×** (target ≥ 0.7×). Skiff on embedded at 64 clients: **{:.0} creates/s** (target ≥ 30,000/s).\n\n",
        results[1].1[2].per_s
    ));
    out.push_str("| measure | Skiff on etcd | Skiff on embedded |\n|---|---|---|\n");
    out.push_str(&format!(
        "| watch delivery (create sent → event received, 200 events) | p50 {}, p99 {} | p50 {}, p99 {} |\n",
        ms(results[0].2 .0),
        ms(results[0].2 .1),
        ms(results[1].2 .0),
        ms(results[1].2 .1)
    ));
    out.push_str(&format!(
        "| Skiff RSS after the run | {:.0} MiB (+ etcd {skiff_etcd_rss:.0} MiB) | {:.0} MiB |\n",
        results[0].3, results[1].3
    ));
    out.push_str(&format!(
        "| raw etcd member RSS after its run | {etcd_rss:.0} MiB | |\n"
    ));
    out.push_str(&format!(
        "\nEmbedded store file under {updates} updates of 1,000 objects (64 writers on the store itself, no API server: **{store_updates_per_s:.0} durable updates/s** with group commit; compacted to the previous sample's revision at every sample, the compactor's policy):\n\n| updates | file size |\n|---|---|\n"
    ));
    for (n, mib) in &growth {
        out.push_str(&format!("| {n} | {mib:.1} MiB |\n"));
    }
    Ok(out)
}
