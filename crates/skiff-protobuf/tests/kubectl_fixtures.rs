//! Bodies captured from the real kubectl 1.32 (`tests/fixtures/*.pb`), decoded and compared with
//! the JSON kubectl itself prints for the same object (`kubectl create ... --dry-run=client -o
//! json`, `tests/fixtures/*.json`: Go's own JSON encoding), or with JSON written from the request.

use serde_json::{json, Value};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn decoded(name: &str) -> Value {
    skiff_protobuf::decode(&fixture(&format!("{name}.pb")))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every `X.pb` with an `X.json` decodes to exactly that JSON.
#[test]
fn kubectl_bodies_decode_to_kubectls_own_json() {
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
        .collect();
    names.sort();
    assert!(names.len() >= 20, "{names:?}");
    for name in names {
        let expected: Value = serde_json::from_slice(&fixture(&format!("{name}.json"))).unwrap();
        assert_eq!(decoded(&name), expected, "{name}");
    }
}

/// Every captured body re-encodes to bytes that decode to the same JSON.
#[test]
fn kubectl_bodies_round_trip_through_the_encoder() {
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(stem) = name.strip_suffix(".pb") else {
            continue;
        };
        let value = decoded(stem);
        let bytes = skiff_protobuf::encode(&value).unwrap_or_else(|e| panic!("{stem}: {e}"));
        assert_eq!(skiff_protobuf::decode(&bytes).unwrap(), value, "{stem}");
    }
}

#[test]
fn token_request() {
    // kubectl create token sa1 --duration=1h
    assert_eq!(
        decoded("tokenrequest"),
        json!({"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
               "metadata": {"creationTimestamp": null},
               "spec": {"expirationSeconds": 3600},
               "status": {"token": "", "expirationTimestamp": null}})
    );
}

#[test]
fn access_reviews() {
    // kubectl auth can-i get pods
    assert_eq!(
        decoded("selfsubjectaccessreview"),
        json!({"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
               "metadata": {"creationTimestamp": null},
               "spec": {"resourceAttributes": {"namespace": "default", "verb": "get", "resource": "pods"}},
               "status": {"allowed": false}})
    );
    // kubectl auth can-i --list
    assert_eq!(
        decoded("selfsubjectrulesreview"),
        json!({"kind": "SelfSubjectRulesReview", "apiVersion": "authorization.k8s.io/v1",
               "metadata": {"creationTimestamp": null},
               "spec": {"namespace": "default"}, "status": {"incomplete": false}})
    );
    // kubectl auth whoami
    assert_eq!(
        decoded("selfsubjectreview"),
        json!({"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
               "metadata": {"creationTimestamp": null}, "status": {"userInfo": {}}})
    );
}

#[test]
fn autoscale_hpa_v2() {
    // kubectl autoscale deployment webj --min=1 --max=3 --cpu-percent=50
    assert_eq!(
        decoded("hpa_v2"),
        json!({"kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v2",
               "metadata": {"name": "webj", "creationTimestamp": null},
               "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "webj", "apiVersion": "apps/v1"},
                        "minReplicas": 1, "maxReplicas": 3,
                        "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                                     "target": {"type": "Utilization", "averageUtilization": 50}}}]},
               "status": {"desiredReplicas": 0}})
    );
}

#[test]
fn job_from_cronjob_keeps_owner_references_and_defaults() {
    // kubectl create job fromcj --from=cronjob/cj (the cronjob came back defaulted by the server)
    let job = decoded("job_from_cronjob");
    assert_eq!(
        job["metadata"],
        json!({"name": "fromcj", "creationTimestamp": null,
               "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
               "ownerReferences": [{"kind": "CronJob", "name": "cj", "uid": "9a6d3445-ff63-4b4a-a534-311d282ddf46",
                                    "apiVersion": "batch/v1", "controller": true}]})
    );
    assert_eq!(job["spec"]["suspend"], json!(false)); // a *bool set to false stays
    assert_eq!(job["spec"]["backoffLimit"], json!(6));
    assert_eq!(
        job["spec"]["template"]["spec"]["securityContext"],
        json!({})
    );
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
        json!("Always")
    );
}

#[test]
fn certificate_approval_carries_times_and_managed_fields() {
    // kubectl certificate approve csr1: a PUT of the whole object read back from a server
    let csr = decoded("csr_approval");
    assert_eq!(
        csr["metadata"]["creationTimestamp"],
        json!("2026-11-23T16:09:59Z")
    );
    assert_eq!(csr["metadata"]["resourceVersion"], json!("18"));
    let managed = &csr["metadata"]["managedFields"][0];
    assert_eq!(managed["time"], json!("2026-11-23T16:09:59Z"));
    assert_eq!(managed["fieldsV1"]["f:spec"]["f:usages"], json!({}));
    assert!(csr["spec"]["request"]
        .as_str()
        .unwrap()
        .starts_with("LS0tLS1CRUdJTi"));
    assert_eq!(csr["spec"]["usages"], json!(["client auth"]));
    assert_eq!(
        csr["status"]["conditions"],
        json!([{"type": "Approved", "reason": "KubectlApprove",
                "message": "This CSR was approved by kubectl certificate approve.",
                "lastUpdateTime": "2026-11-23T16:09:59Z", "lastTransitionTime": null, "status": "True"}])
    );
}
