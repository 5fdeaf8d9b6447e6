//! The node agent: the kubelet's job in Skiff.
//!
//! Layers, each its own module:
//! - [`cgroups`]: mounts the cgroup v1 hierarchies the runtimes need on hybrid hosts;
//! - [`containerd`]: runs the agent's own containerd (generated config, readiness, restarts);
//! - [`cri`]: the CRI v1 client over a unix socket;
//! - [`cni`]: the pod network config (bridge + host-local on the node's pod CIDR);
//! - [`events`]: the kubelet's pod events;
//! - [`hooks`]: the containers' postStart and preStop hooks;
//! - [`images`]: the pause image built from busybox, archive import, listing;
//! - [`join`]: a client from a join token (CA pinned by hash, bearer secret);
//! - [`machine`]: facts read from the host (CPU, memory, disk, kernel, OS);
//! - [`podsync`]: PURE — a pod's spec against its sandbox and containers → runtime ops and
//!   the pod status;
//! - [`node`]: PURE — the Node object, its conditions and its Lease from those facts;
//! - [`pods`]: the driver that runs the pods bound to the node through CRI;
//! - [`prober`]: runs the containers' probes (exec, HTTP, TCP, [`grpc_health`]);
//! - [`register`]: the driver that registers the Node and keeps its status and Lease fresh;
//! - [`volumes`]: sets up and removes the pods' volumes;
//! - [`server`]: the HTTPS endpoint the API server forwards logs, exec, attach and
//!   port-forward to;
//! - [`tokens`]: bound service-account tokens for the pods' projected volumes.

pub mod cgroups;
pub mod cni;
pub mod containerd;
pub mod cri;
pub mod events;
pub mod grpc_health;
pub mod hooks;
mod http_get;
pub mod images;
pub mod join;
pub mod machine;
pub mod node;
pub mod pods;
pub mod podsync;
pub mod prober;
pub mod register;
mod run;
pub mod server;
pub mod tokens;
pub mod volumes;

pub use run::{run, AgentArgs, NodeOptions};

/// Resolves once `stop` is true (or its sender is gone). The watch guard stays inside, so the
/// caller's future remains `Send`.
pub(crate) async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
