//! Driver: runs the containers' startup, liveness and readiness probes when the pure
//! [`probes`](crate::podsync::probes) says they are due — `exec` through CRI `ExecSync`,
//! `httpGet` and `tcpSocket` against the pod IP, `grpc` with the standard health service —
//! and keeps their state per container instance, so that a restarted container starts over.

use crate::cri::Cri;
use crate::podsync::probes::{self, Kind, ProbeState, Verdict};
use crate::podsync::{ContainerView, Observed, RuntimeState};
use k8s_cri::v1 as cri;
use k8s_openapi::api::core::v1::{Container, HTTPGetAction, Pod, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// A failed probe run: the container, which probe, and upstream's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The container's name.
    pub container: String,
    /// Which probe.
    pub kind: Kind,
    /// Why (`HTTP probe failed with statuscode: 500`, the command's output, …).
    pub message: String,
}

type Key = (String, Kind);

/// Probe states by (CRI container id, kind). Probes run in background tasks, so a slow one
/// (up to its timeoutSeconds) never delays the other pods; their results land here and wake
/// the pod worker.
#[derive(Debug, Default)]
pub struct Prober {
    states: Arc<Mutex<HashMap<Key, ProbeState>>>,
    running: Arc<Mutex<HashSet<Key>>>,
    /// Failed runs not reported yet, by pod uid.
    failures: Arc<Mutex<HashMap<String, Vec<Failure>>>>,
    wake: Arc<Notify>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The container `name` of `pod` (a main container, or a sidecar init container).
fn spec<'a>(pod: &'a Pod, name: &str) -> Option<&'a Container> {
    let s = pod.spec.as_ref()?;
    s.containers
        .iter()
        .chain(s.init_containers.iter().flatten())
        .find(|c| c.name == name)
}

fn started_at(c: &ContainerView) -> Option<Timestamp> {
    match c.state {
        RuntimeState::Running { started_at } => {
            Timestamp::from_nanosecond(i128::from(started_at)).ok()
        }
        _ => None,
    }
}

impl Prober {
    /// A prober that wakes `wake` when a result arrives.
    pub fn new(wake: Arc<Notify>) -> Self {
        Prober {
            wake,
            ..Default::default()
        }
    }

    /// The states of container `id`'s probes (a copy: the lock is not held).
    fn state(&self, id: &str) -> impl Fn(Kind) -> Option<ProbeState> {
        let st = lock(&self.states);
        let mine: HashMap<Kind, ProbeState> = [Kind::Startup, Kind::Liveness, Kind::Readiness]
            .into_iter()
            .filter_map(|k| st.get(&(id.to_string(), k)).map(|s| (k, s.clone())))
            .collect();
        move |k| mine.get(&k).cloned()
    }

    /// The verdicts for the running containers of `pod` that have probes.
    pub fn verdicts(&self, pod: &Pod, containers: &[ContainerView]) -> BTreeMap<String, Verdict> {
        containers
            .iter()
            .filter(|c| started_at(c).is_some())
            .filter_map(|c| {
                let s = spec(pod, &c.name)?;
                let any = [Kind::Startup, Kind::Liveness, Kind::Readiness]
                    .iter()
                    .any(|k| k.of(s).is_some());
                any.then(|| (c.id.clone(), probes::verdict(s, self.state(&c.id))))
            })
            .collect()
    }

    /// Starts the probes that are due for the pod `obs` shows (unless one is still running)
    /// and returns the failed runs finished since the last call.
    pub fn probe(&mut self, cri: &Cri, obs: &Observed<'_>) -> Vec<Failure> {
        let uid = obs.pod.metadata.uid.clone().unwrap_or_default();
        let ip = obs
            .sandboxes
            .first()
            .map(|s| s.ip.clone())
            .unwrap_or_default();
        for c in &obs.containers {
            let (Some(started), Some(s)) = (started_at(c), spec(obs.pod, &c.name)) else {
                continue;
            };
            for kind in probes::to_run(s, self.state(&c.id), started, obs.now) {
                let key = (c.id.clone(), kind);
                if !lock(&self.running).insert(key.clone()) {
                    continue;
                }
                let (mut cri, spec, ip, uid) = (cri.clone(), s.clone(), ip.clone(), uid.clone());
                let (states, running, failures, wake) = (
                    self.states.clone(),
                    self.running.clone(),
                    self.failures.clone(),
                    self.wake.clone(),
                );
                tokio::spawn(async move {
                    let Some(p) = kind.of(&spec) else { return };
                    let outcome = run(&mut cri, p, &spec, &key.0, &ip).await;
                    {
                        let mut st = lock(&states);
                        let before = st.get(&key).cloned().unwrap_or_default();
                        st.insert(
                            key.clone(),
                            probes::record(p, &before, outcome.is_ok(), Timestamp::now()),
                        );
                    }
                    if let Err(message) = outcome {
                        lock(&failures).entry(uid).or_default().push(Failure {
                            container: spec.name.clone(),
                            kind,
                            message,
                        });
                    }
                    lock(&running).remove(&key);
                    wake.notify_one();
                });
            }
        }
        lock(&self.failures).remove(&uid).unwrap_or_default()
    }

    /// Forgets containers (and pods) that no longer exist.
    pub fn retain(&mut self, live: &HashSet<String>, pods: &HashSet<String>) {
        lock(&self.states).retain(|(id, _), _| live.contains(id));
        lock(&self.failures).retain(|uid, _| pods.contains(uid));
    }
}

/// The port a probe names: a number, or the name of one of the container's ports.
fn port(port: &IntOrString, c: &Container) -> Result<u16, String> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).map_err(|_| format!("invalid port {n}")),
        IntOrString::String(name) => c
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok())
            .ok_or_else(|| format!("couldn't find port: {name} in {}", c.name)),
    }
}

/// Runs `cmd` in container `id` with a timeout: `Err` is the command's output, or why it
/// could not run (`command "…" timed out`).
pub(crate) async fn exec_action(
    cri: &mut Cri,
    id: &str,
    cmd: &[String],
    secs: i64,
) -> Result<(), String> {
    let reply = cri
        .runtime
        .exec_sync(cri::ExecSyncRequest {
            container_id: id.to_string(),
            cmd: cmd.to_vec(),
            timeout: secs,
        })
        .await;
    match reply {
        Ok(r) => {
            let r = r.into_inner();
            if r.exit_code == 0 {
                Ok(())
            } else {
                let mut out = String::from_utf8_lossy(&r.stdout).into_owned();
                out.push_str(&String::from_utf8_lossy(&r.stderr));
                Err(out.trim_end().to_string())
            }
        }
        Err(s) if s.code() == tonic::Code::DeadlineExceeded => {
            Err(format!("command {cmd:?} timed out"))
        }
        Err(s) => Err(s.message().to_string()),
    }
}

/// An HTTP(S) GET as probes and hooks make it ([`crate::http_get`]): 2xx and 3xx succeed.
pub(crate) async fn http_get_action(
    h: &HTTPGetAction,
    c: &Container,
    pod_ip: &str,
    limit: Duration,
) -> Result<(), String> {
    let host = h
        .host
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| pod_ip.to_string());
    let port = port(&h.port, c)?;
    let path = h
        .path
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/".into());
    let target = crate::http_get::Target {
        host,
        port,
        path,
        https: h.scheme.as_deref() == Some("HTTPS"),
        headers: h
            .http_headers
            .iter()
            .flatten()
            .map(|hdr| (hdr.name.clone(), hdr.value.clone()))
            .collect(),
    };
    crate::http_get::get(&target, limit).await
}

/// Runs one probe; `Err` carries upstream's failure message.
async fn run(
    cri: &mut Cri,
    p: &Probe,
    c: &Container,
    id: &str,
    pod_ip: &str,
) -> Result<(), String> {
    let secs = probes::timeout(p);
    let limit = Duration::from_secs(u64::try_from(secs).unwrap_or(1));
    if let Some(e) = &p.exec {
        let cmd = e.command.clone().unwrap_or_default();
        return exec_action(cri, id, &cmd, secs).await;
    }
    if let Some(h) = &p.http_get {
        return http_get_action(h, c, pod_ip, limit).await;
    }
    if let Some(t) = &p.tcp_socket {
        let host = t
            .host
            .clone()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| pod_ip.to_string());
        let port = port(&t.port, c)?;
        return match tokio::time::timeout(
            limit,
            tokio::net::TcpStream::connect((host.as_str(), port)),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("dial tcp {host}:{port}: {e}")),
            Err(_) => Err(format!("dial tcp {host}:{port}: i/o timeout")),
        };
    }
    if let Some(g) = &p.grpc {
        let port = u16::try_from(g.port).map_err(|_| format!("invalid port {}", g.port))?;
        let service = g.service.clone().unwrap_or_default();
        return tokio::time::timeout(limit, crate::grpc_health::check(pod_ip, port, &service))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "timeout: health rpc did not complete within {secs}s"
                ))
            });
    }
    Err("the probe names no handler (exec, httpGet, tcpSocket or grpc)".into())
}
