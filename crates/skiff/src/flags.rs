//! Flags shared by several subcommands, and their parsers.

use clap::Args;
use std::time::Duration;

/// Parses a duration like Go's `time.ParseDuration` for the common units: `300ms`, `30s`,
/// `5m`, `1h`, `1h30m`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid duration {s:?} (use e.g. 30s, 5m, 1h)"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            u => {
                return Err(format!(
                    "invalid duration {s:?}: unknown unit {u:?} (use ms, s, m or h)"
                ))
            }
        };
        total += unit;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("m").is_err());
    }
}

/// TLS towards etcd (in `skiff server` and `skiff store`).
#[derive(Debug, Args)]
pub struct EtcdTlsFlags {
    /// CA certificate (PEM) that signed the etcd members' certificates; makes the connection
    /// https.
    #[arg(long, value_name = "PATH")]
    datastore_cafile: Option<std::path::PathBuf>,
    /// Client certificate (PEM) for etcd (with --datastore-keyfile).
    #[arg(long, value_name = "PATH")]
    datastore_certfile: Option<std::path::PathBuf>,
    /// Key (PEM) of --datastore-certfile.
    #[arg(long, value_name = "PATH")]
    datastore_keyfile: Option<std::path::PathBuf>,
}

impl EtcdTlsFlags {
    /// The files the flags name.
    pub fn files(&self) -> skiff_store_etcd::TlsFiles {
        skiff_store_etcd::TlsFiles {
            ca: self.datastore_cafile.clone(),
            cert: self.datastore_certfile.clone(),
            key: self.datastore_keyfile.clone(),
        }
    }

    /// The options for the etcd of `url` (`etcd://HOST:PORT[,...]`) with these files.
    pub fn options(&self, url: &str) -> Result<skiff_store_etcd::EtcdOptions, String> {
        let tls = self.files();
        let endpoints = skiff_store_etcd::parse_datastore(url, tls.any())?;
        let mut options = skiff_store_etcd::EtcdOptions::new(endpoints);
        options.tls = tls;
        Ok(options)
    }

    /// Connects to the etcd of `url` with these files.
    pub async fn connect(&self, url: &str) -> anyhow::Result<skiff_store_etcd::EtcdStore> {
        let options = self.options(url).map_err(|e| anyhow::anyhow!(e))?;
        Ok(skiff_store_etcd::EtcdStore::connect(options).await?)
    }
}

/// Flags of the controller manager (in `skiff server` and `skiff controllers`).
#[derive(Debug, Args)]
pub struct ControllerFlags {
    /// How long a node may go without a heartbeat (Lease renewal or status update) before
    /// its conditions become Unknown and it is tainted unreachable, e.g. `40s`.
    #[arg(long, default_value = "40s", value_name = "DURATION", value_parser = parse_duration)]
    node_monitor_grace_period: Duration,
    /// The same for a node that has never reported Ready, counted from its registration.
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = parse_duration)]
    node_startup_grace_period: Duration,
    /// The range node pod CIDRs come from: each node gets the lowest free /24 of it as
    /// spec.podCIDR (nodes that already have one keep it).
    #[arg(long, default_value = skiff_controllers::nodeipam::DEFAULT_CLUSTER_CIDR, value_name = "CIDR")]
    cluster_cidr: skiff_api::cidr::Ipv4Cidr,
    /// The CA certificate (PEM) published to every namespace as the ConfigMap
    /// kube-root-ca.crt, which pods use to trust the API server (default: the CA of the
    /// kubeconfig the controllers use).
    #[arg(long, value_name = "PATH")]
    root_ca_file: Option<std::path::PathBuf>,
}

impl ControllerFlags {
    /// The controller manager's options; `kubeconfig_ca` is the CA of the kubeconfig in use,
    /// published unless `--root-ca-file` names another.
    pub fn options(
        &self,
        kubeconfig_ca: Option<String>,
    ) -> anyhow::Result<skiff_controller_manager::Options> {
        let mut o = skiff_controller_manager::default_options();
        o.settings.root_ca = match &self.root_ca_file {
            Some(p) => Some(
                std::fs::read_to_string(p)
                    .map_err(|e| anyhow::anyhow!("--root-ca-file {}: {e}", p.display()))?,
            ),
            None => kubeconfig_ca,
        };
        o.settings.node_lifecycle.node_monitor_grace_period = self.node_monitor_grace_period;
        o.settings.node_lifecycle.node_startup_grace_period = self.node_startup_grace_period;
        o.settings.cluster_cidr = self.cluster_cidr;
        Ok(o)
    }
}
