//! Helpers of the prost-based tests: k8s-pb messages wrapped in the `k8s\0` envelope.
#![allow(dead_code)]

use std::collections::BTreeMap;

use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use prost::Message;
use serde_json::Value;

pub fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

pub fn envelope(api_version: &str, kind: &str, object: &impl Message) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: s(api_version),
            kind: s(kind),
        }),
        raw: Some(object.encode_to_vec()),
        content_encoding: s(""),
        content_type: s(""),
    };
    let mut body = b"k8s\0".to_vec();
    body.extend(unknown.encode_to_vec());
    body
}

pub fn meta(name: &str, namespace: &str) -> Option<meta::ObjectMeta> {
    Some(meta::ObjectMeta {
        name: s(name),
        namespace: s(namespace),
        ..Default::default()
    })
}

pub fn quantities(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Quantity { string: s(v) }))
        .collect()
}

/// Decodes and checks that the encoder gives bytes decoding to the same JSON.
pub fn decode(body: &[u8]) -> Value {
    let value = skiff_protobuf::decode(body).unwrap();
    let again = skiff_protobuf::encode(&value).unwrap();
    assert_eq!(skiff_protobuf::decode(&again).unwrap(), value);
    value
}
