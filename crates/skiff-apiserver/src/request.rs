//! Parsing a request path and query into what it asks for ([`RequestInfo`]), like upstream's
//! `RequestInfoFactory`.

use std::collections::HashMap;

/// What a resource request addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// Kubernetes verb: get, list, watch, create, update, patch, delete, deletecollection.
    pub verb: String,
    /// API group ("" for core).
    pub group: String,
    /// API version.
    pub version: String,
    /// Namespace from the path ("" if none).
    pub namespace: String,
    /// Plural resource.
    pub resource: String,
    /// Object name ("" if none).
    pub name: String,
    /// Subresource ("" if none).
    pub subresource: String,
}

/// What a path is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/{group}`
    Group(String),
    /// `/api/v1` or `/apis/{group}/{version}`
    ResourceList(String, String),
    /// A resource request.
    Resource(RequestInfo),
    /// Anything else (`/healthz`, `/version`, `/openapi/v3`, ...).
    NonResource,
}

/// Parses `method` + `path` (+ whether the query asks to watch).
pub fn parse(method: &http::Method, path: &str, query: &Query) -> Target {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api"] => return Target::CoreVersions,
        ["apis"] => return Target::Groups,
        ["apis", g] => return Target::Group(g.to_string()),
        ["api", v] => return Target::ResourceList(String::new(), v.to_string()),
        ["apis", g, v] => return Target::ResourceList(g.to_string(), v.to_string()),
        ["api", v, rest @ ..] => (String::new(), v.to_string(), rest),
        ["apis", g, v, rest @ ..] => (g.to_string(), v.to_string(), rest),
        _ => return Target::NonResource,
    };
    let mut rest: Vec<&str> = rest.to_vec();
    let mut watch = query.flag("watch");
    if rest.first() == Some(&"watch") {
        watch = true;
        rest.remove(0);
    }
    let mut info = RequestInfo {
        group,
        version,
        ..Default::default()
    };
    match rest.as_slice() {
        ["namespaces", ns, sub @ ("status" | "finalize")] => {
            info.resource = "namespaces".into();
            info.name = ns.to_string();
            info.subresource = sub.to_string();
        }
        ["namespaces", ns, res, tail @ ..] => {
            info.namespace = ns.to_string();
            info.resource = res.to_string();
            if let Some(n) = tail.first() {
                info.name = n.to_string();
            }
            if tail.len() > 1 {
                info.subresource = tail[1..].join("/");
            }
        }
        [res, tail @ ..] => {
            info.resource = res.to_string();
            if let Some(n) = tail.first() {
                info.name = n.to_string();
                if *res == "namespaces" {
                    info.namespace = n.to_string();
                }
            }
            if tail.len() > 1 {
                info.subresource = tail[1..].join("/");
            }
        }
        [] => return Target::ResourceList(info.group, info.version),
    }
    info.verb = match *method {
        http::Method::GET | http::Method::HEAD if info.name.is_empty() => {
            if watch {
                "watch"
            } else {
                "list"
            }
        }
        http::Method::GET | http::Method::HEAD => {
            if watch {
                "watch"
            } else {
                "get"
            }
        }
        http::Method::POST => "create",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE if info.name.is_empty() => "deletecollection",
        http::Method::DELETE => "delete",
        _ => "",
    }
    .into();
    Target::Resource(info)
}

/// Decoded query parameters (last value wins, like Go's `url.Values.Get` takes the first; both
/// are the same for well-formed requests).
#[derive(Clone, Debug, Default)]
pub struct Query(pub HashMap<String, String>);

impl Query {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Self {
        let mut m = HashMap::new();
        if let Some(q) = raw {
            for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
                m.entry(k.into_owned()).or_insert_with(|| v.into_owned());
            }
        }
        Self(m)
    }
    /// A parameter's value.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }
    /// A parameter's value, or "".
    pub fn str(&self, k: &str) -> &str {
        self.get(k).unwrap_or("")
    }
    /// Boolean parameters (`watch=1`, `watch=true`).
    pub fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("1" | "true" | "True"))
    }
    /// `dryRun=All`.
    pub fn dry_run(&self) -> bool {
        self.get("dryRun") == Some("All")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn info(m: Method, p: &str, q: &str) -> RequestInfo {
        match parse(&m, p, &Query::parse(Some(q))) {
            Target::Resource(i) => i,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn namespaced_paths() {
        let i = info(Method::GET, "/api/v1/namespaces/default/pods/web/log", "");
        assert_eq!(
            (i.verb.as_str(), i.namespace.as_str(), i.resource.as_str()),
            ("get", "default", "pods")
        );
        assert_eq!((i.name.as_str(), i.subresource.as_str()), ("web", "log"));
        let i = info(
            Method::GET,
            "/apis/apps/v1/namespaces/x/deployments",
            "watch=true",
        );
        assert_eq!((i.verb.as_str(), i.group.as_str()), ("watch", "apps"));
    }

    #[test]
    fn namespaces_themselves() {
        let i = info(Method::PUT, "/api/v1/namespaces/x/finalize", "");
        assert_eq!(
            (i.resource.as_str(), i.name.as_str(), i.subresource.as_str()),
            ("namespaces", "x", "finalize")
        );
        let i = info(Method::DELETE, "/api/v1/namespaces/x", "");
        assert_eq!((i.verb.as_str(), i.name.as_str()), ("delete", "x"));
        let i = info(Method::DELETE, "/api/v1/namespaces/x/configmaps", "");
        assert_eq!(i.verb, "deletecollection");
    }

    #[test]
    fn discovery_paths() {
        let q = Query::default();
        assert_eq!(parse(&Method::GET, "/api", &q), Target::CoreVersions);
        assert_eq!(
            parse(&Method::GET, "/apis/apps", &q),
            Target::Group("apps".into())
        );
        assert_eq!(
            parse(&Method::GET, "/apis/apps/v1", &q),
            Target::ResourceList("apps".into(), "v1".into())
        );
        assert_eq!(parse(&Method::GET, "/healthz", &q), Target::NonResource);
    }
}
