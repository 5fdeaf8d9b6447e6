//! Discovery documents: legacy (`/api`, `/apis`, `/apis/{g}`, `/apis/{g}/{v}`) and aggregated
//! (apidiscovery.k8s.io v2 and v2beta1), built from the registry on each request.

use serde_json::{json, Value};
use skiff_api::{Registry, ResourceInfo};

fn gv(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// Verbs of a subresource.
fn sub_verbs(sub: &str) -> Value {
    match sub {
        "status" | "scale" => json!(["get", "patch", "update"]),
        _ => json!(["create"]),
    }
}

/// Subresources a resource serves: (name, kind, group, version).
fn subresources(r: &ResourceInfo) -> Vec<(&'static str, String, String, String)> {
    let mut out = Vec::new();
    if r.status_subresource {
        out.push(("status", r.kind.clone(), r.group.clone(), r.version.clone()));
    }
    if r.scale.is_some() {
        out.push(("scale", "Scale".into(), "autoscaling".into(), "v1".into()));
    }
    if r.group.is_empty() && r.plural == "pods" {
        out.push(("binding", "Binding".into(), String::new(), "v1".into()));
        out.push(("eviction", "Eviction".into(), "policy".into(), "v1".into()));
    }
    if r.group.is_empty() && r.plural == "serviceaccounts" {
        out.push((
            "token",
            "TokenRequest".into(),
            "authentication.k8s.io".into(),
            "v1".into(),
        ));
    }
    if r.group.is_empty() && r.plural == "namespaces" {
        out.push(("finalize", "Namespace".into(), String::new(), "v1".into()));
    }
    out
}

/// `/api`
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_object(reg: &Registry, name: &str, versions: &[String]) -> Value {
    let pref = reg
        .preferred_version(name)
        .unwrap_or_else(|| versions[0].clone());
    json!({
        "name": name,
        "versions": versions.iter().map(|v| json!({"groupVersion": gv(name, v), "version": v})).collect::<Vec<_>>(),
        "preferredVersion": {"groupVersion": gv(name, &pref), "version": pref},
    })
}

/// `/apis`
pub fn groups(reg: &Registry) -> Value {
    let groups: Vec<Value> = reg
        .groups()
        .into_iter()
        .filter(|g| !g.name.is_empty())
        .map(|g| group_object(reg, &g.name, &g.versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/{group}`
pub fn group(reg: &Registry, name: &str) -> Option<Value> {
    let g = reg
        .groups()
        .into_iter()
        .find(|g| g.name == name && !name.is_empty())?;
    let mut v = group_object(reg, &g.name, &g.versions);
    v["kind"] = json!("APIGroup");
    v["apiVersion"] = json!("v1");
    Some(v)
}

/// `/api/v1` or `/apis/{group}/{version}`
pub fn resource_list(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let res = reg.resources_in(group, version);
    if res.is_empty() {
        return None;
    }
    let mut list = Vec::new();
    for r in &res {
        let mut o = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced(),
            "kind": r.kind,
            "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            o["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            o["categories"] = json!(r.categories);
        }
        if !r.virtual_only {
            o["storageVersionHash"] = json!(storage_hash(r));
        }
        list.push(o);
        for (sub, kind, g, v) in subresources(r) {
            let mut s = json!({
                "name": format!("{}/{sub}", r.plural),
                "singularName": "",
                "namespaced": r.namespaced(),
                "kind": kind,
                "verbs": sub_verbs(sub),
            });
            if g != r.group || v != r.version {
                s["group"] = json!(g);
                s["version"] = json!(v);
            }
            list.push(s);
        }
    }
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv(group, version),
        "resources": list,
    }))
}

fn storage_hash(r: &ResourceInfo) -> String {
    use base64::Engine;
    let mut h: u64 = 0xcbf29ce484222325;
    for b in format!("{}/{}/{}", r.group, r.version, r.kind).bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    base64::engine::general_purpose::STANDARD.encode(&h.to_be_bytes()[..8])
}

/// Aggregated discovery for `/api` (core only) or `/apis` (every other group).
pub fn aggregated(reg: &Registry, core: bool, version: &str) -> Value {
    let items: Vec<Value> = reg
        .groups()
        .into_iter()
        .filter(|g| g.name.is_empty() == core)
        .map(|g| {
            let versions: Vec<Value> = g
                .versions
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = reg
                        .resources_in(&g.name, v)
                        .iter()
                        .map(|r| {
                            let mut o = json!({
                                "resource": r.plural,
                                "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                                "scope": if r.namespaced() { "Namespaced" } else { "Cluster" },
                                "singularResource": r.singular,
                                "verbs": r.verbs,
                            });
                            if !r.short_names.is_empty() {
                                o["shortNames"] = json!(r.short_names);
                            }
                            if !r.categories.is_empty() {
                                o["categories"] = json!(r.categories);
                            }
                            let subs: Vec<Value> = subresources(r)
                                .into_iter()
                                .map(|(sub, kind, gg, vv)| {
                                    json!({"subresource": sub, "responseKind": {"group": gg, "version": vv, "kind": kind}, "verbs": sub_verbs(sub)})
                                })
                                .collect();
                            if !subs.is_empty() {
                                o["subresources"] = json!(subs);
                            }
                            o
                        })
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": g.name, "creationTimestamp": null}, "versions": versions})
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_v1_lists_deployments_with_scale_subresource() {
        let reg = Registry::builtin();
        let l = resource_list(&reg, "apps", "v1").unwrap();
        let names: Vec<&str> = l["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"deployments"));
        assert!(names.contains(&"deployments/scale"));
        assert!(names.contains(&"deployments/status"));
    }

    #[test]
    fn aggregated_core_has_pods_and_no_groups() {
        let reg = Registry::builtin();
        let a = aggregated(&reg, true, "v2");
        assert_eq!(a["items"].as_array().unwrap().len(), 1);
        let pods = a["items"][0]["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "pods")
            .unwrap();
        assert_eq!(pods["shortNames"], json!(["po"]));
        let b = aggregated(&reg, false, "v2");
        assert!(b["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["metadata"]["name"] == "apps"));
    }
}
