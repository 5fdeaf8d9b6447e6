//! PURE — a pod's volumes as the kubelet sets them up: what each volume is on the node
//! ([`plan`]: an emptyDir, a hostPath with its type check, a PersistentVolumeClaim, or files
//! rendered from ConfigMaps, Secrets, the downward API and projections), and the CRI mounts of
//! a container ([`mounts`]: volumeMounts with subPath and readOnly). Failures are the
//! kubelet's `MountVolume.SetUp failed` reasons.

use super::env::{self, Sources};
use k8s_openapi::api::core::v1::{
    ConfigMapProjection, Container, DownwardAPIVolumeFile, KeyToPath, Pod, SecretProjection,
    ServiceAccountTokenProjection, Volume,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The default file mode of configMap, secret, downwardAPI and projected volumes (0644).
pub const DEFAULT_MODE: u32 = 0o644;

/// A file to write inside a volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSpec {
    /// Relative path (may contain directories).
    pub path: String,
    /// Contents.
    pub data: Vec<u8>,
    /// Permission bits.
    pub mode: u32,
}

/// ConfigMaps and Secrets of the pod's namespace that exist, by name: key → bytes
/// (a ConfigMap's `data` and `binaryData` together); and the service-account tokens the pod's
/// projections asked for.
#[derive(Clone, Debug, Default)]
pub struct Objects {
    /// ConfigMaps.
    pub config_maps: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    /// Secrets.
    pub secrets: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    /// Tokens of the pod's ServiceAccount, bound to the pod.
    pub tokens: BTreeMap<TokenKey, String>,
}

/// What a `serviceAccountToken` projection asks for: an audience (empty: the API server's)
/// and a lifetime.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenKey {
    /// Audience ("" for the API server's own).
    pub audience: String,
    /// `expirationSeconds` (default one hour).
    pub expiration_seconds: i64,
}

impl TokenKey {
    /// The key of a projection.
    pub fn of(p: &ServiceAccountTokenProjection) -> Self {
        TokenKey {
            audience: p.audience.clone().unwrap_or_default(),
            expiration_seconds: p.expiration_seconds.unwrap_or(3600),
        }
    }
}

/// The tokens the pod's projected volumes ask for.
pub fn token_requests(pod: &Pod) -> Vec<TokenKey> {
    let mut keys: Vec<TokenKey> = pod
        .spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .flat_map(|v| v.projected.iter().flat_map(|p| p.sources.iter().flatten()))
        .filter_map(|s| s.service_account_token.as_ref().map(TokenKey::of))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// What one volume is on the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// A directory owned by the pod; with `memory`, a tmpfs of at most `size_limit` bytes.
    EmptyDir {
        /// `medium: Memory`.
        memory: bool,
        /// `sizeLimit` in bytes.
        size_limit: Option<u64>,
    },
    /// A path of the node, checked (or created) per its type.
    HostPath {
        /// The path.
        path: String,
        /// `type` ("" for no check).
        kind: String,
    },
    /// Files rendered into a pod-owned directory, kept up to date; mounted read-only.
    Files(Vec<FileSpec>),
    /// A PersistentVolumeClaim of the pod's namespace.
    Claim {
        /// The claim's name.
        name: String,
        /// `readOnly`.
        read_only: bool,
    },
}

/// The names of the ConfigMaps and Secrets the pod's volumes name (what the driver fetches).
pub fn references(pod: &Pod) -> (Vec<String>, Vec<String>) {
    let (mut cms, mut secrets) = (Vec::new(), Vec::new());
    for v in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
        if let Some(c) = &v.config_map {
            cms.push(c.name.clone());
        }
        if let Some(s) = v.secret.as_ref().and_then(|s| s.secret_name.clone()) {
            secrets.push(s);
        }
        for src in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            if let Some(c) = &src.config_map {
                cms.push(c.name.clone());
            }
            if let Some(s) = &src.secret {
                secrets.push(s.name.clone());
            }
        }
    }
    cms.sort();
    cms.dedup();
    secrets.sort();
    secrets.dedup();
    (cms, secrets)
}

fn mode_bits(m: Option<i32>, default: u32) -> u32 {
    m.and_then(|m| u32::try_from(m).ok())
        .map_or(default, |m| m & 0o777)
}

/// Files of a ConfigMap or Secret's `data`: every key, or the `items` listed.
fn key_files(
    data: Option<&BTreeMap<String, Vec<u8>>>,
    items: Option<&Vec<KeyToPath>>,
    optional: bool,
    mode: u32,
    missing_object: impl Fn() -> String,
    missing_key: impl Fn(&str) -> String,
) -> Result<Vec<FileSpec>, String> {
    let Some(data) = data else {
        return if optional {
            Ok(Vec::new())
        } else {
            Err(missing_object())
        };
    };
    match items {
        None => Ok(data
            .iter()
            .map(|(k, v)| FileSpec {
                path: k.clone(),
                data: v.clone(),
                mode,
            })
            .collect()),
        Some(items) => items
            .iter()
            .filter_map(|i| match data.get(&i.key) {
                Some(v) => Some(Ok(FileSpec {
                    path: i.path.clone(),
                    data: v.clone(),
                    mode: mode_bits(i.mode, mode),
                })),
                None if optional => None,
                None => Some(Err(missing_key(&i.key))),
            })
            .collect(),
    }
}

fn config_map_files(
    p: &ConfigMapProjection,
    objs: &Objects,
    mode: u32,
) -> Result<Vec<FileSpec>, String> {
    key_files(
        objs.config_maps.get(&p.name),
        p.items.as_ref(),
        p.optional == Some(true),
        mode,
        || format!("configmap {:?} not found", p.name),
        |k| format!("configmap references non-existent config key: {k}"),
    )
}

fn secret_files(p: &SecretProjection, objs: &Objects, mode: u32) -> Result<Vec<FileSpec>, String> {
    key_files(
        objs.secrets.get(&p.name),
        p.items.as_ref(),
        p.optional == Some(true),
        mode,
        || format!("secret {:?} not found", p.name),
        |k| format!("references non-existent secret key: {k}"),
    )
}

/// A map as the downward API writes it: `key="value"` lines, sorted, values quoted.
fn map_lines(m: Option<&BTreeMap<String, String>>) -> String {
    m.into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn downward_files(
    items: &[DownwardAPIVolumeFile],
    pod: &Pod,
    src: &Sources<'_>,
    mode: u32,
) -> Result<Vec<FileSpec>, String> {
    items
        .iter()
        .map(|i| {
            let value = if let Some(f) = &i.field_ref {
                match f.field_path.as_str() {
                    "metadata.labels" => map_lines(pod.metadata.labels.as_ref()),
                    "metadata.annotations" => map_lines(pod.metadata.annotations.as_ref()),
                    path => env::field(src, path)?,
                }
            } else if let Some(r) = &i.resource_field_ref {
                let name = r.container_name.as_deref().unwrap_or_default();
                let c = pod
                    .spec
                    .iter()
                    .flat_map(|s| s.containers.iter())
                    .find(|c| c.name == name)
                    .ok_or_else(|| format!("container {name:?} not found for {}", i.path))?;
                env::resource_field(c, src, r)?
            } else {
                return Err(format!("downwardAPI item {} names no field", i.path));
            };
            Ok(FileSpec {
                path: i.path.clone(),
                data: value.into_bytes(),
                mode: mode_bits(i.mode, mode),
            })
        })
        .collect()
}

/// Parses a quantity in bytes (`64Mi`).
fn bytes(q: &str) -> Option<u64> {
    let nano = skiff_api::quantity::parse(q)?;
    u64::try_from((nano + 999_999_999) / 1_000_000_000).ok()
}

/// What volume `v` of `pod` is on the node; `Err` is why it cannot be set up.
pub fn plan(v: &Volume, pod: &Pod, objs: &Objects, src: &Sources<'_>) -> Result<Plan, String> {
    if let Some(e) = &v.empty_dir {
        return Ok(Plan::EmptyDir {
            memory: e.medium.as_deref() == Some("Memory"),
            size_limit: e.size_limit.as_ref().and_then(|q| bytes(&q.0)),
        });
    }
    if let Some(h) = &v.host_path {
        return Ok(Plan::HostPath {
            path: h.path.clone(),
            kind: h.type_.clone().unwrap_or_default(),
        });
    }
    if let Some(c) = &v.persistent_volume_claim {
        return Ok(Plan::Claim {
            name: c.claim_name.clone(),
            read_only: c.read_only == Some(true),
        });
    }
    if let Some(c) = &v.config_map {
        let p = ConfigMapProjection {
            name: c.name.clone(),
            items: c.items.clone(),
            optional: c.optional,
        };
        return config_map_files(&p, objs, mode_bits(c.default_mode, DEFAULT_MODE))
            .map(Plan::Files);
    }
    if let Some(s) = &v.secret {
        let p = SecretProjection {
            name: s.secret_name.clone().unwrap_or_default(),
            items: s.items.clone(),
            optional: s.optional,
        };
        return secret_files(&p, objs, mode_bits(s.default_mode, DEFAULT_MODE)).map(Plan::Files);
    }
    if let Some(d) = &v.downward_api {
        let mode = mode_bits(d.default_mode, DEFAULT_MODE);
        return downward_files(d.items.as_deref().unwrap_or_default(), pod, src, mode)
            .map(Plan::Files);
    }
    if let Some(p) = &v.projected {
        let mode = mode_bits(p.default_mode, DEFAULT_MODE);
        let mut files = Vec::new();
        for s in p.sources.iter().flatten() {
            if let Some(c) = &s.config_map {
                files.extend(config_map_files(c, objs, mode)?);
            }
            if let Some(sec) = &s.secret {
                files.extend(secret_files(sec, objs, mode)?);
            }
            if let Some(d) = &s.downward_api {
                files.extend(downward_files(
                    d.items.as_deref().unwrap_or_default(),
                    pod,
                    src,
                    mode,
                )?);
            }
            if let Some(t) = &s.service_account_token {
                let token = objs.tokens.get(&TokenKey::of(t)).ok_or_else(|| {
                    format!(
                        "failed to fetch token: no token for service account {:?} yet",
                        pod.spec
                            .as_ref()
                            .and_then(|s| s.service_account_name.as_deref())
                            .unwrap_or("default")
                    )
                })?;
                files.push(FileSpec {
                    path: t.path.clone(),
                    data: token.clone().into_bytes(),
                    mode,
                });
            }
        }
        return Ok(Plan::Files(files));
    }
    Err(format!(
        "volume {:?}: this volume type is not supported",
        v.name
    ))
}

/// What is at a hostPath.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// Nothing.
    Nothing,
    /// A directory.
    Directory,
    /// A regular file.
    File,
    /// A unix socket.
    Socket,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
}

/// What to do for a hostPath of type `kind` given what is there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostPathAction {
    /// Mount it as it is.
    Use,
    /// Create a directory (0755) first.
    CreateDirectory,
    /// Create an empty file (0644) first.
    CreateFile,
}

/// The kubelet's hostPath type check.
pub fn host_path_check(path: &str, kind: &str, found: Found) -> Result<HostPathAction, String> {
    let fail = |what: &str| Err(format!("hostPath type check failed: {path} is not {what}"));
    match (kind, found) {
        ("" | "Unset", _) => Ok(HostPathAction::Use),
        ("DirectoryOrCreate", Found::Nothing) => Ok(HostPathAction::CreateDirectory),
        ("DirectoryOrCreate" | "Directory", Found::Directory) => Ok(HostPathAction::Use),
        ("DirectoryOrCreate" | "Directory", _) => fail("a directory"),
        ("FileOrCreate", Found::Nothing) => Ok(HostPathAction::CreateFile),
        ("FileOrCreate" | "File", Found::File) => Ok(HostPathAction::Use),
        ("FileOrCreate" | "File", _) => fail("a file"),
        ("Socket", Found::Socket) => Ok(HostPathAction::Use),
        ("Socket", _) => fail("a socket file"),
        ("CharDevice", Found::CharDevice) => Ok(HostPathAction::Use),
        ("CharDevice", _) => fail("a character device"),
        ("BlockDevice", Found::BlockDevice) => Ok(HostPathAction::Use),
        ("BlockDevice", _) => fail("a block device"),
        (other, _) => Err(format!("hostPath type {other:?} is not supported")),
    }
}

/// A set-up volume: its directory (or file) on the node and whether it is mounted read-only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ready {
    /// Where it is.
    pub path: PathBuf,
    /// Always read-only (configMap, secret, downwardAPI, projected, a read-only claim).
    pub read_only: bool,
}

/// A CRI mount of a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountSpec {
    /// Path in the container.
    pub container_path: String,
    /// Path on the node.
    pub host_path: PathBuf,
    /// Read-only.
    pub read_only: bool,
}

/// The mounts of container `c` given the set-up volumes; `Err` names a mount whose volume is
/// missing or whose subPath escapes the volume.
pub fn mounts(c: &Container, volumes: &BTreeMap<String, Ready>) -> Result<Vec<MountSpec>, String> {
    c.volume_mounts
        .iter()
        .flatten()
        .map(|m| {
            let v = volumes.get(&m.name).ok_or_else(|| {
                format!("volume {:?} of mount {} not found", m.name, m.mount_path)
            })?;
            let sub = m.sub_path.as_deref().unwrap_or_default();
            let sub_path = Path::new(sub);
            if sub_path.is_absolute()
                || sub_path
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                return Err(format!(
                    "subPath {sub:?} of volume {:?} must be a relative path without '..'",
                    m.name
                ));
            }
            Ok(MountSpec {
                container_path: m.mount_path.clone(),
                host_path: if sub.is_empty() {
                    v.path.clone()
                } else {
                    v.path.join(sub_path)
                },
                read_only: v.read_only || m.read_only == Some(true),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
