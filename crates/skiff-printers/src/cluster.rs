//! Cluster plumbing: leases, priority classes, runtime classes, certificate signing requests,
//! admission webhooks and policies, and API priority and fairness objects.

use crate::age::{self, human_duration_secs};
use crate::column::{age_col, c, name_col, w, Column};
use crate::util::{arr, b, i, name, opt_i, opt_s, s};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// Lease columns.
pub fn lease_columns() -> Vec<Column> {
    vec![
        name_col(),
        c(
            "Holder",
            "string",
            "holderIdentity contains the identity of the holder of a current lease.",
        ),
        age_col(),
    ]
}

/// Lease cells.
pub fn lease_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(o)),
        json!(s(o, "/spec/holderIdentity")),
        json!(age::age(o, now)),
    ]
}

/// PriorityClass columns.
pub fn priorityclass_columns() -> Vec<Column> {
    vec![
        name_col(),
        c("Value", "integer", "value represents the integer value of this priority class."),
        c("Global-Default", "boolean", "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class."),
        age_col(),
        w("PreemptionPolicy", "string", "preemptionPolicy is the Policy for preempting pods with lower priority."),
    ]
}

/// PriorityClass cells.
pub fn priorityclass_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(o)),
        json!(i(o, "/value")),
        json!(b(o, "/globalDefault")),
        json!(age::age(o, now)),
        json!(s(o, "/preemptionPolicy")),
    ]
}

/// RuntimeClass columns.
pub fn runtimeclass_columns() -> Vec<Column> {
    vec![name_col(), c("Handler", "string", "handler specifies the underlying runtime and configuration that the CRI implementation will use."), age_col()]
}

/// RuntimeClass cells.
pub fn runtimeclass_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(o)),
        json!(s(o, "/handler")),
        json!(age::age(o, now)),
    ]
}

/// CertificateSigningRequest columns.
pub fn csr_columns() -> Vec<Column> {
    vec![
        name_col(),
        age_col(),
        c(
            "SignerName",
            "string",
            "signerName indicates the requested signer, and is a qualified name.",
        ),
        c(
            "Requestor",
            "string",
            "username contains the name of the user that created the CertificateSigningRequest.",
        ),
        c(
            "RequestedDuration",
            "string",
            "expirationSeconds is the requested duration of validity of the issued certificate.",
        ),
        c("Condition", "string", "conditions applied to the request."),
    ]
}

/// CertificateSigningRequest cells.
pub fn csr_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let has = |t: &str| {
        arr(o, "/status/conditions")
            .iter()
            .any(|c| s(c, "/type") == t)
    };
    let mut status = if has("Denied") {
        "Denied".to_string()
    } else if has("Approved") {
        "Approved".to_string()
    } else {
        "Pending".to_string()
    };
    if has("Failed") {
        status.push_str(",Failed");
    }
    if !s(o, "/status/certificate").is_empty() {
        status.push_str(",Issued");
    }
    let signer = match s(o, "/spec/signerName") {
        "" => "<none>",
        x => x,
    };
    let duration =
        opt_i(o, "/spec/expirationSeconds").map_or_else(|| "<none>".into(), human_duration_secs);
    vec![
        json!(name(o)),
        json!(age::age(o, now)),
        json!(signer),
        json!(s(o, "/spec/username")),
        json!(duration),
        json!(status),
    ]
}

/// Mutating and validating webhook configuration columns.
pub fn webhook_columns() -> Vec<Column> {
    vec![
        name_col(),
        c(
            "Webhooks",
            "integer",
            "Webhooks indicates the number of webhooks registered in this configuration",
        ),
        age_col(),
    ]
}

/// Webhook configuration cells.
pub fn webhook_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(o)),
        json!(arr(o, "/webhooks").len()),
        json!(age::age(o, now)),
    ]
}

/// ValidatingAdmissionPolicy columns.
pub fn vap_columns() -> Vec<Column> {
    vec![
        name_col(),
        c(
            "Validations",
            "integer",
            "Validations indicates the number of validation rules defined in this configuration",
        ),
        c(
            "ParamKind",
            "string",
            "ParamKind specifies the kind of resources used to parameterize this policy",
        ),
        age_col(),
    ]
}

/// ValidatingAdmissionPolicy cells.
pub fn vap_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let param = match o.pointer("/spec/paramKind") {
        Some(p) if p.is_object() => format!("{}/{}", s(p, "/apiVersion"), s(p, "/kind")),
        _ => "<unset>".into(),
    };
    vec![
        json!(name(o)),
        json!(arr(o, "/spec/validations").len()),
        json!(param),
        json!(age::age(o, now)),
    ]
}

/// ValidatingAdmissionPolicyBinding columns.
pub fn vapb_columns() -> Vec<Column> {
    vec![
        name_col(),
        c(
            "PolicyName",
            "string",
            "PolicyName indicates the policy definition which the policy binding binded to",
        ),
        c(
            "ParamRef",
            "string",
            "ParamRef indicates the param resource which sets the configration param",
        ),
        age_col(),
    ]
}

/// ValidatingAdmissionPolicyBinding cells.
pub fn vapb_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let param = match o.pointer("/spec/paramRef") {
        Some(p) if p.is_object() => match s(p, "/namespace") {
            "" => s(p, "/name").to_string(),
            ns => format!("{ns}/{}", s(p, "/name")),
        },
        _ => "<unset>".into(),
    };
    vec![
        json!(name(o)),
        json!(s(o, "/spec/policyName")),
        json!(param),
        json!(age::age(o, now)),
    ]
}

/// FlowSchema columns.
pub fn flowschema_columns() -> Vec<Column> {
    vec![
        name_col(),
        c("PriorityLevel", "string", "`name` is the name of the priority level configuration being referenced"),
        c("MatchingPrecedence", "string", "`matchingPrecedence` is used to choose among the FlowSchemas that match a given request."),
        c("DistinguisherMethod", "string", "`distinguisherMethod` defines how to compute the flow distinguisher for requests that match this schema."),
        age_col(),
        c("MissingPL", "string", "references a broken or non-existent PriorityLevelConfiguration"),
    ]
}

/// FlowSchema cells.
pub fn flowschema_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let missing = arr(o, "/status/conditions")
        .iter()
        .find(|c| s(c, "/type") == "Dangling")
        .map_or("?", |c| s(c, "/status"));
    vec![
        json!(name(o)),
        json!(s(o, "/spec/priorityLevelConfiguration/name")),
        json!(i(o, "/spec/matchingPrecedence")),
        json!(opt_s(o, "/spec/distinguisherMethod/type").unwrap_or("<none>")),
        json!(age::age(o, now)),
        json!(missing),
    ]
}

/// PriorityLevelConfiguration columns.
pub fn prioritylevel_columns() -> Vec<Column> {
    vec![
        name_col(),
        c("Type", "string", "`type` indicates whether this priority level is subject to limitation on request execution."),
        c("NominalConcurrencyShares", "string", "`nominalConcurrencyShares` (NCS) contributes to the computation of the NominalConcurrencyLimit (NominalCL) of this level."),
        c("Queues", "string", "`queues` is the number of queues for this priority level."),
        c("HandSize", "string", "`handSize` is a small positive number that configures the shuffle sharding of requests into queues."),
        c("QueueLengthLimit", "string", "`queueLengthLimit` is the maximum number of requests allowed to be waiting in a given queue of this priority level at a time."),
        age_col(),
    ]
}

/// PriorityLevelConfiguration cells.
pub fn prioritylevel_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let none = || json!("<none>");
    let (mut ncs, mut queues, mut hand, mut qll) = (none(), none(), none(), none());
    if o.pointer("/spec/limited").is_some_and(Value::is_object) {
        ncs = json!(i(o, "/spec/limited/nominalConcurrencyShares"));
        if o.pointer("/spec/limited/limitResponse/queuing")
            .is_some_and(Value::is_object)
        {
            queues = json!(i(o, "/spec/limited/limitResponse/queuing/queues"));
            hand = json!(i(o, "/spec/limited/limitResponse/queuing/handSize"));
            qll = json!(i(o, "/spec/limited/limitResponse/queuing/queueLengthLimit"));
        }
    }
    vec![
        json!(name(o)),
        json!(s(o, "/spec/type")),
        ncs,
        queues,
        hand,
        qll,
        json!(age::age(o, now)),
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

    fn meta(n: &str) -> Value {
        json!({ "name": n, "creationTimestamp": "2024-05-01T11:59:55Z" })
    }

    #[test]
    fn lease_priority_runtime_rows() {
        let l =
            json!({ "metadata": meta("kube-scheduler"), "spec": { "holderIdentity": "n1_abc" } });
        assert_eq!(
            lease_cells(&l, now()),
            vec![json!("kube-scheduler"), json!("n1_abc"), json!("5s")]
        );
        let pc = json!({ "metadata": meta("high"), "value": 1000, "preemptionPolicy": "Never" });
        assert_eq!(
            priorityclass_cells(&pc, now()),
            vec![
                json!("high"),
                json!(1000),
                json!(false),
                json!("5s"),
                json!("Never")
            ]
        );
        let rc = json!({ "metadata": meta("gvisor"), "handler": "runsc" });
        assert_eq!(
            runtimeclass_cells(&rc, now()),
            vec![json!("gvisor"), json!("runsc"), json!("5s")]
        );
    }

    #[test]
    fn csr_row() {
        let csr = json!({
            "metadata": meta("req"),
            "spec": { "signerName": "kubernetes.io/kube-apiserver-client", "username": "alice", "expirationSeconds": 86400 },
            "status": { "conditions": [{ "type": "Approved" }], "certificate": "LS0t" },
        });
        assert_eq!(
            csr_cells(&csr, now()),
            vec![
                json!("req"),
                json!("5s"),
                json!("kubernetes.io/kube-apiserver-client"),
                json!("alice"),
                json!("24h"),
                json!("Approved,Issued")
            ]
        );
        assert_eq!(
            csr_cells(&json!({}), now())[2..],
            [
                json!("<none>"),
                json!(""),
                json!("<none>"),
                json!("Pending")
            ]
        );
    }

    #[test]
    fn admission_and_apf_rows() {
        let wh = json!({ "metadata": meta("hooks"), "webhooks": [{}, {}] });
        assert_eq!(
            webhook_cells(&wh, now()),
            vec![json!("hooks"), json!(2), json!("5s")]
        );
        let vap = json!({ "metadata": meta("p"), "spec": { "validations": [{}], "paramKind": { "apiVersion": "v1", "kind": "ConfigMap" } } });
        assert_eq!(
            vap_cells(&vap, now()),
            vec![json!("p"), json!(1), json!("v1/ConfigMap"), json!("5s")]
        );
        let vapb = json!({ "metadata": meta("b"), "spec": { "policyName": "p", "paramRef": { "name": "cfg", "namespace": "ns" } } });
        assert_eq!(
            vapb_cells(&vapb, now()),
            vec![json!("b"), json!("p"), json!("ns/cfg"), json!("5s")]
        );
        let fs = json!({ "metadata": meta("exempt"), "spec": { "priorityLevelConfiguration": { "name": "exempt" }, "matchingPrecedence": 1 } });
        assert_eq!(
            flowschema_cells(&fs, now()),
            vec![
                json!("exempt"),
                json!("exempt"),
                json!(1),
                json!("<none>"),
                json!("5s"),
                json!("?")
            ]
        );
        let pl = json!({ "metadata": meta("global"), "spec": { "type": "Limited", "limited": { "nominalConcurrencyShares": 20, "limitResponse": { "type": "Queue", "queuing": { "queues": 128, "handSize": 6, "queueLengthLimit": 50 } } } } });
        assert_eq!(
            prioritylevel_cells(&pl, now()),
            vec![
                json!("global"),
                json!("Limited"),
                json!(20),
                json!(128),
                json!(6),
                json!(50),
                json!("5s")
            ]
        );
    }
}
