//! Whole-row tests of the workload printers.

use super::*;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn meta(name: &str) -> Value {
    json!({ "name": name, "creationTimestamp": "2024-05-01T11:00:00Z" })
}

fn template() -> Value {
    json!({ "spec": { "containers": [{ "name": "nginx", "image": "nginx:1.25" }, { "name": "log", "image": "busybox" }] } })
}

#[test]
fn deployment_row() {
    let d = json!({
        "metadata": meta("web"),
        "spec": { "replicas": 3, "selector": { "matchLabels": { "app": "web" } }, "template": template() },
        "status": { "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2 },
    });
    assert_eq!(
        deployment_cells(&d, now()),
        vec![
            json!("web"),
            json!("2/3"),
            json!(3),
            json!(2),
            json!("60m"),
            json!("nginx,log"),
            json!("nginx:1.25,busybox"),
            json!("app=web")
        ]
    );
    let bare = json!({});
    assert_eq!(
        deployment_cells(&bare, now()),
        vec![
            json!(""),
            json!("0/1"),
            json!(0),
            json!(0),
            json!("<unknown>"),
            json!(""),
            json!(""),
            json!("")
        ]
    );
}

#[test]
fn replicaset_and_rc_rows() {
    let rs = json!({
        "metadata": meta("web-5d8"),
        "spec": { "replicas": 2, "selector": { "matchLabels": { "app": "web", "pod-template-hash": "5d8" } }, "template": template() },
        "status": { "replicas": 2, "readyReplicas": 1 },
    });
    assert_eq!(
        replicaset_cells(&rs, now()),
        vec![
            json!("web-5d8"),
            json!(2),
            json!(2),
            json!(1),
            json!("60m"),
            json!("nginx,log"),
            json!("nginx:1.25,busybox"),
            json!("app=web,pod-template-hash=5d8")
        ]
    );
    let rc = json!({ "metadata": meta("rc"), "spec": { "replicas": 1, "selector": { "app": "x" }, "template": template() } });
    assert_eq!(replicationcontroller_cells(&rc, now())[7], json!("app=x"));
}

#[test]
fn statefulset_and_daemonset_rows() {
    let st = json!({ "metadata": meta("db"), "spec": { "replicas": 3, "template": template() }, "status": { "readyReplicas": 3 } });
    assert_eq!(
        statefulset_cells(&st, now()),
        vec![
            json!("db"),
            json!("3/3"),
            json!("60m"),
            json!("nginx,log"),
            json!("nginx:1.25,busybox")
        ]
    );
    let ds = json!({
        "metadata": meta("agent"),
        "spec": { "selector": { "matchLabels": { "app": "agent" } }, "template": { "spec": { "nodeSelector": { "kubernetes.io/os": "linux" }, "containers": [{ "name": "a", "image": "agent:1" }] } } },
        "status": { "desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 1, "updatedNumberScheduled": 2, "numberAvailable": 1 },
    });
    assert_eq!(
        daemonset_cells(&ds, now()),
        vec![
            json!("agent"),
            json!(2),
            json!(2),
            json!(1),
            json!(2),
            json!(1),
            json!("kubernetes.io/os=linux"),
            json!("60m"),
            json!("a"),
            json!("agent:1"),
            json!("app=agent")
        ]
    );
}

#[test]
fn job_rows() {
    let done = json!({
        "metadata": meta("pi"),
        "spec": { "completions": 1, "template": template(), "selector": { "matchLabels": { "batch.kubernetes.io/controller-uid": "u1" } } },
        "status": {
            "succeeded": 1, "startTime": "2024-05-01T11:00:00Z", "completionTime": "2024-05-01T11:00:42Z",
            "conditions": [{ "type": "SuccessCriteriaMet", "status": "True" }, { "type": "Complete", "status": "True" }],
        },
    });
    assert_eq!(
        job_cells(&done, now()),
        vec![
            json!("pi"),
            json!("Complete"),
            json!("1/1"),
            json!("42s"),
            json!("60m"),
            json!("nginx,log"),
            json!("nginx:1.25,busybox"),
            json!("batch.kubernetes.io/controller-uid=u1")
        ]
    );
    let running = json!({ "metadata": meta("p"), "spec": { "parallelism": 3 }, "status": { "startTime": "2024-05-01T11:58:00Z" } });
    let cells = job_cells(&running, now());
    assert_eq!(
        &cells[1..4],
        &[json!("Running"), json!("0/1 of 3"), json!("2m")]
    );
    let fresh = json!({ "spec": { "suspend": true }, "status": { "conditions": [{ "type": "Suspended", "status": "True" }] } });
    assert_eq!(
        &job_cells(&fresh, now())[1..4],
        &[json!("Suspended"), json!("0/1"), json!("")]
    );
}

#[test]
fn cronjob_row() {
    let cj = json!({
        "metadata": meta("backup"),
        "spec": { "schedule": "*/5 * * * *", "suspend": false, "jobTemplate": { "spec": { "template": template() } } },
        "status": { "active": [{ "name": "backup-1" }], "lastScheduleTime": "2024-05-01T11:55:00Z" },
    });
    assert_eq!(
        cronjob_cells(&cj, now()),
        vec![
            json!("backup"),
            json!("*/5 * * * *"),
            json!("<none>"),
            json!("False"),
            json!(1),
            json!("5m"),
            json!("60m"),
            json!("nginx,log"),
            json!("nginx:1.25,busybox"),
            json!("<none>")
        ]
    );
    let tz = json!({ "spec": { "timeZone": "Etc/UTC" } });
    let cells = cronjob_cells(&tz, now());
    assert_eq!(
        &cells[2..6],
        &[
            json!("Etc/UTC"),
            json!("<unset>"),
            json!(0),
            json!("<none>")
        ]
    );
}

#[test]
fn controllerrevision_row() {
    let cr = json!({
        "metadata": { "name": "agent-7c9", "creationTimestamp": "2024-05-01T11:00:00Z",
            "ownerReferences": [{ "apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "controller": true }] },
        "revision": 2,
    });
    assert_eq!(
        controllerrevision_cells(&cr, now()),
        vec![
            json!("agent-7c9"),
            json!("daemonset.apps/agent"),
            json!(2),
            json!("60m")
        ]
    );
    assert_eq!(
        controllerrevision_cells(&json!({}), now())[1],
        json!("<none>")
    );
}

#[test]
fn hpa_rows() {
    let v2 = json!({
        "metadata": meta("web"),
        "spec": {
            "scaleTargetRef": { "kind": "Deployment", "name": "web" }, "minReplicas": 1, "maxReplicas": 10,
            "metrics": [
                { "type": "Resource", "resource": { "name": "cpu", "target": { "type": "Utilization", "averageUtilization": 80 } } },
                { "type": "Resource", "resource": { "name": "memory", "target": { "type": "AverageValue", "averageValue": "100Mi" } } },
                { "type": "Pods", "pods": { "target": { "averageValue": "1k" } } },
            ],
        },
        "status": {
            "currentReplicas": 2,
            "currentMetrics": [{ "type": "Resource", "resource": { "name": "cpu", "current": { "averageUtilization": 12 } } }],
        },
    });
    assert_eq!(
        hpa_cells(&v2, now()),
        vec![
            json!("web"),
            json!("Deployment/web"),
            json!("cpu: 12%/80%, memory: <unknown>/100Mi + 1 more..."),
            json!("1"),
            json!(10),
            json!(2),
            json!("60m")
        ]
    );
    let v1 = json!({
        "apiVersion": "autoscaling/v1",
        "metadata": meta("web"),
        "spec": { "scaleTargetRef": { "kind": "Deployment", "name": "web" }, "maxReplicas": 5, "targetCPUUtilizationPercentage": 50 },
        "status": { "currentReplicas": 1 },
    });
    assert_eq!(
        hpa_cells(&v1, now())[2..4],
        [json!("cpu: <unknown>/50%"), json!("<unset>")]
    );
    let none = json!({ "spec": { "scaleTargetRef": { "kind": "Deployment", "name": "x" } } });
    assert_eq!(hpa_cells(&none, now())[2], json!("<none>"));
}

#[test]
fn pdb_row() {
    let pdb = json!({ "metadata": meta("web"), "spec": { "minAvailable": 2 }, "status": { "disruptionsAllowed": 1 } });
    assert_eq!(
        pdb_cells(&pdb, now()),
        vec![
            json!("web"),
            json!("2"),
            json!("N/A"),
            json!(1),
            json!("60m")
        ]
    );
    let pct = json!({ "metadata": meta("p"), "spec": { "maxUnavailable": "25%" } });
    assert_eq!(pdb_cells(&pct, now())[1..3], [json!("N/A"), json!("25%")]);
}
