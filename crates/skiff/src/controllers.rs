//! `skiff controllers`: the controller manager on its own, against any cluster.

use anyhow::{Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

/// Flags of `skiff controllers`.
#[derive(Debug, Args)]
pub struct ControllersArgs {
    /// Kubeconfig of the cluster to manage (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "PATH")]
    kubeconfig: Option<PathBuf>,
    #[command(flatten)]
    flags: crate::flags::ControllerFlags,
}

/// A kube client from a kubeconfig file.
pub async fn client_from(path: &Path) -> Result<kube::Client> {
    let kc = kube::config::Kubeconfig::read_from(path)
        .with_context(|| format!("reading kubeconfig {}", path.display()))?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .with_context(|| format!("kubeconfig {} is not usable", path.display()))?;
    kube::Client::try_from(cfg).context("building the API client")
}

/// Flags of `skiff scheduler`.
#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Kubeconfig of the cluster to schedule for (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "PATH")]
    kubeconfig: Option<PathBuf>,
}

pub(crate) async fn client_or_default(path: &Option<PathBuf>) -> Result<kube::Client> {
    match path {
        Some(p) => client_from(p).await,
        None => kube::Client::try_default()
            .await
            .context("no kubeconfig: pass --kubeconfig or set KUBECONFIG"),
    }
}

pub(crate) async fn until_signal() -> Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}

/// Runs the scheduler until SIGTERM or SIGINT.
pub async fn run_scheduler(args: SchedulerArgs) -> Result<()> {
    let client = client_or_default(&args.kubeconfig).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(skiff_scheduler_driver::run(client, stop_rx));
    eprintln!("skiff: scheduler started (pods with schedulerName default-scheduler)");
    until_signal().await?;
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
    Ok(())
}

/// Runs the controller manager until SIGTERM or SIGINT.
pub async fn run(args: ControllersArgs) -> Result<()> {
    let client = match &args.kubeconfig {
        Some(p) => client_from(p).await?,
        None => kube::Client::try_default()
            .await
            .context("no kubeconfig: pass --kubeconfig or set KUBECONFIG")?,
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(skiff_controller_manager::run(
        client,
        args.flags.options(),
        stop_rx,
    ));
    eprintln!("skiff: controller manager started (waiting for leadership of kube-system/kube-controller-manager)");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
    Ok(())
}
