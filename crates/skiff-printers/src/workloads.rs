//! Workloads: deployments, replica sets, replication controllers, stateful sets, daemon sets,
//! jobs, cron jobs, controller revisions, horizontal pod autoscalers and disruption budgets.

use crate::age;
use crate::column::{age_col, c, container_cols, name_col, w, Column};
use crate::util::{
    arr, bool_ptr, condition_status, containers, deleting, format_label_selector, format_labels, i,
    name, obj, opt_i, s, selector_string, text,
};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

fn replicas(o: &Value) -> i64 {
    opt_i(o, "/spec/replicas").unwrap_or(1)
}

fn template_containers(o: &Value, pointer: &str) -> (String, String) {
    containers(arr(o, pointer))
}

/// Deployment columns.
pub fn deployment_columns() -> Vec<Column> {
    let [cn, im] = container_cols();
    vec![
        name_col(),
        c("Ready", "string", "Number of the pod with ready state"),
        c("Up-to-date", "string", "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
        c("Available", "string", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
        age_col(),
        cn,
        im,
        w("Selector", "string", "Label selector for pods."),
    ]
}

/// Deployment cells.
pub fn deployment_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = template_containers(o, "/spec/template/spec/containers");
    let selector =
        selector_string(o.pointer("/spec/selector")).unwrap_or_else(|| "<invalid>".into());
    vec![
        json!(name(o)),
        json!(format!("{}/{}", i(o, "/status/readyReplicas"), replicas(o))),
        json!(i(o, "/status/updatedReplicas")),
        json!(i(o, "/status/availableReplicas")),
        json!(age::age(o, now)),
        json!(names),
        json!(images),
        json!(selector),
    ]
}

/// ReplicaSet and ReplicationController columns.
pub fn replicaset_columns() -> Vec<Column> {
    let [cn, im] = container_cols();
    vec![
        name_col(),
        c(
            "Desired",
            "integer",
            "Replicas is the number of desired replicas.",
        ),
        c(
            "Current",
            "integer",
            "Replicas is the most recently observed number of replicas.",
        ),
        c(
            "Ready",
            "integer",
            "The number of ready replicas for this replica set.",
        ),
        age_col(),
        cn,
        im,
        w(
            "Selector",
            "string",
            "Selector is a label query over pods that should match the replica count.",
        ),
    ]
}

/// ReplicaSet cells.
pub fn replicaset_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = template_containers(o, "/spec/template/spec/containers");
    vec![
        json!(name(o)),
        json!(replicas(o)),
        json!(i(o, "/status/replicas")),
        json!(i(o, "/status/readyReplicas")),
        json!(age::age(o, now)),
        json!(names),
        json!(images),
        json!(format_label_selector(o.pointer("/spec/selector"))),
    ]
}

/// ReplicationController cells (its selector is a plain label map).
pub fn replicationcontroller_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut cells = replicaset_cells(o, now);
    cells[7] = json!(format_labels(obj(o, "/spec/selector")));
    cells
}

/// StatefulSet columns.
pub fn statefulset_columns() -> Vec<Column> {
    let [cn, im] = container_cols();
    vec![
        name_col(),
        c("Ready", "string", "Number of the pod with ready state"),
        age_col(),
        cn,
        im,
    ]
}

/// StatefulSet cells.
pub fn statefulset_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = template_containers(o, "/spec/template/spec/containers");
    vec![
        json!(name(o)),
        json!(format!("{}/{}", i(o, "/status/readyReplicas"), replicas(o))),
        json!(age::age(o, now)),
        json!(names),
        json!(images),
    ]
}

/// DaemonSet columns.
pub fn daemonset_columns() -> Vec<Column> {
    let [cn, im] = container_cols();
    vec![
        name_col(),
        c("Desired", "integer", "The total number of nodes that should be running the daemon pod."),
        c("Current", "integer", "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod."),
        c("Ready", "integer", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready."),
        c("Up-to-date", "integer", "The total number of nodes that are running updated daemon pod"),
        c("Available", "integer", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available."),
        c("Node Selector", "string", "NodeSelector is a selector which must be true for the pod to fit on a node."),
        age_col(),
        cn,
        im,
        w("Selector", "string", "A label query over pods that are managed by the daemon set."),
    ]
}

/// DaemonSet cells.
pub fn daemonset_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = template_containers(o, "/spec/template/spec/containers");
    vec![
        json!(name(o)),
        json!(i(o, "/status/desiredNumberScheduled")),
        json!(i(o, "/status/currentNumberScheduled")),
        json!(i(o, "/status/numberReady")),
        json!(i(o, "/status/updatedNumberScheduled")),
        json!(i(o, "/status/numberAvailable")),
        json!(format_labels(obj(o, "/spec/template/spec/nodeSelector"))),
        json!(age::age(o, now)),
        json!(names),
        json!(images),
        json!(format_label_selector(o.pointer("/spec/selector"))),
    ]
}

/// Job columns.
pub fn job_columns() -> Vec<Column> {
    let [cn, im] = container_cols();
    vec![
        name_col(),
        c("Status", "string", "Status of the job."),
        c(
            "Completions",
            "string",
            "The number of pods which reached phase Succeeded.",
        ),
        c("Duration", "string", "Time required to complete the job."),
        age_col(),
        cn,
        im,
        w(
            "Selector",
            "string",
            "A label query over pods that should match the pod count.",
        ),
    ]
}

fn job_condition(o: &Value, kind: &str) -> bool {
    condition_status(arr(o, "/status/conditions"), kind) == Some("True")
}

/// Job cells.
pub fn job_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let succeeded = i(o, "/status/succeeded");
    let completions = match opt_i(o, "/spec/completions") {
        Some(n) => format!("{succeeded}/{n}"),
        None => match opt_i(o, "/spec/parallelism").unwrap_or(0) {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let start = age::parse_time(o.pointer("/status/startTime"));
    let end = age::parse_time(o.pointer("/status/completionTime"));
    let duration = match (start, end) {
        (None, _) => String::new(),
        (Some(st), None) => age::human_between(st, now),
        (Some(st), Some(en)) => age::human_between(st, en),
    };
    let status = if job_condition(o, "Complete") {
        "Complete"
    } else if job_condition(o, "Failed") {
        "Failed"
    } else if deleting(o) {
        "Terminating"
    } else if job_condition(o, "Suspended") {
        "Suspended"
    } else if job_condition(o, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = template_containers(o, "/spec/template/spec/containers");
    vec![
        json!(name(o)),
        json!(status),
        json!(completions),
        json!(duration),
        json!(age::age(o, now)),
        json!(names),
        json!(images),
        json!(format_label_selector(o.pointer("/spec/selector"))),
    ]
}

/// CronJob columns.
pub fn cronjob_columns() -> Vec<Column> {
    let [cn, im] = container_cols();
    vec![
        name_col(),
        c("Schedule", "string", "The schedule in Cron format."),
        c(
            "Timezone",
            "string",
            "The time zone name for the given schedule.",
        ),
        c(
            "Suspend",
            "boolean",
            "This flag tells the controller to suspend subsequent executions.",
        ),
        c(
            "Active",
            "integer",
            "A list of pointers to currently running jobs.",
        ),
        c(
            "Last Schedule",
            "string",
            "Information when was the last time the job was successfully scheduled.",
        ),
        age_col(),
        cn,
        im,
        w(
            "Selector",
            "string",
            "A label query over pods that should match the pod count.",
        ),
    ]
}

/// CronJob cells.
pub fn cronjob_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let last = match o.pointer("/status/lastScheduleTime") {
        Some(t) if !t.is_null() => age::since(Some(t), now),
        _ => "<none>".into(),
    };
    let tz = match s(o, "/spec/timeZone") {
        "" if o.pointer("/spec/timeZone").is_none_or(Value::is_null) => "<none>".to_string(),
        t => t.to_string(),
    };
    let (names, images) = template_containers(o, "/spec/jobTemplate/spec/template/spec/containers");
    vec![
        json!(name(o)),
        json!(s(o, "/spec/schedule")),
        json!(tz),
        json!(bool_ptr(o.pointer("/spec/suspend"))),
        json!(arr(o, "/status/active").len()),
        json!(last),
        json!(age::age(o, now)),
        json!(names),
        json!(images),
        json!(format_label_selector(
            o.pointer("/spec/jobTemplate/spec/selector")
        )),
    ]
}

/// ControllerRevision columns.
pub fn controllerrevision_columns() -> Vec<Column> {
    vec![
        name_col(),
        c("Controller", "string", "Controller of the object"),
        c(
            "Revision",
            "string",
            "Revision indicates the revision of the state represented by Data.",
        ),
        age_col(),
    ]
}

/// ControllerRevision cells: the controller as `kind.group/name`.
pub fn controllerrevision_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let owner = arr(o, "/metadata/ownerReferences")
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true));
    let controller = match owner {
        None => "<none>".to_string(),
        Some(r) => {
            let group = s(r, "/apiVersion").rsplit_once('/').map_or("", |(g, _)| g);
            let kind = s(r, "/kind");
            let gk = match (kind, group) {
                ("", "") => String::new(),
                (k, "") => k.to_string(),
                (k, g) => format!("{k}.{g}"),
            };
            if gk.is_empty() {
                s(r, "/name").to_string()
            } else {
                format!("{}/{}", gk.to_lowercase(), s(r, "/name"))
            }
        }
    };
    vec![
        json!(name(o)),
        json!(controller),
        json!(i(o, "/revision")),
        json!(age::age(o, now)),
    ]
}

/// HorizontalPodAutoscaler columns (v1 and v2).
pub fn hpa_columns() -> Vec<Column> {
    vec![
        name_col(),
        c("Reference", "string", "scaleTargetRef points to the target resource to scale."),
        c("Targets", "string", "metrics contains the specifications for which to use to calculate the desired replica count."),
        c("MinPods", "string", "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down."),
        c("MaxPods", "string", "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up."),
        c("Replicas", "string", "currentReplicas is current number of replicas of pods managed by this autoscaler."),
        age_col(),
    ]
}

fn q(v: Option<&Value>) -> Option<String> {
    v.filter(|x| !x.is_null()).map(|x| text(Some(x)))
}

/// Upstream's `formatHPAMetrics` over v2 metric specs and statuses.
fn hpa_metrics(specs: &[Value], statuses: &[Value]) -> String {
    if specs.is_empty() {
        return "<none>".into();
    }
    let unknown = || "<unknown>".to_string();
    let mut list: Vec<String> = Vec::new();
    for (idx, spec) in specs.iter().enumerate() {
        let st = statuses.get(idx);
        let source = |field: &str| st.and_then(|s| s.get(field)).filter(|v| v.is_object());
        let item = match s(spec, "/type") {
            kind @ ("External" | "Object") => {
                let field = if kind == "External" {
                    "external"
                } else {
                    "object"
                };
                let target = spec.pointer(&format!("/{field}/target"));
                if let Some(avg) = q(target.and_then(|t| t.get("averageValue"))) {
                    let cur = q(source(field).and_then(|s| s.pointer("/current/averageValue")))
                        .unwrap_or_else(unknown);
                    format!("{cur}/{avg} (avg)")
                } else {
                    let cur = source(field).map_or_else(unknown, |s| {
                        q(s.pointer("/current/value")).unwrap_or_else(unknown)
                    });
                    format!(
                        "{cur}/{}",
                        q(target.and_then(|t| t.get("value"))).unwrap_or_else(unknown)
                    )
                }
            }
            "Pods" => {
                let cur = source("pods").map_or_else(unknown, |s| {
                    q(s.pointer("/current/averageValue")).unwrap_or_else(unknown)
                });
                format!(
                    "{cur}/{}",
                    q(spec.pointer("/pods/target/averageValue")).unwrap_or_else(unknown)
                )
            }
            kind @ ("Resource" | "ContainerResource") => {
                let field = if kind == "Resource" {
                    "resource"
                } else {
                    "containerResource"
                };
                // Since Kubernetes 1.30 the resource name leads: `cpu: 12%/80%`.
                let name = s(spec, &format!("/{field}/name"));
                let target = spec.pointer(&format!("/{field}/target"));
                if let Some(avg) = q(target.and_then(|t| t.get("averageValue"))) {
                    let cur = source(field).map_or_else(unknown, |s| {
                        q(s.pointer("/current/averageValue")).unwrap_or_else(unknown)
                    });
                    format!("{name}: {cur}/{avg}")
                } else {
                    let cur = source(field)
                        .and_then(|s| opt_i(s, "/current/averageUtilization"))
                        .map_or_else(unknown, |u| format!("{u}%"));
                    let tgt = target
                        .and_then(|t| opt_i(t, "/averageUtilization"))
                        .map_or_else(|| "<auto>".to_string(), |u| format!("{u}%"));
                    format!("{name}: {cur}/{tgt}")
                }
            }
            _ => "<unknown type>".into(),
        };
        list.push(item);
    }
    let count = list.len();
    let max = 2;
    if count > max {
        list.truncate(max);
        return format!("{} + {} more...", list.join(", "), count - max);
    }
    list.join(", ")
}

/// HorizontalPodAutoscaler cells; `autoscaling/v1` objects are read through their CPU target.
pub fn hpa_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (specs, statuses) = if o.pointer("/spec/targetCPUUtilizationPercentage").is_some()
        || (o.pointer("/spec/metrics").is_none() && s(o, "/apiVersion") == "autoscaling/v1")
    {
        let spec = match opt_i(o, "/spec/targetCPUUtilizationPercentage") {
            Some(t) => vec![
                json!({ "type": "Resource", "resource": { "name": "cpu", "target": { "type": "Utilization", "averageUtilization": t } } }),
            ],
            None => vec![],
        };
        let status = match opt_i(o, "/status/currentCPUUtilizationPercentage") {
            Some(c) => vec![
                json!({ "type": "Resource", "resource": { "name": "cpu", "current": { "averageUtilization": c } } }),
            ],
            None => vec![],
        };
        (spec, status)
    } else {
        (
            arr(o, "/spec/metrics").to_vec(),
            arr(o, "/status/currentMetrics").to_vec(),
        )
    };
    let min =
        opt_i(o, "/spec/minReplicas").map_or_else(|| "<unset>".to_string(), |m| m.to_string());
    vec![
        json!(name(o)),
        json!(format!(
            "{}/{}",
            s(o, "/spec/scaleTargetRef/kind"),
            s(o, "/spec/scaleTargetRef/name")
        )),
        json!(hpa_metrics(&specs, &statuses)),
        json!(min),
        json!(i(o, "/spec/maxReplicas")),
        json!(i(o, "/status/currentReplicas")),
        json!(age::age(o, now)),
    ]
}

/// PodDisruptionBudget columns.
pub fn pdb_columns() -> Vec<Column> {
    vec![
        name_col(),
        c(
            "Min Available",
            "string",
            "The minimum number of pods that must be available.",
        ),
        c(
            "Max Unavailable",
            "string",
            "The maximum number of pods that may be unavailable.",
        ),
        c(
            "Allowed Disruptions",
            "integer",
            "Calculated number of pods that may be disrupted at this time.",
        ),
        age_col(),
    ]
}

/// PodDisruptionBudget cells.
pub fn pdb_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let int_or_string = |p: &str| q(o.pointer(p)).unwrap_or_else(|| "N/A".into());
    vec![
        json!(name(o)),
        json!(int_or_string("/spec/minAvailable")),
        json!(int_or_string("/spec/maxUnavailable")),
        json!(i(o, "/status/disruptionsAllowed")),
        json!(age::age(o, now)),
    ]
}

#[cfg(test)]
mod tests;
