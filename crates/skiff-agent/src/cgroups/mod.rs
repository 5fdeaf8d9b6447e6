//! The host's cgroups: the pod cgroups ([`fs`]) and, here, the cgroup v1 hierarchies the
//! runtimes need on a hybrid (v1 + v2) host. crun refuses to run there ("cgroups in hybrid mode not supported") unless every controller it knows has
//! a v1 mount, and such hosts often leave `hugetlb` unmounted. The agent mounts what is
//! missing at start, as an init system would; on a pure v2 host nothing is done.

use std::path::Path;

pub mod fs;

/// Controllers the runtimes expect mounted on a v1/hybrid host.
const WANTED: [&str; 1] = ["hugetlb"];

/// PURE — of the `wanted` controllers, those the kernel has enabled (`/proc/cgroups`) but no
/// cgroup v1 filesystem mounts (`/proc/mounts`); empty unless `/sys/fs/cgroup` is a v1 tree
/// (a tmpfs holding one mount per hierarchy).
pub fn missing_v1<'a>(proc_cgroups: &str, proc_mounts: &str, wanted: &[&'a str]) -> Vec<&'a str> {
    let v1_tree = proc_mounts.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.get(1) == Some(&"/sys/fs/cgroup") && f.get(2) == Some(&"tmpfs")
    });
    if !v1_tree {
        return Vec::new();
    }
    let enabled = |name: &str| {
        proc_cgroups.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.first() == Some(&name) && f.get(3) == Some(&"1")
        })
    };
    let mounted = |name: &str| {
        proc_mounts.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(2) == Some(&"cgroup") && f.get(3).is_some_and(|o| o.split(',').any(|o| o == name))
        })
    };
    wanted
        .iter()
        .copied()
        .filter(|w| enabled(w) && !mounted(w))
        .collect()
}

/// Mounts the missing hierarchies under `/sys/fs/cgroup/<name>`; failures are logged (the
/// runc runtime works without them).
pub fn prepare() {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    for name in missing_v1(&read("/proc/cgroups"), &read("/proc/mounts"), &WANTED) {
        let dir = Path::new("/sys/fs/cgroup").join(name);
        let done = std::fs::create_dir_all(&dir)
            .map_err(|e| e.to_string())
            .and_then(|_| {
                std::process::Command::new("mount")
                    .args(["-t", "cgroup", "-o", name, "cgroup"])
                    .arg(&dir)
                    .status()
                    .map_err(|e| e.to_string())
                    .and_then(|s| {
                        if s.success() {
                            Ok(())
                        } else {
                            Err(s.to_string())
                        }
                    })
            });
        match done {
            Ok(()) => tracing::info!(
                controller = name,
                "mounted a cgroup v1 hierarchy for the runtimes"
            ),
            Err(e) => {
                tracing::warn!(controller = name, error = %e, "could not mount a cgroup v1 hierarchy; crun may refuse to run")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CGROUPS: &str = "#subsys_name\thierarchy\tnum_cgroups\tenabled
cpu\t1\t8\t1
memory\t4\t43\t1
hugetlb\t0\t8\t1
perf_event\t0\t8\t0
";

    #[test]
    fn only_enabled_unmounted_controllers_of_a_v1_tree_are_missing() {
        let hybrid = "tmpfs /sys/fs/cgroup tmpfs rw 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0
";
        assert_eq!(
            missing_v1(CGROUPS, hybrid, &["hugetlb", "memory", "perf_event"]),
            vec!["hugetlb"]
        );
        let mounted = format!("{hybrid}cgroup /sys/fs/cgroup/hugetlb cgroup rw,hugetlb 0 0\n");
        assert!(missing_v1(CGROUPS, &mounted, &["hugetlb"]).is_empty());
        let v2 = "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n";
        assert!(missing_v1(CGROUPS, v2, &["hugetlb"]).is_empty());
    }
}
