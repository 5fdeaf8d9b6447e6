//! The Job's pod failure policy (upstream `pod_failure_policy.go`) and success policy
//! (`success_policy.go`).

use crate::cached_pod::{CachedContainerStatus, CachedPod};
use k8s_openapi::api::batch::v1::{PodFailurePolicy, SuccessPolicy};

use super::indexed::Intervals;

/// What a matched rule asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `FailJob`: fail the whole Job.
    FailJob,
    /// `FailIndex`: fail the pod's index (backoffLimitPerIndex).
    FailIndex,
    /// `Ignore`: don't count the failure.
    Ignore,
    /// `Count`: count it as usual.
    Count,
}

/// The outcome of matching one failed pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Match {
    /// The Job failure message when a `FailJob` rule matched.
    pub fail_job_message: Option<String>,
    /// Whether the failure counts toward backoffLimit.
    pub count_failed: bool,
    /// The matched rule's action.
    pub action: Option<Action>,
}

impl Match {
    const NONE: Match = Match {
        fail_job_message: None,
        count_failed: true,
        action: None,
    };
}

fn terminated_non_zero<'a>(
    statuses: Option<&'a Vec<CachedContainerStatus>>,
    container: Option<&str>,
    op: &str,
    values: &[i32],
) -> Option<(&'a str, i32)> {
    statuses.into_iter().flatten().find_map(|cs| {
        let code = cs.state.as_ref()?.terminated.as_ref()?.exit_code;
        if container.is_some_and(|c| c != cs.name) || code == 0 {
            return None;
        }
        let hit = match op {
            "In" => values.contains(&code),
            "NotIn" => !values.contains(&code),
            _ => false,
        };
        hit.then_some((cs.name.as_str(), code))
    })
}

/// Upstream `matchPodFailurePolicy` for a failed pod: the first rule whose exit codes
/// (containers first, then init containers) or pod conditions match.
pub fn match_pod_failure_policy(policy: Option<&PodFailurePolicy>, pod: &CachedPod) -> Match {
    let Some(policy) = policy else {
        return Match::NONE;
    };
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let status = pod.status.as_ref();
    for (index, rule) in policy.rules.iter().enumerate() {
        let action = match rule.action.as_str() {
            "FailJob" => Action::FailJob,
            "FailIndex" => Action::FailIndex,
            "Ignore" => Action::Ignore,
            "Count" => Action::Count,
            _ => continue,
        };
        let message = if let Some(req) = rule.on_exit_codes.as_ref() {
            let container = req.container_name.as_deref();
            let hit = terminated_non_zero(
                status.and_then(|s| s.container_statuses.as_ref()),
                container,
                &req.operator,
                &req.values,
            )
            .or_else(|| {
                terminated_non_zero(
                    status.and_then(|s| s.init_container_statuses.as_ref()),
                    container,
                    &req.operator,
                    &req.values,
                )
            });
            let Some((c, code)) = hit else { continue };
            format!(
                "Container {c} for pod {ns}/{name} failed with exit code {code} matching {} rule at index {index}",
                rule.action
            )
        } else if let Some(patterns) = rule.on_pod_conditions.as_ref() {
            let hit = status
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .find(|c| {
                    patterns.iter().any(|p| {
                        let want = if p.status.is_empty() {
                            "True"
                        } else {
                            p.status.as_str()
                        };
                        p.type_ == c.type_ && want == c.status
                    })
                });
            let Some(c) = hit else { continue };
            format!(
                "Pod {ns}/{name} has condition {} matching {} rule at index {index}",
                c.type_, rule.action
            )
        } else {
            continue;
        };
        return match action {
            Action::Ignore => Match {
                fail_job_message: None,
                count_failed: false,
                action: Some(action),
            },
            Action::Count | Action::FailIndex => Match {
                fail_job_message: None,
                count_failed: true,
                action: Some(action),
            },
            Action::FailJob => Match {
                fail_job_message: Some(message),
                count_failed: true,
                action: Some(action),
            },
        };
    }
    Match::NONE
}

/// Upstream `matchSuccessPolicy`: the message `Matched rules at index N` of the first rule
/// satisfied by the succeeded indexes.
pub fn match_success_policy(
    policy: Option<&SuccessPolicy>,
    completions: i32,
    succeeded: &Intervals,
) -> Option<String> {
    let policy = policy?;
    if succeeded.total() == 0 {
        return None;
    }
    for (index, rule) in policy.rules.iter().enumerate() {
        let matched = if let Some(required) = rule.succeeded_indexes.as_deref() {
            let required = Intervals::parse(required, completions);
            if required.total() == 0 {
                continue;
            }
            let contains = required
                .indexes()
                .iter()
                .filter(|i| succeeded.has(**i))
                .count() as i32;
            contains == required.total() || rule.succeeded_count.is_some_and(|c| contains >= c)
        } else {
            rule.succeeded_count.is_some_and(|c| succeeded.total() >= c)
        };
        if matched {
            return Some(format!("Matched rules at index {index}"));
        }
    }
    None
}
