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

mod start;

/// CRI label carrying the pod uid (the kubelet's label names).
pub(crate) const LABEL_UID: &str = "io.kubernetes.pod.uid";
const LABEL_NAME: &str = "io.kubernetes.pod.name";
const LABEL_NAMESPACE: &str = "io.kubernetes.pod.namespace";
const LABEL_CONTAINER: &str = "io.kubernetes.container.name";
/// Marks sandboxes this agent made, so only those are garbage-collected.
const LABEL_MANAGED: &str = "skiff.dev/managed-by";

/// Workers syncing the node's pods side by side.
const SHARDS: usize = 4;

/// Plan → act → observe rounds in one sync of a pod.
const SYNC_ROUNDS: usize = 4;

/// How often every pod is synced even without events.
const RESYNC: Duration = Duration::from_secs(1);
/// How often local-path directories without a volume are removed.
const STORAGE_GC: Duration = Duration::from_secs(5);

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
    events: Arc<events::Recorder>,
    /// Containers being stopped in the background (preStop, then the grace period), so one
    /// slow stop never holds up the other pods.
    stopping: Arc<std::sync::Mutex<HashSet<String>>>,
    /// Wakes the sync loop (pod events, a finished stop).
    wake: Arc<Notify>,
    /// Containers seen in this pass (probe states of others are dropped).
    live_containers: HashSet<String>,
    /// Messages of exited containers, by CRI id (read once from their termination log).
    termination_messages: HashMap<String, String>,
    /// Sets up the pods' volumes.
    volumes: crate::volumes::VolumeManager,
    /// The set-up volumes of each pod, and when they were last refreshed.
    volume_dirs: HashMap<
        String,
        (
            BTreeMap<String, podsync::volumes::Ready>,
            std::time::Instant,
        ),
    >,
    /// Where pod cgroups are made; `None` leaves containers where the runtime puts them.
    cgroups: Option<crate::cgroups::fs::CgroupFs>,
    /// `--cgroup-root`: the pod cgroups go under `<root>/kubepods`.
    cgroup_root: Arc<str>,
    /// The QoS tiers' CPU shares as last written (shard 0 keeps them).
    qos_shares: Option<[(&'static str, i64); 2]>,
    /// This worker syncs the pods whose uid hashes to `shard` of `shards`; shard 0 also
    /// removes what is left of pods that are gone.
    shard: usize,
    shards: usize,
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
        pods_dir: PathBuf,
        storage_dir: PathBuf,
    ) -> Self {
        let wake = Arc::new(Notify::new());
        PodWorker {
            events: Arc::new(events::Recorder::new(client.clone(), node.clone())),
            stopping: Default::default(),
            wake: wake.clone(),
            volumes: crate::volumes::VolumeManager::new(client.clone(), pods_dir, storage_dir),
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
            prober: crate::prober::Prober::new(wake),
            live_containers: HashSet::new(),
            termination_messages: HashMap::new(),
            volume_dirs: HashMap::new(),
            cgroups: None,
            cgroup_root: Arc::from("/"),
            qos_shares: None,
            shard: 0,
            shards: 1,
        }
    }

    /// Puts every pod in a pod cgroup under `<root>/kubepods` on `fs`, the node's allocatable
    /// CPU (millicores) and memory (bytes) limiting `kubepods` itself, like the kubelet with
    /// `--cgroups-per-qos`. Failing to set up `kubepods` is logged; pods still get their own
    /// cgroups.
    pub fn with_pod_cgroups(
        mut self,
        fs: crate::cgroups::fs::CgroupFs,
        root: &str,
        allocatable_cpu_millis: i64,
        allocatable_memory: i64,
    ) -> Self {
        let settings =
            podsync::pod_cgroup::kubepods_settings(allocatable_cpu_millis, allocatable_memory);
        let top = podsync::pod_cgroup::kubepods(root);
        if let Err(e) = fs.apply(&top, &settings) {
            tracing::warn!(cgroup = %top, error = %e, "could not set up the cgroup of all pods");
        }
        self.cgroups = Some(fs);
        self.cgroup_root = Arc::from(root);
        self
    }

    /// A worker for shard `shard` of `shards`, sharing this one's clients and settings.
    fn fork(&self, shard: usize, shards: usize) -> PodWorker {
        let wake = Arc::new(Notify::new());
        PodWorker {
            client: self.client.clone(),
            cri: self.cri.clone(),
            node: self.node.clone(),
            host_ip: self.host_ip.clone(),
            node_cpu_millis: self.node_cpu_millis,
            node_memory_bytes: self.node_memory_bytes,
            log_dir: self.log_dir.clone(),
            pull_failures: HashMap::new(),
            prober: crate::prober::Prober::new(wake.clone()),
            events: self.events.clone(),
            stopping: self.stopping.clone(),
            wake,
            live_containers: HashSet::new(),
            termination_messages: HashMap::new(),
            volumes: self.volumes.clone(),
            volume_dirs: HashMap::new(),
            cgroups: self.cgroups.clone(),
            cgroup_root: self.cgroup_root.clone(),
            qos_shares: None,
            shard,
            shards,
        }
    }

    /// Whether pod `uid` belongs to this worker's shard.
    fn mine(&self, uid: &str) -> bool {
        // FNV-1a: stable and cheap; any even spread will do.
        let h = uid.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        usize::try_from(h % self.shards.max(1) as u64).unwrap_or(0) == self.shard
    }

    /// Runs until `stop`: one watch of the node's pods, [`SHARDS`] workers syncing them
    /// side by side (a slow start of one pod does not hold up the others).
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let api: Api<Pod> = Api::all(self.client.clone());
        let cfg = watcher::Config::default().fields(&format!("spec.nodeName={}", self.node));
        let (reader, writer) = reflector::store();
        let workers: Vec<PodWorker> = (0..SHARDS).map(|i| self.fork(i, SHARDS)).collect();
        let wakes: Vec<Arc<Notify>> = workers.iter().map(|w| w.wake.clone()).collect();
        let feed = tokio::spawn(async move {
            let mut events = watcher(api, cfg)
                .default_backoff()
                .reflect(writer)
                .touched_objects()
                .boxed();
            while events.next().await.is_some() {
                for w in &wakes {
                    w.notify_one();
                }
            }
        });
        // Until the first list arrives, every sandbox would look orphaned.
        tokio::select! {
            r = reader.wait_until_ready() => if r.is_err() { feed.abort(); return; },
            _ = crate::stopped(&mut stop) => { feed.abort(); return; }
        }
        futures::future::join_all(
            workers
                .into_iter()
                .map(|w| w.sync_loop(reader.clone(), stop.clone())),
        )
        .await;
        feed.abort();
    }

    /// Syncs this worker's pods on every change and every [`RESYNC`] until `stop`.
    async fn sync_loop(mut self, reader: reflector::Store<Pod>, mut stop: watch::Receiver<bool>) {
        let wake = self.wake.clone();
        let mut waiting: HashMap<String, Waiting> = HashMap::new();
        let mut last_storage_gc = std::time::Instant::now();
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
                if !self.mine(&uid) {
                    continue;
                }
                let w = waiting.entry(uid).or_default();
                if let Err(e) = self.sync(&pod, w).await {
                    tracing::warn!(pod = %pod.name_any(), error = %e, "pod sync failed");
                }
            }
            let live = std::mem::take(&mut self.live_containers);
            self.prober.retain(&live, &uids);
            self.termination_messages.retain(|id, _| live.contains(id));
            self.volume_dirs.retain(|uid, _| uids.contains(uid));
            if self.shard != 0 {
                continue;
            }
            // Other workers create sandboxes and volumes meanwhile: what is left of a pod is
            // judged against the cache as it is *after* listing (a sandbox or volume that
            // exists was made for a pod already in the cache), never a stale copy.
            let fresh =
                || -> HashSet<String> { reader.state().iter().filter_map(|p| p.uid()).collect() };
            if let Err(e) = self.remove_orphans(&fresh).await {
                tracing::debug!(error = %e, "removing orphaned sandboxes failed");
            }
            self.update_qos_cgroups(&reader.state());
            self.volumes.remove_orphans(&fresh);
            if last_storage_gc.elapsed() >= STORAGE_GC {
                last_storage_gc = std::time::Instant::now();
                self.volumes.collect_local_paths().await;
            }
        }
    }

    /// One pod: observe, plan, act, report.
    async fn sync(&mut self, pod: &Pod, waiting: &mut Waiting) -> anyhow::Result<()> {
        let mut obs = self.observe(pod, waiting.clone()).await?;
        if pod.metadata.deletion_timestamp.is_none() {
            // Due probes start in the background; their results count from the next sync.
            for f in self.prober.probe(&self.cri, &obs) {
                let msg = format!("{} probe failed: {}", f.kind.title(), f.message);
                self.event(pod, &f.container, events::WARNING, "Unhealthy", &msg);
            }
        }
        // A few rounds of plan → act → observe in one sync: a new pod goes from no sandbox to
        // running containers without waiting for the next wake-up.
        let mut acted = false;
        for round in 0..SYNC_ROUNDS {
            if round > 0 {
                obs = self.observe(pod, waiting.clone()).await?;
            }
            self.live_containers
                .extend(obs.containers.iter().map(|c| c.id.clone()));
            let mut ops = podsync::plan(&obs);
            let mut unmounted = false;
            if pod.metadata.deletion_timestamp.is_none() {
                let starting = ops
                    .iter()
                    .any(|o| matches!(o, Op::RunSandbox | Op::StartContainer { .. }));
                if let Err(e) = self.ensure_volumes(pod, &obs, starting).await {
                    self.event(pod, "", events::WARNING, "FailedMount", &e.event_message());
                    // Nothing starts before its volumes are set up.
                    ops.retain(|o| !matches!(o, Op::RunSandbox | Op::StartContainer { .. }));
                    unmounted = true;
                }
            }
            if ops.is_empty() {
                break;
            }
            acted = true;
            let mut stopping = false;
            let mut blocked = unmounted;
            for op in ops {
                // What follows a stop (removing the sandbox, finishing a deletion) waits for it.
                if stopping && !matches!(op, Op::StopContainer { .. }) {
                    break;
                }
                match op {
                    Op::FinishDeletion => {
                        let api: Api<Pod> = Api::namespaced(
                            self.client.clone(),
                            &pod.namespace().unwrap_or_default(),
                        );
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
                        let uid = pod.uid().unwrap_or_default();
                        self.volume_dirs.remove(&uid);
                        self.volumes.remove(&uid);
                        self.remove_pod_cgroup(&uid);
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
                                blocked = true;
                                break;
                            }
                        }
                    }
                    Op::RunSandbox => {
                        if let Err(why) = self.run_sandbox(pod, &obs).await {
                            let msg = format!("Failed to create pod sandbox: {why}");
                            self.event(pod, "", events::WARNING, "FailedCreatePodSandBox", &msg);
                            blocked = true;
                            break;
                        }
                    }
                    Op::StopContainer { id, grace_secs } => {
                        stopping = true;
                        self.stop_in_background(pod, &obs, id, grace_secs).await;
                    }
                    other => self.act(other).await?,
                }
            }
            if stopping || blocked {
                break;
            }
        }
        let obs = if acted {
            self.observe(pod, waiting.clone()).await?
        } else {
            obs
        };
        let status = podsync::status(&obs);
        if pod.status.as_ref() != Some(&status) {
            for (container, type_, reason, message) in podsync::transition_events(pod, &status) {
                self.event(pod, &container, type_, reason, &message);
            }
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

    /// The message of an exited container: what it wrote to its terminationMessagePath
    /// (at most 4 KiB), or with `FallbackToLogsOnError` and a failure, the tail of its log
    /// (80 lines, 2 KiB); after the runtime's own message if it has one.
    fn termination_message(
        &self,
        pod: &Pod,
        meta: &cri::ContainerMetadata,
        st: &cri::ContainerStatus,
    ) -> String {
        let file =
            self.volumes
                .termination_log(&pod.uid().unwrap_or_default(), &meta.name, meta.attempt);
        let mut text = std::fs::read(&file).unwrap_or_default();
        text.truncate(4096);
        let mut own = String::from_utf8_lossy(&text).into_owned();
        let fallback = pod
            .spec
            .as_ref()
            .into_iter()
            .flat_map(|s| {
                s.init_containers
                    .iter()
                    .flatten()
                    .chain(s.containers.iter())
            })
            .find(|c| c.name == meta.name)
            .and_then(|c| c.termination_message_policy.as_deref())
            == Some("FallbackToLogsOnError");
        if own.is_empty() && fallback && st.exit_code != 0 {
            let log = std::fs::read(&st.log_path).unwrap_or_default();
            own = crate::server::logs::tail_text(&log, 80, 2048);
        }
        match (st.message.is_empty(), own.is_empty()) {
            (_, true) => st.message.clone(),
            (true, false) => own,
            (false, false) => format!("{}: {own}", st.message),
        }
    }

    /// Stops container `id` of `pod` in a background task: its preStop hook, then CRI
    /// StopContainer with what is left of the grace period (at least 2 s, like the kubelet).
    /// A container already being stopped is left to that task.
    async fn stop_in_background(&mut self, pod: &Pod, obs: &Observed<'_>, id: String, grace: i64) {
        if !self
            .stopping
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone())
        {
            return;
        }
        let Some(c) = obs.containers.iter().find(|c| c.id == id) else {
            self.stopping
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
            return;
        };
        let msg = match obs.probes.get(&id).and_then(|v| v.kill) {
            Some(kind) => format!(
                "Container {} failed {} probe, will be restarted",
                c.name,
                kind.title().to_lowercase()
            ),
            None => format!("Stopping container {}", c.name),
        };
        self.event(pod, &c.name, events::NORMAL, "Killing", &msg);
        let spec = pod.spec.as_ref().and_then(|s| {
            s.init_containers
                .iter()
                .flatten()
                .chain(s.containers.iter())
                .find(|x| x.name == c.name)
                .cloned()
        });
        let running = matches!(c.state, RuntimeState::Running { .. });
        let ip = obs
            .sandboxes
            .first()
            .map(|s| s.ip.clone())
            .unwrap_or_default();
        let (mut cri, pod, stopping, wake, events) = (
            self.cri.clone(),
            pod.clone(),
            self.stopping.clone(),
            self.wake.clone(),
            self.events.clone(),
        );
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let grace = grace.max(0);
            if let (Some(spec), true) = (spec, running) {
                let limit = Duration::from_secs(u64::try_from(grace).unwrap_or(0));
                let hook = crate::hooks::Hook::PreStop;
                if let Err(m) =
                    crate::hooks::run(&mut cri, hook, &pod, &spec, &id, &ip, limit).await
                {
                    events.record(&pod, &spec.name, events::WARNING, hook.failure_reason(), &m);
                }
            }
            let spent = i64::try_from(started.elapsed().as_secs()).unwrap_or(i64::MAX);
            let timeout = (grace - spent).max(2);
            let stopped = cri
                .runtime
                .stop_container(cri::StopContainerRequest {
                    container_id: id.clone(),
                    timeout,
                })
                .await;
            if let Err(e) = stopped {
                tracing::warn!(container = %id, error = %e, "stopping a container failed");
            }
            stopping
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
            wake.notify_one();
        });
    }

    async fn act(&mut self, op: Op) -> Result<(), tonic::Status> {
        let rt = &mut self.cri.runtime;
        match op {
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
            // Carried out by `sync` itself (stops in the background).
            Op::RunSandbox
            | Op::StartContainer { .. }
            | Op::StopContainer { .. }
            | Op::FinishDeletion => {}
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
            // A hostNetwork pod has the node's address.
            let ip = if ip.is_empty() && ready && podsync::security::host_network(pod) {
                self.host_ip.clone()
            } else {
                ip
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
                        message: match self.termination_messages.get(&st.id) {
                            Some(m) => m.clone(),
                            None => {
                                // An exited container does not change: read its file once.
                                let m = self.termination_message(pod, &meta, &st);
                                self.termination_messages.insert(st.id.clone(), m.clone());
                                m
                            }
                        },
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

    fn event(&self, pod: &Pod, container: &str, type_: &str, reason: &str, message: &str) {
        self.events.record(pod, container, type_, reason, message);
    }

    /// Stops and removes sandboxes this agent made for pods that are gone.
    async fn remove_orphans(
        &mut self,
        live: &(dyn Fn() -> HashSet<String> + Sync),
    ) -> Result<(), tonic::Status> {
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
        let live = live();
        for s in items {
            let uid = s.labels.get(LABEL_UID).cloned().unwrap_or_default();
            if !live.contains(&uid) {
                tracing::info!(sandbox = %s.id, pod_uid = %uid, "removing the sandbox of a pod that is gone");
                self.act(Op::StopSandbox { id: s.id.clone() }).await?;
                self.act(Op::RemoveSandbox { id: s.id }).await?;
                self.remove_pod_cgroup(&uid);
            }
        }
        Ok(())
    }

    /// Removes the cgroup of the pod `uid` (whatever its QoS class was) once its sandbox is
    /// gone; one still holding processes stays and is logged.
    fn remove_pod_cgroup(&self, uid: &str) {
        use skiff_api::qos;
        let Some(fs) = &self.cgroups else { return };
        for class in [qos::GUARANTEED, qos::BURSTABLE, qos::BEST_EFFORT] {
            let path = podsync::pod_cgroup::pod_path(&self.cgroup_root, class, uid);
            if let Err(e) = fs.remove(&path) {
                tracing::warn!(cgroup = %path, error = %e, "could not remove a pod cgroup");
            }
        }
    }

    /// Writes the Burstable and BestEffort tiers' CPU shares for the node's pods when they
    /// changed.
    fn update_qos_cgroups(&mut self, pods: &[Arc<Pod>]) {
        let Some(fs) = &self.cgroups else { return };
        let want = podsync::pod_cgroup::qos_settings(pods.iter().map(|p| p.as_ref()));
        if self.qos_shares == Some(want) {
            return;
        }
        for (class, shares) in want {
            let path = podsync::pod_cgroup::qos_path(&self.cgroup_root, class);
            let settings = podsync::pod_cgroup::CgroupSettings {
                cpu_shares: shares,
                cpu_quota: None,
                memory_limit: None,
            };
            if let Err(e) = fs.apply(&path, &settings) {
                tracing::warn!(cgroup = %path, error = %e, "could not update a QoS cgroup");
                return;
            }
        }
        self.qos_shares = Some(want);
    }
}
