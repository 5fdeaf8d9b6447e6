//! Nodes: `NAME STATUS ROLES AGE VERSION | INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION
//! CONTAINER-RUNTIME`, status `Ready`/`NotReady`/`Unknown` plus `,SchedulingDisabled`.

use crate::age;
use crate::column::{age_col, c, name_col, w, Column};
use crate::util::{arr, b, name, obj, s};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Node columns.
pub fn columns() -> Vec<Column> {
    vec![
        name_col(),
        c("Status", "string", "The status of the node"),
        c("Roles", "string", "The roles of the node"),
        age_col(),
        c("Version", "string", "Kubelet Version reported by the node."),
        w("Internal-IP", "string", "List of addresses reachable to the node."),
        w("External-IP", "string", "List of addresses reachable to the node."),
        w("OS-Image", "string", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."),
        w("Kernel-Version", "string", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
        w("Container-Runtime", "string", "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2)."),
    ]
}

fn address(node: &Value, kind: &str) -> String {
    arr(node, "/status/addresses")
        .iter()
        .find(|a| s(a, "/type") == kind)
        .map(|a| s(a, "/address").to_string())
        .unwrap_or_else(|| "<none>".into())
}

fn roles(node: &Value) -> String {
    let mut roles = BTreeSet::new();
    for (k, v) in obj(node, "/metadata/labels").into_iter().flatten() {
        if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.insert(role.to_string());
            }
        } else if k == "kubernetes.io/role" {
            if let Some(v) = v.as_str().filter(|v| !v.is_empty()) {
                roles.insert(v.to_string());
            }
        }
    }
    if roles.is_empty() {
        "<none>".into()
    } else {
        roles.into_iter().collect::<Vec<_>>().join(",")
    }
}

/// The `STATUS` value.
pub fn status(node: &Value) -> String {
    // Upstream keeps the last condition of each type (a map), then looks at Ready.
    let ready = arr(node, "/status/conditions")
        .iter()
        .rfind(|c| s(c, "/type") == "Ready");
    let mut status = vec![match ready {
        Some(c) if s(c, "/status") == "True" => "Ready".to_string(),
        Some(_) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    }];
    if b(node, "/spec/unschedulable") {
        status.push("SchedulingDisabled".into());
    }
    status.join(",")
}

/// Node cells.
pub fn cells(node: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let unknown = |p: &str| match s(node, p) {
        "" => "<unknown>".to_string(),
        x => x.to_string(),
    };
    vec![
        json!(name(node)),
        json!(status(node)),
        json!(roles(node)),
        json!(age::age(node, now)),
        json!(s(node, "/status/nodeInfo/kubeletVersion")),
        json!(address(node, "InternalIP")),
        json!(address(node, "ExternalIP")),
        json!(unknown("/status/nodeInfo/osImage")),
        json!(unknown("/status/nodeInfo/kernelVersion")),
        json!(unknown("/status/nodeInfo/containerRuntimeVersion")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-05-03T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn ready_control_plane_node() {
        let n = json!({
            "metadata": {
                "name": "n1",
                "creationTimestamp": "2024-05-01T10:00:00Z",
                "labels": { "node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "worker", "x": "y" },
            },
            "status": {
                "conditions": [{ "type": "MemoryPressure", "status": "False" }, { "type": "Ready", "status": "True" }],
                "addresses": [{ "type": "InternalIP", "address": "192.168.1.2" }, { "type": "Hostname", "address": "n1" }],
                "nodeInfo": { "kubeletVersion": "v1.33.0", "osImage": "Debian", "kernelVersion": "6.1", "containerRuntimeVersion": "containerd://1.7" },
            },
        });
        assert_eq!(
            cells(&n, now()),
            vec![
                json!("n1"),
                json!("Ready"),
                json!("control-plane,worker"),
                json!("2d2h"),
                json!("v1.33.0"),
                json!("192.168.1.2"),
                json!("<none>"),
                json!("Debian"),
                json!("6.1"),
                json!("containerd://1.7")
            ]
        );
    }

    #[test]
    fn not_ready_cordoned_and_unknown() {
        let n = json!({ "spec": { "unschedulable": true }, "status": { "conditions": [{ "type": "Ready", "status": "Unknown" }] } });
        assert_eq!(status(&n), "NotReady,SchedulingDisabled");
        let bare = json!({ "metadata": { "name": "x" } });
        assert_eq!(
            cells(&bare, now()),
            vec![
                json!("x"),
                json!("Unknown"),
                json!("<none>"),
                json!("<unknown>"),
                json!(""),
                json!("<none>"),
                json!("<none>"),
                json!("<unknown>"),
                json!("<unknown>"),
                json!("<unknown>")
            ]
        );
    }
}
