//! Kubernetes protobuf (`application/vnd.kubernetes.protobuf`) request bodies as Kubernetes JSON.
//!
//! A body is the magic `k8s\0` and a `runtime.Unknown` envelope whose `raw` is the object's own
//! message. [`decode`] turns it into the JSON Kubernetes' own JSON encoding gives the same Go
//! object (field names, `omitempty` zero values, Time, Quantity, IntOrString, ...); [`encode`] is
//! the inverse. The schema is a table generated from k8s-pb, k8s-openapi and kubectl's Go types
//! (`tools/gen_messages.py`).
//!
//! - `messages`: the generated table; `table`: its types and lookups;
//! - `wire`: the protobuf wire format; `decode` / `encode`: the two directions;
//! - `special`: messages with a JSON form of their own; `error`: the error types.

mod decode;
mod encode;
mod error;
#[rustfmt::skip]
mod messages;
mod special;
mod table;
mod wire;

pub use error::{DecodeError, EncodeError};

use serde_json::Value;

/// The media type.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Decodes a Kubernetes protobuf body (with the `k8s\0` envelope) into JSON, with apiVersion and
/// kind set from the envelope's TypeMeta.
pub fn decode(body: &[u8]) -> Result<Value, DecodeError> {
    decode::decode_envelope(body, 0)
}

/// Decodes a bare message of a known definition (e.g. `"io.k8s.api.core.v1.ConfigMap"`, or the
/// proto name `"k8s.io.api.core.v1.ConfigMap"`); the result has no apiVersion or kind.
pub fn decode_message(definition: &str, bytes: &[u8]) -> Result<Value, DecodeError> {
    let message = table::by_definition(definition)
        .ok_or_else(|| DecodeError::UnknownDefinition(definition.to_string()))?;
    if message.special != table::Special::None {
        return special::decode(message, bytes, 0);
    }
    let mut object = serde_json::Map::new();
    decode::decode_fields(message, bytes, &mut object, 0)?;
    Ok(Value::Object(object))
}

/// Encodes a JSON object with apiVersion and kind as a Kubernetes protobuf body (with the
/// envelope). Fields absent from the JSON are not written (gogo would write Go zero values);
/// unknown JSON fields are an error.
pub fn encode(value: &Value) -> Result<Vec<u8>, EncodeError> {
    encode::encode_envelope(value)
}

/// Encodes a JSON value as the bare message of a definition (the inverse of [`decode_message`]).
pub fn encode_message(definition: &str, value: &Value) -> Result<Vec<u8>, EncodeError> {
    let message = table::by_definition(definition)
        .ok_or_else(|| EncodeError::UnknownDefinition(definition.to_string()))?;
    if message.special != table::Special::None {
        let mut w = wire::Writer::default();
        special::encode(message, value, &mut w, 0)?;
        return Ok(w.buf);
    }
    encode::object_bytes(message, value, 0)
}

/// The OpenAPI definition name of the message for an apiVersion and kind, if it has one
/// (meta.k8s.io kinds such as DeleteOptions are found under any apiVersion).
pub fn definition_for(api_version: &str, kind: &str) -> Option<&'static str> {
    table::by_kind(api_version, kind).map(|m| m.definition)
}
