//! Writing the scheduler's decisions back through the API: bindings, pod conditions,
//! nominations and events.

use chrono::{SecondsFormat, Utc};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use serde_json::json;

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// POST `pods/{name}/binding`.
pub async fn bind(client: &kube::Client, pod: &Pod, node: &str) -> Result<(), kube::Error> {
    let ns = pod.namespace().unwrap_or_default();
    let name = pod.name_any();
    let body = json!({
        "apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": name, "namespace": ns},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    });
    let req = http::Request::post(format!("/api/v1/namespaces/{ns}/pods/{name}/binding"))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).unwrap_or_default())
        .map_err(|e| kube::Error::BuildRequest(kube::core::request::Error::BuildRequest(e)))?;
    client.request_text(req).await.map(|_| ())
}

async fn condition(client: &kube::Client, pod: &Pod, reason: &str, message: &str) {
    let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace().unwrap_or_default());
    let current = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"))
        .map(|c| (c.reason.clone(), c.message.clone()));
    if current == Some((Some(reason.into()), Some(message.into()))) {
        return;
    }
    let patch = json!({"status": {"conditions": [{
        "type": "PodScheduled", "status": "False", "reason": reason, "message": message,
        "lastProbeTime": null, "lastTransitionTime": now(),
    }]}});
    if let Err(e) = api
        .patch_status(
            &pod.name_any(),
            &PatchParams::default(),
            &Patch::Strategic(&patch),
        )
        .await
    {
        tracing::debug!(error = %e, "cannot set PodScheduled");
    }
}

/// Reports an unschedulable pod: the condition and a `FailedScheduling` event.
pub async fn unschedulable(client: &kube::Client, pod: &Pod, reason: &str, message: &str) {
    condition(client, pod, reason, message).await;
    event(client, pod, WARNING, "FailedScheduling", message).await;
}

/// Reports a pod waiting for its scheduling gates.
pub async fn gated(client: &kube::Client, pod: &Pod, message: &str) {
    condition(client, pod, "SchedulingGated", message).await;
}

/// Preemption: nominate the node and evict the victims (graceful deletes).
pub async fn nominate(client: &kube::Client, pod: &Pod, node: &str, victims: &[Pod]) {
    let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace().unwrap_or_default());
    let patch = json!({"status": {"nominatedNodeName": node}});
    let _ = api
        .patch_status(
            &pod.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await;
    for vp in victims {
        let vapi: Api<Pod> = Api::namespaced(client.clone(), &vp.namespace().unwrap_or_default());
        event(
            client,
            vp,
            NORMAL,
            "Preempted",
            &format!("Preempted by pod {}", pod.uid().unwrap_or_default()),
        )
        .await;
        let _ = vapi.delete(&vp.name_any(), &DeleteParams::default()).await;
    }
}

/// Upstream's `Scheduled` event once `pod` is bound to `node`: `kubectl describe pod` shows
/// `Successfully assigned <namespace>/<name> to <node>` from `default-scheduler`.
pub async fn scheduled(client: &kube::Client, pod: &Pod, node: &str) {
    let message = format!(
        "Successfully assigned {}/{} to {node}",
        pod.namespace().unwrap_or_default(),
        pod.name_any()
    );
    event(client, pod, NORMAL, "Scheduled", &message).await;
}

/// Event types.
const NORMAL: &str = "Normal";
const WARNING: &str = "Warning";

/// A core/v1 Event about a pod from `default-scheduler`; best effort.
pub async fn event(client: &kube::Client, pod: &Pod, type_: &str, reason: &str, message: &str) {
    let ns = pod.namespace().unwrap_or_default();
    let ev = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"generateName": format!("{}.", pod.name_any()), "namespace": ns},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": pod.name_any(), "namespace": ns, "uid": pod.uid()},
        "reason": reason, "message": message, "type": type_,
        "source": {"component": "default-scheduler"}, "reportingComponent": "default-scheduler",
        "firstTimestamp": now(), "lastTimestamp": now(), "count": 1,
    });
    let api: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), &ns);
    if let Ok(e) = serde_json::from_value(ev) {
        let _ = api.create(&PostParams::default(), &e).await;
    }
}
