//! NodeAffinity: `spec.nodeSelector` and required node affinity as a filter, preferred node
//! affinity as a score.

use crate::framework::{
    ActionType, ClusterEvent, CycleState, EventResource, Filter, NodeScore, Plugin, PreFilter,
    PreFilterResult, PreScore, Score, Status,
};
use crate::labels::Selector;
use crate::plugins::default_normalize;
use crate::pod_info::PodInfo;
use crate::snapshot::{NodeInfo, Snapshot};
use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm, Pod};
use std::collections::BTreeSet;

/// The node-affinity filter and scorer (upstream `nodeaffinity.NodeAffinity`).
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeAffinity;

impl NodeAffinity {
    /// Upstream plugin name.
    pub const NAME: &'static str = "NodeAffinity";
    /// Upstream `ErrReasonPod`.
    pub const ERR_REASON_POD: &'static str = "node(s) didn't match Pod's node affinity/selector";
    /// Upstream `errReasonConflict`.
    pub const ERR_REASON_CONFLICT: &'static str = "pod affinity terms conflict";
}

/// The only field node-affinity `matchFields` can address.
const OBJECT_NAME_FIELD: &str = "metadata.name";

#[derive(Clone, Debug)]
struct FieldRequirement {
    key: String,
    value: String,
    equal: bool,
}

/// One parsed node-selector term (upstream `nodeSelectorTerm`).
#[derive(Clone, Debug)]
struct Term {
    labels: Option<Selector>,
    fields: Option<Vec<FieldRequirement>>,
    invalid: bool,
}

impl Term {
    fn parse(t: &NodeSelectorTerm) -> Option<Term> {
        let exprs = t.match_expressions.as_deref().unwrap_or(&[]);
        let fields = t.match_fields.as_deref().unwrap_or(&[]);
        if exprs.is_empty() && fields.is_empty() {
            // An empty term selects no objects.
            return None;
        }
        let mut term = Term {
            labels: None,
            fields: None,
            invalid: false,
        };
        if !exprs.is_empty() {
            match Selector::from_node_requirements(exprs) {
                Ok(s) => term.labels = Some(s),
                Err(_) => term.invalid = true,
            }
        }
        if !fields.is_empty() {
            match parse_fields(fields) {
                Some(f) => term.fields = Some(f),
                None => term.invalid = true,
            }
        }
        Some(term)
    }

    fn matches(&self, node: &NodeInfo) -> bool {
        if self.invalid {
            return false;
        }
        if let Some(l) = &self.labels {
            if !l.matches(node.labels()) {
                return false;
            }
        }
        if let Some(fields) = &self.fields {
            if !node.name().is_empty() {
                let get = |k: &str| {
                    if k == OBJECT_NAME_FIELD {
                        node.name()
                    } else {
                        ""
                    }
                };
                if !fields.iter().all(|f| (get(&f.key) == f.value) == f.equal) {
                    return false;
                }
            }
        }
        true
    }
}

/// Upstream `NodeSelectorRequirementsAsFieldSelector`: `In`/`NotIn` with exactly one value.
fn parse_fields(reqs: &[NodeSelectorRequirement]) -> Option<Vec<FieldRequirement>> {
    reqs.iter()
        .map(|r| {
            let values = r.values.as_deref().unwrap_or(&[]);
            let equal = match r.operator.as_str() {
                "In" => true,
                "NotIn" => false,
                _ => return None,
            };
            (values.len() == 1).then(|| FieldRequirement {
                key: r.key.clone(),
                value: values[0].clone(),
                equal,
            })
        })
        .collect()
}

/// `spec.nodeSelector` plus required node affinity (upstream `RequiredNodeAffinity`).
#[derive(Clone, Debug, Default)]
pub struct RequiredNodeAffinity {
    selector: Option<Selector>,
    terms: Option<Vec<Term>>,
}

impl RequiredNodeAffinity {
    /// Upstream `GetRequiredNodeAffinity`.
    pub fn of(pod: &Pod) -> Self {
        let spec = pod.spec.as_ref();
        let selector = spec
            .and_then(|s| s.node_selector.as_ref())
            .filter(|m| !m.is_empty())
            .map(Selector::from_map);
        let terms = spec
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|na| {
                na.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .map(|ns| {
                ns.node_selector_terms
                    .iter()
                    .filter_map(Term::parse)
                    .collect()
            });
        RequiredNodeAffinity { selector, terms }
    }

    /// A node selector alone (a PersistentVolume's `nodeAffinity.required`).
    pub fn of_selector(selector: &k8s_openapi::api::core::v1::NodeSelector) -> Self {
        RequiredNodeAffinity {
            selector: None,
            terms: Some(
                selector
                    .node_selector_terms
                    .iter()
                    .filter_map(Term::parse)
                    .collect(),
            ),
        }
    }

    /// Whether the node satisfies the selector and any one of the terms (parse errors never match).
    pub fn matches(&self, node: &NodeInfo) -> bool {
        if let Some(s) = &self.selector {
            if !s.matches(node.labels()) {
                return false;
            }
        }
        match &self.terms {
            None => true,
            Some(terms) => terms.iter().any(|t| t.matches(node)),
        }
    }
}

#[derive(Clone)]
struct PreFilterState(RequiredNodeAffinity);

#[derive(Clone)]
struct PreScoreState(Vec<(Term, i64)>);

/// Node names a pod's required terms pin it to through `metadata.name In`, if every term does.
fn pinned_node_names(terms: &[NodeSelectorTerm]) -> Option<BTreeSet<String>> {
    let mut all: Option<BTreeSet<String>> = None;
    for t in terms {
        let mut term_names: Option<BTreeSet<String>> = None;
        for r in t.match_fields.iter().flatten() {
            if r.key == OBJECT_NAME_FIELD && r.operator == "In" {
                let s: BTreeSet<String> = r.values.iter().flatten().cloned().collect();
                term_names = Some(match term_names {
                    None => s,
                    Some(prev) => prev.intersection(&s).cloned().collect(),
                });
            }
        }
        // A term without a name requirement makes every node eligible (terms are ORed).
        let names = term_names?;
        all.get_or_insert_with(BTreeSet::new).extend(names);
    }
    all
}

impl Plugin for NodeAffinity {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![ClusterEvent::new(
            EventResource::Node,
            ActionType::ADD.or(ActionType::UPDATE_NODE_LABEL),
        )]
    }
}

impl PreFilter for NodeAffinity {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _snapshot: &Snapshot,
    ) -> Result<PreFilterResult, Status> {
        let spec = pod.pod.spec.as_ref();
        let required = spec
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|na| {
                na.required_during_scheduling_ignored_during_execution
                    .as_ref()
            });
        let has_selector = spec.is_some_and(|s| s.node_selector.is_some());
        if required.is_none() && !has_selector {
            return Ok(PreFilterResult::Skip);
        }
        state.write(PreFilterState(RequiredNodeAffinity::of(&pod.pod)));
        let Some(required) = required.filter(|r| !r.node_selector_terms.is_empty()) else {
            return Ok(PreFilterResult::AllNodes);
        };
        match pinned_node_names(&required.node_selector_terms) {
            Some(names) if names.is_empty() => Err(Status::unresolvable(Self::ERR_REASON_CONFLICT)),
            Some(names) => Ok(PreFilterResult::Nodes(names)),
            None => Ok(PreFilterResult::AllNodes),
        }
    }
}

impl Filter for NodeAffinity {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let fits = match state.read::<PreFilterState>() {
            Some(s) => s.0.matches(node),
            None => RequiredNodeAffinity::of(&pod.pod).matches(node),
        };
        if fits {
            Status::success()
        } else {
            Status::unresolvable(Self::ERR_REASON_POD)
        }
    }
}

impl PreScore for NodeAffinity {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
        _snapshot: &Snapshot,
    ) -> Status {
        if nodes.is_empty() {
            return Status::success();
        }
        let preferred = pod
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|na| {
                na.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            });
        let Some(preferred) = preferred else {
            return Status::skip();
        };
        let mut terms = Vec::new();
        for p in preferred {
            if p.weight == 0 {
                continue;
            }
            if let Some(t) = Term::parse(&p.preference) {
                if t.invalid {
                    return Status::error(format!(
                        "invalid preferred node affinity term of pod {}",
                        pod.key()
                    ));
                }
                terms.push((t, i64::from(p.weight)));
            }
        }
        state.write(PreScoreState(terms));
        Status::success()
    }
}

impl Score for NodeAffinity {
    fn score(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let Some(s) = state.read::<PreScoreState>() else {
            return Ok(0);
        };
        Ok(s.0
            .iter()
            .filter(|(t, _)| t.matches(node))
            .map(|(_, w)| w)
            .sum())
    }

    fn normalize(
        &self,
        _state: &CycleState,
        _pod: &PodInfo,
        scores: &mut [NodeScore],
    ) -> Result<(), Status> {
        default_normalize(scores, false);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{node, pod, prefilter_and_filter, score_all};

    fn req(key: &str, op: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        }
    }

    fn term(
        exprs: Vec<NodeSelectorRequirement>,
        fields: Vec<NodeSelectorRequirement>,
    ) -> NodeSelectorTerm {
        NodeSelectorTerm {
            match_expressions: (!exprs.is_empty()).then_some(exprs),
            match_fields: (!fields.is_empty()).then_some(fields),
        }
    }

    fn nodes() -> Vec<k8s_openapi::api::core::v1::Node> {
        vec![
            node("a").label("disk", "ssd").label("cores", "8").build(),
            node("b").label("disk", "hdd").label("cores", "2").build(),
            node("c").build(),
        ]
    }

    fn fitting(p: &Pod) -> Vec<&'static str> {
        ["a", "b", "c"]
            .into_iter()
            .filter(|n| prefilter_and_filter(&NodeAffinity, p, &nodes(), &[], n).is_success())
            .collect()
    }

    #[test]
    fn node_selector_and_required_terms() {
        let cases: Vec<(Pod, Vec<&str>)> = vec![
            (pod("p").build(), vec!["a", "b", "c"]),
            (pod("p").node_selector("disk", "ssd").build(), vec!["a"]),
            (
                pod("p")
                    .required_node_terms(vec![
                        term(vec![req("disk", "In", &["hdd"])], vec![]),
                        term(vec![req("cores", "Gt", &["4"])], vec![]),
                    ])
                    .build(),
                vec!["a", "b"],
            ),
            (
                pod("p")
                    .required_node_terms(vec![term(vec![req("disk", "DoesNotExist", &[])], vec![])])
                    .build(),
                vec!["c"],
            ),
            (
                pod("p")
                    .required_node_terms(vec![term(vec![req("disk", "NotIn", &["ssd"])], vec![])])
                    .build(),
                vec!["b", "c"],
            ),
            // matchFields metadata.name NotIn
            (
                pod("p")
                    .required_node_terms(vec![term(
                        vec![],
                        vec![req("metadata.name", "NotIn", &["a"])],
                    )])
                    .build(),
                vec!["b", "c"],
            ),
            // an invalid term never matches; an empty term list matches nothing
            (
                pod("p")
                    .required_node_terms(vec![term(vec![req("disk", "In", &[])], vec![])])
                    .build(),
                vec![],
            ),
            (pod("p").required_node_terms(vec![]).build(), vec![]),
        ];
        for (p, want) in cases {
            assert_eq!(
                fitting(&p),
                want,
                "{:?}",
                p.spec.as_ref().map(|s| &s.affinity)
            );
        }
    }

    #[test]
    fn metadata_name_in_narrows_prefilter_and_conflicts_are_rejected() {
        let snap = Snapshot::new(&nodes(), &[]);
        let mut state = CycleState::new();
        let pinned = pod("p")
            .required_node_terms(vec![term(vec![], vec![req("metadata.name", "In", &["b"])])])
            .build();
        let r = NodeAffinity.pre_filter(&mut state, &PodInfo::new(pinned), &snap);
        assert_eq!(
            r,
            Ok(PreFilterResult::Nodes(BTreeSet::from(["b".to_string()])))
        );

        let conflict = pod("p")
            .required_node_terms(vec![term(
                vec![],
                vec![
                    req("metadata.name", "In", &["a"]),
                    req("metadata.name", "In", &["b"]),
                ],
            )])
            .build();
        let r = NodeAffinity.pre_filter(&mut state, &PodInfo::new(conflict), &snap);
        assert_eq!(
            r,
            Err(Status::unresolvable(NodeAffinity::ERR_REASON_CONFLICT))
        );

        let plain = pod("p").build();
        let r = NodeAffinity.pre_filter(&mut state, &PodInfo::new(plain), &snap);
        assert_eq!(r, Ok(PreFilterResult::Skip));
    }

    #[test]
    fn preferred_terms_score_by_weight() {
        let p = pod("p")
            .preferred_node_term(80, term(vec![req("disk", "In", &["ssd"])], vec![]))
            .preferred_node_term(20, term(vec![req("cores", "Exists", &[])], vec![]))
            .build();
        assert_eq!(
            score_all(&NodeAffinity, &p, &nodes(), &[]),
            vec![("a", 100), ("b", 20), ("c", 0)]
        );
    }
}
