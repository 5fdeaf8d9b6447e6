//! The kubelet's pod events (Pulling, Pulled, Created, Started, Failed, Killing), recorded as
//! core/v1 Events about the pod with the container's field path, source `kubelet` on this node.
//! Best effort: a failed write is logged, never fatal.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::ResourceExt;

/// `Normal` or `Warning`.
pub const NORMAL: &str = "Normal";
/// `Warning`.
pub const WARNING: &str = "Warning";

/// The Event about `container` (a spec field path such as `spec.containers{web}`) of `pod`.
pub fn event(
    pod: &Pod,
    node: &str,
    field_path: Option<String>,
    type_: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> Event {
    let ns = pod.namespace().unwrap_or_default();
    Event {
        metadata: ObjectMeta {
            name: Some(format!(
                "{}.{:x}",
                pod.name_any(),
                now.as_nanosecond().unsigned_abs()
            )),
            namespace: Some(ns.clone()),
            ..Default::default()
        },
        involved_object: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: Some(pod.name_any()),
            namespace: Some(ns),
            uid: pod.uid(),
            field_path,
            ..Default::default()
        },
        reason: Some(reason.into()),
        message: Some(message.into()),
        type_: Some(type_.into()),
        source: Some(EventSource {
            component: Some("kubelet".into()),
            host: Some(node.into()),
        }),
        reporting_component: Some("kubelet".into()),
        reporting_instance: Some(node.into()),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        event_time: Some(MicroTime(now)),
        count: Some(1),
        action: None,
        related: None,
        series: None,
    }
}

/// The field path of container `name` in `pod` (`spec.initContainers{…}` or `spec.containers{…}`).
pub fn field_path(pod: &Pod, name: &str) -> String {
    let init = pod
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .is_some_and(|l| l.iter().any(|c| c.name == name));
    if init {
        format!("spec.initContainers{{{name}}}")
    } else {
        format!("spec.containers{{{name}}}")
    }
}

/// Writes an Event about container `name` of `pod`.
pub async fn record(
    client: &kube::Client,
    pod: &Pod,
    node: &str,
    name: &str,
    type_: &str,
    reason: &str,
    message: &str,
) {
    let ns = pod.namespace().unwrap_or_default();
    let api: Api<Event> = Api::namespaced(client.clone(), &ns);
    let e = event(
        pod,
        node,
        Some(field_path(pod, name)),
        type_,
        reason,
        message,
        Timestamp::now(),
    );
    if let Err(err) = api.create(&PostParams::default(), &e).await {
        tracing::debug!(error = %err, %reason, "recording an event failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec};

    #[test]
    fn events_name_the_container_and_the_kubelet() {
        let pod = Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                namespace: Some("ns".into()),
                uid: Some("u".into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                init_containers: Some(vec![Container {
                    name: "i".into(),
                    ..Default::default()
                }]),
                containers: vec![Container {
                    name: "c".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: None,
        };
        assert_eq!(field_path(&pod, "i"), "spec.initContainers{i}");
        assert_eq!(field_path(&pod, "c"), "spec.containers{c}");
        let e = event(
            &pod,
            "n1",
            Some(field_path(&pod, "c")),
            NORMAL,
            "Started",
            "Started container c",
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(e.involved_object.uid.as_deref(), Some("u"));
        assert_eq!(e.source.unwrap().host.as_deref(), Some("n1"));
        assert_eq!(e.metadata.namespace.as_deref(), Some("ns"));
        assert!(e.metadata.name.unwrap().starts_with("p."));
    }
}
