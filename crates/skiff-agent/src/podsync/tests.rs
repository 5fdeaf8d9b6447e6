use super::*;
use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

const S: i64 = 1_000_000_000;

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + secs).unwrap()
}

fn ns(secs: i64) -> i64 {
    (1_700_000_000 + secs) * S
}

fn pod(policy: &str, init: &[&str], main: &[&str]) -> Pod {
    let c = |n: &&str| Container {
        name: n.to_string(),
        image: Some("busybox".into()),
        ..Default::default()
    };
    Pod {
        metadata: ObjectMeta {
            name: Some("p".into()),
            namespace: Some("default".into()),
            uid: Some("u1".into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            restart_policy: Some(policy.into()),
            init_containers: (!init.is_empty()).then(|| init.iter().map(c).collect()),
            containers: main.iter().map(c).collect(),
            ..Default::default()
        }),
        status: None,
    }
}

fn sandbox(ready: bool) -> SandboxView {
    SandboxView {
        id: "sb".into(),
        ready,
        ip: "10.42.0.5".into(),
        created_at: ns(0),
    }
}

fn running(name: &str, attempt: u32) -> ContainerView {
    ContainerView {
        id: format!("{name}-{attempt}"),
        name: name.into(),
        attempt,
        state: RuntimeState::Running { started_at: ns(1) },
        image_ref: "sha256:img".into(),
    }
}

fn exited(name: &str, attempt: u32, code: i32, at: i64) -> ContainerView {
    ContainerView {
        state: RuntimeState::Exited {
            started_at: ns(at - 1),
            finished_at: ns(at),
            exit_code: code,
            reason: String::new(),
            message: String::new(),
        },
        ..running(name, attempt)
    }
}

fn obs<'a>(
    p: &'a Pod,
    sandboxes: Vec<SandboxView>,
    containers: Vec<ContainerView>,
    now: i64,
) -> Observed<'a> {
    Observed {
        pod: p,
        sandboxes,
        containers,
        waiting: BTreeMap::new(),
        host_ip: "192.0.2.2".into(),
        probes: BTreeMap::new(),
        now: ts(now),
    }
}

fn waiting_reason(st: &PodStatus, i: usize) -> Option<String> {
    st.container_statuses.as_ref().unwrap()[i]
        .state
        .as_ref()
        .and_then(|s| s.waiting.as_ref())
        .and_then(|w| w.reason.clone())
}

fn cond(st: &PodStatus, t: &str) -> String {
    st.conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == t)
        .unwrap()
        .status
        .clone()
}

#[test]
fn a_new_pod_gets_a_sandbox_then_its_containers() {
    let p = pod("Always", &[], &["a", "b"]);
    let o = obs(&p, vec![], vec![], 0);
    assert_eq!(plan(&o), vec![Op::RunSandbox]);
    let st = status(&o);
    assert_eq!(st.phase.as_deref(), Some("Pending"));
    assert_eq!(waiting_reason(&st, 0).as_deref(), Some("ContainerCreating"));
    let o = obs(&p, vec![sandbox(true)], vec![], 1);
    assert_eq!(plan(&o), vec![start("a", 0), start("b", 0)]);
}

#[test]
fn running_containers_make_a_ready_running_pod_with_its_ip() {
    let p = pod("Always", &[], &["a"]);
    let o = obs(&p, vec![sandbox(true)], vec![running("a", 0)], 5);
    assert!(plan(&o).is_empty());
    let st = status(&o);
    assert_eq!(st.phase.as_deref(), Some("Running"));
    assert_eq!(st.pod_ip.as_deref(), Some("10.42.0.5"));
    assert_eq!(st.host_ip.as_deref(), Some("192.0.2.2"));
    assert_eq!(cond(&st, "Ready"), "True");
    assert_eq!(cond(&st, "PodReadyToStartContainers"), "True");
    let cs = &st.container_statuses.as_ref().unwrap()[0];
    assert_eq!(cs.container_id.as_deref(), Some("containerd://a-0"));
    assert!(cs.ready && cs.started == Some(true));
}

#[test]
fn a_crashing_container_backs_off_then_restarts_keeping_the_last_dead_one() {
    let p = pod("Always", &[], &["a"]);
    // First exit: restarts at once (attempt 0 has no back-off).
    let o = obs(&p, vec![sandbox(true)], vec![exited("a", 0, 1, 10)], 11);
    assert_eq!(plan(&o), vec![start("a", 1)]);
    // Second exit 5 s ago: 10 s back-off holds it.
    let dead = vec![exited("a", 0, 1, 10), exited("a", 1, 1, 20)];
    let o = obs(&p, vec![sandbox(true)], dead.clone(), 25);
    assert!(plan(&o).is_empty());
    let st = status(&o);
    assert_eq!(waiting_reason(&st, 0).as_deref(), Some("CrashLoopBackOff"));
    assert_eq!(st.phase.as_deref(), Some("Running"));
    let cs = &st.container_statuses.as_ref().unwrap()[0];
    assert_eq!(cs.restart_count, 1);
    assert_eq!(
        cs.last_state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .exit_code,
        1
    );
    // After the back-off: the oldest is removed, the newest dead one kept.
    let o = obs(&p, vec![sandbox(true)], dead, 31);
    assert_eq!(
        plan(&o),
        vec![Op::RemoveContainer { id: "a-0".into() }, start("a", 2)]
    );
}

#[test]
fn backoff_doubles_up_to_five_minutes() {
    assert_eq!(backoff_secs(1), 10);
    assert_eq!(backoff_secs(2), 20);
    assert_eq!(backoff_secs(3), 40);
    assert_eq!(backoff_secs(20), 300);
}

#[test]
fn a_finished_pod_is_not_restarted_and_reports_its_phase() {
    let p = pod("Never", &[], &["a"]);
    let o = obs(&p, vec![sandbox(true)], vec![exited("a", 0, 0, 10)], 11);
    assert!(plan(&o).is_empty());
    assert_eq!(status(&o).phase.as_deref(), Some("Succeeded"));
    // Its sandbox died: it is cleaned up, not recreated.
    let o = obs(&p, vec![sandbox(false)], vec![exited("a", 0, 0, 10)], 12);
    assert_eq!(
        plan(&o),
        vec![
            Op::StopSandbox { id: "sb".into() },
            Op::RemoveSandbox { id: "sb".into() }
        ]
    );
    let p = pod("Never", &[], &["a"]);
    let o = obs(&p, vec![sandbox(true)], vec![exited("a", 0, 3, 10)], 11);
    assert_eq!(status(&o).phase.as_deref(), Some("Failed"));
    let p = pod("OnFailure", &[], &["a"]);
    let o = obs(&p, vec![sandbox(true)], vec![exited("a", 0, 3, 10)], 11);
    assert_eq!(plan(&o), vec![start("a", 1)]);
}

#[test]
fn init_containers_run_in_order_before_the_main_ones() {
    let p = pod("Always", &["i1", "i2"], &["a"]);
    let o = obs(&p, vec![sandbox(true)], vec![], 0);
    assert_eq!(plan(&o), vec![start("i1", 0)]);
    let o = obs(&p, vec![sandbox(true)], vec![running("i1", 0)], 1);
    assert!(plan(&o).is_empty());
    let st = status(&o);
    assert_eq!(st.phase.as_deref(), Some("Pending"));
    assert_eq!(cond(&st, "Initialized"), "False");
    assert_eq!(waiting_reason(&st, 0).as_deref(), Some("PodInitializing"));
    let o = obs(&p, vec![sandbox(true)], vec![exited("i1", 0, 0, 2)], 3);
    assert_eq!(plan(&o), vec![start("i2", 0)]);
    let done = vec![exited("i1", 0, 0, 2), exited("i2", 0, 0, 4)];
    let o = obs(&p, vec![sandbox(true)], done, 5);
    assert_eq!(plan(&o), vec![start("a", 0)]);
    // A failing init container blocks the rest; under Never the pod fails.
    let p = pod("Never", &["i1"], &["a"]);
    let o = obs(&p, vec![sandbox(true)], vec![exited("i1", 0, 1, 2)], 3);
    assert!(plan(&o).is_empty());
    assert_eq!(status(&o).phase.as_deref(), Some("Failed"));
}

#[test]
fn deleting_stops_everything_then_finishes() {
    let mut p = pod("Always", &[], &["a"]);
    p.metadata.deletion_timestamp = Some(Time(ts(0)));
    p.metadata.deletion_grace_period_seconds = Some(5);
    let o = obs(&p, vec![sandbox(true)], vec![running("a", 0)], 1);
    assert_eq!(
        plan(&o),
        vec![
            Op::StopContainer {
                id: "a-0".into(),
                grace_secs: 5
            },
            Op::StopSandbox { id: "sb".into() },
            Op::RemoveSandbox { id: "sb".into() },
            Op::FinishDeletion,
        ]
    );
    let o = obs(&p, vec![], vec![], 2);
    assert_eq!(plan(&o), vec![Op::FinishDeletion]);
}

#[test]
fn a_failed_start_is_reported_as_the_containers_waiting_reason() {
    let p = pod("Always", &[], &["a"]);
    let mut o = obs(&p, vec![sandbox(true)], vec![], 1);
    o.waiting
        .insert("a".into(), ("ErrImagePull".into(), "not found".into()));
    let st = status(&o);
    assert_eq!(waiting_reason(&st, 0).as_deref(), Some("ErrImagePull"));
    assert_eq!(st.phase.as_deref(), Some("Pending"));
}

#[test]
fn image_pulls_back_off_like_the_kubelet() {
    use std::time::Duration;
    assert_eq!(image_pull_backoff(0), Duration::from_secs(10));
    assert_eq!(image_pull_backoff(1), Duration::from_secs(10));
    assert_eq!(image_pull_backoff(2), Duration::from_secs(20));
    assert_eq!(image_pull_backoff(30), Duration::from_secs(300));
}

#[test]
fn probe_verdicts_gate_readiness_and_kill_unhealthy_containers() {
    let p = pod("Always", &[], &["app"]);
    let mut o = obs(&p, vec![sandbox(true)], vec![running("app", 0)], 5);
    o.probes.insert(
        "app-0".into(),
        probes::Verdict {
            started: true,
            ready: false,
            kill: None,
        },
    );
    assert!(plan(&o).is_empty());
    let st = status(&o);
    assert_eq!(cond(&st, "Ready"), "False");
    let cs = &st.container_statuses.as_ref().unwrap()[0];
    assert!(!cs.ready && cs.started == Some(true));
    o.probes.insert(
        "app-0".into(),
        probes::Verdict {
            started: false,
            ready: false,
            kill: None,
        },
    );
    let cs = &status(&o).container_statuses.unwrap()[0];
    assert_eq!(cs.started, Some(false));
    o.probes.insert(
        "app-0".into(),
        probes::Verdict {
            started: true,
            ready: false,
            kill: Some(probes::Kind::Liveness),
        },
    );
    assert_eq!(
        plan(&o),
        vec![Op::StopContainer {
            id: "app-0".into(),
            grace_secs: 30
        }]
    );
}

fn with_sidecar(mut p: Pod) -> Pod {
    let spec = p.spec.as_mut().unwrap();
    spec.init_containers.as_mut().unwrap()[0].restart_policy = Some("Always".into());
    p
}

#[test]
fn a_sidecar_starts_before_the_rest_keeps_running_and_stops_when_the_pod_is_done() {
    let p = with_sidecar(pod("Never", &["proxy", "setup"], &["app"]));
    // first the sidecar
    let o = obs(&p, vec![sandbox(true)], vec![], 0);
    assert_eq!(plan(&o), vec![start("proxy", 0)]);
    // running: the next init container starts, the sidecar is left running
    let o = obs(&p, vec![sandbox(true)], vec![running("proxy", 0)], 1);
    assert_eq!(plan(&o), vec![start("setup", 0)]);
    let o = obs(
        &p,
        vec![sandbox(true)],
        vec![running("proxy", 0), exited("setup", 0, 0, 2)],
        3,
    );
    assert_eq!(plan(&o), vec![start("app", 0)]);
    let st = status(&o);
    assert_eq!(cond(&st, "Initialized"), "True");
    // a crashed sidecar restarts even with restartPolicy Never
    let o = obs(
        &p,
        vec![sandbox(true)],
        vec![
            exited("proxy", 0, 1, 3),
            exited("setup", 0, 0, 2),
            running("app", 0),
        ],
        4,
    );
    assert_eq!(plan(&o), vec![start("proxy", 1)]);
    // the main container finished: the sidecar is stopped, the pod succeeds
    let o = obs(
        &p,
        vec![sandbox(true)],
        vec![
            running("proxy", 0),
            exited("setup", 0, 0, 2),
            exited("app", 0, 0, 5),
        ],
        6,
    );
    assert_eq!(
        plan(&o),
        vec![Op::StopContainer {
            id: "proxy-0".into(),
            grace_secs: 30
        }]
    );
    assert_eq!(status(&o).phase.as_deref(), Some("Succeeded"));
    // killed by the stop, the sidecar's exit code does not fail the pod
    let o = obs(
        &p,
        vec![sandbox(true)],
        vec![
            exited("proxy", 0, 137, 7),
            exited("setup", 0, 0, 2),
            exited("app", 0, 0, 5),
        ],
        8,
    );
    assert!(plan(&o).is_empty());
    assert_eq!(status(&o).phase.as_deref(), Some("Succeeded"));
}

#[test]
fn active_deadline_fails_the_pod_and_stops_its_containers() {
    let mut p = pod("Always", &[], &["app"]);
    p.spec.as_mut().unwrap().active_deadline_seconds = Some(10);
    p.status = Some(PodStatus {
        start_time: Some(Time(ts(0))),
        ..Default::default()
    });
    let early = obs(&p, vec![sandbox(true)], vec![running("app", 0)], 5);
    assert!(plan(&early).is_empty());
    let late = obs(&p, vec![sandbox(true)], vec![running("app", 0)], 10);
    assert_eq!(
        plan(&late),
        vec![Op::StopContainer {
            id: "app-0".into(),
            grace_secs: 30
        }]
    );
    let st = status(&late);
    assert_eq!(st.phase.as_deref(), Some("Failed"));
    assert_eq!(st.reason.as_deref(), Some("DeadlineExceeded"));
    // nothing restarts afterwards
    let stopped = obs(&p, vec![sandbox(true)], vec![exited("app", 0, 137, 11)], 12);
    assert!(plan(&stopped).is_empty());
}

#[test]
fn entering_a_back_off_or_the_deadline_is_an_event() {
    let mut p = pod("Always", &[], &["app"]);
    let o = obs(&p, vec![sandbox(true)], vec![exited("app", 1, 1, 10)], 11);
    let st = status(&o);
    let ev = transition_events(&p, &st);
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].2, "BackOff");
    assert_eq!(
        ev[0].3,
        "Back-off restarting failed container app in pod p_default(u1)"
    );
    // already reported: no new event
    p.status = Some(st.clone());
    assert!(transition_events(&p, &st).is_empty());
}
