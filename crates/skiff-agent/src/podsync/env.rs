//! PURE: a container's environment as the kubelet builds it — `envFrom` sources in order, then
//! `env` (literal values with `$(VAR)` expansion, `configMapKeyRef`, `secretKeyRef`,
//! `fieldRef`, `resourceFieldRef`) — and `$(VAR)` expansion of command and args. A missing
//! required source is the kubelet's `CreateContainerConfigError` message.
//!
//! ```
//! use k8s_openapi::api::core::v1::{Container, EnvVar, Pod};
//! use skiff_agent::podsync::env::{resolve, Sources};
//! let c = Container { env: Some(vec![
//!     EnvVar { name: "A".into(), value: Some("x".into()), ..Default::default() },
//!     EnvVar { name: "B".into(), value: Some("$(A)-y".into()), ..Default::default() },
//! ]), ..Default::default() };
//! let pod = Pod::default();
//! let env = resolve(&c, &Sources { pod: Some(&pod), ..Default::default() }).unwrap();
//! assert_eq!(env, [("A".to_string(), "x".to_string()), ("B".to_string(), "x-y".to_string())]);
//! ```

use k8s_openapi::api::core::v1::{Container, Pod, Service};
use std::collections::BTreeMap;

/// What a container's environment may refer to.
#[derive(Clone, Debug, Default)]
pub struct Sources<'a> {
    /// The pod (for `fieldRef`).
    pub pod: Option<&'a Pod>,
    /// ConfigMaps of the pod's namespace that exist, by name.
    pub config_maps: BTreeMap<String, BTreeMap<String, String>>,
    /// Secrets of the pod's namespace that exist, by name (values decoded).
    pub secrets: BTreeMap<String, BTreeMap<String, String>>,
    /// The pod's IP.
    pub pod_ip: String,
    /// The node's IP.
    pub host_ip: String,
    /// Node allocatable CPU in millicores (what `limits.cpu` reads without a limit).
    pub node_cpu_millis: i64,
    /// Node allocatable memory in bytes (what `limits.memory` reads without a limit).
    pub node_memory_bytes: i64,
    /// The Services' variables ([`service_env`]): added after the container's own and usable
    /// in `$(VAR)` expansion.
    pub service_env: BTreeMap<String, String>,
}

impl<'a> Sources<'a> {
    fn pod(&self) -> &Pod {
        static EMPTY: std::sync::OnceLock<Pod> = std::sync::OnceLock::new();
        self.pod.unwrap_or_else(|| EMPTY.get_or_init(Pod::default))
    }
}

/// A Service name as an environment variable prefix (`my-svc` → `MY_SVC`).
fn env_prefix(name: &str) -> String {
    name.replace('-', "_").to_ascii_uppercase()
}

/// PURE — the kubelet's Service environment variables (`KUBERNETES_SERVICE_HOST`, ...): the
/// `kubernetes` Service of `default` always, and with `enableServiceLinks` every Service of
/// the pod's namespace with a cluster IP, in the Docker-links shape upstream writes.
pub fn service_env(
    services: &[Service],
    namespace: &str,
    enable_links: bool,
) -> BTreeMap<String, String> {
    let mut chosen: BTreeMap<String, &Service> = BTreeMap::new();
    for svc in services {
        let name = svc.metadata.name.clone().unwrap_or_default();
        let ns = svc.metadata.namespace.as_deref().unwrap_or("default");
        if ns == "default" && name == "kubernetes" {
            chosen.entry(name).or_insert(svc);
        } else if ns == namespace && enable_links {
            chosen.insert(name, svc);
        }
    }
    let mut env = BTreeMap::new();
    for (name, svc) in chosen {
        let Some(spec) = &svc.spec else { continue };
        let ip = spec.cluster_ip.clone().unwrap_or_default();
        let ports = spec.ports.clone().unwrap_or_default();
        if ip.is_empty() || ip == "None" || ports.is_empty() {
            continue;
        }
        let prefix = env_prefix(&name);
        env.insert(format!("{prefix}_SERVICE_HOST"), ip.clone());
        env.insert(format!("{prefix}_SERVICE_PORT"), ports[0].port.to_string());
        for p in &ports {
            if let Some(n) = p.name.as_deref().filter(|n| !n.is_empty()) {
                env.insert(
                    format!("{prefix}_SERVICE_PORT_{}", env_prefix(n)),
                    p.port.to_string(),
                );
            }
        }
        for (i, p) in ports.iter().enumerate() {
            let proto = p.protocol.clone().unwrap_or_else(|| "TCP".into());
            let lower = proto.to_ascii_lowercase();
            let url = format!("{lower}://{ip}:{}", p.port);
            if i == 0 {
                env.insert(format!("{prefix}_PORT"), url.clone());
            }
            let pp = format!("{prefix}_PORT_{}_{}", p.port, proto.to_ascii_uppercase());
            env.insert(format!("{pp}_PROTO"), lower);
            env.insert(format!("{pp}_PORT"), p.port.to_string());
            env.insert(format!("{pp}_ADDR"), ip.clone());
            env.insert(pp, url);
        }
    }
    env
}

/// The names of the ConfigMaps and Secrets `c` refers to: what the driver must fetch.
pub fn references(c: &Container) -> (Vec<String>, Vec<String>) {
    let mut cms = Vec::new();
    let mut secrets = Vec::new();
    for f in c.env_from.iter().flatten() {
        cms.extend(f.config_map_ref.as_ref().map(|r| r.name.clone()));
        secrets.extend(f.secret_ref.as_ref().map(|r| r.name.clone()));
    }
    for e in c.env.iter().flatten() {
        let Some(v) = &e.value_from else { continue };
        cms.extend(v.config_map_key_ref.as_ref().map(|r| r.name.clone()));
        secrets.extend(v.secret_key_ref.as_ref().map(|r| r.name.clone()));
    }
    cms.sort();
    cms.dedup();
    secrets.sort();
    secrets.dedup();
    (cms, secrets)
}

/// Upstream's rule for names taken from envFrom keys (C identifiers, plus `-` and `.`).
fn valid_env_name(k: &str) -> bool {
    !k.is_empty()
        && !k.starts_with(|c: char| c.is_ascii_digit())
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Expands `$(NAME)` from `vars` (unknown references stay as written; `$$` is a literal `$`).
pub fn expand(s: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(a) = after.strip_prefix('$') {
            out.push('$');
            rest = a;
        } else if let Some(inner) = after.strip_prefix('(') {
            match inner.find(')') {
                Some(end) => {
                    let name = &inner[..end];
                    match vars.get(name) {
                        Some(v) => out.push_str(v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &inner[end + 1..];
                }
                None => {
                    out.push('$');
                    rest = after;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

pub(crate) fn field(src: &Sources<'_>, path: &str) -> Result<String, String> {
    let pod = src.pod();
    let m = &pod.metadata;
    let subscript = |prefix: &str, map: &Option<BTreeMap<String, String>>| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_suffix("']"))
            .map(|k| {
                map.as_ref()
                    .and_then(|l| l.get(k))
                    .cloned()
                    .unwrap_or_default()
            })
    };
    if let Some(v) = subscript("metadata.labels['", &m.labels) {
        return Ok(v);
    }
    if let Some(v) = subscript("metadata.annotations['", &m.annotations) {
        return Ok(v);
    }
    let spec = pod.spec.as_ref();
    Ok(match path {
        "metadata.name" => m.name.clone().unwrap_or_default(),
        "metadata.namespace" => m.namespace.clone().unwrap_or_default(),
        "metadata.uid" => m.uid.clone().unwrap_or_default(),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.podIP" | "status.podIPs" => src.pod_ip.clone(),
        "status.hostIP" | "status.hostIPs" => src.host_ip.clone(),
        other => return Err(format!("unsupported fieldRef {other:?}")),
    })
}

pub(crate) fn resource_field(
    c: &Container,
    src: &Sources<'_>,
    r: &k8s_openapi::api::core::v1::ResourceFieldSelector,
) -> Result<String, String> {
    let parse =
        |q: &str| skiff_api::quantity::parse(q).ok_or_else(|| format!("bad quantity {q:?}"));
    let get = |which: &str, name: &str| -> Option<String> {
        let res = c.resources.as_ref()?;
        let list = if which == "limits" {
            res.limits.as_ref()?
        } else {
            res.requests.as_ref()?
        };
        list.get(name).map(|q| q.0.clone())
    };
    let (which, name) = r
        .resource
        .split_once('.')
        .ok_or_else(|| format!("unsupported resourceFieldRef {:?}", r.resource))?;
    // Nano-units; a missing limit reads as node allocatable, a missing request as 0.
    let value: i128 = match (get(which, name), which, name) {
        (Some(q), _, _) => parse(&q)?,
        (None, "limits", "cpu") => i128::from(src.node_cpu_millis) * 1_000_000,
        (None, "limits", "memory") => i128::from(src.node_memory_bytes) * 1_000_000_000,
        (None, _, _) => 0,
    };
    let divisor = match &r.divisor {
        Some(d) => parse(&d.0)?,
        None => 1_000_000_000,
    };
    if divisor <= 0 {
        return Err(format!("invalid divisor for {}", r.resource));
    }
    // Rounded up, like upstream's ExtractContainerResourceValue.
    Ok(((value + divisor - 1) / divisor).to_string())
}

/// The container's environment, in order (later names override earlier ones in place).
pub fn resolve(c: &Container, src: &Sources<'_>) -> Result<Vec<(String, String)>, String> {
    let ns = src.pod().metadata.namespace.clone().unwrap_or_default();
    let mut order: Vec<String> = Vec::new();
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let set =
        |k: String, v: String, order: &mut Vec<String>, vars: &mut BTreeMap<String, String>| {
            if !vars.contains_key(&k) {
                order.push(k.clone());
            }
            vars.insert(k, v);
        };
    for f in c.env_from.iter().flatten() {
        let prefix = f.prefix.clone().unwrap_or_default();
        let (data, kind, name, optional) = if let Some(r) = &f.config_map_ref {
            (
                src.config_maps.get(&r.name),
                "configmap",
                &r.name,
                r.optional == Some(true),
            )
        } else if let Some(r) = &f.secret_ref {
            (
                src.secrets.get(&r.name),
                "secret",
                &r.name,
                r.optional == Some(true),
            )
        } else {
            continue;
        };
        match data {
            Some(d) => {
                for (k, v) in d {
                    let key = format!("{prefix}{k}");
                    if valid_env_name(&key) {
                        set(key, v.clone(), &mut order, &mut vars);
                    }
                }
            }
            None if optional => {}
            None => return Err(format!("{kind} \"{name}\" not found")),
        }
    }
    for e in c.env.iter().flatten() {
        let value = match (&e.value, &e.value_from) {
            (_, Some(from)) => {
                let key_ref = if let Some(r) = &from.config_map_key_ref {
                    Some((
                        &src.config_maps,
                        "configmap",
                        "ConfigMap",
                        &r.name,
                        &r.key,
                        r.optional,
                    ))
                } else {
                    from.secret_key_ref.as_ref().map(|r| {
                        (
                            &src.secrets,
                            "secret",
                            "Secret",
                            &r.name,
                            &r.key,
                            r.optional,
                        )
                    })
                };
                if let Some((objects, kind, kind_title, name, key, optional)) = key_ref {
                    match objects.get(name).and_then(|d| d.get(key)) {
                        Some(v) => v.clone(),
                        None if optional == Some(true) => continue,
                        None if !objects.contains_key(name) => {
                            return Err(format!("{kind} \"{name}\" not found"))
                        }
                        None => {
                            return Err(format!(
                                "couldn't find key {key} in {kind_title} {ns}/{name}"
                            ))
                        }
                    }
                } else if let Some(r) = &from.field_ref {
                    field(src, &r.field_path)?
                } else if let Some(r) = &from.resource_field_ref {
                    resource_field(c, src, r)?
                } else {
                    String::new()
                }
            }
            (Some(v), None) if src.service_env.is_empty() => expand(v, &vars),
            (Some(v), None) => {
                let mut with_services = src.service_env.clone();
                with_services.extend(vars.clone());
                expand(v, &with_services)
            }
            (None, None) => String::new(),
        };
        set(e.name.clone(), value, &mut order, &mut vars);
    }
    // The Services' variables come last, unless the container defines them itself.
    for (k, v) in &src.service_env {
        if !vars.contains_key(k) {
            set(k.clone(), v.clone(), &mut order, &mut vars);
        }
    }
    Ok(order
        .into_iter()
        .map(|k| {
            let v = vars.get(&k).cloned().unwrap_or_default();
            (k, v)
        })
        .collect())
}

#[cfg(test)]
mod service_tests {
    use super::*;

    fn svc(ns: &str, name: &str, ip: &str, ports: serde_json::Value) -> Service {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": ns},
            "spec": {"clusterIP": ip, "ports": ports},
        }))
        .unwrap()
    }

    #[test]
    fn the_kubernetes_service_always_and_the_namespaces_with_links() {
        let services = [
            svc(
                "default",
                "kubernetes",
                "10.43.0.1",
                serde_json::json!([{"name": "https", "port": 443}]),
            ),
            svc(
                "shop",
                "redis-primary",
                "10.43.0.9",
                serde_json::json!([{"port": 6379}, {"name": "metrics", "port": 9121, "protocol": "TCP"}]),
            ),
            svc(
                "shop",
                "headless",
                "None",
                serde_json::json!([{"port": 80}]),
            ),
            svc(
                "other",
                "web",
                "10.43.0.7",
                serde_json::json!([{"port": 80}]),
            ),
        ];
        let env = service_env(&services, "shop", true);
        assert_eq!(env["KUBERNETES_SERVICE_HOST"], "10.43.0.1");
        assert_eq!(env["KUBERNETES_SERVICE_PORT"], "443");
        assert_eq!(env["KUBERNETES_SERVICE_PORT_HTTPS"], "443");
        assert_eq!(env["KUBERNETES_PORT"], "tcp://10.43.0.1:443");
        assert_eq!(env["KUBERNETES_PORT_443_TCP"], "tcp://10.43.0.1:443");
        assert_eq!(env["KUBERNETES_PORT_443_TCP_PROTO"], "tcp");
        assert_eq!(env["KUBERNETES_PORT_443_TCP_PORT"], "443");
        assert_eq!(env["KUBERNETES_PORT_443_TCP_ADDR"], "10.43.0.1");
        assert_eq!(env["REDIS_PRIMARY_SERVICE_PORT"], "6379");
        assert_eq!(env["REDIS_PRIMARY_SERVICE_PORT_METRICS"], "9121");
        assert_eq!(env["REDIS_PRIMARY_PORT_9121_TCP_ADDR"], "10.43.0.9");
        assert!(!env
            .keys()
            .any(|k| k.starts_with("HEADLESS") || k.starts_with("WEB_")));
        assert_eq!(env.len(), 8 + 2 + 1 + 1 + 8);
        // Without links only the API server's.
        let env = service_env(&services, "shop", false);
        assert!(env.keys().all(|k| k.starts_with("KUBERNETES_")), "{env:?}");
    }

    #[test]
    fn service_variables_come_last_expand_and_yield_to_the_containers() {
        let c: Container = serde_json::from_value(serde_json::json!({
            "name": "c",
            "env": [
                {"name": "API", "value": "https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)"},
                {"name": "KUBERNETES_SERVICE_PORT", "value": "8443"},
            ],
        }))
        .unwrap();
        let pod = Pod::default();
        let src = Sources {
            pod: Some(&pod),
            service_env: BTreeMap::from([
                (
                    "KUBERNETES_SERVICE_HOST".to_string(),
                    "10.43.0.1".to_string(),
                ),
                ("KUBERNETES_SERVICE_PORT".to_string(), "443".to_string()),
            ]),
            ..Default::default()
        };
        let env = resolve(&c, &src).unwrap();
        assert_eq!(
            env,
            [
                ("API".to_string(), "https://10.43.0.1:443".to_string()),
                ("KUBERNETES_SERVICE_PORT".to_string(), "8443".to_string()),
                (
                    "KUBERNETES_SERVICE_HOST".to_string(),
                    "10.43.0.1".to_string()
                ),
            ]
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ConfigMapEnvSource, ConfigMapKeySelector, EnvFromSource, EnvVar, EnvVarSource,
        ObjectFieldSelector, PodSpec, ResourceFieldSelector, ResourceRequirements,
        SecretKeySelector,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn var(name: &str, value: &str) -> EnvVar {
        EnvVar {
            name: name.into(),
            value: Some(value.into()),
            ..Default::default()
        }
    }

    fn from(name: &str, source: EnvVarSource) -> EnvVar {
        EnvVar {
            name: name.into(),
            value_from: Some(source),
            ..Default::default()
        }
    }

    fn pod() -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                namespace: Some("ns".into()),
                labels: Some([("app".to_string(), "web".to_string())].into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some("n1".into()),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn sources(p: &Pod) -> Sources<'_> {
        Sources {
            pod: Some(p),
            config_maps: [(
                "cfg".to_string(),
                [
                    ("MODE".to_string(), "fast".to_string()),
                    ("bad key".to_string(), "x".to_string()),
                ]
                .into(),
            )]
            .into(),
            secrets: [(
                "creds".to_string(),
                [("password".to_string(), "s3cr3t".to_string())].into(),
            )]
            .into(),
            pod_ip: "10.42.0.9".into(),
            host_ip: "192.0.2.2".into(),
            node_cpu_millis: 2000,
            node_memory_bytes: 8 << 30,
            service_env: BTreeMap::new(),
        }
    }

    #[test]
    fn env_from_then_env_with_references_and_overrides() {
        let p = pod();
        let c = Container {
            env_from: Some(vec![EnvFromSource {
                config_map_ref: Some(ConfigMapEnvSource {
                    name: "cfg".into(),
                    optional: None,
                }),
                prefix: Some("APP_".into()),
                ..Default::default()
            }]),
            env: Some(vec![
                var("APP_MODE", "slow"),
                from(
                    "PASS",
                    EnvVarSource {
                        secret_key_ref: Some(SecretKeySelector {
                            name: "creds".into(),
                            key: "password".into(),
                            optional: None,
                        }),
                        ..Default::default()
                    },
                ),
                from(
                    "POD",
                    EnvVarSource {
                        field_ref: Some(ObjectFieldSelector {
                            field_path: "metadata.name".into(),
                            api_version: None,
                        }),
                        ..Default::default()
                    },
                ),
                from(
                    "APP",
                    EnvVarSource {
                        field_ref: Some(ObjectFieldSelector {
                            field_path: "metadata.labels['app']".into(),
                            api_version: None,
                        }),
                        ..Default::default()
                    },
                ),
                from(
                    "IP",
                    EnvVarSource {
                        field_ref: Some(ObjectFieldSelector {
                            field_path: "status.podIP".into(),
                            api_version: None,
                        }),
                        ..Default::default()
                    },
                ),
                var("URL", "http://$(IP):80/$(POD)/$$(POD)/$(NOPE)"),
            ]),
            ..Default::default()
        };
        let env = resolve(&c, &sources(&p)).unwrap();
        let m: BTreeMap<_, _> = env.iter().cloned().collect();
        assert_eq!(
            env[0].0, "APP_MODE",
            "envFrom keys first, overridden in place"
        );
        assert_eq!(m["APP_MODE"], "slow");
        assert!(
            !m.contains_key("APP_bad key"),
            "invalid names from envFrom are skipped"
        );
        assert_eq!(m["PASS"], "s3cr3t");
        assert_eq!(m["POD"], "p");
        assert_eq!(m["APP"], "web");
        assert_eq!(m["URL"], "http://10.42.0.9:80/p/$(POD)/$(NOPE)");
    }

    #[test]
    fn missing_sources_are_the_kubelets_errors_unless_optional() {
        let p = pod();
        let key = |name: &str, k: &str, optional: Option<bool>| {
            from(
                "X",
                EnvVarSource {
                    config_map_key_ref: Some(ConfigMapKeySelector {
                        name: name.into(),
                        key: k.into(),
                        optional,
                    }),
                    ..Default::default()
                },
            )
        };
        let with = |e: EnvVar| Container {
            env: Some(vec![e]),
            ..Default::default()
        };
        assert_eq!(
            resolve(&with(key("cfg", "nokey", None)), &sources(&p)),
            Err("couldn't find key nokey in ConfigMap ns/cfg".into())
        );
        assert_eq!(
            resolve(&with(key("absent", "k", None)), &sources(&p)),
            Err("configmap \"absent\" not found".into())
        );
        assert_eq!(
            resolve(&with(key("absent", "k", Some(true))), &sources(&p)),
            Ok(vec![])
        );
    }

    #[test]
    fn resource_fields_round_up_and_default_to_node_allocatable() {
        let p = pod();
        let rf = |name: &str, resource: &str, divisor: Option<&str>| {
            from(
                name,
                EnvVarSource {
                    resource_field_ref: Some(ResourceFieldSelector {
                        resource: resource.into(),
                        divisor: divisor.map(|d| Quantity(d.into())),
                        container_name: None,
                    }),
                    ..Default::default()
                },
            )
        };
        let c = Container {
            resources: Some(ResourceRequirements {
                limits: Some([("memory".to_string(), Quantity("64Mi".into()))].into()),
                ..Default::default()
            }),
            env: Some(vec![
                rf("MEM", "limits.memory", Some("1Mi")),
                rf("CPU", "limits.cpu", None),
                rf("REQ", "requests.cpu", Some("1m")),
            ]),
            ..Default::default()
        };
        let m: BTreeMap<_, _> = resolve(&c, &sources(&p)).unwrap().into_iter().collect();
        assert_eq!(m["MEM"], "64");
        assert_eq!(m["CPU"], "2");
        assert_eq!(m["REQ"], "0");
    }

    #[test]
    fn expansion_follows_upstream() {
        let vars: BTreeMap<String, String> = [("A".to_string(), "1".to_string())].into();
        assert_eq!(expand("$(A)$(A)", &vars), "11");
        assert_eq!(expand("$$(A)", &vars), "$(A)");
        assert_eq!(expand("$(B)", &vars), "$(B)");
        assert_eq!(expand("cost $5 $(A", &vars), "cost $5 $(A");
    }
}
