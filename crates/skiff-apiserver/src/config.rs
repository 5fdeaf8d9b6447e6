//! Settings of one API server process.

use std::net::IpAddr;
use std::path::PathBuf;

/// Everything the API server needs to start.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Data directory (certificates, kubeconfig, store).
    pub data_dir: PathBuf,
    /// Address to listen on.
    pub bind_address: IpAddr,
    /// HTTPS port (0 picks a free one).
    pub secure_port: u16,
    /// Extra subject alternative names of the serving certificate.
    pub tls_sans: Vec<String>,
    /// Service ClusterIP range, e.g. `10.43.0.0/16`.
    pub service_cidr: String,
    /// Extra path to write the admin kubeconfig to.
    pub write_kubeconfig: Option<PathBuf>,
    /// How often history older than one interval is compacted (zero: never).
    pub compaction_interval: std::time::Duration,
    /// tolerationSeconds the DefaultTolerationSeconds admission gives new pods.
    pub default_tolerations: crate::admission::DefaultTolerationSeconds,
    /// Where cluster state lives.
    pub datastore: Datastore,
}

/// The store behind the API server.
#[derive(Clone, Debug, Default)]
pub enum Datastore {
    /// The embedded durable store in `<data-dir>/db/state.redb`.
    #[default]
    Embedded,
    /// An etcd cluster (kube-apiserver's key layout, etcd revisions as resourceVersions).
    Etcd(skiff_store_etcd::EtcdOptions),
}

impl ServerConfig {
    /// `<data-dir>/tls`
    pub fn tls_dir(&self) -> PathBuf {
        self.data_dir.join("tls")
    }
    /// `<data-dir>/db/state.redb`
    pub fn store_path(&self) -> PathBuf {
        self.data_dir.join("db").join("state.redb")
    }
    /// `<data-dir>/kubeconfig.yaml`
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.data_dir.join("kubeconfig.yaml")
    }
    /// `<data-dir>/node-token`: what `skiff agent --token-file` reads to join.
    pub fn node_token_path(&self) -> PathBuf {
        self.data_dir.join("node-token")
    }
}
