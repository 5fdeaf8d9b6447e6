//! The pod network config: a CNI conflist for Debian's containernetworking-plugins (bridge with
//! host-local IPAM on the node's pod CIDR, portmap for hostPorts, loopback), written where the
//! agent's containerd looks. containerd picks it up without a restart, and its CRI `Status`
//! turns NetworkReady — which is what makes the Node Ready.
//!
//! ```
//! let conf = skiff_agent::cni::conflist("10.42.3.0/24", "/var/lib/skiff/agent/cni/ipam".as_ref(), "skiff0");
//! assert!(conf.contains("\"subnet\": \"10.42.3.0/24\""));
//! ```

use std::path::{Path, PathBuf};

/// The network's name (and the conflist's file stem).
pub const NETWORK_NAME: &str = "skiff";
/// The default bridge every pod of the node is attached to (`--cni-bridge`).
pub const BRIDGE: &str = "skiff0";

/// The conflist for `pod_cidr` on `bridge`, with host-local's leases under `ipam_dir`.
pub fn conflist(pod_cidr: &str, ipam_dir: &Path, bridge: &str) -> String {
    let v = serde_json::json!({
        "cniVersion": "0.4.0",
        "name": NETWORK_NAME,
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                "isGateway": true,
                "ipMasq": true,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{ "subnet": pod_cidr }]],
                    "routes": [{ "dst": "0.0.0.0/0" }],
                    "dataDir": ipam_dir,
                },
            },
            { "type": "portmap", "capabilities": { "portMappings": true } },
            { "type": "loopback" },
        ],
    });
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

/// The conflist's path in `conf_dir`.
pub fn conflist_path(conf_dir: &Path) -> PathBuf {
    conf_dir.join(format!("10-{NETWORK_NAME}.conflist"))
}

/// Writes the conflist for `pod_cidr` unless the same one is already there (atomically: a
/// half-written file must never be read by containerd). Returns whether it wrote.
pub fn ensure(
    conf_dir: &Path,
    ipam_dir: &Path,
    pod_cidr: &str,
    bridge: &str,
) -> std::io::Result<bool> {
    let path = conflist_path(conf_dir);
    let want = conflist(pod_cidr, ipam_dir, bridge);
    if std::fs::read_to_string(&path).is_ok_and(|have| have == want) {
        return Ok(false);
    }
    std::fs::create_dir_all(conf_dir)?;
    std::fs::create_dir_all(ipam_dir)?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, want)?;
    std::fs::rename(&tmp, &path)?;
    Ok(true)
}

/// Checks a bridge name for `--cni-bridge` (a Linux interface name: 1–15 characters, no `/`,
/// whitespace or `:`).
pub fn parse_bridge(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 15
        && !s.chars().any(|c| c == '/' || c == ':' || c.is_whitespace());
    ok.then(|| s.to_string()).ok_or_else(|| {
        format!("{s:?} is not an interface name (1-15 characters, no '/', ':' or spaces)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflist_is_bridge_host_local_portmap_loopback() {
        let v: serde_json::Value =
            serde_json::from_str(&conflist("10.42.0.0/24", Path::new("/x/ipam"), "br9")).unwrap();
        let types: Vec<&str> = v["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["bridge", "portmap", "loopback"]);
        assert_eq!(
            v["plugins"][0]["ipam"]["ranges"][0][0]["subnet"],
            "10.42.0.0/24"
        );
        assert_eq!(v["plugins"][0]["ipam"]["dataDir"], "/x/ipam");
        assert_eq!(v["plugins"][0]["bridge"], "br9");
        assert_eq!(v["plugins"][1]["capabilities"]["portMappings"], true);
    }

    #[test]
    fn bridge_names_are_interface_names() {
        assert_eq!(parse_bridge("skiff0"), Ok("skiff0".into()));
        assert!(parse_bridge("").is_err());
        assert!(parse_bridge("a-name-too-long-0").is_err());
        assert!(parse_bridge("a/b").is_err());
    }

    #[test]
    fn ensure_writes_once_and_rewrites_on_change() {
        let d = tempfile::tempdir().unwrap();
        let (conf, ipam) = (d.path().join("net.d"), d.path().join("ipam"));
        assert!(ensure(&conf, &ipam, "10.42.0.0/24", "b").unwrap());
        assert!(!ensure(&conf, &ipam, "10.42.0.0/24", "b").unwrap());
        assert!(ensure(&conf, &ipam, "10.42.1.0/24", "b").unwrap());
        let text = std::fs::read_to_string(conflist_path(&conf)).unwrap();
        assert!(text.contains("10.42.1.0/24"));
        assert!(ipam.is_dir());
    }
}
