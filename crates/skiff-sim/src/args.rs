//! The flags of `skiff sim` ([`SimArgs`]) and their translation into [`SimOptions`].

use crate::cidr::Ipv4Cidr;
use crate::options::{self, SimOptions};
use k8s_openapi::api::core::v1::Taint;
use std::path::PathBuf;
use std::time::Duration;

/// Flags of `skiff sim`: register simulated nodes and play their kubelets.
///
/// Every node is `<name-prefix><i>` for i from 0, labelled `type=skiff-sim`, Ready, with a
/// Lease renewed every `--heartbeat-interval`. Pods bound to them turn Running with IPs from the
/// node's pod CIDR. Pod annotations `sim.skiff.dev/complete-after: 5s` and
/// `sim.skiff.dev/fail-after: 5s` end a pod; node annotation `sim.skiff.dev/heartbeat: stop`
/// stops a node's kubelet at runtime.
#[derive(Clone, Debug, clap::Args)]
pub struct SimArgs {
    /// Number of simulated nodes to register (named <name-prefix>0 … <name-prefix>N-1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::cidr::MAX_NODES)))]
    pub nodes: u32,

    /// Kubeconfig of the cluster (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// Prefix of node names.
    #[arg(long, value_name = "PREFIX", default_value = "sim-node-")]
    pub name_prefix: String,

    /// A Node manifest (YAML or JSON) whose labels, taints, status.capacity and
    /// status.allocatable are the base of every node; the flags below add to or override it.
    #[arg(long, value_name = "FILE")]
    pub node_template: Option<PathBuf>,

    /// CPU capacity and allocatable of each node [default: 32, or the template's].
    #[arg(long, value_name = "QUANTITY", value_parser = options::parse_quantity)]
    pub cpu: Option<String>,

    /// Memory capacity and allocatable of each node [default: 256Gi, or the template's].
    #[arg(long, value_name = "QUANTITY", value_parser = options::parse_quantity)]
    pub memory: Option<String>,

    /// Pod capacity of each node [default: 110, or the template's].
    #[arg(long, value_name = "COUNT", value_parser = options::parse_quantity)]
    pub pods: Option<String>,

    /// Extra node label (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = options::parse_label)]
    pub labels: Vec<(String, String)>,

    /// Node taint, `key=value:Effect` or `key:Effect` with Effect one of NoSchedule,
    /// PreferNoSchedule, NoExecute (repeatable).
    #[arg(long = "taint", value_name = "TAINT", value_parser = options::parse_taint)]
    pub taints: Vec<Taint>,

    /// Range the nodes' pod CIDRs come from: node i gets the i-th /24 as spec.podCIDR.
    #[arg(long, value_name = "CIDR", default_value = "10.128.0.0/9")]
    pub pod_cidr: Ipv4Cidr,

    /// Seconds between Lease renewals of each node (renewals are spread over this period).
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub heartbeat_interval: u64,

    /// leaseDurationSeconds of the nodes' Leases.
    #[arg(long, value_name = "SECONDS", default_value_t = 40, value_parser = clap::value_parser!(u64).range(1..=2_147_483_647))]
    pub lease_duration: u64,

    /// A node whose kubelet is dead from the start: registered once (status and Lease written
    /// if the node is new), then it never renews its Lease nor updates its status or pods
    /// (repeatable).
    #[arg(long, value_name = "NAME")]
    pub stop_heartbeat: Vec<String>,

    /// Maximum concurrent API writes.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub max_in_flight: u64,

    /// Delete the sim's nodes (and their Leases) on Ctrl-C or SIGTERM.
    #[arg(long)]
    pub delete_on_exit: bool,
}

impl SimArgs {
    /// Validates the flags together and reads `--node-template`. Errors are one line saying
    /// which flag is wrong.
    pub fn to_options(&self) -> Result<SimOptions, crate::Error> {
        self.options().map_err(crate::Error::Options)
    }

    fn options(&self) -> Result<SimOptions, String> {
        let template = match &self.node_template {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("--node-template {}: {e}", path.display()))?;
                let node = options::parse_template(&text)
                    .map_err(|e| format!("--node-template {}: {}", path.display(), one_line(&e)))?;
                Some(node)
            }
            None => None,
        };
        let (capacity, allocatable) = options::resources(
            template.as_ref(),
            self.cpu.as_deref(),
            self.memory.as_deref(),
            self.pods.as_deref(),
        )?;
        let (mut labels, mut taints) = template
            .as_ref()
            .map(options::template_metadata)
            .unwrap_or_default();
        labels.extend(self.labels.iter().cloned());
        taints.extend(self.taints.iter().cloned());
        let mut opts = SimOptions::new(self.nodes);
        opts.name_prefix.clone_from(&self.name_prefix);
        opts.labels = labels;
        opts.taints = taints;
        opts.capacity = capacity;
        opts.allocatable = allocatable;
        opts.pod_cidr = self.pod_cidr;
        opts.heartbeat_interval = Duration::from_secs(self.heartbeat_interval);
        opts.lease_duration = Duration::from_secs(self.lease_duration);
        opts.stop_heartbeat = self.stop_heartbeat.iter().cloned().collect();
        opts.max_in_flight = usize::try_from(self.max_in_flight).unwrap_or(usize::MAX);
        opts.delete_on_exit = self.delete_on_exit;
        opts.validate()?;
        Ok(opts)
    }
}

/// The first line of a possibly multi-line parser message.
fn one_line(s: &str) -> &str {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or(s).trim()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        sim: SimArgs,
    }

    fn parse(args: &[&str]) -> Result<SimArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("sim").chain(args.iter().copied())).map(|c| c.sim)
    }

    #[test]
    fn defaults_match_the_documentation() {
        let a = parse(&["--nodes", "3"]).unwrap();
        let o = a.to_options().unwrap();
        assert_eq!(o.nodes, 3);
        assert_eq!(o.name_prefix, "sim-node-");
        assert_eq!(o.pod_cidr.to_string(), "10.128.0.0/9");
        assert_eq!(o.heartbeat_interval, Duration::from_secs(10));
        assert_eq!(o.lease_duration, Duration::from_secs(40));
        assert_eq!(o.max_in_flight, 64);
        assert_eq!(o.capacity["cpu"].0, "32");
        assert!(!o.delete_on_exit);
    }

    #[test]
    fn repeatable_flags_collect() {
        let a = parse(&[
            "--nodes=2",
            "--label",
            "a=1",
            "--label=b=2",
            "--taint",
            "k=v:NoSchedule",
            "--taint",
            "gpu:NoExecute",
            "--stop-heartbeat",
            "sim-node-1",
            "--cpu",
            "4",
            "--delete-on-exit",
        ])
        .unwrap();
        let o = a.to_options().unwrap();
        assert_eq!(o.labels.len(), 2);
        assert_eq!(o.taints.len(), 2);
        assert!(o.stop_heartbeat.contains("sim-node-1"));
        assert_eq!(o.allocatable["cpu"].0, "4");
        assert!(o.delete_on_exit);
    }

    #[test]
    fn bad_flags_are_rejected_by_the_parser() {
        for bad in [
            &["--nodes", "0"][..],
            &["--nodes", "1", "--label", "x"],
            &["--nodes", "1", "--taint", "k=v:Bad"],
            &["--nodes", "1", "--cpu", "lots"],
            &["--nodes", "1", "--pod-cidr", "10.0.0.0"],
            &["--nodes", "1", "--heartbeat-interval", "0"],
            &[],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn impossible_combinations_give_one_line() {
        let a = parse(&["--nodes", "300", "--pod-cidr", "10.0.0.0/16"]).unwrap();
        let e = a.to_options().unwrap_err().to_string();
        assert!(e.contains("--pod-cidr") && !e.contains('\n'), "{e}");
        let a = parse(&["--nodes", "1", "--node-template", "/nonexistent/node.yaml"]).unwrap();
        assert!(a
            .to_options()
            .unwrap_err()
            .to_string()
            .starts_with("--node-template"));
    }

    #[test]
    fn template_file_is_read() {
        let dir = std::env::temp_dir().join(format!("skiff-sim-args-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("node.yaml");
        std::fs::write(
            &path,
            "metadata:\n  labels: {zone: z}\nstatus:\n  capacity: {cpu: '8'}\n",
        )
        .unwrap();
        let a = parse(&["--nodes", "1", "--node-template", path.to_str().unwrap()]).unwrap();
        let o = a.to_options().unwrap();
        assert_eq!(o.labels["zone"], "z");
        assert_eq!(o.capacity["cpu"].0, "8");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
