//! Driver: runs the pods bound to this node. Watches them (`spec.nodeName=<node>`), and for
//! each — on every change and every second — observes its sandbox and containers through CRI,
//! asks the pure [`podsync`](crate::podsync) what to do, does it, and writes the pod status
//! when it changed. Sandboxes of pods that no longer exist are removed.

use crate::cri::Cri;
use crate::events;
use crate::podsync::{self, ContainerView, Observed, Op, RuntimeState, SandboxView};
use futures::StreamExt;
use k8s_cri::v1 as cri;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::ResourceExt;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// CRI label carrying the pod uid (the kubelet's label names).
pub(crate) const LABEL_UID: &str = "io.kubernetes.pod.uid";
const LABEL_NAME: &str = "io.kubernetes.pod.name";
const LABEL_NAMESPACE: &str = "io.kubernetes.pod.namespace";
const LABEL_CONTAINER: &str = "io.kubernetes.container.name";
/// Marks sandboxes this agent made, so only those are garbage-collected.
const LABEL_MANAGED: &str = "skiff.dev/managed-by";

/// How often every pod is synced even without events.
const RESYNC: Duration = Duration::from_secs(1);

/// The pod worker of one node.
pub struct PodWorker {
    /// API client.
    pub client: kube::Client,
    /// CRI endpoint.
    pub cri: Cri,
    /// The node name.
    pub node: String,
    /// The node's IP (pods' hostIP).
    pub host_ip: String,
    /// Node CPU in millicores, for `resourceFieldRef` without a limit.
    node_cpu_millis: i64,
    /// Node memory in bytes, for `resourceFieldRef` without a limit.
    node_memory_bytes: i64,
    /// Where pod logs go (`<dir>/<ns>_<name>_<uid>/<container>/<attempt>.log`).
    pub log_dir: PathBuf,
    /// Failed pulls per (pod uid, image): how many in a row, and when the last one failed.
    pull_failures: HashMap<(String, String), (u32, std::time::Instant)>,
    /// The containers' probe states.
    prober: crate::prober::Prober,
    /// Writes the pods' events.
    events: events::Recorder,
    /// Containers seen in this pass (probe states of others are dropped).
    live_containers: HashSet<String>,
}

type Waiting = BTreeMap<String, (String, String)>;

impl PodWorker {
    /// A worker for `node` on `machine` (its address is the pods' hostIP; its CPUs and memory
    /// are what `resourceFieldRef` reads for a container without limits).
    pub fn new(
        client: kube::Client,
        cri: Cri,
        node: String,
        machine: &crate::machine::Machine,
        log_dir: PathBuf,
    ) -> Self {
        PodWorker {
            events: events::Recorder::new(client.clone(), node.clone()),
            client,
            cri,
            node,
            host_ip: machine
                .address
                .map_or_else(|| "127.0.0.1".to_string(), |a| a.to_string()),
            node_cpu_millis: i64::from(machine.cpus) * 1000,
            node_memory_bytes: i64::try_from(machine.memory_total).unwrap_or(i64::MAX),
            log_dir,
            pull_failures: HashMap::new(),
            prober: Default::default(),
            live_containers: HashSet::new(),
        }
    }

    /// Runs until `stop`.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let api: Api<Pod> = Api::all(self.client.clone());
        let cfg = watcher::Config::default().fields(&format!("spec.nodeName={}", self.node));
        let (reader, writer) = reflector::store();
        let wake = Arc::new(Notify::new());
        let w = wake.clone();
        let feed = tokio::spawn(async move {
            let mut events = watcher(api, cfg)
                .default_backoff()
                .reflect(writer)
                .touched_objects()
                .boxed();
            while events.next().await.is_some() {
                w.notify_one();
            }
        });
        // Until the first list arrives, every sandbox would look orphaned.
        tokio::select! {
            r = reader.wait_until_ready() => if r.is_err() { feed.abort(); return; },
            _ = crate::stopped(&mut stop) => { feed.abort(); return; }
        }
        let mut waiting: HashMap<String, Waiting> = HashMap::new();
        loop {
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(RESYNC) => {}
                _ = crate::stopped(&mut stop) => break,
            }
            let pods = reader.state();
            let uids: HashSet<String> = pods.iter().filter_map(|p| p.uid()).collect();
            waiting.retain(|uid, _| uids.contains(uid));
            self.pull_failures.retain(|(uid, _), _| uids.contains(uid));
            self.live_containers.clear();
            for pod in pods {
                let uid = pod.uid().unwrap_or_default();
                let w = waiting.entry(uid).or_default();
                if let Err(e) = self.sync(&pod, w).await {
                    tracing::warn!(pod = %pod.name_any(), error = %e, "pod sync failed");
                }
            }
            let live = std::mem::take(&mut self.live_containers);
            self.prober.retain(&live);
            if let Err(e) = self.remove_orphans(&uids).await {
                tracing::debug!(error = %e, "removing orphaned sandboxes failed");
            }
        }
        feed.abort();
    }

    /// One pod: observe, plan, act, report.
    async fn sync(&mut self, pod: &Pod, waiting: &mut Waiting) -> anyhow::Result<()> {
        let mut obs = self.observe(pod, waiting.clone()).await?;
        if pod.metadata.deletion_timestamp.is_none() {
            for f in self.prober.probe(&mut self.cri, &obs).await {
                let msg = format!("{} probe failed: {}", f.kind.title(), f.message);
                self.event(pod, &f.container, events::WARNING, "Unhealthy", &msg)
                    .await;
            }
            obs.probes = self.prober.verdicts(pod, &obs.containers);
        }
        self.live_containers
            .extend(obs.containers.iter().map(|c| c.id.clone()));
        let ops = podsync::plan(&obs);
        let acted = !ops.is_empty();
        for op in ops {
            match op {
                Op::FinishDeletion => {
                    let api: Api<Pod> =
                        Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
                    let dp = DeleteParams {
                        grace_period_seconds: Some(0),
                        preconditions: Some(Preconditions {
                            uid: pod.uid(),
                            resource_version: None,
                        }),
                        ..Default::default()
                    };
                    match api.delete(&pod.name_any(), &dp).await {
                        Ok(_) => {}
                        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
                        Err(e) => return Err(e.into()),
                    }
                    return Ok(());
                }
                Op::StartContainer { name, attempt } => {
                    match self.start_container(pod, &obs, &name, attempt).await {
                        Ok(()) => {
                            waiting.remove(&name);
                        }
                        Err((reason, message)) => {
                            tracing::warn!(pod = %pod.name_any(), container = %name, %reason, %message, "starting a container failed");
                            waiting.insert(name, (reason, message));
                            break;
                        }
                    }
                }
                Op::RunSandbox => {
                    if let Err(why) = self.run_sandbox(pod, &obs).await {
                        let msg = format!("Failed to create pod sandbox: {why}");
                        self.event(pod, "", events::WARNING, "FailedCreatePodSandBox", &msg)
                            .await;
                        break;
                    }
                }
                Op::StopContainer { ref id, .. } => {
                    if let Some(c) = obs.containers.iter().find(|c| &c.id == id) {
                        let msg = match obs.probes.get(id).and_then(|v| v.kill) {
                            Some(kind) => format!(
                                "Container {} failed {} probe, will be restarted",
                                c.name,
                                kind.title().to_lowercase()
                            ),
                            None => format!("Stopping container {}", c.name),
                        };
                        self.event(pod, &c.name, events::NORMAL, "Killing", &msg)
                            .await;
                    }
                    self.act(op).await?
                }
                other => self.act(other).await?,
            }
        }
        let obs = if acted {
            self.observe(pod, waiting.clone()).await?
        } else {
            obs
        };
        let status = podsync::status(&obs);
        if pod.status.as_ref() != Some(&status) {
            let api: Api<Pod> =
                Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
            let patch = serde_json::json!({ "status": status });
            api.patch_status(
                &pod.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
        }
        Ok(())
    }

    async fn act(&mut self, op: Op) -> Result<(), tonic::Status> {
        let rt = &mut self.cri.runtime;
        match op {
            Op::StopContainer { id, grace_secs } => {
                rt.stop_container(cri::StopContainerRequest {
                    container_id: id,
                    timeout: grace_secs,
                })
                .await?;
            }
            Op::RemoveContainer { id } => {
                rt.remove_container(cri::RemoveContainerRequest { container_id: id })
                    .await?;
            }
            Op::StopSandbox { id } => {
                rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: id })
                    .await?;
            }
            Op::RemoveSandbox { id } => {
                rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: id })
                    .await?;
            }
            Op::RunSandbox | Op::StartContainer { .. } | Op::FinishDeletion => {}
        }
        Ok(())
    }

    fn pod_log_dir(&self, pod: &Pod) -> PathBuf {
        self.log_dir.join(format!(
            "{}_{}_{}",
            pod.namespace().unwrap_or_default(),
            pod.name_any(),
            pod.uid().unwrap_or_default()
        ))
    }

    fn sandbox_config(&self, pod: &Pod, attempt: u32) -> cri::PodSandboxConfig {
        let labels = HashMap::from([
            (LABEL_UID.to_string(), pod.uid().unwrap_or_default()),
            (LABEL_NAME.to_string(), pod.name_any()),
            (
                LABEL_NAMESPACE.to_string(),
                pod.namespace().unwrap_or_default(),
            ),
            (LABEL_MANAGED.to_string(), "skiff-agent".to_string()),
        ]);
        let hostname = pod
            .spec
            .as_ref()
            .and_then(|s| s.hostname.clone())
            .unwrap_or_else(|| pod.name_any());
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
            ..Default::default()
        }
    }

    /// The pod's sandboxes (newest first) and the containers of the newest.
    async fn observe<'a>(
        &mut self,
        pod: &'a Pod,
        waiting: Waiting,
    ) -> anyhow::Result<Observed<'a>> {
        let uid = pod.uid().unwrap_or_default();
        let items = self
            .cri
            .runtime
            .list_pod_sandbox(cri::ListPodSandboxRequest {
                filter: Some(cri::PodSandboxFilter {
                    label_selector: HashMap::from([(LABEL_UID.to_string(), uid)]),
                    ..Default::default()
                }),
            })
            .await?
            .into_inner()
            .items;
        let mut sandboxes = Vec::new();
        for s in items {
            let ready = s.state == cri::PodSandboxState::SandboxReady as i32;
            let ip = if ready {
                self.cri
                    .runtime
                    .pod_sandbox_status(cri::PodSandboxStatusRequest {
                        pod_sandbox_id: s.id.clone(),
                        verbose: false,
                    })
                    .await?
                    .into_inner()
                    .status
                    .and_then(|st| st.network)
                    .map(|n| n.ip)
                    .unwrap_or_default()
            } else {
                String::new()
            };
            sandboxes.push(SandboxView {
                id: s.id,
                ready,
                ip,
                created_at: s.created_at,
            });
        }
        sandboxes.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        let mut containers = Vec::new();
        if let Some(newest) = sandboxes.first() {
            let list = self
                .cri
                .runtime
                .list_containers(cri::ListContainersRequest {
                    filter: Some(cri::ContainerFilter {
                        pod_sandbox_id: newest.id.clone(),
                        ..Default::default()
                    }),
                })
                .await?
                .into_inner()
                .containers;
            for c in list {
                let Some(st) = self
                    .cri
                    .runtime
                    .container_status(cri::ContainerStatusRequest {
                        container_id: c.id.clone(),
                        verbose: false,
                    })
                    .await?
                    .into_inner()
                    .status
                else {
                    continue;
                };
                let meta = st.metadata.clone().unwrap_or_default();
                let state = match cri::ContainerState::try_from(st.state) {
                    Ok(cri::ContainerState::ContainerRunning) => RuntimeState::Running {
                        started_at: st.started_at,
                    },
                    Ok(cri::ContainerState::ContainerExited) => RuntimeState::Exited {
                        started_at: st.started_at,
                        finished_at: st.finished_at,
                        exit_code: st.exit_code,
                        reason: st.reason.clone(),
                        message: st.message.clone(),
                    },
                    _ => RuntimeState::Created,
                };
                containers.push(ContainerView {
                    id: st.id,
                    name: meta.name,
                    attempt: meta.attempt,
                    state,
                    image_ref: st.image_ref,
                });
            }
        }
        Ok(Observed {
            pod,
            sandboxes,
            probes: self.prober.verdicts(pod, &containers),
            containers,
            waiting,
            host_ip: self.host_ip.clone(),
            now: Timestamp::now(),
        })
    }

    /// Creates the pod's sandbox with the CRI handler its RuntimeClass names; `Err` is why
    /// not, in the kubelet's words.
    async fn run_sandbox(&mut self, pod: &Pod, obs: &Observed<'_>) -> Result<(), String> {
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
    async fn start_container(
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
        let envs = self.environment(pod, c, &sandbox.ip).await?;
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
            labels: HashMap::from([
                (LABEL_CONTAINER.to_string(), name.to_string()),
                (LABEL_UID.to_string(), pod.uid().unwrap_or_default()),
            ]),
            log_path: format!("{name}/{attempt}.log"),
            linux: Some(cri::LinuxContainerConfig {
                resources: Some(podsync::resources::linux_resources(c)),
                security_context: None,
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
                self.event(pod, name, events::WARNING, "Failed", &msg).await;
                return Err(("CreateContainerError".to_string(), e.message().to_string()));
            }
        };
        let msg = format!("Created container: {name}");
        self.event(pod, name, events::NORMAL, "Created", &msg).await;
        let started = self
            .cri
            .runtime
            .start_container(cri::StartContainerRequest { container_id: id })
            .await;
        if let Err(e) = started {
            let msg = format!("Error: {}", e.message());
            self.event(pod, name, events::WARNING, "Failed", &msg).await;
            return Err(("RunContainerError".to_string(), e.message().to_string()));
        }
        let msg = format!("Started container {name}");
        self.event(pod, name, events::NORMAL, "Started", &msg).await;
        Ok(())
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
        let sources = podsync::env::Sources {
            pod: Some(pod),
            config_maps,
            secrets,
            pod_ip: pod_ip.to_string(),
            host_ip: self.host_ip.clone(),
            node_cpu_millis: self.node_cpu_millis,
            node_memory_bytes: self.node_memory_bytes,
        };
        podsync::env::resolve(c, &sources).map_err(config_error)
    }

    /// Pulls `image` for container `name` of `pod` if its pull policy asks, with the kubelet's
    /// Pulling/Pulled/Failed events.
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
            self.event(pod, name, events::NORMAL, "Pulled", &msg).await;
            return Ok(());
        }
        let msg = format!("Pulling image \"{image}\"");
        self.event(pod, name, events::NORMAL, "Pulling", &msg).await;
        let started = std::time::Instant::now();
        let pulled = crate::images::pull(&mut self.cri, image).await;
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
                self.event(pod, name, events::NORMAL, "Pulled", &msg).await;
                Ok(())
            }
            Err(e) => {
                let msg = format!("Failed to pull image \"{image}\": {}", e.message());
                self.event(pod, name, events::WARNING, "Failed", &msg).await;
                self.event(pod, name, events::WARNING, "Failed", "Error: ErrImagePull")
                    .await;
                Err(("ErrImagePull".into(), e.message().to_string()))
            }
        }
    }

    async fn event(&self, pod: &Pod, container: &str, type_: &str, reason: &str, message: &str) {
        self.events
            .record(pod, container, type_, reason, message)
            .await;
    }

    /// Stops and removes sandboxes this agent made for pods that are gone.
    async fn remove_orphans(&mut self, live: &HashSet<String>) -> Result<(), tonic::Status> {
        let items = self
            .cri
            .runtime
            .list_pod_sandbox(cri::ListPodSandboxRequest {
                filter: Some(cri::PodSandboxFilter {
                    label_selector: HashMap::from([(
                        LABEL_MANAGED.to_string(),
                        "skiff-agent".to_string(),
                    )]),
                    ..Default::default()
                }),
            })
            .await?
            .into_inner()
            .items;
        for s in items {
            let uid = s.labels.get(LABEL_UID).cloned().unwrap_or_default();
            if !live.contains(&uid) {
                tracing::info!(sandbox = %s.id, pod_uid = %uid, "removing the sandbox of a pod that is gone");
                self.act(Op::StopSandbox { id: s.id.clone() }).await?;
                self.act(Op::RemoveSandbox { id: s.id }).await?;
            }
        }
        Ok(())
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
