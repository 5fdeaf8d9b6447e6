//! Serving stored objects without decoding them: the store keeps each object as the compact
//! JSON that `serde_json` wrote, without `metadata.resourceVersion` (the store's revision is
//! the version). A watch event needs exactly those bytes with the revision added, so instead
//! of parsing into a `serde_json::Value`, inserting the field and serialising again, the field
//! is spliced into the bytes: the result is byte for byte what the decode–insert–encode path
//! produces, at the cost of one scan.
//!
//! ```
//! use skiff_apiserver::stored_json::with_resource_version;
//! let stored = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{}}"#;
//! let out = with_resource_version(stored, 42, "v1").unwrap();
//! assert_eq!(
//!     out,
//!     br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","resourceVersion":"42"},"data":{}}"#
//! );
//! // Another API version needs a conversion, which needs the decoded object.
//! assert!(with_resource_version(stored, 42, "v2").is_none());
//! ```

/// `bytes` (a stored object) with `"resourceVersion":"<revision>"` appended to its metadata,
/// if the object is in `api_version`. `None` when the bytes are not shaped as expected (no
/// metadata object, a resourceVersion already there, another apiVersion, not JSON): the
/// caller then takes the decoding path.
pub fn with_resource_version(bytes: &[u8], revision: i64, api_version: &str) -> Option<Vec<u8>> {
    let layout = scan(bytes)?;
    if &bytes[layout.api_version.clone()] != api_version.as_bytes() {
        return None;
    }
    let field = format!(
        "{}\"resourceVersion\":\"{revision}\"",
        if layout.metadata_empty { "" } else { "," }
    );
    let mut out = Vec::with_capacity(bytes.len() + field.len());
    out.extend_from_slice(&bytes[..layout.metadata_end]);
    out.extend_from_slice(field.as_bytes());
    out.extend_from_slice(&bytes[layout.metadata_end..]);
    Some(out)
}

/// Where things are in a stored object.
struct Layout {
    /// The text of the top-level `apiVersion` string (one without escapes).
    api_version: std::ops::Range<usize>,
    /// The index of the `}` closing `metadata`.
    metadata_end: usize,
    /// Whether `metadata` is `{}`.
    metadata_empty: bool,
}

fn scan(b: &[u8]) -> Option<Layout> {
    let mut i = ws(b, 0);
    expect(b, &mut i, b'{')?;
    let (mut api_version, mut metadata) = (None, None);
    loop {
        i = ws(b, i);
        if b.get(i) == Some(&b'}') {
            break;
        }
        let key = string(b, &mut i)?;
        i = ws(b, i);
        expect(b, &mut i, b':')?;
        i = ws(b, i);
        match key {
            b"apiVersion" => {
                let start = i + 1;
                let raw = string(b, &mut i)?;
                if raw.contains(&b'\\') {
                    return None;
                }
                api_version = Some(start..start + raw.len());
            }
            b"metadata" => metadata = Some(object_keys_then_end(b, &mut i)?),
            _ => skip_value(b, &mut i)?,
        }
        i = ws(b, i);
        match b.get(i)? {
            b',' => i += 1,
            b'}' => break,
            _ => return None,
        }
    }
    let (metadata_end, metadata_empty) = metadata?;
    Some(Layout {
        api_version: api_version?,
        metadata_end,
        metadata_empty,
    })
}

/// Walks the object at `i` (metadata), refusing one that already has a resourceVersion;
/// returns the index of its closing brace and whether it is empty.
fn object_keys_then_end(b: &[u8], i: &mut usize) -> Option<(usize, bool)> {
    expect(b, i, b'{')?;
    let mut empty = true;
    loop {
        *i = ws(b, *i);
        if b.get(*i) == Some(&b'}') {
            let end = *i;
            *i += 1;
            return Some((end, empty));
        }
        if !empty {
            expect(b, i, b',')?;
            *i = ws(b, *i);
        }
        empty = false;
        if string(b, i)? == b"resourceVersion" {
            return None;
        }
        *i = ws(b, *i);
        expect(b, i, b':')?;
        *i = ws(b, *i);
        skip_value(b, i)?;
    }
}

fn ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        i += 1;
    }
    i
}

fn expect(b: &[u8], i: &mut usize, c: u8) -> Option<()> {
    (b.get(*i) == Some(&c)).then(|| *i += 1)
}

/// The raw contents of the string at `i` (escapes left as they are); `i` moves past it.
fn string<'a>(b: &'a [u8], i: &mut usize) -> Option<&'a [u8]> {
    expect(b, i, b'"')?;
    let start = *i;
    loop {
        match b.get(*i)? {
            b'"' => {
                *i += 1;
                return Some(&b[start..*i - 1]);
            }
            b'\\' => *i += 2,
            _ => *i += 1,
        }
    }
}

/// Moves `i` past the value at `i` (brackets counted outside strings).
fn skip_value(b: &[u8], i: &mut usize) -> Option<()> {
    match b.get(*i)? {
        b'"' => string(b, i).map(drop),
        b'{' | b'[' => {
            let mut depth = 0usize;
            loop {
                match b.get(*i)? {
                    b'"' => {
                        string(b, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            *i += 1;
                            return Some(());
                        }
                    }
                    _ => {}
                }
                *i += 1;
            }
        }
        _ => {
            while !matches!(
                b.get(*i)?,
                b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'
            ) {
                *i += 1;
            }
            Some(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_resource_version;
    use serde_json::{json, Value};

    /// The path this replaces: decode, insert, encode.
    fn decoded(bytes: &[u8], rev: i64) -> Vec<u8> {
        let mut v: Value = serde_json::from_slice(bytes).unwrap();
        v["metadata"]
            .as_object_mut()
            .unwrap()
            .insert("resourceVersion".into(), json!(rev.to_string()));
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn same_bytes_as_decoding_and_encoding() {
        let objects = [
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "}{\"]"}},
                   "spec": {"containers": [{"name": "c", "args": ["x\\\"y", "{[", 1.5, null, true]}]},
                   "status": {"phase": "Running"}}),
            json!({"kind": "X", "metadata": {}, "apiVersion": "v1"}),
            json!({"apiVersion": "apps/v1", "metadata": {"managedFields": [{"fieldsV1": {"f:metadata": {}}}]},
                   "data": {"k": "ünïcödé \u{1F600}"}}),
            json!({"apiVersion": "v1", "list": [[], {}, [{}], -3e10], "metadata": {"name": "n"}}),
        ];
        for o in objects {
            let bytes = serde_json::to_vec(&o).unwrap();
            let av = o["apiVersion"].as_str().unwrap();
            assert_eq!(
                String::from_utf8(with_resource_version(&bytes, 77, av).unwrap()).unwrap(),
                String::from_utf8(decoded(&bytes, 77)).unwrap()
            );
        }
    }

    #[test]
    fn unexpected_shapes_take_the_decoding_path() {
        let none = |s: &str, av: &str| with_resource_version(s.as_bytes(), 1, av).is_none();
        assert!(none(
            r#"{"apiVersion":"v1","metadata":{"resourceVersion":"3"}}"#,
            "v1"
        ));
        assert!(none(r#"{"apiVersion":"v1"}"#, "v1"));
        assert!(none(r#"{"metadata":{}}"#, "v1"));
        assert!(none(r#"{"apiVersion":"v1","metadata":{}}"#, "apps/v1"));
        assert!(none(r#"{"apiVersion":"v1","metadata":{"name":"#, "v1"));
        assert!(none(r#"[1,2]"#, "v1"));
        assert!(none(r#""#, "v1"));
        assert!(none(r#"{"apiVersion":"v1","metadata":"x"}"#, "v1"));
    }
}
