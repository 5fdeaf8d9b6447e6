//! Test harness: starts the real `skiff` binary on a free port with a temporary data dir and
//! drives the real kubectl (`/usr/bin/kubectl`, or `$KUBECTL`) against it.
#![allow(dead_code)]

pub mod pods;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A running `skiff server`.
pub struct Server {
    child: Option<Child>,
    /// The data directory (kept across restarts).
    pub dir: tempfile::TempDir,
    /// The admin kubeconfig it wrote.
    pub kubeconfig: PathBuf,
    /// Captured stderr of the server.
    pub log: PathBuf,
    /// Whether the server runs its embedded node agent (by default tests pass
    /// `--disable-agent`: a control plane only).
    pub embedded_agent: bool,
    /// The pod bridge of its agent, removed on drop.
    pub bridge: Option<String>,
    /// The etcd this server keeps its state in, when the tests run on etcd
    /// (`SKIFF_TEST_DATASTORE=etcd`): started for the server, stopped with it.
    pub etcd: Option<skiff_store_etcd::testing::EtcdCluster>,
}

/// Whether tests run their servers on etcd (`SKIFF_TEST_DATASTORE=etcd`, what the second pass
/// of `scripts/test.sh` sets) instead of the embedded store.
pub fn on_etcd() -> bool {
    std::env::var("SKIFF_TEST_DATASTORE").as_deref() == Ok("etcd")
}

pub fn kubectl_bin() -> String {
    std::env::var("KUBECTL").unwrap_or_else(|_| "/usr/bin/kubectl".into())
}

impl Server {
    /// Starts a server in a fresh data dir.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server in a fresh data dir with extra flags.
    pub fn start_with(extra: &[&str]) -> Self {
        Self::start_in(extra, false)
    }

    /// Starts a server that is also a node (its embedded agent runs, with a free kubelet
    /// port), with extra flags.
    pub fn start_with_agent(extra: &[&str]) -> Self {
        Self::start_in(extra, true)
    }

    /// Starts a second server of `first`'s cluster (both on one etcd, `extra` names it): a
    /// fresh data dir holding copies of `first`'s certificates, keys and node token.
    pub fn start_sharing(first: &Server, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let tls = dir.path().join("tls");
        std::fs::create_dir_all(&tls).expect("tls dir");
        for entry in std::fs::read_dir(first.dir.path().join("tls")).expect("first tls dir") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), tls.join(entry.file_name())).expect("copy");
        }
        std::fs::copy(
            first.dir.path().join("node-token"),
            dir.path().join("node-token"),
        )
        .expect("copy node-token");
        let mut s = Server {
            child: None,
            kubeconfig: dir.path().join("kubeconfig.yaml"),
            log: dir.path().join("server.log"),
            dir,
            embedded_agent: false,
            bridge: None,
            etcd: None,
        };
        s.launch(extra);
        s
    }

    fn start_in(extra: &[&str], embedded_agent: bool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Server {
            child: None,
            kubeconfig: dir.path().join("kubeconfig.yaml"),
            log: dir.path().join("server.log"),
            dir,
            embedded_agent,
            bridge: None,
            etcd: (on_etcd() && !extra.contains(&"--datastore"))
                .then(|| skiff_store_etcd::testing::EtcdCluster::start(1)),
        };
        s.launch(extra);
        s
    }

    /// Starts (again) on the same data dir with extra flags.
    pub fn launch(&mut self, extra: &[&str]) {
        let _ = std::fs::remove_file(&self.kubeconfig);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_skiff"))
            .args([
                "server",
                "--bind-address",
                "127.0.0.1",
                "--secure-port",
                "0",
                "--data-dir",
            ])
            .arg(self.dir.path())
            .args(if self.embedded_agent {
                &["--kubelet-port", "0", "--node-status-update-frequency", "1"][..]
            } else {
                &["--disable-agent"][..]
            })
            .args(extra)
            .args(
                self.etcd
                    .as_ref()
                    .map(|e| vec!["--datastore".to_string(), e.datastore_url()])
                    .unwrap_or_default(),
            )
            .env("SKIFF_WATCH_BOOKMARK_INTERVAL_MS", "500")
            .env("SKIFF_LOG", "info,skiff_apiserver=debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn skiff");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.kubeconfig.exists() {
                let out = self.kubectl(&["get", "--raw", "/readyz"]);
                if out.status.success() {
                    if let Some(e) = &self.etcd {
                        let line = format!("state in etcd at {}", e.endpoints().join(","));
                        assert!(self.logs().contains(&line), "not on etcd: {}", self.logs());
                    }
                    return;
                }
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!("skiff server exited with {status}: {}", self.logs());
                }
            }
            assert!(
                Instant::now() < deadline,
                "server not ready in 30s: {}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's log so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the server with SIGKILL (no chance to flush or close anything) and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server with SIGTERM and waits for it; returns its exit status.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(s)) = child.try_wait() {
                return Some(s);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return child.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs kubectl with the admin kubeconfig.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_cmd(args).output().expect("run kubectl")
    }

    /// A kubectl command ready to run (for stdin, env, background).
    pub fn kubectl_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(kubectl_bin());
        // A discovery cache per server: ports are reused across tests.
        c.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir.path().join("kubectl-cache"))
            .args(args);
        c
    }

    /// Runs kubectl, asserts success, returns stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs kubectl, asserts failure, returns stderr.
    #[track_caller]
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} should have failed:\nstdout: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `kubectl apply -f -` (or any command reading stdin) with `input`.
    #[track_caller]
    pub fn with_stdin(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .kubectl_cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kubectl");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("kubectl output")
    }

    /// Like [`Server::with_stdin`] but asserts success and returns stdout.
    #[track_caller]
    pub fn apply_ok(&self, args: &[&str], input: &str) -> String {
        let out = self.with_stdin(args, input);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A kube-rs client for this server.
    pub async fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig).expect("kubeconfig");
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .expect("config");
        kube::Client::try_from(cfg).expect("client")
    }

    /// Path of the data dir.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.embedded_agent {
            // A test that failed half-way leaves pods: force-delete them so the agent removes
            // their sandboxes (as orphans) before it stops; no container outlives the test.
            if self.child.is_some() {
                let _ = self.kubectl(&[
                    "delete",
                    "pods",
                    "--all",
                    "-A",
                    "--force",
                    "--grace-period=0",
                    "--wait=false",
                ]);
                let socket = self.dir.path().join("agent/containerd/containerd.sock");
                let deadline = Instant::now() + Duration::from_secs(15);
                while pods::sandbox_count(&socket).unwrap_or(0) > 0 && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
            // SIGTERM: the embedded agent stops its containerd; never leave one behind.
            self.stop();
            let pid_file = self.dir.path().join("agent/containerd/containerd.pid");
            let pid = std::fs::read_to_string(pid_file)
                .ok()
                .and_then(|p| p.trim().parse::<u32>().ok());
            if let Some(pid) = pid.filter(|p| alive(*p)) {
                signal(pid, "KILL");
            }
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(b) = &self.bridge {
            let _ = Command::new("ip").args(["link", "del", b]).status();
        }
    }
}

/// Parses JSON output.
pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// A file under `tests/fixtures/`.
pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Polls `f` until it holds, failing the test after 40 s.
#[track_caller]
pub fn eventually(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(40);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A running `skiff sim` against a [`Server`]: simulated nodes whose pods turn Running.
pub struct Sim {
    child: Child,
}

impl Server {
    /// Starts `skiff sim --nodes <nodes>` with extra flags, and waits until its nodes are
    /// registered and Ready.
    pub fn sim(&self, nodes: usize, extra: &[&str]) -> Sim {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("sim.log"))
            .expect("sim log");
        let child = Command::new(env!("CARGO_BIN_EXE_skiff"))
            .args(["sim", "--nodes", &nodes.to_string(), "--kubeconfig"])
            .arg(&self.kubeconfig)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start skiff sim");
        let sim = Sim { child };
        eventually(&format!("{nodes} simulated nodes Ready"), || {
            let out = self.kubectl(&[
                "get",
                "nodes",
                "-l",
                "type=skiff-sim",
                "-o",
                "jsonpath={range .items[*]}{.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
            ]);
            let text = String::from_utf8_lossy(&out.stdout);
            text.lines().filter(|l| *l == "True").count() >= nodes
        });
        sim
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `skiff agent` against a [`Server`], with its own containerd under
/// `<server data dir>/agent-<name>`.
pub struct Agent {
    child: Option<Child>,
    /// How it reaches the server: `--kubeconfig …` or `--server … --token-file …`.
    auth: Vec<std::ffi::OsString>,
    /// Extra flags, reused by every launch.
    extra: Vec<String>,
    /// The node name.
    pub name: String,
    /// The agent's data dir.
    pub data_dir: PathBuf,
    /// Captured stderr.
    pub log: PathBuf,
}

impl Server {
    /// Starts `skiff agent --node-name <name> --kubeconfig <admin>` (status every second).
    pub fn agent(&self, name: &str, extra: &[&str]) -> Agent {
        self.agent_as(
            name,
            vec!["--kubeconfig".into(), self.kubeconfig.clone().into()],
            extra,
        )
    }

    /// Starts an agent that joins with `--server <url> --token-file <data-dir>/node-token`.
    pub fn joined_agent(&self, name: &str, extra: &[&str]) -> Agent {
        let auth = vec![
            "--server".into(),
            self.url().into(),
            "--token-file".into(),
            self.dir.path().join("node-token").into(),
        ];
        self.agent_as(name, auth, extra)
    }

    fn agent_as(&self, name: &str, auth: Vec<std::ffi::OsString>, extra: &[&str]) -> Agent {
        let mut a = Agent {
            child: None,
            auth,
            extra: extra.iter().map(|e| e.to_string()).collect(),
            name: name.into(),
            data_dir: self.dir.path().join(format!("agent-{name}")),
            log: self.dir.path().join(format!("agent-{name}.log")),
        };
        a.launch();
        a
    }

    /// The API server's URL (from the kubeconfig it wrote).
    pub fn url(&self) -> String {
        let kc = std::fs::read_to_string(&self.kubeconfig).expect("kubeconfig");
        kc.lines()
            .find_map(|l| l.trim().strip_prefix("server:"))
            .map(|s| s.trim().trim_matches('"').to_string())
            .expect("server: in the kubeconfig")
    }
}

impl Agent {
    /// Starts (again) on the same data dir with the same flags.
    pub fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("agent log");
        let child = Command::new(env!("CARGO_BIN_EXE_skiff"))
            .args(["agent", "--node-name", &self.name])
            .args(&self.auth)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--node-status-update-frequency", "1", "--kubelet-port", "0"])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start skiff agent");
        self.child = Some(child);
    }

    /// The agent's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// The pid of the agent's containerd (from its pid file).
    pub fn containerd_pid(&self) -> Option<u32> {
        let f = self.data_dir.join("agent/containerd/containerd.pid");
        std::fs::read_to_string(f).ok()?.trim().parse().ok()
    }

    /// Kills the agent with SIGKILL (its containerd keeps running).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the agent with SIGTERM and waits for it (it stops its containerd).
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        signal(c.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = c.kill();
        c.wait().ok()
    }

    /// The agent's log so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Sends a signal with kill(1).
pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status();
}

/// Whether a process exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
    })
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.terminate();
        // Never leave a containerd behind, even if the agent did not stop it.
        if let Some(pid) = self.containerd_pid().filter(|p| alive(*p)) {
            signal(pid, "KILL");
        }
    }
}
