//! Object builders and plugin harnesses for tests: `pod("web").cpu("100m")`,
//! `node("n1").cpu("4").taint(…)`, and one-call Filter/Score runners.

mod node;
mod pod;

pub use node::{node, NodeBuilder};
pub use pod::{pod, PodBuilder};

use crate::framework::{
    Code, CycleState, Filter, NodeScore, PreFilter, PreFilterResult, PreScore, Score, Status,
};
use crate::snapshot::{NodeInfo, Snapshot};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::BTreeMap;

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fn resource_list(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
        .collect()
}

fn node_in<'s>(snap: &'s Snapshot, name: &str) -> &'s NodeInfo {
    snap.get(name)
        .unwrap_or_else(|| panic!("test node {name:?} is not in the snapshot"))
}

/// Runs only a plugin's Filter for `pod` on node `node` of a fresh snapshot.
pub fn filter_only<F: Filter>(
    plugin: &F,
    pod: &Pod,
    nodes: &[Node],
    pods: &[Pod],
    node: &str,
) -> Status {
    let snap = Snapshot::new(nodes, pods);
    let info = snap.pod_info(pod);
    plugin.filter(&CycleState::new(), &info, node_in(&snap, node))
}

/// Runs a plugin's PreFilter then (unless rejected or skipped) its Filter.
pub fn prefilter_and_filter<P: PreFilter + Filter>(
    plugin: &P,
    pod: &Pod,
    nodes: &[Node],
    pods: &[Pod],
    node: &str,
) -> Status {
    let snap = Snapshot::new(nodes, pods);
    let info = snap.pod_info(pod);
    let mut state = CycleState::new();
    match plugin.pre_filter(&mut state, &info, &snap) {
        Err(st) => st,
        Ok(PreFilterResult::Skip) => Status::success(),
        Ok(PreFilterResult::Nodes(names)) if !names.contains(node) => Status::new(
            Code::UnschedulableAndUnresolvable,
            ["not in PreFilterResult"],
        ),
        Ok(_) => plugin.filter(&state, &info, node_in(&snap, node)),
    }
}

/// Runs PreScore, Score and normalization over every node of a snapshot.
pub fn score_all_in<P: PreScore + Score>(
    plugin: &P,
    pod: &Pod,
    snap: &Snapshot,
) -> Vec<(String, i64)> {
    let info = snap.pod_info(pod);
    let nodes: Vec<&NodeInfo> = snap.nodes().iter().collect();
    let mut state = CycleState::new();
    let st = plugin.pre_score(&mut state, &info, &nodes, snap);
    let mut scores: Vec<NodeScore> = nodes
        .iter()
        .map(|n| NodeScore {
            name: n.shared_name().clone(),
            score: if st.code() == Code::Skip {
                0
            } else {
                plugin.score(&state, &info, n).unwrap_or(i64::MIN)
            },
        })
        .collect();
    if st.code() != Code::Skip {
        let _ = plugin.normalize(&state, &info, &mut scores);
    }
    scores
        .into_iter()
        .map(|s| (s.name.to_string(), s.score))
        .collect()
}

/// Like [`score_all_in`] on a fresh snapshot, with node names borrowed from `nodes`.
pub fn score_all<'a, P: PreScore + Score>(
    plugin: &P,
    pod: &Pod,
    nodes: &'a [Node],
    pods: &[Pod],
) -> Vec<(&'a str, i64)> {
    let snap = Snapshot::new(nodes, pods);
    let scores = score_all_in(plugin, pod, &snap);
    nodes
        .iter()
        .filter_map(|n| n.metadata.name.as_deref())
        .zip(scores)
        .map(|(n, (_, s))| (n, s))
        .collect()
}
