//! Pure construction of the pod status a simulated kubelet reports: running (all containers
//! up and ready) and finished (Succeeded or Failed), in upstream's shape.

use crate::ids;
use crate::pod_plan::Outcome;
use crate::qos;
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStatus,
    HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use std::net::Ipv4Addr;

/// Condition types the sim writes; any other condition on the pod is kept as it is.
const SIM_CONDITIONS: [&str; 5] = [
    "PodReadyToStartContainers",
    "Initialized",
    "ContainersReady",
    "Ready",
    "PodScheduled",
];

/// One condition to set: status, reason, message.
type Wanted<'a> = (&'a str, &'a str, Option<&'a str>, Option<String>);

/// The pod's conditions with the sim's replaced: `lastTransitionTime` stays when the status
/// does not change, and conditions of other types (readiness gates, DisruptionTarget…) stay.
fn conditions(pod: &Pod, wanted: &[Wanted<'_>], now: Timestamp) -> Vec<PodCondition> {
    let old = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let mut out: Vec<PodCondition> = wanted
        .iter()
        .map(|(type_, status, reason, message)| {
            let prev = old.iter().find(|c| c.type_ == *type_);
            let since = match prev {
                Some(p) if p.status == *status => p.last_transition_time.clone(),
                _ => Some(Time(now)),
            };
            PodCondition {
                type_: (*type_).into(),
                status: (*status).into(),
                reason: reason.map(Into::into),
                message: message.clone(),
                last_transition_time: since,
                last_probe_time: None,
                observed_generation: None,
            }
        })
        .collect();
    out.extend(
        old.into_iter()
            .filter(|c| !SIM_CONDITIONS.contains(&c.type_.as_str())),
    );
    out
}

/// Readiness gates whose condition is not True: upstream keeps such a pod not Ready.
fn unready_gates(pod: &Pod) -> Vec<String> {
    let gates = pod.spec.as_ref().and_then(|s| s.readiness_gates.as_ref());
    let conds = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
    gates
        .into_iter()
        .flatten()
        .filter(|g| {
            !conds
                .into_iter()
                .flatten()
                .any(|c| c.type_ == g.condition_type && c.status == "True")
        })
        .map(|g| g.condition_type.clone())
        .collect()
}

fn base_status(c: &Container, uid: &str) -> ContainerStatus {
    let image = c.image.clone().unwrap_or_default();
    ContainerStatus {
        name: c.name.clone(),
        image: ids::normalize_image(&image),
        image_id: ids::image_id(&image),
        container_id: Some(ids::container_id(uid, &c.name)),
        restart_count: 0,
        last_state: Some(ContainerState::default()),
        ..Default::default()
    }
}

fn running_state(since: Timestamp) -> Option<ContainerState> {
    Some(ContainerState {
        running: Some(ContainerStateRunning {
            started_at: Some(Time(since)),
        }),
        ..Default::default()
    })
}

fn terminated_state(
    c: &ContainerStatus,
    exit_code: i32,
    reason: &str,
    started: Timestamp,
    now: Timestamp,
) -> Option<ContainerState> {
    Some(ContainerState {
        terminated: Some(ContainerStateTerminated {
            container_id: c.container_id.clone(),
            exit_code,
            reason: Some(reason.into()),
            started_at: Some(Time(started)),
            finished_at: Some(Time(now)),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// The status of a pod the sim has just started on a node with `host_ip`: phase Running, all
/// conditions True, init containers completed, every container running and ready.
pub fn running(pod: &Pod, host_ip: Ipv4Addr, pod_ip: Ipv4Addr, now: Timestamp) -> PodStatus {
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let old = pod.status.as_ref();
    let started = old.and_then(|s| s.start_time.as_ref()).map_or(now, |t| t.0);
    let init_statuses = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| {
            let mut s = base_status(c, uid);
            // A restartable init container is a sidecar: it keeps running.
            if c.restart_policy.as_deref() == Some("Always") {
                s.state = running_state(started);
                s.ready = true;
                s.started = Some(true);
            } else {
                s.state = terminated_state(&s, 0, "Completed", started, started);
                s.ready = true;
                s.started = Some(false);
            }
            s
        })
        .collect::<Vec<_>>();
    let statuses = spec
        .containers
        .iter()
        .map(|c| ContainerStatus {
            ready: true,
            started: Some(true),
            state: running_state(started),
            ..base_status(c, uid)
        })
        .collect::<Vec<_>>();
    let gates = unready_gates(pod);
    let ready_message = (!gates.is_empty()).then(|| {
        format!(
            "corresponding condition of pod readiness gate \"{}\" does not exist.",
            gates.join("\", \"")
        )
    });
    let (ready, ready_reason) = if gates.is_empty() {
        ("True", None)
    } else {
        ("False", Some("ReadinessGatesNotReady"))
    };
    let wanted: [Wanted<'_>; 5] = [
        ("PodReadyToStartContainers", "True", None, None),
        ("Initialized", "True", None, None),
        ("ContainersReady", "True", None, None),
        ("Ready", ready, ready_reason, ready_message),
        ("PodScheduled", "True", None, None),
    ];
    let host = host_ip.to_string();
    let ip = pod_ip.to_string();
    PodStatus {
        phase: Some("Running".into()),
        conditions: Some(conditions(pod, &wanted, now)),
        host_ip: Some(host.clone()),
        host_ips: Some(vec![HostIP { ip: host }]),
        pod_ip: Some(ip.clone()),
        pod_ips: Some(vec![PodIP { ip }]),
        start_time: Some(Time(started)),
        qos_class: Some(qos::qos_class(&spec).into()),
        init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
        container_statuses: Some(statuses),
        ..old.cloned().unwrap_or_default()
    }
}

/// The status of a running pod that has just ended with `outcome`: its containers terminated
/// (exit 0 Completed, or exit 1 Error), Ready and ContainersReady False.
pub fn finished(pod: &Pod, outcome: Outcome, now: Timestamp) -> PodStatus {
    let mut status = pod.status.clone().unwrap_or_default();
    let started = status.start_time.as_ref().map_or(now, |t| t.0);
    let (phase, exit_code, reason, cond_reason) = match outcome {
        Outcome::Succeeded => ("Succeeded", 0, "Completed", "PodCompleted"),
        Outcome::Failed => ("Failed", 1, "Error", "PodFailed"),
    };
    let terminate = |list: &mut Option<Vec<ContainerStatus>>| {
        for c in list.iter_mut().flatten() {
            if c.state.as_ref().is_some_and(|s| s.terminated.is_some()) {
                continue;
            }
            let since = c
                .state
                .as_ref()
                .and_then(|s| s.running.as_ref())
                .and_then(|r| r.started_at.as_ref())
                .map_or(started, |t| t.0);
            c.state = terminated_state(c, exit_code, reason, since, now);
            c.ready = false;
            c.started = Some(false);
        }
    };
    terminate(&mut status.container_statuses);
    terminate(&mut status.init_container_statuses);
    let initialized_reason = (outcome == Outcome::Succeeded).then_some("PodCompleted");
    let wanted: [Wanted<'_>; 5] = [
        ("PodReadyToStartContainers", "False", None, None),
        ("Initialized", "True", initialized_reason, None),
        ("ContainersReady", "False", Some(cond_reason), None),
        ("Ready", "False", Some(cond_reason), None),
        ("PodScheduled", "True", None, None),
    ];
    status.conditions = Some(conditions(pod, &wanted, now));
    status.phase = Some(phase.into());
    status
}

/// The merge patch for the pod's `/status` subresource.
pub fn patch(status: &PodStatus) -> serde_json::Value {
    serde_json::json!({ "status": status })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodReadinessGate, PodSpec};

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn container(name: &str, image: &str) -> Container {
        Container {
            name: name.into(),
            image: Some(image.into()),
            ..Default::default()
        }
    }

    fn pod() -> Pod {
        let mut p = Pod {
            spec: Some(PodSpec {
                containers: vec![container("web", "nginx:1.27")],
                init_containers: Some(vec![container("setup", "busybox")]),
                node_name: Some("sim-node-0".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        p.metadata.uid = Some("u-1".into());
        p.status = Some(PodStatus {
            phase: Some("Pending".into()),
            conditions: Some(vec![PodCondition {
                type_: "PodScheduled".into(),
                status: "True".into(),
                last_transition_time: Some(Time(ts("2025-01-01T00:00:00Z"))),
                ..Default::default()
            }]),
            ..Default::default()
        });
        p
    }

    fn cond<'a>(s: &'a PodStatus, t: &str) -> &'a PodCondition {
        s.conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == t)
            .unwrap()
    }

    #[test]
    fn running_status_has_ips_conditions_and_ready_containers() {
        let now = ts("2025-01-01T00:00:05Z");
        let s = running(
            &pod(),
            Ipv4Addr::new(10, 127, 0, 1),
            Ipv4Addr::new(10, 128, 0, 2),
            now,
        );
        assert_eq!(s.phase.as_deref(), Some("Running"));
        assert_eq!(s.host_ip.as_deref(), Some("10.127.0.1"));
        assert_eq!(s.pod_ips.as_ref().unwrap()[0].ip, "10.128.0.2");
        assert_eq!(s.start_time, Some(Time(now)));
        assert_eq!(s.qos_class.as_deref(), Some("BestEffort"));
        for t in SIM_CONDITIONS {
            assert_eq!(cond(&s, t).status, "True", "{t}");
        }
        // PodScheduled keeps the scheduler's transition time; the others start now.
        assert_eq!(
            cond(&s, "PodScheduled").last_transition_time,
            Some(Time(ts("2025-01-01T00:00:00Z")))
        );
        assert_eq!(cond(&s, "Ready").last_transition_time, Some(Time(now)));
        let c = &s.container_statuses.as_ref().unwrap()[0];
        assert!(c.ready && c.started == Some(true) && c.restart_count == 0);
        assert_eq!(c.image, "docker.io/library/nginx:1.27");
        assert!(c.image_id.starts_with("docker.io/library/nginx@sha256:"));
        assert!(c.container_id.as_deref().unwrap().starts_with("sim://"));
        assert!(c.state.as_ref().unwrap().running.is_some());
        let init = &s.init_container_statuses.as_ref().unwrap()[0];
        let term = init.state.as_ref().unwrap().terminated.as_ref().unwrap();
        assert_eq!(
            (term.exit_code, term.reason.as_deref()),
            (0, Some("Completed"))
        );
    }

    #[test]
    fn running_twice_gives_the_same_status() {
        let now = ts("2025-01-01T00:00:05Z");
        let (h, ip) = (Ipv4Addr::new(10, 127, 0, 1), Ipv4Addr::new(10, 128, 0, 2));
        let mut p = pod();
        let first = running(&p, h, ip, now);
        p.status = Some(first.clone());
        assert_eq!(running(&p, h, ip, ts("2025-01-01T00:09:00Z")), first);
    }

    #[test]
    fn unmet_readiness_gates_keep_the_pod_unready_and_other_conditions_stay() {
        let mut p = pod();
        if let Some(spec) = p.spec.as_mut() {
            spec.readiness_gates = Some(vec![PodReadinessGate {
                condition_type: "example.com/lb".into(),
            }]);
        }
        if let Some(s) = p.status.as_mut() {
            s.conditions
                .get_or_insert_with(Vec::new)
                .push(PodCondition {
                    type_: "example.com/other".into(),
                    status: "True".into(),
                    ..Default::default()
                });
        }
        let s = running(
            &p,
            Ipv4Addr::LOCALHOST,
            Ipv4Addr::LOCALHOST,
            ts("2025-01-01T00:00:00Z"),
        );
        assert_eq!(cond(&s, "Ready").status, "False");
        assert_eq!(
            cond(&s, "Ready").reason.as_deref(),
            Some("ReadinessGatesNotReady")
        );
        assert_eq!(cond(&s, "example.com/other").status, "True");
    }

    #[test]
    fn succeeded_pods_have_completed_containers() {
        let start = ts("2025-01-01T00:00:00Z");
        let mut p = pod();
        p.status = Some(running(&p, Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, start));
        let end = ts("2025-01-01T00:00:02Z");
        let s = finished(&p, Outcome::Succeeded, end);
        assert_eq!(s.phase.as_deref(), Some("Succeeded"));
        assert_eq!(cond(&s, "Ready").status, "False");
        assert_eq!(cond(&s, "Ready").reason.as_deref(), Some("PodCompleted"));
        assert_eq!(
            cond(&s, "ContainersReady").reason.as_deref(),
            Some("PodCompleted")
        );
        let c = &s.container_statuses.as_ref().unwrap()[0];
        assert!(!c.ready);
        let t = c.state.as_ref().unwrap().terminated.as_ref().unwrap();
        assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
        assert_eq!(t.started_at, Some(Time(start)));
        assert_eq!(t.finished_at, Some(Time(end)));
        assert_eq!(s.pod_ip.as_deref(), Some("127.0.0.1"));
    }

    #[test]
    fn failed_pods_exit_with_error() {
        let mut p = pod();
        let t0 = ts("2025-01-01T00:00:00Z");
        p.status = Some(running(&p, Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, t0));
        let s = finished(&p, Outcome::Failed, t0);
        assert_eq!(s.phase.as_deref(), Some("Failed"));
        let c = &s.container_statuses.as_ref().unwrap()[0];
        let t = c.state.as_ref().unwrap().terminated.as_ref().unwrap();
        assert_eq!((t.exit_code, t.reason.as_deref()), (1, Some("Error")));
        assert_eq!(cond(&s, "Ready").reason.as_deref(), Some("PodFailed"));
    }
}
