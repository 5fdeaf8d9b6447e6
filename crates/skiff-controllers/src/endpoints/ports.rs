//! Service ports resolved against a pod (upstream `podutil.FindPort`), shared with the
//! EndpointSlice planner.

use crate::cached_pod::CachedPod;
use k8s_openapi::api::core::v1::{EndpointPort, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// The protocol a port has when none is given (the API server's default).
pub const DEFAULT_PROTOCOL: &str = "TCP";

/// The restart policy that makes an init container a sidecar.
const RESTART_ALWAYS: &str = "Always";

/// A port protocol with the API server's default applied.
pub fn protocol(p: Option<&str>) -> &str {
    p.filter(|s| !s.is_empty()).unwrap_or(DEFAULT_PROTOCOL)
}

/// Upstream `FindPort`: the pod port a Service port sends traffic to. A numeric `targetPort`
/// is used as is (an unset one means the service port itself, the API server's default); a
/// named one is looked up among the ports of the pod's containers, then of its sidecars
/// (init containers with `restartPolicy: Always`), by name and protocol. `None` when the pod
/// has no such named port: the pod is then left out for this Service port only.
pub fn find_port(pod: &CachedPod, svc_port: &ServicePort) -> Option<i32> {
    let name = match svc_port.target_port.as_ref() {
        None => return Some(svc_port.port),
        Some(IntOrString::Int(n)) => return Some(*n),
        Some(IntOrString::String(name)) => name.as_str(),
    };
    let want = protocol(svc_port.protocol.as_deref());
    let spec = pod.spec.as_ref()?;
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some(RESTART_ALWAYS));
    spec.containers
        .iter()
        .chain(sidecars)
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| {
            p.name.as_deref().unwrap_or_default() == name && protocol(p.protocol.as_deref()) == want
        })
        .map(|p| p.container_port)
}

/// Upstream `endpointPortFromServicePort`: the Endpoints port for `svc_port` resolved to
/// `port`, carrying the service port's name, protocol and appProtocol.
pub fn endpoint_port(svc_port: &ServicePort, port: i32) -> EndpointPort {
    EndpointPort {
        name: svc_port.name.clone().filter(|n| !n.is_empty()),
        port,
        protocol: Some(protocol(svc_port.protocol.as_deref()).to_string()),
        app_protocol: svc_port.app_protocol.clone(),
    }
}
