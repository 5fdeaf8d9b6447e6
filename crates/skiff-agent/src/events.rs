//! The kubelet's pod events (Pulling, Pulled, Created, Started, Failed, Killing), recorded as
//! core/v1 Events about the pod with the container's field path, source `kubelet` on this node.
//! Repeats are folded into one event's count. Best effort: a failed write is logged, never
//! fatal.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use std::collections::HashMap;

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

/// The key under which repeats of an event are folded together: the object, the container,
/// type, reason and message (client-go's `EventCorrelator` aggregates on the same fields).
pub fn repeat_key(e: &Event) -> String {
    let o = &e.involved_object;
    format!(
        "{}|{}|{}|{}|{}",
        o.uid.as_deref().unwrap_or_default(),
        o.field_path.as_deref().unwrap_or_default(),
        e.type_.as_deref().unwrap_or_default(),
        e.reason.as_deref().unwrap_or_default(),
        e.message.as_deref().unwrap_or_default()
    )
}

/// How many distinct events the recorder remembers for folding repeats.
const REMEMBERED: usize = 4096;

/// Writes the kubelet's Events for one node. A repeat of an event already written (same pod,
/// container, reason and message — a probe failing every period) raises that event's `count`
/// and `lastTimestamp` instead of adding one, so `kubectl describe` shows `(x5 over 10s)`.
pub struct Recorder {
    client: kube::Client,
    node: String,
    seen: std::sync::Mutex<HashMap<String, (String, i32)>>,
}

impl Recorder {
    /// A recorder writing as the kubelet of `node`.
    pub fn new(client: kube::Client, node: String) -> Self {
        Recorder {
            client,
            node,
            seen: Default::default(),
        }
    }

    /// Records an event about container `name` of `pod` (`""`: about the pod itself).
    /// Best effort: failures are logged.
    pub async fn record(&self, pod: &Pod, name: &str, type_: &str, reason: &str, message: &str) {
        let ns = pod.namespace().unwrap_or_default();
        let api: Api<Event> = Api::namespaced(self.client.clone(), &ns);
        let now = Timestamp::now();
        let path = (!name.is_empty()).then(|| field_path(pod, name));
        let e = event(pod, &self.node, path, type_, reason, message, now);
        let key = repeat_key(&e);
        let previous = self
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        if let Some((existing, count)) = previous {
            let patch = serde_json::json!({
                "count": count + 1,
                "lastTimestamp": Time(now),
            });
            if api
                .patch(&existing, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .is_ok()
            {
                self.remember(key, existing, count + 1);
                return;
            }
        }
        match api.create(&PostParams::default(), &e).await {
            Ok(created) => self.remember(key, created.name_any(), 1),
            Err(err) => tracing::debug!(error = %err, %reason, "recording an event failed"),
        }
    }

    fn remember(&self, key: String, name: String, count: i32) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= REMEMBERED && !seen.contains_key(&key) {
            seen.clear();
        }
        seen.insert(key, (name, count));
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
        assert_eq!(e.source.as_ref().unwrap().host.as_deref(), Some("n1"));
        assert_eq!(e.metadata.namespace.as_deref(), Some("ns"));
        assert!(e.metadata.name.clone().unwrap().starts_with("p."));
        let again = event(
            &pod,
            "n1",
            Some(field_path(&pod, "c")),
            NORMAL,
            "Started",
            "Started container c",
            Timestamp::UNIX_EPOCH + k8s_openapi::jiff::SignedDuration::from_secs(5),
        );
        assert_eq!(repeat_key(&e), repeat_key(&again));
        let other = event(
            &pod,
            "n1",
            None,
            NORMAL,
            "Started",
            "Started container c",
            Timestamp::UNIX_EPOCH,
        );
        assert_ne!(repeat_key(&e), repeat_key(&other));
    }
}
