//! Protobuf → Kubernetes JSON, driven by the message table.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::error::DecodeError;
use crate::special;
use crate::table::{self, Field, Kind, Label, Message, Special};
use crate::wire::{self, Reader, WireError};

/// Deepest nesting of messages accepted (JSON schemas in CRDs nest deepest).
pub(crate) const MAX_DEPTH: usize = 100;

/// The magic that starts every Kubernetes protobuf body.
pub(crate) const MAGIC: &[u8] = b"k8s\0";

const UNKNOWN: &str = "k8s.io.apimachinery.pkg.runtime.Unknown";
const TYPE_META: &str = "k8s.io.apimachinery.pkg.runtime.TypeMeta";

/// Gives a wire error its message context.
pub(crate) fn wire_err(e: WireError, message: &'static str) -> DecodeError {
    match e {
        WireError::Truncated => DecodeError::Truncated { message },
        WireError::Varint => DecodeError::InvalidVarint { message },
        WireError::Key { field, wire_type } => DecodeError::InvalidKey {
            message,
            field,
            wire_type,
        },
    }
}

/// The bytes of a length-delimited value, or a wire type error.
pub(crate) fn expect_len<'a>(
    v: wire::Value<'a>,
    message: &'static str,
    field: &str,
) -> Result<&'a [u8], DecodeError> {
    match v {
        wire::Value::Len(b) => Ok(b),
        other => Err(bad_wire(message, field, "length-delimited (2)", other)),
    }
}

/// A varint value, or a wire type error.
pub(crate) fn expect_varint(
    v: wire::Value<'_>,
    message: &'static str,
    field: &str,
) -> Result<u64, DecodeError> {
    match v {
        wire::Value::Varint(n) => Ok(n),
        other => Err(bad_wire(message, field, "varint (0)", other)),
    }
}

fn bad_wire(
    message: &'static str,
    field: &str,
    expected: &'static str,
    found: wire::Value<'_>,
) -> DecodeError {
    DecodeError::InvalidWireType {
        message,
        field: field.to_string(),
        expected,
        found: found.wire_type(),
    }
}

/// A UTF-8 string, or an error naming the field.
pub(crate) fn utf8(
    bytes: &[u8],
    message: &'static str,
    field: &str,
) -> Result<String, DecodeError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::InvalidUtf8 {
        message,
        field: field.to_string(),
    })
}

/// Decodes a `k8s\0` + `runtime.Unknown` body into JSON with kind and apiVersion.
pub(crate) fn decode_envelope(body: &[u8], depth: usize) -> Result<Value, DecodeError> {
    let rest = body.strip_prefix(MAGIC).ok_or(DecodeError::BadMagic)?;
    let (mut api_version, mut kind, mut encoding) = (String::new(), String::new(), String::new());
    let mut raw: &[u8] = &[];
    let mut r = Reader::new(rest);
    while let Some((tag, v)) = r.field().map_err(|e| wire_err(e, UNKNOWN))? {
        match tag {
            1 => {
                let mut tm = Reader::new(expect_len(v, UNKNOWN, "typeMeta")?);
                while let Some((tag, v)) = tm.field().map_err(|e| wire_err(e, TYPE_META))? {
                    match tag {
                        1 => {
                            api_version = utf8(
                                expect_len(v, TYPE_META, "apiVersion")?,
                                TYPE_META,
                                "apiVersion",
                            )?
                        }
                        2 => kind = utf8(expect_len(v, TYPE_META, "kind")?, TYPE_META, "kind")?,
                        _ => {}
                    }
                }
            }
            2 => raw = expect_len(v, UNKNOWN, "raw")?,
            3 => {
                encoding = utf8(
                    expect_len(v, UNKNOWN, "contentEncoding")?,
                    UNKNOWN,
                    "contentEncoding",
                )?
            }
            _ => {}
        }
    }
    if !encoding.is_empty() {
        return Err(DecodeError::UnsupportedEncoding(encoding));
    }
    if kind.is_empty() {
        return Err(DecodeError::MissingKind);
    }
    let Some(message) = table::by_kind(&api_version, &kind) else {
        return Err(DecodeError::UnknownKind { api_version, kind });
    };
    let mut object = Map::new();
    object.insert("kind".into(), Value::String(kind));
    object.insert("apiVersion".into(), Value::String(api_version));
    decode_fields(message, raw, &mut object, depth)?;
    Ok(Value::Object(object))
}

/// The JSON value of one message: its special form, or an object of its fields.
pub(crate) fn message_value(index: u16, bytes: &[u8], depth: usize) -> Result<Value, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::TooDeep(MAX_DEPTH));
    }
    let message = table::message(index);
    if message.special != Special::None {
        return special::decode(message, bytes, depth);
    }
    let mut object = Map::new();
    decode_fields(message, bytes, &mut object, depth)?;
    Ok(Value::Object(object))
}

/// Decodes a message's fields into `object` (merging, as protobuf merges repeated messages).
pub(crate) fn decode_fields(
    message: &'static Message,
    bytes: &[u8],
    object: &mut Map<String, Value>,
    depth: usize,
) -> Result<(), DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::TooDeep(MAX_DEPTH));
    }
    let mut r = Reader::new(bytes);
    while let Some((tag, v)) = r.field().map_err(|e| wire_err(e, message.proto))? {
        let Some(field) = table::field(message, tag) else {
            continue; // a field newer than the table: Kubernetes would drop it too
        };
        match (field.label, field.kind) {
            (Label::Single, Kind::M(index)) => {
                let bytes = expect_len(v, message.proto, field.json)?;
                let sub = table::message(index);
                if field.json.is_empty() {
                    decode_fields(sub, bytes, object, depth + 1)?; // Go-inlined struct
                } else if sub.special == Special::None {
                    let slot = object
                        .entry(field.json)
                        .or_insert_with(|| Value::Object(Map::new()));
                    if !slot.is_object() {
                        *slot = Value::Object(Map::new());
                    }
                    if let Value::Object(inner) = slot {
                        decode_fields(sub, bytes, inner, depth + 1)?;
                    }
                } else {
                    let value = special::decode(sub, bytes, depth + 1)?;
                    object.insert(field.json.into(), value);
                }
            }
            (Label::Single, _) => {
                let value = scalar(message, field, v)?;
                if field.omit_zero && is_zero(&value) {
                    object.remove(field.json);
                } else {
                    object.insert(field.json.into(), value);
                }
            }
            (Label::Repeated, kind) => {
                let mut values = Vec::new();
                match (kind, v) {
                    (Kind::M(index), v) => values.push(message_value(
                        index,
                        expect_len(v, message.proto, field.json)?,
                        depth + 1,
                    )?),
                    (Kind::B | Kind::I32 | Kind::I64 | Kind::F64, wire::Value::Len(packed)) => {
                        unpack(message, field, packed, &mut values)?
                    }
                    _ => values.push(scalar(message, field, v)?),
                }
                let slot = object
                    .entry(field.json)
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(items) = slot {
                    items.extend(values);
                } else {
                    *slot = Value::Array(values);
                }
            }
            (Label::Map, _) => {
                let (key, value) = map_entry(
                    message,
                    field,
                    expect_len(v, message.proto, field.json)?,
                    depth,
                )?;
                let slot = object
                    .entry(field.json)
                    .or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                if let Value::Object(entries) = slot {
                    entries.insert(key, value);
                }
            }
        }
    }
    Ok(())
}

/// One `map<string, X>` entry {key = 1, value = 2}.
fn map_entry(
    message: &'static Message,
    field: &Field,
    bytes: &[u8],
    depth: usize,
) -> Result<(String, Value), DecodeError> {
    let (mut key, mut value) = (String::new(), None);
    let mut r = Reader::new(bytes);
    while let Some((tag, v)) = r.field().map_err(|e| wire_err(e, message.proto))? {
        match tag {
            1 => {
                key = utf8(
                    expect_len(v, message.proto, field.json)?,
                    message.proto,
                    field.json,
                )?
            }
            2 => {
                value = Some(match field.kind {
                    Kind::M(index) => {
                        message_value(index, expect_len(v, message.proto, field.json)?, depth + 1)?
                    }
                    _ => scalar(message, field, v)?,
                })
            }
            _ => {}
        }
    }
    let value = match value {
        Some(value) => value,
        None => match field.kind {
            Kind::M(index) => message_value(index, &[], depth + 1)?,
            Kind::S | Kind::BY => Value::String(String::new()),
            Kind::B => Value::Bool(false),
            Kind::I32 | Kind::I64 | Kind::F64 => Value::from(0),
        },
    };
    Ok((key, value))
}

/// The elements of a packed repeated scalar.
fn unpack(
    message: &'static Message,
    field: &Field,
    bytes: &[u8],
    out: &mut Vec<Value>,
) -> Result<(), DecodeError> {
    let mut r = Reader::new(bytes);
    while !r.is_empty() {
        let v = if field.kind == Kind::F64 {
            wire::Value::Fixed64(r.fixed64().map_err(|e| wire_err(e, message.proto))?)
        } else {
            wire::Value::Varint(r.varint().map_err(|e| wire_err(e, message.proto))?)
        };
        out.push(scalar(message, field, v)?);
    }
    Ok(())
}

/// A scalar field's JSON value.
fn scalar(
    message: &'static Message,
    field: &Field,
    v: wire::Value<'_>,
) -> Result<Value, DecodeError> {
    let name = field.json;
    Ok(match field.kind {
        Kind::S => Value::String(utf8(
            expect_len(v, message.proto, name)?,
            message.proto,
            name,
        )?),
        Kind::BY => Value::String(base64::engine::general_purpose::STANDARD.encode(expect_len(
            v,
            message.proto,
            name,
        )?)),
        Kind::B => Value::Bool(expect_varint(v, message.proto, name)? != 0),
        // int32 travels sign-extended to 64 bits; its low 32 bits are the value.
        Kind::I32 => Value::from(expect_varint(v, message.proto, name)? as u32 as i32),
        Kind::I64 => Value::from(expect_varint(v, message.proto, name)? as i64),
        Kind::F64 => match v {
            wire::Value::Fixed64(bits) => special::float(f64::from_bits(bits), message.proto)?,
            other => return Err(bad_wire(message.proto, name, "64-bit (1)", other)),
        },
        Kind::M(_) => return Err(bad_wire(message.proto, name, "a message", v)),
    })
}

/// Whether a JSON scalar is Go's zero value (what `omitempty` leaves out).
fn is_zero(value: &Value) -> bool {
    match value {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}
