//! Container lifecycle on a real node (the server's embedded agent): postStart and preStop
//! hooks, graceful termination that does not hold up other pods, termination messages
//! (file and FallbackToLogsOnError), activeDeadlineSeconds, sidecar init containers, and
//! the BackOff event. Needs root and Debian's containerd, runc and CNI plugins.

mod common;
use common::eventually;
use common::pods::{busybox_pod, events, field, one_node_cluster};
use std::time::{Duration, Instant};

#[test]
fn hooks_termination_deadlines_and_sidecars() {
    let s = one_node_cluster("life", "sktest-l", "10.84.0.0/16");
    let shared = s.dir.path().join("shared");

    // hooks: postStart runs after the start, preStop before SIGTERM on deletion
    let hooks = format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: hooks
spec:
  terminationGracePeriodSeconds: 10
  containers:
  - name: main
    image: skiff.test/busybox:v1
    command: [sh, -c, 'trap \"echo term >> /shared/log; exit 0\" TERM; while true; do sleep 0.1; done']
    volumeMounts: [{{name: shared, mountPath: /shared}}]
    lifecycle:
      postStart:
        exec: {{command: [sh, -c, 'echo post-start > /shared/poststart']}}
      preStop:
        exec: {{command: [sh, -c, 'echo pre-stop >> /shared/log']}}
  volumes:
  - name: shared
    hostPath: {{path: {}, type: DirectoryOrCreate}}
",
        shared.display()
    );
    s.apply_ok(&["apply", "-f", "-"], &hooks);
    eventually("hooks running", || {
        field(&s, "hooks", ".status.phase") == "Running"
    });
    assert_eq!(
        std::fs::read_to_string(shared.join("poststart")).unwrap(),
        "post-start\n"
    );

    // a failing postStart hook: an event, and the container is restarted
    let failing = busybox_pod("failhook", "Always", "sleep 3600").replace(
        "    command:",
        "    lifecycle:\n      postStart:\n        exec: {command: [sh, -c, 'exit 7']}\n    command:",
    );
    s.apply_ok(&["apply", "-f", "-"], &failing);

    // termination messages: the file, and the log tail as a fallback
    s.apply_ok(
        &["apply", "-f", "-"],
        &busybox_pod("msg", "Never", "echo bye > /dev/termination-log; exit 1"),
    );
    s.apply_ok(
        &["apply", "-f", "-"],
        &busybox_pod("fallback", "Never", "echo from logs; exit 2").replace(
            "    command:",
            "    terminationMessagePolicy: FallbackToLogsOnError\n    command:",
        ),
    );
    // activeDeadlineSeconds
    s.apply_ok(
        &["apply", "-f", "-"],
        &busybox_pod("deadline", "Always", "sleep 3600")
            .replace("spec:\n", "spec:\n  activeDeadlineSeconds: 2\n"),
    );
    // a sidecar runs beside the main container and stops when it is done
    s.apply_ok(
        &["apply", "-f", "-"],
        &busybox_pod("sidecar", "Never", "sleep 2; echo done").replace(
            "  containers:\n",
            "  initContainers:\n  - name: proxy\n    image: skiff.test/busybox:v1\n    restartPolicy: Always\n    command: [sleep, '3600']\n  containers:\n",
        ),
    );
    s.apply_ok(
        &["apply", "-f", "-"],
        &busybox_pod("crash", "Always", "exit 1"),
    );

    let term = ".status.containerStatuses[0].state.terminated";
    eventually("msg terminated", || !field(&s, "msg", term).is_empty());
    assert_eq!(field(&s, "msg", &format!("{term}.message")), "bye\n");
    eventually("fallback terminated", || {
        !field(&s, "fallback", term).is_empty()
    });
    assert_eq!(
        field(&s, "fallback", &format!("{term}.message")),
        "from logs\n"
    );

    eventually("deadline failed", || {
        field(&s, "deadline", ".status.phase") == "Failed"
    });
    assert_eq!(field(&s, "deadline", ".status.reason"), "DeadlineExceeded");
    assert_eq!(
        field(&s, "deadline", ".status.message"),
        "Pod was active on the node longer than the specified deadline"
    );

    eventually("sidecar pod succeeded", || {
        field(&s, "sidecar", ".status.phase") == "Succeeded"
    });
    assert_eq!(s.ok(&["logs", "sidecar", "-c", "main"]), "done\n");

    eventually("failhook restarted", || {
        field(&s, "failhook", ".status.containerStatuses[0].restartCount")
            .parse::<u32>()
            .is_ok_and(|n| n >= 1)
    });
    let ev = events(&s, "failhook");
    assert!(
        ev.contains("FailedPostStartHook: Exec lifecycle hook ([sh -c exit 7]) for Container \"main\" in Pod \"failhook_default("),
        "{ev}"
    );
    eventually("a BackOff event for the crashing container", || {
        events(&s, "crash")
            .contains("BackOff: Back-off restarting failed container main in pod crash_default(")
    });

    // a container that ignores SIGTERM is stopped in the background: other pods still start
    s.apply_ok(
        &["apply", "-f", "-"],
        &busybox_pod(
            "stubborn",
            "Always",
            "trap '' TERM; while true; do sleep 0.1; done",
        )
        .replace(
            "terminationGracePeriodSeconds: 1",
            "terminationGracePeriodSeconds: 20",
        ),
    );
    eventually("stubborn running", || {
        field(&s, "stubborn", ".status.phase") == "Running"
    });
    s.ok(&["delete", "pod", "stubborn", "--wait=false"]);
    let asked = Instant::now();
    s.apply_ok(
        &["apply", "-f", "-"],
        &busybox_pod("quick", "Always", "sleep 3600"),
    );
    eventually("quick running while stubborn stops", || {
        field(&s, "quick", ".status.phase") == "Running"
    });
    assert!(
        asked.elapsed() < Duration::from_secs(15),
        "a slow stop held up another pod for {:?}",
        asked.elapsed()
    );

    // deleting the hooks pod: preStop, then SIGTERM
    s.ok(&["delete", "pod", "hooks", "--timeout=60s"]);
    assert_eq!(
        std::fs::read_to_string(shared.join("log")).unwrap(),
        "pre-stop\nterm\n"
    );
    s.ok(&[
        "delete",
        "pod",
        "failhook",
        "msg",
        "fallback",
        "deadline",
        "sidecar",
        "crash",
        "quick",
        "--timeout=60s",
    ]);
}
