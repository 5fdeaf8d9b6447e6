//! The DaemonSet planner (upstream `pkg/controller/daemon`): one pod per eligible node (node
//! name, nodeSelector, required affinity, taints against the pod's and the automatic daemon
//! tolerations), failed pods replaced, misplaced ones removed, rolling update within
//! maxUnavailable or maxSurge, revisions and status.

pub mod fit;
mod update;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{Node, PodTemplateSpec};

use crate::cached_pod::CachedPod;
use crate::event::Event;
use crate::ownership::{self, Selector};
use crate::pods;
use crate::statefulset::revision::{self, Parent, REVISION_LABEL};
use crate::Timestamp;

/// Field manager and event source (upstream's controller name).
pub const CONTROLLER_NAME: &str = "daemonset-controller";
/// Upstream `extensions.DaemonSetTemplateGenerationKey` (deprecated pod label).
pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";
/// Upstream `FailedDaemonPodReason`.
pub const FAILED_DAEMON_POD_REASON: &str = "FailedDaemonPod";

/// Everything the DaemonSet planner may look at, gathered from caches by the driver.
#[derive(Clone, Debug)]
pub struct Observed<'a> {
    /// The DaemonSet being reconciled.
    pub daemon_set: &'a DaemonSet,
    /// Every node of the cluster.
    pub nodes: Vec<&'a Node>,
    /// Pods of its namespace.
    pub pods: Vec<&'a CachedPod>,
    /// ControllerRevisions of its namespace.
    pub revisions: Vec<&'a ControllerRevision>,
    /// The time of this sync.
    pub now: Timestamp,
}

/// One thing the driver must do, in order; the planner never performs it.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Set our controller reference on these orphan pods.
    AdoptPods(Vec<String>),
    /// Remove our controller reference from these pods.
    ReleasePods(Vec<String>),
    /// Create this ControllerRevision (the template's).
    CreateRevision(Box<ControllerRevision>),
    /// Raise this existing revision's number (the template went back to it).
    UpdateRevision(Box<ControllerRevision>),
    /// Delete these pods.
    DeletePods(Vec<String>),
    /// Create these pods, each pinned to its node by required node affinity.
    CreatePods(Vec<PodTemplateSpec>),
    /// Delete these old revisions (revisionHistoryLimit).
    DeleteRevisions(Vec<String>),
    /// Write this status through the status subresource.
    Status(Box<DaemonSetStatus>),
    /// Record this event on the DaemonSet.
    Event(Event),
    /// Sync again after this long (a pod becomes available after minReadySeconds).
    RequeueAfter(Duration),
}

/// The working state of one sync.
pub(crate) struct Sync<'a> {
    pub(crate) ds: &'a DaemonSet,
    pub(crate) nodes: Vec<&'a Node>,
    /// Our live pods per target node name (pods being deleted included).
    pub(crate) by_node: BTreeMap<String, Vec<&'a CachedPod>>,
    /// The template with daemon tolerations, for scheduling decisions.
    pub(crate) sched_spec: k8s_openapi::api::core::v1::PodSpec,
    /// The current revision's hash (`controller-revision-hash` on up-to-date pods).
    pub(crate) hash: String,
    pub(crate) now: Timestamp,
}

impl Sync<'_> {
    pub(crate) fn min_ready(&self) -> i32 {
        self.ds
            .spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0)
    }

    /// Upstream `IsPodUpdated`: the pod carries the current hash (or template generation).
    pub(crate) fn is_updated(&self, p: &CachedPod) -> bool {
        let labels = p.metadata.labels.as_ref();
        let gen = self
            .ds
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("deprecated.daemonset.template.generation"));
        labels.and_then(|l| l.get(REVISION_LABEL)) == Some(&self.hash)
            || gen.is_some_and(|g| labels.and_then(|l| l.get(TEMPLATE_GENERATION_LABEL)) == Some(g))
    }

    pub(crate) fn node(&self, name: &str) -> Option<&Node> {
        self.nodes
            .iter()
            .copied()
            .find(|n| n.metadata.name.as_deref() == Some(name))
    }

    pub(crate) fn should_run(&self, node: &Node) -> (bool, bool) {
        fit::should_run(&self.sched_spec, node)
    }

    /// The pod to create on `node`.
    pub(crate) fn pod_for(&self, node: &str) -> PodTemplateSpec {
        let spec = self.ds.spec.clone().unwrap_or_default();
        let mut t = spec.template.clone();
        let m = t.metadata.get_or_insert_with(Default::default);
        let labels = m.labels.get_or_insert_with(BTreeMap::new);
        labels.insert(REVISION_LABEL.into(), self.hash.clone());
        if let Some(g) = self.ds.metadata.generation {
            labels.insert(TEMPLATE_GENERATION_LABEL.into(), g.to_string());
        }
        let ps = t.spec.get_or_insert_with(Default::default);
        fit::add_daemon_tolerations(ps);
        fit::pin_to_node(ps, node);
        let name = self.ds.metadata.name.clone().unwrap_or_default();
        let owner = ownership::controller_ref("apps/v1", "DaemonSet", &self.ds.metadata);
        pods::pod_template_for(&t, format!("{name}-"), owner)
    }
}

fn by_age(a: &&CachedPod, b: &&CachedPod) -> std::cmp::Ordering {
    let t = |p: &CachedPod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    t(a).cmp(&t(b))
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// Pure: one `syncDaemonSet` as steps.
pub fn plan(obs: &Observed<'_>) -> Vec<Step> {
    let ds = obs.daemon_set;
    let Some(spec) = ds.spec.as_ref() else {
        return Vec::new();
    };
    let Some(sel) = Selector::from_label_selector(&spec.selector) else {
        return Vec::new();
    };
    if sel.is_empty() {
        return Vec::new();
    }
    let mut steps = Vec::new();
    let claim = ownership::claim(&ds.metadata, &sel, &obs.pods);
    if !claim.adopt.is_empty() {
        steps.push(Step::AdoptPods(ownership::names(&claim.adopt)));
    }
    if !claim.release.is_empty() {
        steps.push(Step::ReleasePods(ownership::names(&claim.release)));
    }
    let uid = ds.metadata.uid.clone().unwrap_or_default();
    let owned_revs: Vec<&ControllerRevision> = obs
        .revisions
        .iter()
        .copied()
        .filter(|r| ownership::is_controlled_by(&r.metadata, &uid))
        .collect();
    let status = ds.status.clone().unwrap_or_default();
    let revs = revision::resolve_for(
        &Parent {
            meta: &ds.metadata,
            kind: "DaemonSet",
            template: &spec.template,
            collision_count: status.collision_count,
            current: None,
        },
        &owned_revs,
    );
    if let Some(r) = &revs.create {
        steps.push(Step::CreateRevision(Box::new(r.clone())));
    }
    if let Some(r) = &revs.renumber {
        steps.push(Step::UpdateRevision(Box::new(r.clone())));
    }
    let hash = revs
        .update
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(REVISION_LABEL).cloned())
        .unwrap_or_default();

    let mut by_node: BTreeMap<String, Vec<&CachedPod>> = BTreeMap::new();
    for p in &claim.claimed {
        if let Some(n) = p.spec.as_ref().and_then(fit::target_node) {
            by_node.entry(n).or_default().push(p);
        }
    }
    for v in by_node.values_mut() {
        v.sort_by(by_age);
    }
    let mut sched_spec = spec.template.spec.clone().unwrap_or_default();
    fit::add_daemon_tolerations(&mut sched_spec);
    let mut nodes = obs.nodes.clone();
    nodes.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let s = Sync {
        ds,
        nodes,
        by_node,
        sched_spec,
        hash,
        now: obs.now,
    };

    let (creates, deletes, events) = manage(&s);
    let acted = !creates.is_empty() || !deletes.is_empty();
    if !deletes.is_empty() {
        steps.push(Step::DeletePods(deletes));
    }
    if !creates.is_empty() {
        steps.push(Step::CreatePods(
            creates.iter().map(|n| s.pod_for(n)).collect(),
        ));
    }
    steps.extend(events.into_iter().map(Step::Event));
    let strategy = spec
        .update_strategy
        .as_ref()
        .and_then(|u| u.type_.as_deref())
        .unwrap_or("RollingUpdate");
    if !acted && strategy == "RollingUpdate" && ds.metadata.deletion_timestamp.is_none() {
        let (del, new_nodes) = s.rolling_update();
        if !del.is_empty() {
            steps.push(Step::DeletePods(del));
        }
        if !new_nodes.is_empty() {
            steps.push(Step::CreatePods(
                new_nodes.iter().map(|n| s.pod_for(n)).collect(),
            ));
        }
    }

    // History: keep revisionHistoryLimit old revisions, never one a pod still uses.
    let limit = spec
        .revision_history_limit
        .unwrap_or(revision::DEFAULT_REVISION_HISTORY_LIMIT)
        .max(0) as usize;
    let live: BTreeSet<String> = claim
        .claimed
        .iter()
        .filter_map(|p| p.metadata.labels.as_ref()?.get(REVISION_LABEL).cloned())
        .collect();
    let cur_name = revs.update.metadata.name.clone();
    let mut old: Vec<&ControllerRevision> = owned_revs
        .iter()
        .copied()
        .filter(|r| r.metadata.name != cur_name)
        .collect();
    old.sort_by_key(|r| r.revision);
    let mut to_kill = old.len().saturating_sub(limit);
    let mut doomed = Vec::new();
    for r in old {
        if to_kill == 0 {
            break;
        }
        let h = r
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(REVISION_LABEL));
        if h.is_some_and(|h| live.contains(h)) {
            continue;
        }
        doomed.push(r.metadata.name.clone().unwrap_or_default());
        to_kill -= 1;
    }
    if !doomed.is_empty() {
        steps.push(Step::DeleteRevisions(doomed));
    }

    let st = s.status(revs.collision_count);
    if normalized(status) != st {
        steps.push(Step::Status(Box::new(st)));
    }
    let min_ready = s.min_ready();
    if min_ready > 0 {
        if let Some(secs) = claim
            .claimed
            .iter()
            .filter_map(|p| pods::seconds_until_available(p, min_ready, obs.now))
            .min()
        {
            steps.push(Step::RequeueAfter(Duration::from_secs(secs.unsigned_abs())));
        }
    }
    steps
}

/// Upstream `manage` / `podsShouldBeOnNode`: nodes needing a pod, pods to delete (failed,
/// succeeded, duplicates, misplaced, on vanished nodes), and events.
fn manage(s: &Sync<'_>) -> (Vec<String>, Vec<String>, Vec<Event>) {
    let (mut creates, mut deletes, mut events) = (Vec::new(), Vec::new(), Vec::new());
    let surge = s.max_surge_unavailable().0 > 0;
    let deleting = s.ds.metadata.deletion_timestamp.is_some();
    for node in &s.nodes {
        let name = node.metadata.name.clone().unwrap_or_default();
        let (should_run, should_continue) = s.should_run(node);
        let daemon_pods = s.by_node.get(&name).cloned().unwrap_or_default();
        if should_run && daemon_pods.is_empty() {
            if !deleting {
                creates.push(name);
            }
            continue;
        }
        if should_continue {
            let mut running: Vec<&CachedPod> = Vec::new();
            for p in daemon_pods
                .iter()
                .copied()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
            {
                match pods::phase(p) {
                    pods::PHASE_FAILED => {
                        let pn = p.metadata.name.clone().unwrap_or_default();
                        let ns = p.metadata.namespace.clone().unwrap_or_default();
                        events.push(Event::warning(
                            FAILED_DAEMON_POD_REASON,
                            format!("Found failed daemon pod {ns}/{pn} on node {name}, will try to kill it"),
                        ));
                        deletes.push(pn);
                    }
                    pods::PHASE_SUCCEEDED => {
                        deletes.push(p.metadata.name.clone().unwrap_or_default())
                    }
                    _ => running.push(p),
                }
            }
            if running.len() <= 1 {
                continue;
            }
            if !surge {
                deletes.extend(
                    running
                        .iter()
                        .skip(1)
                        .filter_map(|p| p.metadata.name.clone()),
                );
                continue;
            }
            let (mut oldest_new, mut oldest_old): (Option<&CachedPod>, Option<&CachedPod>) =
                (None, None);
            for p in running {
                let slot = if s.is_updated(p) {
                    &mut oldest_new
                } else {
                    &mut oldest_old
                };
                if slot.is_none() {
                    *slot = Some(p);
                } else {
                    deletes.push(p.metadata.name.clone().unwrap_or_default());
                }
            }
            if let (Some(new), Some(old)) = (oldest_new, oldest_old) {
                if !pods::is_ready(old) || pods::is_available(new, s.min_ready(), s.now) {
                    deletes.push(old.metadata.name.clone().unwrap_or_default());
                }
            }
        } else {
            deletes.extend(
                daemon_pods
                    .iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                    .filter_map(|p| p.metadata.name.clone()),
            );
        }
    }
    // Pods on nodes that no longer exist.
    for (node, pods_on) in &s.by_node {
        if s.node(node).is_none() {
            deletes.extend(
                pods_on
                    .iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                    .filter_map(|p| p.metadata.name.clone()),
            );
        }
    }
    (creates, deletes, events)
}

fn normalized(mut st: DaemonSetStatus) -> DaemonSetStatus {
    let z = |v: Option<i32>| v.filter(|x| *x != 0);
    st.number_available = z(st.number_available);
    st.number_unavailable = z(st.number_unavailable);
    st.updated_number_scheduled = z(st.updated_number_scheduled);
    st.observed_generation = st.observed_generation.filter(|g| *g != 0);
    if st.conditions.as_ref().is_some_and(Vec::is_empty) {
        st.conditions = None;
    }
    st
}

impl Sync<'_> {
    /// Upstream `updateDaemonSetStatus`.
    fn status(&self, collision_count: Option<i32>) -> DaemonSetStatus {
        let mut st = DaemonSetStatus {
            observed_generation: self.ds.metadata.generation,
            collision_count,
            conditions: self.ds.status.as_ref().and_then(|s| s.conditions.clone()),
            ..Default::default()
        };
        let (mut available, mut updated) = (0, 0);
        for node in &self.nodes {
            let name = node.metadata.name.clone().unwrap_or_default();
            let (should_run, _) = self.should_run(node);
            let live: Vec<&CachedPod> = self
                .by_node
                .get(&name)
                .into_iter()
                .flatten()
                .copied()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .collect();
            if should_run {
                st.desired_number_scheduled += 1;
                let Some(p) = live.first() else { continue };
                st.current_number_scheduled += 1;
                if pods::is_ready(p) {
                    st.number_ready += 1;
                    if pods::is_available(p, self.min_ready(), self.now) {
                        available += 1;
                    }
                }
                if self.is_updated(p) {
                    updated += 1;
                }
            } else if !live.is_empty() {
                st.number_misscheduled += 1;
            }
        }
        st.number_available = Some(available);
        st.updated_number_scheduled = Some(updated);
        st.number_unavailable = Some(st.desired_number_scheduled - available);
        normalized(st)
    }
}
