//! PURE — where a pod's stream lives: the node agent's address and the kubelet API path for
//! `pods/log`, `pods/exec`, `pods/attach` and `pods/portforward`, with upstream's validation
//! and messages (`pkg/registry/core/pod/strategy.go`).

use k8s_openapi::api::core::v1::{Node, Pod};
use skiff_api::ApiError;

/// The kubelet port when a node publishes none.
pub const DEFAULT_KUBELET_PORT: u16 = 10250;

/// Which stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// `pods/log`.
    Log,
    /// `pods/exec`.
    Exec,
    /// `pods/attach`.
    Attach,
    /// `pods/portforward`.
    PortForward,
}

impl Stream {
    /// The stream a pods subresource names.
    pub fn of(subresource: &str) -> Option<Stream> {
        Some(match subresource {
            "log" => Stream::Log,
            "exec" => Stream::Exec,
            "attach" => Stream::Attach,
            "portforward" => Stream::PortForward,
            _ => return None,
        })
    }
}

/// Where to send the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The node agent's address (an IP or a host name).
    pub host: String,
    /// Its port.
    pub port: u16,
    /// Path and query on the agent.
    pub path_and_query: String,
}

/// Query parameters of `pods/log` the agent understands.
const LOG_PARAMS: [&str; 7] = [
    "follow",
    "previous",
    "timestamps",
    "sinceSeconds",
    "sinceTime",
    "tailLines",
    "limitBytes",
];

/// The container a request addresses: the named one if the pod has it, the only one if
/// there is one, else upstream's BadRequest.
pub fn container(pod: &Pod, requested: &str) -> Result<String, ApiError> {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let spec = pod.spec.as_ref();
    let mut all: Vec<&str> = Vec::new();
    if let Some(s) = spec {
        all.extend(s.init_containers.iter().flatten().map(|c| c.name.as_str()));
        all.extend(s.containers.iter().map(|c| c.name.as_str()));
        all.extend(
            s.ephemeral_containers
                .iter()
                .flatten()
                .map(|c| c.name.as_str()),
        );
    }
    if !requested.is_empty() {
        return if all.contains(&requested) {
            Ok(requested.to_string())
        } else {
            Err(ApiError::BadRequest(format!(
                "container {requested} is not valid for pod {name}"
            )))
        };
    }
    match spec.map(|s| s.containers.as_slice()).unwrap_or_default() {
        [only] => Ok(only.name.clone()),
        [] => Err(ApiError::BadRequest(format!(
            "a container name must be specified for pod {name}"
        ))),
        _ => Err(ApiError::BadRequest(format!(
            "a container name must be specified for pod {name}, choose one of: [{}]",
            all.join(" ")
        ))),
    }
}

/// The agent address of `node`: its InternalIP (else its Hostname address, else its name)
/// and the port in its daemonEndpoints.
pub fn node_address(node: &Node) -> (String, u16) {
    let status = node.status.as_ref();
    let addrs = status
        .and_then(|s| s.addresses.as_deref())
        .unwrap_or_default();
    let pick = |t: &str| {
        addrs
            .iter()
            .find(|a| a.type_ == t)
            .map(|a| a.address.clone())
    };
    let host = pick("InternalIP")
        .or_else(|| pick("Hostname"))
        .unwrap_or_else(|| node.metadata.name.clone().unwrap_or_default());
    let port = status
        .and_then(|s| s.daemon_endpoints.as_ref())
        .and_then(|d| d.kubelet_endpoint.as_ref())
        .and_then(|e| u16::try_from(e.port).ok())
        .filter(|p| *p != 0)
        .unwrap_or(DEFAULT_KUBELET_PORT);
    (host, port)
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Where `stream` of `pod` is served, given the pod's node and the request's query pairs.
/// `Ok(None)`: logs of a pod not yet scheduled (upstream answers with an empty body).
pub fn locate(
    stream: Stream,
    pod: &Pod,
    node: Option<&Node>,
    query: &[(String, String)],
) -> Result<Option<Location>, ApiError> {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    let requested = query
        .iter()
        .find(|(k, _)| k == "container")
        .map_or("", |(_, v)| v.as_str());
    let container = match stream {
        Stream::PortForward => String::new(),
        _ => container(pod, requested)?,
    };
    let node_name = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or_default();
    if node_name.is_empty() {
        return match stream {
            Stream::Log => Ok(None),
            _ => Err(ApiError::BadRequest(format!(
                "pod {name} does not have a host assigned"
            ))),
        };
    }
    let node = node.ok_or_else(|| {
        ApiError::BadRequest(format!("node {node_name} of pod {name} is not registered"))
    })?;
    let (host, port) = node_address(node);
    let pairs: Vec<String> = query
        .iter()
        .filter(|(k, _)| match stream {
            Stream::Log => LOG_PARAMS.contains(&k.as_str()),
            _ => k != "container",
        })
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    let path = match stream {
        Stream::Log => format!("/containerLogs/{ns}/{name}/{}", encode(&container)),
        Stream::Exec => format!("/exec/{ns}/{name}/{}", encode(&container)),
        Stream::Attach => format!("/attach/{ns}/{name}/{}", encode(&container)),
        Stream::PortForward => format!("/portForward/{ns}/{name}"),
    };
    let path_and_query = if pairs.is_empty() {
        path
    } else {
        format!("{path}?{}", pairs.join("&"))
    };
    Ok(Some(Location {
        host,
        port,
        path_and_query,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(node: &str, containers: &[&str]) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns1"},
            "spec": {
                "nodeName": node,
                "initContainers": [{"name": "setup"}],
                "containers": containers.iter().map(|c| json!({"name": c})).collect::<Vec<_>>(),
            }
        }))
        .unwrap()
    }

    fn node(port: i32) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": "n1"},
            "status": {
                "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "10.0.0.7"}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
            }
        }))
        .unwrap()
    }

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_container_is_the_named_one_or_the_only_one() {
        assert_eq!(container(&pod("n1", &["app"]), "").unwrap(), "app");
        assert_eq!(
            container(&pod("n1", &["a", "b"]), "setup").unwrap(),
            "setup"
        );
        let e = container(&pod("n1", &["a", "b"]), "").unwrap_err();
        assert_eq!(
            e.to_string(),
            "a container name must be specified for pod web, choose one of: [setup a b]"
        );
        let e = container(&pod("n1", &["a"]), "zzz").unwrap_err();
        assert_eq!(e.to_string(), "container zzz is not valid for pod web");
    }

    #[test]
    fn logs_go_to_the_node_agent_with_their_options() {
        let n = node(31000);
        let loc = locate(
            Stream::Log,
            &pod("n1", &["app"]),
            Some(&n),
            &q(&[("follow", "true"), ("tailLines", "5"), ("pretty", "x")]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(loc.host, "10.0.0.7");
        assert_eq!(loc.port, 31000);
        assert_eq!(
            loc.path_and_query,
            "/containerLogs/ns1/web/app?follow=true&tailLines=5"
        );
        // not scheduled: an empty log
        assert_eq!(
            locate(Stream::Log, &pod("", &["app"]), None, &[]).unwrap(),
            None
        );
    }

    #[test]
    fn exec_keeps_its_command_and_needs_a_node() {
        let n = node(0);
        let loc = locate(
            Stream::Exec,
            &pod("n1", &["a", "b"]),
            Some(&n),
            &q(&[
                ("command", "sh"),
                ("command", "-c"),
                ("command", "exit 3"),
                ("container", "b"),
                ("stdout", "true"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(loc.port, DEFAULT_KUBELET_PORT);
        assert_eq!(
            loc.path_and_query,
            "/exec/ns1/web/b?command=sh&command=-c&command=exit+3&stdout=true"
        );
        let e = locate(Stream::Exec, &pod("", &["a"]), None, &[]).unwrap_err();
        assert_eq!(e.to_string(), "pod web does not have a host assigned");
        let pf = locate(
            Stream::PortForward,
            &pod("n1", &["a", "b"]),
            Some(&n),
            &q(&[("ports", "80")]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(pf.path_and_query, "/portForward/ns1/web?ports=80");
    }
}
