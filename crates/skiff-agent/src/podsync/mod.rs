//! PURE: one pod's spec against what the runtime shows → the runtime operations to do next
//! ([`plan`]) and the pod status to report ([`status`]), like the kubelet's `SyncPod` and
//! status generation. No I/O, no clock: the driver observes CRI, passes `now`, and carries the
//! operations out in order.
//!
//! Covered in this slice: one sandbox per pod (recreated if it dies, unless the pod finished),
//! init containers in order, containers restarted per `restartPolicy` with the kubelet's
//! back-off (10 s doubling to 5 min → `CrashLoopBackOff`), the last dead container kept for
//! `lastState`, graceful deletion, probe verdicts ([`probes`]: a failed liveness or startup probe
//! stops the container, readiness gates `ready`). Volumes and hooks come later.

pub mod env;
pub mod pod_cgroup;
pub mod probes;
pub mod pull_secrets;
pub mod resources;
pub mod security;
#[cfg(test)]
mod tests;
pub mod volumes;

use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use std::collections::BTreeMap;

/// The kubelet's initial crash back-off.
pub const BACKOFF_INITIAL_SECS: i64 = 10;
/// The kubelet's maximum crash back-off.
pub const BACKOFF_MAX_SECS: i64 = 300;

/// How long a pod waits before pulling an image again after `failures` failed pulls in a row
/// (the kubelet's image back-off: 10 s doubling to 5 min). Meanwhile the container waits with
/// reason `ImagePullBackOff`.
pub fn image_pull_backoff(failures: u32) -> std::time::Duration {
    std::time::Duration::from_secs(u64::try_from(backoff_secs(failures)).unwrap_or(300))
}

/// The kubelet's back-off after `n` failures in a row: 10 s doubling to 5 min.
pub fn backoff_secs(n: u32) -> i64 {
    let doublings = n.saturating_sub(1).min(10);
    (BACKOFF_INITIAL_SECS << doublings).min(BACKOFF_MAX_SECS)
}

/// A pod sandbox as CRI lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxView {
    /// CRI id.
    pub id: String,
    /// `SANDBOX_READY`.
    pub ready: bool,
    /// Its IP (empty if unknown).
    pub ip: String,
    /// Creation time, ns since the epoch.
    pub created_at: i64,
}

/// A container's runtime state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuntimeState {
    /// Created, not started.
    Created,
    /// Running since `started_at` (ns).
    Running {
        /// ns since the epoch.
        started_at: i64,
    },
    /// Exited.
    Exited {
        /// ns since the epoch.
        started_at: i64,
        /// ns since the epoch.
        finished_at: i64,
        /// Exit code.
        exit_code: i32,
        /// CRI reason (`Completed`, `Error`, `OOMKilled`).
        reason: String,
        /// CRI message.
        message: String,
    },
}

/// A container of the pod's current sandbox as CRI shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerView {
    /// CRI id.
    pub id: String,
    /// The spec container's name.
    pub name: String,
    /// Restart attempt (the restartCount once it runs).
    pub attempt: u32,
    /// State.
    pub state: RuntimeState,
    /// The image reference it runs (image id).
    pub image_ref: String,
}

/// What the driver saw of one pod.
#[derive(Clone, Debug)]
pub struct Observed<'a> {
    /// The pod from the API.
    pub pod: &'a Pod,
    /// Its sandboxes, newest first.
    pub sandboxes: Vec<SandboxView>,
    /// The containers of the newest sandbox.
    pub containers: Vec<ContainerView>,
    /// Why a container could not be started last time (name → (reason, message)), e.g.
    /// `ErrImagePull`.
    pub waiting: BTreeMap<String, (String, String)>,
    /// The node's IP.
    pub host_ip: String,
    /// What the probes say about running containers with probes (by CRI id); a running
    /// container not listed is started and ready.
    pub probes: BTreeMap<String, probes::Verdict>,
    /// Now.
    pub now: Timestamp,
}

/// A runtime operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Create the pod's sandbox.
    RunSandbox,
    /// Pull the image if needed, create and start the container (init or main) `name` in the
    /// current sandbox.
    StartContainer {
        /// Spec name.
        name: String,
        /// Attempt number.
        attempt: u32,
    },
    /// Stop a container (SIGTERM, SIGKILL after `grace_secs`).
    StopContainer {
        /// CRI id.
        id: String,
        /// Grace period.
        grace_secs: i64,
    },
    /// Remove a dead container.
    RemoveContainer {
        /// CRI id.
        id: String,
    },
    /// Stop a sandbox (and its network).
    StopSandbox {
        /// CRI id.
        id: String,
    },
    /// Remove a stopped sandbox.
    RemoveSandbox {
        /// CRI id.
        id: String,
    },
    /// Everything is stopped and removed: delete the pod object (grace 0).
    FinishDeletion,
}

fn restart_policy(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Always")
}

/// A sidecar: an init container with `restartPolicy: Always` (it keeps running beside the
/// main containers).
pub fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// The message of a pod failed by `activeDeadlineSeconds` (reason `DeadlineExceeded`).
pub const DEADLINE_MESSAGE: &str = "Pod was active on the node longer than the specified deadline";

fn init_containers(pod: &Pod) -> &[Container] {
    pod.spec
        .as_ref()
        .and_then(|s| s.init_containers.as_deref())
        .unwrap_or_default()
}

fn containers(pod: &Pod) -> &[Container] {
    pod.spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or_default()
}

impl Observed<'_> {
    /// The newest attempt of container `name`, and the one before it.
    fn attempts(&self, name: &str) -> (Option<&ContainerView>, Option<&ContainerView>) {
        let mut mine: Vec<&ContainerView> =
            self.containers.iter().filter(|c| c.name == name).collect();
        mine.sort_by_key(|c| std::cmp::Reverse(c.attempt));
        (mine.first().copied(), mine.get(1).copied())
    }

    fn current_sandbox(&self) -> Option<&SandboxView> {
        self.sandboxes.first().filter(|s| s.ready)
    }

    fn grace_secs(&self) -> i64 {
        self.pod
            .metadata
            .deletion_grace_period_seconds
            .or_else(|| {
                self.pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.termination_grace_period_seconds)
            })
            .unwrap_or(30)
    }

    /// For an exited container: whether the policy restarts it, and whether the back-off
    /// still holds it.
    fn restart(&self, c: &ContainerView, init: bool) -> (bool, bool) {
        let RuntimeState::Exited {
            finished_at,
            exit_code,
            ..
        } = &c.state
        else {
            return (false, false);
        };
        let policy = restart_policy(self.pod);
        let sidecar = init
            && init_containers(self.pod)
                .iter()
                .any(|s| s.name == c.name && is_sidecar(s));
        // A successful init container is done; a failed one restarts unless policy is Never.
        let wanted = if sidecar {
            true
        } else if init {
            *exit_code != 0 && policy != "Never"
        } else {
            match policy {
                "Never" => false,
                "OnFailure" => *exit_code != 0,
                _ => true,
            }
        };
        let elapsed = (self.now.as_nanosecond() as i64 - finished_at) / 1_000_000_000;
        let backoff = c.attempt > 0 && elapsed < backoff_secs(c.attempt);
        (wanted, wanted && backoff)
    }

    /// Whether `activeDeadlineSeconds` has passed since the pod started on the node.
    fn deadline_exceeded(&self) -> bool {
        let Some(deadline) = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.active_deadline_seconds)
        else {
            return false;
        };
        let Some(start) = self.pod.status.as_ref().and_then(|s| s.start_time.as_ref()) else {
            return false;
        };
        self.now.as_second() - start.0.as_second() >= deadline
    }

    /// Whether the newest attempt of a container has started (running, and its startup
    /// probe, if any, passed).
    fn started(&self, name: &str) -> bool {
        let (latest, _) = self.attempts(name);
        latest.is_some_and(|l| {
            matches!(l.state, RuntimeState::Running { .. })
                && self.probes.get(&l.id).is_none_or(|v| v.started)
        })
    }

    /// Whether every main container has exited for good (the pod is finished).
    fn finished(&self) -> bool {
        if init_containers(self.pod)
            .iter()
            .filter(|c| !is_sidecar(c))
            .any(|c| {
                let (latest, _) = self.attempts(&c.name);
                latest.is_some_and(|l| {
                    matches!(l.state, RuntimeState::Exited { exit_code, .. } if exit_code != 0)
                        && !self.restart(l, true).0
                })
            })
        {
            return true;
        }
        let main = containers(self.pod);
        !main.is_empty()
            && main.iter().all(|c| {
                let (latest, _) = self.attempts(&c.name);
                latest.is_some_and(|l| {
                    matches!(l.state, RuntimeState::Exited { .. }) && !self.restart(l, false).0
                })
            })
    }
}

/// What to do next for the pod, in order.
pub fn plan(obs: &Observed<'_>) -> Vec<Op> {
    let mut ops = Vec::new();
    if obs.pod.metadata.deletion_timestamp.is_some() {
        for c in &obs.containers {
            if !matches!(c.state, RuntimeState::Exited { .. }) {
                ops.push(Op::StopContainer {
                    id: c.id.clone(),
                    grace_secs: obs.grace_secs(),
                });
            }
        }
        for s in &obs.sandboxes {
            ops.push(Op::StopSandbox { id: s.id.clone() });
            ops.push(Op::RemoveSandbox { id: s.id.clone() });
        }
        ops.push(Op::FinishDeletion);
        return ops;
    }
    // Sandboxes other than a ready newest one are dead: clean them up.
    let current = obs.current_sandbox().map(|s| s.id.clone());
    for s in &obs.sandboxes {
        if Some(&s.id) != current.as_ref() {
            ops.push(Op::StopSandbox { id: s.id.clone() });
            ops.push(Op::RemoveSandbox { id: s.id.clone() });
        }
    }
    let stop_running = |ops: &mut Vec<Op>, only: &dyn Fn(&ContainerView) -> bool| {
        for c in &obs.containers {
            if matches!(
                c.state,
                RuntimeState::Running { .. } | RuntimeState::Created
            ) && only(c)
            {
                ops.push(Op::StopContainer {
                    id: c.id.clone(),
                    grace_secs: obs.grace_secs(),
                });
            }
        }
    };
    if obs.deadline_exceeded() {
        // activeDeadlineSeconds: everything stops, nothing restarts.
        stop_running(&mut ops, &|_| true);
        return ops;
    }
    if current.is_none() {
        if !obs.finished() {
            ops.push(Op::RunSandbox);
        }
        return ops;
    }
    if obs.finished() {
        // The main containers are done: the sidecars stop too.
        let sidecars: Vec<&str> = init_containers(obs.pod)
            .iter()
            .filter(|c| is_sidecar(c))
            .map(|c| c.name.as_str())
            .collect();
        stop_running(&mut ops, &|c| sidecars.contains(&c.name.as_str()));
        return ops;
    }
    // Init containers, one at a time, in order; a sidecar must have started before the next.
    for c in init_containers(obs.pod) {
        let (latest, previous) = obs.attempts(&c.name);
        if is_sidecar(c) {
            match latest.map(|l| (l, &l.state)) {
                None => {
                    ops.push(start(&c.name, 0));
                    return ops;
                }
                Some((l, RuntimeState::Running { .. })) => {
                    if obs.probes.get(&l.id).is_some_and(|v| v.kill.is_some()) {
                        ops.push(Op::StopContainer {
                            id: l.id.clone(),
                            grace_secs: obs.grace_secs(),
                        });
                    }
                    if obs.started(&c.name) {
                        continue;
                    }
                    return ops;
                }
                Some((l, RuntimeState::Created)) => {
                    ops.push(Op::RemoveContainer { id: l.id.clone() });
                    ops.push(start(&c.name, l.attempt + 1));
                    return ops;
                }
                Some((l, RuntimeState::Exited { .. })) => {
                    let (wanted, held) = obs.restart(l, true);
                    if wanted && !held {
                        ops.extend(previous.map(|p| Op::RemoveContainer { id: p.id.clone() }));
                        ops.push(start(&c.name, l.attempt + 1));
                    }
                    // A sidecar that ran before keeps the rest going while it restarts.
                    if l.attempt > 0 || previous.is_some() {
                        continue;
                    }
                    return ops;
                }
            }
        }
        match latest {
            None => {
                ops.push(start(&c.name, 0));
                return ops;
            }
            Some(l) => match &l.state {
                RuntimeState::Exited { exit_code: 0, .. } => continue,
                RuntimeState::Exited { .. } => {
                    let (wanted, held) = obs.restart(l, true);
                    if wanted && !held {
                        ops.extend(previous.map(|p| Op::RemoveContainer { id: p.id.clone() }));
                        ops.push(start(&c.name, l.attempt + 1));
                    }
                    return ops;
                }
                RuntimeState::Created => {
                    ops.push(Op::RemoveContainer { id: l.id.clone() });
                    ops.push(start(&c.name, l.attempt + 1));
                    return ops;
                }
                RuntimeState::Running { .. } => return ops,
            },
        }
    }
    for c in containers(obs.pod) {
        let (latest, previous) = obs.attempts(&c.name);
        match latest {
            None => ops.push(start(&c.name, 0)),
            Some(l) => match &l.state {
                RuntimeState::Running { .. } => {
                    // A failed liveness or startup probe: kill it; the restart policy decides.
                    if obs.probes.get(&l.id).is_some_and(|v| v.kill.is_some()) {
                        ops.push(Op::StopContainer {
                            id: l.id.clone(),
                            grace_secs: obs.grace_secs(),
                        });
                    }
                }
                RuntimeState::Created => {
                    ops.push(Op::RemoveContainer { id: l.id.clone() });
                    ops.push(start(&c.name, l.attempt + 1));
                }
                RuntimeState::Exited { .. } => {
                    let (wanted, held) = obs.restart(l, false);
                    if wanted && !held {
                        // Keep the one that just died (for lastState and logs --previous).
                        ops.extend(previous.map(|p| Op::RemoveContainer { id: p.id.clone() }));
                        ops.push(start(&c.name, l.attempt + 1));
                    }
                }
            },
        }
    }
    ops
}

fn start(name: &str, attempt: u32) -> Op {
    Op::StartContainer {
        name: name.into(),
        attempt,
    }
}

fn time(ns: i64) -> Option<Time> {
    (ns > 0)
        .then(|| Timestamp::from_nanosecond(i128::from(ns)).ok())
        .flatten()
        .map(Time)
}

fn terminated(c: &ContainerView) -> Option<ContainerStateTerminated> {
    match &c.state {
        RuntimeState::Exited {
            started_at,
            finished_at,
            exit_code,
            reason,
            message,
        } => Some(ContainerStateTerminated {
            container_id: Some(format!("containerd://{}", c.id)),
            exit_code: *exit_code,
            reason: Some(if reason.is_empty() {
                if *exit_code == 0 {
                    "Completed"
                } else {
                    "Error"
                }
                .to_string()
            } else {
                reason.clone()
            }),
            message: (!message.is_empty()).then(|| message.clone()),
            started_at: time(*started_at),
            finished_at: time(*finished_at),
            signal: None,
        }),
        _ => None,
    }
}

/// The status of container `spec`; `pending` is its waiting reason before it was ever created
/// (`PodInitializing` while init containers run, else `ContainerCreating`).
fn container_status(
    obs: &Observed<'_>,
    spec: &Container,
    init: bool,
    pending: &str,
) -> ContainerStatus {
    let (latest, previous) = obs.attempts(&spec.name);
    let waiting = |reason: &str, message: Option<String>| ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.into()),
            message,
        }),
        ..Default::default()
    };
    let (state, last) = match latest {
        None => {
            let (reason, message) = obs
                .waiting
                .get(&spec.name)
                .cloned()
                .map(|(r, m)| (r, Some(m)))
                .unwrap_or_else(|| (pending.to_string(), None));
            (waiting(&reason, message), None)
        }
        Some(l) => match &l.state {
            RuntimeState::Running { started_at } => (
                ContainerState {
                    running: Some(ContainerStateRunning {
                        started_at: time(*started_at),
                    }),
                    ..Default::default()
                },
                previous.and_then(terminated),
            ),
            RuntimeState::Created => (
                waiting("ContainerCreating", None),
                previous.and_then(terminated),
            ),
            RuntimeState::Exited { .. } => {
                let (wanted, held) = obs.restart(l, init);
                if wanted && held {
                    let p = obs.pod;
                    let msg = format!(
                        "back-off {}s restarting failed container={} pod={}_{}({})",
                        backoff_secs(l.attempt).max(BACKOFF_INITIAL_SECS),
                        spec.name,
                        p.metadata.name.as_deref().unwrap_or_default(),
                        p.metadata.namespace.as_deref().unwrap_or_default(),
                        p.metadata.uid.as_deref().unwrap_or_default(),
                    );
                    (waiting("CrashLoopBackOff", Some(msg)), terminated(l))
                } else {
                    (
                        ContainerState {
                            terminated: terminated(l),
                            ..Default::default()
                        },
                        previous.and_then(terminated),
                    )
                }
            }
        },
    };
    let running = state.running.is_some();
    let verdict = latest
        .filter(|_| running)
        .and_then(|l| obs.probes.get(&l.id));
    let started = running && verdict.is_none_or(|v| v.started);
    let ready = running && verdict.is_none_or(|v| v.ready);
    ContainerStatus {
        name: spec.name.clone(),
        image: spec.image.clone().unwrap_or_default(),
        image_id: latest.map(|l| l.image_ref.clone()).unwrap_or_default(),
        container_id: latest.map(|l| format!("containerd://{}", l.id)),
        ready,
        started: Some(started),
        restart_count: latest.map_or(0, |l| i32::try_from(l.attempt).unwrap_or(i32::MAX)),
        state: Some(state),
        last_state: Some(ContainerState {
            terminated: last,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The kubelet's events for what changed from the pod's reported status to `new`: a
/// container entering `CrashLoopBackOff` (Warning BackOff) or `ImagePullBackOff` (Normal
/// BackOff), the pod failing its `activeDeadlineSeconds` (Normal DeadlineExceeded).
/// (container or "", type, reason, message).
pub fn transition_events(
    pod: &Pod,
    new: &PodStatus,
) -> Vec<(String, &'static str, &'static str, String)> {
    let old = pod.status.as_ref();
    let reason_of = |s: &ContainerStatus| {
        s.state
            .as_ref()
            .and_then(|st| st.waiting.as_ref())
            .and_then(|w| w.reason.clone())
    };
    let old_reason = |name: &str| {
        old.into_iter()
            .flat_map(|o| {
                o.container_statuses
                    .iter()
                    .chain(o.init_container_statuses.iter())
                    .flatten()
            })
            .find(|s| s.name == name)
            .and_then(reason_of)
    };
    let mut out = Vec::new();
    for s in new
        .container_statuses
        .iter()
        .chain(new.init_container_statuses.iter())
        .flatten()
    {
        let now = reason_of(s);
        if now == old_reason(&s.name) {
            continue;
        }
        match now.as_deref() {
            Some("CrashLoopBackOff") => out.push((
                s.name.clone(),
                "Warning",
                "BackOff",
                format!(
                    "Back-off restarting failed container {} in pod {}",
                    s.name,
                    security::pod_ref(pod)
                ),
            )),
            Some("ImagePullBackOff") => out.push((
                s.name.clone(),
                "Normal",
                "BackOff",
                format!("Back-off pulling image {:?}", s.image),
            )),
            _ => {}
        }
    }
    let deadline = Some("DeadlineExceeded");
    if new.reason.as_deref() == deadline && old.and_then(|o| o.reason.as_deref()) != deadline {
        out.push((
            String::new(),
            "Normal",
            "DeadlineExceeded",
            DEADLINE_MESSAGE.to_string(),
        ));
    }
    out
}

/// The pod status to report. Conditions keep their `lastTransitionTime` while their status
/// does not change.
pub fn status(obs: &Observed<'_>) -> PodStatus {
    let pod = obs.pod;
    let old = pod.status.clone().unwrap_or_default();
    let exit_code = |s: &ContainerStatus| {
        s.state
            .as_ref()
            .and_then(|st| st.terminated.as_ref())
            .map(|t| t.exit_code)
    };
    let init: Vec<ContainerStatus> = init_containers(pod)
        .iter()
        .map(|c| container_status(obs, c, true, "PodInitializing"))
        .collect();
    let sidecar = |s: &ContainerStatus| {
        init_containers(pod)
            .iter()
            .any(|c| c.name == s.name && is_sidecar(c))
    };
    let initialized = init.iter().all(|s| {
        if sidecar(s) {
            s.started == Some(true) || s.restart_count > 0
        } else {
            exit_code(s) == Some(0)
        }
    });
    let pending = if initialized {
        "ContainerCreating"
    } else {
        "PodInitializing"
    };
    let main: Vec<ContainerStatus> = containers(pod)
        .iter()
        .map(|c| container_status(obs, c, false, pending))
        .collect();
    let all_ready = !main.is_empty()
        && main.iter().all(|s| s.ready)
        && init.iter().filter(|s| sidecar(s)).all(|s| s.ready);
    let deadline = obs.deadline_exceeded();
    let phase = if deadline {
        "Failed"
    } else if obs.finished() {
        // Sidecars are stopped when the pod is done: their exit codes do not count.
        let failed = init
            .iter()
            .filter(|s| !sidecar(s))
            .any(|s| exit_code(s).is_some_and(|c| c != 0))
            || main.iter().any(|s| exit_code(s).is_some_and(|c| c != 0));
        if failed {
            "Failed"
        } else {
            "Succeeded"
        }
    } else if initialized
        && main.iter().any(|s| {
            let st = s.state.as_ref();
            st.is_some_and(|st| st.running.is_some() || st.terminated.is_some())
                || s.restart_count > 0
        })
    {
        "Running"
    } else {
        "Pending"
    };
    let sandbox_ready = obs.current_sandbox().is_some();
    let ip = obs
        .current_sandbox()
        .map(|s| s.ip.clone())
        .filter(|ip| !ip.is_empty());
    let cond = |type_: &str, ok: bool, reason: Option<&str>| {
        let status = if ok { "True" } else { "False" };
        let since = old
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == type_ && c.status == status)
            .and_then(|c| c.last_transition_time.clone())
            .unwrap_or(Time(obs.now));
        PodCondition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.filter(|_| !ok).map(Into::into),
            last_transition_time: Some(since),
            ..Default::default()
        }
    };
    let done = phase == "Succeeded" || phase == "Failed";
    let reason = |r: &'static str| Some(if done { "PodCompleted" } else { r });
    let conditions = vec![
        cond("PodReadyToStartContainers", sandbox_ready, None),
        cond(
            "Initialized",
            initialized,
            reason("ContainersNotInitialized"),
        ),
        cond("Ready", all_ready, reason("ContainersNotReady")),
        cond("ContainersReady", all_ready, reason("ContainersNotReady")),
        cond("PodScheduled", true, None),
    ];
    PodStatus {
        phase: Some(phase.into()),
        conditions: Some(conditions),
        host_ip: Some(obs.host_ip.clone()),
        host_ips: Some(vec![HostIP {
            ip: obs.host_ip.clone(),
        }]),
        pod_ip: ip.clone().or(old.pod_ip.clone()),
        pod_ips: ip.map(|ip| vec![PodIP { ip }]).or(old.pod_ips.clone()),
        start_time: old.start_time.clone().or(Some(Time(obs.now))),
        qos_class: old.qos_class.clone(),
        init_container_statuses: (!init.is_empty()).then_some(init),
        container_statuses: Some(main),
        reason: deadline.then(|| "DeadlineExceeded".to_string()),
        message: deadline.then(|| DEADLINE_MESSAGE.to_string()),
        ..Default::default()
    }
}
