//! Security contexts and namespaces on a real node (the server's embedded agent):
//! runAsNonRoot against the image's user with upstream's message, runAsUser/runAsGroup,
//! fsGroup and supplementalGroups, readOnlyRootFilesystem, capabilities, privileged,
//! allowPrivilegeEscalation, a PID namespace per container, hostNetwork. Needs root and
//! Debian's containerd, runc and CNI plugins (`.ci/run` installs them).

mod common;
use common::eventually;
use common::pods::{busybox_pod, field, one_node_cluster};

const SECURED: &str = "apiVersion: v1
kind: Pod
metadata:
  name: secured
spec:
  terminationGracePeriodSeconds: 1
  securityContext: {runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000, supplementalGroups: [4000]}
  containers:
  - name: locked
    image: skiff.test/busybox:v1
    command: [sleep, '3600']
    securityContext:
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL]}
  - name: admin
    image: skiff.test/busybox:v1
    command: [sleep, '3600']
    securityContext: {runAsUser: 0, privileged: true}
";

#[test]
fn security_contexts_shape_the_containers() {
    let s = one_node_cluster("sec", "sktest-c", "10.82.0.0/16");

    // runAsNonRoot with an image that runs as root: refused with the kubelet's message
    let nonroot = busybox_pod("nonroot", "Always", "sleep 3600").replace(
        "spec:\n",
        "spec:\n  securityContext: {runAsNonRoot: true}\n",
    );
    s.apply_ok(&["apply", "-f", "-"], &nonroot);
    let uid = field(&s, "nonroot", ".metadata.uid");
    let waiting = ".status.containerStatuses[0].state.waiting";
    eventually("nonroot refused", || {
        field(&s, "nonroot", &format!("{waiting}.reason")) == "CreateContainerConfigError"
    });
    assert_eq!(
        field(&s, "nonroot", &format!("{waiting}.message")),
        format!("container has runAsNonRoot and image will run as root (pod: \"nonroot_default({uid})\", container: main)")
    );

    s.apply_ok(&["apply", "-f", "-"], SECURED);
    eventually("secured running", || {
        field(&s, "secured", ".status.phase") == "Running"
    });
    let sh =
        |c: &str, script: &str| s.kubectl(&["exec", "secured", "-c", c, "--", "sh", "-c", script]);
    let out = |c: &str, script: &str| String::from_utf8_lossy(&sh(c, script).stdout).into_owned();
    assert_eq!(out("locked", "id -u; id -g"), "1000\n3000\n");
    let groups = out("locked", "id -G");
    assert!(
        groups.contains("2000") && groups.contains("4000"),
        "{groups}"
    );
    assert!(
        !sh("locked", "echo x > /x").status.success(),
        "the root filesystem is writable"
    );
    let status = out("locked", "cat /proc/self/status");
    assert!(status.contains("CapEff:\t0000000000000000"), "{status}");
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    // its own PID namespace: PID 1 is the container's command, not the sandbox's pause
    assert!(out("locked", "cat /proc/1/cmdline").starts_with("sleep"));
    // privileged, as root: every capability, a writable root
    let admin_id = sh("admin", "id -u");
    assert_eq!(
        String::from_utf8_lossy(&admin_id.stdout),
        "0\n",
        "{} {}",
        String::from_utf8_lossy(&admin_id.stderr),
        s.ok(&["get", "pod", "secured", "-o", "yaml"])
    );
    let admin = out("admin", "cat /proc/self/status");
    assert!(!admin.contains("CapEff:\t0000000000000000"), "{admin}");
    assert!(sh("admin", "echo x > /x").status.success());

    // hostNetwork: the pod has the node's address
    let host = busybox_pod("hostnet", "Always", "sleep 3600")
        .replace("spec:\n", "spec:\n  hostNetwork: true\n");
    s.apply_ok(&["apply", "-f", "-"], &host);
    eventually("hostnet running", || {
        field(&s, "hostnet", ".status.phase") == "Running"
    });
    assert_eq!(
        field(&s, "hostnet", ".status.podIP"),
        field(&s, "hostnet", ".status.hostIP")
    );

    s.ok(&[
        "delete",
        "pod",
        "nonroot",
        "secured",
        "hostnet",
        "--timeout=60s",
    ]);
}
