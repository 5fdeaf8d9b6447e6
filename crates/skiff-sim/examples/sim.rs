//! The simulation as a standalone program, for trying it against a cluster:
//!
//! ```text
//! cargo run -p skiff-sim --example sim -- --kubeconfig /tmp/skiff/kubeconfig.yaml --nodes 10
//! ```

use clap::Parser;

/// Simulated nodes (the flags of `skiff sim`).
#[derive(Debug, Parser)]
#[command(name = "skiff-sim")]
struct Cli {
    #[command(flatten)]
    sim: skiff_sim::SimArgs,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = skiff_sim::run(cli.sim).await {
        eprintln!("skiff-sim: {e:#}");
        std::process::exit(1);
    }
}
