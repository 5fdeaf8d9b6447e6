use super::*;
use serde_json::json;

fn pod(volumes: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "ns", "uid": "u1",
                     "labels": {"app": "web", "tier": "a\"b"}},
        "spec": {
            "containers": [{"name": "c", "resources": {"limits": {"memory": "64Mi"}}}],
            "volumes": volumes,
        }
    }))
    .unwrap()
}

fn objects() -> Objects {
    let mut o = Objects::default();
    o.config_maps.insert(
        "cfg".into(),
        BTreeMap::from([
            ("a.conf".to_string(), b"A".to_vec()),
            ("b.conf".to_string(), b"B".to_vec()),
        ]),
    );
    o.secrets.insert(
        "sec".into(),
        BTreeMap::from([("password".to_string(), b"s3cr3t".to_vec())]),
    );
    o.tokens.insert(
        TokenKey {
            audience: String::new(),
            expiration_seconds: 3607,
        },
        "eyJ.api.sig".into(),
    );
    o
}

fn plan_of(p: &Pod) -> Result<Plan, String> {
    let v = &p.spec.as_ref().unwrap().volumes.as_ref().unwrap()[0];
    let src = Sources {
        pod: Some(p),
        ..Default::default()
    };
    plan(v, p, &objects(), &src)
}

fn files(p: Result<Plan, String>) -> Vec<(String, String, u32)> {
    match p.unwrap() {
        Plan::Files(f) => f
            .into_iter()
            .map(|f| (f.path, String::from_utf8(f.data).unwrap(), f.mode))
            .collect(),
        other => panic!("not files: {other:?}"),
    }
}

#[test]
fn config_maps_and_secrets_become_files_with_items_and_modes() {
    let all = pod(json!([{"name": "v", "configMap": {"name": "cfg"}}]));
    assert_eq!(
        files(plan_of(&all)),
        vec![
            ("a.conf".into(), "A".into(), 0o644),
            ("b.conf".into(), "B".into(), 0o644)
        ]
    );
    let items = pod(
        json!([{"name": "v", "configMap": {"name": "cfg", "defaultMode": 0o600,
        "items": [{"key": "b.conf", "path": "sub/b"}, {"key": "a.conf", "path": "a", "mode": 0o400}]}}]),
    );
    assert_eq!(
        files(plan_of(&items)),
        vec![
            ("sub/b".into(), "B".into(), 0o600),
            ("a".into(), "A".into(), 0o400)
        ]
    );
    let secret = pod(json!([{"name": "v", "secret": {"secretName": "sec"}}]));
    assert_eq!(
        files(plan_of(&secret)),
        vec![("password".into(), "s3cr3t".into(), 0o644)]
    );
}

#[test]
fn missing_sources_fail_unless_optional() {
    let missing = pod(json!([{"name": "v", "configMap": {"name": "nope"}}]));
    assert_eq!(
        plan_of(&missing).unwrap_err(),
        "configmap \"nope\" not found"
    );
    let optional = pod(json!([{"name": "v", "secret": {"secretName": "nope", "optional": true}}]));
    assert!(files(plan_of(&optional)).is_empty());
    let bad_key = pod(
        json!([{"name": "v", "configMap": {"name": "cfg", "items": [{"key": "zz", "path": "z"}]}}]),
    );
    assert_eq!(
        plan_of(&bad_key).unwrap_err(),
        "configmap references non-existent config key: zz"
    );
    let bad_secret_key = pod(
        json!([{"name": "v", "secret": {"secretName": "sec", "items": [{"key": "zz", "path": "z"}]}}]),
    );
    assert_eq!(
        plan_of(&bad_secret_key).unwrap_err(),
        "references non-existent secret key: zz"
    );
}

#[test]
fn downward_api_and_projections_render_the_pod() {
    let d = pod(json!([{"name": "v", "downwardAPI": {"items": [
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}},
    ]}}]));
    assert_eq!(
        files(plan_of(&d)),
        vec![
            ("name".into(), "p".into(), 0o644),
            (
                "labels".into(),
                "app=\"web\"\ntier=\"a\\\"b\"".into(),
                0o644
            ),
            ("mem".into(), "64".into(), 0o644),
        ]
    );
    let projected = pod(json!([{"name": "v", "projected": {"sources": [
        {"configMap": {"name": "cfg", "items": [{"key": "a.conf", "path": "a"}]}},
        {"secret": {"name": "sec"}},
        {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
    ]}}]));
    assert_eq!(
        files(plan_of(&projected)),
        vec![
            ("a".into(), "A".into(), 0o644),
            ("password".into(), "s3cr3t".into(), 0o644),
            ("ns".into(), "ns".into(), 0o644),
        ]
    );
    assert_eq!(
        references(&projected),
        (vec!["cfg".to_string()], vec!["sec".to_string()])
    );
}

#[test]
fn service_account_tokens_are_projected_and_a_missing_one_fails_the_mount() {
    let access = pod(
        json!([{"name": "kube-api-access-x", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "cfg", "items": [{"key": "a.conf", "path": "ca.crt"}]}},
        ]}}]),
    );
    assert_eq!(
        files(plan_of(&access)),
        vec![
            ("token".into(), "eyJ.api.sig".into(), 0o644),
            ("ca.crt".into(), "A".into(), 0o644),
        ]
    );
    let vault = pod(json!([{"name": "v", "projected": {"sources": [
        {"serviceAccountToken": {"audience": "vault", "path": "vault-token"}},
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
    ]}}]));
    assert_eq!(
        token_requests(&vault),
        vec![
            TokenKey {
                audience: String::new(),
                expiration_seconds: 3607
            },
            TokenKey {
                audience: "vault".into(),
                expiration_seconds: 3600
            },
        ]
    );
    assert_eq!(
        plan_of(&vault).unwrap_err(),
        "failed to fetch token: no token for service account \"default\" yet"
    );
}

#[test]
fn empty_dirs_host_paths_and_claims() {
    let e = pod(json!([{"name": "v", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}]));
    assert_eq!(
        plan_of(&e).unwrap(),
        Plan::EmptyDir {
            memory: true,
            size_limit: Some(64 << 20)
        }
    );
    let c = pod(json!([{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}]));
    assert_eq!(
        plan_of(&c).unwrap(),
        Plan::Claim {
            name: "data".into(),
            read_only: false
        }
    );
    assert_eq!(
        host_path_check("/x", "DirectoryOrCreate", Found::Nothing),
        Ok(HostPathAction::CreateDirectory)
    );
    assert_eq!(
        host_path_check("/x", "FileOrCreate", Found::Nothing),
        Ok(HostPathAction::CreateFile)
    );
    assert_eq!(
        host_path_check("/x", "", Found::Nothing),
        Ok(HostPathAction::Use)
    );
    assert_eq!(
        host_path_check("/etc/hostname", "Directory", Found::File).unwrap_err(),
        "hostPath type check failed: /etc/hostname is not a directory"
    );
    assert_eq!(
        host_path_check("/x", "Socket", Found::Directory).unwrap_err(),
        "hostPath type check failed: /x is not a socket file"
    );
}

#[test]
fn mounts_resolve_sub_paths_and_read_only() {
    let c: Container = serde_json::from_value(json!({"name": "c", "volumeMounts": [
        {"name": "data", "mountPath": "/data"},
        {"name": "data", "mountPath": "/logs", "subPath": "logs", "readOnly": true},
        {"name": "cfg", "mountPath": "/etc/app"},
    ]}))
    .unwrap();
    let vols = BTreeMap::from([
        (
            "data".to_string(),
            Ready {
                path: "/v/data".into(),
                read_only: false,
            },
        ),
        (
            "cfg".to_string(),
            Ready {
                path: "/v/cfg".into(),
                read_only: true,
            },
        ),
    ]);
    let m = mounts(&c, &vols).unwrap();
    assert_eq!(m[0].host_path, PathBuf::from("/v/data"));
    assert!(!m[0].read_only);
    assert_eq!(m[1].host_path, PathBuf::from("/v/data/logs"));
    assert!(m[1].read_only);
    assert!(m[2].read_only, "configMap volumes are read-only");
    let escape: Container = serde_json::from_value(json!({"name": "c", "volumeMounts": [
        {"name": "data", "mountPath": "/x", "subPath": "../../etc"}]}))
    .unwrap();
    assert!(mounts(&escape, &vols).unwrap_err().contains("without '..'"));
    let unknown: Container = serde_json::from_value(json!({"name": "c", "volumeMounts": [
        {"name": "nope", "mountPath": "/x"}]}))
    .unwrap();
    assert!(mounts(&unknown, &vols).is_err());
}
