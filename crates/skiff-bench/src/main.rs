//! `skiff-bench`: starts a real `skiff server` in a temporary data dir and measures it from the
//! outside with the kube crate, like any client would. Figures go to stdout and, with
//! `--write FILE`, into the marked section of BENCHMARKS.md.

mod apiserver;
mod measure;
mod pods;
mod scale;
mod scale_scheduler;
mod store;

use clap::Parser;
use std::path::PathBuf;

/// Benchmarks a real `skiff server`.
#[derive(Debug, Parser)]
#[command(name = "skiff-bench")]
pub struct Args {
    /// The skiff binary to run (build it with `cargo build --release -p skiff`).
    #[arg(long, default_value = "target/release/skiff")]
    pub skiff: PathBuf,
    /// Number of objects created and listed.
    #[arg(long, default_value_t = 10_000)]
    pub objects: usize,
    /// Concurrent clients for the create phase.
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// Concurrent watchers for the watch-latency phase.
    #[arg(long, default_value_t = 100)]
    pub watchers: usize,
    /// Which benchmark: `apiserver` (issue 2), `scale` (scheduling with simulated nodes, then
    /// the scheduler alone on pending pods), `scheduler` (only that second phase; nothing is
    /// written),
    /// `pods` (the node agent with a real containerd; needs root) or `store` (etcd and the
    /// embedded store side by side; needs etcd).
    #[arg(long, default_value = "apiserver")]
    pub suite: String,
    /// `scale`: simulated nodes.
    #[arg(long, default_value_t = 1_000)]
    pub nodes: usize,
    /// `scale`: pods (rounded up to Deployments of 100 replicas).
    #[arg(long, default_value_t = 30_000)]
    pub pods: usize,
    /// `store`: updates applied to 1,000 objects of the embedded store while its file size is
    /// sampled.
    #[arg(long, default_value_t = 1_000_000)]
    pub updates: usize,
    /// `pods`: after the other measures, churn pods on the node for this many minutes (waves
    /// of 30 pods created, Running, deleted) and report the agent's RSS after each wave, to
    /// show whether its memory stays flat. 0 skips the churn.
    #[arg(long, default_value_t = 0)]
    pub churn_minutes: u64,
    /// Replace the section between the `<!-- bench:<suite> -->` markers of this file (for
    /// `scale`, the section is `scale-<nodes>`).
    #[arg(long, value_name = "FILE")]
    pub write: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let (result, section) = match args.suite.as_str() {
        "apiserver" => (apiserver::run(&args).await, "apiserver".to_string()),
        "scale" => {
            let report = match scale::run(&args).await {
                Ok(table) => scale_scheduler::run(&args).await.map(|rows| table + &rows),
                Err(e) => Err(e),
            };
            (report, format!("scale-{}", args.nodes))
        }
        // The second phase of `scale` alone, for working on the scheduler; writes no section.
        "scheduler" => (scale_scheduler::run(&args).await, String::new()),
        "pods" => (pods::run(&args).await, "pods".to_string()),
        "store" => (store::run(&args).await, "store".to_string()),
        other => {
            eprintln!(
                "skiff-bench: unknown --suite {other:?} (use apiserver, scale, scheduler, pods or store)"
            );
            std::process::exit(2);
        }
    };
    match result {
        Ok(report) => {
            println!("{report}");
            if let Some(path) = args.write.as_ref().filter(|_| !section.is_empty()) {
                if let Err(e) = measure::write_section(path, &section, &report) {
                    eprintln!("skiff-bench: cannot update {}: {e}", path.display());
                    std::process::exit(1);
                }
                eprintln!("skiff-bench: wrote the figures to {}", path.display());
            }
        }
        Err(e) => {
            eprintln!("skiff-bench: {e:#}");
            std::process::exit(1);
        }
    }
}
