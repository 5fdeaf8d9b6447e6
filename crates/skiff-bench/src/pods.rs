//! The node-agent benchmark (issue 4): a control plane (`skiff server --disable-agent`) and a
//! separate `skiff agent` with its own containerd on this machine; pods of a local busybox
//! image. Pod create → Running (seen by a watch) one at a time (p50/p99), pods/s for a burst
//! of 110 pods (a full node), the agent's RSS idle and with 110 pods, containerd's RSS; with
//! `--churn-minutes`, the agent's RSS across waves of pods created and deleted.

use crate::apiserver::{client, start};
use crate::measure::{ms, percentile, rss_mib};
use crate::Args;
use anyhow::{bail, Context, Result};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::watcher::{self, Event};
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const NODE: &str = "bench-node";
const BRIDGE: &str = "skbench0";
const IMAGE: &str = "skiff.test/busybox:v1";
const SEQUENTIAL: usize = 100;
const BURST: usize = 110;

/// The agent process; on drop it is stopped with SIGTERM (it stops its containerd).
struct AgentProcess(Child);

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = Command::new("ip").args(["link", "del", BRIDGE]).status();
    }
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"bench": "pods"}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "c", "image": IMAGE, "command": ["sleep", "3600"]}],
        },
    }))
    .expect("valid pod")
}

fn import_image(args: &Args, data_dir: &Path) -> Result<()> {
    let busybox = std::fs::read("/bin/busybox")
        .context("reading /bin/busybox (apt-get install busybox-static)")?;
    let img =
        skiff_agent::images::oci::busybox(IMAGE, busybox, &["sh", "sleep"], vec!["/bin/sh".into()]);
    let archive = data_dir.join("busybox.tar");
    std::fs::write(&archive, skiff_agent::images::oci::archive(&img)?)?;
    let out = Command::new(&args.skiff)
        .args(["images", "import"])
        .arg(&archive)
        .arg("--data-dir")
        .arg(data_dir)
        .output()?;
    if !out.status.success() {
        bail!(
            "skiff images import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn containerd_rss(data_dir: &Path) -> f64 {
    std::fs::read_to_string(data_dir.join("agent/containerd/containerd.pid"))
        .ok()
        .and_then(|p| p.trim().parse().ok())
        .map_or(0.0, rss_mib)
}

async fn wait_ready(nodes: &Api<Node>) -> Result<()> {
    let since = Instant::now();
    loop {
        if let Ok(n) = nodes.get(NODE).await {
            let ready = n
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            if ready {
                return Ok(());
            }
        }
        if since.elapsed() > Duration::from_secs(60) {
            bail!("the agent's node is not Ready after 60 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_running(seen: &Mutex<HashMap<String, Instant>>, names: &[String]) -> Result<()> {
    let since = Instant::now();
    loop {
        if names.iter().all(|n| {
            seen.lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(n)
        }) {
            return Ok(());
        }
        if since.elapsed() > Duration::from_secs(300) {
            bail!("pods not Running after 5 minutes");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn delete_all(pods: &Api<Pod>) -> Result<()> {
    let lp = ListParams::default().labels("bench=pods");
    pods.delete_collection(&DeleteParams::default(), &lp)
        .await?;
    let since = Instant::now();
    while !pods.list_metadata(&lp).await?.items.is_empty() {
        if since.elapsed() > Duration::from_secs(300) {
            bail!("pods not gone after 5 minutes");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// Runs the benchmark; needs root, containerd, runc, CNI plugins and busybox-static.
pub async fn run(args: &Args) -> Result<String> {
    let (server, _) = start(args, &["--cluster-cidr", "10.86.0.0/16"]).await?;
    let c = client(&server.kubeconfig).await?;
    let data_dir = server.dir().join("agent-data");
    std::fs::create_dir_all(&data_dir)?;
    eprintln!("skiff-bench: starting skiff agent");
    let agent = AgentProcess(
        Command::new(&args.skiff)
            .args([
                "agent",
                "--node-name",
                NODE,
                "--cni-bridge",
                BRIDGE,
                "--kubelet-port",
                "0",
            ])
            .arg("--kubeconfig")
            .arg(&server.kubeconfig)
            .arg("--data-dir")
            .arg(&data_dir)
            .env("SKIFF_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting skiff agent")?,
    );
    let nodes: Api<Node> = Api::all(c.clone());
    wait_ready(&nodes).await?;
    import_image(args, &data_dir)?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (agent_idle, containerd_idle) = (rss_mib(agent.0.id()), containerd_rss(&data_dir));

    let pods: Api<Pod> = Api::default_namespaced(c.clone());
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let watch = {
        let (seen, api) = (seen.clone(), pods.clone());
        tokio::spawn(async move {
            let stream = watcher::watcher(api, watcher::Config::default().labels("bench=pods"));
            futures::pin_mut!(stream);
            while let Some(e) = stream.next().await {
                let (Ok(Event::Apply(p)) | Ok(Event::InitApply(p))) = e else {
                    continue;
                };
                if p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running") {
                    let name = p.metadata.name.clone().unwrap_or_default();
                    seen.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(name)
                        .or_insert_with(Instant::now);
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    eprintln!("skiff-bench: {SEQUENTIAL} pods, one at a time");
    let mut startup = Vec::new();
    for i in 0..SEQUENTIAL {
        let name = format!("seq-{i:03}");
        let t = Instant::now();
        pods.create(&PostParams::default(), &pod(&name)).await?;
        wait_running(&seen, std::slice::from_ref(&name)).await?;
        let at = seen.lock().unwrap_or_else(|e| e.into_inner())[&name];
        startup.push(at - t);
    }
    startup.sort();
    delete_all(&pods).await?;

    eprintln!("skiff-bench: a burst of {BURST} pods");
    let names: Vec<String> = (0..BURST).map(|i| format!("burst-{i:03}")).collect();
    let t = Instant::now();
    futures::stream::iter(names.iter())
        .map(|n| {
            let pods = pods.clone();
            async move { pods.create(&PostParams::default(), &pod(n)).await }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    wait_running(&seen, &names).await?;
    let burst = t.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (agent_full, containerd_full) = (rss_mib(agent.0.id()), containerd_rss(&data_dir));
    delete_all(&pods).await?;
    let churn = match args.churn_minutes {
        0 => String::new(),
        minutes => {
            churn(
                &pods,
                &seen,
                agent.0.id(),
                Duration::from_secs(minutes * 60),
            )
            .await?
        }
    };
    watch.abort();
    drop(agent);

    Ok(format!(
        "Node agent (`skiff agent` with its own containerd 1.6 + runc, one node, a local busybox \
         image; control plane `skiff server --disable-agent` in another process):\n\n\
         | measure | value |\n|---|---|\n\
         | pod create → Running (watch), {SEQUENTIAL} pods one at a time, p50 | {} |\n\
         | same, p99 | {} |\n\
         | burst of {BURST} pods (a full node) → all Running | {} ({:.1} pods/s) |\n\
         | agent RSS idle | {:.1} MiB |\n\
         | agent RSS with {BURST} pods | {:.1} MiB |\n\
         | containerd RSS idle / with {BURST} pods | {:.1} / {:.1} MiB |{churn}",
        ms(percentile(&startup, 50.0)),
        ms(percentile(&startup, 99.0)),
        ms(burst),
        BURST as f64 / burst.as_secs_f64(),
        agent_idle,
        agent_full,
        containerd_idle,
        containerd_full,
    ))
}

/// Pods per churn wave.
const WAVE: usize = 30;

/// Waves of [`WAVE`] pods (created, Running, deleted) for `length`; the agent's RSS after
/// each wave's deletion, as extra table rows: the first wave, then one row per ~tenth of the
/// run, and the change from the first to the last.
async fn churn(
    pods: &Api<Pod>,
    seen: &Mutex<HashMap<String, Instant>>,
    agent: u32,
    length: Duration,
) -> Result<String> {
    eprintln!(
        "skiff-bench: churning waves of {WAVE} pods for {} min",
        length.as_secs() / 60
    );
    let start = Instant::now();
    let mut samples: Vec<(Duration, usize, f64)> = Vec::new();
    let mut created = 0;
    let mut wave = 0;
    while start.elapsed() < length {
        let names: Vec<String> = (0..WAVE).map(|i| format!("churn-{wave}-{i:02}")).collect();
        futures::stream::iter(names.iter())
            .map(|n| async move { pods.create(&PostParams::default(), &pod(n)).await })
            .buffer_unordered(16)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        wait_running(seen, &names).await?;
        delete_all(pods).await?;
        seen.lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|n, _| !n.starts_with("churn-"));
        created += WAVE;
        wave += 1;
        samples.push((start.elapsed(), created, rss_mib(agent)));
    }
    let step = (length / 10).max(Duration::from_secs(1));
    let mut rows = String::new();
    let mut next = Duration::ZERO;
    for (i, (at, pods, rss)) in samples.iter().enumerate() {
        if i == 0 || i + 1 == samples.len() || *at >= next {
            rows.push_str(&format!(
                "\n| agent RSS after {pods} pods churned ({:.0} min) | {rss:.1} MiB |",
                at.as_secs_f64() / 60.0
            ));
            next = *at + step;
        }
    }
    if let (Some(first), Some(last)) = (samples.first(), samples.last()) {
        rows.push_str(&format!(
            "\n| agent RSS change over the churn (first wave → last) | {:+.1} MiB |",
            last.2 - first.2
        ));
    }
    Ok(rows)
}
