//! PURE: single-layer OCI image archives built in memory — the sandbox (pause) image the agent
//! imports before its first pod, and the tiny images tests use — so nothing is ever pulled to
//! start a pod.
//!
//! An archive is a tar of an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`)
//! whose index names the image both ways containerd reads (`org.opencontainers.image.ref.name`
//! and `io.containerd.image.name`). The layer is an uncompressed, reproducible tar (owner 0,
//! mtime 0, sorted), so the same input gives the same digests.
//!
//! ```
//! use skiff_agent::images::oci::{Image, archive};
//! let img = Image::new("registry.k8s.io/pause:3.6", vec!["/bin/sleep".into(), "2147483647".into()])
//!     .file("bin/busybox", b"\x7fELF...".to_vec(), 0o755)
//!     .symlink("bin/sleep", "busybox");
//! let tar = archive(&img).unwrap();
//! assert!(tar.len() > 1024);
//! ```

use ring::digest::{digest, SHA256};
use serde_json::json;
use std::collections::BTreeMap;

/// One entry of the layer.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Entry {
    Dir,
    File { data: Vec<u8>, mode: u32 },
    Symlink(String),
}

/// An image to build: a name, an entrypoint and the files of its one layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// Full reference, e.g. `registry.k8s.io/pause:3.6`.
    pub name: String,
    /// `config.Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `config.User` (empty: root).
    pub user: String,
    entries: BTreeMap<String, Entry>,
}

impl Image {
    /// An empty image running `entrypoint`.
    pub fn new(name: &str, entrypoint: Vec<String>) -> Self {
        Image {
            name: name.into(),
            entrypoint,
            user: String::new(),
            entries: BTreeMap::new(),
        }
    }

    /// Adds a regular file (its parent directories too). `path` is relative to `/`.
    pub fn file(mut self, path: &str, data: Vec<u8>, mode: u32) -> Self {
        self.parents(path);
        self.entries.insert(clean(path), Entry::File { data, mode });
        self
    }

    /// Adds a symlink `path` → `target`.
    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        self.parents(path);
        self.entries
            .insert(clean(path), Entry::Symlink(target.into()));
        self
    }

    /// Adds an empty directory.
    pub fn dir(mut self, path: &str) -> Self {
        self.parents(path);
        self.entries.insert(clean(path), Entry::Dir);
        self
    }

    /// Sets `config.User`.
    pub fn user(mut self, user: &str) -> Self {
        self.user = user.into();
        self
    }

    fn parents(&mut self, path: &str) {
        let path = clean(path);
        let mut at = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            if !at.is_empty() {
                self.entries.entry(at.clone()).or_insert(Entry::Dir);
                at.push('/');
            }
            at.push_str(part);
        }
    }
}

fn clean(path: &str) -> String {
    path.trim_matches('/').to_string()
}

/// A busybox image: `/bin/busybox` with a symlink per applet in `/bin`, `/tmp`, and the
/// given entrypoint.
pub fn busybox(name: &str, busybox: Vec<u8>, applets: &[&str], entrypoint: Vec<String>) -> Image {
    let mut img = Image::new(name, entrypoint)
        .file("bin/busybox", busybox, 0o755)
        .dir("tmp")
        .dir("etc");
    for a in applets
        .iter()
        .filter(|a| **a != "busybox" && !a.contains('/'))
    {
        img = img.symlink(&format!("bin/{a}"), "busybox");
    }
    img
}

fn sha256(data: &[u8]) -> String {
    let d = digest(&SHA256, data);
    let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn tar_header(path: &str, kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    let _ = h.set_path(path);
    h
}

/// The layer tar of `img`.
pub fn layer(img: &Image) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, entry) in &img.entries {
        match entry {
            Entry::Dir => {
                let mut h = tar_header(&format!("{path}/"), tar::EntryType::Directory, 0, 0o755);
                h.set_cksum();
                b.append(&h, std::io::empty())?;
            }
            Entry::File { data, mode } => {
                let mut h = tar_header(path, tar::EntryType::Regular, data.len() as u64, *mode);
                h.set_cksum();
                b.append(&h, data.as_slice())?;
            }
            Entry::Symlink(target) => {
                let mut h = tar_header(path, tar::EntryType::Symlink, 0, 0o777);
                h.set_link_name(target)?;
                h.set_cksum();
                b.append(&h, std::io::empty())?;
            }
        }
    }
    b.into_inner()
}

/// The OCI archive of `img` (a tar of its image layout), ready for `skiff images import`.
pub fn archive(img: &Image) -> std::io::Result<Vec<u8>> {
    let layer = layer(img)?;
    let layer_digest = sha256(&layer);
    let config = serde_json::to_vec(&json!({
        "architecture": crate::machine::arch(),
        "os": "linux",
        "config": {
            "Entrypoint": img.entrypoint,
            "User": img.user,
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "WorkingDir": "/",
        },
        "rootfs": { "type": "layers", "diff_ids": [layer_digest] },
    }))?;
    let config_digest = sha256(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": layer_digest,
            "size": layer.len(),
        }],
    }))?;
    let manifest_digest = sha256(&manifest);
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest.len(),
            "annotations": {
                "org.opencontainers.image.ref.name": img.name,
                "io.containerd.image.name": img.name,
            },
        }],
    }))?;
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| -> std::io::Result<()> {
        let mut h = tar_header(path, tar::EntryType::Regular, data.len() as u64, 0o644);
        h.set_cksum();
        b.append(&h, data)
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    add("index.json", &index)?;
    for (d, data) in [
        (&config_digest, &config),
        (&manifest_digest, &manifest),
        (&layer_digest, &layer),
    ] {
        add(&format!("blobs/sha256/{}", &d["sha256:".len()..]), data)?;
    }
    b.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn entries(tar_bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
        let mut a = tar::Archive::new(tar_bytes);
        let mut out = BTreeMap::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            out.insert(path, data);
        }
        out
    }

    fn sample() -> Image {
        busybox(
            "test/bb:1",
            b"BB".to_vec(),
            &["sh", "sleep", "busybox"],
            vec!["/bin/sh".into()],
        )
    }

    #[test]
    fn the_layer_holds_busybox_its_applets_and_parent_dirs() {
        let l = layer(&sample()).unwrap();
        let mut a = tar::Archive::new(l.as_slice());
        let mut seen = Vec::new();
        for e in a.entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            assert_eq!((h.uid().unwrap(), h.mtime().unwrap()), (0, 0));
            let link = e
                .link_name()
                .unwrap()
                .map(|l| l.to_string_lossy().into_owned());
            seen.push((e.path().unwrap().to_string_lossy().into_owned(), link));
        }
        assert!(seen.contains(&("bin/".into(), None)));
        assert!(seen.contains(&("bin/busybox".into(), None)));
        assert!(seen.contains(&("bin/sh".into(), Some("busybox".into()))));
        assert!(!seen.contains(&("bin/busybox".into(), Some("busybox".into()))));
        assert!(seen.contains(&("tmp/".into(), None)));
    }

    #[test]
    fn the_archive_is_a_consistent_oci_layout() {
        let tar_bytes = archive(&sample()).unwrap();
        let files = entries(&tar_bytes);
        assert!(files.contains_key("oci-layout"));
        let index: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
        let m = &index["manifests"][0];
        assert_eq!(m["annotations"]["io.containerd.image.name"], "test/bb:1");
        assert_eq!(
            m["annotations"]["org.opencontainers.image.ref.name"],
            "test/bb:1"
        );
        // Every digest names a blob whose bytes hash to it, with the right size.
        let blob = |d: &serde_json::Value| -> Vec<u8> {
            let d = d.as_str().unwrap();
            let data = files[&format!("blobs/sha256/{}", &d[7..])].clone();
            assert_eq!(sha256(&data), d);
            data
        };
        let manifest_bytes = blob(&m["digest"]);
        assert_eq!(m["size"], manifest_bytes.len());
        let manifest: serde_json::Value = serde_json::from_slice(&manifest_bytes).unwrap();
        let config: serde_json::Value =
            serde_json::from_slice(&blob(&manifest["config"]["digest"])).unwrap();
        assert_eq!(config["config"]["Entrypoint"][0], "/bin/sh");
        let layer_bytes = blob(&manifest["layers"][0]["digest"]);
        assert_eq!(config["rootfs"]["diff_ids"][0], sha256(&layer_bytes));
    }

    #[test]
    fn the_same_image_gives_the_same_bytes() {
        assert_eq!(archive(&sample()).unwrap(), archive(&sample()).unwrap());
    }
}
