//! The `skiff` binary: subcommands that wire the components together. No decisions live here.

mod agent;
mod allocator;
mod controllers;
mod flags;
mod loopback;
mod server;
mod store;

use clap::{Parser, Subcommand};

/// Skiff: a Kubernetes-compatible container orchestrator in one binary.
///
/// Start a cluster with `skiff server`, then use kubectl with the kubeconfig it writes
/// (`<data-dir>/kubeconfig.yaml`).
#[derive(Debug, Parser)]
#[command(name = "skiff", version, propagate_version = true)]
struct Cli {
    /// Log filter, e.g. `info`, `debug`, `skiff_apiserver=debug` (also read from RUST_LOG).
    #[arg(long, global = true, env = "SKIFF_LOG", default_value = "info")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a cluster: the Kubernetes API server on an embedded store (or etcd), the scheduler and the
    /// controller manager, and (unless --disable-agent) a node agent that makes this machine
    /// a node.
    Server(server::ServerArgs),
    /// Run the controller manager alone against a cluster (namespace lifecycle, default
    /// ServiceAccounts), with leader election so several can run.
    Controllers(controllers::ControllersArgs),
    /// Run the scheduler alone against a cluster: places pending pods on nodes.
    Scheduler(controllers::SchedulerArgs),
    /// Simulated nodes (like kwok): register N fake nodes, keep their Leases fresh and play
    /// the kubelet's part for their pods (Running, Ready, pod IPs; Job pods complete or fail
    /// when annotated). For scale tests and for testing controllers and scheduling policies.
    Sim(skiff_sim::SimArgs),
    /// Run this machine as a node: register it, keep its status and Lease fresh, and run the
    /// container runtime (its own containerd, or the one at --container-runtime-endpoint).
    Agent(skiff_agent::AgentArgs),
    /// The images of a node's container runtime: `skiff images ls`, `skiff images import
    /// FILE.tar` (OCI layout or docker archive), for nodes without a registry.
    Images(skiff_agent::images::command::ImagesArgs),
    /// The cluster's store: `skiff store check`, `skiff store snapshot save|restore FILE`,
    /// `skiff store migrate --to etcd://...` (embedded store → etcd).
    Store(store::StoreArgs),
}

fn main() {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Agent(_)) {
        allocator::for_mostly_idle_process();
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cli.log));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("skiff: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Server(args) => server::run(args).await,
            Command::Controllers(args) => controllers::run(args).await,
            Command::Scheduler(args) => controllers::run_scheduler(args).await,
            Command::Sim(args) => skiff_sim::run(args).await,
            Command::Agent(args) => agent::run(args).await,
            Command::Images(args) => skiff_agent::images::command::run(args).await,
            Command::Store(args) => store::run(args).await,
        }
    });
    if let Err(e) = result {
        eprintln!("skiff: {e:#}");
        std::process::exit(1);
    }
}
