//! The pure part of namespace deletion: from what is left in a terminating namespace, the
//! conditions upstream's namespace controller reports and whether the namespace can be finalized.

use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The finalizer the namespace controller owns (in `spec.finalizers`).
pub const FINALIZER: &str = "kubernetes";

/// Objects of one resource still in the namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Remaining {
    /// Resource name as upstream prints it: `<resource>.<group>` (`configmaps.` for core).
    pub resource: String,
    /// How many objects are left.
    pub count: usize,
    /// Finalizers on the objects left, with how many objects carry each.
    pub finalizers: BTreeMap<String, usize>,
}

/// What one pass of the deletion saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// Groups whose discovery failed.
    pub discovery_failures: Vec<String>,
    /// Resources whose content could not be deleted, with the error.
    pub delete_failures: Vec<String>,
    /// What is left after deleting.
    pub remaining: Vec<Remaining>,
}

/// What to write back.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// `status.conditions` of the namespace (without lastTransitionTime, set by the driver).
    pub conditions: Vec<Value>,
    /// True when nothing is left: remove the `kubernetes` finalizer (PUT .../finalize).
    pub finalize: bool,
}

fn condition(
    ty: &str,
    problem: bool,
    reason_ok: &str,
    msg_ok: &str,
    reason_bad: &str,
    msg_bad: String,
) -> Value {
    if problem {
        json!({"type": ty, "status": "True", "reason": reason_bad, "message": msg_bad})
    } else {
        json!({"type": ty, "status": "False", "reason": reason_ok, "message": msg_ok})
    }
}

/// Computes the conditions and whether to finalize, with upstream's reasons and messages.
pub fn plan(obs: &Observed) -> Plan {
    let left: Vec<&Remaining> = obs.remaining.iter().filter(|r| r.count > 0).collect();
    let mut resources: Vec<String> = left
        .iter()
        .map(|r| format!("{} has {} resource instances", r.resource, r.count))
        .collect();
    resources.sort();
    let mut finalizers: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &left {
        for (f, n) in &r.finalizers {
            *finalizers.entry(f).or_default() += n;
        }
    }
    let finalizer_text: Vec<String> = finalizers
        .iter()
        .map(|(f, n)| format!("{f} in {n} resource instances"))
        .collect();
    let conditions = vec![
        condition(
            "NamespaceDeletionDiscoveryFailure",
            !obs.discovery_failures.is_empty(),
            "ResourcesDiscovered",
            "All resources successfully discovered",
            "DiscoveryFailed",
            format!(
                "Discovery failed for some groups, {} failing: {}",
                obs.discovery_failures.len(),
                obs.discovery_failures.join(", ")
            ),
        ),
        condition(
            "NamespaceDeletionGroupVersionParsingFailure",
            false,
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed",
            "",
            String::new(),
        ),
        condition(
            "NamespaceDeletionContentFailure",
            !obs.delete_failures.is_empty(),
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization",
            "ContentDeletionFailed",
            format!(
                "Failed to delete all resource types, {} remaining: {}",
                obs.delete_failures.len(),
                obs.delete_failures.join(", ")
            ),
        ),
        condition(
            "NamespaceContentRemaining",
            !left.is_empty(),
            "ContentRemoved",
            "All content successfully removed",
            "SomeResourcesRemain",
            format!("Some resources are remaining: {}", resources.join(", ")),
        ),
        condition(
            "NamespaceFinalizersRemaining",
            !finalizers.is_empty(),
            "ContentHasNoFinalizers",
            "All content-preserving finalizers finished",
            "SomeFinalizersRemain",
            format!(
                "Some content in the namespace has finalizers remaining: {}",
                finalizer_text.join(", ")
            ),
        ),
    ];
    Plan {
        conditions,
        finalize: left.is_empty() && obs.discovery_failures.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_namespace_is_finalized_with_all_clear_conditions() {
        let p = plan(&Observed::default());
        assert!(p.finalize);
        assert!(p.conditions.iter().all(|c| c["status"] == "False"));
        assert_eq!(p.conditions[3]["reason"], "ContentRemoved");
    }

    #[test]
    fn remaining_content_and_finalizers_are_reported_like_upstream() {
        let obs = Observed {
            remaining: vec![
                Remaining {
                    resource: "pods.".into(),
                    count: 2,
                    finalizers: BTreeMap::new(),
                },
                Remaining {
                    resource: "configmaps.".into(),
                    count: 1,
                    finalizers: BTreeMap::from([("example.com/hold".to_string(), 1)]),
                },
                Remaining {
                    resource: "secrets.".into(),
                    count: 0,
                    finalizers: BTreeMap::new(),
                },
            ],
            ..Default::default()
        };
        let p = plan(&obs);
        assert!(!p.finalize);
        assert_eq!(
            p.conditions[3]["message"],
            "Some resources are remaining: configmaps. has 1 resource instances, pods. has 2 resource instances"
        );
        assert_eq!(
            p.conditions[4]["message"],
            "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
        );
    }

    #[test]
    fn discovery_failures_block_finalization() {
        let p = plan(&Observed {
            discovery_failures: vec!["metrics.k8s.io/v1beta1".into()],
            ..Default::default()
        });
        assert!(!p.finalize);
        assert_eq!(p.conditions[0]["reason"], "DiscoveryFailed");
    }
}
