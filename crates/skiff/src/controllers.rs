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

/// The CA (PEM) of the current cluster of a kubeconfig (`path`, else $KUBECONFIG, else
/// ~/.kube/config), if it names one.
pub fn kubeconfig_ca(path: Option<&Path>) -> Option<String> {
    use base64::Engine;
    let kc = match path {
        Some(p) => kube::config::Kubeconfig::read_from(p).ok()?,
        None => kube::config::Kubeconfig::read().ok()?,
    };
    let context = kc.current_context.as_deref()?;
    let cluster_name = kc
        .contexts
        .iter()
        .find(|c| c.name == context)?
        .context
        .as_ref()?
        .cluster
        .clone();
    let cluster = kc
        .clusters
        .iter()
        .find(|c| c.name == cluster_name)?
        .cluster
        .as_ref()?;
    if let Some(data) = &cluster.certificate_authority_data {
        let pem = base64::engine::general_purpose::STANDARD
            .decode(data)
            .ok()?;
        return String::from_utf8(pem).ok();
    }
    std::fs::read_to_string(cluster.certificate_authority.as_ref()?).ok()
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
    let options = args
        .flags
        .options(kubeconfig_ca(args.kubeconfig.as_deref()))?;
    let task = tokio::spawn(skiff_controller_manager::run(client, options, stop_rx));
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
