//! PURE — security contexts as the kubelet turns them into CRI: the container's effective
//! context (its own fields over the pod's), Linux namespaces (hostNetwork, hostPID,
//! hostIPC, shareProcessNamespace), users and groups (fsGroup joins the supplemental groups),
//! capabilities, privileged, read-only root, no-new-privileges; and the `runAsNonRoot` check
//! against the image's user with upstream's messages.

use k8s_cri::v1::{
    Capability, Int64Value, LinuxContainerSecurityContext, LinuxSandboxSecurityContext,
    NamespaceMode, NamespaceOption,
};
use k8s_openapi::api::core::v1::{Container, Pod, PodSecurityContext, SecurityContext};

fn pod_sc(pod: &Pod) -> Option<&PodSecurityContext> {
    pod.spec.as_ref()?.security_context.as_ref()
}

/// `name_namespace(uid)`, how the kubelet names a pod in messages.
pub fn pod_ref(pod: &Pod) -> String {
    let m = &pod.metadata;
    format!(
        "{}_{}({})",
        m.name.as_deref().unwrap_or_default(),
        m.namespace.as_deref().unwrap_or_default(),
        m.uid.as_deref().unwrap_or_default()
    )
}

/// The effective user, group and runAsNonRoot of `c` (the container's over the pod's).
pub fn effective(pod: &Pod, c: &Container) -> (Option<i64>, Option<i64>, Option<bool>) {
    let csc = c.security_context.as_ref();
    let psc = pod_sc(pod);
    (
        csc.and_then(|s| s.run_as_user)
            .or_else(|| psc.and_then(|s| s.run_as_user)),
        csc.and_then(|s| s.run_as_group)
            .or_else(|| psc.and_then(|s| s.run_as_group)),
        csc.and_then(|s| s.run_as_non_root)
            .or_else(|| psc.and_then(|s| s.run_as_non_root)),
    )
}

/// The kubelet's `verifyRunAsNonRoot`: with runAsNonRoot, the container must not run as uid
/// 0, neither by its runAsUser nor by its image's user (`image_uid`, or a non-numeric
/// `image_user` that cannot be checked; an image naming no user runs as root).
pub fn verify_run_as_non_root(
    pod: &Pod,
    c: &Container,
    image_uid: Option<i64>,
    image_user: &str,
) -> Result<(), String> {
    let (user, _, non_root) = effective(pod, c);
    if non_root != Some(true) {
        return Ok(());
    }
    let who = format!("(pod: {:?}, container: {})", pod_ref(pod), c.name);
    if let Some(u) = user {
        return if u == 0 {
            Err(format!(
                "container's runAsUser breaks non-root policy {who}"
            ))
        } else {
            Ok(())
        };
    }
    match (image_uid, image_user) {
        (Some(0), _) | (None, "") => Err(format!(
            "container has runAsNonRoot and image will run as root {who}"
        )),
        (None, name) => Err(format!(
            "container has runAsNonRoot and image has non-numeric user ({name}), cannot verify user is non-root {who}"
        )),
        (Some(_), _) => Ok(()),
    }
}

fn mode(host: bool, shared: NamespaceMode) -> i32 {
    if host {
        NamespaceMode::Node as i32
    } else {
        shared as i32
    }
}

/// The pod's namespaces: network and IPC per pod (or the node's), PID per container unless
/// `shareProcessNamespace` (or the node's with `hostPID`).
pub fn namespaces(pod: &Pod) -> NamespaceOption {
    let spec = pod.spec.as_ref();
    let flag = |f: fn(&k8s_openapi::api::core::v1::PodSpec) -> Option<bool>| {
        spec.and_then(f).unwrap_or(false)
    };
    let pid_shared = if flag(|s| s.share_process_namespace) {
        NamespaceMode::Pod
    } else {
        NamespaceMode::Container
    };
    NamespaceOption {
        network: mode(flag(|s| s.host_network), NamespaceMode::Pod),
        pid: mode(flag(|s| s.host_pid), pid_shared),
        ipc: mode(flag(|s| s.host_ipc), NamespaceMode::Pod),
        ..Default::default()
    }
}

/// Whether the pod uses the node's network.
pub fn host_network(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.host_network)
        .unwrap_or(false)
}

fn supplemental_groups(pod: &Pod) -> Vec<i64> {
    let psc = pod_sc(pod);
    let mut g: Vec<i64> = psc
        .and_then(|s| s.supplemental_groups.clone())
        .unwrap_or_default();
    if let Some(fs) = psc.and_then(|s| s.fs_group) {
        if !g.contains(&fs) {
            g.push(fs);
        }
    }
    g
}

/// Whether any container of the pod is privileged (its sandbox must be too).
fn any_privileged(pod: &Pod) -> bool {
    pod.spec.as_ref().is_some_and(|s| {
        s.init_containers
            .iter()
            .flatten()
            .chain(s.containers.iter())
            .any(|c| {
                c.security_context
                    .as_ref()
                    .and_then(|sc| sc.privileged)
                    .unwrap_or(false)
            })
    })
}

/// The sandbox's security context (privileged if any container is, like the kubelet's).
pub fn sandbox(pod: &Pod) -> LinuxSandboxSecurityContext {
    let psc = pod_sc(pod);
    LinuxSandboxSecurityContext {
        namespace_options: Some(namespaces(pod)),
        privileged: any_privileged(pod),
        run_as_user: psc
            .and_then(|s| s.run_as_user)
            .map(|value| Int64Value { value }),
        run_as_group: psc
            .and_then(|s| s.run_as_group)
            .map(|value| Int64Value { value }),
        supplemental_groups: supplemental_groups(pod),
        ..Default::default()
    }
}

/// The container's security context.
pub fn container(pod: &Pod, c: &Container) -> LinuxContainerSecurityContext {
    let csc: Option<&SecurityContext> = c.security_context.as_ref();
    let (user, group, _) = effective(pod, c);
    let caps = csc.and_then(|s| s.capabilities.as_ref());
    let list = |l: Option<&Vec<String>>| l.cloned().unwrap_or_default();
    LinuxContainerSecurityContext {
        capabilities: caps.map(|c| Capability {
            add_capabilities: list(c.add.as_ref()),
            drop_capabilities: list(c.drop.as_ref()),
            ..Default::default()
        }),
        privileged: csc.and_then(|s| s.privileged).unwrap_or(false),
        namespace_options: Some(namespaces(pod)),
        run_as_user: user.map(|value| Int64Value { value }),
        run_as_group: group.map(|value| Int64Value { value }),
        readonly_rootfs: csc
            .and_then(|s| s.read_only_root_filesystem)
            .unwrap_or(false),
        supplemental_groups: supplemental_groups(pod),
        no_new_privs: csc
            .and_then(|s| s.allow_privilege_escalation)
            .is_some_and(|allowed| !allowed),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(pod_sc: serde_json::Value, c_sc: serde_json::Value) -> (Pod, Container) {
        let p: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
            "spec": {"securityContext": pod_sc, "containers": [{"name": "c", "securityContext": c_sc}]}
        }))
        .unwrap();
        let c = p.spec.as_ref().unwrap().containers[0].clone();
        (p, c)
    }

    #[test]
    fn run_as_non_root_is_checked_like_the_kubelet() {
        let (p, c) = pod(json!({"runAsNonRoot": true}), json!({}));
        assert_eq!(
            verify_run_as_non_root(&p, &c, None, "").unwrap_err(),
            "container has runAsNonRoot and image will run as root (pod: \"p_ns(u)\", container: c)"
        );
        assert!(verify_run_as_non_root(&p, &c, Some(0), "").is_err());
        assert!(verify_run_as_non_root(&p, &c, Some(1000), "").is_ok());
        assert!(verify_run_as_non_root(&p, &c, None, "nginx")
            .unwrap_err()
            .contains("image has non-numeric user (nginx)"));
        let (p, c) = pod(json!({"runAsNonRoot": true}), json!({"runAsUser": 0}));
        assert_eq!(
            verify_run_as_non_root(&p, &c, Some(1000), "").unwrap_err(),
            "container's runAsUser breaks non-root policy (pod: \"p_ns(u)\", container: c)"
        );
        let (p, c) = pod(json!({"runAsNonRoot": true, "runAsUser": 1000}), json!({}));
        assert!(verify_run_as_non_root(&p, &c, Some(0), "").is_ok());
        let (p, c) = pod(
            json!({"runAsNonRoot": true}),
            json!({"runAsNonRoot": false}),
        );
        assert!(verify_run_as_non_root(&p, &c, Some(0), "").is_ok());
    }

    #[test]
    fn the_container_context_merges_pod_and_container() {
        let (p, c) = pod(
            json!({"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000, "supplementalGroups": [4000]}),
            json!({"runAsUser": 1001, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
                   "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}}),
        );
        assert!(!sandbox(&p).privileged);
        let sc = container(&p, &c);
        assert_eq!(sc.run_as_user.unwrap().value, 1001);
        assert_eq!(sc.run_as_group.unwrap().value, 3000);
        assert_eq!(sc.supplemental_groups, vec![4000, 2000]);
        assert!(sc.readonly_rootfs && sc.no_new_privs && !sc.privileged);
        let caps = sc.capabilities.unwrap();
        assert_eq!(caps.add_capabilities, vec!["NET_ADMIN"]);
        assert_eq!(caps.drop_capabilities, vec!["ALL"]);
        let ns = sc.namespace_options.unwrap();
        assert_eq!(ns.pid, NamespaceMode::Container as i32);
        assert_eq!(ns.network, NamespaceMode::Pod as i32);
    }

    #[test]
    fn host_namespaces_and_a_shared_process_namespace() {
        let p: Pod = serde_json::from_value(json!({
            "spec": {"hostNetwork": true, "shareProcessNamespace": true, "containers": []}
        }))
        .unwrap();
        let ns = namespaces(&p);
        assert_eq!(ns.network, NamespaceMode::Node as i32);
        assert_eq!(ns.pid, NamespaceMode::Pod as i32);
        assert!(host_network(&p));
        let (privileged, _) = pod(json!({}), json!({"privileged": true}));
        assert!(sandbox(&privileged).privileged);
    }
}
