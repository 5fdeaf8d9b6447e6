//! `skiff server`: flags, start-up and clean shutdown on SIGTERM/SIGINT.

use anyhow::{bail, Result};
use clap::Args;
use skiff_apiserver::ServerConfig;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Flags of `skiff server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Where certificates, the kubeconfig and the store live
    /// [default: /var/lib/skiff as root, else $XDG_DATA_HOME/skiff]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Address the API server listens on.
    #[arg(long, default_value = "0.0.0.0", value_name = "IP")]
    bind_address: IpAddr,
    /// HTTPS port of the API server (0 picks a free port).
    #[arg(long, default_value_t = 6443, value_name = "PORT")]
    secure_port: u16,
    /// Extra host name or IP for the serving certificate (repeatable).
    #[arg(long = "tls-san", value_name = "NAME")]
    tls_san: Vec<String>,
    /// IP range for Service ClusterIPs.
    #[arg(long, default_value = "10.43.0.0/16", value_name = "CIDR")]
    service_cidr: String,
    /// Also write the admin kubeconfig to this path.
    #[arg(long, value_name = "PATH")]
    write_kubeconfig: Option<PathBuf>,
    /// Do not run a node agent in this process: a control plane only, whose nodes join with
    /// the `skiff agent` command it prints. Without it, this machine is also a node (it needs
    /// root and containerd, runc and the CNI plugins installed).
    #[arg(long)]
    disable_agent: bool,
    /// How often store history older than one interval is compacted, e.g. `5m`, `30s`
    /// (`0` never compacts). Watches can resume from within the kept history; older
    /// resourceVersions get 410 Gone.
    #[arg(long, default_value = "5m", value_name = "DURATION", value_parser = crate::flags::parse_duration)]
    compaction_interval: Duration,
    #[command(flatten)]
    controller_flags: crate::flags::ControllerFlags,
    /// Do not run the controller manager in this process (run `skiff controllers` elsewhere).
    #[arg(long)]
    disable_controller_manager: bool,
    /// Do not run the scheduler in this process (run `skiff scheduler` elsewhere).
    #[arg(long)]
    disable_scheduler: bool,
    /// tolerationSeconds of the node.kubernetes.io/not-ready:NoExecute toleration added to
    /// every pod that has none (DefaultTolerationSeconds admission).
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    default_not_ready_toleration_seconds: i64,
    /// tolerationSeconds of the node.kubernetes.io/unreachable:NoExecute toleration added to
    /// every pod that has none: how long pods stay on a node that stopped heartbeating.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    default_unreachable_toleration_seconds: i64,
    /// Where cluster state lives: `embedded` (a durable file under the data dir) or etcd,
    /// `etcd://HOST:PORT[,HOST:PORT...]` (several servers may share one etcd; copy the first
    /// server's <data-dir>/tls and node-token to the others so they share the cluster's CA
    /// and keys).
    #[arg(long, default_value = "embedded", value_name = "DATASTORE")]
    datastore: String,
    #[command(flatten)]
    datastore_tls: crate::flags::EtcdTlsFlags,
    /// The embedded node agent's flags (last: they open their own help heading).
    #[command(flatten)]
    agent: skiff_agent::NodeOptions,
}

pub(crate) fn default_data_dir() -> PathBuf {
    let is_root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    if is_root {
        return PathBuf::from("/var/lib/skiff");
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("skiff");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/share/skiff")
}

/// The store the flags name.
fn datastore(args: &ServerArgs) -> Result<skiff_apiserver::config::Datastore> {
    use skiff_apiserver::config::Datastore;
    if args.datastore == "embedded" {
        if args.datastore_tls.files().any() {
            bail!("--datastore-cafile/-certfile/-keyfile are for --datastore etcd://...; the embedded store needs none");
        }
        return Ok(Datastore::Embedded);
    }
    let options = args
        .datastore_tls
        .options(&args.datastore)
        .map_err(|e| anyhow::anyhow!("{e}; or omit --datastore for the embedded store"))?;
    Ok(Datastore::Etcd(options))
}

/// Runs the server until SIGTERM or SIGINT.
pub async fn run(args: ServerArgs) -> Result<()> {
    let datastore = datastore(&args)?;
    let data_dir = args.data_dir.unwrap_or_else(default_data_dir);
    let cfg = ServerConfig {
        data_dir: data_dir.clone(),
        bind_address: args.bind_address,
        secure_port: args.secure_port,
        tls_sans: args.tls_san,
        service_cidr: args.service_cidr,
        write_kubeconfig: args.write_kubeconfig,
        compaction_interval: args.compaction_interval,
        default_tolerations: skiff_apiserver::admission::DefaultTolerationSeconds {
            not_ready: args.default_not_ready_toleration_seconds,
            unreachable: args.default_unreachable_toleration_seconds,
        },
        datastore,
    };
    let started = std::time::Instant::now();
    let server = skiff_apiserver::start(cfg.clone()).await?;
    eprintln!(
        "skiff: API server ready at {} in {} ms; kubeconfig: {}",
        server.url,
        started.elapsed().as_millis(),
        cfg.kubeconfig_path().display()
    );
    match &cfg.datastore {
        skiff_apiserver::config::Datastore::Embedded => eprintln!(
            "skiff: state in the embedded store {}",
            cfg.store_path().display()
        ),
        skiff_apiserver::config::Datastore::Etcd(o) => {
            eprintln!("skiff: state in etcd at {}", o.endpoints.join(","))
        }
    }
    eprintln!(
        "skiff: try: KUBECONFIG={} kubectl get namespaces",
        cfg.kubeconfig_path().display()
    );
    eprintln!(
        "skiff: nodes join with: skiff agent --server {} --token-file {}",
        server.url,
        cfg.node_token_path().display()
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let scheduler = if args.disable_scheduler {
        None
    } else {
        let client = crate::loopback::client(&server);
        Some(tokio::spawn(skiff_scheduler_driver::run(
            client,
            stop_rx.clone(),
        )))
    };
    let controllers = if args.disable_controller_manager {
        None
    } else {
        let client = crate::loopback::client(&server);
        let options = args
            .controller_flags
            .options(crate::controllers::kubeconfig_ca(Some(
                &cfg.kubeconfig_path(),
            )))?;
        Some(tokio::spawn(skiff_controller_manager::run(
            client,
            options,
            stop_rx.clone(),
        )))
    };
    let mut agent = if args.disable_agent {
        None
    } else {
        let client = crate::loopback::client(&server);
        let opts = args.agent;
        Some(tokio::spawn(async move {
            skiff_agent::run(client, &data_dir, opts, stop_rx).await
        }))
    };
    let mut failure = None;
    tokio::select! {
        signalled = crate::controllers::until_signal() => signalled?,
        done = async { agent.as_mut().expect("guarded").await }, if agent.is_some() => {
            agent = None;
            let e = match done {
                Ok(Ok(())) => anyhow::anyhow!("stopped"),
                Ok(Err(e)) => e,
                Err(e) => e.into(),
            };
            failure = Some(e.context(
                "the node agent of this server failed (run with --disable-agent for a control plane only)",
            ));
        }
    }
    eprintln!("skiff: shutting down");
    let _ = stop_tx.send(true);
    for task in [controllers, scheduler].into_iter().flatten() {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    if let Some(a) = agent {
        let _ = tokio::time::timeout(Duration::from_secs(15), a).await;
    }
    server.shutdown().await;
    failure.map_or(Ok(()), Err)
}
