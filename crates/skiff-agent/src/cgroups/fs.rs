//! I/O: makes, writes and removes the pod cgroups ([`pod_cgroup`](crate::podsync::pod_cgroup)
//! decides what they are) on the host's cgroup filesystem, v1 (one hierarchy per controller,
//! as on this project's machines) or v2 (one unified tree).

use crate::podsync::pod_cgroup::{weight_from_shares, CgroupSettings};
use crate::podsync::resources::CPU_PERIOD;
use std::io;
use std::path::{Path, PathBuf};

/// The host's cgroup filesystem.
#[derive(Clone, Debug)]
pub struct CgroupFs {
    mount: PathBuf,
    unified: bool,
}

impl CgroupFs {
    /// The cgroup filesystem at `/sys/fs/cgroup`, if there is one the agent may write.
    pub fn detect() -> Option<Self> {
        Self::at(Path::new("/sys/fs/cgroup"))
    }

    /// The cgroup filesystem mounted at `mount`: v2 when it holds `cgroup.controllers`, v1
    /// when it holds a `memory` hierarchy.
    pub fn at(mount: &Path) -> Option<Self> {
        let unified = mount.join("cgroup.controllers").is_file();
        (unified || mount.join("memory").is_dir()).then(|| CgroupFs {
            mount: mount.to_path_buf(),
            unified,
        })
    }

    /// Creates the cgroup `path` (relative to the mount, `/kubepods/…`) and writes `s` into it.
    pub fn apply(&self, path: &str, s: &CgroupSettings) -> io::Result<()> {
        let rel = path.trim_start_matches('/');
        if self.unified {
            self.enable_controllers(rel)?;
            let dir = self.mount.join(rel);
            std::fs::create_dir_all(&dir)?;
            write(
                &dir,
                "cpu.weight",
                &weight_from_shares(s.cpu_shares).to_string(),
            )?;
            let max = s.cpu_quota.map_or("max".to_string(), |q| q.to_string());
            write(&dir, "cpu.max", &format!("{max} {CPU_PERIOD}"))?;
            let mem = s.memory_limit.map_or("max".to_string(), |m| m.to_string());
            write(&dir, "memory.max", &mem)
        } else {
            let cpu = self.mount.join("cpu").join(rel);
            std::fs::create_dir_all(&cpu)?;
            write(&cpu, "cpu.shares", &s.cpu_shares.to_string())?;
            write(&cpu, "cpu.cfs_period_us", &CPU_PERIOD.to_string())?;
            write(
                &cpu,
                "cpu.cfs_quota_us",
                &s.cpu_quota.unwrap_or(-1).to_string(),
            )?;
            let memory = self.mount.join("memory").join(rel);
            std::fs::create_dir_all(&memory)?;
            write(
                &memory,
                "memory.limit_in_bytes",
                &s.memory_limit.unwrap_or(-1).to_string(),
            )
        }
    }

    /// v2: lets the cgroups from the mount down to `rel` hand cpu, memory and pids to their
    /// children (each parent's `cgroup.subtree_control`).
    fn enable_controllers(&self, rel: &str) -> io::Result<()> {
        let mut dir = self.mount.clone();
        for part in Path::new(rel).components() {
            write(&dir, "cgroup.subtree_control", "+cpu +memory +pids")?;
            dir.push(part);
            std::fs::create_dir_all(&dir)?;
        }
        Ok(())
    }

    /// Removes the cgroup `path` and the empty cgroups below it (containers' leftovers) from
    /// every hierarchy; a cgroup that still has processes stays and is reported.
    pub fn remove(&self, path: &str) -> io::Result<()> {
        let rel = path.trim_start_matches('/');
        let roots: Vec<PathBuf> = if self.unified {
            vec![self.mount.clone()]
        } else {
            std::fs::read_dir(&self.mount)?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_dir() && !p.is_symlink())
                .collect()
        };
        let mut first_error = None;
        for root in roots {
            let dir = root.join(rel);
            if dir.is_dir() {
                if let Err(e) = remove_tree(&dir) {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Whether the cgroup `path` exists in the memory hierarchy (v1) or the tree (v2).
    pub fn exists(&self, path: &str) -> bool {
        let rel = path.trim_start_matches('/');
        if self.unified {
            self.mount.join(rel).is_dir()
        } else {
            self.mount.join("memory").join(rel).is_dir()
        }
    }
}

fn write(dir: &Path, file: &str, value: &str) -> io::Result<()> {
    std::fs::write(dir.join(file), value).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("writing {value:?} to {}/{file}: {e}", dir.display()),
        )
    })
}

/// Removes a cgroup directory bottom-up: cgroup directories only ever go with `rmdir` (their
/// control files cannot be unlinked).
fn remove_tree(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)?.filter_map(Result::ok) {
        let p = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&p)?;
        }
    }
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> CgroupSettings {
        CgroupSettings {
            cpu_shares: 512,
            cpu_quota: Some(50_000),
            memory_limit: None,
        }
    }

    #[test]
    fn v1_writes_each_controller_in_its_hierarchy() {
        let d = tempfile::tempdir().unwrap();
        let tmp = d.path();
        std::fs::create_dir_all(tmp.join("memory")).unwrap();
        std::fs::create_dir_all(tmp.join("cpu")).unwrap();
        let fs = CgroupFs::at(tmp).unwrap();
        fs.apply("/kubepods/burstable/podx", &settings()).unwrap();
        let read = |p: &str| std::fs::read_to_string(tmp.join(p)).unwrap();
        assert_eq!(read("cpu/kubepods/burstable/podx/cpu.shares"), "512");
        assert_eq!(
            read("cpu/kubepods/burstable/podx/cpu.cfs_quota_us"),
            "50000"
        );
        assert_eq!(
            read("memory/kubepods/burstable/podx/memory.limit_in_bytes"),
            "-1"
        );
        assert!(fs.exists("/kubepods/burstable/podx"));
    }

    #[test]
    fn v2_writes_one_tree_and_enables_the_controllers_on_the_way() {
        let d = tempfile::tempdir().unwrap();
        let tmp = d.path();
        std::fs::write(tmp.join("cgroup.controllers"), "cpu memory pids").unwrap();
        let fs = CgroupFs::at(tmp).unwrap();
        fs.apply("/kubepods/podx", &settings()).unwrap();
        let read = |p: &str| std::fs::read_to_string(tmp.join(p)).unwrap();
        assert_eq!(read("kubepods/podx/cpu.weight"), "20");
        assert_eq!(read("kubepods/podx/cpu.max"), "50000 100000");
        assert_eq!(read("kubepods/podx/memory.max"), "max");
        assert_eq!(read("cgroup.subtree_control"), "+cpu +memory +pids");
        assert_eq!(
            read("kubepods/cgroup.subtree_control"),
            "+cpu +memory +pids"
        );
    }

    #[test]
    fn no_cgroup_filesystem_is_none() {
        assert!(CgroupFs::at(tempfile::tempdir().unwrap().path()).is_none());
    }
}
