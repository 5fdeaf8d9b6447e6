//! The agent's own containerd: generated config, start, readiness, restart, stop.
//!
//! With no `--container-runtime-endpoint` the agent runs containerd itself, like k3s: it writes
//! [`config::render`] under the data dir, starts `containerd --config …`, waits until CRI
//! answers, restarts it (with back-off) if it dies, and stops it on shutdown. A containerd left
//! running by a previous agent (its pid file names a live containerd with our config) is adopted
//! rather than started twice: the pods it runs survive an agent restart.

pub mod config;

use crate::cri::Cri;
use config::Layout;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::sync::watch;

/// How long containerd gets to answer CRI after a start.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long containerd gets to exit after SIGTERM before SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Why containerd could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ContainerdError {
    /// Preparing its files failed.
    #[error("preparing containerd's files under {path}: {source}")]
    Files {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The binary could not be run.
    #[error("cannot run {binary}: {source} (install containerd, e.g. `apt-get install containerd runc`, or pass --container-runtime-endpoint)")]
    Spawn {
        /// The binary.
        binary: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It exited or did not answer CRI in time.
    #[error("containerd did not become ready: {reason}; its log is {log}:\n{tail}")]
    NotReady {
        /// What happened.
        reason: String,
        /// The log file.
        log: PathBuf,
        /// The last lines of the log.
        tail: String,
    },
}

/// A containerd the agent runs (or adopted).
pub struct Containerd {
    layout: Layout,
    binary: PathBuf,
    process: Process,
}

enum Process {
    Child(tokio::process::Child),
    Adopted(i32),
}

impl Process {
    fn pid(&self) -> Option<i32> {
        match self {
            Process::Child(c) => c.id().and_then(|p| i32::try_from(p).ok()),
            Process::Adopted(p) => Some(*p),
        }
    }
}

impl Containerd {
    /// Writes the config, then adopts a live containerd of a previous run or starts one, and
    /// waits until CRI answers.
    pub async fn start(layout: Layout, binary: PathBuf) -> Result<Self, ContainerdError> {
        prepare(&layout)?;
        if let Some(pid) = adoptable(&layout) {
            if wait_cri(&layout.socket, Duration::from_secs(5), || alive(pid))
                .await
                .is_ok()
            {
                tracing::info!(pid, socket = %layout.socket.display(), "adopted the running containerd");
                return Ok(Containerd {
                    layout,
                    binary,
                    process: Process::Adopted(pid),
                });
            }
        }
        let process = spawn(&layout, &binary).await?;
        Ok(Containerd {
            layout,
            binary,
            process,
        })
    }

    /// The CRI socket.
    pub fn socket(&self) -> &Path {
        &self.layout.socket
    }

    /// containerd's pid.
    pub fn pid(&self) -> Option<i32> {
        self.process.pid()
    }

    /// Keeps containerd running until `stop` turns true, then stops it. A containerd that
    /// exits is started again after a back-off (1 s doubling to 30 s, reset after a minute up).
    pub async fn supervise(mut self, mut stop: watch::Receiver<bool>) {
        let mut backoff = Duration::from_secs(1);
        loop {
            let started = tokio::time::Instant::now();
            let exited = tokio::select! {
                status = exit_of(&mut self.process) => status,
                _ = crate::stopped(&mut stop) => {
                    self.stop().await;
                    return;
                }
            };
            tracing::warn!(status = %exited, log = %self.layout.log.display(), "containerd exited; restarting it");
            if started.elapsed() > Duration::from_secs(60) {
                backoff = Duration::from_secs(1);
            }
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = crate::stopped(&mut stop) => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
                match spawn(&self.layout, &self.binary).await {
                    Ok(p) => {
                        self.process = p;
                        tracing::info!(pid = ?self.process.pid(), "containerd restarted");
                        break;
                    }
                    Err(e) => tracing::error!(error = %e, "restarting containerd failed"),
                }
            }
        }
    }

    /// SIGTERM, then SIGKILL after [`STOP_TIMEOUT`]. Containers keep running (their shims
    /// outlive containerd).
    pub async fn stop(&mut self) {
        let Some(pid) = self.process.pid() else {
            return;
        };
        signal(pid, rustix::process::Signal::TERM);
        let gone = tokio::time::timeout(STOP_TIMEOUT, exit_of(&mut self.process)).await;
        if gone.is_err() {
            tracing::warn!(pid, "containerd ignored SIGTERM; killing it");
            signal(pid, rustix::process::Signal::KILL);
            let _ = exit_of(&mut self.process).await;
        }
        let _ = std::fs::remove_file(pid_file(&self.layout));
    }
}

/// Creates the directories and writes the config.
fn prepare(layout: &Layout) -> Result<(), ContainerdError> {
    let files = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ContainerdError::Files { path, source }
    };
    for dir in [&layout.root, &layout.state, &layout.cni_conf_dir] {
        std::fs::create_dir_all(dir).map_err(files(dir))?;
    }
    if let Some(parent) = layout.config.parent() {
        std::fs::create_dir_all(parent).map_err(files(parent))?;
    }
    std::fs::write(&layout.config, config::render(layout)).map_err(files(&layout.config))
}

fn pid_file(layout: &Layout) -> PathBuf {
    layout.config.with_file_name("containerd.pid")
}

/// The pid of a live containerd started with our config by an earlier agent, if any.
fn adoptable(layout: &Layout) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pid_file(layout))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let ours = args.first().is_some_and(|a| a.ends_with(b"containerd"))
        && args
            .iter()
            .any(|a| *a == layout.config.as_os_str().as_encoded_bytes());
    ours.then_some(pid)
}

/// Whether `pid` exists and is not a zombie (its `/proc` stat is readable, state not `Z`).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
    })
}

fn signal(pid: i32, sig: rustix::process::Signal) {
    if let Some(p) = rustix::process::Pid::from_raw(pid) {
        let _ = rustix::process::kill_process(p, sig);
    }
}

/// Waits for the process to exit and describes how it did.
async fn exit_of(p: &mut Process) -> String {
    match p {
        Process::Child(c) => match c.wait().await {
            Ok(s) => s.to_string(),
            Err(e) => format!("unknown ({e})"),
        },
        Process::Adopted(pid) => {
            while alive(*pid) {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            "exited (adopted process)".into()
        }
    }
}

/// Starts containerd and waits until CRI answers.
async fn spawn(layout: &Layout, binary: &Path) -> Result<Process, ContainerdError> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&layout.log)
        .map_err(|source| ContainerdError::Files {
            path: layout.log.clone(),
            source,
        })?;
    let err_log = log.try_clone().map_err(|source| ContainerdError::Files {
        path: layout.log.clone(),
        source,
    })?;
    // A socket left by a dead containerd would make the new one fail to listen.
    let _ = std::fs::remove_file(&layout.socket);
    let mut child = tokio::process::Command::new(binary)
        .arg("--config")
        .arg(&layout.config)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err_log)
        // Its own process group: a Ctrl-C meant for the agent must not kill it mid-shutdown.
        .process_group(0)
        .spawn()
        .map_err(|source| ContainerdError::Spawn {
            binary: binary.to_path_buf(),
            source,
        })?;
    if let Some(pid) = child.id() {
        let _ = std::fs::write(pid_file(layout), format!("{pid}\n"));
    }
    let pid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
    match wait_cri(&layout.socket, READY_TIMEOUT, || alive(pid)).await {
        Ok(()) => {
            tracing::info!(pid, socket = %layout.socket.display(), "containerd is ready");
            Ok(Process::Child(child))
        }
        Err(reason) => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            Err(ContainerdError::NotReady {
                reason,
                log: layout.log.clone(),
                tail: tail(&layout.log, 15),
            })
        }
    }
}

/// Polls CRI `Version` on `socket` until it answers, `timeout` passes or `alive` says no.
async fn wait_cri(
    socket: &Path,
    timeout: Duration,
    alive: impl Fn() -> bool,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = String::from("no answer yet");
    loop {
        if !alive() {
            return Err("it exited".into());
        }
        if socket.exists() {
            match Cri::connect(socket).await {
                Ok(mut cri) => match cri.version().await {
                    Ok(_) => return Ok(()),
                    Err(e) => last = e.to_string(),
                },
                Err(e) => last = e.to_string(),
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("no CRI answer within {timeout:?} ({last})"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last `n` lines of a file (for error messages).
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
