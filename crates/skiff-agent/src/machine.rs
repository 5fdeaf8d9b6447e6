//! Facts read from the host: what the Node reports as capacity, nodeInfo and pressure.
//!
//! [`Machine::read`] does the I/O; the parsers are pure and unit-tested.

use std::net::IpAddr;
use std::path::Path;

/// What the agent knows about its host at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Machine {
    /// The host name (lower-cased, like the kubelet's node name).
    pub hostname: String,
    /// Logical CPUs available to the agent.
    pub cpus: u32,
    /// `MemTotal`, bytes.
    pub memory_total: u64,
    /// `MemAvailable`, bytes.
    pub memory_available: u64,
    /// Size of the filesystem holding the data dir (nodefs), bytes.
    pub disk_total: u64,
    /// Free space on it for unprivileged users, bytes.
    pub disk_available: u64,
    /// `kernel.pid_max`.
    pub pid_max: u64,
    /// Processes (threads included) that exist now.
    pub pids_in_use: u64,
    /// `uname -r`.
    pub kernel_version: String,
    /// `PRETTY_NAME` of /etc/os-release.
    pub os_image: String,
    /// /etc/machine-id.
    pub machine_id: String,
    /// The kernel's boot id.
    pub boot_id: String,
    /// The host's address toward the rest of the network.
    pub address: Option<IpAddr>,
}

impl Machine {
    /// Reads the facts; `data_dir` is where the agent keeps its files (its filesystem is
    /// nodefs). Facts that cannot be read are left at zero or empty.
    pub fn read(data_dir: &Path) -> Self {
        let text = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let (memory_total, memory_available) = parse_meminfo(&text("/proc/meminfo"));
        let (disk_total, disk_available) = match rustix::fs::statvfs(data_dir) {
            Ok(s) => (s.f_blocks * s.f_frsize, s.f_bavail * s.f_frsize),
            Err(_) => (0, 0),
        };
        Machine {
            hostname: rustix::system::uname()
                .nodename()
                .to_string_lossy()
                .to_lowercase(),
            cpus: std::thread::available_parallelism()
                .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
                .unwrap_or(1),
            memory_total,
            memory_available,
            disk_total,
            disk_available,
            pid_max: text("/proc/sys/kernel/pid_max").trim().parse().unwrap_or(0),
            pids_in_use: parse_loadavg_tasks(&text("/proc/loadavg")),
            kernel_version: text("/proc/sys/kernel/osrelease").trim().to_string(),
            os_image: parse_os_release(&text("/etc/os-release")),
            machine_id: text("/etc/machine-id").trim().to_string(),
            boot_id: text("/proc/sys/kernel/random/boot_id").trim().to_string(),
            address: outbound_address(),
        }
    }
}

/// The kubelet's name for the architecture (`GOARCH`).
pub fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// `(MemTotal, MemAvailable)` in bytes from /proc/meminfo.
pub fn parse_meminfo(text: &str) -> (u64, u64) {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    };
    (field("MemTotal"), field("MemAvailable"))
}

/// `PRETTY_NAME` from os-release, unquoted (or "Linux" if absent).
pub fn parse_os_release(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim().trim_matches('"').trim_matches('\'').to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "Linux".into())
}

/// The number of tasks from /proc/loadavg (`0.00 0.01 0.05 2/345 6789` → 345).
pub fn parse_loadavg_tasks(text: &str) -> u64 {
    text.split_whitespace()
        .nth(3)
        .and_then(|f| f.split('/').nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// The source address the kernel picks toward a public address (no packet is sent).
fn outbound_address() -> Option<IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_is_read_in_bytes() {
        let t = "MemTotal:       24576000 kB\nMemFree:  100 kB\nMemAvailable:   12288000 kB\n";
        assert_eq!(parse_meminfo(t), (24576000 * 1024, 12288000 * 1024));
        assert_eq!(parse_meminfo("garbage"), (0, 0));
    }

    #[test]
    fn os_release_pretty_name_is_unquoted() {
        let t = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(parse_os_release(t), "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(parse_os_release(""), "Linux");
    }

    #[test]
    fn loadavg_gives_the_task_count() {
        assert_eq!(parse_loadavg_tasks("0.52 0.58 0.59 3/467 12345\n"), 467);
        assert_eq!(parse_loadavg_tasks(""), 0);
    }

    #[test]
    fn reading_this_machine_finds_cpus_memory_and_disk() {
        let m = Machine::read(Path::new("/"));
        assert!(m.cpus >= 1);
        assert!(m.memory_total > 0 && m.memory_available <= m.memory_total);
        assert!(m.disk_total > 0 && m.disk_available <= m.disk_total);
        assert!(!m.kernel_version.is_empty());
    }
}
