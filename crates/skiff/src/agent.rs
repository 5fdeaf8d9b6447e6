//! `skiff agent`: the node agent, wired to an API client and to signals.

use anyhow::Result;

/// Runs the agent until SIGTERM or SIGINT (or until it fails to start its runtime).
pub async fn run(args: skiff_agent::AgentArgs) -> Result<()> {
    let client = match (&args.server, args.join_token()?) {
        (Some(server), Some(token)) => skiff_agent::join::client(server, &token).await?,
        _ => crate::controllers::client_or_default(&args.kubeconfig).await?,
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut task =
        tokio::spawn(
            async move { skiff_agent::run(client, &args.data_dir, args.node, stop_rx).await },
        );
    tokio::select! {
        done = &mut task => return done?,
        signalled = crate::controllers::until_signal() => signalled?,
    }
    eprintln!("skiff agent: stopping");
    let _ = stop_tx.send(true);
    task.await?
}
