//! Stable made-up identifiers: image digests, container IDs and machine IDs derived from names,
//! so a restarted sim reports exactly what it reported before.

/// 64 hex digits derived from `seed` (four FNV-1a hashes with different offsets). Not a
/// cryptographic digest; it only has to look like one and stay the same for the same input.
pub fn hex64(seed: &str) -> String {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut out = String::with_capacity(64);
    for lane in 0u64..4 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ lane.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for b in seed.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(PRIME);
        }
        // A final avalanche so similar seeds give unrelated-looking digits.
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        out.push_str(&format!("{h:016x}"));
    }
    out
}

/// A UUID-shaped string derived from `seed` (for `systemUUID`).
pub fn uuid_like(seed: &str) -> String {
    let h = hex64(seed);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The fully qualified reference a container runtime reports for `image`:
/// `nginx` → `docker.io/library/nginx:latest`, `me/app:1` → `docker.io/me/app:1`.
pub fn normalize_image(image: &str) -> String {
    let image = image.trim();
    let (first, _) = image.split_once('/').unwrap_or(("", image));
    let qualified = if !image.contains('/') {
        format!("docker.io/library/{image}")
    } else if first.contains('.') || first.contains(':') || first == "localhost" {
        image.to_string()
    } else {
        format!("docker.io/{image}")
    };
    let last = qualified.rsplit('/').next().unwrap_or("");
    if qualified.contains('@') || last.contains(':') {
        qualified
    } else {
        format!("{qualified}:latest")
    }
}

/// The `imageID` a runtime reports: the repository with a digest. An image given by digest
/// keeps it; otherwise the digest is derived from the name.
pub fn image_id(image: &str) -> String {
    let full = normalize_image(image);
    if full.contains('@') {
        return full;
    }
    // Strip the tag: the last ':' after the last '/'.
    let slash = full.rfind('/').map_or(0, |i| i + 1);
    let repo = match full[slash..].rfind(':') {
        Some(i) => &full[..slash + i],
        None => &full,
    };
    format!("{repo}@sha256:{}", hex64(&full))
}

/// `sim://<64 hex>` for container `name` of the pod with `uid`.
pub fn container_id(pod_uid: &str, name: &str) -> String {
    format!("sim://{}", hex64(&format!("{pod_uid}/{name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex64_is_stable_and_distinct() {
        let a = hex64("nginx");
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a, hex64("nginx"));
        assert_ne!(a, hex64("nginy"));
    }

    #[test]
    fn uuid_like_has_uuid_shape() {
        let u = uuid_like("sim-node-0");
        assert_eq!(u.len(), 36);
        assert_eq!(u.matches('-').count(), 4);
    }

    #[test]
    fn images_are_qualified_like_a_runtime_reports_them() {
        assert_eq!(normalize_image("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(
            normalize_image("nginx:1.27"),
            "docker.io/library/nginx:1.27"
        );
        assert_eq!(normalize_image("me/app"), "docker.io/me/app:latest");
        assert_eq!(
            normalize_image("registry.k8s.io/pause:3.10"),
            "registry.k8s.io/pause:3.10"
        );
        assert_eq!(
            normalize_image("localhost:5000/app"),
            "localhost:5000/app:latest"
        );
        assert_eq!(
            normalize_image("a@sha256:00"),
            "docker.io/library/a@sha256:00"
        );
    }

    #[test]
    fn image_ids_carry_a_digest_without_the_tag() {
        let id = image_id("nginx:1.27");
        assert!(id.starts_with("docker.io/library/nginx@sha256:"), "{id}");
        assert_eq!(id.len(), "docker.io/library/nginx@sha256:".len() + 64);
        assert_eq!(
            image_id("localhost:5000/app"),
            format!(
                "localhost:5000/app@sha256:{}",
                hex64("localhost:5000/app:latest")
            )
        );
        assert_eq!(image_id("a@sha256:00"), "docker.io/library/a@sha256:00");
    }

    #[test]
    fn container_ids_differ_per_container() {
        assert!(container_id("u1", "web").starts_with("sim://"));
        assert_ne!(container_id("u1", "web"), container_id("u1", "side"));
        assert_ne!(container_id("u1", "web"), container_id("u2", "web"));
    }
}
