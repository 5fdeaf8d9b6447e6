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
/// Events waiting to be written; more are dropped (upstream's broadcaster queue is 1000 too).
const QUEUE: usize = 1000;

/// Records the kubelet's Events for one node without making the pod work wait for them: like
/// client-go's event broadcaster, [`Recorder::record`] queues the event and one background
/// writer sends them in order. A repeat of an event already written (same pod, container,
/// reason and message — a probe failing every period) raises that event's `count` and
/// `lastTimestamp` instead of adding one, so `kubectl describe` shows `(x5 over 10s)`.
pub struct Recorder {
    node: String,
    queue: tokio::sync::mpsc::Sender<Event>,
}

impl Recorder {
    /// A recorder writing as the kubelet of `node`; starts its writer on the current tokio
    /// runtime, which stops when the recorder is dropped.
    pub fn new(client: kube::Client, node: String) -> Self {
        let (queue, pending) = tokio::sync::mpsc::channel(QUEUE);
        let writer = Writer {
            client,
            seen: HashMap::new(),
        };
        tokio::spawn(writer.run(pending));
        Recorder { node, queue }
    }

    /// Records an event about container `name` of `pod` (`""`: about the pod itself), stamped
    /// now and written soon. Best effort: an event that does not fit in the queue, or whose
    /// write fails, is logged and dropped.
    pub fn record(&self, pod: &Pod, name: &str, type_: &str, reason: &str, message: &str) {
        let path = (!name.is_empty()).then(|| field_path(pod, name));
        let e = event(
            pod,
            &self.node,
            path,
            type_,
            reason,
            message,
            Timestamp::now(),
        );
        if self.queue.try_send(e).is_err() {
            tracing::debug!(%reason, "dropping an event: the event queue is full");
        }
    }
}

/// The background half of a [`Recorder`]: writes queued events, folding repeats.
struct Writer {
    client: kube::Client,
    /// Written events by [`repeat_key`]: their name and count.
    seen: HashMap<String, (String, i32)>,
}

impl Writer {
    async fn run(mut self, mut pending: tokio::sync::mpsc::Receiver<Event>) {
        while let Some(e) = pending.recv().await {
            self.write(e).await;
        }
    }

    async fn write(&mut self, e: Event) {
        let ns = e.metadata.namespace.clone().unwrap_or_default();
        let api: Api<Event> = Api::namespaced(self.client.clone(), &ns);
        let key = repeat_key(&e);
        if let Some((existing, count)) = self.seen.get(&key).cloned() {
            let patch = serde_json::json!({
                "count": count + 1,
                "lastTimestamp": e.last_timestamp,
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
        let reason = e.reason.clone().unwrap_or_default();
        match api.create(&PostParams::default(), &e).await {
            Ok(created) => self.remember(key, created.name_any(), 1),
            Err(err) => tracing::debug!(error = %err, %reason, "recording an event failed"),
        }
    }

    fn remember(&mut self, key: String, name: String, count: i32) {
        if self.seen.len() >= REMEMBERED && !self.seen.contains_key(&key) {
            self.seen.clear();
        }
        self.seen.insert(key, (name, count));
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
