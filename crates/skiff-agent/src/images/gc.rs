//! Image garbage collection, like the kubelet's image manager: when the image filesystem is
//! used above `--image-gc-high-threshold` percent, images no container uses (and not the
//! sandbox image) are removed, least recently used first, until usage is below
//! `--image-gc-low-threshold`; images first seen less than `--minimum-image-ttl-duration`
//! ago are kept. [`plan`] is the pure decision; [`Collector`] observes CRI and the disk.

use crate::cri::Cri;
use k8s_cri::v1 as cri;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Start collecting above this disk usage, percent.
    pub high_percent: u8,
    /// Collect down to this disk usage, percent.
    pub low_percent: u8,
    /// Never remove images younger than this (since first seen).
    pub min_age: Duration,
}

/// One image as the collector sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// CRI image id.
    pub id: String,
    /// Bytes.
    pub size: u64,
    /// How long ago a container last used it (or it was first seen).
    pub idle: Duration,
    /// How long ago it was first seen.
    pub age: Duration,
    /// Used by a container now, or the sandbox image.
    pub keep: bool,
}

/// PURE — the images to remove given the image filesystem's `capacity` and `available`
/// bytes.
pub fn plan(policy: Policy, capacity: u64, available: u64, images: &[Candidate]) -> Vec<String> {
    if capacity == 0 {
        return Vec::new();
    }
    let used = capacity.saturating_sub(available);
    if used.saturating_mul(100) < capacity.saturating_mul(u64::from(policy.high_percent)) {
        return Vec::new();
    }
    let target = capacity.saturating_mul(u64::from(policy.low_percent)) / 100;
    let mut to_free = used.saturating_sub(target);
    let mut candidates: Vec<&Candidate> = images
        .iter()
        .filter(|c| !c.keep && c.age >= policy.min_age)
        .collect();
    // Least recently used first.
    candidates.sort_by(|a, b| b.idle.cmp(&a.idle).then_with(|| a.id.cmp(&b.id)));
    let mut out = Vec::new();
    for c in candidates {
        if to_free == 0 {
            break;
        }
        out.push(c.id.clone());
        to_free = to_free.saturating_sub(c.size);
    }
    out
}

/// Observes images, containers and the disk, and removes what [`plan`] says.
pub struct Collector {
    /// The thresholds.
    pub policy: Policy,
    /// containerd's root (the image filesystem).
    pub image_fs: PathBuf,
    /// The sandbox image reference (never removed).
    pub sandbox_image: String,
    first_seen: HashMap<String, Instant>,
    last_used: HashMap<String, Instant>,
}

impl Collector {
    /// A collector for the image filesystem at `image_fs`.
    pub fn new(policy: Policy, image_fs: PathBuf, sandbox_image: String) -> Self {
        Collector {
            policy,
            image_fs,
            sandbox_image,
            first_seen: HashMap::new(),
            last_used: HashMap::new(),
        }
    }

    /// One pass: returns the images removed.
    pub async fn collect(&mut self, cri: &mut Cri) -> Result<Vec<String>, tonic::Status> {
        let now = Instant::now();
        let images = cri
            .images
            .list_images(cri::ListImagesRequest { filter: None })
            .await?
            .into_inner()
            .images;
        let containers = cri
            .runtime
            .list_containers(cri::ListContainersRequest { filter: None })
            .await?
            .into_inner()
            .containers;
        let in_use: HashSet<&str> = containers.iter().map(|c| c.image_ref.as_str()).collect();
        let ids: HashSet<String> = images.iter().map(|i| i.id.clone()).collect();
        self.first_seen.retain(|id, _| ids.contains(id));
        self.last_used.retain(|id, _| ids.contains(id));
        let candidates: Vec<Candidate> = images
            .iter()
            .map(|i| {
                let first = *self.first_seen.entry(i.id.clone()).or_insert(now);
                let used = in_use.contains(i.id.as_str());
                if used {
                    self.last_used.insert(i.id.clone(), now);
                }
                let last = self.last_used.get(&i.id).copied().unwrap_or(first);
                let sandbox = i.repo_tags.contains(&self.sandbox_image);
                Candidate {
                    id: i.id.clone(),
                    size: i.size,
                    idle: now - last,
                    age: now - first,
                    keep: used || sandbox || i.pinned,
                }
            })
            .collect();
        let (capacity, available) = match rustix::fs::statvfs(&self.image_fs) {
            Ok(s) => (s.f_blocks * s.f_frsize, s.f_bavail * s.f_frsize),
            Err(_) => return Ok(Vec::new()),
        };
        let mut removed = Vec::new();
        for id in plan(self.policy, capacity, available, &candidates) {
            let spec = cri::ImageSpec {
                image: id.clone(),
                ..Default::default()
            };
            match cri
                .images
                .remove_image(cri::RemoveImageRequest { image: Some(spec) })
                .await
            {
                Ok(_) => removed.push(id),
                Err(e) => {
                    tracing::warn!(image = %id, error = %e, "removing an unused image failed")
                }
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(id: &str, size: u64, idle: u64, keep: bool) -> Candidate {
        Candidate {
            id: id.into(),
            size,
            idle: Duration::from_secs(idle),
            age: Duration::from_secs(idle + 600),
            keep,
        }
    }

    const POLICY: Policy = Policy {
        high_percent: 85,
        low_percent: 80,
        min_age: Duration::from_secs(120),
    };

    #[test]
    fn nothing_is_removed_below_the_high_threshold() {
        let images = [img("a", 50, 1000, false)];
        assert!(plan(POLICY, 1000, 200, &images).is_empty(), "80% used");
    }

    #[test]
    fn unused_images_go_least_recently_used_first_down_to_the_low_threshold() {
        let images = [
            img("recent", 30, 10, false),
            img("old", 30, 5000, false),
            img("in-use", 500, 9000, true),
            img("older", 30, 8000, false),
        ];
        // 900 of 1000 used (90%): free 100 to reach 80%
        assert_eq!(
            plan(POLICY, 1000, 100, &images),
            vec!["older", "old", "recent"]
        );
        // 870 used: free 70
        assert_eq!(
            plan(POLICY, 1000, 130, &images),
            vec!["older", "old", "recent"]
        );
        // 860 used: free 60 → two images of 30
        assert_eq!(plan(POLICY, 1000, 140, &images), vec!["older", "old"]);
    }

    #[test]
    fn young_images_are_kept() {
        let mut young = img("young", 100, 0, false);
        young.age = Duration::from_secs(5);
        assert!(plan(POLICY, 1000, 0, &[young]).is_empty());
    }
}
