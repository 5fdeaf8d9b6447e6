//! Driver: sets up a pod's volumes on the node under `<agent dir>/pods/<uid>/volumes/` as the
//! pure [`podsync::volumes`](crate::podsync::volumes) plans them — emptyDir directories (a
//! tmpfs for `medium: Memory`), checked or created hostPaths, files of ConfigMaps, Secrets, the
//! downward API and projections (rewritten when their source changes; a changed file replaces
//! the old one atomically), PersistentVolumeClaims through their bound PersistentVolume — and
//! removes them with the pod.

use crate::podsync::env::Sources;
use crate::podsync::volumes::{self, FileSpec, Found, HostPathAction, Objects, Plan, Ready};
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolume, PersistentVolumeClaim, Pod, Secret};
use kube::api::Api;
use kube::ResourceExt;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A volume that could not be set up: its name and why (the kubelet's FailedMount reason).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountError {
    /// The volume.
    pub volume: String,
    /// Why.
    pub message: String,
}

impl MountError {
    /// The FailedMount event message.
    pub fn event_message(&self) -> String {
        format!(
            "MountVolume.SetUp failed for volume {:?} : {}",
            self.volume, self.message
        )
    }
}

/// The pods' volume directories of one node.
#[derive(Clone)]
pub struct VolumeManager {
    client: kube::Client,
    root: PathBuf,
    storage: PathBuf,
    tokens: crate::tokens::TokenManager,
}

fn io_err(e: std::io::Error) -> String {
    e.to_string()
}

fn found(path: &Path) -> Found {
    match std::fs::metadata(path) {
        Err(_) => Found::Nothing,
        Ok(m) => {
            let t = m.file_type();
            if t.is_dir() {
                Found::Directory
            } else if t.is_socket() {
                Found::Socket
            } else if t.is_char_device() {
                Found::CharDevice
            } else if t.is_block_device() {
                Found::BlockDevice
            } else {
                Found::File
            }
        }
    }
}

/// Whether something is mounted at `dir`.
fn mounted(dir: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let d = dir.to_string_lossy();
    mounts
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(d.as_ref()))
}

/// Writes `files` into `dir` with their modes plus `extra_mode` (the fsGroup's bits):
/// changed files are replaced atomically (write + rename), files no longer wanted are removed.
fn write_files(dir: &Path, files: &[FileSpec], extra_mode: u32) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(io_err)?;
    let mut wanted = BTreeSet::new();
    for f in files {
        let rel = Path::new(&f.path);
        if rel.is_absolute()
            || rel
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(format!(
                "invalid path {:?}: must be relative without '..'",
                f.path
            ));
        }
        let full = dir.join(rel);
        wanted.insert(full.clone());
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(io_err)?;
        }
        let mode = f.mode | extra_mode;
        let same = std::fs::read(&full).is_ok_and(|old| old == f.data)
            && std::fs::metadata(&full).is_ok_and(|m| m.permissions().mode() & 0o777 == mode);
        if same {
            continue;
        }
        let tmp = full.with_file_name(format!(
            ".{}.tmp",
            full.file_name().unwrap_or_default().to_string_lossy()
        ));
        std::fs::write(&tmp, &f.data).map_err(io_err)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).map_err(io_err)?;
        std::fs::rename(&tmp, &full).map_err(io_err)?;
    }
    remove_unwanted(dir, &wanted);
    Ok(())
}

fn remove_unwanted(dir: &Path, wanted: &BTreeSet<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            remove_unwanted(&p, wanted);
            let _ = std::fs::remove_dir(&p); // only if now empty
        } else if !wanted.contains(&p) {
            let _ = std::fs::remove_file(&p);
        }
    }
}

/// Gives `path` (recursively) to group `gid` like the kubelet's `SetVolumeOwnership`: files
/// get g+rw (g+r on read-only volumes), directories also g+x and setgid.
fn apply_fs_group(path: &Path, gid: u32, read_only: bool) {
    let _ = std::os::unix::fs::chown(path, None, Some(gid));
    let mask = if read_only { 0o440 } else { 0o660 };
    if let Ok(m) = std::fs::symlink_metadata(path) {
        let mode = m.permissions().mode();
        if m.is_dir() {
            let mode = mode | mask | 0o110 | 0o2000;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o7777));
            for e in std::fs::read_dir(path).into_iter().flatten().flatten() {
                apply_fs_group(&e.path(), gid, read_only);
            }
        } else if m.is_file() {
            let _ = std::fs::set_permissions(
                path,
                std::fs::Permissions::from_mode((mode | mask) & 0o7777),
            );
        }
    }
}

impl VolumeManager {
    /// Volumes under `root` (`<agent dir>/pods`); local-path volumes under `storage`.
    pub fn new(client: kube::Client, root: PathBuf, storage: PathBuf) -> Self {
        VolumeManager {
            tokens: crate::tokens::TokenManager::new(client.clone()),
            client,
            root,
            storage,
        }
    }

    /// Removes the local-path directories (`pvc-*` under the storage dir) that no
    /// PersistentVolume names any more: their volume was deleted (reclaim policy Delete).
    pub async fn collect_local_paths(&self) {
        let Ok(entries) = std::fs::read_dir(&self.storage) else {
            return;
        };
        let pvs: Api<PersistentVolume> = Api::all(self.client.clone());
        let Ok(list) = pvs.list(&Default::default()).await else {
            return;
        };
        let named: HashSet<PathBuf> = list
            .items
            .iter()
            .filter_map(|pv| pv.spec.as_ref()?.host_path.as_ref())
            .map(|h| PathBuf::from(&h.path))
            .collect();
        for e in entries.flatten() {
            let path = e.path();
            let ours = e.file_name().to_string_lossy().starts_with("pvc-");
            if ours && !named.contains(&path) {
                tracing::info!(dir = %path.display(), "removing a local-path volume that was deleted");
                if let Err(err) = std::fs::remove_dir_all(&path) {
                    tracing::warn!(dir = %path.display(), error = %err, "removing failed");
                }
            }
        }
    }

    /// The file mounted at a container's terminationMessagePath, per attempt.
    pub fn termination_log(&self, uid: &str, container: &str, attempt: u32) -> PathBuf {
        self.root
            .join(uid)
            .join("containers")
            .join(container)
            .join(attempt.to_string())
    }

    fn volume_dir(&self, pod: &Pod, plugin: &str, name: &str) -> PathBuf {
        self.root
            .join(pod.uid().unwrap_or_default())
            .join("volumes")
            .join(format!("kubernetes.io~{plugin}"))
            .join(name)
    }

    async fn objects(&self, pod: &Pod) -> Result<Objects, String> {
        let ns = pod.namespace().unwrap_or_default();
        let (cm_names, secret_names) = volumes::references(pod);
        let mut objs = Objects::default();
        let cms: Api<ConfigMap> = Api::namespaced(self.client.clone(), &ns);
        for name in cm_names {
            if let Some(cm) = cms.get_opt(&name).await.map_err(|e| e.to_string())? {
                let mut data: BTreeMap<String, Vec<u8>> = cm
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.into_bytes()))
                    .collect();
                data.extend(
                    cm.binary_data
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(k, v)| (k, v.0)),
                );
                objs.config_maps.insert(name, data);
            }
        }
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &ns);
        for name in secret_names {
            if let Some(s) = secrets.get_opt(&name).await.map_err(|e| e.to_string())? {
                let mut data: BTreeMap<String, Vec<u8>> = s
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0))
                    .collect();
                data.extend(
                    s.string_data
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(k, v)| (k, v.into_bytes())),
                );
                objs.secrets.insert(name, data);
            }
        }
        for key in volumes::token_requests(pod) {
            let token = self.tokens.get(pod, &key).await?;
            objs.tokens.insert(key, token);
        }
        Ok(objs)
    }

    /// The path of the PersistentVolume bound to claim `name` of `ns`.
    async fn claim_path(&self, ns: &str, name: &str) -> Result<PathBuf, String> {
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), ns);
        let claim = claims
            .get_opt(name)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("persistentvolumeclaim {name:?} not found"))?;
        let pv_name = claim
            .spec
            .and_then(|s| s.volume_name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("persistentvolumeclaim {name:?} is not bound"))?;
        let pvs: Api<PersistentVolume> = Api::all(self.client.clone());
        let pv = pvs
            .get_opt(&pv_name)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("persistentvolume {pv_name:?} not found"))?;
        let spec = pv.spec.unwrap_or_default();
        spec.host_path
            .map(|h| h.path)
            .or(spec.local.map(|l| l.path))
            .map(PathBuf::from)
            .ok_or_else(|| {
                format!("persistentvolume {pv_name:?} is neither a hostPath nor a local volume")
            })
    }

    /// Sets up (or refreshes) every volume of `pod`; the ready volumes by name.
    pub async fn ensure(
        &self,
        pod: &Pod,
        src: &Sources<'_>,
    ) -> Result<BTreeMap<String, Ready>, MountError> {
        let err = |volume: &str, message: String| MountError {
            volume: volume.to_string(),
            message,
        };
        let volumes = pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.clone())
            .unwrap_or_default();
        if volumes.is_empty() {
            return Ok(BTreeMap::new());
        }
        let objs = self
            .objects(pod)
            .await
            .map_err(|m| err(&volumes[0].name, m))?;
        let fs_group = pod
            .spec
            .as_ref()
            .and_then(|s| s.security_context.as_ref())
            .and_then(|s| s.fs_group)
            .and_then(|g| u32::try_from(g).ok());
        let mut ready = BTreeMap::new();
        for v in &volumes {
            let plan = volumes::plan(v, pod, &objs, src).map_err(|m| err(&v.name, m))?;
            let r = match plan {
                Plan::EmptyDir { memory, size_limit } => {
                    let dir = self.volume_dir(pod, "empty-dir", &v.name);
                    std::fs::create_dir_all(&dir).map_err(|e| err(&v.name, e.to_string()))?;
                    if memory && !mounted(&dir) {
                        let mut opts = "mode=0777".to_string();
                        if let Some(n) = size_limit {
                            opts.push_str(&format!(",size={n}"));
                        }
                        let status = std::process::Command::new("mount")
                            .args(["-t", "tmpfs", "-o", &opts, "tmpfs"])
                            .arg(&dir)
                            .status()
                            .map_err(|e| err(&v.name, format!("mounting a tmpfs: {e}")))?;
                        if !status.success() {
                            return Err(err(&v.name, format!("mounting a tmpfs: mount {status}")));
                        }
                    }
                    let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777));
                    if let Some(g) = fs_group {
                        apply_fs_group(&dir, g, false);
                    }
                    Ready {
                        path: dir,
                        read_only: false,
                    }
                }
                Plan::HostPath { path, kind } => {
                    let p = PathBuf::from(&path);
                    match volumes::host_path_check(&path, &kind, found(&p))
                        .map_err(|m| err(&v.name, m))?
                    {
                        HostPathAction::Use => {}
                        HostPathAction::CreateDirectory => {
                            std::fs::create_dir_all(&p).map_err(|e| err(&v.name, e.to_string()))?;
                            let _ = std::fs::set_permissions(
                                &p,
                                std::fs::Permissions::from_mode(0o755),
                            );
                        }
                        HostPathAction::CreateFile => {
                            std::fs::write(&p, b"").map_err(|e| err(&v.name, e.to_string()))?;
                            let _ = std::fs::set_permissions(
                                &p,
                                std::fs::Permissions::from_mode(0o644),
                            );
                        }
                    }
                    Ready {
                        path: p,
                        read_only: false,
                    }
                }
                Plan::Files(files) => {
                    let plugin = if v.config_map.is_some() {
                        "configmap"
                    } else if v.secret.is_some() {
                        "secret"
                    } else if v.downward_api.is_some() {
                        "downward-api"
                    } else {
                        "projected"
                    };
                    let dir = self.volume_dir(pod, plugin, &v.name);
                    let extra = if fs_group.is_some() { 0o440 } else { 0 };
                    write_files(&dir, &files, extra).map_err(|m| err(&v.name, m))?;
                    if let Some(g) = fs_group {
                        apply_fs_group(&dir, g, true);
                    }
                    Ready {
                        path: dir,
                        read_only: true,
                    }
                }
                Plan::Claim { name, read_only } => {
                    let ns = pod.namespace().unwrap_or_default();
                    let path = self
                        .claim_path(&ns, &name)
                        .await
                        .map_err(|m| err(&v.name, m))?;
                    std::fs::create_dir_all(&path).map_err(|e| err(&v.name, e.to_string()))?;
                    Ready { path, read_only }
                }
            };
            ready.insert(v.name.clone(), r);
        }
        Ok(ready)
    }

    /// Unmounts and removes the volumes of pod `uid` (hostPaths and claims are left alone:
    /// they live outside).
    pub fn remove(&self, uid: &str) {
        self.tokens.forget(uid);
        let dir = self.root.join(uid);
        if !dir.exists() {
            return;
        }
        let prefix = format!("{}/", dir.to_string_lossy());
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        for m in mounts.lines().filter_map(|l| l.split_whitespace().nth(1)) {
            if m.starts_with(&prefix) {
                let _ = std::process::Command::new("umount").arg(m).status();
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(pod_uid = uid, error = %e, "removing the pod's volumes failed");
        }
    }

    /// Removes the volumes of pods not in `live()` (asked after listing, so that a volume
    /// set up meanwhile for a new pod is never mistaken for an orphan).
    pub fn remove_orphans(&self, live: &(dyn Fn() -> HashSet<String> + Sync)) {
        let entries: Vec<_> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .collect();
        let live = live();
        self.tokens.retain(&live);
        for e in entries {
            let uid = e.file_name().to_string_lossy().into_owned();
            if !live.contains(&uid) {
                tracing::info!(pod_uid = %uid, "removing the volumes of a pod that is gone");
                self.remove(&uid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_written_updated_and_pruned() {
        let d = tempfile::tempdir().unwrap();
        let f = |path: &str, data: &str, mode: u32| FileSpec {
            path: path.into(),
            data: data.as_bytes().to_vec(),
            mode,
        };
        write_files(d.path(), &[f("a", "1", 0o644), f("sub/b", "2", 0o600)], 0).unwrap();
        assert_eq!(
            std::fs::read_to_string(d.path().join("sub/b")).unwrap(),
            "2"
        );
        let mode = std::fs::metadata(d.path().join("sub/b"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        write_files(d.path(), &[f("a", "changed", 0o644)], 0o020).unwrap();
        let mode = std::fs::metadata(d.path().join("a"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o664);
        assert_eq!(
            std::fs::read_to_string(d.path().join("a")).unwrap(),
            "changed"
        );
        assert!(
            !d.path().join("sub").exists(),
            "removed keys and empty dirs go"
        );
        assert!(write_files(d.path(), &[f("../x", "", 0o644)], 0).is_err());
    }
}
