//! `skiff agent`: flags and wiring.

use crate::containerd::{config::Layout, Containerd};
use crate::node::Settings;
use crate::register::Registrar;
use anyhow::Context;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;

/// Flags of `skiff agent`: run this machine as a node of a cluster.
///
/// The agent registers a Node named after the host (or `--node-name`) with the machine's CPU,
/// memory and disk, keeps its conditions and its Lease in kube-node-lease fresh, and runs the
/// container runtime: its own containerd (config and state under `<data-dir>/agent`), or the
/// one at `--container-runtime-endpoint`.
#[derive(Clone, Debug, clap::Args)]
pub struct AgentArgs {
    /// URL of the API server to join, with --token or --token-file (`skiff server` prints it).
    #[arg(long, value_name = "URL", requires = "token_source")]
    pub server: Option<String>,

    /// The join token (`K10…::node:…`), from the server's `<data-dir>/node-token`.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "SKIFF_TOKEN",
        hide_env_values = true,
        group = "token_source"
    )]
    pub token: Option<String>,

    /// A file holding the join token.
    #[arg(long, value_name = "PATH", group = "token_source")]
    pub token_file: Option<PathBuf>,

    /// Kubeconfig of the cluster instead of --server/--token (default: $KUBECONFIG, then
    /// ~/.kube/config). `skiff server` writes one to `<its data-dir>/kubeconfig.yaml`.
    #[arg(long, value_name = "PATH", conflicts_with = "server")]
    pub kubeconfig: Option<PathBuf>,

    /// Where the agent keeps containerd's config, images and state (under `agent/`).
    #[arg(long, value_name = "DIR", default_value = "/var/lib/skiff")]
    pub data_dir: PathBuf,

    #[command(flatten)]
    pub node: NodeOptions,
}

/// How the agent runs this machine as a node (shared by `skiff agent` and the agent embedded
/// in `skiff server`).
#[derive(Clone, Debug, clap::Args)]
#[command(next_help_heading = "Node agent")]
pub struct NodeOptions {
    /// Node name [default: the host name, lower-cased].
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,

    /// CRI socket of a container runtime to use instead of starting containerd (a path or
    /// `unix:///path`).
    #[arg(long, value_name = "ENDPOINT")]
    pub container_runtime_endpoint: Option<String>,

    /// The containerd binary the agent starts.
    #[arg(long, value_name = "PATH", default_value = "containerd")]
    pub containerd: PathBuf,

    /// containerd's `ctr` binary, used to import the sandbox image and archives dropped into
    /// `<data-dir>/agent/images/`.
    #[arg(long, value_name = "PATH", default_value = "ctr")]
    pub ctr: PathBuf,

    /// The Linux bridge the node's pods are attached to.
    #[arg(long, value_name = "NAME", default_value = crate::cni::BRIDGE, value_parser = crate::cni::parse_bridge)]
    pub cni_bridge: String,

    /// Give every pod a cgroup of its own, limited to its requests, limits and overhead,
    /// under `<cgroup-root>/kubepods` (Burstable and BestEffort pods one level down), with
    /// `kubepods` limited to the node's allocatable CPU and memory — the kubelet's
    /// `--cgroups-per-qos` with the cgroupfs driver. `--cgroups-per-qos=false` leaves
    /// containers wherever the runtime puts them.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub cgroups_per_qos: bool,

    /// The cgroup `kubepods` goes under, e.g. `/skiff` for `/skiff/kubepods/…`.
    #[arg(long, value_name = "PATH", default_value = "/", value_parser = parse_cgroup_root)]
    pub cgroup_root: String,

    /// Maximum pods on this node.
    #[arg(long, value_name = "N", default_value_t = 110, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_pods: u32,

    /// CPU held back from pods (kube-reserved + system-reserved), e.g. 100m.
    #[arg(long, value_name = "QUANTITY", value_parser = parse_millis)]
    pub reserved_cpu: Option<u64>,

    /// Memory held back from pods, e.g. 256Mi.
    #[arg(long, value_name = "QUANTITY", value_parser = parse_bytes)]
    pub reserved_memory: Option<u64>,

    /// Ephemeral storage held back from pods, e.g. 1Gi.
    #[arg(long, value_name = "QUANTITY", value_parser = parse_bytes)]
    pub reserved_ephemeral_storage: Option<u64>,

    /// Extra node label (repeatable).
    #[arg(long = "node-label", value_name = "KEY=VALUE", value_parser = parse_label)]
    pub node_labels: Vec<(String, String)>,

    /// Seconds between node status updates and Lease renewals.
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub node_status_update_frequency: u64,

    /// leaseDurationSeconds of the node's Lease.
    #[arg(long, value_name = "SECONDS", default_value_t = 40, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub node_lease_duration: u64,

    /// Image garbage collection starts when the image filesystem is used above this percent.
    #[arg(long, value_name = "PERCENT", default_value_t = 85, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub image_gc_high_threshold: u8,

    /// Image garbage collection removes unused images until usage is below this percent.
    #[arg(long, value_name = "PERCENT", default_value_t = 80, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub image_gc_low_threshold: u8,

    /// Unused images younger than this are never removed, e.g. `2m`, `30s`.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub minimum_image_ttl_duration: Duration,

    /// Port of the agent's HTTPS endpoint the API server reaches for logs, exec, attach and
    /// port-forward (0 picks a free port; it is published in the Node's daemonEndpoints).
    #[arg(long, value_name = "PORT", default_value_t = 10250)]
    pub kubelet_port: u16,
}

fn parse_quantity(s: &str) -> Result<i128, String> {
    skiff_api::quantity::parse(s)
        .filter(|n| *n >= 0)
        .ok_or_else(|| format!("{s:?} is not a non-negative quantity (e.g. 500m, 256Mi, 1Gi)"))
}

fn parse_millis(s: &str) -> Result<u64, String> {
    parse_quantity(s).map(|n| u64::try_from((n + 999_999) / 1_000_000).unwrap_or(u64::MAX))
}

fn parse_bytes(s: &str) -> Result<u64, String> {
    parse_quantity(s).map(|n| u64::try_from((n + 999_999_999) / 1_000_000_000).unwrap_or(u64::MAX))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 30s, 2m, 1h)"))?;
    Ok(match unit {
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(format!("{s:?} is not a duration (e.g. 30s, 2m, 1h)")),
    })
}

fn parse_cgroup_root(s: &str) -> Result<String, String> {
    let ok = s.starts_with('/')
        && !s.split('/').any(|p| p == "." || p == "..")
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-_.".contains(c));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not an absolute cgroup path (e.g. / or /skiff: letters, digits, -, _, .)"
        ))
    }
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

impl AgentArgs {
    /// The join token from --token or --token-file, if one was given.
    pub fn join_token(&self) -> anyhow::Result<Option<skiff_api::join::JoinToken>> {
        let text = match (&self.token, &self.token_file) {
            (Some(t), _) => t.clone(),
            (None, Some(f)) => std::fs::read_to_string(f)
                .with_context(|| format!("reading the join token from {}", f.display()))?,
            (None, None) => return Ok(None),
        };
        Ok(Some(text.parse()?))
    }
}

impl NodeOptions {
    fn settings(&self) -> Settings {
        Settings {
            max_pods: self.max_pods,
            reserved_cpu_millis: self.reserved_cpu.unwrap_or(0),
            reserved_memory: self.reserved_memory.unwrap_or(0),
            reserved_ephemeral_storage: self.reserved_ephemeral_storage.unwrap_or(0),
            labels: self.node_labels.iter().cloned().collect(),
            kubelet_port: self.kubelet_port,
            local_path_dir: None,
        }
    }
}

/// How often image garbage collection looks at the disk.
const IMAGE_GC_PERIOD: Duration = Duration::from_secs(10);

/// Imports the sandbox image (built from busybox) if containerd lacks it, then every archive
/// dropped into `<agent dir>/images/`.
async fn prepare_images(
    args: &NodeOptions,
    socket: &std::path::Path,
    agent_dir: &std::path::Path,
) -> anyhow::Result<()> {
    let mut cri = crate::cri::Cri::connect(socket).await?;
    let work = agent_dir.join("images").join(".build");
    if crate::images::ensure_pause(&mut cri, &args.ctr, socket, &work)
        .await
        .context(
            "preparing the sandbox image (needs /bin/busybox: apt-get install busybox-static)",
        )?
    {
        eprintln!(
            "skiff agent: imported the sandbox image {}",
            crate::containerd::config::SANDBOX_IMAGE
        );
    }
    for f in crate::images::import_dir(&args.ctr, socket, &agent_dir.join("images")).await {
        eprintln!("skiff agent: imported {}", f.display());
    }
    Ok(())
}

/// Binds the agent's HTTPS endpoint, retrying the certificate request while the API server
/// is not reachable yet. A port that cannot be bound is an error at once.
async fn bind_kubelet_server(
    client: &kube::Client,
    cri: &crate::cri::Cri,
    name: &str,
    addresses: &[String],
    port: u16,
) -> anyhow::Result<crate::server::KubeletServer> {
    let mut delay = Duration::from_millis(200);
    loop {
        match crate::server::KubeletServer::bind(client.clone(), cri.clone(), name, addresses, port)
            .await
        {
            Ok(k) => return Ok(k),
            Err(e) if e.to_string().starts_with("cannot listen") => return Err(e),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "no serving certificate yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// The node agent with its API `client`, keeping its state under `<data_dir>/agent`: runs
/// until `stop` turns true, then stops containerd (containers keep running and are adopted by
/// the next start). Returns early with an error if the runtime cannot be started.
pub async fn run(
    client: kube::Client,
    data_dir: &std::path::Path,
    args: NodeOptions,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    if args.image_gc_low_threshold > args.image_gc_high_threshold {
        anyhow::bail!(
            "--image-gc-low-threshold ({}) must not be above --image-gc-high-threshold ({})",
            args.image_gc_low_threshold,
            args.image_gc_high_threshold
        );
    }
    let agent_dir = data_dir.join("agent");
    std::fs::create_dir_all(&agent_dir)
        .with_context(|| format!("creating {}", agent_dir.display()))?;
    let (socket, supervisor) = match &args.container_runtime_endpoint {
        Some(e) => (PathBuf::from(e.strip_prefix("unix://").unwrap_or(e)), None),
        None => {
            crate::cgroups::prepare();
            eprintln!(
                "skiff agent: starting containerd (config and log under {})",
                agent_dir.join("containerd").display()
            );
            let c = Containerd::start(Layout::under(&agent_dir), args.containerd.clone()).await?;
            let socket = c.socket().to_path_buf();
            prepare_images(&args, &socket, &agent_dir).await?;
            let mut gc = crate::images::gc::Collector::new(
                crate::images::gc::Policy {
                    high_percent: args.image_gc_high_threshold,
                    low_percent: args.image_gc_low_threshold,
                    min_age: args.minimum_image_ttl_duration,
                },
                Layout::under(&agent_dir).root,
                crate::containerd::config::SANDBOX_IMAGE.to_string(),
            );
            let mut gc_cri = crate::cri::Cri::connect(&socket).await?;
            let mut gc_stop = stop.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(IMAGE_GC_PERIOD) => {}
                        _ = crate::stopped(&mut gc_stop) => return,
                    }
                    match gc.collect(&mut gc_cri).await {
                        Ok(removed) if !removed.is_empty() => {
                            tracing::info!(
                                ?removed,
                                "image garbage collection removed unused images"
                            )
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "image garbage collection failed"),
                    }
                }
            });
            let images = agent_dir.join("images");
            tokio::spawn(crate::images::watch_dir(
                args.ctr.clone(),
                socket.clone(),
                images.clone(),
                crate::images::seen_now(&images),
                Duration::from_secs(5),
                stop.clone(),
            ));
            (socket, Some(tokio::spawn(c.supervise(stop.clone()))))
        }
    };
    let machine = crate::machine::Machine::read(&agent_dir);
    let name = args.node_name.clone().unwrap_or(machine.hostname.clone());
    eprintln!(
        "skiff agent: node {name}, container runtime at {}",
        socket.display()
    );
    let mut addresses = vec![name.clone(), machine.hostname.clone(), "127.0.0.1".into()];
    addresses.extend(machine.address.map(|a| a.to_string()));
    let cri = crate::cri::Cri::connect(&socket).await?;
    let mut stop_wait = stop.clone();
    let kubelet = tokio::select! {
        k = bind_kubelet_server(&client, &cri, &name, &addresses, args.kubelet_port) => k?,
        _ = crate::stopped(&mut stop_wait) => return Ok(()),
    };
    let mut settings = args.settings();
    settings.kubelet_port = kubelet.port();
    let storage = data_dir.join("storage");
    settings.local_path_dir = Some(storage.to_string_lossy().into_owned());
    eprintln!(
        "skiff agent: serving logs, exec and port-forward on port {}",
        settings.kubelet_port
    );
    let kubelet = tokio::spawn(kubelet.run(stop.clone()));
    let registrar = Registrar {
        client,
        name,
        settings,
        cni_conf_dir: supervisor
            .is_some()
            .then(|| Layout::under(&agent_dir).cni_conf_dir),
        cni_bridge: args.cni_bridge.clone(),
        data_dir: agent_dir,
        cri_socket: socket,
        lease_duration: Duration::from_secs(args.node_lease_duration),
        interval: Duration::from_secs(args.node_status_update_frequency),
    };
    let mut pods = crate::pods::PodWorker::new(
        registrar.client.clone(),
        cri,
        registrar.name.clone(),
        &machine,
        registrar.data_dir.join("logs"),
        registrar.data_dir.join("pods"),
        storage,
    );
    match crate::cgroups::fs::CgroupFs::detect().filter(|_| args.cgroups_per_qos) {
        Some(fs) => {
            let s = &registrar.settings;
            let cpu = (u64::from(machine.cpus) * 1000).saturating_sub(s.reserved_cpu_millis);
            let memory = machine.memory_total.saturating_sub(s.reserved_memory);
            let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
            pods = pods.with_pod_cgroups(fs, &args.cgroup_root, as_i64(cpu), as_i64(memory));
        }
        None if args.cgroups_per_qos => {
            tracing::warn!(
                "no writable cgroup filesystem at /sys/fs/cgroup: pods get no cgroups of their own"
            );
        }
        None => {}
    }
    let pod_worker = tokio::spawn(pods.run(stop.clone()));
    registrar.run(stop).await;
    let _ = pod_worker.await;
    let _ = kubelet.await;
    if let Some(s) = supervisor {
        let _ = s.await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_amounts_are_parsed_as_quantities() {
        assert_eq!(parse_millis("100m"), Ok(100));
        assert_eq!(parse_millis("1.5"), Ok(1500));
        assert_eq!(parse_bytes("256Mi"), Ok(256 << 20));
        assert_eq!(parse_bytes("1G"), Ok(1_000_000_000));
        assert!(parse_bytes("-1Gi").is_err());
        assert!(parse_bytes("lots")
            .unwrap_err()
            .contains("not a non-negative quantity"));
        assert_eq!(parse_label("a=b"), Ok(("a".into(), "b".into())));
        assert!(parse_label("=b").is_err());
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("soon").is_err());
    }
}
