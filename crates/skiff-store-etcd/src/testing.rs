//! Real etcd members for tests and benchmarks: an N-member cluster on free loopback ports in a
//! temporary directory, whose members can be killed (`SIGKILL`) and restarted on their data.
//! The binary is `$ETCD_BIN` or `etcd` on the PATH (Debian: `apt-get install etcd-server`).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Member {
    name: String,
    client: u16,
    peer: u16,
    child: Option<Child>,
}

/// A running etcd cluster, stopped (and its data removed) on drop.
pub struct EtcdCluster {
    members: Vec<Member>,
    dir: tempfile::TempDir,
    /// With TLS: the CA, and the client certificate and key, members require.
    tls: Option<crate::TlsFiles>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn binary() -> String {
    std::env::var("ETCD_BIN").unwrap_or_else(|_| "etcd".into())
}

impl EtcdCluster {
    /// Starts `n` members and waits until each accepts client connections.
    pub fn start(n: usize) -> Self {
        Self::start_with(n, false)
    }

    /// Starts `n` members that serve clients over TLS only and require a client certificate
    /// signed by their CA ([`EtcdCluster::tls`] names the files a client needs).
    pub fn start_tls(n: usize) -> Self {
        Self::start_with(n, true)
    }

    fn start_with(n: usize, tls: bool) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let members: Vec<Member> = (0..n)
            .map(|i| Member {
                name: format!("m{i}"),
                client: free_port(),
                peer: free_port(),
                child: None,
            })
            .collect();
        let tls = tls.then(|| write_certificates(dir.path()));
        let mut cluster = EtcdCluster { members, dir, tls };
        for i in 0..n {
            cluster.launch(i, "new");
        }
        for i in 0..n {
            cluster.wait_ready(i);
        }
        cluster
    }

    fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn data_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(&self.members[i].name)
    }

    fn launch(&mut self, i: usize, state: &str) {
        let initial = self.initial_cluster();
        let data = self.data_dir(i);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(
                self.dir
                    .path()
                    .join(format!("{}.log", self.members[i].name)),
            )
            .expect("etcd log file");
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let certs = self.dir.path().join("certs");
        let m = &mut self.members[i];
        let client = format!("{scheme}://127.0.0.1:{}", m.client);
        let mut tls_args: Vec<std::ffi::OsString> = Vec::new();
        if scheme == "https" {
            for (flag, file) in [
                ("--cert-file", "server.crt"),
                ("--key-file", "server.key"),
                ("--trusted-ca-file", "ca.crt"),
            ] {
                tls_args.push(flag.into());
                tls_args.push(certs.join(file).into());
            }
            tls_args.push("--client-cert-auth".into());
        }
        let peer = format!("http://127.0.0.1:{}", m.peer);
        let child = Command::new(binary())
            .args(["--name", &m.name])
            .arg("--data-dir")
            .arg(&data)
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &initial])
            .args(["--initial-cluster-state", state])
            .args(["--initial-cluster-token", "skiff-test"])
            .args(["--logger", "zap", "--log-level", "warn"])
            .args(&tls_args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}): install etcd (apt-get install etcd-server) or set ETCD_BIN",
                    binary()
                )
            });
        m.child = Some(child);
    }

    fn wait_ready(&mut self, i: usize) {
        let addr: SocketAddr = format!("127.0.0.1:{}", self.members[i].client)
            .parse()
            .expect("address");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(Ok(Some(status))) = self.members[i].child.as_mut().map(|c| c.try_wait()) {
                panic!("etcd member {} exited with {status}: {}", i, self.log(i));
            }
            assert!(
                Instant::now() < deadline,
                "etcd member {i} not listening in 30 s: {}",
                self.log(i)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The log of member `i` so far.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(
            self.dir
                .path()
                .join(format!("{}.log", self.members[i].name)),
        )
        .unwrap_or_default()
    }

    /// The members' client URLs.
    pub fn endpoints(&self) -> Vec<String> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        self.members
            .iter()
            .map(|m| format!("{scheme}://127.0.0.1:{}", m.client))
            .collect()
    }

    /// The CA and client certificate files of a TLS cluster.
    pub fn tls(&self) -> Option<&crate::TlsFiles> {
        self.tls.as_ref()
    }

    /// The `--datastore` value of `skiff server` for this cluster.
    pub fn datastore_url(&self) -> String {
        let hosts: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.client))
            .collect();
        format!("etcd://{}", hosts.join(","))
    }

    /// The process id of member `i`, if it runs.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.members[i].child.as_ref().map(Child::id)
    }

    /// Kills member `i` with SIGKILL (no chance to flush anything).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts member `i` again on its data and waits until it listens.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.launch(i, "existing");
        self.wait_ready(i);
    }
}

/// Writes a CA, a server certificate for 127.0.0.1/localhost and a client certificate under
/// `dir/certs`; returns the client's files.
fn write_certificates(dir: &std::path::Path) -> crate::TlsFiles {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).expect("certs dir");
    let ca_key = KeyPair::generate().expect("key");
    let mut ca = CertificateParams::default();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).expect("CA");
    let issuer = Issuer::new(ca, ca_key);
    let leaf = |name: &str| {
        let key = KeyPair::generate().expect("key");
        let mut p = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        p.subject_alt_names
            .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
        p.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = p.signed_by(&key, &issuer).expect("certificate");
        std::fs::write(certs.join(format!("{name}.crt")), cert.pem()).expect("write");
        std::fs::write(certs.join(format!("{name}.key")), key.serialize_pem()).expect("write");
    };
    std::fs::write(certs.join("ca.crt"), ca_cert.pem()).expect("write");
    leaf("server");
    leaf("client");
    crate::TlsFiles {
        ca: Some(certs.join("ca.crt")),
        cert: Some(certs.join("client.crt")),
        key: Some(certs.join("client.key")),
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}
