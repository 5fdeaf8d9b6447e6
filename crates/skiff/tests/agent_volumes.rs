//! Pod volumes on a real node (the server's embedded agent with its own containerd):
//! configMap (and its update), secret, downwardAPI, projected, the service-account token
//! volume every pod gets, emptyDir (disk and memory,
//! shared between containers), hostPath with type checks, subPath, readOnly, the FailedMount
//! event of a missing source, and PersistentVolumeClaims on the built-in local-path class. Needs root and Debian's containerd, runc and CNI
//! plugins (`.ci/run` installs them).

mod common;
use common::eventually;
use common::pods::{field, one_node_cluster};

const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: vols
  labels: {app: vols}
spec:
  terminationGracePeriodSeconds: 1
  securityContext: {fsGroup: 2000}
  initContainers:
  - name: seed
    image: skiff.test/busybox:v1
    command: [sh, -c, 'echo seeded > /shared/seed']
    volumeMounts: [{name: shared, mountPath: /shared}]
  containers:
  - name: main
    image: skiff.test/busybox:v1
    command: [sleep, '3600']
    volumeMounts:
    - {name: cfg, mountPath: /etc/cfg}
    - {name: cfg, mountPath: /etc/one.conf, subPath: one.conf}
    - {name: sec, mountPath: /etc/sec}
    - {name: info, mountPath: /etc/info}
    - {name: all, mountPath: /etc/all}
    - {name: shared, mountPath: /shared}
    - {name: shared, mountPath: /logs, subPath: logs}
    - {name: mem, mountPath: /cache}
    - {name: host, mountPath: /host}
    - {name: host, mountPath: /host-ro, readOnly: true}
  volumes:
  - name: cfg
    configMap: {name: app-config}
  - name: sec
    secret: {secretName: app-secret, defaultMode: 0400}
  - name: info
    downwardAPI:
      items:
      - {path: name, fieldRef: {fieldPath: metadata.name}}
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
  - name: all
    projected:
      sources:
      - configMap: {name: app-config, items: [{key: one.conf, path: cfg/one}]}
      - secret: {name: app-secret}
  - name: shared
    emptyDir: {}
  - name: mem
    emptyDir: {medium: Memory, sizeLimit: 16Mi}
  - name: host
    hostPath: {path: HOSTDIR, type: DirectoryOrCreate}
";

#[test]
fn volumes_show_their_sources_and_follow_updates() {
    let s = one_node_cluster("vols", "sktest-v", "10.81.0.0/16");
    s.ok(&[
        "create",
        "configmap",
        "app-config",
        "--from-literal=one.conf=first",
    ]);
    s.ok(&[
        "create",
        "secret",
        "generic",
        "app-secret",
        "--from-literal=password=s3cr3t",
    ]);
    let host_dir = s.dir.path().join("hostdir");
    let manifest = POD.replace("HOSTDIR", host_dir.to_str().unwrap());
    s.apply_ok(&["apply", "-f", "-"], &manifest);
    eventually("the pod running", || {
        field(&s, "vols", ".status.phase") == "Running"
    });
    let sh = |script: &str| s.ok(&["exec", "vols", "-c", "main", "--", "sh", "-c", script]);
    assert_eq!(sh("cat /etc/cfg/one.conf"), "first");
    assert_eq!(sh("cat /etc/one.conf"), "first");
    assert_eq!(sh("cat /etc/sec/password"), "s3cr3t");
    // defaultMode 0400, plus g+r for the fsGroup (upstream's SetVolumeOwnership)
    assert_eq!(sh("stat -L -c %a /etc/sec/password"), "440\n");
    assert_eq!(sh("stat -L -c %g /etc/sec/password"), "2000\n");
    assert_eq!(sh("cat /etc/info/name"), "vols");
    assert_eq!(sh("cat /etc/info/labels"), "app=\"vols\"");
    assert_eq!(sh("cat /etc/all/cfg/one /etc/all/password"), "firsts3cr3t");
    // emptyDir: the init container's file, fsGroup ownership, subPath directory
    assert_eq!(sh("cat /shared/seed"), "seeded\n");
    assert_eq!(sh("stat -c %g /shared"), "2000\n");
    sh("echo line > /logs/app.log");
    assert_eq!(sh("cat /shared/logs/app.log"), "line\n");
    // medium: Memory is a tmpfs of the size limit
    let mem = sh("grep ' /cache ' /proc/mounts");
    assert!(
        mem.starts_with("tmpfs /cache tmpfs") && mem.contains("size=16384k"),
        "{mem}"
    );
    // hostPath: created, shared with the node; the readOnly mount refuses writes
    sh("echo from-pod > /host/f");
    assert_eq!(
        std::fs::read_to_string(host_dir.join("f")).unwrap(),
        "from-pod\n"
    );
    let ro = s.kubectl(&[
        "exec",
        "vols",
        "-c",
        "main",
        "--",
        "sh",
        "-c",
        "echo x > /host-ro/g",
    ]);
    assert!(!ro.status.success(), "a readOnly mount accepted a write");
    // configMap volumes are read-only
    let cfg_ro = s.kubectl(&[
        "exec",
        "vols",
        "-c",
        "main",
        "--",
        "sh",
        "-c",
        "echo x > /etc/cfg/new",
    ]);
    assert!(
        !cfg_ro.status.success(),
        "a configMap volume accepted a write"
    );

    // the ServiceAccount admission's kube-api-access volume: a token bound to this pod that
    // authenticates as the pod's ServiceAccount, the cluster CA and the namespace
    let sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
    assert_eq!(sh(&format!("cat {sa_dir}/namespace")), "default");
    let ca = std::fs::read_to_string(s.dir.path().join("tls/ca.crt")).unwrap();
    assert_eq!(sh(&format!("cat {sa_dir}/ca.crt")), ca);
    let token = sh(&format!("cat {sa_dir}/token"));
    let review = common::json(&s.apply_ok(
        &["create", "--raw", "/apis/authentication.k8s.io/v1/tokenreviews", "-f", "-"],
        &format!(r#"{{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {{"token": "{token}"}}}}"#),
    ));
    let user = &review["status"]["user"];
    assert_eq!(
        user["username"], "system:serviceaccount:default:default",
        "{review}"
    );
    assert_eq!(
        user["extra"]["authentication.kubernetes.io/pod-name"],
        serde_json::json!(["vols"])
    );
    assert_eq!(
        user["extra"]["authentication.kubernetes.io/node-name"],
        serde_json::json!(["vols"])
    );
    // ... and what in-cluster clients read besides: the API server's Service address
    let ip = s.ok(&[
        "get",
        "svc",
        "kubernetes",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    assert_eq!(
        sh("echo -n $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"),
        format!("{ip}:443")
    );
    assert_eq!(
        sh("echo -n $KUBERNETES_PORT_443_TCP"),
        format!("tcp://{ip}:443")
    );

    // an update of the ConfigMap reaches the volume (not the subPath mount, like upstream)
    s.apply_ok(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\ndata:\n  one.conf: second\n",
    );
    eventually("the configMap volume updated", || {
        s.kubectl(&[
            "exec",
            "vols",
            "-c",
            "main",
            "--",
            "cat",
            "/etc/cfg/one.conf",
        ])
        .stdout
            == b"second"
    });
    assert_eq!(sh("cat /etc/one.conf"), "first");

    // a missing ConfigMap: a FailedMount event, the pod waits in ContainerCreating
    s.apply_ok(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: nocfg\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: skiff.test/busybox:v1\n    command: [sleep, '3600']\n    volumeMounts: [{name: v, mountPath: /v}]\n  volumes:\n  - name: v\n    configMap: {name: nowhere}\n",
    );
    eventually("a FailedMount event", || {
        s.ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=nocfg,reason=FailedMount",
            "-o",
            "jsonpath={.items[*].message}",
        ])
        .contains("MountVolume.SetUp failed for volume \"v\" : configmap \"nowhere\" not found")
    });
    assert_eq!(
        field(
            &s,
            "nocfg",
            ".status.containerStatuses[0].state.waiting.reason"
        ),
        "ContainerCreating"
    );
    // creating it lets the pod start
    s.ok(&["create", "configmap", "nowhere", "--from-literal=k=v"]);
    eventually("nocfg running", || {
        field(&s, "nocfg", ".status.phase") == "Running"
    });

    // a PersistentVolumeClaim on the default local-path class keeps its data across pods
    s.apply_ok(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 1Gi}}\n",
    );
    let claim = |path: &str| {
        let out = s.kubectl(&["get", "pvc", "data", "-o", &format!("jsonpath={{{path}}}")]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(claim(".spec.storageClassName"), "local-path");
    assert_eq!(
        s.ok(&[
            "get",
            "storageclass",
            "local-path",
            "-o",
            "jsonpath={.volumeBindingMode}"
        ]),
        "WaitForFirstConsumer"
    );
    let claim_pod = |name: &str, script: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  terminationGracePeriodSeconds: 1\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: skiff.test/busybox:v1\n    command: [sh, -c, {script:?}]\n    volumeMounts: [{{name: d, mountPath: /data}}]\n  volumes:\n  - name: d\n    persistentVolumeClaim: {{claimName: data}}\n"
        )
    };
    s.apply_ok(
        &["apply", "-f", "-"],
        &claim_pod("writer", "echo kept > /data/file"),
    );
    eventually("the writer done", || {
        field(&s, "writer", ".status.phase") == "Succeeded"
    });
    assert_eq!(claim(".status.phase"), "Bound");
    let pv = claim(".spec.volumeName");
    let pv_path = s.ok(&["get", "pv", &pv, "-o", "jsonpath={.spec.hostPath.path}"]);
    assert!(
        pv_path.starts_with(s.dir.path().join("storage").to_str().unwrap()),
        "{pv_path}"
    );
    assert_eq!(
        s.ok(&["get", "pv", &pv, "-o", "jsonpath={.status.phase}"]),
        "Bound"
    );
    s.ok(&["delete", "pod", "writer"]);
    s.apply_ok(
        &["apply", "-f", "-"],
        &claim_pod("reader", "cat /data/file"),
    );
    eventually("the reader done", || {
        field(&s, "reader", ".status.phase") == "Succeeded"
    });
    assert_eq!(s.ok(&["logs", "reader"]), "kept\n");
    s.ok(&["delete", "pod", "reader"]);
    // deleting the claim deletes its volume and the node's directory (reclaim policy Delete)
    s.ok(&["delete", "pvc", "data"]);
    eventually("the volume deleted", || {
        !s.kubectl(&["get", "pv", &pv]).status.success()
    });
    eventually("the directory removed", || {
        !std::path::Path::new(&pv_path).exists()
    });

    let uid = field(&s, "vols", ".metadata.uid");
    s.ok(&["delete", "pod", "vols", "nocfg", "--timeout=60s"]);
    let pod_dir = s.dir.path().join("agent/pods").join(&uid);
    eventually("the pod's volume directory removed", || !pod_dir.exists());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(
        !mounts.contains(&uid),
        "a tmpfs of the deleted pod is still mounted"
    );
    assert!(
        host_dir.join("f").exists(),
        "hostPath content is the node's, it stays"
    );
}
