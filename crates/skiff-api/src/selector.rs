//! Label selectors (equality- and set-based) and field selectors, parsed from the query strings
//! clients send, and matched against objects.

use serde_json::Value;
use std::collections::BTreeMap;

/// One requirement of a label selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// `key=value` / `key==value`
    Eq(String, String),
    /// `key!=value`
    NotEq(String, String),
    /// `key in (a,b)`
    In(String, Vec<String>),
    /// `key notin (a,b)`
    NotIn(String, Vec<String>),
    /// `key`
    Exists(String),
    /// `!key`
    NotExists(String),
}

/// A parsed label selector: all requirements must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector(pub Vec<Requirement>);

fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn check_key(k: &str) -> Result<String, String> {
    let k = k.trim();
    let errs = crate::names::qualified_name(k);
    if errs.is_empty() {
        Ok(k.to_string())
    } else {
        Err(format!(
            "unable to parse requirement: invalid label key {k:?}: {}",
            errs.join("; ")
        ))
    }
}

fn check_value(v: &str) -> Result<String, String> {
    let v = v.trim();
    let errs = crate::names::label_value(v);
    if errs.is_empty() {
        Ok(v.to_string())
    } else {
        Err(format!(
            "unable to parse requirement: invalid label value: {v:?}: {}",
            errs.join("; ")
        ))
    }
}

fn parse_set(rest: &str) -> Result<Vec<String>, String> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("found '{rest}', expected: '('"))?;
    inner
        .split(',')
        .map(check_value)
        .collect::<Result<Vec<_>, _>>()
}

impl LabelSelector {
    /// Parses upstream's selector syntax: `a=b,c!=d,e in (x,y),f notin (z),g,!h`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(Self(reqs));
        }
        for part in split_top_level(s) {
            let part = part.trim();
            if part.is_empty() {
                return Err("found '', expected: !, identifier, or 'end of string'".into());
            }
            if let Some(k) = part.strip_prefix('!') {
                reqs.push(Requirement::NotExists(check_key(k)?));
            } else if let Some((k, v)) = part.split_once("!=") {
                reqs.push(Requirement::NotEq(check_key(k)?, check_value(v)?));
            } else if let Some((k, v)) = part.split_once("==") {
                reqs.push(Requirement::Eq(check_key(k)?, check_value(v)?));
            } else if let Some((k, v)) = part.split_once('=') {
                reqs.push(Requirement::Eq(check_key(k)?, check_value(v)?));
            } else if let Some(idx) = part.find(" notin ") {
                let (k, rest) = part.split_at(idx);
                reqs.push(Requirement::NotIn(check_key(k)?, parse_set(&rest[7..])?));
            } else if let Some(idx) = part.find(" in ") {
                let (k, rest) = part.split_at(idx);
                reqs.push(Requirement::In(check_key(k)?, parse_set(&rest[4..])?));
            } else {
                reqs.push(Requirement::Exists(check_key(part)?));
            }
        }
        Ok(Self(reqs))
    }

    /// Builds a selector from a meta/v1 `LabelSelector` object (`matchLabels`, `matchExpressions`).
    pub fn from_object(sel: &Value) -> Result<Self, String> {
        let mut reqs = Vec::new();
        if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in m {
                reqs.push(Requirement::Eq(
                    k.clone(),
                    v.as_str().unwrap_or_default().to_string(),
                ));
            }
        }
        if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e["key"].as_str().unwrap_or_default().to_string();
                let values: Vec<String> = e["values"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                reqs.push(match e["operator"].as_str().unwrap_or_default() {
                    "In" => Requirement::In(key, values),
                    "NotIn" => Requirement::NotIn(key, values),
                    "Exists" => Requirement::Exists(key),
                    "DoesNotExist" => Requirement::NotExists(key),
                    op => return Err(format!("{op:?} is not a valid label selector operator")),
                });
            }
        }
        Ok(Self(reqs))
    }

    /// True when the selector has no requirements (matches everything).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `labels` (a JSON object of strings, or null) satisfies every requirement.
    pub fn matches(&self, labels: &Value) -> bool {
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Requirement::Eq(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEq(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
        })
    }
}

/// A parsed field selector: `field=value` / `field==value` / `field!=value` terms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector(pub Vec<(String, bool, String)>);

impl FieldSelector {
    /// Parses `a=b,c!=d`. Escapes (`\,` `\=`) are honoured like upstream.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        if s.trim().is_empty() {
            return Ok(Self(terms));
        }
        for part in split_escaped(s, ',') {
            let (field, eq, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, true, v)
            } else {
                return Err(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                ));
            };
            terms.push((field.trim().to_string(), eq, unescape(value)));
        }
        Ok(Self(terms))
    }

    /// Checks every field is one the resource supports; upstream answers 400 otherwise.
    pub fn check_supported(&self, supported: &[&str]) -> Result<(), String> {
        for (f, _, _) in &self.0 {
            if !supported.contains(&f.as_str()) {
                return Err(format!("field label not supported: {f}"));
            }
        }
        Ok(())
    }

    /// Whether the object's field values (from [`field_values`]) satisfy every term.
    pub fn matches(&self, fields: &BTreeMap<&'static str, String>) -> bool {
        self.0.iter().all(|(f, eq, v)| {
            let actual = fields.get(f.as_str()).map(String::as_str).unwrap_or("");
            (actual == v) == *eq
        })
    }

    /// The value required for `field` by an `=` term, if any (lets callers narrow a scan).
    pub fn exact(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, eq, _)| f == field && *eq)
            .map(|(_, _, v)| v.as_str())
    }
}

fn split_escaped(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            out.last_mut().expect("non-empty").push('\\');
            out.last_mut().expect("non-empty").push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            out.push(String::new());
        } else {
            out.last_mut().expect("non-empty").push(c);
        }
    }
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else {
            out.push(c);
        }
    }
    out
}

/// The field-selector fields a resource supports beyond metadata.name and metadata.namespace.
pub fn supported_fields(group: &str, plural: &str) -> &'static [&'static str] {
    match (group, plural) {
        ("", "pods") => &[
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        ],
        ("", "secrets") => &["metadata.name", "metadata.namespace", "type"],
        ("", "events") => &[
            "metadata.name",
            "metadata.namespace",
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("", "nodes") => &["metadata.name", "spec.unschedulable"],
        ("", "namespaces") => &["metadata.name", "status.phase"],
        ("", "replicationcontrollers") => {
            &["metadata.name", "metadata.namespace", "status.replicas"]
        }
        ("apps", "replicasets") => &["metadata.name", "metadata.namespace", "status.replicas"],
        ("batch", "jobs") => &["metadata.name", "metadata.namespace", "status.successful"],
        ("certificates.k8s.io", "certificatesigningrequests") => {
            &["metadata.name", "spec.signerName"]
        }
        _ => &["metadata.name", "metadata.namespace"],
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Extracts the values of `fields` from an object, for [`FieldSelector::matches`].
pub fn field_values(obj: &Value, fields: &[&'static str]) -> BTreeMap<&'static str, String> {
    fields
        .iter()
        .map(|f| {
            let v = match *f {
                "source" => obj
                    .pointer("/source/component")
                    .or_else(|| obj.get("reportingComponent"))
                    .map(text)
                    .unwrap_or_default(),
                "status.podIPs" => obj
                    .pointer("/status/podIPs/0/ip")
                    .map(text)
                    .unwrap_or_default(),
                "spec.unschedulable" | "spec.hostNetwork" => {
                    let p = format!("/{}", f.replace('.', "/"));
                    obj.pointer(&p).map(text).unwrap_or_else(|| "false".into())
                }
                "status.successful" | "status.replicas" => {
                    let p = format!("/{}", f.replace('.', "/"));
                    obj.pointer(&p).map(text).unwrap_or_else(|| "0".into())
                }
                _ => {
                    let p = format!("/{}", f.replace('.', "/"));
                    obj.pointer(&p).map(text).unwrap_or_default()
                }
            };
            (*f, v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equality_and_set_based_selectors_match_like_upstream() {
        let labels = json!({"app": "web", "tier": "front"});
        let m = |s: &str| LabelSelector::parse(s).unwrap().matches(&labels);
        assert!(m("app=web"));
        assert!(m("app==web,tier"));
        assert!(!m("app!=web"));
        assert!(m("tier in (front, back)"));
        assert!(!m("tier notin (front)"));
        assert!(m("!missing"));
        assert!(!m("missing"));
        assert!(m("missing notin (x)"));
        assert!(m(""));
    }

    #[test]
    fn bad_selectors_are_errors() {
        assert!(LabelSelector::parse("a=b c").is_err());
        assert!(LabelSelector::parse("a in x").is_err());
        assert!(LabelSelector::parse(",").is_err());
    }

    #[test]
    fn selector_objects_convert() {
        let sel = json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}]});
        let s = LabelSelector::from_object(&sel).unwrap();
        assert!(s.matches(&json!({"app": "web", "tier": "a"})));
        assert!(!s.matches(&json!({"app": "web"})));
    }

    #[test]
    fn field_selectors_on_pods() {
        let pod = json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        let fields = supported_fields("", "pods");
        let vals = field_values(&pod, fields);
        let fs = FieldSelector::parse("spec.nodeName=n1,status.phase!=Pending").unwrap();
        assert!(fs.check_supported(fields).is_ok());
        assert!(fs.matches(&vals));
        let fs = FieldSelector::parse("spec.nodeName=").unwrap();
        assert!(!fs.matches(&vals));
        assert!(FieldSelector::parse("foo=bar")
            .unwrap()
            .check_supported(fields)
            .is_err());
    }
}
