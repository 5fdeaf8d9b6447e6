//! `skiff images`: list and import images of a node's containerd.

use super::{import, list, table};
use crate::containerd::config::Layout;
use crate::cri::Cri;
use std::path::PathBuf;

/// Flags of `skiff images`.
#[derive(Clone, Debug, clap::Args)]
pub struct ImagesArgs {
    /// The agent's data dir: its containerd socket is `<data-dir>/agent/containerd/containerd.sock`.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/var/lib/skiff",
        global = true
    )]
    pub data_dir: PathBuf,
    /// A CRI socket to use instead (a path or `unix:///path`).
    #[arg(long, value_name = "ENDPOINT", global = true)]
    pub container_runtime_endpoint: Option<String>,
    /// containerd's `ctr` binary (used to import).
    #[arg(long, value_name = "PATH", default_value = "ctr", global = true)]
    pub ctr: PathBuf,
    #[command(subcommand)]
    pub command: ImagesCommand,
}

/// What `skiff images` does.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum ImagesCommand {
    /// List the node's images (like `crictl images`).
    Ls,
    /// Import image archives (OCI layout or docker archive tarballs) so pods can use them
    /// without a registry.
    Import {
        /// The archives.
        #[arg(required = true, value_name = "FILE.tar")]
        files: Vec<PathBuf>,
    },
}

impl ImagesArgs {
    fn socket(&self) -> PathBuf {
        match &self.container_runtime_endpoint {
            Some(e) => PathBuf::from(e.strip_prefix("unix://").unwrap_or(e)),
            None => Layout::under(&self.data_dir.join("agent")).socket,
        }
    }
}

/// Runs `skiff images …`, printing to stdout.
pub async fn run(args: ImagesArgs) -> anyhow::Result<()> {
    let socket = args.socket();
    if !socket.exists() {
        anyhow::bail!(
            "no container runtime socket at {}: start `skiff agent --data-dir {}` first, or pass --container-runtime-endpoint",
            socket.display(),
            args.data_dir.display()
        );
    }
    match &args.command {
        ImagesCommand::Ls => {
            let mut cri = Cri::connect(&socket).await?;
            print!("{}", table(&list(&mut cri).await?));
        }
        ImagesCommand::Import { files } => {
            for f in files {
                if !f.is_file() {
                    anyhow::bail!("{}: no such file", f.display());
                }
                eprintln!("importing {} …", f.display());
                import(&args.ctr, &socket, f).await?;
                println!("imported {}", f.display());
            }
        }
    }
    Ok(())
}
