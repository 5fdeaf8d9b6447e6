//! Starting a pod's pieces: its volumes, its sandbox (with the RuntimeClass' handler and
//! hostPort mappings) and its containers (image per pull policy, environment, mounts,
//! resources), with the kubelet's events and waiting reasons.

use super::*;

/// The longest a postStart hook may run.
const POST_START_LIMIT_SECS: u64 = 120;

impl PodWorker {
    pub(super) fn sandbox_config(&self, pod: &Pod, attempt: u32) -> cri::PodSandboxConfig {
        let labels = HashMap::from([
            (LABEL_UID.to_string(), pod.uid().unwrap_or_default()),
            (LABEL_NAME.to_string(), pod.name_any()),
            (
                LABEL_NAMESPACE.to_string(),
                pod.namespace().unwrap_or_default(),
            ),
            (LABEL_MANAGED.to_string(), "skiff-agent".to_string()),
        ]);
        // A hostNetwork pod shares the node's UTS namespace: no hostname of its own.
        let hostname = if podsync::security::host_network(pod) {
            String::new()
        } else {
            pod.spec
                .as_ref()
                .and_then(|s| s.hostname.clone())
                .unwrap_or_else(|| pod.name_any())
        };
        cri::PodSandboxConfig {
            port_mappings: port_mappings(pod),
            metadata: Some(cri::PodSandboxMetadata {
                name: pod.name_any(),
                uid: pod.uid().unwrap_or_default(),
                namespace: pod.namespace().unwrap_or_default(),
                attempt,
            }),
            hostname,
            log_directory: self.pod_log_dir(pod).to_string_lossy().into_owned(),
            labels,
            linux: Some(cri::LinuxPodSandboxConfig {
                security_context: Some(podsync::security::sandbox(pod)),
                cgroup_parent: self
                    .cgroups
                    .as_ref()
                    .map(|_| {
                        let class = podsync::pod_cgroup::qos_class(pod);
                        podsync::pod_cgroup::pod_path(
                            &self.cgroup_root,
                            class,
                            &pod.uid().unwrap_or_default(),
                        )
                    })
                    .unwrap_or_default(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Sets up the pod's volumes when containers are about to start, and refreshes them
    /// (ConfigMap and Secret contents) every few seconds while it runs.
    pub(super) async fn ensure_volumes(
        &mut self,
        pod: &Pod,
        obs: &Observed<'_>,
        starting: bool,
    ) -> Result<(), crate::volumes::MountError> {
        const REFRESH: std::time::Duration = std::time::Duration::from_secs(3);
        let uid = pod.uid().unwrap_or_default();
        let fresh = self
            .volume_dirs
            .get(&uid)
            .is_some_and(|(_, at)| at.elapsed() < REFRESH);
        let has_volumes = pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.as_ref())
            .is_some_and(|v| !v.is_empty());
        if !has_volumes || (fresh && !starting) || (!starting && obs.containers.is_empty()) {
            return Ok(());
        }
        let pod_ip = obs
            .sandboxes
            .first()
            .map(|s| s.ip.clone())
            .unwrap_or_default();
        let src = podsync::env::Sources {
            pod: Some(pod),
            pod_ip,
            host_ip: self.host_ip.clone(),
            node_cpu_millis: self.node_cpu_millis,
            node_memory_bytes: self.node_memory_bytes,
            ..Default::default()
        };
        let ready = self.volumes.ensure(pod, &src).await?;
        self.volume_dirs
            .insert(uid, (ready, std::time::Instant::now()));
        Ok(())
    }

    /// The CRI mounts of container `c` of `pod` (subPath directories of writable volumes are
    /// created, like the kubelet does).
    fn container_mounts(
        &self,
        pod: &Pod,
        c: &k8s_openapi::api::core::v1::Container,
    ) -> Result<Vec<cri::Mount>, String> {
        let empty = BTreeMap::new();
        let ready = self
            .volume_dirs
            .get(&pod.uid().unwrap_or_default())
            .map_or(&empty, |(r, _)| r);
        let mounts = podsync::volumes::mounts(c, ready)?;
        Ok(mounts
            .into_iter()
            .map(|m| {
                if !m.read_only && !m.host_path.exists() {
                    let _ = std::fs::create_dir_all(&m.host_path);
                }
                cri::Mount {
                    container_path: m.container_path,
                    host_path: m.host_path.to_string_lossy().into_owned(),
                    readonly: m.read_only,
                    ..Default::default()
                }
            })
            .collect())
    }

    /// Creates the pod's sandbox with the CRI handler its RuntimeClass names; `Err` is why
    /// not, in the kubelet's words.
    pub(super) async fn run_sandbox(
        &mut self,
        pod: &Pod,
        obs: &Observed<'_>,
    ) -> Result<(), String> {
        let handler = match pod
            .spec
            .as_ref()
            .and_then(|s| s.runtime_class_name.as_deref())
        {
            None | Some("") => String::new(),
            Some(name) => {
                let api: Api<RuntimeClass> = Api::all(self.client.clone());
                match api.get(name).await {
                    Ok(rc) => rc.handler,
                    Err(kube::Error::Api(s)) if s.code == 404 => {
                        return Err(format!("runtimeclass.node.k8s.io {name:?} not found"))
                    }
                    Err(e) => return Err(format!("failed to lookup RuntimeClass {name}: {e}")),
                }
            }
        };
        if let Some(fs) = &self.cgroups {
            let cg = podsync::pod_cgroup::pod_cgroup(&self.cgroup_root, pod);
            fs.apply(&cg.path, &cg.settings)
                .map_err(|e| format!("failed to set up the pod cgroup {}: {e}", cg.path))?;
        }
        let attempt = u32::try_from(obs.sandboxes.len()).unwrap_or(u32::MAX);
        let config = self.sandbox_config(pod, attempt);
        std::fs::create_dir_all(&config.log_directory).map_err(|e| e.to_string())?;
        self.cri
            .runtime
            .run_pod_sandbox(cri::RunPodSandboxRequest {
                config: Some(config),
                runtime_handler: handler,
            })
            .await
            .map_err(|e| format!("rpc error: code = {:?} desc = {}", e.code(), e.message()))?;
        Ok(())
    }

    /// Pulls (per imagePullPolicy), creates and starts a container; on failure the kubelet's
    /// waiting reason and message.
    pub(super) async fn start_container(
        &mut self,
        pod: &Pod,
        obs: &Observed<'_>,
        name: &str,
        attempt: u32,
    ) -> Result<(), (String, String)> {
        let spec = pod.spec.as_ref();
        let all = spec
            .map(|s| {
                s.init_containers
                    .iter()
                    .flatten()
                    .chain(s.containers.iter())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let Some(c) = all.into_iter().find(|c| c.name == name) else {
            return Err((
                "CreateContainerConfigError".into(),
                format!("no container {name} in the pod spec"),
            ));
        };
        let image = c.image.clone().unwrap_or_default();
        let key = (pod.uid().unwrap_or_default(), image.clone());
        if let Some((failures, last)) = self.pull_failures.get(&key) {
            if last.elapsed() < podsync::image_pull_backoff(*failures) {
                return Err((
                    "ImagePullBackOff".into(),
                    format!("Back-off pulling image \"{image}\""),
                ));
            }
        }
        match self
            .ensure_image(pod, name, &image, c.image_pull_policy.as_deref())
            .await
        {
            Ok(()) => {
                self.pull_failures.remove(&key);
            }
            Err(e) => {
                let entry = self
                    .pull_failures
                    .entry(key)
                    .or_insert((0, std::time::Instant::now()));
                *entry = (entry.0 + 1, std::time::Instant::now());
                return Err(e);
            }
        }
        let Some(sandbox) = obs.sandboxes.first() else {
            return Err((
                "CreateContainerError".into(),
                "the pod sandbox is gone".into(),
            ));
        };
        let dir = self.pod_log_dir(pod).join(name);
        let _ = std::fs::create_dir_all(&dir);
        let (image_uid, image_user) = crate::images::user(&mut self.cri, &image)
            .await
            .unwrap_or_default();
        if let Err(m) = podsync::security::verify_run_as_non_root(pod, c, image_uid, &image_user) {
            let msg = format!("Error: {m}");
            self.event(pod, name, events::WARNING, "Failed", &msg);
            return Err(("CreateContainerConfigError".to_string(), m));
        }
        let envs = self.environment(pod, c, &sandbox.ip).await?;
        let mut mounts = self
            .container_mounts(pod, c)
            .map_err(|m| ("CreateContainerConfigError".to_string(), m))?;
        if let Some(path) = c
            .termination_message_path
            .as_deref()
            .filter(|p| !p.is_empty())
        {
            let file = self
                .volumes
                .termination_log(&pod.uid().unwrap_or_default(), name, attempt);
            let made = file
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|_| std::fs::write(&file, b""))
                .and_then(|_| {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666))
                });
            if let Err(e) = made {
                return Err(("CreateContainerConfigError".into(), e.to_string()));
            }
            mounts.push(cri::Mount {
                container_path: path.to_string(),
                host_path: file.to_string_lossy().into_owned(),
                ..Default::default()
            });
        }
        let vars: BTreeMap<String, String> = envs.iter().cloned().collect();
        let expand = |l: &Option<Vec<String>>| -> Vec<String> {
            l.iter()
                .flatten()
                .map(|a| podsync::env::expand(a, &vars))
                .collect()
        };
        let envs = envs
            .into_iter()
            .map(|(key, value)| cri::KeyValue { key, value })
            .collect();
        let config = cri::ContainerConfig {
            metadata: Some(cri::ContainerMetadata {
                name: name.into(),
                attempt,
            }),
            image: Some(crate::images::spec(&image)),
            command: expand(&c.command),
            args: expand(&c.args),
            working_dir: c.working_dir.clone().unwrap_or_default(),
            envs,
            mounts,
            labels: HashMap::from([
                (LABEL_CONTAINER.to_string(), name.to_string()),
                (LABEL_UID.to_string(), pod.uid().unwrap_or_default()),
            ]),
            log_path: format!("{name}/{attempt}.log"),
            linux: Some(cri::LinuxContainerConfig {
                resources: Some(podsync::resources::linux_resources(c)),
                security_context: Some(podsync::security::container(pod, c)),
            }),
            ..Default::default()
        };
        let sandbox_attempt = u32::try_from(obs.sandboxes.len().saturating_sub(1)).unwrap_or(0);
        let id = self
            .cri
            .runtime
            .create_container(cri::CreateContainerRequest {
                pod_sandbox_id: sandbox.id.clone(),
                config: Some(config),
                sandbox_config: Some(self.sandbox_config(pod, sandbox_attempt)),
            })
            .await;
        let id = match id {
            Ok(r) => r.into_inner().container_id,
            Err(e) => {
                let msg = format!("Error: {}", e.message());
                self.event(pod, name, events::WARNING, "Failed", &msg);
                return Err(("CreateContainerError".to_string(), e.message().to_string()));
            }
        };
        let msg = format!("Created container: {name}");
        self.event(pod, name, events::NORMAL, "Created", &msg);
        let started = self
            .cri
            .runtime
            .start_container(cri::StartContainerRequest {
                container_id: id.clone(),
            })
            .await;
        if let Err(e) = started {
            let msg = format!("Error: {}", e.message());
            self.event(pod, name, events::WARNING, "Failed", &msg);
            return Err(("RunContainerError".to_string(), e.message().to_string()));
        }
        let msg = format!("Started container {name}");
        self.event(pod, name, events::NORMAL, "Started", &msg);
        // postStart: the container counts as started only once it succeeded; on failure it
        // is killed and restarted per the restart policy.
        let hook = crate::hooks::Hook::PostStart;
        if hook.of(c).is_some() {
            let limit = std::time::Duration::from_secs(POST_START_LIMIT_SECS);
            if let Err(m) =
                crate::hooks::run(&mut self.cri, hook, pod, c, &id, &sandbox.ip, limit).await
            {
                self.event(pod, name, events::WARNING, hook.failure_reason(), &m);
                let grace = pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.termination_grace_period_seconds)
                    .unwrap_or(30);
                let _ = self
                    .cri
                    .runtime
                    .stop_container(cri::StopContainerRequest {
                        container_id: id,
                        timeout: grace.max(2),
                    })
                    .await;
                return Err(("PostStartHookError".to_string(), m));
            }
        }
        Ok(())
    }

    /// The Services' environment variables of `pod` (the kubelet's service links).
    async fn service_env(&self, pod: &Pod) -> Result<BTreeMap<String, String>, String> {
        use k8s_openapi::api::core::v1::Service;
        let ns = pod.namespace().unwrap_or_default();
        let links = pod
            .spec
            .as_ref()
            .and_then(|s| s.enable_service_links)
            .unwrap_or(true);
        let mut services = Vec::new();
        let default: Api<Service> = Api::namespaced(self.client.clone(), "default");
        if let Some(k) = default
            .get_opt("kubernetes")
            .await
            .map_err(|e| format!("listing services: {e}"))?
        {
            services.push(k);
        }
        if links {
            let own: Api<Service> = Api::namespaced(self.client.clone(), &ns);
            let list = own
                .list(&Default::default())
                .await
                .map_err(|e| format!("listing services: {e}"))?;
            services.extend(list.items);
        }
        Ok(podsync::env::service_env(&services, &ns, links))
    }

    /// The container's environment, reading the ConfigMaps and Secrets it names.
    async fn environment(
        &self,
        pod: &Pod,
        c: &k8s_openapi::api::core::v1::Container,
        pod_ip: &str,
    ) -> Result<Vec<(String, String)>, (String, String)> {
        use k8s_openapi::api::core::v1::{ConfigMap, Secret};
        let config_error = |m: String| ("CreateContainerConfigError".to_string(), m);
        let ns = pod.namespace().unwrap_or_default();
        let (cm_names, secret_names) = podsync::env::references(c);
        let mut config_maps = BTreeMap::new();
        let cms: Api<ConfigMap> = Api::namespaced(self.client.clone(), &ns);
        for name in cm_names {
            let got = cms
                .get_opt(&name)
                .await
                .map_err(|e| config_error(e.to_string()))?;
            if let Some(cm) = got {
                config_maps.insert(name, cm.data.unwrap_or_default());
            }
        }
        let mut secrets = BTreeMap::new();
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &ns);
        for name in secret_names {
            let got = api
                .get_opt(&name)
                .await
                .map_err(|e| config_error(e.to_string()))?;
            if let Some(s) = got {
                let data = s
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                    .collect();
                secrets.insert(name, data);
            }
        }
        let service_env = self.service_env(pod).await.map_err(config_error)?;
        let sources = podsync::env::Sources {
            pod: Some(pod),
            config_maps,
            secrets,
            pod_ip: pod_ip.to_string(),
            host_ip: self.host_ip.clone(),
            node_cpu_millis: self.node_cpu_millis,
            node_memory_bytes: self.node_memory_bytes,
            service_env,
        };
        podsync::env::resolve(c, &sources).map_err(config_error)
    }

    /// Pulls `image` for container `name` of `pod` if its pull policy asks, with the kubelet's
    /// Pulling/Pulled/Failed events.
    /// Registry credentials for `image` from the pod's imagePullSecrets; a secret that
    /// cannot be read is an event, and the pull goes on without it (like the kubelet).
    async fn pull_credentials(
        &self,
        pod: &Pod,
        container: &str,
        image: &str,
    ) -> Option<podsync::pull_secrets::Credentials> {
        use k8s_openapi::api::core::v1::Secret;
        let names: Vec<String> = pod
            .spec
            .as_ref()
            .and_then(|s| s.image_pull_secrets.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.name)
            .filter(|n| !n.is_empty())
            .collect();
        if names.is_empty() {
            return None;
        }
        let api: Api<Secret> =
            Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
        let mut secrets = Vec::new();
        let mut missing = Vec::new();
        for n in names {
            match api.get_opt(&n).await {
                Ok(Some(s)) => secrets.push((
                    s.type_.unwrap_or_default(),
                    s.data
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(k, v)| (k, v.0))
                        .collect(),
                )),
                _ => missing.push(n),
            }
        }
        if !missing.is_empty() {
            let msg = format!(
                "Unable to retrieve some image pull secrets ({}); attempting to pull the image may not succeed.",
                missing.join(", ")
            );
            self.event(
                pod,
                container,
                events::WARNING,
                "FailedToRetrieveImagePullSecret",
                &msg,
            );
        }
        podsync::pull_secrets::credentials(image, &secrets)
    }

    async fn ensure_image(
        &mut self,
        pod: &Pod,
        name: &str,
        image: &str,
        policy: Option<&str>,
    ) -> Result<(), (String, String)> {
        let present = crate::images::present(&mut self.cri, image)
            .await
            .unwrap_or(false);
        let pull = match policy {
            Some("Always") => true,
            Some("Never") => {
                if present {
                    return Ok(());
                }
                return Err((
                    "ErrImageNeverPull".into(),
                    format!("Container image \"{image}\" is not present with pull policy of Never"),
                ));
            }
            _ => !present,
        };
        if !pull {
            let msg = format!("Container image \"{image}\" already present on machine");
            self.event(pod, name, events::NORMAL, "Pulled", &msg);
            return Ok(());
        }
        let msg = format!("Pulling image \"{image}\"");
        self.event(pod, name, events::NORMAL, "Pulling", &msg);
        let started = std::time::Instant::now();
        let credentials = self.pull_credentials(pod, name, image).await;
        let pulled = crate::images::pull(&mut self.cri, image, credentials.as_ref()).await;
        match pulled {
            Ok(_) => {
                let took = started.elapsed();
                let size = crate::images::size(&mut self.cri, image)
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or(0);
                let msg = format!(
                    "Successfully pulled image \"{image}\" in {took:.3?} ({took:.3?} including waiting). Image size: {size} bytes."
                );
                self.event(pod, name, events::NORMAL, "Pulled", &msg);
                Ok(())
            }
            Err(e) => {
                let msg = format!("Failed to pull image \"{image}\": {}", e.message());
                self.event(pod, name, events::WARNING, "Failed", &msg);
                self.event(pod, name, events::WARNING, "Failed", "Error: ErrImagePull");
                Err(("ErrImagePull".into(), e.message().to_string()))
            }
        }
    }
}

/// The pod's hostPorts as CRI port mappings (CNI portmap carries them out).
fn port_mappings(pod: &Pod) -> Vec<cri::PortMapping> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    spec.init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let host_port = p.host_port.filter(|h| *h > 0)?;
            let protocol = match p.protocol.as_deref() {
                Some("UDP") => cri::Protocol::Udp,
                Some("SCTP") => cri::Protocol::Sctp,
                _ => cri::Protocol::Tcp,
            };
            Some(cri::PortMapping {
                protocol: protocol as i32,
                container_port: p.container_port,
                host_port,
                host_ip: p.host_ip.clone().unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, ContainerPort, PodSpec};

    #[test]
    fn host_ports_become_port_mappings() {
        let port = |cp: i32, hp: Option<i32>, proto: Option<&str>| ContainerPort {
            container_port: cp,
            host_port: hp,
            protocol: proto.map(Into::into),
            host_ip: hp.map(|_| "127.0.0.1".into()),
            ..Default::default()
        };
        let pod = Pod {
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "c".into(),
                    ports: Some(vec![
                        port(80, Some(8080), None),
                        port(53, Some(5353), Some("UDP")),
                        port(9090, None, None),
                    ]),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let m = port_mappings(&pod);
        assert_eq!(m.len(), 2);
        assert_eq!(
            (m[0].container_port, m[0].host_port, m[0].protocol),
            (80, 8080, cri::Protocol::Tcp as i32)
        );
        assert_eq!(m[0].host_ip, "127.0.0.1");
        assert_eq!(
            (m[1].host_port, m[1].protocol),
            (5353, cri::Protocol::Udp as i32)
        );
    }
}
