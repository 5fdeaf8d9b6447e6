//! Pods: `NAME READY STATUS RESTARTS AGE | IP NODE NOMINATED NODE READINESS GATES`, with the
//! status computed as upstream's `printPod` does (init containers, sidecars, waiting and
//! terminated reasons, `Completed`, `Terminating`) and restarts as `5 (3m ago)`.

use crate::age::{self, parse_time};
use crate::column::{age_col, c, name_col, w, Column};
use crate::util::{arr, i, name, s};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// Pod columns.
pub fn columns() -> Vec<Column> {
    vec![
        name_col(),
        c("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
        c("Status", "string", "The aggregate status of the containers in this pod."),
        c("Restarts", "string", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
        age_col(),
        w("IP", "string", "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated."),
        w("Node", "string", "NodeName indicates in which node this pod is scheduled."),
        w("Nominated Node", "string", "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods."),
        w("Readiness Gates", "string", "If specified, all readiness gates will be evaluated for pod readiness."),
    ]
}

fn is_restartable(spec_init: &[Value], name: &str) -> bool {
    spec_init
        .iter()
        .find(|c| s(c, "/name") == name)
        .is_some_and(|c| s(c, "/restartPolicy") == "Always")
}

fn has_condition(pod: &Value, kind: &str) -> bool {
    arr(pod, "/status/conditions")
        .iter()
        .any(|c| s(c, "/type") == kind && s(c, "/status") == "True")
}

/// The first condition of `kind` decides (upstream's `isPodInitializedConditionTrue`).
fn first_condition_true(pod: &Value, kind: &str) -> bool {
    arr(pod, "/status/conditions")
        .iter()
        .find(|c| s(c, "/type") == kind)
        .is_some_and(|c| s(c, "/status") == "True")
}

fn later(cur: Option<DateTime<Utc>>, cand: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (cur, cand) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn last_terminated(status: &Value) -> Option<DateTime<Utc>> {
    status
        .pointer("/lastState/terminated")
        .filter(|t| t.is_object())
        .and_then(|t| parse_time(t.get("finishedAt")))
}

/// The `READY`, `STATUS`, `RESTARTS` values.
pub fn status(pod: &Value, now: DateTime<Utc>) -> (String, String, String) {
    let spec_init = arr(pod, "/spec/initContainers");
    let total = arr(pod, "/spec/containers").len()
        + spec_init
            .iter()
            .filter(|c| s(c, "/restartPolicy") == "Always")
            .count();
    let mut ready = 0usize;
    let mut restarts = 0i64;
    let mut sidecar_restarts = 0i64;
    let mut last_restart: Option<DateTime<Utc>> = None;
    let mut last_sidecar_restart: Option<DateTime<Utc>> = None;
    let phase = s(pod, "/status/phase");
    let mut reason = match s(pod, "/status/reason") {
        "" => phase.to_string(),
        r => r.to_string(),
    };
    if arr(pod, "/status/conditions")
        .iter()
        .any(|c| s(c, "/type") == "PodScheduled" && s(c, "/reason") == "SchedulingGated")
    {
        reason = "SchedulingGated".into();
    }

    let mut initializing = false;
    for (idx, cs) in arr(pod, "/status/initContainerStatuses").iter().enumerate() {
        let cname = s(cs, "/name");
        let restartable = is_restartable(spec_init, cname);
        restarts += i(cs, "/restartCount");
        let finished = last_terminated(cs);
        last_restart = later(last_restart, finished);
        if restartable {
            sidecar_restarts += i(cs, "/restartCount");
            last_sidecar_restart = later(last_sidecar_restart, finished);
        }
        let terminated = cs.pointer("/state/terminated").filter(|t| t.is_object());
        let waiting_reason = cs
            .pointer("/state/waiting")
            .filter(|t| t.is_object())
            .map(|w| s(w, "/reason"));
        if terminated.is_some_and(|t| i(t, "/exitCode") == 0) {
            continue;
        }
        if restartable && cs.get("started").and_then(Value::as_bool) == Some(true) {
            if cs.get("ready").and_then(Value::as_bool) == Some(true) {
                ready += 1;
            }
            continue;
        }
        if let Some(t) = terminated {
            reason = match s(t, "/reason") {
                "" if i(t, "/signal") != 0 => format!("Init:Signal:{}", i(t, "/signal")),
                "" => format!("Init:ExitCode:{}", i(t, "/exitCode")),
                r => format!("Init:{r}"),
            };
        } else if let Some(r) = waiting_reason.filter(|r| !r.is_empty() && *r != "PodInitializing")
        {
            reason = format!("Init:{r}");
        } else {
            reason = format!("Init:{idx}/{}", spec_init.len());
        }
        initializing = true;
        break;
    }

    if !initializing || first_condition_true(pod, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for cs in arr(pod, "/status/containerStatuses").iter().rev() {
            restarts += i(cs, "/restartCount");
            last_restart = later(last_restart, last_terminated(cs));
            let waiting = cs.pointer("/state/waiting").filter(|t| t.is_object());
            let terminated = cs.pointer("/state/terminated").filter(|t| t.is_object());
            let running = cs.pointer("/state/running").is_some_and(Value::is_object);
            if let Some(r) = waiting.map(|w| s(w, "/reason")).filter(|r| !r.is_empty()) {
                reason = r.to_string();
            } else if let Some(t) = terminated {
                reason = match s(t, "/reason") {
                    "" if i(t, "/signal") != 0 => format!("Signal:{}", i(t, "/signal")),
                    "" => format!("ExitCode:{}", i(t, "/exitCode")),
                    r => r.to_string(),
                };
            } else if cs.get("ready").and_then(Value::as_bool) == Some(true) && running {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if has_condition(pod, "Ready") {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }

    if crate::util::deleting(pod) && s(pod, "/status/reason") == "NodeLost" {
        reason = "Unknown".into();
    } else if crate::util::deleting(pod) && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".into();
    }

    let restarts_str = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", age::human_between(t, now)),
        _ => restarts.to_string(),
    };
    (format!("{ready}/{total}"), reason, restarts_str)
}

/// Pod cells.
pub fn cells(pod: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (ready, reason, restarts) = status(pod, now);
    let ip = arr(pod, "/status/podIPs")
        .first()
        .map(|p| s(p, "/ip"))
        .filter(|ip| !ip.is_empty())
        .unwrap_or_else(|| s(pod, "/status/podIP"));
    let gates = arr(pod, "/spec/readinessGates");
    let readiness = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conditions = arr(pod, "/status/conditions");
        let true_count = gates
            .iter()
            .filter(|g| {
                conditions
                    .iter()
                    .find(|c| s(c, "/type") == s(g, "/conditionType"))
                    .is_some_and(|c| s(c, "/status") == "True")
            })
            .count();
        format!("{true_count}/{}", gates.len())
    };
    let none = |x: &str| crate::util::or_none(x);
    vec![
        json!(name(pod)),
        json!(ready),
        json!(reason),
        json!(restarts),
        json!(age::age(pod, now)),
        json!(none(ip)),
        json!(none(s(pod, "/spec/nodeName"))),
        json!(none(s(pod, "/status/nominatedNodeName"))),
        json!(readiness),
    ]
}

/// Row conditions upstream attaches to finished pods (`Completed` rows).
pub fn row_conditions(pod: &Value) -> Option<Value> {
    let (reason, message) = match s(pod, "/status/phase") {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(json!([{ "type": "Completed", "status": "True", "reason": reason, "message": message }]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn pod(status: Value) -> Value {
        json!({
            "metadata": { "name": "web", "creationTimestamp": "2024-05-01T11:00:00Z" },
            "spec": { "containers": [{ "name": "a" }, { "name": "b" }], "nodeName": "n1" },
            "status": status,
        })
    }

    #[test]
    fn running_pod_with_restarts() {
        let p = pod(json!({
            "phase": "Running",
            "podIPs": [{ "ip": "10.0.0.5" }],
            "conditions": [{ "type": "Ready", "status": "True" }],
            "containerStatuses": [
                { "name": "a", "ready": true, "restartCount": 2, "state": { "running": {} },
                  "lastState": { "terminated": { "exitCode": 1, "finishedAt": "2024-05-01T11:55:00Z" } } },
                { "name": "b", "ready": true, "restartCount": 0, "state": { "running": {} } },
            ],
        }));
        assert_eq!(
            cells(&p, now()),
            vec![
                json!("web"),
                json!("2/2"),
                json!("Running"),
                json!("2 (5m ago)"),
                json!("60m"),
                json!("10.0.0.5"),
                json!("n1"),
                json!("<none>"),
                json!("<none>")
            ]
        );
    }

    #[test]
    fn waiting_and_terminated_reasons() {
        let p = pod(json!({
            "phase": "Pending",
            "containerStatuses": [
                { "name": "a", "state": { "waiting": { "reason": "ImagePullBackOff" } } },
                { "name": "b", "state": { "waiting": { "reason": "ContainerCreating" } } },
            ],
        }));
        // Statuses are walked backwards, so the first container's reason wins.
        assert_eq!(
            status(&p, now()),
            ("0/2".into(), "ImagePullBackOff".into(), "0".into())
        );
        let done = pod(json!({
            "phase": "Succeeded",
            "containerStatuses": [
                { "name": "a", "state": { "terminated": { "exitCode": 0, "reason": "Completed" } } },
                { "name": "b", "state": { "terminated": { "exitCode": 137, "signal": 9 } } },
            ],
        }));
        assert_eq!(status(&done, now()).1, "Completed");
        assert!(row_conditions(&done).is_some());
        let crashed = pod(json!({
            "phase": "Running",
            "containerStatuses": [{ "name": "a", "state": { "terminated": { "exitCode": 3 } } }],
        }));
        assert_eq!(status(&crashed, now()).1, "ExitCode:3");
    }

    #[test]
    fn init_containers_and_sidecars() {
        let mut p = pod(json!({
            "phase": "Pending",
            "initContainerStatuses": [
                { "name": "init1", "state": { "terminated": { "exitCode": 0 } } },
                { "name": "init2", "state": { "running": {} } },
            ],
        }));
        p["spec"]["initContainers"] = json!([{ "name": "init1" }, { "name": "init2" }]);
        assert_eq!(status(&p, now()).1, "Init:1/2");
        p["status"]["initContainerStatuses"][1]["state"] =
            json!({ "waiting": { "reason": "CrashLoopBackOff" } });
        assert_eq!(status(&p, now()).1, "Init:CrashLoopBackOff");
        p["status"]["initContainerStatuses"][1]["state"] =
            json!({ "terminated": { "exitCode": 2 } });
        assert_eq!(status(&p, now()).1, "Init:ExitCode:2");

        let mut side = pod(json!({
            "phase": "Running",
            "conditions": [{ "type": "Initialized", "status": "True" }, { "type": "Ready", "status": "True" }],
            "initContainerStatuses": [{ "name": "proxy", "started": true, "ready": true, "restartCount": 1, "state": { "running": {} } }],
            "containerStatuses": [
                { "name": "a", "ready": true, "state": { "running": {} } },
                { "name": "b", "ready": true, "state": { "running": {} } },
            ],
        }));
        side["spec"]["initContainers"] = json!([{ "name": "proxy", "restartPolicy": "Always" }]);
        assert_eq!(
            status(&side, now()),
            ("3/3".into(), "Running".into(), "1".into())
        );
    }

    #[test]
    fn terminating_and_gated() {
        let mut p = pod(json!({ "phase": "Running" }));
        p["metadata"]["deletionTimestamp"] = json!("2024-05-01T11:59:00Z");
        assert_eq!(status(&p, now()).1, "Terminating");
        p["status"]["reason"] = json!("NodeLost");
        assert_eq!(status(&p, now()).1, "Unknown");
        let gated = pod(
            json!({ "phase": "Pending", "conditions": [{ "type": "PodScheduled", "reason": "SchedulingGated" }] }),
        );
        assert_eq!(status(&gated, now()).1, "SchedulingGated");
        let empty = json!({});
        assert_eq!(
            cells(&empty, now()),
            vec![
                json!(""),
                json!("0/0"),
                json!(""),
                json!("0"),
                json!("<unknown>"),
                json!("<none>"),
                json!("<none>"),
                json!("<none>"),
                json!("<none>")
            ]
        );
    }

    #[test]
    fn readiness_gates_count_true_conditions() {
        let mut p =
            pod(json!({ "phase": "Running", "conditions": [{ "type": "lb", "status": "True" }] }));
        p["spec"]["readinessGates"] =
            json!([{ "conditionType": "lb" }, { "conditionType": "dns" }]);
        assert_eq!(cells(&p, now())[8], json!("1/2"));
    }
}
