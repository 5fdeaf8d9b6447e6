//! Networking: ingresses, ingress classes, network policies, endpoint slices, service CIDRs
//! and IP addresses.

use crate::age;
use crate::column::{age_col, c, name_col, Column};
use crate::util::{arr, format_label_selector, i, list_with_more, name, opt_s, s, text};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Ingress columns.
pub fn ingress_columns() -> Vec<Column> {
    vec![
        name_col(),
        c("Class", "string", "The name of the IngressClass resource that should be used for additional configuration"),
        c("Hosts", "string", "Hosts that incoming requests are matched against before the ingress rule"),
        c("Address", "string", "Address is a list containing ingress points for the load-balancer"),
        c("Ports", "string", "Ports of TLS configurations that open"),
        age_col(),
    ]
}

fn format_hosts(rules: &[Value]) -> String {
    let max = 3;
    let mut list: Vec<&str> = Vec::new();
    let mut more = false;
    for r in rules {
        if list.len() == max {
            more = true;
        }
        let host = s(r, "/host");
        if !more && !host.is_empty() {
            list.push(host);
        }
    }
    if list.is_empty() {
        return "*".into();
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", rules.len() - max)
    } else {
        ret
    }
}

/// Ingress cells.
pub fn ingress_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let addresses: BTreeSet<&str> = arr(o, "/status/loadBalancer/ingress")
        .iter()
        .filter_map(|ing| match (s(ing, "/ip"), s(ing, "/hostname")) {
            ("", "") => None,
            ("", h) => Some(h),
            (ip, _) => Some(ip),
        })
        .collect();
    let ports = if arr(o, "/spec/tls").is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        json!(name(o)),
        json!(opt_s(o, "/spec/ingressClassName").unwrap_or("<none>")),
        json!(format_hosts(arr(o, "/spec/rules"))),
        json!(addresses.into_iter().collect::<Vec<_>>().join(",")),
        json!(ports),
        json!(age::age(o, now)),
    ]
}

/// IngressClass columns.
pub fn ingressclass_columns() -> Vec<Column> {
    vec![
        name_col(),
        c(
            "Controller",
            "string",
            "Controller that is responsible for handling this class",
        ),
        c(
            "Parameters",
            "string",
            "A reference to a resource with additional parameters",
        ),
        age_col(),
    ]
}

/// IngressClass cells.
pub fn ingressclass_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let params = match o.pointer("/spec/parameters") {
        Some(p) if p.is_object() => {
            let mut out = s(p, "/kind").to_string();
            if let Some(g) = opt_s(p, "/apiGroup") {
                out = format!("{out}.{g}");
            }
            format!("{out}/{}", s(p, "/name"))
        }
        _ => "<none>".into(),
    };
    vec![
        json!(name(o)),
        json!(s(o, "/spec/controller")),
        json!(params),
        json!(age::age(o, now)),
    ]
}

/// NetworkPolicy columns.
pub fn networkpolicy_columns() -> Vec<Column> {
    vec![
        name_col(),
        c(
            "Pod-Selector",
            "string",
            "Selects the pods to which this NetworkPolicy object applies.",
        ),
        age_col(),
    ]
}

/// NetworkPolicy cells.
pub fn networkpolicy_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(o)),
        json!(format_label_selector(o.pointer("/spec/podSelector"))),
        json!(age::age(o, now)),
    ]
}

/// EndpointSlice columns.
pub fn endpointslice_columns() -> Vec<Column> {
    vec![
        name_col(),
        c(
            "AddressType",
            "string",
            "addressType specifies the type of address carried by this EndpointSlice.",
        ),
        c(
            "Ports",
            "string",
            "ports specifies the list of network ports exposed by each endpoint in this slice.",
        ),
        c(
            "Endpoints",
            "string",
            "endpoints is a list of unique endpoints in this slice.",
        ),
        age_col(),
    ]
}

/// EndpointSlice cells.
pub fn endpointslice_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let max = 3;
    let ports = arr(o, "/ports");
    let port_list: Vec<String> = ports
        .iter()
        .take(max)
        .map(
            |p| match (p.get("port").filter(|v| !v.is_null()), opt_s(p, "/name")) {
                (Some(_), _) => i(p, "/port").to_string(),
                (None, Some(n)) => n.to_string(),
                (None, None) => "*".into(),
            },
        )
        .collect();
    let addrs: Vec<String> = arr(o, "/endpoints")
        .iter()
        .flat_map(|e| arr(e, "/addresses").iter().map(|a| text(Some(a))))
        .collect();
    let shown: Vec<String> = addrs.iter().take(max).cloned().collect();
    vec![
        json!(name(o)),
        json!(s(o, "/addressType")),
        json!(list_with_more(&port_list, ports.len(), max)),
        json!(list_with_more(&shown, addrs.len(), max)),
        json!(age::age(o, now)),
    ]
}

/// ServiceCIDR columns.
pub fn servicecidr_columns() -> Vec<Column> {
    vec![
        name_col(),
        c("CIDRs", "string", "cidrs defines the IP blocks in CIDR notation from which to assign service cluster IPs."),
        age_col(),
    ]
}

/// ServiceCIDR cells.
pub fn servicecidr_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let cidrs: Vec<&str> = arr(o, "/spec/cidrs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    vec![
        json!(name(o)),
        json!(cidrs.join(",")),
        json!(age::age(o, now)),
    ]
}

/// IPAddress columns.
pub fn ipaddress_columns() -> Vec<Column> {
    vec![
        name_col(),
        c(
            "ParentRef",
            "string",
            "ParentRef references the resource that an IPAddress is attached to.",
        ),
        age_col(),
    ]
}

/// IPAddress cells: the parent as `resource.group/namespace/name`.
pub fn ipaddress_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let parent = match o.pointer("/spec/parentRef") {
        Some(p) if p.is_object() => {
            let gr = match s(p, "/group") {
                "" => s(p, "/resource").to_string(),
                g => format!("{}.{g}", s(p, "/resource")),
            };
            let mut out = gr.to_lowercase();
            if !s(p, "/namespace").is_empty() {
                out = format!("{out}/{}", s(p, "/namespace"));
            }
            format!("{out}/{}", s(p, "/name"))
        }
        _ => "<none>".into(),
    };
    vec![json!(name(o)), json!(parent), json!(age::age(o, now))]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn ingress_rows() {
        let ing = json!({
            "metadata": { "name": "web", "creationTimestamp": "2024-05-01T11:00:00Z" },
            "spec": { "ingressClassName": "nginx", "rules": [{ "host": "a.example" }, { "host": "b.example" }, {}, { "host": "c.example" }, { "host": "d.example" }], "tls": [{}] },
            "status": { "loadBalancer": { "ingress": [{ "ip": "10.0.0.9" }] } },
        });
        assert_eq!(
            ingress_cells(&ing, now()),
            vec![
                json!("web"),
                json!("nginx"),
                json!("a.example,b.example,c.example + 2 more..."),
                json!("10.0.0.9"),
                json!("80, 443"),
                json!("60m")
            ]
        );
        assert_eq!(
            ingress_cells(&json!({}), now())[1..5],
            [json!("<none>"), json!("*"), json!(""), json!("80")]
        );
        let cls = json!({ "metadata": { "name": "nginx" }, "spec": { "controller": "k8s.io/ingress-nginx", "parameters": { "apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "p" } } });
        assert_eq!(
            ingressclass_cells(&cls, now()),
            vec![
                json!("nginx"),
                json!("k8s.io/ingress-nginx"),
                json!("IngressParameters.k8s.example.com/p"),
                json!("<unknown>")
            ]
        );
    }

    #[test]
    fn endpointslice_and_policy_rows() {
        let es = json!({
            "metadata": { "name": "web-abc", "creationTimestamp": "2024-05-01T11:59:00Z" },
            "addressType": "IPv4",
            "ports": [{ "port": 80 }, { "name": "metrics" }],
            "endpoints": [{ "addresses": ["10.0.0.1"] }, { "addresses": ["10.0.0.2", "10.0.0.3", "10.0.0.4"] }],
        });
        assert_eq!(
            endpointslice_cells(&es, now()),
            vec![
                json!("web-abc"),
                json!("IPv4"),
                json!("80,metrics"),
                json!("10.0.0.1,10.0.0.2,10.0.0.3 + 1 more..."),
                json!("60s")
            ]
        );
        assert_eq!(
            endpointslice_cells(&json!({}), now())[2..4],
            [json!("<unset>"), json!("<unset>")]
        );
        let np = json!({ "metadata": { "name": "deny" }, "spec": { "podSelector": {} } });
        assert_eq!(networkpolicy_cells(&np, now())[1], json!("<none>"));
    }

    #[test]
    fn servicecidr_and_ipaddress_rows() {
        let sc = json!({ "metadata": { "name": "kubernetes" }, "spec": { "cidrs": ["10.96.0.0/12", "fd00::/108"] } });
        assert_eq!(
            servicecidr_cells(&sc, now())[1],
            json!("10.96.0.0/12,fd00::/108")
        );
        let ip = json!({ "metadata": { "name": "10.96.0.1" }, "spec": { "parentRef": { "group": "", "resource": "services", "namespace": "default", "name": "kubernetes" } } });
        assert_eq!(
            ipaddress_cells(&ip, now())[1],
            json!("services/default/kubernetes")
        );
    }
}
