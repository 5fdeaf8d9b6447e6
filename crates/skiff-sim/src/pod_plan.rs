//! Which part of a simulated kubelet's work a pod needs, read from the pod alone: start it,
//! finish it at a given time, finalize its deletion, or nothing.

use crate::duration;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use std::net::Ipv4Addr;
use std::time::Duration;

/// Annotation: the pod succeeds this long after it started (`"2s"`, `"500ms"`, `"1m"`).
pub const COMPLETE_AFTER: &str = "sim.skiff.dev/complete-after";
/// Annotation: the pod fails (exit code 1) this long after it started.
pub const FAIL_AFTER: &str = "sim.skiff.dev/fail-after";

/// How a pod ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Phase Succeeded, containers exit 0 (reason Completed).
    Succeeded,
    /// Phase Failed, containers exit 1 (reason Error).
    Failed,
}

/// Where a pod is in the simulated kubelet's lifecycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lifecycle {
    /// Being deleted. `finalize` is false when a delete with grace 0 was already accepted and
    /// only finalizers keep the pod, so deleting again would change nothing.
    Deleting {
        /// Whether the sim should delete it with grace period 0.
        finalize: bool,
    },
    /// Succeeded or Failed: nothing left to do, and its IP is free again.
    Finished,
    /// Running with the status the sim writes.
    Running {
        /// The pod IP it reports (to keep it reserved across sim restarts).
        pod_ip: Option<Ipv4Addr>,
        /// When and how it should end, from its annotations; `Err` if they cannot be read.
        finish: Result<Option<(Outcome, Timestamp)>, String>,
    },
    /// Needs to be started.
    Pending,
}

/// The outcome and delay the pod's annotations ask for; the earlier one wins when both are set.
pub fn finish_rule(pod: &Pod) -> Result<Option<(Outcome, Duration)>, String> {
    let Some(ann) = pod.metadata.annotations.as_ref() else {
        return Ok(None);
    };
    let mut rule: Option<(Outcome, Duration)> = None;
    for (key, outcome) in [
        (COMPLETE_AFTER, Outcome::Succeeded),
        (FAIL_AFTER, Outcome::Failed),
    ] {
        if let Some(v) = ann.get(key) {
            let d = duration::parse(v).map_err(|e| format!("annotation {key}: {e}"))?;
            if rule.is_none_or(|(_, old)| d < old) {
                rule = Some((outcome, d));
            }
        }
    }
    Ok(rule)
}

/// Whether the pod already shows the running status the sim writes, so a restarted sim leaves
/// it alone: phase Running, a pod IP, and a status for every container.
pub fn has_running_status(pod: &Pod) -> bool {
    let Some(status) = pod.status.as_ref() else {
        return false;
    };
    let containers = pod.spec.as_ref().map_or(0, |s| s.containers.len());
    status.phase.as_deref() == Some("Running")
        && status.pod_ip.as_deref().is_some_and(|ip| !ip.is_empty())
        && status
            .container_statuses
            .as_ref()
            .is_some_and(|cs| cs.len() == containers)
}

/// The pod's lifecycle stage (the caller has checked that it is bound to a live sim node).
pub fn lifecycle(pod: &Pod) -> Lifecycle {
    let meta = &pod.metadata;
    if meta.deletion_timestamp.is_some() {
        let only_finalizers = meta.deletion_grace_period_seconds == Some(0)
            && meta.finalizers.as_ref().is_some_and(|f| !f.is_empty());
        return Lifecycle::Deleting {
            finalize: !only_finalizers,
        };
    }
    let status = pod.status.as_ref();
    match status.and_then(|s| s.phase.as_deref()) {
        Some("Succeeded" | "Failed") => return Lifecycle::Finished,
        _ if has_running_status(pod) => {}
        _ => return Lifecycle::Pending,
    }
    let pod_ip = status
        .and_then(|s| s.pod_ip.as_deref())
        .and_then(|ip| ip.parse().ok());
    let started = status
        .and_then(|s| s.start_time.as_ref())
        .map_or(Timestamp::UNIX_EPOCH, |t| t.0);
    let finish = finish_rule(pod).map(|rule| {
        rule.map(|(outcome, after)| {
            let at = started.checked_add(after).unwrap_or(Timestamp::MAX);
            (outcome, at)
        })
    });
    Lifecycle::Running { pod_ip, finish }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, ContainerStatus, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn pod(annotations: &[(&str, &str)]) -> Pod {
        let mut p = Pod {
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "c".into(),
                    ..Default::default()
                }],
                node_name: Some("sim-node-0".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        if !annotations.is_empty() {
            p.metadata.annotations = Some(
                annotations
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            );
        }
        p
    }

    fn running(mut p: Pod) -> Pod {
        p.status = Some(PodStatus {
            phase: Some("Running".into()),
            pod_ip: Some("10.128.0.2".into()),
            start_time: Some(Time(ts("2025-01-01T00:00:00Z"))),
            container_statuses: Some(vec![ContainerStatus {
                name: "c".into(),
                ..Default::default()
            }]),
            ..Default::default()
        });
        p
    }

    #[test]
    fn a_new_pod_is_pending() {
        assert_eq!(lifecycle(&pod(&[])), Lifecycle::Pending);
    }

    #[test]
    fn a_running_pod_without_container_statuses_still_needs_starting() {
        let mut p = running(pod(&[]));
        if let Some(s) = p.status.as_mut() {
            s.container_statuses = None;
        }
        assert_eq!(lifecycle(&p), Lifecycle::Pending);
    }

    #[test]
    fn a_running_pod_keeps_its_ip_and_nothing_else_happens() {
        assert_eq!(
            lifecycle(&running(pod(&[]))),
            Lifecycle::Running {
                pod_ip: Some(Ipv4Addr::new(10, 128, 0, 2)),
                finish: Ok(None)
            }
        );
    }

    #[test]
    fn complete_after_counts_from_the_start_time() {
        let p = running(pod(&[(COMPLETE_AFTER, "2s")]));
        let Lifecycle::Running { finish, .. } = lifecycle(&p) else {
            panic!("not running");
        };
        assert_eq!(
            finish,
            Ok(Some((Outcome::Succeeded, ts("2025-01-01T00:00:02Z"))))
        );
    }

    #[test]
    fn the_earlier_of_complete_and_fail_wins() {
        let p = pod(&[(COMPLETE_AFTER, "1m"), (FAIL_AFTER, "500ms")]);
        assert_eq!(
            finish_rule(&p),
            Ok(Some((Outcome::Failed, Duration::from_millis(500))))
        );
        let p = pod(&[(FAIL_AFTER, "bogus")]);
        assert!(finish_rule(&p).is_err());
    }

    #[test]
    fn finished_pods_need_nothing() {
        let mut p = running(pod(&[]));
        if let Some(s) = p.status.as_mut() {
            s.phase = Some("Succeeded".into());
        }
        assert_eq!(lifecycle(&p), Lifecycle::Finished);
    }

    #[test]
    fn deleting_pods_are_finalized_unless_only_finalizers_hold_them() {
        let mut p = running(pod(&[]));
        p.metadata.deletion_timestamp = Some(Time(ts("2025-01-01T00:00:00Z")));
        p.metadata.deletion_grace_period_seconds = Some(30);
        assert_eq!(lifecycle(&p), Lifecycle::Deleting { finalize: true });
        p.metadata.deletion_grace_period_seconds = Some(0);
        p.metadata.finalizers = Some(vec!["example.com/hold".into()]);
        assert_eq!(lifecycle(&p), Lifecycle::Deleting { finalize: false });
    }
}
