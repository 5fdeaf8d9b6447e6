//! Images on the node without a registry: the sandbox (pause) image built from the machine's
//! busybox and imported before the first pod, tarballs imported by `skiff images import` or
//! dropped into `<data-dir>/agent/images/`, and listing through CRI.
//!
//! Import goes through containerd's own `ctr` (shipped with containerd), into the `k8s.io`
//! namespace where CRI looks.

pub mod command;
pub mod gc;
pub mod oci;

use crate::containerd::config::SANDBOX_IMAGE;
use crate::cri::{Cri, CriError};
use k8s_cri::v1::{ImageSpec, ImageStatusRequest, ListImagesRequest, PullImageRequest};
use std::path::{Path, PathBuf};

/// Where Debian's busybox-static lives; the sandbox image is built from it.
pub const BUSYBOX: &str = "/bin/busybox";
/// containerd's namespace for CRI.
pub const CRI_NAMESPACE: &str = "k8s.io";

/// Why an image operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `ctr images import` failed.
    #[error("importing {path} failed: {message}")]
    Import {
        /// The archive.
        path: PathBuf,
        /// ctr's words.
        message: String,
    },
    /// CRI failed.
    #[error(transparent)]
    Cri(#[from] CriError),
}

/// One image as CRI lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    /// `repo:tag` references.
    pub tags: Vec<String>,
    /// The image id (config digest).
    pub id: String,
    /// Size in bytes.
    pub size: u64,
}

/// The sandbox image ([`SANDBOX_IMAGE`]): busybox's `sleep` forever. It carries a shell
/// and a few tools too, so a first pod can run without any registry
/// (`kubectl run box --image=registry.k8s.io/pause:3.6 --command -- sh -c '…'`).
pub fn pause_image(busybox: &Path) -> Result<oci::Image, ImageError> {
    let data = std::fs::read(busybox).map_err(|source| ImageError::File {
        path: busybox.to_path_buf(),
        source,
    })?;
    Ok(oci::busybox(
        SANDBOX_IMAGE,
        data,
        &[
            "sleep", "sh", "echo", "cat", "ls", "date", "env", "ps", "hostname", "id", "wget",
            "httpd", "tar", "mkdir", "rm",
        ],
        vec!["/bin/sleep".into(), "2147483647".into()],
    ))
}

/// Imports an OCI or docker archive into containerd at `socket` with `ctr`.
pub async fn import(ctr: &Path, socket: &Path, archive: &Path) -> Result<(), ImageError> {
    let out = tokio::process::Command::new(ctr)
        .arg("--address")
        .arg(socket)
        .args(["-n", CRI_NAMESPACE, "images", "import"])
        .arg(archive)
        .output()
        .await
        .map_err(|source| ImageError::File {
            path: ctr.to_path_buf(),
            source,
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ImageError::Import {
            path: archive.to_path_buf(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// The CRI spec naming `image`.
pub fn spec(image: &str) -> ImageSpec {
    ImageSpec {
        image: image.into(),
        ..Default::default()
    }
}

/// What CRI knows of `image`, `None` if it does not have it.
pub async fn status(cri: &mut Cri, image: &str) -> Result<Option<k8s_cri::v1::Image>, ImageError> {
    let r = cri
        .images
        .image_status(ImageStatusRequest {
            image: Some(spec(image)),
            verbose: false,
        })
        .await
        .map_err(CriError::from)?;
    Ok(r.into_inner().image)
}

/// The size of `image` in bytes if CRI has it, `None` if it does not.
pub async fn size(cri: &mut Cri, image: &str) -> Result<Option<u64>, ImageError> {
    Ok(status(cri, image).await?.map(|i| i.size))
}

/// The user `image` runs as: its numeric uid, or a user name (both absent: root).
pub async fn user(cri: &mut Cri, image: &str) -> Result<(Option<i64>, String), ImageError> {
    Ok(status(cri, image)
        .await?
        .map(|i| (i.uid.map(|u| u.value), i.username))
        .unwrap_or_default())
}

/// Whether CRI knows `image`.
pub async fn present(cri: &mut Cri, image: &str) -> Result<bool, ImageError> {
    Ok(size(cri, image).await?.is_some())
}

/// Pulls `image` through CRI, with registry `credentials` if the pod has some.
pub async fn pull(
    cri: &mut Cri,
    image: &str,
    credentials: Option<&crate::podsync::pull_secrets::Credentials>,
) -> Result<(), tonic::Status> {
    let auth = credentials.map(|c| k8s_cri::v1::AuthConfig {
        username: c.username.clone(),
        password: c.password.clone(),
        auth: c.auth.clone(),
        // Left empty: the credentials were already matched to the image's registry, and
        // containerd parses a set address as a URL (`127.0.0.1:5000` would not parse).
        ..Default::default()
    });
    cri.images
        .pull_image(PullImageRequest {
            image: Some(spec(image)),
            auth,
            sandbox_config: None,
        })
        .await
        .map(drop)
}

/// Builds and imports the sandbox image unless CRI already has it. Returns whether it imported.
pub async fn ensure_pause(
    cri: &mut Cri,
    ctr: &Path,
    socket: &Path,
    work_dir: &Path,
) -> Result<bool, ImageError> {
    if present(cri, SANDBOX_IMAGE).await? {
        return Ok(false);
    }
    let file = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ImageError::File { path, source }
    };
    let archive = oci::archive(&pause_image(Path::new(BUSYBOX))?).map_err(file(work_dir))?;
    std::fs::create_dir_all(work_dir).map_err(file(work_dir))?;
    let path = work_dir.join("pause.tar");
    std::fs::write(&path, archive).map_err(file(&path))?;
    import(ctr, socket, &path).await?;
    Ok(true)
}

/// Imports every `*.tar` in `dir` (air-gapped nodes drop image archives there). Returns the
/// files imported; a bad archive is reported and skipped.
pub async fn import_dir(ctr: &Path, socket: &Path, dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "tar"))
        .collect();
    files.sort();
    let mut done = Vec::new();
    for f in files {
        match import(ctr, socket, &f).await {
            Ok(()) => done.push(f),
            Err(e) => tracing::warn!(error = %e, "skipping an image archive"),
        }
    }
    done
}

/// A `*.tar` in the images directory as last seen: modification time and size.
pub type Seen = std::collections::HashMap<PathBuf, (std::time::SystemTime, u64)>;

/// PURE — of the archives in a listing (path, mtime, size), those not seen before or changed
/// since (a copy still in progress is retried once it changed again).
pub fn new_archives(
    listing: &[(PathBuf, std::time::SystemTime, u64)],
    seen: &Seen,
) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = listing
        .iter()
        .filter(|(p, m, s)| {
            p.extension().is_some_and(|e| e == "tar") && seen.get(p) != Some(&(*m, *s))
        })
        .map(|(p, _, _)| p.clone())
        .collect();
    out.sort();
    out
}

fn listing(dir: &Path) -> Vec<(PathBuf, std::time::SystemTime, u64)> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((e.path(), m.modified().ok()?, m.len()))
        })
        .collect()
}

/// Imports archives dropped into `dir` while the agent runs: every `every`, the new or
/// changed `*.tar` files (those in `seen` were handled already), until `stop`.
pub async fn watch_dir(
    ctr: PathBuf,
    socket: PathBuf,
    dir: PathBuf,
    mut seen: Seen,
    every: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = crate::stopped(&mut stop) => return,
        }
        let now = listing(&dir);
        for f in new_archives(&now, &seen) {
            match import(&ctr, &socket, &f).await {
                Ok(()) => eprintln!("skiff agent: imported {}", f.display()),
                Err(e) => {
                    tracing::warn!(error = %e, "skipping an image archive (retried when it changes)")
                }
            }
        }
        seen = now.into_iter().map(|(p, m, s)| (p, (m, s))).collect();
    }
}

/// What the images directory holds now (to start [`watch_dir`] from).
pub fn seen_now(dir: &Path) -> Seen {
    listing(dir)
        .into_iter()
        .map(|(p, m, s)| (p, (m, s)))
        .collect()
}

/// The images CRI has.
pub async fn list(cri: &mut Cri) -> Result<Vec<ImageInfo>, ImageError> {
    let r = cri
        .images
        .list_images(ListImagesRequest { filter: None })
        .await
        .map_err(CriError::from)?;
    let mut out: Vec<ImageInfo> = r
        .into_inner()
        .images
        .into_iter()
        .map(|i| ImageInfo {
            tags: i.repo_tags,
            id: i.id,
            size: i.size,
        })
        .collect();
    out.sort_by(|a, b| a.tags.cmp(&b.tags));
    Ok(out)
}

/// `crictl images`-style table: IMAGE, TAG, IMAGE ID (13 hex digits), SIZE.
pub fn table(images: &[ImageInfo]) -> String {
    let mut rows = vec![[
        "IMAGE".to_string(),
        "TAG".into(),
        "IMAGE ID".into(),
        "SIZE".into(),
    ]];
    for i in images {
        let id = i.id.trim_start_matches("sha256:");
        let short = id.get(..13).unwrap_or(id).to_string();
        let refs: Vec<&String> = i.tags.iter().collect();
        let refs = if refs.is_empty() { vec![&i.id] } else { refs };
        for r in refs {
            let (repo, tag) = match r.rsplit_once(':') {
                Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
                _ => (r.to_string(), "<none>".into()),
            };
            rows.push([repo, tag, short.clone(), human_size(i.size)]);
        }
    }
    let widths: Vec<usize> = (0..4)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            let line: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            line.join("   ").trim_end().to_string() + "\n"
        })
        .collect()
}

/// Sizes like crictl: `1.98MB`.
fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes}B")
    } else {
        format!("{v:.3}", v = (v * 100.0).round() / 100.0)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
            + units[u]
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn only_new_or_changed_archives_are_imported() {
        use std::time::{Duration, UNIX_EPOCH};
        let t = |s| UNIX_EPOCH + Duration::from_secs(s);
        let a = PathBuf::from("/d/a.tar");
        let listing = vec![
            (a.clone(), t(1), 10),
            (PathBuf::from("/d/b.tar"), t(2), 20),
            (PathBuf::from("/d/notes.txt"), t(3), 1),
        ];
        let mut seen = Seen::new();
        assert_eq!(
            new_archives(&listing, &seen),
            vec![a.clone(), PathBuf::from("/d/b.tar")]
        );
        seen.insert(a.clone(), (t(1), 10));
        assert_eq!(
            new_archives(&listing, &seen),
            vec![PathBuf::from("/d/b.tar")]
        );
        seen.insert(a.clone(), (t(1), 5));
        assert!(
            new_archives(&listing, &seen).contains(&a),
            "a changed archive is imported again"
        );
    }

    use super::*;

    #[test]
    fn the_table_splits_references_and_shortens_ids() {
        let t = table(&[ImageInfo {
            tags: vec![
                "registry.k8s.io/pause:3.6".into(),
                "127.0.0.1:5000/x/y:v1".into(),
            ],
            id: "sha256:0123456789abcdef0123".into(),
            size: 1_982_256,
        }]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("IMAGE"));
        assert!(lines[1].starts_with("registry.k8s.io/pause"), "{t}");
        assert!(
            lines[1].contains(" 3.6 ")
                && lines[1].contains("0123456789abc ")
                && lines[1].ends_with("1.98MB"),
            "{t}"
        );
        assert!(
            lines[2].starts_with("127.0.0.1:5000/x/y") && lines[2].contains(" v1 "),
            "{t}"
        );
    }

    #[test]
    fn sizes_read_like_crictl() {
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(1_982_256), "1.98MB");
        assert_eq!(human_size(2_000_000_000), "2GB");
    }

    #[test]
    fn the_pause_image_sleeps_forever() {
        let dir = tempfile::tempdir().unwrap();
        let bb = dir.path().join("busybox");
        std::fs::write(&bb, b"binary").unwrap();
        let img = pause_image(&bb).unwrap();
        assert_eq!(img.name, SANDBOX_IMAGE);
        assert_eq!(img.entrypoint, ["/bin/sleep", "2147483647"]);
        assert!(matches!(
            pause_image(Path::new("/nonexistent/busybox")),
            Err(ImageError::File { .. })
        ));
    }
}
