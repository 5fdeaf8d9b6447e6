//! The API-server benchmark of issue 2: start-up time, idle RSS, concurrent creates, large
//! lists (JSON and Table), watch delivery latency with many watchers, RSS with many objects.

use crate::measure::{
    age_of, cpu_time, median, ms, percentile, rss_mib, run_numbered, stamped_configmap,
};

use crate::Args;
use anyhow::{bail, Context, Result};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;
use std::process::{Child, Command, Stdio};

use std::time::{Duration, Instant};

pub(crate) struct ServerProcess {
    pub(crate) child: Child,
    dir: tempfile::TempDir,
    pub(crate) kubeconfig: std::path::PathBuf,
}

impl ServerProcess {
    /// The server's data directory.
    pub(crate) fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `skiff <subcommand> … --kubeconfig K` process (quiet), killed when dropped.
pub(crate) struct SkiffChild(pub(crate) Child);

impl SkiffChild {
    /// Starts `skiff <args> --kubeconfig <kubeconfig>` with warnings-only logging.
    pub(crate) fn spawn(args: &Args, sub: &[&str], kubeconfig: &std::path::Path) -> Result<Self> {
        Command::new(&args.skiff)
            .args(sub)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .env("SKIFF_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map(SkiffChild)
            .with_context(|| format!("starting skiff {}", sub.join(" ")))
    }
}

impl Drop for SkiffChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) async fn client(kubeconfig: &std::path::Path) -> Result<kube::Client> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    Ok(kube::Client::try_from(cfg)?)
}

/// Starts the server and returns it with the time until `/readyz` answered ok.
pub(crate) async fn start(args: &Args, extra: &[&str]) -> Result<(ServerProcess, Duration)> {
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig.yaml");
    let started = Instant::now();
    let child = Command::new(&args.skiff)
        .args([
            "server",
            "--bind-address",
            "127.0.0.1",
            "--secure-port",
            "0",
            "--disable-agent",
            "--data-dir",
        ])
        .arg(dir.path())
        .args(extra)
        .env("SKIFF_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| {
            format!(
                "starting {} (build it with `cargo build --release -p skiff`)",
                args.skiff.display()
            )
        })?;
    let mut proc_ = ServerProcess {
        child,
        dir,
        kubeconfig,
    };
    loop {
        if proc_.kubeconfig.exists() {
            if let Ok(c) = client(&proc_.kubeconfig).await {
                let req = http::Request::get("/readyz").body(Vec::new())?;
                if let Ok(body) = c.request_text(req).await {
                    if body == "ok" {
                        return Ok((proc_, started.elapsed()));
                    }
                }
            }
        }
        if let Ok(Some(s)) = proc_.child.try_wait() {
            bail!("skiff server exited with {s}");
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("skiff server not ready after 30 s");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn configmap(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": {"bench": "true"}}, "data": {"payload": "x".repeat(1024)}}))
        .expect("valid configmap")
}

/// Runs every measurement and returns the Markdown report.
pub async fn run(args: &Args) -> Result<String> {
    let mut ready = Vec::new();
    for _ in 0..5 {
        let (p, t) = start(args, &[]).await?;
        ready.push(t);
        drop(p);
    }
    let (api_only, _) = start(
        args,
        &["--disable-scheduler", "--disable-controller-manager"],
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let api_idle_rss = rss_mib(api_only.child.id());
    drop(api_only);
    let (server, _) = start(args, &[]).await?;
    let pid = server.child.id();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss = rss_mib(pid);

    // Concurrent creates.
    let n = args.objects;
    let mut clients = Vec::new();
    for _ in 0..args.clients {
        clients.push(client(&server.kubeconfig).await?);
    }
    let cpu_before = cpu_time(pid);
    let apis: Vec<Api<ConfigMap>> = clients
        .into_iter()
        .map(|c| Api::namespaced(c, "default"))
        .collect();
    let (create_time, mut lat) = run_numbered(apis, n, |api, i| async move {
        api.create(&PostParams::default(), &configmap(&format!("bench-{i:06}")))
            .await
            .map(drop)
    })
    .await?;
    let server_cpu = cpu_time(pid).saturating_sub(cpu_before);
    lat.sort();
    let creates_per_s = n as f64 / create_time.as_secs_f64();

    let created_rss = rss_mib(pid);
    // LIST of every object, JSON and Table.
    let c = client(&server.kubeconfig).await?;
    let mut json_times = Vec::new();
    let mut table_times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let req = http::Request::get("/api/v1/namespaces/default/configmaps").body(Vec::new())?;
        let body = c.request_text(req).await?;
        json_times.push(t.elapsed());
        if body.len() < n * 1000 {
            bail!("list returned too little data ({} bytes)", body.len());
        }
        let t = Instant::now();
        let req = http::Request::get("/api/v1/namespaces/default/configmaps")
            .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
            .body(Vec::new())?;
        let body = c.request_text(req).await?;
        table_times.push(t.elapsed());
        if !body.contains("\"kind\":\"Table\"") {
            bail!("not a table");
        }
    }
    let full_rss = rss_mib(pid);

    // Watch delivery latency.
    let events_per_watcher = 50usize;
    let api: Api<ConfigMap> = Api::namespaced(c.clone(), "watched");
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(c.clone());
    ns.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "watched"}}))?,
    )
    .await?;
    let rv = api
        .list(&ListParams::default())
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let mut watchers = Vec::new();
    for _ in 0..args.watchers {
        let api = api.clone();
        let rv = rv.clone();
        let stream = api.watch(&WatchParams::default().timeout(120), &rv).await?;
        watchers.push(tokio::spawn(async move {
            let mut stream = stream.boxed();
            let mut lat = Vec::new();
            while lat.len() < events_per_watcher {
                match tokio::time::timeout(Duration::from_secs(60), stream.next()).await {
                    Ok(Some(Ok(WatchEvent::Added(cm)))) => lat.extend(age_of(&cm)),
                    Ok(Some(Ok(_))) => {}
                    _ => break,
                }
            }
            lat
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..events_per_watcher {
        api.create(&PostParams::default(), &stamped_configmap(i))
            .await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut wlat = Vec::new();
    for w in watchers {
        wlat.extend(w.await?);
    }
    wlat.sort();
    if wlat.len() < args.watchers * events_per_watcher {
        bail!(
            "watchers saw {} of {} events",
            wlat.len(),
            args.watchers * events_per_watcher
        );
    }

    let mut out = String::new();
    out.push_str(&format!(
        "Measured by `skiff-bench` ({} objects, {} clients, {} watchers) on this machine; medians of 5 runs where repeated.\n\n",
        n, args.clients, args.watchers
    ));
    out.push_str("| measure | result | target |\n|---|---|---|\n");
    out.push_str(&format!(
        "| process start → `/readyz` ok (median of 5) | {} | ≤ 300 ms |\n",
        ms(median(ready))
    ));
    out.push_str(&format!("| idle RSS, API server alone (`--disable-scheduler --disable-controller-manager`) | {api_idle_rss:.1} MiB | ≤ 40 MB |\n"));
    out.push_str(&format!("| idle RSS, whole `skiff server` (with scheduler and controller manager) | {idle_rss:.1} MiB | |\n"));
    out.push_str(&format!(
        "| {n} ConfigMap creates (1 KiB), {} clients | {creates_per_s:.0} creates/s, p50 {}, p99 {} | ≥ 5,000/s |\n",
        args.clients,
        ms(percentile(&lat, 50.0)),
        ms(percentile(&lat, 99.0))
    ));
    out.push_str(&format!(
        "| server CPU per create (of 2 cores shared with the load generator) | {:.0} µs | |\n",
        server_cpu.as_secs_f64() * 1e6 / n as f64
    ));
    out.push_str(&format!(
        "| LIST {n} (JSON, median of 5) | {} | ≤ 300 ms |\n",
        ms(median(json_times))
    ));
    out.push_str(&format!(
        "| LIST {n} (Table, median of 5) | {} | |\n",
        ms(median(table_times))
    ));
    out.push_str(&format!(
        "| watch delivery, {} watchers × {events_per_watcher} events | p50 {}, p99 {} | |\n",
        args.watchers,
        ms(percentile(&wlat, 50.0)),
        ms(percentile(&wlat, 99.0))
    ));
    out.push_str(&format!(
        "| RSS with {n} objects (after the creates / after the lists) | {created_rss:.1} MiB / {full_rss:.1} MiB | |\n"
    ));
    Ok(out)
}
