//! Container lifecycle hooks (`postStart`, `preStop`): exec through CRI, httpGet against the
//! pod, or sleep, with the kubelet's failure messages (`FailedPostStartHook`,
//! `FailedPreStopHook` events).

use crate::cri::Cri;
use crate::podsync::security::pod_ref;
use k8s_openapi::api::core::v1::{Container, LifecycleHandler, Pod};
use std::time::Duration;

/// Which hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// Right after the container started.
    PostStart,
    /// Before the container is stopped.
    PreStop,
}

impl Hook {
    /// The container's handler for this hook.
    pub fn of(self, c: &Container) -> Option<&LifecycleHandler> {
        let l = c.lifecycle.as_ref()?;
        match self {
            Hook::PostStart => l.post_start.as_ref(),
            Hook::PreStop => l.pre_stop.as_ref(),
        }
    }

    /// The event reason when it fails.
    pub fn failure_reason(self) -> &'static str {
        match self {
            Hook::PostStart => "FailedPostStartHook",
            Hook::PreStop => "FailedPreStopHook",
        }
    }
}

/// Runs `hook` of container `c` (CRI id `id`) of `pod` for at most `limit`; `Err` is the
/// event message.
pub async fn run(
    cri: &mut Cri,
    hook: Hook,
    pod: &Pod,
    c: &Container,
    id: &str,
    pod_ip: &str,
    limit: Duration,
) -> Result<(), String> {
    let Some(h) = hook.of(c) else { return Ok(()) };
    let who = format!("for Container {:?} in Pod {:?}", c.name, pod_ref(pod));
    if let Some(e) = &h.exec {
        let cmd = e.command.clone().unwrap_or_default();
        let secs = i64::try_from(limit.as_secs()).unwrap_or(i64::MAX).max(1);
        return crate::prober::exec_action(cri, id, &cmd, secs)
            .await
            .map_err(|output| {
                format!(
                    "Exec lifecycle hook ([{}]) {who} failed - error: command '{}' exited with a non-zero code, message: {output:?}",
                    cmd.join(" "),
                    cmd.join(" ")
                )
            });
    }
    if let Some(g) = &h.http_get {
        let path = g.path.clone().unwrap_or_default();
        return crate::prober::http_get_action(g, c, pod_ip, limit)
            .await
            .map_err(|e| format!("HTTP lifecycle hook ({path}) {who} failed - error: {e}"));
    }
    if let Some(s) = &h.sleep {
        let secs = u64::try_from(s.seconds).unwrap_or(0);
        tokio::time::sleep(Duration::from_secs(secs).min(limit)).await;
        return Ok(());
    }
    Ok(())
}
