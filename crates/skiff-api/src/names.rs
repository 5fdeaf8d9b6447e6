//! Validation of object names, label keys and values, and annotations, with upstream's messages.

use crate::error::FieldError;
use serde_json::Value;

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

/// Which rule a kind's names follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// DNS-1123 subdomain (most kinds).
    Subdomain,
    /// DNS-1123 label (namespaces).
    Label,
    /// DNS-1035 label (services).
    Dns1035,
    /// Any path segment (RBAC objects).
    PathSegment,
}

/// The name rule upstream applies to a resource.
pub fn rule_for(group: &str, plural: &str) -> NameRule {
    match (group, plural) {
        ("", "namespaces") => NameRule::Label,
        ("", "services") => NameRule::Dns1035,
        ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
        _ => NameRule::Subdomain,
    }
}

fn is_alnum_lower(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// True if `s` is a DNS-1123 label (without the length check).
fn label_chars(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && is_alnum_lower(b[0])
        && is_alnum_lower(b[b.len() - 1])
        && b.iter().all(|&c| is_alnum_lower(c) || c == b'-')
}

/// Errors (messages only) for a DNS-1123 subdomain.
pub fn dns1123_subdomain(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push("must be no more than 253 characters".to_string());
    }
    if !s.split('.').all(label_chars) {
        errs.push(SUBDOMAIN_MSG.to_string());
    }
    errs
}

/// Errors for a DNS-1123 label.
pub fn dns1123_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    if !label_chars(s) {
        errs.push(LABEL_MSG.to_string());
    }
    errs
}

/// Errors for a DNS-1035 label.
pub fn dns1035_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    if !(label_chars(s) && s.as_bytes()[0].is_ascii_lowercase()) {
        errs.push(DNS1035_MSG.to_string());
    }
    errs
}

fn path_segment(s: &str) -> Vec<String> {
    if s == "." || s == ".." {
        return vec![format!("may not be '{s}'")];
    }
    let mut errs = Vec::new();
    for bad in ["/", "%"] {
        if s.contains(bad) {
            errs.push(format!("may not contain '{bad}'"));
        }
    }
    errs
}

/// Validates `metadata.name` (or a generateName prefix when `prefix` is true).
pub fn validate_name(rule: NameRule, name: &str, prefix: bool) -> Vec<String> {
    // A generateName prefix may end in '-' or '.'; upstream strips it before checking.
    let s = if prefix {
        name.trim_end_matches(['-', '.'])
    } else {
        name
    };
    if prefix && s.is_empty() {
        return vec![];
    }
    match rule {
        NameRule::Subdomain => dns1123_subdomain(s),
        NameRule::Label => dns1123_label(s),
        NameRule::Dns1035 => dns1035_label(s),
        NameRule::PathSegment => path_segment(s),
    }
}

fn name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Errors for a qualified name (a label key or annotation key): `[prefix/]name`.
pub fn qualified_name(key: &str) -> Vec<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let mut errs = Vec::new();
    if let Some(p) = prefix {
        if p.is_empty() {
            errs.push("prefix part must be non-empty".to_string());
        } else {
            errs.extend(
                dns1123_subdomain(p)
                    .into_iter()
                    .map(|e| format!("prefix part {e}")),
            );
        }
    }
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else {
        if name.len() > 63 {
            errs.push("name part must be no more than 63 characters".to_string());
        }
        if !name_part(name) {
            errs.push(NAME_PART_MSG.to_string());
        }
    }
    errs
}

/// Errors for a label value.
pub fn label_value(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if v.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    if !v.is_empty() && !name_part(v) {
        errs.push(LABEL_VALUE_MSG.to_string());
    }
    errs
}

/// Validates labels (`path` is e.g. `metadata.labels`).
pub fn validate_labels(labels: &Value, path: &str) -> Vec<FieldError> {
    let mut out = Vec::new();
    if let Some(map) = labels.as_object() {
        for (k, v) in map {
            for e in qualified_name(k) {
                out.push(FieldError::invalid(path, k.as_str(), e));
            }
            match v.as_str() {
                Some(s) => {
                    for e in label_value(s) {
                        out.push(FieldError::invalid(format!("{path}[{k}]"), s, e));
                    }
                }
                None => out.push(FieldError::invalid(
                    format!("{path}[{k}]"),
                    v.clone(),
                    "must be a string",
                )),
            }
        }
    }
    out
}

/// Total size limit of all annotations (upstream: 256 KiB).
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Validates annotations: qualified keys and total size.
pub fn validate_annotations(annotations: &Value, path: &str) -> Vec<FieldError> {
    let mut out = Vec::new();
    let mut total = 0;
    if let Some(map) = annotations.as_object() {
        for (k, v) in map {
            for e in qualified_name(&k.to_ascii_lowercase()) {
                out.push(FieldError::invalid(path, k.as_str(), e));
            }
            total += k.len() + v.as_str().map_or(0, str::len);
        }
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        out.push(FieldError {
            field: path.into(),
            kind: crate::error::FieldErrorKind::TooLong(TOTAL_ANNOTATION_SIZE_LIMIT),
            detail: String::new(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains() {
        assert!(dns1123_subdomain("web-1.example").is_empty());
        assert_eq!(dns1123_subdomain("Web").len(), 1);
        assert_eq!(dns1123_subdomain("a_b").len(), 1);
        assert_eq!(dns1123_subdomain(".a").len(), 1);
        assert_eq!(dns1123_subdomain(&"a".repeat(254)).len(), 1);
    }

    #[test]
    fn services_need_dns1035() {
        assert!(validate_name(NameRule::Dns1035, "web", false).is_empty());
        assert_eq!(validate_name(NameRule::Dns1035, "1web", false).len(), 1);
        assert!(validate_name(NameRule::Subdomain, "1web", false).is_empty());
    }

    #[test]
    fn generate_name_prefix_may_end_with_dash() {
        assert!(validate_name(NameRule::Subdomain, "web-", true).is_empty());
        assert!(!validate_name(NameRule::Subdomain, "web-", false).is_empty());
    }

    #[test]
    fn label_keys_and_values() {
        assert!(qualified_name("app.kubernetes.io/name").is_empty());
        assert!(!qualified_name("-bad").is_empty());
        assert!(!qualified_name("/x").is_empty());
        assert!(label_value("").is_empty());
        assert!(label_value("My_Value.1").is_empty());
        assert!(!label_value("a b").is_empty());
        let errs = validate_labels(
            &serde_json::json!({"ok": "v", "bad key": "v"}),
            "metadata.labels",
        );
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "metadata.labels");
    }
}
