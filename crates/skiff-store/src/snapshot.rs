//! Store snapshots: every live key-value at one revision, in a small self-checking file format
//! that any backend can write ([`save`], consistent because every page is read at the same
//! revision) and [`EmbeddedStore::restore`](crate::EmbeddedStore::restore) turns back into a
//! store with the same revisions.
//!
//! Format `skiff-snapshot/1` (integers little-endian):
//! `SKIFFSNAP1\n`, revision `i64`, then per key `u32` key length, key, `u32` value length,
//! value, create revision `i64`, mod revision `i64`; then `u32::MAX`, the key count `u64` and
//! the SHA-256 of everything before it. A truncated or altered file fails [`decode`].
//!
//! ```
//! use skiff_store::snapshot::{decode, encode_header, encode_kv, encode_trailer, Snapshot};
//! use skiff_store::KeyValue;
//! let kv = KeyValue { key: "/a".into(), value: "1".into(), create_revision: 2, mod_revision: 3 };
//! let mut buf = encode_header(5);
//! buf.extend(encode_kv(&kv));
//! let trailer = encode_trailer(&buf, 1);
//! buf.extend(trailer);
//! assert_eq!(decode(&buf).unwrap(), Snapshot { revision: 5, kvs: vec![kv] });
//! ```

use crate::error::StoreError;
use crate::store::Store;
use crate::types::{KeyValue, ListRequest, Revision};
use bytes::Bytes;

/// The magic line every snapshot starts with.
pub const MAGIC: &[u8] = b"SKIFFSNAP1\n";
const END: u32 = u32::MAX;
/// Keys read per page while saving.
const PAGE: usize = 500;

/// A decoded snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The revision it was taken at.
    pub revision: Revision,
    /// Every live key-value at that revision, sorted by key.
    pub kvs: Vec<KeyValue>,
}

/// What [`save`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The revision of the snapshot.
    pub revision: Revision,
    /// How many keys it holds.
    pub keys: u64,
    /// Its size in bytes.
    pub bytes: u64,
}

/// The start of a snapshot at `revision`.
pub fn encode_header(revision: Revision) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&revision.to_le_bytes());
    out
}

/// One key-value record.
pub fn encode_kv(kv: &KeyValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + kv.key.len() + kv.value.len());
    out.extend_from_slice(&(kv.key.len() as u32).to_le_bytes());
    out.extend_from_slice(kv.key.as_bytes());
    out.extend_from_slice(&(kv.value.len() as u32).to_le_bytes());
    out.extend_from_slice(&kv.value);
    out.extend_from_slice(&kv.create_revision.to_le_bytes());
    out.extend_from_slice(&kv.mod_revision.to_le_bytes());
    out
}

/// The trailer for a snapshot whose bytes so far are `before` (header and records) and which
/// holds `keys` records.
pub fn encode_trailer(before: &[u8], keys: u64) -> Vec<u8> {
    let mut hasher = ring::digest::Context::new(&ring::digest::SHA256);
    hasher.update(before);
    let mut out = END.to_le_bytes().to_vec();
    out.extend_from_slice(&keys.to_le_bytes());
    hasher.update(&out);
    out.extend_from_slice(hasher.finish().as_ref());
    out
}

fn bad(why: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!(
        "not a usable Skiff snapshot: {why} (was the file truncated or altered? take a new one with `skiff store snapshot save`)"
    ))
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len());
        let end = end.ok_or_else(|| bad(format!("it ends early, at byte {}", self.bytes.len())))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn u32(&mut self) -> Result<u32, StoreError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn i64(&mut self) -> Result<i64, StoreError> {
        Ok(i64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
}

/// PURE — decodes and verifies a whole snapshot.
pub fn decode(bytes: &[u8]) -> Result<Snapshot, StoreError> {
    if !bytes.starts_with(MAGIC) {
        return Err(bad("it does not start with the skiff-snapshot/1 marker"));
    }
    let mut r = Reader {
        bytes,
        at: MAGIC.len(),
    };
    let revision = r.i64()?;
    let mut kvs = Vec::new();
    loop {
        let record_start = r.at;
        let len = r.u32()?;
        if len == END {
            let keys = r.i64()? as u64;
            let digest = r.take(32)?;
            let expected = encode_trailer(&bytes[..record_start], keys);
            if digest != &expected[12..] {
                return Err(bad("its checksum does not match its contents"));
            }
            if keys != kvs.len() as u64 {
                return Err(bad(format!("it says {keys} keys but holds {}", kvs.len())));
            }
            if r.at != bytes.len() {
                return Err(bad("there are bytes after its end"));
            }
            return Ok(Snapshot { revision, kvs });
        }
        let key = std::str::from_utf8(r.take(len as usize)?)
            .map_err(|_| bad("a key is not UTF-8"))?
            .to_string();
        let value_len = r.u32()? as usize;
        let value = Bytes::copy_from_slice(r.take(value_len)?);
        let create_revision = r.i64()?;
        let mod_revision = r.i64()?;
        kvs.push(KeyValue {
            key,
            value,
            create_revision,
            mod_revision,
        });
    }
}

/// Writes a snapshot of every key of `store` at its current revision to `out`, reading in
/// pages at that one revision (so writes meanwhile do not tear it).
pub async fn save<W: tokio::io::AsyncWrite + Unpin>(
    store: &dyn Store,
    out: &mut W,
) -> Result<Summary, StoreError> {
    use tokio::io::AsyncWriteExt;
    let io = |e: std::io::Error| StoreError::Backend(format!("writing the snapshot: {e}"));
    let revision = store.current_revision().await?;
    let mut hasher = ring::digest::Context::new(&ring::digest::SHA256);
    let mut written = 0u64;
    let mut emit = |chunk: Vec<u8>, hasher: &mut ring::digest::Context| {
        hasher.update(&chunk);
        written += chunk.len() as u64;
        chunk
    };
    let header = emit(encode_header(revision), &mut hasher);
    out.write_all(&header).await.map_err(io)?;
    let mut keys = 0u64;
    let mut after = None;
    loop {
        let page = store
            .list(ListRequest {
                prefix: String::new(),
                after_key: after.clone(),
                limit: PAGE,
                revision: Some(revision),
            })
            .await?;
        let mut chunk = Vec::new();
        for kv in &page.kvs {
            chunk.extend(encode_kv(kv));
        }
        keys += page.kvs.len() as u64;
        let chunk = emit(chunk, &mut hasher);
        out.write_all(&chunk).await.map_err(io)?;
        match (page.more, page.kvs.last()) {
            (true, Some(last)) => after = Some(last.key.clone()),
            _ => break,
        }
    }
    let mut trailer = END.to_le_bytes().to_vec();
    trailer.extend_from_slice(&keys.to_le_bytes());
    hasher.update(&trailer);
    trailer.extend_from_slice(hasher.finish().as_ref());
    written += trailer.len() as u64;
    out.write_all(&trailer).await.map_err(io)?;
    out.flush().await.map_err(io)?;
    Ok(Summary {
        revision,
        keys,
        bytes: written,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: &str, c: i64, m: i64) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Bytes::copy_from_slice(value.as_bytes()),
            create_revision: c,
            mod_revision: m,
        }
    }

    #[tokio::test]
    async fn a_saved_store_decodes_to_its_keys_at_one_revision() {
        let store = crate::MemStore::new();
        let a = store.create("/r/a", "1".into()).await.unwrap();
        store.create("/r/b", "2".into()).await.unwrap();
        let a2 = store
            .update("/r/a", "3".into(), a.mod_revision)
            .await
            .unwrap();
        let mut buf = Vec::new();
        let summary = save(&store, &mut buf).await.unwrap();
        assert_eq!(summary.keys, 2);
        assert_eq!(summary.bytes, buf.len() as u64);
        let snap = decode(&buf).unwrap();
        assert_eq!(snap.revision, store.current_revision().await.unwrap());
        assert_eq!(snap.kvs[0], a2);
        assert_eq!(snap.kvs[1], kv("/r/b", "2", 3, 3));
    }

    #[test]
    fn truncation_and_tampering_are_detected() {
        let mut buf = encode_header(9);
        buf.extend(encode_kv(&kv("/a", "hello", 2, 4)));
        let trailer = encode_trailer(&buf, 1);
        buf.extend(trailer);
        assert!(decode(&buf).is_ok());
        for cut in [buf.len() - 1, buf.len() - 40, 20, 5] {
            let e = decode(&buf[..cut]).unwrap_err().to_string();
            assert!(e.contains("not a usable Skiff snapshot"), "{cut}: {e}");
        }
        let mut altered = buf.clone();
        altered[MAGIC.len() + 8 + 4 + 2 + 4] ^= 1; // the value's first byte
        assert!(decode(&altered)
            .unwrap_err()
            .to_string()
            .contains("checksum"));
        assert!(decode(b"PK\x03\x04")
            .unwrap_err()
            .to_string()
            .contains("marker"));
    }
}
