//! The CRI v1 client: the runtime and image services of one endpoint, over a unix socket.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let mut cri = skiff_agent::cri::Cri::connect("/run/containerd/containerd.sock".as_ref()).await?;
//! let v = cri.version().await?;
//! println!("{}", v.container_runtime_version()); // containerd://1.6.20~ds1
//! # Ok(()) }
//! ```

use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{StatusRequest, VersionRequest};
use std::path::{Path, PathBuf};
use tonic::transport::{Channel, Endpoint, Uri};

/// A CRI error: the endpoint cannot be reached, or a call failed.
#[derive(Debug, thiserror::Error)]
pub enum CriError {
    /// No connection to the socket.
    #[error("cannot connect to the container runtime at {path}: {source}")]
    Connect {
        /// The socket.
        path: PathBuf,
        /// Why.
        source: tonic::transport::Error,
    },
    /// A call returned an error status.
    #[error("container runtime: {0}")]
    Call(#[from] tonic::Status),
}

/// The runtime's name and version as CRI reports them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeVersion {
    /// e.g. `containerd`.
    pub name: String,
    /// e.g. `1.6.20~ds1`.
    pub version: String,
    /// The CRI API version, e.g. `v1`.
    pub api_version: String,
}

impl RuntimeVersion {
    /// What the kubelet writes into `nodeInfo.containerRuntimeVersion`: `name://version`.
    pub fn container_runtime_version(&self) -> String {
        format!("{}://{}", self.name, self.version)
    }
}

/// The runtime's readiness conditions (CRI `Status`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuntimeStatus {
    /// `RuntimeReady` (false if absent).
    pub runtime_ready: Condition,
    /// `NetworkReady` (false if absent).
    pub network_ready: Condition,
}

/// One CRI runtime condition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Condition {
    /// Whether it holds.
    pub status: bool,
    /// Machine-readable reason when it does not.
    pub reason: String,
    /// Human-readable message when it does not.
    pub message: String,
}

/// Clients of the runtime and image services on one channel.
#[derive(Clone, Debug)]
pub struct Cri {
    /// The RuntimeService (sandboxes, containers, exec, …).
    pub runtime: RuntimeServiceClient<Channel>,
    /// The ImageService (pull, list, remove).
    pub images: ImageServiceClient<Channel>,
}

impl Cri {
    /// Connects to the CRI endpoint at `socket` (a unix socket path).
    pub async fn connect(socket: &Path) -> Result<Self, CriError> {
        let path = socket.to_path_buf();
        let for_connector = path.clone();
        // The URI is required by tonic but unused: the connector always dials the socket.
        let channel = Endpoint::from_static("http://cri.local")
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let p = for_connector.clone();
                async move {
                    Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(p).await?))
                }
            }))
            .await
            .map_err(|source| CriError::Connect { path, source })?;
        Ok(Cri {
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
        })
    }

    /// CRI `Version`.
    pub async fn version(&mut self) -> Result<RuntimeVersion, CriError> {
        let v = self
            .runtime
            .version(VersionRequest {
                version: "v1".into(),
            })
            .await?
            .into_inner();
        Ok(RuntimeVersion {
            name: v.runtime_name,
            version: v.runtime_version,
            api_version: v.runtime_api_version,
        })
    }

    /// CRI `Status`: whether the runtime and its network are ready.
    pub async fn status(&mut self) -> Result<RuntimeStatus, CriError> {
        let s = self
            .runtime
            .status(StatusRequest { verbose: false })
            .await?
            .into_inner();
        let mut out = RuntimeStatus::default();
        for c in s.status.map(|s| s.conditions).unwrap_or_default() {
            let cond = Condition {
                status: c.status,
                reason: c.reason,
                message: c.message,
            };
            match c.r#type.as_str() {
                "RuntimeReady" => out.runtime_ready = cond,
                "NetworkReady" => out.network_ready = cond,
                _ => {}
            }
        }
        Ok(out)
    }
}
