//! Kubernetes JSON → protobuf, driven by the same table (the inverse of `decode`).
//!
//! Fields are written in tag order, maps sorted by key, and the envelope carries empty
//! contentEncoding and contentType, as Kubernetes' gogo encoder does. Fields absent or null in the
//! JSON are not written (gogo writes zero values of Go non-pointer fields; their absence decodes
//! to the same Go object).

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::decode::{MAGIC, MAX_DEPTH};
use crate::error::EncodeError;
use crate::special;
use crate::table::{self, Field, Kind, Label, Message, Special};
use crate::wire::Writer;

fn bad(message: &Message, field: &str, reason: impl Into<String>) -> EncodeError {
    EncodeError::InvalidValue {
        message: message.proto,
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// Encodes an object with apiVersion and kind as a `k8s\0` + `runtime.Unknown` body.
pub(crate) fn encode_envelope(value: &Value) -> Result<Vec<u8>, EncodeError> {
    let text = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    let Some(message) = table::by_kind(&api_version, &kind) else {
        return Err(EncodeError::UnknownKind { api_version, kind });
    };
    let raw = object_bytes(message, value, 1)?;
    let mut type_meta = Writer::default();
    type_meta.bytes_field(1, api_version.as_bytes());
    type_meta.bytes_field(2, kind.as_bytes());
    let mut w = Writer {
        buf: MAGIC.to_vec(),
    };
    w.bytes_field(1, &type_meta.buf);
    w.bytes_field(2, &raw);
    w.bytes_field(3, b"");
    w.bytes_field(4, b"");
    Ok(w.buf)
}

/// The bytes of the message at `index` holding `value`.
pub(crate) fn message_bytes(
    index: u16,
    value: &Value,
    depth: usize,
) -> Result<Vec<u8>, EncodeError> {
    let message = table::message(index);
    if depth > MAX_DEPTH {
        return Err(EncodeError::TooDeep(MAX_DEPTH));
    }
    if message.special != Special::None {
        let mut w = Writer::default();
        special::encode(message, value, &mut w, depth)?;
        return Ok(w.buf);
    }
    object_bytes(message, value, depth)
}

/// The bytes of an ordinary message from a JSON object.
pub(crate) fn object_bytes(
    message: &'static Message,
    value: &Value,
    depth: usize,
) -> Result<Vec<u8>, EncodeError> {
    let Value::Object(object) = value else {
        return Err(bad(message, "", format!("expected an object, got {value}")));
    };
    for key in object.keys() {
        if key != "apiVersion" && key != "kind" && !knows(message, key, 0) {
            return Err(bad(message, key, "no such field"));
        }
    }
    let mut w = Writer::default();
    write_fields(message, object, &mut w, depth)?;
    Ok(w.buf)
}

/// Whether `key` is a JSON field of `message` or of a message inlined into it.
fn knows(message: &Message, key: &str, depth: usize) -> bool {
    message.fields.iter().any(|f| match f.kind {
        Kind::M(i) if f.json.is_empty() => depth < 8 && knows(table::message(i), key, depth + 1),
        _ => f.json == key,
    })
}

fn write_fields(
    message: &'static Message,
    object: &Map<String, Value>,
    w: &mut Writer,
    depth: usize,
) -> Result<(), EncodeError> {
    if depth > MAX_DEPTH {
        return Err(EncodeError::TooDeep(MAX_DEPTH));
    }
    for field in message.fields {
        if field.json.is_empty() {
            if let Kind::M(index) = field.kind {
                let mut inner = Writer::default();
                write_fields(table::message(index), object, &mut inner, depth + 1)?;
                w.bytes_field(field.tag, &inner.buf);
            }
            continue;
        }
        let Some(value) = object.get(field.json) else {
            continue;
        };
        if value.is_null() {
            if let (Label::Single, Kind::M(index)) = (field.label, field.kind) {
                if matches!(
                    table::message(index).special,
                    Special::Time | Special::MicroTime
                ) {
                    w.bytes_field(field.tag, b""); // gogo's zero Time, which decodes to null
                }
            }
            continue;
        }
        match field.label {
            Label::Single => write_value(message, field, value, w, depth)?,
            Label::Repeated => {
                let Value::Array(items) = value else {
                    return Err(bad(message, field.json, "expected an array"));
                };
                for item in items {
                    write_value(message, field, item, w, depth)?;
                }
            }
            Label::Map => {
                let Value::Object(entries) = value else {
                    return Err(bad(message, field.json, "expected an object"));
                };
                let mut keys: Vec<&String> = entries.keys().collect();
                keys.sort();
                for key in keys {
                    let mut entry = Writer::default();
                    entry.bytes_field(1, key.as_bytes());
                    write_value(message, field, &entries[key.as_str()], &mut entry, depth)?;
                    w.bytes_field(field.tag, &entry.buf);
                }
            }
        }
    }
    Ok(())
}

/// Writes one value of a field (a map value is written as field 2 of the entry).
fn write_value(
    message: &'static Message,
    field: &Field,
    value: &Value,
    w: &mut Writer,
    depth: usize,
) -> Result<(), EncodeError> {
    let tag = if field.label == Label::Map {
        2
    } else {
        field.tag
    };
    let name = field.json;
    match (field.kind, value) {
        (Kind::M(index), v) => w.bytes_field(tag, &message_bytes(index, v, depth + 1)?),
        (Kind::S, Value::String(s)) => w.bytes_field(tag, s.as_bytes()),
        (Kind::BY, Value::String(s)) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| bad(message, name, format!("not base64: {e}")))?;
            w.bytes_field(tag, &bytes);
        }
        (Kind::B, Value::Bool(b)) => w.varint_field(tag, u64::from(*b)),
        (Kind::I32, Value::Number(n)) => {
            let i = n.as_i64().and_then(|i| i32::try_from(i).ok());
            let i = i.ok_or_else(|| bad(message, name, format!("{n} is not an int32")))?;
            w.varint_field(tag, i64::from(i) as u64);
        }
        (Kind::I64, Value::Number(n)) => {
            let i = n
                .as_i64()
                .ok_or_else(|| bad(message, name, format!("{n} is not an int64")))?;
            w.varint_field(tag, i as u64);
        }
        (Kind::F64, Value::Number(n)) => w.double_field(tag, n.as_f64().unwrap_or_default()),
        (_, v) => return Err(bad(message, name, format!("unexpected JSON {v}"))),
    }
    Ok(())
}
