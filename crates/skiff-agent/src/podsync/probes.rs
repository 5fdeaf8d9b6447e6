//! PURE — the kubelet's prober bookkeeping: when a container's startup, liveness and
//! readiness probes are due, how results accumulate against `successThreshold` and
//! `failureThreshold`, and what they mean for the container (started, ready, to be killed).
//! Running a probe (exec, HTTP, TCP, gRPC) is I/O and lives in the driver.

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// Which probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `startupProbe`: gates the others; failing it kills the container.
    Startup,
    /// `livenessProbe`: failing it kills the container.
    Liveness,
    /// `readinessProbe`: gates `ready`.
    Readiness,
}

impl Kind {
    /// Upstream's name in events (`Liveness probe failed: …`).
    pub fn title(self) -> &'static str {
        match self {
            Kind::Startup => "Startup",
            Kind::Liveness => "Liveness",
            Kind::Readiness => "Readiness",
        }
    }

    /// The container's probe of this kind.
    pub fn of(self, c: &Container) -> Option<&Probe> {
        match self {
            Kind::Startup => c.startup_probe.as_ref(),
            Kind::Liveness => c.liveness_probe.as_ref(),
            Kind::Readiness => c.readiness_probe.as_ref(),
        }
    }
}

/// One probe of one container instance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProbeState {
    /// Successes in a row.
    pub successes: i32,
    /// Failures in a row.
    pub failures: i32,
    /// When it last ran.
    pub last_run: Option<Timestamp>,
    /// The settled result: `None` until a threshold was reached.
    pub result: Option<bool>,
}

/// `periodSeconds` (default 10).
pub fn period(p: &Probe) -> i64 {
    i64::from(p.period_seconds.filter(|s| *s > 0).unwrap_or(10))
}

/// `timeoutSeconds` (default 1).
pub fn timeout(p: &Probe) -> i64 {
    i64::from(p.timeout_seconds.filter(|s| *s > 0).unwrap_or(1))
}

fn success_threshold(p: &Probe) -> i32 {
    p.success_threshold.filter(|s| *s > 0).unwrap_or(1)
}

fn failure_threshold(p: &Probe) -> i32 {
    p.failure_threshold.filter(|s| *s > 0).unwrap_or(3)
}

/// Whether the probe should run now, for a container running since `started`.
pub fn due(p: &Probe, st: &ProbeState, started: Timestamp, now: Timestamp) -> bool {
    let delay = SignedDuration::from_secs(i64::from(p.initial_delay_seconds.unwrap_or(0).max(0)));
    if now < started.checked_add(delay).unwrap_or(started) {
        return false;
    }
    match st.last_run {
        None => true,
        Some(last) => {
            // The kubelet's tick is the period; a probe never runs twice within it.
            let next = last
                .checked_add(SignedDuration::from_secs(period(p)))
                .unwrap_or(last);
            now >= next
        }
    }
}

/// The state after one run that `succeeded` (or not) at `now`.
pub fn record(p: &Probe, st: &ProbeState, succeeded: bool, now: Timestamp) -> ProbeState {
    let mut next = st.clone();
    next.last_run = Some(now);
    if succeeded {
        next.successes += 1;
        next.failures = 0;
        if next.successes >= success_threshold(p) {
            next.result = Some(true);
        }
    } else {
        next.failures += 1;
        next.successes = 0;
        if next.failures >= failure_threshold(p) {
            next.result = Some(false);
        }
    }
    next
}

/// What the probes say about one running container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The startup probe succeeded (or there is none): `started`, and the other probes run.
    pub started: bool,
    /// Ready: started, and the readiness probe succeeded (or there is none).
    pub ready: bool,
    /// The probe whose failure means the container must be killed and restarted.
    pub kill: Option<Kind>,
}

/// The verdict for container `c` given the state of each of its probes (`state(kind)`).
pub fn verdict(c: &Container, state: impl Fn(Kind) -> Option<ProbeState>) -> Verdict {
    let settled = |k: Kind| state(k).and_then(|s| s.result);
    let started = Kind::Startup.of(c).is_none() || settled(Kind::Startup) == Some(true);
    let kill = if Kind::Startup.of(c).is_some() && settled(Kind::Startup) == Some(false) {
        Some(Kind::Startup)
    } else if started && Kind::Liveness.of(c).is_some() && settled(Kind::Liveness) == Some(false) {
        Some(Kind::Liveness)
    } else {
        None
    };
    let ready = started
        && kill.is_none()
        && (Kind::Readiness.of(c).is_none() || settled(Kind::Readiness) == Some(true));
    Verdict {
        started,
        ready,
        kill,
    }
}

/// The probes of `c` to run now: the startup probe until it succeeded, then liveness and
/// readiness.
pub fn to_run(
    c: &Container,
    state: impl Fn(Kind) -> Option<ProbeState>,
    started: Timestamp,
    now: Timestamp,
) -> Vec<Kind> {
    let v = verdict(c, &state);
    let kinds: &[Kind] = if v.started {
        &[Kind::Liveness, Kind::Readiness]
    } else {
        &[Kind::Startup]
    };
    kinds
        .iter()
        .copied()
        .filter(|k| {
            k.of(c)
                .is_some_and(|p| due(p, &state(*k).unwrap_or_default(), started, now))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn container(spec: serde_json::Value) -> Container {
        let mut v = json!({"name": "c"});
        v.as_object_mut()
            .unwrap()
            .extend(spec.as_object().unwrap().clone());
        serde_json::from_value(v).unwrap()
    }

    fn probe(extra: serde_json::Value) -> serde_json::Value {
        let mut v = json!({"exec": {"command": ["true"]}});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    }

    #[test]
    fn probes_wait_for_the_initial_delay_then_run_once_per_period() {
        let p: Probe =
            serde_json::from_value(probe(json!({"initialDelaySeconds": 5, "periodSeconds": 3})))
                .unwrap();
        let fresh = ProbeState::default();
        assert!(!due(&p, &fresh, t(0), t(4)));
        assert!(due(&p, &fresh, t(0), t(5)));
        let ran = record(&p, &fresh, true, t(5));
        assert!(!due(&p, &ran, t(0), t(7)));
        assert!(due(&p, &ran, t(0), t(8)));
    }

    #[test]
    fn results_settle_at_their_thresholds() {
        let p: Probe =
            serde_json::from_value(probe(json!({"failureThreshold": 2, "successThreshold": 2})))
                .unwrap();
        let s = record(&p, &ProbeState::default(), false, t(0));
        assert_eq!(s.result, None);
        let s = record(&p, &s, false, t(10));
        assert_eq!(s.result, Some(false));
        let s = record(&p, &s, true, t(20));
        assert_eq!(
            s.result,
            Some(false),
            "one success is below successThreshold"
        );
        let s = record(&p, &s, true, t(30));
        assert_eq!(s.result, Some(true));
        // defaults: failureThreshold 3, successThreshold 1
        let d: Probe = serde_json::from_value(probe(json!({}))).unwrap();
        let s = (0..2).fold(ProbeState::default(), |s, i| record(&d, &s, false, t(i)));
        assert_eq!(s.result, None);
        assert_eq!(record(&d, &s, false, t(3)).result, Some(false));
    }

    #[test]
    fn readiness_gates_ready_and_liveness_failure_kills() {
        let c = container(json!({
            "readinessProbe": probe(json!({})),
            "livenessProbe": probe(json!({})),
        }));
        let none = |_| None;
        let v = verdict(&c, none);
        assert_eq!(
            v,
            Verdict {
                started: true,
                ready: false,
                kill: None
            }
        );
        let states: HashMap<Kind, ProbeState> = HashMap::from([
            (
                Kind::Readiness,
                ProbeState {
                    result: Some(true),
                    ..Default::default()
                },
            ),
            (
                Kind::Liveness,
                ProbeState {
                    result: Some(false),
                    ..Default::default()
                },
            ),
        ]);
        let v = verdict(&c, |k| states.get(&k).cloned());
        assert_eq!(v.kill, Some(Kind::Liveness));
        assert!(!v.ready);
        // no probes: ready once running
        let plain = container(json!({}));
        assert!(verdict(&plain, none).ready);
    }

    #[test]
    fn the_startup_probe_holds_the_others_back() {
        let c = container(json!({
            "startupProbe": probe(json!({})),
            "livenessProbe": probe(json!({})),
            "readinessProbe": probe(json!({})),
        }));
        assert_eq!(to_run(&c, |_| None, t(0), t(0)), vec![Kind::Startup]);
        let v = verdict(&c, |_| None);
        assert!(!v.started && !v.ready && v.kill.is_none());
        let started = ProbeState {
            result: Some(true),
            last_run: Some(t(0)),
            ..Default::default()
        };
        let states = HashMap::from([(Kind::Startup, started)]);
        assert_eq!(
            to_run(&c, |k| states.get(&k).cloned(), t(0), t(1)),
            vec![Kind::Liveness, Kind::Readiness]
        );
        let failed = HashMap::from([(
            Kind::Startup,
            ProbeState {
                result: Some(false),
                ..Default::default()
            },
        )]);
        assert_eq!(
            verdict(&c, |k| failed.get(&k).cloned()).kill,
            Some(Kind::Startup)
        );
    }
}
