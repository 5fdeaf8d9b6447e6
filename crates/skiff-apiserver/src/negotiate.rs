//! Content negotiation: what a client accepts (JSON, YAML, Table, PartialObjectMetadata,
//! aggregated discovery) and decoding of request bodies (JSON or YAML, duplicate-key aware).

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use skiff_api::ApiError;
use std::fmt;

/// How to render a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// `application/json`
    Json,
    /// `application/yaml`
    Yaml,
    /// `application/json;as=Table;v=v1;g=meta.k8s.io` (version `v1` or `v1beta1`)
    Table(String),
    /// `application/json;as=PartialObjectMetadata[List];...`
    PartialMetadata(String),
    /// `application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList` (version)
    AggregatedDiscovery(String),
}

/// One media range of an Accept header.
#[derive(Debug, Default)]
struct MediaRange {
    essence: String,
    params: Vec<(String, String)>,
}

impl MediaRange {
    fn param(&self, k: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(pk, _)| pk == k)
            .map(|(_, v)| v.as_str())
    }
}

fn parse_accept(accept: &str) -> Vec<MediaRange> {
    accept
        .split(',')
        .map(|part| {
            let mut it = part.split(';').map(str::trim);
            let essence = it.next().unwrap_or("").to_ascii_lowercase();
            let params = it
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
                .collect();
            MediaRange { essence, params }
        })
        .collect()
}

const ACCEPTED: &str = "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf";

/// Chooses the response format from the Accept header. `discovery` says whether aggregated
/// discovery may be served (only on `/api` and `/apis`).
pub fn choose(accept: Option<&str>, discovery: bool) -> Result<Output, ApiError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(Output::Json);
    };
    for m in parse_accept(accept) {
        let json_like = matches!(
            m.essence.as_str(),
            "application/json" | "application/*" | "*/*"
        );
        let meta_v1 =
            m.param("g") == Some("meta.k8s.io") && matches!(m.param("v"), Some("v1" | "v1beta1"));
        let version = || m.param("v").unwrap_or("v1").to_string();
        match m.param("as") {
            Some("Table") if json_like && meta_v1 => return Ok(Output::Table(version())),
            Some("PartialObjectMetadata" | "PartialObjectMetadataList") if json_like && meta_v1 => {
                return Ok(Output::PartialMetadata(version()))
            }
            Some("APIGroupDiscoveryList")
                if json_like
                    && discovery
                    && m.param("g") == Some("apidiscovery.k8s.io")
                    && matches!(m.param("v"), Some("v2" | "v2beta1")) =>
            {
                return Ok(Output::AggregatedDiscovery(version()))
            }
            Some(_) => {}
            None if json_like => return Ok(Output::Json),
            None if m.essence == "application/yaml" => return Ok(Output::Yaml),
            None => {}
        }
    }
    Err(ApiError::NotAcceptable(ACCEPTED.into()))
}

/// The media type of a request body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyType {
    /// JSON
    Json,
    /// YAML
    Yaml,
    /// `application/json-patch+json`
    JsonPatch,
    /// `application/merge-patch+json`
    MergePatch,
    /// `application/strategic-merge-patch+json`
    StrategicMergePatch,
    /// `application/apply-patch+yaml` (server-side apply)
    ApplyPatch,
    /// `application/vnd.kubernetes.protobuf` (what typed Go clients such as kubectl's send)
    Protobuf,
}

/// Classifies a Content-Type header.
pub fn body_type(content_type: Option<&str>) -> Result<BodyType, ApiError> {
    let essence = content_type
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    Ok(match essence.as_str() {
        "application/json" | "" => BodyType::Json,
        "application/yaml" => BodyType::Yaml,
        "application/json-patch+json" => BodyType::JsonPatch,
        "application/merge-patch+json" => BodyType::MergePatch,
        "application/strategic-merge-patch+json" => BodyType::StrategicMergePatch,
        "application/apply-patch+yaml" | "application/apply-patch+json" => BodyType::ApplyPatch,
        skiff_protobuf::CONTENT_TYPE => BodyType::Protobuf,
        other => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {other:?})"
            )))
        }
    })
}

/// A decoded body and the duplicate fields it had (`metadata.name`), for strict validation.
#[derive(Debug)]
pub struct Decoded {
    /// The value (a duplicate key keeps its last value, like upstream's lenient decoding).
    pub value: Value,
    /// Paths of duplicated fields.
    pub duplicates: Vec<String>,
}

/// Decodes a request body of any object media type: JSON, YAML or Kubernetes protobuf.
pub fn decode_as(bytes: &[u8], ty: BodyType) -> Result<Decoded, ApiError> {
    match ty {
        BodyType::Protobuf => skiff_protobuf::decode(bytes)
            .map(|value| Decoded {
                value,
                duplicates: Vec::new(),
            })
            .map_err(|e| {
                ApiError::BadRequest(format!("error decoding the protobuf request body: {e}"))
            }),
        BodyType::Yaml | BodyType::ApplyPatch => decode(bytes, true),
        _ => decode(bytes, false),
    }
}

/// The body type of a request's Content-Type header.
pub fn request_body_type(headers: &http::HeaderMap) -> Result<BodyType, ApiError> {
    body_type(
        headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    )
}

/// Decodes a JSON or YAML body. YAML must hold one document.
pub fn decode(bytes: &[u8], yaml: bool) -> Result<Decoded, ApiError> {
    if yaml {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| ApiError::BadRequest(format!("error converting YAML to JSON: {e}")))?;
        // YAML with duplicate keys is refused by the parser itself; JSON-compatible YAML is
        // parsed as JSON first so duplicates can be reported like for JSON.
        if let Ok(d) = decode_json(bytes) {
            return Ok(d);
        }
        let value: Value = serde_saphyr::from_str(text)
            .map_err(|e| ApiError::BadRequest(format!("error converting YAML to JSON: {e}")))?;
        return Ok(Decoded {
            value,
            duplicates: Vec::new(),
        });
    }
    decode_json(bytes)
}

fn decode_json(bytes: &[u8]) -> Result<Decoded, ApiError> {
    let mut duplicates = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Tracking {
        path: String::new(),
        dups: &mut duplicates,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|_| v))
    .map_err(|e| ApiError::BadRequest(format!("error decoding request body: {e}")))?;
    Ok(Decoded { value, duplicates })
}

/// Deserializes a `Value` while recording duplicate object keys with their paths.
struct Tracking<'a> {
    path: String,
    dups: &'a mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for Tracking<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Tracking<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        let mut i = 0;
        loop {
            let seed = Tracking {
                path: format!("{}[{i}]", self.path),
                dups: &mut *self.dups,
            };
            match seq.next_element_seed(seed)? {
                Some(v) => out.push(v),
                None => break,
            }
            i += 1;
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            let v = map.next_value_seed(Tracking {
                path: path.clone(),
                dups: &mut *self.dups,
            })?;
            if out.insert(key, v).is_some() {
                self.dups.push(path);
            }
        }
        Ok(Value::Object(out))
    }
}

/// Serializes a response body in the chosen format.
pub fn encode(value: &Value, output: &Output) -> (Vec<u8>, &'static str) {
    match output {
        Output::Yaml => (
            serde_saphyr::to_string(value)
                .unwrap_or_default()
                .into_bytes(),
            "application/yaml",
        ),
        _ => (
            serde_json::to_vec(value).unwrap_or_default(),
            "application/json",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_get_asks_for_tables() {
        let a = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(choose(Some(a), false).unwrap(), Output::Table("v1".into()));
    }

    #[test]
    fn protobuf_only_is_not_acceptable() {
        let e = choose(Some("application/vnd.kubernetes.protobuf"), false).unwrap_err();
        assert_eq!(e.code(), 406);
        assert_eq!(
            choose(Some("application/vnd.kubernetes.protobuf, */*"), false).unwrap(),
            Output::Json
        );
    }

    #[test]
    fn aggregated_discovery_only_where_allowed() {
        let a =
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
        assert_eq!(
            choose(Some(a), true).unwrap(),
            Output::AggregatedDiscovery("v2".into())
        );
        assert_eq!(choose(Some(a), false).unwrap(), Output::Json);
    }

    #[test]
    fn duplicate_keys_are_reported_with_paths() {
        let d = decode(
            br#"{"metadata": {"name": "a", "name": "b"}, "x": [{"k": 1, "k": 2}]}"#,
            false,
        )
        .unwrap();
        assert_eq!(d.duplicates, vec!["metadata.name", "x[0].k"]);
        assert_eq!(d.value["metadata"]["name"], "b");
    }

    #[test]
    fn malformed_bodies_are_bad_requests() {
        assert_eq!(decode(b"{", false).unwrap_err().code(), 400);
        assert_eq!(decode(b"a: [", true).unwrap_err().code(), 400);
        let y = decode(b"apiVersion: v1\nkind: ConfigMap\ndata:\n  a: b\n", true).unwrap();
        assert_eq!(y.value["data"]["a"], "b");
    }

    #[test]
    fn unknown_content_types_are_415() {
        assert_eq!(body_type(Some("text/plain")).unwrap_err().code(), 415);
        assert_eq!(
            body_type(Some("application/apply-patch+yaml")).unwrap(),
            BodyType::ApplyPatch
        );
    }
}
