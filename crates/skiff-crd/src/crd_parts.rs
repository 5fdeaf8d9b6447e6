//! Validation of the smaller parts of a CRD: subresources, printer columns, conversion (with the
//! webhook client config) and the API-approval annotation of protected groups.

use crate::error::{FieldError, Path};
use crate::names::{dns1035_label, dns1123_subdomain};
use crate::schema as sc;
use serde_json::Value;

const COLUMN_TYPES: &str = "boolean,date,integer,number,string";
const COLUMN_FORMATS: &str = "byte,date,date-time,double,float,int32,int64,password";
const APPROVAL: &str = "api-approved.kubernetes.io";

fn simple_json_path(s: &str, p: &Path) -> Option<FieldError> {
    if s.is_empty() {
        Some(FieldError::invalid(p, s, "must not be empty"))
    } else if !s.starts_with('.') {
        Some(FieldError::invalid(
            p,
            s,
            "must be a simple json path starting with .",
        ))
    } else {
        None
    }
}

/// Upstream's `ValidateCustomResourceDefinitionSubresources` (the scale paths).
pub(crate) fn subresources(subresources: Option<&Value>, p: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(scale) = subresources
        .and_then(|s| sc::get(s, "scale"))
        .filter(|s| !s.is_null())
    else {
        return errs;
    };
    for (field, prefix, detail) in [
        (
            "specReplicasPath",
            ".spec.",
            "should be a json path under .spec",
        ),
        (
            "statusReplicasPath",
            ".status.",
            "should be a json path under .status",
        ),
    ] {
        let fp = p.child(&format!("scale.{field}"));
        let v = sc::str_of(scale, field);
        if v.is_empty() {
            errs.push(FieldError::required(fp, ""));
        } else if let Some(e) = simple_json_path(v, &fp) {
            errs.push(e);
        } else if !v.starts_with(prefix) {
            errs.push(FieldError::invalid(fp, v, detail));
        }
    }
    let selector = sc::str_of(scale, "labelSelectorPath");
    if !selector.is_empty() {
        let fp = p.child("scale.labelSelectorPath");
        if let Some(e) = simple_json_path(selector, &fp) {
            errs.push(e);
        } else if !selector.starts_with(".spec.") && !selector.starts_with(".status.") {
            errs.push(FieldError::invalid(
                fp,
                selector,
                "should be a json path under either .spec or .status",
            ));
        }
    }
    errs
}

/// Upstream's `ValidateCustomResourceColumnDefinition`.
pub(crate) fn columns(col: &Value, p: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if sc::str_of(col, "name").is_empty() {
        errs.push(FieldError::required(p.child("name"), ""));
    }
    let ty = sc::str_of(col, "type");
    let must = format!("must be one of {COLUMN_TYPES}");
    if ty.is_empty() {
        errs.push(FieldError::required(p.child("type"), must));
    } else if !COLUMN_TYPES.split(',').any(|t| t == ty) {
        errs.push(FieldError::invalid(p.child("type"), ty, must));
    }
    let format = sc::str_of(col, "format");
    if !format.is_empty() && !COLUMN_FORMATS.split(',').any(|f| f == format) {
        errs.push(FieldError::invalid(
            p.child("format"),
            format,
            format!("must be one of {COLUMN_FORMATS}"),
        ));
    }
    let path = sc::str_of(col, "jsonPath");
    if path.is_empty() {
        errs.push(FieldError::required(p.child("JSONPath"), ""));
    } else {
        errs.extend(simple_json_path(path, &p.child("JSONPath")));
    }
    errs
}

/// Upstream's `validateCustomResourceConversion` (v1 `webhook.clientConfig` and
/// `webhook.conversionReviewVersions` are reported under their internal names).
pub(crate) fn conversion(conversion: Option<&Value>, p: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(c) = conversion.filter(|c| !c.is_null()) else {
        return errs;
    };
    let strategy = sc::str_of(c, "strategy");
    if strategy.is_empty() {
        errs.push(FieldError::required(p.child("strategy"), ""));
    } else if strategy != "None" && strategy != "Webhook" {
        errs.push(FieldError::not_supported(
            p.child("strategy"),
            strategy,
            &["None", "Webhook"],
        ));
    }
    let webhook = sc::get(c, "webhook").filter(|w| !w.is_null());
    let client = webhook
        .and_then(|w| sc::get(w, "clientConfig"))
        .filter(|c| !c.is_null());
    let review = webhook
        .map(|w| sc::strings(w, "conversionReviewVersions"))
        .unwrap_or_default();
    let cp = p.child("webhookClientConfig");
    if strategy == "Webhook" {
        match client {
            None => errs.push(FieldError::required(
                cp,
                "required when strategy is set to Webhook",
            )),
            Some(cc) => {
                let url = sc::get(cc, "url").and_then(Value::as_str);
                let service = sc::get(cc, "service").filter(|s| !s.is_null());
                match (url, service) {
                    (Some(u), None) => errs.extend(webhook_url(u, &cp.child("url"))),
                    (None, Some(s)) => errs.extend(webhook_service(s, &cp.child("service"))),
                    _ => errs.push(FieldError::required(
                        cp,
                        "exactly one of url or service is required",
                    )),
                }
            }
        }
        errs.extend(review_versions(
            &review,
            &p.child("conversionReviewVersions"),
        ));
    } else {
        let detail = "should not be set when strategy is not set to Webhook";
        if client.is_some() {
            errs.push(FieldError::forbidden(cp, detail));
        }
        if !review.is_empty() {
            errs.push(FieldError::forbidden(
                p.child("conversionReviewVersions"),
                detail,
            ));
        }
    }
    errs
}

fn review_versions(versions: &[&str], p: &Path) -> Vec<FieldError> {
    if versions.is_empty() {
        return vec![FieldError::required(p, "")];
    }
    let mut errs = Vec::new();
    let mut seen = Vec::new();
    for (i, v) in versions.iter().enumerate() {
        if seen.contains(v) {
            errs.push(FieldError::invalid(p.index(i), *v, "duplicate version"));
            continue;
        }
        seen.push(v);
        for e in dns1035_label(v) {
            errs.push(FieldError::invalid(p.index(i), *v, e));
        }
    }
    if !versions.iter().any(|v| *v == "v1" || *v == "v1beta1") {
        let all: Vec<Value> = versions.iter().map(|v| Value::from(*v)).collect();
        errs.push(FieldError::invalid(
            p,
            all,
            "must include at least one of v1, v1beta1",
        ));
    }
    errs
}

/// Upstream's `webhook.ValidateWebhookURL` with https forced.
fn webhook_url(url: &str, p: &Path) -> Vec<FieldError> {
    const FORM: &str = "; desired format: https://host[/path]";
    let mut errs = Vec::new();
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r))
            if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            (s, r)
        }
        _ => ("", ""),
    };
    let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let authority = rest.split('/').next().unwrap_or("");
    let (user, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if !scheme.eq_ignore_ascii_case("https") {
        errs.push(FieldError::invalid(
            p,
            scheme,
            format!("'https' is the only allowed URL scheme{FORM}"),
        ));
    }
    if host.is_empty() {
        errs.push(FieldError::invalid(
            p,
            host,
            format!("host must be specified{FORM}"),
        ));
    }
    if let Some(u) = user {
        errs.push(FieldError::invalid(
            p,
            u,
            "user information is not permitted in the URL",
        ));
    }
    if !fragment.is_empty() {
        errs.push(FieldError::invalid(
            p,
            fragment,
            "fragments are not permitted in the URL",
        ));
    }
    if !query.is_empty() {
        errs.push(FieldError::invalid(
            p,
            query,
            "query parameters are not permitted in the URL",
        ));
    }
    errs
}

/// Upstream's `webhook.ValidateWebhookService`.
fn webhook_service(s: &Value, p: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if sc::str_of(s, "name").is_empty() {
        errs.push(FieldError::required(
            p.child("name"),
            "service name is required",
        ));
    }
    if sc::str_of(s, "namespace").is_empty() {
        errs.push(FieldError::required(
            p.child("namespace"),
            "service namespace is required",
        ));
    }
    let port = sc::get(s, "port").and_then(Value::as_i64).unwrap_or(443);
    if !(1..=65535).contains(&port) {
        let detail = "port is not valid: must be between 1 and 65535, inclusive";
        errs.push(FieldError::invalid(p.child("port"), port, detail));
    }
    let Some(path) = sc::get(s, "path").and_then(Value::as_str) else {
        return errs;
    };
    let pp = p.child("path");
    if path.is_empty() || path == "/" {
        return errs;
    }
    if path == "//" {
        errs.push(FieldError::invalid(pp, path, "segment[0] may not be empty"));
        return errs;
    }
    if !path.starts_with('/') {
        errs.push(FieldError::invalid(
            pp.clone(),
            path,
            "must start with a '/'",
        ));
    }
    let check = path.get(1..).unwrap_or("");
    let check = check.strip_suffix('/').unwrap_or(check);
    for (i, step) in check.split('/').enumerate() {
        if step.is_empty() {
            errs.push(FieldError::invalid(
                pp.clone(),
                path,
                format!("segment[{i}] may not be empty"),
            ));
            continue;
        }
        for failure in dns1123_subdomain(step) {
            errs.push(FieldError::invalid(
                pp.clone(),
                path,
                format!("segment[{i}]: {failure}"),
            ));
        }
    }
    errs
}

/// Upstream's `validateAPIApproval` for a new CRD: groups `k8s.io`, `kubernetes.io` and their
/// subdomains need the `api-approved.kubernetes.io` annotation (a URL, or a reason starting with
/// "unapproved").
pub(crate) fn approval(crd: &Value) -> Vec<FieldError> {
    let group = crd
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or("");
    let protected = ["k8s.io", "kubernetes.io"]
        .iter()
        .any(|g| group == *g || group.ends_with(&format!(".{g}")));
    if !protected {
        return Vec::new();
    }
    let annotation = crd
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(APPROVAL))
        .and_then(Value::as_str)
        .unwrap_or("");
    let field = format!("metadata.annotations[{APPROVAL}]");
    if annotation.is_empty() {
        let detail = format!("protected groups must have approval annotation {APPROVAL:?}, see https://github.com/kubernetes/enhancements/pull/1111");
        return vec![FieldError::required(field, detail)];
    }
    let is_url = annotation.split_once("://").is_some_and(|(scheme, rest)| {
        !scheme.is_empty() && !rest.split(['/', '?', '#']).next().unwrap_or("").is_empty()
    });
    if annotation.starts_with("unapproved") || is_url {
        return Vec::new();
    }
    let detail = format!(
        "protected groups must have approval annotation {APPROVAL:?} with either a URL or a reason starting with \"unapproved\", see https://github.com/kubernetes/enhancements/pull/1111"
    );
    vec![FieldError::invalid(field, annotation, detail)]
}
