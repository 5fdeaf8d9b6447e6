//! Bodies assembled byte by byte from the wire format and the upstream generated.proto field
//! numbers, the errors a malformed body gives, and properties over random input.

use proptest::prelude::*;
use serde_json::{json, Value};
use skiff_protobuf::{decode, decode_message, DecodeError};

/// `k8s\0` + runtime.Unknown{typeMeta = 1 {apiVersion = 1, kind = 2}, raw = 2}.
fn body(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut type_meta = vec![0x0a, api_version.len() as u8];
    type_meta.extend(api_version.as_bytes());
    type_meta.extend([0x12, kind.len() as u8]);
    type_meta.extend(kind.as_bytes());
    let mut out = b"k8s\0".to_vec();
    out.extend([0x0a, type_meta.len() as u8]);
    out.extend(type_meta);
    out.extend([0x12, raw.len() as u8]);
    out.extend(raw);
    out
}

#[test]
fn config_map() {
    let raw = [
        0x0a, 0x0e, // metadata = 1, 14 bytes: ObjectMeta
        0x0a, 0x03, b'c', b'f', b'g', // name = 1
        0x1a, 0x07, b'd', b'e', b'f', b'a', b'u', b'l', b't', // namespace = 3
        0x12, 0x06, // data = 2, one map entry of 6 bytes
        0x0a, 0x01, b'k', // key = 1
        0x12, 0x01, b'v', // value = 2
    ];
    assert_eq!(
        decode(&body("v1", "ConfigMap", &raw)).unwrap(),
        json!({"kind": "ConfigMap", "apiVersion": "v1",
               "metadata": {"name": "cfg", "namespace": "default"}, "data": {"k": "v"}})
    );
}

#[test]
fn deployment_replicas() {
    // spec = 2 {replicas = 1: 3}; an explicit 0 (a Go *int32) must stay too.
    let value = decode(&body("apps/v1", "Deployment", &[0x12, 0x02, 0x08, 0x03])).unwrap();
    assert_eq!(value["spec"], json!({"replicas": 3}));
    let value = decode(&body("apps/v1", "Deployment", &[0x12, 0x02, 0x08, 0x00])).unwrap();
    assert_eq!(value["spec"], json!({"replicas": 0}));
    // minReadySeconds = 5 is a Go non-pointer omitempty int32: its zero is left out, like Go's JSON.
    let value = decode(&body("apps/v1", "Deployment", &[0x12, 0x02, 0x28, 0x00])).unwrap();
    assert_eq!(value["spec"], json!({}));
}

#[test]
fn service_int_or_string_target_port() {
    let port = |target: &[u8]| {
        // ServicePort: port = 3 (80), targetPort = 4 IntOrString
        let mut p = vec![0x18, 0x50, 0x22, target.len() as u8];
        p.extend(target);
        // ServiceSpec.ports = 1; Service.spec = 2
        let mut spec = vec![0x0a, p.len() as u8];
        spec.extend(p);
        let mut raw = vec![0x12, spec.len() as u8];
        raw.extend(spec);
        decode(&body("v1", "Service", &raw)).unwrap()["spec"]["ports"][0].clone()
    };
    // {type = 1: 0 (int), intVal = 2: 8080, strVal = 3: ""}: what gogo writes
    assert_eq!(
        port(&[0x08, 0x00, 0x10, 0x90, 0x3f, 0x1a, 0x00]),
        json!({"port": 80, "targetPort": 8080})
    );
    // {type = 1: 1 (string), strVal = 3: "http"}
    assert_eq!(
        port(&[0x08, 0x01, 0x1a, 0x04, b'h', b't', b't', b'p']),
        json!({"port": 80, "targetPort": "http"})
    );
}

#[test]
fn secret_bytes_are_base64() {
    // data = 2 {key = 1: "k", value = 2: 00 01 ff}
    let raw = [0x12, 0x08, 0x0a, 0x01, b'k', 0x12, 0x03, 0x00, 0x01, 0xff];
    assert_eq!(
        decode(&body("v1", "Secret", &raw)).unwrap()["data"],
        json!({"k": "AAH/"})
    );
}

#[test]
fn creation_timestamp() {
    // metadata = 1 {creationTimestamp = 8 {seconds = 1: 1704164645, nanos = 2: 7}}
    let raw = [
        0x0a, 0x0a, 0x42, 0x08, 0x08, 0xa5, 0xfa, 0xcd, 0xac, 0x06, 0x10, 0x07,
    ];
    assert_eq!(
        decode(&body("v1", "Pod", &raw)).unwrap()["metadata"],
        json!({"creationTimestamp": "2024-01-02T03:04:05Z"})
    );
    // an empty Time message is Go's zero time: null
    assert_eq!(
        decode(&body("v1", "Pod", &[0x0a, 0x02, 0x42, 0x00])).unwrap()["metadata"],
        json!({"creationTimestamp": null})
    );
    // the Time message claims 7 bytes, ObjectMeta holds 6 of them
    let raw = [0x0a, 0x08, 0x42, 0x07, 0x08, 0xa5, 0xfa, 0xcd, 0xac, 0x06];
    assert_eq!(
        decode(&body("v1", "Pod", &raw)).unwrap_err().to_string(),
        "protobuf data of k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta ends in the middle of a field"
    );
}

#[test]
fn delete_options() {
    // gracePeriodSeconds = 1: 30; propagationPolicy = 4: "Foreground"
    let mut raw = vec![0x08, 0x1e, 0x22, 0x0a];
    raw.extend(b"Foreground");
    let expected = json!({"gracePeriodSeconds": 30, "propagationPolicy": "Foreground"});
    let value = decode(&body("meta.k8s.io/v1", "DeleteOptions", &raw)).unwrap();
    assert_eq!(
        value,
        json!({"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1",
                             "gracePeriodSeconds": 30, "propagationPolicy": "Foreground"})
    );
    assert_eq!(
        decode_message("io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions", &raw).unwrap(),
        expected
    );
    // gracePeriodSeconds 0 (kubectl delete --now/--force) is a pointer: kept
    assert_eq!(
        decode(&body("v1", "DeleteOptions", &[0x08, 0x00])).unwrap()["gracePeriodSeconds"],
        json!(0)
    );
}

#[test]
fn repeated_fields_accept_packed_and_unpacked_encodings() {
    // PodSecurityContext.supplementalGroups (int64, repeated) = 4 inside
    // PodSpec.securityContext = 14, Pod.spec = 2.
    let check = |groups: &[u8]| {
        let mut spec = vec![0x72, groups.len() as u8];
        spec.extend(groups);
        let mut raw = vec![0x12, spec.len() as u8];
        raw.extend(spec);
        decode(&body("v1", "Pod", &raw)).unwrap()["spec"]["securityContext"]["supplementalGroups"]
            .clone()
    };
    assert_eq!(check(&[0x20, 0x01, 0x20, 0x02]), json!([1, 2]));
    assert_eq!(check(&[0x22, 0x02, 0x01, 0x02]), json!([1, 2]));
}

#[test]
fn unknown_fields_are_skipped_and_messages_merge() {
    // metadata twice: the second merges into the first; field 99 (varint) is unknown
    let raw = [
        0x0a, 0x03, 0x0a, 0x01, b'a', 0x98, 0x06, 0x01, 0x0a, 0x03, 0x1a, 0x01, b'n',
    ];
    assert_eq!(
        decode(&body("v1", "ConfigMap", &raw)).unwrap()["metadata"],
        json!({"name": "a", "namespace": "n"})
    );
}

#[test]
fn errors_say_what_is_wrong() {
    let err = |b: &[u8]| decode(b).unwrap_err();
    assert!(matches!(err(b"{\"kind\":\"Pod\"}"), DecodeError::BadMagic));
    assert!(matches!(err(b"k8s\0"), DecodeError::MissingKind));
    assert!(matches!(
        err(&body("example.com/v1", "Widget", &[])),
        DecodeError::UnknownKind { api_version, kind } if api_version == "example.com/v1" && kind == "Widget"
    ));
    assert_eq!(
        err(&body("v1", "Widget", &[])).to_string(),
        "no protobuf schema for apiVersion \"v1\", kind \"Widget\": send it as JSON instead"
    );
    // replicas as a length-delimited value
    let e = err(&body(
        "apps/v1",
        "Deployment",
        &[0x12, 0x03, 0x0a, 0x01, 0x00],
    ));
    assert_eq!(
        e.to_string(),
        "field \"replicas\" of k8s.io.api.apps.v1.DeploymentSpec has wire type 2, expected varint (0)"
    );
    let e = err(&body("v1", "ConfigMap", &[0x0a, 0x03, 0x0a, 0x01, 0xff]));
    assert!(
        matches!(e, DecodeError::InvalidUtf8 { ref field, .. } if field == "name"),
        "{e}"
    );
    let mut gzip = body("v1", "ConfigMap", &[]);
    gzip.extend([0x1a, 0x04, b'g', b'z', b'i', b'p']);
    assert!(matches!(err(&gzip), DecodeError::UnsupportedEncoding(e) if e == "gzip"));
    // IntOrString type 2 does not exist
    let e = err(&body(
        "policy/v1",
        "PodDisruptionBudget",
        &[0x12, 0x04, 0x0a, 0x02, 0x08, 0x02],
    ));
    assert!(matches!(e, DecodeError::InvalidValue { .. }), "{e}");
    assert!(matches!(
        decode_message("io.k8s.api.core.v1.Nope", &[]),
        Err(DecodeError::UnknownDefinition(_))
    ));
}

#[test]
fn nesting_is_bounded() {
    // WatchEvent{object = 2: RawExtension{raw = 1: <another WatchEvent body>}} 300 levels deep
    let mut inner = body("v1", "ConfigMap", &[]);
    for _ in 0..300 {
        let mut raw_ext = vec![0x0a];
        push_len(&mut raw_ext, inner.len());
        raw_ext.extend(&inner);
        let mut event = vec![0x12];
        push_len(&mut event, raw_ext.len());
        event.extend(raw_ext);
        inner = long_body("v1", "WatchEvent", &event);
    }
    assert!(matches!(decode(&inner), Err(DecodeError::TooDeep(_))));
    // JSONSchemaProps{not = 28: JSONSchemaProps{...}} 1000 levels deep
    let mut schema: Vec<u8> = Vec::new();
    for _ in 0..1000 {
        let mut outer = vec![0xe2, 0x01];
        push_len(&mut outer, schema.len());
        outer.extend(schema);
        schema = outer;
    }
    let def = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps";
    assert!(matches!(
        decode_message(def, &schema),
        Err(DecodeError::TooDeep(_))
    ));
}

fn push_len(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn long_body(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut out = body(api_version, kind, &[]);
    out.truncate(out.len() - 2); // drop the empty raw
    out.push(0x12);
    push_len(&mut out, raw.len());
    out.extend(raw);
    out
}

fn fixtures() -> Vec<Vec<u8>> {
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pb"))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    out.sort();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
        let mut with_magic = b"k8s\0".to_vec();
        with_magic.extend(&bytes);
        let _ = decode(&with_magic);
        for def in ["io.k8s.api.core.v1.Pod", "io.k8s.api.apps.v1.Deployment",
                    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
                    "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent"] {
            let _ = decode_message(def, &bytes);
        }
    }

    #[test]
    fn mutated_kubectl_bodies_never_panic(
        pick in 0usize..64,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let all = fixtures();
        let mut bytes = all[pick % all.len()].clone();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        if let Ok(value) = decode(&bytes) {
            // whatever decodes re-encodes, and decodes again to the same JSON
            let again = skiff_protobuf::encode(&value);
            if let Ok(again) = again {
                prop_assert_eq!(decode(&again).unwrap(), value);
            }
        }
    }

    #[test]
    fn config_maps_round_trip(
        name in "[a-z][a-z0-9-]{0,20}",
        data in proptest::collection::btree_map("[a-zA-Z0-9._-]{1,10}", ".{0,20}", 0..5),
        binary in proptest::collection::btree_map("[a-z]{1,5}", proptest::collection::vec(any::<u8>(), 0..10), 0..3),
        immutable in proptest::option::of(any::<bool>()),
    ) {
        use base64::Engine as _;
        let mut value = json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": name}});
        if !data.is_empty() { value["data"] = json!(data); }
        if !binary.is_empty() {
            let b: serde_json::Map<String, Value> = binary.iter()
                .map(|(k, v)| (k.clone(), json!(base64::engine::general_purpose::STANDARD.encode(v)))).collect();
            value["binaryData"] = Value::Object(b);
        }
        if let Some(i) = immutable { value["immutable"] = json!(i); }
        let bytes = skiff_protobuf::encode(&value).unwrap();
        prop_assert_eq!(decode(&bytes).unwrap(), value);
    }
}
