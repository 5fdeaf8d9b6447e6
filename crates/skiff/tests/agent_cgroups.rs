//! Pod-level cgroups on a real node (the server's embedded agent with `--cgroup-root`): every
//! pod runs in `<root>/kubepods[/burstable|/besteffort]/pod<uid>`, limited like the kubelet
//! limits it (a RuntimeClass's overhead included), and the cgroup goes with the pod. Needs root, a cgroup v1 host like this
//! project's machines, and Debian's containerd, runc and CNI plugins (`.ci/run` installs them).

mod common;
use common::eventually;
use common::pods::{busybox_pod, field, one_node_cluster_with};
use std::path::PathBuf;

const ROOT: &str = "/skiff-test-cg";

/// `/sys/fs/cgroup/<controller>/<path>/<file>`, trimmed; "" when it cannot be read.
fn read(controller: &str, path: &str, file: &str) -> String {
    let p = PathBuf::from("/sys/fs/cgroup")
        .join(controller)
        .join(path.trim_start_matches('/'))
        .join(file);
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn exists(controller: &str, path: &str) -> bool {
    PathBuf::from("/sys/fs/cgroup")
        .join(controller)
        .join(path.trim_start_matches('/'))
        .is_dir()
}

#[test]
fn every_pod_runs_in_its_own_limited_cgroup_which_goes_with_it() {
    if !std::path::Path::new("/sys/fs/cgroup/memory/cgroup.procs").exists() {
        panic!("this test needs a cgroup v1 memory hierarchy at /sys/fs/cgroup/memory");
    }
    let s = one_node_cluster_with(
        "cgroups",
        "sktest-q",
        "10.86.0.0/16",
        &["--cgroup-root", ROOT],
    );
    // kubepods holds every pod and is limited to the node's allocatable memory.
    let kubepods = format!("{ROOT}/kubepods");
    eventually("kubepods limited", || {
        read("memory", &kubepods, "memory.limit_in_bytes")
            .parse::<u64>()
            .is_ok_and(|n| n > 0 && n < u64::MAX / 2)
    });

    // A Burstable pod: shares from its requests, quota and memory limit from its limits
    // (each of its two containers, an init container included, sets them).
    let limited = busybox_pod("limited", "Always", "cat /proc/self/cgroup; sleep 3600")
        + "    resources:\n      requests: {cpu: 100m, memory: 16Mi}\n      limits: {cpu: 500m, memory: 64Mi}\n"
        + "  initContainers:\n  - name: init\n    image: skiff.test/busybox:v1\n    command: [\"sh\", \"-c\", \"exit 0\"]\n"
        + "    resources:\n      limits: {cpu: 200m, memory: 100Mi}\n";
    s.apply_ok(&["apply", "-f", "-"], &limited);
    s.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/limited",
        "--timeout=90s",
    ]);
    let uid = field(&s, "limited", ".metadata.uid");
    assert_eq!(field(&s, "limited", ".status.qosClass"), "Burstable");
    let pod_cg = format!("{kubepods}/burstable/pod{uid}");
    // The pod needs the larger of its init phase and its app containers: 100Mi (init) and
    // 500m (app).
    assert_eq!(
        read("memory", &pod_cg, "memory.limit_in_bytes"),
        (100u64 << 20).to_string()
    );
    assert_eq!(read("cpu", &pod_cg, "cpu.cfs_quota_us"), "50000");
    assert_eq!(read("cpu", &pod_cg, "cpu.cfs_period_us"), "100000");
    // Requests: 100m for the app, 200m (its limit) for the init container → 200m.
    assert_eq!(read("cpu", &pod_cg, "cpu.shares"), "204");
    // The container itself runs inside the pod's cgroup.
    let logs = s.ok(&["logs", "limited"]);
    let memory_line = logs
        .lines()
        .find(|l| l.contains(":memory:"))
        .unwrap_or_else(|| panic!("no memory cgroup in {logs}"));
    assert!(
        memory_line.contains(&format!(":memory:{pod_cg}/")),
        "{memory_line} is not under {pod_cg}"
    );
    // The Burstable tier's shares are its running pods' requests.
    eventually("the Burstable tier's shares", || {
        read("cpu", &format!("{kubepods}/burstable"), "cpu.shares") == "204"
    });

    // A BestEffort pod: the minimum shares, no limits, in the besteffort tier.
    s.apply_ok(
        &["apply", "-f", "-"],
        &busybox_pod("free", "Always", "cat /proc/self/cgroup; sleep 3600"),
    );
    s.ok(&["wait", "--for=condition=Ready", "pod/free", "--timeout=90s"]);
    let free_cg = format!(
        "{kubepods}/besteffort/pod{}",
        field(&s, "free", ".metadata.uid")
    );
    assert_eq!(read("cpu", &free_cg, "cpu.shares"), "2");
    assert_eq!(read("cpu", &free_cg, "cpu.cfs_quota_us"), "-1");
    assert!(s
        .ok(&["logs", "free"])
        .contains(&format!(":memory:{free_cg}/")));

    // A Guaranteed pod of a RuntimeClass with an overhead: the admission sets the pod's
    // overhead from the class, and the pod cgroup (right under kubepods) makes room for it.
    s.apply_ok(
        &["apply", "-f", "-"],
        "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: padded\nhandler: runc\noverhead:\n  podFixed: {cpu: 50m, memory: 8Mi}\n",
    );
    let padded = busybox_pod("padded", "Always", "sleep 3600")
        .replace("spec:\n", "spec:\n  runtimeClassName: padded\n")
        + "    resources:\n      limits: {cpu: 250m, memory: 32Mi}\n";
    s.apply_ok(&["apply", "-f", "-"], &padded);
    assert_eq!(
        field(&s, "padded", ".spec.overhead"),
        r#"{"cpu":"50m","memory":"8Mi"}"#
    );
    s.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/padded",
        "--timeout=90s",
    ]);
    assert_eq!(field(&s, "padded", ".status.qosClass"), "Guaranteed");
    let padded_cg = format!("{kubepods}/pod{}", field(&s, "padded", ".metadata.uid"));
    assert_eq!(
        read("memory", &padded_cg, "memory.limit_in_bytes"),
        (40u64 << 20).to_string()
    );
    assert_eq!(read("cpu", &padded_cg, "cpu.cfs_quota_us"), "30000");
    assert_eq!(read("cpu", &padded_cg, "cpu.shares"), "307");

    // Deleting the pods removes their cgroups from every hierarchy.
    s.ok(&[
        "delete",
        "pod",
        "limited",
        "free",
        "padded",
        "--timeout=60s",
    ]);
    eventually("the pod cgroups removed", || {
        ["memory", "cpu", "pids", "cpuset", "freezer"]
            .iter()
            .all(|c| !exists(c, &pod_cg) && !exists(c, &free_cg) && !exists(c, &padded_cg))
    });
    eventually("the Burstable tier back to the minimum", || {
        read("cpu", &format!("{kubepods}/burstable"), "cpu.shares") == "2"
    });
}
