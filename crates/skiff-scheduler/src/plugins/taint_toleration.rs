//! TaintToleration: keeps pods off nodes whose `NoSchedule`/`NoExecute` taints they do not
//! tolerate, and prefers nodes with fewer untolerated `PreferNoSchedule` taints.

use crate::framework::{
    ActionType, ClusterEvent, CycleState, EventResource, Filter, NodeScore, Plugin, PreScore,
    Score, Status,
};
use crate::plugins::default_normalize;
use crate::pod_info::PodInfo;
use crate::snapshot::{NodeInfo, Snapshot};
use k8s_openapi::api::core::v1::{Taint, Toleration};

/// The taint/toleration filter and scorer (upstream `tainttoleration.TaintToleration`).
#[derive(Clone, Copy, Debug, Default)]
pub struct TaintToleration;

impl TaintToleration {
    /// Upstream plugin name.
    pub const NAME: &'static str = "TaintToleration";
}

/// Upstream `Toleration.ToleratesTaint`.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    let effect = t.effect.as_deref().unwrap_or("");
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = t.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match t.operator.as_deref().unwrap_or("") {
        "" | "Equal" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        "Exists" => true,
        _ => false,
    }
}

/// Upstream `FindMatchingUntoleratedTaint`: the first taint passing `applies` that no
/// toleration tolerates.
pub fn find_untolerated<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
    applies: impl Fn(&Taint) -> bool,
) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|t| applies(t))
        .find(|taint| !tolerations.iter().any(|t| tolerates(t, taint)))
}

/// Upstream `DoNotScheduleTaintsFilterFunc`: `NoSchedule` and `NoExecute` taints.
pub fn do_not_schedule(t: &Taint) -> bool {
    t.effect == "NoSchedule" || t.effect == "NoExecute"
}

#[derive(Clone)]
struct PreScoreState(Vec<Toleration>);

impl Plugin for TaintToleration {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![
            ClusterEvent::new(
                EventResource::Node,
                ActionType::ADD.or(ActionType::UPDATE_NODE_TAINT),
            ),
            ClusterEvent::new(
                EventResource::UnscheduledPod,
                ActionType::UPDATE_POD_TOLERATION,
            ),
        ]
    }
}

impl Filter for TaintToleration {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        match find_untolerated(node.taints(), pod.tolerations(), do_not_schedule) {
            None => Status::success(),
            Some(t) => Status::unresolvable(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                t.key,
                t.value.as_deref().unwrap_or("")
            )),
        }
    }
}

impl PreScore for TaintToleration {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _nodes: &[&NodeInfo],
        _snapshot: &Snapshot,
    ) -> Status {
        let prefer: Vec<Toleration> = pod
            .tolerations()
            .iter()
            .filter(|t| {
                matches!(
                    t.effect.as_deref(),
                    None | Some("") | Some("PreferNoSchedule")
                )
            })
            .cloned()
            .collect();
        state.write(PreScoreState(prefer));
        Status::success()
    }
}

impl Score for TaintToleration {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let tolerations = match state.read::<PreScoreState>() {
            Some(s) => s.0.as_slice(),
            None => pod.tolerations(),
        };
        let n = node
            .taints()
            .iter()
            .filter(|t| t.effect == "PreferNoSchedule")
            .filter(|taint| !tolerations.iter().any(|t| tolerates(t, taint)))
            .count();
        Ok(n as i64)
    }

    fn normalize(
        &self,
        _state: &CycleState,
        _pod: &PodInfo,
        scores: &mut [NodeScore],
    ) -> Result<(), Status> {
        default_normalize(scores, true);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::testing::{filter_only, node, pod, score_all};

    fn tol(key: &str, op: &str, value: &str, effect: &str) -> Toleration {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Toleration {
            key: opt(key),
            operator: opt(op),
            value: opt(value),
            effect: opt(effect),
            toleration_seconds: None,
        }
    }

    fn taint(key: &str, value: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: (!value.is_empty()).then(|| value.to_string()),
            effect: effect.into(),
            time_added: None,
        }
    }

    #[test]
    fn toleration_matching_table() {
        let t = taint("dedicated", "gpu", "NoSchedule");
        let cases = [
            (tol("dedicated", "Equal", "gpu", "NoSchedule"), true),
            (tol("dedicated", "", "gpu", ""), true),
            (tol("dedicated", "Exists", "", ""), true),
            (tol("", "Exists", "", ""), true),
            (tol("dedicated", "Equal", "cpu", "NoSchedule"), false),
            (tol("dedicated", "Exists", "", "NoExecute"), false),
            (tol("other", "Exists", "", ""), false),
            (tol("dedicated", "Gt", "1", ""), false),
        ];
        for (tl, want) in cases {
            assert_eq!(tolerates(&tl, &t), want, "{tl:?}");
        }
    }

    #[test]
    fn filter_reports_the_first_untolerated_taint() {
        let nodes = [
            node("cp")
                .taint("node-role.kubernetes.io/control-plane", "", "NoSchedule")
                .build(),
            node("gpu")
                .taint("soft", "x", "PreferNoSchedule")
                .taint("dedicated", "gpu", "NoExecute")
                .build(),
        ];
        let plain = pod("p").build();
        let st = filter_only(&TaintToleration, &plain, &nodes, &[], "cp");
        assert_eq!(st.code(), Code::UnschedulableAndUnresolvable);
        assert_eq!(
            st.reasons(),
            ["node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"]
        );
        let st = filter_only(&TaintToleration, &plain, &nodes, &[], "gpu");
        assert_eq!(
            st.reasons(),
            ["node(s) had untolerated taint {dedicated: gpu}"]
        );
        let tolerant = pod("p")
            .toleration("dedicated", "Equal", "gpu", "NoExecute")
            .build();
        assert!(filter_only(&TaintToleration, &tolerant, &nodes, &[], "gpu").is_success());
    }

    #[test]
    fn score_prefers_fewer_untolerated_prefer_no_schedule_taints() {
        let nodes = [
            node("clean").build(),
            node("one").taint("a", "", "PreferNoSchedule").build(),
            node("two")
                .taint("a", "", "PreferNoSchedule")
                .taint("b", "", "PreferNoSchedule")
                .taint("hard", "", "NoSchedule")
                .build(),
        ];
        let p = pod("p").build();
        assert_eq!(
            score_all(&TaintToleration, &p, &nodes, &[]),
            vec![("clean", 100), ("one", 50), ("two", 0)]
        );
        let tolerates_a = pod("p").toleration("a", "Exists", "", "").build();
        assert_eq!(
            score_all(&TaintToleration, &tolerates_a, &nodes, &[]),
            vec![("clean", 100), ("one", 100), ("two", 0)]
        );
    }
}
