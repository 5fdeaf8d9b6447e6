//! Core (`v1`) kinds other than pods and nodes: namespaces, config maps, secrets, service
//! accounts, services, endpoints, pod templates, resource quotas and events (core and
//! `events.k8s.io`).

use crate::age;
use crate::column::{age_col, c, name_col, w, Column};
use crate::util::{arr, containers, format_labels, i, len_obj, name, obj, opt_i, quantity, s};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Namespace columns.
pub fn namespace_columns() -> Vec<Column> {
    vec![
        name_col(),
        c("Status", "string", "The status of the namespace"),
        age_col(),
    ]
}

/// Namespace cells.
pub fn namespace_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(o)),
        json!(s(o, "/status/phase")),
        json!(age::age(o, now)),
    ]
}

/// ConfigMap columns.
pub fn configmap_columns() -> Vec<Column> {
    vec![
        name_col(),
        c("Data", "string", "Data contains the configuration data."),
        age_col(),
    ]
}

/// ConfigMap cells: `DATA` counts `data` and `binaryData` keys.
pub fn configmap_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let n = len_obj(o, "/data") + len_obj(o, "/binaryData");
    vec![json!(name(o)), json!(n), json!(age::age(o, now))]
}

/// Secret columns.
pub fn secret_columns() -> Vec<Column> {
    vec![
        name_col(),
        c(
            "Type",
            "string",
            "Used to facilitate programmatic handling of secret data.",
        ),
        c("Data", "string", "Data contains the secret data."),
        age_col(),
    ]
}

/// Secret cells.
pub fn secret_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(o)),
        json!(s(o, "/type")),
        json!(len_obj(o, "/data")),
        json!(age::age(o, now)),
    ]
}

/// ServiceAccount columns.
pub fn serviceaccount_columns() -> Vec<Column> {
    vec![name_col(), c("Secrets", "string", "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use."), age_col()]
}

/// ServiceAccount cells.
pub fn serviceaccount_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(o)),
        json!(arr(o, "/secrets").len()),
        json!(age::age(o, now)),
    ]
}

/// Service columns.
pub fn service_columns() -> Vec<Column> {
    vec![
        name_col(),
        c("Type", "string", "type determines how the Service is exposed."),
        c("Cluster-IP", "string", "clusterIP is the IP address of the service and is usually assigned randomly."),
        c("External-IP", "string", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service."),
        c("Port(s)", "string", "The list of ports that are exposed by this service."),
        age_col(),
        w("Selector", "string", "Route service traffic to pods with label keys and values matching this selector."),
    ]
}

fn lb_ingress(o: &Value, pointer: &str) -> Vec<String> {
    let set: BTreeSet<String> = arr(o, pointer)
        .iter()
        .filter_map(|ing| match (s(ing, "/ip"), s(ing, "/hostname")) {
            ("", "") => None,
            ("", h) => Some(h.to_string()),
            (ip, _) => Some(ip.to_string()),
        })
        .collect();
    set.into_iter().collect()
}

fn service_external_ip(o: &Value) -> String {
    let external: Vec<&str> = arr(o, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match s(o, "/spec/type") {
        "" | "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                "<none>".into()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let mut lb = lb_ingress(o, "/status/loadBalancer/ingress");
            if !external.is_empty() {
                lb.extend(external.iter().map(|e| e.to_string()));
                return lb.join(",");
            }
            if lb.is_empty() {
                "<pending>".into()
            } else {
                lb.join(",")
            }
        }
        "ExternalName" => s(o, "/spec/externalName").to_string(),
        _ => "<unknown>".into(),
    }
}

fn service_ports(o: &Value) -> String {
    let pieces: Vec<String> = arr(o, "/spec/ports")
        .iter()
        .map(|p| {
            let proto = match s(p, "/protocol") {
                "" => "TCP",
                x => x,
            };
            match i(p, "/nodePort") {
                n if n > 0 => format!("{}:{n}/{proto}", i(p, "/port")),
                _ => format!("{}/{proto}", i(p, "/port")),
            }
        })
        .collect();
    if pieces.is_empty() {
        "<none>".into()
    } else {
        pieces.join(",")
    }
}

/// Service cells.
pub fn service_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let cluster_ip = arr(o, "/spec/clusterIPs")
        .first()
        .and_then(Value::as_str)
        .or_else(|| Some(s(o, "/spec/clusterIP")).filter(|x| !x.is_empty()))
        .unwrap_or("<none>");
    let svc_type = match s(o, "/spec/type") {
        "" => "ClusterIP",
        t => t,
    };
    vec![
        json!(name(o)),
        json!(svc_type),
        json!(cluster_ip),
        json!(service_external_ip(o)),
        json!(service_ports(o)),
        json!(age::age(o, now)),
        json!(format_labels(obj(o, "/spec/selector"))),
    ]
}

/// Endpoints columns.
pub fn endpoints_columns() -> Vec<Column> {
    vec![
        name_col(),
        c(
            "Endpoints",
            "string",
            "The set of all endpoints is the union of all subsets.",
        ),
        age_col(),
    ]
}

/// Upstream's `formatEndpoints`: up to three `ip:port` entries, then `+ N more...`.
pub fn format_endpoints(o: &Value) -> String {
    let subsets = arr(o, "/subsets");
    if subsets.is_empty() {
        return "<none>".into();
    }
    let max = 3;
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0;
    for ss in subsets {
        let addrs = arr(ss, "/addresses");
        let ports = arr(ss, "/ports");
        if ports.is_empty() {
            count += addrs.len();
            for a in addrs {
                if list.len() == max {
                    more = true;
                    break;
                }
                list.push(s(a, "/ip").to_string());
            }
            continue;
        }
        for p in ports {
            count += addrs.len();
            for a in addrs {
                if list.len() == max {
                    more = true;
                    break;
                }
                let ip = s(a, "/ip");
                let host = if ip.contains(':') {
                    format!("[{ip}]")
                } else {
                    ip.to_string()
                };
                list.push(format!("{host}:{}", i(p, "/port")));
            }
        }
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", count - max)
    } else {
        ret
    }
}

/// Endpoints cells.
pub fn endpoints_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(o)),
        json!(format_endpoints(o)),
        json!(age::age(o, now)),
    ]
}

/// PodTemplate columns.
pub fn podtemplate_columns() -> Vec<Column> {
    vec![
        name_col(),
        c(
            "Containers",
            "string",
            "Names of each container in the template.",
        ),
        c(
            "Images",
            "string",
            "Images referenced by each container in the template.",
        ),
        c("Pod Labels", "string", "The labels for the pod template."),
    ]
}

/// PodTemplate cells.
pub fn podtemplate_cells(o: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = containers(arr(o, "/template/spec/containers"));
    vec![
        json!(name(o)),
        json!(names),
        json!(images),
        json!(format_labels(obj(o, "/template/metadata/labels"))),
    ]
}

/// ResourceQuota columns.
pub fn resourcequota_columns() -> Vec<Column> {
    vec![
        name_col(),
        c("Request", "string", "Request represents a minimum amount of cpu/memory that a container may consume."),
        c("Limit", "string", "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node."),
        age_col(),
    ]
}

/// ResourceQuota cells: `resource: used/hard` pairs, `limits.*` in the second column.
pub fn resourcequota_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut names: Vec<&String> = obj(o, "/status/hard")
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    names.sort();
    let (mut req, mut lim) = (Vec::new(), Vec::new());
    for r in names {
        let used = quantity(o.pointer("/status/used").and_then(|u| u.get(r.as_str())));
        let hard = quantity(o.pointer("/status/hard").and_then(|u| u.get(r.as_str())));
        let entry = format!("{r}: {used}/{hard}");
        let pieces: Vec<&str> = r.split('.').collect();
        if pieces.len() > 1 && pieces[0] == "limits" {
            lim.push(entry);
        } else {
            req.push(entry);
        }
    }
    vec![
        json!(name(o)),
        json!(req.join(", ")),
        json!(lim.join(", ")),
        json!(age::age(o, now)),
    ]
}

/// Event columns (core `v1` and `events.k8s.io/v1`).
pub fn event_columns() -> Vec<Column> {
    vec![
        c("Last Seen", "string", "The time at which the most recent occurrence of this event was recorded."),
        c("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future"),
        c("Reason", "string", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
        c("Object", "string", "The object that this event is about."),
        w("Subobject", "string", "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement."),
        w("Source", "string", "The component reporting this event. Should be a short machine understandable string."),
        c("Message", "string", "A human-readable description of the status of this operation."),
        w("First Seen", "string", "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)"),
        w("Count", "string", "The number of times this event has occurred."),
        Column {
            priority: 1,
            ..name_col()
        },
    ]
}

/// Maps an `events.k8s.io/v1` Event onto the core field names.
fn as_core_event(o: &Value) -> Value {
    if o.get("regarding").is_none() && o.get("note").is_none() && o.get("deprecatedCount").is_none()
    {
        return o.clone();
    }
    let mut e = o.clone();
    let pairs = [
        ("regarding", "involvedObject"),
        ("note", "message"),
        ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"),
        ("deprecatedCount", "count"),
        ("deprecatedSource", "source"),
    ];
    if let Value::Object(m) = &mut e {
        for (from, to) in pairs {
            if let Some(v) = m.get(from).cloned() {
                m.insert(to.into(), v);
            }
        }
    }
    e
}

/// Event cells.
pub fn event_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let e = as_core_event(o);
    let first = if age::parse_time(e.get("firstTimestamp")).is_some() {
        age::since(e.get("firstTimestamp"), now)
    } else {
        age::since(e.get("eventTime"), now)
    };
    let mut last = if age::parse_time(e.get("lastTimestamp")).is_some() {
        age::since(e.get("lastTimestamp"), now)
    } else {
        first.clone()
    };
    let mut count = opt_i(&e, "/count").unwrap_or(0);
    if e.get("series").is_some_and(Value::is_object) {
        last = age::since(e.pointer("/series/lastObservedTime"), now);
        count = i(&e, "/series/count");
    } else if count == 0 {
        count = 1;
    }
    let kind = s(&e, "/involvedObject/kind").to_lowercase();
    let target = match s(&e, "/involvedObject/name") {
        "" => kind,
        n => format!("{kind}/{n}"),
    };
    let first_non_empty = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else {
            a.to_string()
        }
    };
    let component = first_non_empty(s(&e, "/source/component"), s(&e, "/reportingController"));
    let instance = first_non_empty(s(&e, "/source/host"), s(&e, "/reportingInstance"));
    let source = if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    };
    vec![
        json!(last),
        json!(s(&e, "/type")),
        json!(s(&e, "/reason")),
        json!(target),
        json!(s(&e, "/involvedObject/fieldPath")),
        json!(source),
        json!(s(&e, "/message").trim()),
        json!(first),
        json!(count),
        json!(name(&e)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn meta(name: &str) -> Value {
        json!({ "name": name, "creationTimestamp": "2024-05-01T11:58:30Z" })
    }

    #[test]
    fn namespace_configmap_secret_serviceaccount() {
        let ns = json!({ "metadata": meta("default"), "status": { "phase": "Active" } });
        assert_eq!(
            namespace_cells(&ns, now()),
            vec![json!("default"), json!("Active"), json!("90s")]
        );
        let cm = json!({ "metadata": meta("cm"), "data": { "a": "1", "b": "2" }, "binaryData": { "c": "" } });
        assert_eq!(
            configmap_cells(&cm, now()),
            vec![json!("cm"), json!(3), json!("90s")]
        );
        let sec = json!({ "metadata": meta("s"), "type": "Opaque", "data": { "k": "dg==" } });
        assert_eq!(
            secret_cells(&sec, now()),
            vec![json!("s"), json!("Opaque"), json!(1), json!("90s")]
        );
        let sa = json!({ "metadata": meta("default") });
        assert_eq!(
            serviceaccount_cells(&sa, now()),
            vec![json!("default"), json!(0), json!("90s")]
        );
    }

    #[test]
    fn services() {
        let svc = json!({
            "metadata": meta("web"),
            "spec": {
                "type": "NodePort", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                "ports": [{ "port": 80, "protocol": "TCP", "nodePort": 30080 }, { "port": 53, "protocol": "UDP" }],
                "selector": { "app": "web" },
            },
        });
        assert_eq!(
            service_cells(&svc, now()),
            vec![
                json!("web"),
                json!("NodePort"),
                json!("10.96.0.10"),
                json!("<none>"),
                json!("80:30080/TCP,53/UDP"),
                json!("90s"),
                json!("app=web")
            ]
        );
        let lb = json!({ "spec": { "type": "LoadBalancer", "ports": [] }, "status": { "loadBalancer": { "ingress": [{ "ip": "1.2.3.4" }, { "hostname": "a.example" }] } } });
        let cells = service_cells(&lb, now());
        assert_eq!(cells[2], json!("<none>"));
        assert_eq!(cells[3], json!("1.2.3.4,a.example"));
        assert_eq!(cells[4], json!("<none>"));
        let pending = json!({ "spec": { "type": "LoadBalancer" } });
        assert_eq!(service_cells(&pending, now())[3], json!("<pending>"));
        let ext = json!({ "spec": { "type": "ExternalName", "externalName": "db.example" } });
        assert_eq!(service_cells(&ext, now())[3], json!("db.example"));
    }

    #[test]
    fn endpoints() {
        let ep = json!({
            "metadata": meta("web"),
            "subsets": [{ "addresses": [{ "ip": "10.0.0.1" }, { "ip": "10.0.0.2" }, { "ip": "10.0.0.3" }, { "ip": "10.0.0.4" }], "ports": [{ "port": 80 }] }],
        });
        assert_eq!(
            endpoints_cells(&ep, now()),
            vec![
                json!("web"),
                json!("10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 1 more..."),
                json!("90s")
            ]
        );
        assert_eq!(format_endpoints(&json!({})), "<none>");
        let headless = json!({ "subsets": [{ "addresses": [{ "ip": "10.0.0.9" }] }] });
        assert_eq!(format_endpoints(&headless), "10.0.0.9");
    }

    #[test]
    fn podtemplate_and_quota() {
        let pt = json!({ "metadata": meta("t"), "template": { "metadata": { "labels": { "app": "x" } }, "spec": { "containers": [{ "name": "a", "image": "nginx" }, { "name": "b", "image": "busybox" }] } } });
        assert_eq!(
            podtemplate_cells(&pt, now()),
            vec![
                json!("t"),
                json!("a,b"),
                json!("nginx,busybox"),
                json!("app=x")
            ]
        );
        let q = json!({ "metadata": meta("q"), "status": { "hard": { "pods": "10", "limits.cpu": "2", "requests.cpu": "1" }, "used": { "pods": "3" } } });
        assert_eq!(
            resourcequota_cells(&q, now()),
            vec![
                json!("q"),
                json!("pods: 3/10, requests.cpu: 0/1"),
                json!("limits.cpu: 0/2"),
                json!("90s")
            ]
        );
    }

    #[test]
    fn events_core_and_new_api() {
        let ev = json!({
            "metadata": { "name": "web.17a" },
            "involvedObject": { "kind": "Pod", "name": "web", "fieldPath": "spec.containers{a}" },
            "reason": "Pulled", "type": "Normal", "message": " pulled image \n",
            "source": { "component": "kubelet", "host": "n1" },
            "firstTimestamp": "2024-05-01T11:00:00Z", "lastTimestamp": "2024-05-01T11:59:00Z", "count": 4,
        });
        assert_eq!(
            event_cells(&ev, now()),
            vec![
                json!("60s"),
                json!("Normal"),
                json!("Pulled"),
                json!("pod/web"),
                json!("spec.containers{a}"),
                json!("kubelet, n1"),
                json!("pulled image"),
                json!("60m"),
                json!(4),
                json!("web.17a")
            ]
        );
        let new = json!({
            "metadata": { "name": "e2" },
            "regarding": { "kind": "Node", "name": "n1" },
            "note": "ok", "reason": "Ready", "type": "Normal",
            "eventTime": "2024-05-01T11:59:50.000000Z", "reportingController": "skiff",
        });
        assert_eq!(
            event_cells(&new, now()),
            vec![
                json!("10s"),
                json!("Normal"),
                json!("Ready"),
                json!("node/n1"),
                json!(""),
                json!("skiff"),
                json!("ok"),
                json!("10s"),
                json!(1),
                json!("e2")
            ]
        );
        assert_eq!(event_cells(&json!({}), now())[0], json!("<unknown>"));
    }
}
