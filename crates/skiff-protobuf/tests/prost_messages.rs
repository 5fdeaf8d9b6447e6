//! Messages encoded by prost from k8s-pb's generated Kubernetes types (an independent encoder
//! of the upstream generated.proto files), wrapped in the `k8s\0` envelope and decoded.

use k8s_pb::api::apps::v1 as apps;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{RawExtension, Unknown};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message;
use serde_json::json;
use support::{decode, envelope, meta, quantities, s};

mod support;

#[test]
fn config_map_and_secret() {
    let cm = core::ConfigMap {
        metadata: meta("cfg", "default"),
        data: [("k".to_string(), "v".to_string())].into(),
        binary_data: [("b".to_string(), vec![0u8, 1, 255])].into(),
        immutable: Some(true),
    };
    assert_eq!(
        decode(&envelope("v1", "ConfigMap", &cm)),
        json!({"kind": "ConfigMap", "apiVersion": "v1",
               "metadata": {"name": "cfg", "namespace": "default"},
               "data": {"k": "v"}, "binaryData": {"b": "AAH/"}, "immutable": true})
    );
    let secret = core::Secret {
        metadata: meta("s", "ns"),
        data: [("password".to_string(), b"hunter2".to_vec())].into(),
        string_data: [("plain".to_string(), "text".to_string())].into(),
        r#type: s("Opaque"),
        immutable: None,
    };
    assert_eq!(
        decode(&envelope("v1", "Secret", &secret)),
        json!({"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "s", "namespace": "ns"},
               "data": {"password": "aHVudGVyMg=="}, "stringData": {"plain": "text"}, "type": "Opaque"})
    );
}

#[test]
fn deployment_with_a_rich_pod_template() {
    let container = core::Container {
        name: s("web"),
        image: s("nginx:1.25"),
        command: vec!["nginx".into(), "-g".into()],
        ports: vec![core::ContainerPort {
            container_port: Some(80),
            protocol: s("TCP"),
            ..Default::default()
        }],
        env: vec![
            core::EnvVar {
                name: s("A"),
                value: s("1"),
                value_from: None,
            },
            core::EnvVar {
                name: s("B"),
                value: None,
                value_from: Some(core::EnvVarSource {
                    config_map_key_ref: Some(core::ConfigMapKeySelector {
                        local_object_reference: Some(core::LocalObjectReference { name: s("cfg") }),
                        key: s("k"),
                        optional: Some(false),
                    }),
                    ..Default::default()
                }),
            },
        ],
        resources: Some(core::ResourceRequirements {
            limits: quantities(&[("cpu", "500m"), ("memory", "128Mi")]),
            requests: quantities(&[("cpu", "250m")]),
            claims: vec![],
        }),
        readiness_probe: Some(core::Probe {
            handler: Some(core::ProbeHandler {
                http_get: Some(core::HttpGetAction {
                    path: s("/healthz"),
                    port: Some(IntOrString {
                        r#type: Some(1),
                        int_val: None,
                        str_val: s("http"),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            initial_delay_seconds: Some(5),
            period_seconds: Some(10),
            ..Default::default()
        }),
        ..Default::default()
    };
    let deployment = apps::Deployment {
        metadata: Some(meta::ObjectMeta {
            name: s("web"),
            labels: [("app".to_string(), "web".to_string())].into(),
            creation_timestamp: Some(meta::Time {
                seconds: Some(1_704_164_645),
                nanos: Some(0),
            }),
            ..Default::default()
        }),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(3),
            selector: Some(meta::LabelSelector {
                match_labels: [("app".to_string(), "web".to_string())].into(),
                match_expressions: vec![meta::LabelSelectorRequirement {
                    key: s("tier"),
                    operator: s("In"),
                    values: vec!["a".into(), "b".into()],
                }],
            }),
            template: Some(core::PodTemplateSpec {
                metadata: Some(meta::ObjectMeta {
                    labels: [("app".to_string(), "web".to_string())].into(),
                    ..Default::default()
                }),
                spec: Some(core::PodSpec {
                    containers: vec![container],
                    termination_grace_period_seconds: Some(30),
                    node_selector: [("disk".to_string(), "ssd".to_string())].into(),
                    ..Default::default()
                }),
            }),
            strategy: Some(apps::DeploymentStrategy {
                r#type: s("RollingUpdate"),
                rolling_update: Some(apps::RollingUpdateDeployment {
                    max_unavailable: Some(IntOrString {
                        r#type: Some(0),
                        int_val: Some(0),
                        str_val: None,
                    }),
                    max_surge: Some(IntOrString {
                        r#type: Some(1),
                        int_val: None,
                        str_val: s("25%"),
                    }),
                }),
            }),
            ..Default::default()
        }),
        status: None,
    };
    let expected = json!({
        "kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {"name": "web", "labels": {"app": "web"}, "creationTimestamp": "2024-01-02T03:04:05Z"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"},
                         "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{
                        "name": "web", "image": "nginx:1.25", "command": ["nginx", "-g"],
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "env": [{"name": "A", "value": "1"},
                                {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k", "optional": false}}}],
                        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "250m"}},
                        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"},
                                           "initialDelaySeconds": 5, "periodSeconds": 10}
                    }],
                    "terminationGracePeriodSeconds": 30,
                    "nodeSelector": {"disk": "ssd"}
                }
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}}
        }
    });
    assert_eq!(
        decode(&envelope("apps/v1", "Deployment", &deployment)),
        expected
    );
}

#[test]
fn service_with_int_and_string_target_ports() {
    let port = |name: &str, port: i32, target: IntOrString| core::ServicePort {
        name: s(name),
        protocol: s("TCP"),
        port: Some(port),
        target_port: Some(target),
        ..Default::default()
    };
    let svc = core::Service {
        metadata: meta("svc", "default"),
        spec: Some(core::ServiceSpec {
            ports: vec![
                port(
                    "a",
                    80,
                    IntOrString {
                        r#type: Some(0),
                        int_val: Some(8080),
                        str_val: s(""),
                    },
                ),
                port(
                    "b",
                    81,
                    IntOrString {
                        r#type: Some(1),
                        int_val: Some(0),
                        str_val: s("http"),
                    },
                ),
            ],
            selector: [("app".to_string(), "web".to_string())].into(),
            r#type: s("ClusterIP"),
            cluster_ips: vec!["10.43.0.10".into()],
            ..Default::default()
        }),
        status: None,
    };
    assert_eq!(
        decode(&envelope("v1", "Service", &svc)),
        json!({"kind": "Service", "apiVersion": "v1", "metadata": {"name": "svc", "namespace": "default"},
               "spec": {"ports": [{"name": "a", "protocol": "TCP", "port": 80, "targetPort": 8080},
                                  {"name": "b", "protocol": "TCP", "port": 81, "targetPort": "http"}],
                        "selector": {"app": "web"}, "type": "ClusterIP", "clusterIPs": ["10.43.0.10"]}})
    );
}

#[test]
fn delete_options_and_eviction() {
    let options = meta::DeleteOptions {
        grace_period_seconds: Some(0),
        preconditions: Some(meta::Preconditions {
            uid: s("u-1"),
            resource_version: None,
        }),
        propagation_policy: s("Foreground"),
        dry_run: vec!["All".into()],
        ..Default::default()
    };
    let expected = json!({"gracePeriodSeconds": 0, "preconditions": {"uid": "u-1"},
                          "propagationPolicy": "Foreground", "dryRun": ["All"]});
    for api_version in ["v1", "meta.k8s.io/v1", "apps/v1"] {
        let mut with_type = expected.clone();
        with_type["kind"] = json!("DeleteOptions");
        with_type["apiVersion"] = json!(api_version);
        assert_eq!(
            decode(&envelope(api_version, "DeleteOptions", &options)),
            with_type
        );
    }
    let bare = options.encode_to_vec();
    assert_eq!(
        skiff_protobuf::decode_message("io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions", &bare)
            .unwrap(),
        expected
    );
    let eviction = k8s_pb::api::policy::v1::Eviction {
        metadata: meta("p1", "default"),
        delete_options: Some(options),
    };
    assert_eq!(
        decode(&envelope("policy/v1", "Eviction", &eviction)),
        json!({"kind": "Eviction", "apiVersion": "policy/v1", "metadata": {"name": "p1", "namespace": "default"},
               "deleteOptions": expected})
    );
}

#[test]
fn lease_micro_times_and_token_review_extra() {
    let lease = k8s_pb::api::coordination::v1::Lease {
        metadata: meta("l", "kube-node-lease"),
        spec: Some(k8s_pb::api::coordination::v1::LeaseSpec {
            holder_identity: s("node-1"),
            lease_duration_seconds: Some(40),
            renew_time: Some(meta::MicroTime {
                seconds: Some(1_704_164_645),
                nanos: Some(123_456_789),
            }),
            ..Default::default()
        }),
    };
    assert_eq!(
        decode(&envelope("coordination.k8s.io/v1", "Lease", &lease))["spec"],
        json!({"holderIdentity": "node-1", "leaseDurationSeconds": 40, "renewTime": "2024-01-02T03:04:05.123456Z"})
    );
    use k8s_pb::api::authentication::v1 as authn;
    let review = authn::TokenReview {
        metadata: None,
        spec: Some(authn::TokenReviewSpec {
            token: s("t"),
            audiences: vec![],
        }),
        status: Some(authn::TokenReviewStatus {
            authenticated: Some(true),
            user: Some(authn::UserInfo {
                username: s("alice"),
                groups: vec!["dev".into()],
                extra: [(
                    "scopes".to_string(),
                    authn::ExtraValue {
                        items: vec!["a".into(), "b".into()],
                    },
                )]
                .into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
    };
    assert_eq!(
        decode(&envelope(
            "authentication.k8s.io/v1",
            "TokenReview",
            &review
        )),
        json!({"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1", "spec": {"token": "t"},
               "status": {"authenticated": true,
                          "user": {"username": "alice", "groups": ["dev"], "extra": {"scopes": ["a", "b"]}}}})
    );
}

#[test]
fn api_resource_list_verbs() {
    let list = meta::APIResourceList {
        group_version: s("v1"),
        resources: vec![meta::APIResource {
            name: s("pods"),
            namespaced: Some(true),
            kind: s("Pod"),
            verbs: Some(meta::Verbs {
                items: vec!["get".into(), "list".into()],
            }),
            short_names: vec!["po".into()],
            ..Default::default()
        }],
    };
    assert_eq!(
        decode(&envelope("v1", "APIResourceList", &list)),
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1",
               "resources": [{"name": "pods", "namespaced": true, "kind": "Pod",
                              "verbs": ["get", "list"], "shortNames": ["po"]}]})
    );
}

#[test]
fn watch_event_with_nested_protobuf_and_json_objects() {
    let pod = core::Pod {
        metadata: meta("p", "default"),
        ..Default::default()
    };
    let nested = envelope("v1", "Pod", &pod);
    let event = meta::WatchEvent {
        r#type: s("ADDED"),
        object: Some(RawExtension { raw: Some(nested) }),
    };
    assert_eq!(
        skiff_protobuf::decode(&envelope("v1", "WatchEvent", &event)).unwrap(),
        json!({"kind": "WatchEvent", "apiVersion": "v1", "type": "ADDED",
               "object": {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p", "namespace": "default"}}})
    );
    let json_object = br#"{"kind":"Pod","apiVersion":"v1","metadata":{"name":"q"}}"#.to_vec();
    let event = meta::WatchEvent {
        r#type: s("DELETED"),
        object: Some(RawExtension {
            raw: Some(json_object),
        }),
    };
    assert_eq!(
        decode(&envelope("v1", "WatchEvent", &event))["object"],
        json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "q"}})
    );
}

#[test]
fn duration_and_bare_specials() {
    let d = meta::Duration {
        duration: Some(3_600_000_000_000),
    };
    let def = "io.k8s.apimachinery.pkg.apis.meta.v1.Duration";
    assert_eq!(
        skiff_protobuf::decode_message(def, &d.encode_to_vec()).unwrap(),
        json!("1h0m0s")
    );
    assert_eq!(
        skiff_protobuf::encode_message(def, &json!("1h0m0s")).unwrap(),
        d.encode_to_vec()
    );
    let q = Quantity { string: s("1Gi") };
    let def = "io.k8s.apimachinery.pkg.api.resource.Quantity";
    assert_eq!(
        skiff_protobuf::decode_message(def, &q.encode_to_vec()).unwrap(),
        json!("1Gi")
    );
    assert_eq!(
        skiff_protobuf::decode_message(def, &[]).unwrap(),
        json!("0")
    );
}

#[test]
fn the_encoder_writes_what_prost_reads() {
    let value = json!({"kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": "p", "namespace": "default", "labels": {"b": "2", "a": "1"},
                     "creationTimestamp": "2024-01-02T03:04:05Z"},
        "spec": {"containers": [{"name": "c", "image": "busybox",
                                 "ports": [{"containerPort": 8080}],
                                 "livenessProbe": {"tcpSocket": {"port": "http"}, "failureThreshold": 3},
                                 "resources": {"requests": {"cpu": "100m"}}}],
                 "restartPolicy": "Never", "activeDeadlineSeconds": 600, "hostNetwork": true}});
    let body = skiff_protobuf::encode(&value).unwrap();
    let unknown = Unknown::decode(&body[4..]).unwrap();
    assert_eq!(
        unknown.type_meta.as_ref().unwrap().kind.as_deref(),
        Some("Pod")
    );
    let pod = core::Pod::decode(unknown.raw.as_deref().unwrap()).unwrap();
    let m = pod.metadata.unwrap();
    assert_eq!(m.name.as_deref(), Some("p"));
    assert_eq!(m.labels.get("a").map(String::as_str), Some("1"));
    assert_eq!(m.creation_timestamp.unwrap().seconds, Some(1_704_164_645));
    let spec = pod.spec.unwrap();
    assert_eq!(spec.active_deadline_seconds, Some(600));
    assert_eq!(spec.host_network, Some(true));
    let c = &spec.containers[0];
    assert_eq!(c.ports[0].container_port, Some(8080));
    let probe = c.liveness_probe.as_ref().unwrap();
    assert_eq!(probe.failure_threshold, Some(3));
    let port = probe
        .handler
        .as_ref()
        .unwrap()
        .tcp_socket
        .as_ref()
        .unwrap()
        .port
        .as_ref()
        .unwrap();
    assert_eq!(
        (port.r#type, port.str_val.as_deref()),
        (Some(1), Some("http"))
    );
    let cpu = &c.resources.as_ref().unwrap().requests["cpu"];
    assert_eq!(cpu.string.as_deref(), Some("100m"));
    assert_eq!(skiff_protobuf::decode(&body).unwrap(), value);
}
