//! Service-account tokens with the real kubectl: `kubectl create token` (TokenRequest) and the
//! token used as a credential (`kubectl auth whoami`, TokenReview), bound tokens that stop
//! working with their pod, upstream's errors; the ServiceAccount admission plugin's
//! `kube-api-access-*` volume and automount switches; the `kube-root-ca.crt` ConfigMap.

mod common;
use common::{eventually, json, Server};
use std::process::{Command, Output};

/// A kubeconfig for `s` that authenticates with `token` only (no client certificate).
fn token_kubeconfig(s: &Server, token: &str, name: &str) -> std::path::PathBuf {
    let server = s.ok(&[
        "config",
        "view",
        "--raw",
        "-o",
        "jsonpath={.clusters[0].cluster.server}",
    ]);
    let ca = s.ok(&[
        "config",
        "view",
        "--raw",
        "-o",
        "jsonpath={.clusters[0].cluster.certificate-authority-data}",
    ]);
    let path = s.dir.path().join(format!("{name}.kubeconfig"));
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: u\n  user:\n    token: {token}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n"
        ),
    )
    .unwrap();
    path
}

fn kubectl_as(kubeconfig: &std::path::Path, args: &[&str]) -> Output {
    Command::new(common::kubectl_bin())
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("run kubectl")
}

fn whoami(kubeconfig: &std::path::Path) -> Result<serde_json::Value, String> {
    let out = kubectl_as(kubeconfig, &["auth", "whoami", "-o", "json"]);
    if out.status.success() {
        Ok(json(&String::from_utf8_lossy(&out.stdout)))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn kubectl_create_token_gives_a_working_credential() {
    let s = Server::start();
    eventually("the default ServiceAccount", || {
        s.kubectl(&["get", "serviceaccount", "default"])
            .status
            .success()
    });
    let token = s.ok(&["create", "token", "default"]).trim().to_string();
    assert_eq!(token.split('.').count(), 3, "{token}");
    let kc = token_kubeconfig(&s, &token, "default-sa");
    let me = whoami(&kc).unwrap();
    let info = &me["status"]["userInfo"];
    assert_eq!(info["username"], "system:serviceaccount:default:default");
    assert_eq!(
        info["groups"],
        serde_json::json!([
            "system:serviceaccounts",
            "system:serviceaccounts:default",
            "system:authenticated"
        ])
    );
    let sa_uid = s.ok(&["get", "sa", "default", "-o", "jsonpath={.metadata.uid}"]);
    assert_eq!(info["uid"], sa_uid.as_str());
    // The token works for ordinary requests too.
    let out = kubectl_as(&kc, &["get", "namespaces", "-o", "name"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("namespace/kube-system"));

    // An altered token is refused with 401.
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    let err = whoami(&token_kubeconfig(&s, &forged, "forged")).unwrap_err();
    assert!(err.contains("Unauthorized"), "{err}");

    // Upstream's errors for a short lifetime and an unknown ServiceAccount.
    let err = s.fails(&["create", "token", "default", "--duration", "5m"]);
    assert!(
        err.contains("spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes"),
        "{err}"
    );
    let err = s.fails(&["create", "token", "ghost"]);
    assert!(
        err.contains(r#"serviceaccounts "ghost" not found"#),
        "{err}"
    );

    // A token of a deleted ServiceAccount stops working.
    s.ok(&["create", "serviceaccount", "ci"]);
    let ci = s.ok(&["create", "token", "ci", "--duration", "20m"]);
    let ci_kc = token_kubeconfig(&s, ci.trim(), "ci");
    assert_eq!(
        whoami(&ci_kc).unwrap()["status"]["userInfo"]["username"],
        "system:serviceaccount:default:ci"
    );
    s.ok(&["delete", "serviceaccount", "ci"]);
    let err = whoami(&ci_kc).unwrap_err();
    assert!(err.contains("Unauthorized"), "{err}");
}

#[test]
fn a_token_bound_to_a_pod_dies_with_the_pod() {
    let s = Server::start();
    eventually("the default ServiceAccount", || {
        s.kubectl(&["get", "serviceaccount", "default"])
            .status
            .success()
    });
    s.ok(&["run", "holder", "--image", "busybox", "--restart", "Never"]);
    let token = s.ok(&[
        "create",
        "token",
        "default",
        "--bound-object-kind",
        "Pod",
        "--bound-object-name",
        "holder",
    ]);
    let kc = token_kubeconfig(&s, token.trim(), "bound");
    let me = whoami(&kc).unwrap();
    assert_eq!(
        me["status"]["userInfo"]["extra"]["authentication.kubernetes.io/pod-name"],
        serde_json::json!(["holder"])
    );
    // A TokenReview says the same. (`kubectl create -f` of a TokenReview would need the
    // protobuf OpenAPI v2 document for client-side validation, which Skiff does not serve.)
    let review = s.apply_ok(
        &["create", "--raw", "/apis/authentication.k8s.io/v1/tokenreviews", "-f", "-"],
        &format!(
            r#"{{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {{"token": "{}"}}}}"#,
            token.trim()
        ),
    );
    let review = json(&review);
    assert_eq!(review["status"]["authenticated"], true, "{review}");
    assert_eq!(
        review["status"]["user"]["username"],
        "system:serviceaccount:default:default"
    );
    // A ConfigMap cannot hold a token; a pod of another ServiceAccount cannot either.
    let err = s.fails(&[
        "create",
        "token",
        "default",
        "--bound-object-kind",
        "Secret",
        "--bound-object-name",
        "nope",
    ]);
    assert!(err.contains(r#"secrets "nope" not found"#), "{err}");

    s.ok(&["delete", "pod", "holder", "--grace-period=0", "--force"]);
    eventually("the pod gone", || {
        !s.kubectl(&["get", "pod", "holder"]).status.success()
    });
    let err = whoami(&kc).unwrap_err();
    assert!(err.contains("Unauthorized"), "{err}");
    let review = json(&s.apply_ok(
        &["create", "--raw", "/apis/authentication.k8s.io/v1/tokenreviews", "-f", "-"],
        &format!(
            r#"{{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {{"token": "{}"}}}}"#,
            token.trim()
        ),
    ));
    assert_ne!(review["status"]["authenticated"], true, "{review}");
}

#[test]
fn pods_get_the_api_access_volume_unless_automount_is_off() {
    let s = Server::start();
    eventually("the default ServiceAccount", || {
        s.kubectl(&["get", "serviceaccount", "default"])
            .status
            .success()
    });
    s.ok(&["run", "plain", "--image", "busybox"]);
    let pod = json(&s.ok(&["get", "pod", "plain", "-o", "json"]));
    let volumes = pod["spec"]["volumes"].as_array().unwrap();
    assert_eq!(volumes.len(), 1, "{volumes:?}");
    let name = volumes[0]["name"].as_str().unwrap();
    assert!(
        name.starts_with("kube-api-access-") && name.len() == 21,
        "{name}"
    );
    let sources = &volumes[0]["projected"]["sources"];
    assert_eq!(sources[0]["serviceAccountToken"]["expirationSeconds"], 3607);
    assert_eq!(sources[1]["configMap"]["name"], "kube-root-ca.crt");
    assert_eq!(
        sources[2]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    assert_eq!(volumes[0]["projected"]["defaultMode"], 420);
    let mount = &pod["spec"]["containers"][0]["volumeMounts"][0];
    assert_eq!(
        mount["mountPath"],
        "/var/run/secrets/kubernetes.io/serviceaccount"
    );
    assert_eq!(mount["readOnly"], true);
    assert_eq!(mount["name"], name);

    // Switched off on the pod, or on its ServiceAccount.
    s.ok(&[
        "run",
        "off",
        "--image",
        "busybox",
        "--overrides",
        r#"{"spec": {"automountServiceAccountToken": false}}"#,
    ]);
    let off = json(&s.ok(&["get", "pod", "off", "-o", "json"]));
    assert!(off["spec"].get("volumes").is_none(), "{off}");
    s.apply_ok(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: quiet}\nautomountServiceAccountToken: false\n",
    );
    s.ok(&[
        "run",
        "quiet",
        "--image",
        "busybox",
        "--overrides",
        r#"{"spec": {"serviceAccountName": "quiet"}}"#,
    ]);
    let quiet = json(&s.ok(&["get", "pod", "quiet", "-o", "json"]));
    assert!(quiet["spec"].get("volumes").is_none(), "{quiet}");

    // A missing ServiceAccount is refused like upstream.
    let out = s.with_stdin(
        &["create", "-f", "-"],
        "apiVersion: v1\nkind: Pod\nmetadata: {name: lost}\nspec:\n  serviceAccountName: ghost\n  containers: [{name: c, image: busybox}]\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"pods "lost" is forbidden: error looking up service account default/ghost: serviceaccount "ghost" not found"#),
        "{err}"
    );
}

#[test]
fn every_namespace_gets_the_root_ca_config_map() {
    let s = Server::start();
    let ca = std::fs::read_to_string(s.dir.path().join("tls/ca.crt")).unwrap();
    s.ok(&["create", "namespace", "team-a"]);
    let ca_of = |ns: &str| {
        let out = s.kubectl(&[
            "get",
            "configmap",
            "kube-root-ca.crt",
            "-n",
            ns,
            "-o",
            "jsonpath={.data.ca\\.crt}",
        ]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    eventually("kube-root-ca.crt in team-a", || ca_of("team-a") == ca);
    assert_eq!(ca_of("kube-system"), ca);
    // Edited or deleted by hand, it is put back.
    s.ok(&[
        "patch",
        "configmap",
        "kube-root-ca.crt",
        "-n",
        "team-a",
        "-p",
        r#"{"data": {"ca.crt": "tampered"}}"#,
    ]);
    eventually("the CA restored", || ca_of("team-a") == ca);
    s.ok(&["delete", "configmap", "kube-root-ca.crt", "-n", "team-a"]);
    eventually("the ConfigMap recreated", || ca_of("team-a") == ca);
}
