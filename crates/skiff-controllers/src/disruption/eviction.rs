//! The budget side of the eviction subresource (upstream
//! `pkg/registry/core/pod/storage/eviction.go`), as pure decisions for the API server: which
//! budgets cover a pod, whether the pod may go, and the budget status to write first.
//!
//! # Example
//!
//! ```no_run
//! use skiff_controllers::cached_pod::CachedPod;
//! use k8s_openapi::api::policy::v1::PodDisruptionBudget;
//! use skiff_controllers::disruption::eviction::{decide, Decision};
//!
//! fn evict(pod: &CachedPod, pdbs: &[PodDisruptionBudget], now: skiff_controllers::Timestamp) {
//!     let pdbs: Vec<&PodDisruptionBudget> = pdbs.iter().collect();
//!     match decide(pod, &pdbs, now) {
//!         Decision::Delete { .. } => { /* delete the pod */ }
//!         Decision::DecrementThenDelete { pdb, status } => {
//!             /* PUT pdb status (409 → decide again), then delete the pod */
//!         }
//!         Decision::Denied(denied) => { /* answer 429/403 with denied.message() */ }
//!         Decision::MultipleBudgets => { /* answer 500 */ }
//!     }
//! }
//! ```

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::status::{selects, update_disruption_allowed_condition};
use crate::cached_pod::CachedPod;
use crate::pods;
use crate::Timestamp;

/// Upstream `policyv1.DisruptionBudgetCause`: the `details.causes[].reason` of a denial.
pub const DISRUPTION_BUDGET_CAUSE: &str = "DisruptionBudget";

/// The message of every 429 denial.
pub const EVICTION_DENIED_MESSAGE: &str =
    "Cannot evict pod as it would violate the pod's disruption budget.";

/// Upstream's 500 message when several budgets select the pod.
pub const MULTIPLE_BUDGETS_MESSAGE: &str =
    "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.";

/// Upstream `MaxDisruptedPodSize`: past this many unconfirmed evictions a budget refuses more.
pub const MAX_DISRUPTED_POD_SIZE: usize = 2000;

/// Upstream `policyv1.AlwaysAllow`: not-ready pods may always be evicted.
pub const ALWAYS_ALLOW: &str = "AlwaysAllow";
/// Upstream `policyv1.IfHealthyBudget` (the default): not-ready pods may be evicted only while
/// the budget has its desired healthy pods.
pub const IF_HEALTHY_BUDGET: &str = "IfHealthyBudget";

/// Why the eviction subresource refuses, as the API error it answers with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvictionDenied {
    /// 429 TooManyRequests with one `DisruptionBudget` cause.
    #[error("{message}")]
    TooManyRequests {
        /// [`EVICTION_DENIED_MESSAGE`].
        message: String,
        /// The cause's message, e.g. `The disruption budget web needs 2 healthy pods and has 2
        /// currently`.
        cause: String,
        /// `details.retryAfterSeconds` (0 leaves it unset).
        retry_after_seconds: i32,
    },
    /// 403 Forbidden (a negative allowance, or too many unconfirmed evictions).
    #[error("{message}")]
    Forbidden {
        /// The full message, e.g. `poddisruptionbudget.policy "web" is forbidden: pdb
        /// disruptions allowed is negative`.
        message: String,
    },
}

impl EvictionDenied {
    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            EvictionDenied::TooManyRequests { .. } => 429,
            EvictionDenied::Forbidden { .. } => 403,
        }
    }

    /// The Status message.
    pub fn message(&self) -> &str {
        match self {
            EvictionDenied::TooManyRequests { message, .. }
            | EvictionDenied::Forbidden { message } => message,
        }
    }
}

/// Upstream `createTooManyRequestsError`: the budget's status is older than its spec (or a
/// delete with a resourceVersion precondition conflicted); retry after 10 seconds.
pub fn still_being_processed(pdb_name: &str) -> EvictionDenied {
    EvictionDenied::TooManyRequests {
        message: EVICTION_DENIED_MESSAGE.into(),
        cause: format!("The disruption budget {pdb_name} is still being processed by the server."),
        retry_after_seconds: 10,
    }
}

fn forbidden(pdb_name: &str, why: &str) -> EvictionDenied {
    EvictionDenied::Forbidden {
        message: format!("poddisruptionbudget.policy {pdb_name:?} is forbidden: {why}"),
    }
}

/// Upstream `getPodDisruptionBudgets`: the budgets of the pod's namespace whose selector
/// selects it (an empty selector selects every pod, a null or invalid one none).
pub fn matching_pdbs<'a>(
    pod: &CachedPod,
    pdbs: &[&'a PodDisruptionBudget],
) -> Vec<&'a PodDisruptionBudget> {
    pdbs.iter()
        .copied()
        .filter(|pdb| selects(pdb, pod))
        .collect()
}

/// Upstream `canIgnorePDB`: terminal, pending and already-deleting pods are deleted without
/// consulting budgets.
pub fn can_ignore_pdb(pod: &CachedPod) -> bool {
    matches!(
        pods::phase(pod),
        pods::PHASE_SUCCEEDED | pods::PHASE_FAILED | pods::PHASE_PENDING
    ) || pod.metadata.deletion_timestamp.is_some()
}

/// Upstream `shouldEnforceResourceVersion`: when a pod is deleted without decrementing a
/// budget, the delete carries the pod's resourceVersion as precondition unless the pod is
/// terminal or already deleting (so it cannot turn ready in between).
pub fn should_enforce_resource_version(pod: &CachedPod) -> bool {
    !pods::is_terminal(pod) && pod.metadata.deletion_timestamp.is_none()
}

/// Upstream `checkAndDecrement`: the budget's status after granting one eviction of
/// `pod_name` at `now` (`disruptionsAllowed` minus one, the condition flipped when it reaches
/// zero, `disruptedPods[pod_name] = now`), or why it cannot be granted.
pub fn check_eviction(
    pdb: &PodDisruptionBudget,
    pod_name: &str,
    now: Timestamp,
) -> Result<PodDisruptionBudgetStatus, EvictionDenied> {
    let name = pdb.metadata.name.as_deref().unwrap_or_default();
    let mut st = pdb.status.clone().unwrap_or_default();
    if st.observed_generation.unwrap_or(0) < pdb.metadata.generation.unwrap_or(0) {
        return Err(still_being_processed(name));
    }
    if st.disruptions_allowed < 0 {
        return Err(forbidden(name, "pdb disruptions allowed is negative"));
    }
    if st.disrupted_pods.as_ref().map_or(0, |m| m.len()) > MAX_DISRUPTED_POD_SIZE {
        return Err(forbidden(
            name,
            "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
        ));
    }
    if st.disruptions_allowed == 0 {
        return Err(EvictionDenied::TooManyRequests {
            message: EVICTION_DENIED_MESSAGE.into(),
            cause: format!(
                "The disruption budget {name} needs {} healthy pods and has {} currently",
                st.desired_healthy, st.current_healthy
            ),
            retry_after_seconds: 0,
        });
    }
    st.disruptions_allowed -= 1;
    if st.disruptions_allowed == 0 {
        update_disruption_allowed_condition(&mut st, now);
    }
    st.disrupted_pods
        .get_or_insert_with(Default::default)
        .insert(pod_name.to_string(), Time(now));
    Ok(st)
}

/// What the eviction subresource does with one request.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision<'a> {
    /// Delete the pod without touching a budget.
    Delete {
        /// Pass the pod's resourceVersion as a delete precondition (unless the client gave
        /// one); a conflict on a not-ready pod answers [`still_being_processed`].
        enforce_resource_version: bool,
    },
    /// Write `status` to `pdb` through its status subresource (its resourceVersion guards
    /// against concurrent evictions: on conflict, read it again and decide again), then delete
    /// the pod.
    DecrementThenDelete {
        /// The budget to update.
        pdb: &'a PodDisruptionBudget,
        /// Its new status (skip the write on dry-run).
        status: Box<PodDisruptionBudgetStatus>,
    },
    /// Refuse the eviction.
    Denied(EvictionDenied),
    /// Answer 500 with [`MULTIPLE_BUDGETS_MESSAGE`].
    MultipleBudgets,
}

/// Upstream `EvictionREST.Create` after the pod was read: terminal, pending and deleting pods
/// go at once; a pod no budget covers goes; a pod that is not Ready goes without consuming the
/// budget when the policy is `AlwaysAllow`, or (`IfHealthyBudget`, the default) while
/// `currentHealthy >= desiredHealthy > 0`; otherwise the budget must allow a disruption.
pub fn decide<'a>(
    pod: &CachedPod,
    pdbs: &[&'a PodDisruptionBudget],
    now: Timestamp,
) -> Decision<'a> {
    if can_ignore_pdb(pod) {
        return Decision::Delete {
            enforce_resource_version: should_enforce_resource_version(pod),
        };
    }
    let matching = matching_pdbs(pod, pdbs);
    let pdb = match matching.as_slice() {
        [] => {
            return Decision::Delete {
                enforce_resource_version: false,
            }
        }
        [one] => *one,
        _ => return Decision::MultipleBudgets,
    };
    if !pods::is_ready(pod) {
        let policy = pdb
            .spec
            .as_ref()
            .and_then(|s| s.unhealthy_pod_eviction_policy.as_deref());
        let st = pdb.status.clone().unwrap_or_default();
        if policy == Some(ALWAYS_ALLOW)
            || (st.current_healthy >= st.desired_healthy && st.desired_healthy > 0)
        {
            return Decision::Delete {
                enforce_resource_version: true,
            };
        }
    }
    let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
    match check_eviction(pdb, pod_name, now) {
        Ok(status) => Decision::DecrementThenDelete {
            pdb,
            status: Box::new(status),
        },
        Err(denied) => Decision::Denied(denied),
    }
}
