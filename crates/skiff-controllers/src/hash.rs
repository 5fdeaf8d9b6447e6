//! The pod-template-hash: FNV-32a of a pod template, rendered like upstream's `ComputeHash`.

use k8s_openapi::api::core::v1::PodTemplateSpec;

/// The label that carries a template's hash on ReplicaSets and their pods
/// (upstream `apps.DefaultDeploymentUniqueLabelKey`).
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// The alphabet of upstream's `rand.SafeEncodeString` (no vowels, no confusable digits).
pub const SAFE_ALPHABET: &[u8; 27] = b"bcdfghjklmnpqrstvwxz2456789";

const FNV32_OFFSET: u32 = 0x811c_9dc5;
const FNV32_PRIME: u32 = 0x0100_0193;

/// FNV-1a, 32 bits, over `bytes`, continuing from `state`.
fn fnv32a(mut state: u32, bytes: &[u8]) -> u32 {
    for b in bytes {
        state ^= u32::from(*b);
        state = state.wrapping_mul(FNV32_PRIME);
    }
    state
}

/// Upstream's `rand.SafeEncodeString`: each byte mapped into [`SAFE_ALPHABET`].
pub fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| char::from(SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()]))
        .collect()
}

/// Upstream's `controller.ComputeHash`: FNV-32a of the template (here its JSON encoding, where
/// upstream hashes Go's printed struct), then the collision count as 8 little-endian bytes when
/// set, rendered as the decimal hash through [`safe_encode`].
pub fn compute_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let json = serde_json::to_vec(template).unwrap_or_default();
    let mut h = fnv32a(FNV32_OFFSET, &json);
    if let Some(c) = collision_count {
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&(c as u32).to_le_bytes());
        h = fnv32a(h, &bytes);
    }
    safe_encode(&h.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv32a_matches_the_reference_vectors() {
        assert_eq!(fnv32a(FNV32_OFFSET, b""), 0x811c_9dc5);
        assert_eq!(fnv32a(FNV32_OFFSET, b"a"), 0xe40c_292c);
        assert_eq!(fnv32a(FNV32_OFFSET, b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn safe_encoding_uses_upstreams_alphabet() {
        // '0' is byte 48: 48 % 27 = 21 -> '4'; '9' is 57: 57 % 27 = 3 -> 'f'.
        assert_eq!(safe_encode("0"), "4");
        assert_eq!(safe_encode("9"), "f");
        assert!(safe_encode("1234567890")
            .bytes()
            .all(|b| SAFE_ALPHABET.contains(&b)));
    }

    #[test]
    fn collision_count_changes_the_hash_and_hash_is_stable() {
        let t = PodTemplateSpec::default();
        assert_eq!(compute_hash(&t, None), compute_hash(&t, None));
        assert_ne!(compute_hash(&t, None), compute_hash(&t, Some(1)));
        assert_ne!(compute_hash(&t, Some(1)), compute_hash(&t, Some(2)));
    }
}
