//! An immutable picture of the cluster for one scheduling cycle: a [`NodeInfo`] per node.
//!
//! Built from plain lists of objects (the driver's informer caches); pods count on a node
//! when `spec.nodeName` names it and they are not terminal (`Succeeded`/`Failed`). Pods
//! nominated to a node by preemption are kept aside, as upstream's nominator does.
//! [`schedule`](crate::schedule()) only reads it; a driver may instead keep one snapshot and
//! apply informer events with `set_node`/`remove_node`/`set_pod`/`remove_pod`/`assume`.

use crate::labels::Labels;
use crate::placed;
use crate::pod_info::{pod_priority, HostPort, PodInfo};
use crate::resource::Resources;
use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{
    ContainerImage, Namespace, Node, Pod, ReplicationController, Service, Taint,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// How many nodes hold an image and how big it is (upstream `ImageStateSummary`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImageStateSummary {
    /// Image size in bytes.
    pub size: i64,
    /// Number of nodes that have the image.
    pub num_nodes: usize,
}

/// Host ports in use on a node, counted so that removing one pod frees only its share.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostPortInfo(BTreeMap<HostPort, usize>);

impl HostPortInfo {
    fn add(&mut self, p: &HostPort) {
        *self.0.entry(p.clone()).or_default() += 1;
    }

    fn remove(&mut self, p: &HostPort) {
        if let Some(n) = self.0.get_mut(p) {
            *n -= 1;
            if *n == 0 {
                self.0.remove(p);
            }
        }
    }

    /// Upstream `HostPortInfo.CheckConflict`: `0.0.0.0` conflicts with any IP on the same
    /// protocol and port; a specific IP conflicts with itself and with `0.0.0.0`.
    pub fn conflicts(&self, want: &HostPort) -> bool {
        if want.port <= 0 {
            return false;
        }
        self.0.keys().any(|used| {
            used.port == want.port
                && used.protocol == want.protocol
                && (want.ip == "0.0.0.0" || used.ip == "0.0.0.0" || used.ip == want.ip)
        })
    }

    /// Number of distinct (ip, protocol, port) entries in use.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no host port is in use.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Everything the plugins know about one node (upstream `framework.NodeInfo`).
#[derive(Clone, Debug)]
pub struct NodeInfo {
    node: Arc<Node>,
    /// Shared with every score list of a cycle, which names each feasible node.
    name: Arc<str>,
    labels: Labels,
    pods: Vec<Arc<PodInfo>>,
    /// Sum of the pods' requests.
    pub requested: Resources,
    /// Sum of the pods' requests with scoring defaults for missing cpu/memory.
    pub non_zero_requested: Resources,
    /// `status.allocatable` (`status.capacity` when allocatable is missing).
    pub allocatable: Resources,
    used_ports: HostPortInfo,
    image_states: Arc<BTreeMap<String, ImageStateSummary>>,
    /// Pods with any pod (anti-)affinity (upstream `PodsWithAffinity`).
    with_affinity: usize,
    /// Pods with required anti-affinity (upstream `PodsWithRequiredAntiAffinity`).
    with_required_anti_affinity: usize,
    /// Changes whenever the node's pods change (unique across all nodes and copies), so that
    /// plugins may remember per-node results between cycles (upstream `NodeInfo.Generation`).
    generation: u64,
    /// See [`NodeInfo::pods_epoch`].
    epoch: Epoch,
}

/// The next node generation.
fn next_generation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A [`NodeInfo::pods_epoch`]. Cloning one makes a new epoch: a copy of a node (a cycle's
/// what-if with nominated pods, a preemption simulation) may append other pods than the
/// original, so the two must not share results counted over a prefix of their pods.
#[derive(Debug)]
struct Epoch(u64);

impl Epoch {
    fn next() -> Self {
        Epoch(next_generation())
    }
}

impl Clone for Epoch {
    fn clone(&self) -> Self {
        Epoch::next()
    }
}

impl NodeInfo {
    /// A node with no pods.
    pub fn new(node: Node) -> Self {
        let status = node.status.as_ref();
        let alloc = status
            .and_then(|s| s.allocatable.as_ref())
            .or_else(|| status.and_then(|s| s.capacity.as_ref()));
        NodeInfo {
            name: node.metadata.name.as_deref().unwrap_or_default().into(),
            labels: node.metadata.labels.clone().unwrap_or_default(),
            allocatable: alloc.map(Resources::from_list).unwrap_or_default(),
            node: Arc::new(node),
            pods: Vec::new(),
            requested: Resources::default(),
            non_zero_requested: Resources::default(),
            used_ports: HostPortInfo::default(),
            image_states: Arc::default(),
            with_affinity: 0,
            with_required_anti_affinity: 0,
            generation: next_generation(),
            epoch: Epoch::next(),
        }
    }

    /// Changes whenever the pods on the node change.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Changes only when the node's pods stop being the earlier pods plus pods appended
    /// after them: on removing a pod, or replacing one with a pod that differs in namespace,
    /// labels or being terminating (unique across all nodes and copies). While it stays the
    /// same, what was counted over the first `n` pods still holds for them, so a plugin may
    /// count only the pods added since (PodTopologySpread does, per selector).
    pub fn pods_epoch(&self) -> u64 {
        self.epoch.0
    }

    /// Whether a pod on the node has pod affinity or anti-affinity, so that the inter-pod
    /// affinity plugins visit only such nodes for a pod without terms of its own.
    pub fn has_pods_with_affinity(&self) -> bool {
        self.with_affinity > 0
    }

    /// Whether a pod on the node has required pod anti-affinity.
    pub fn has_pods_with_required_anti_affinity(&self) -> bool {
        self.with_required_anti_affinity > 0
    }

    fn count_affinity(&mut self, pod: &PodInfo, delta: isize) {
        if pod.has_affinity() {
            self.with_affinity = self.with_affinity.saturating_add_signed(delta);
        }
        if !pod.required_anti_affinity_terms.is_empty() {
            self.with_required_anti_affinity = self
                .with_required_anti_affinity
                .saturating_add_signed(delta);
        }
    }

    /// The node object.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `metadata.name`, shared: cloning it copies no bytes.
    pub fn shared_name(&self) -> &Arc<str> {
        &self.name
    }

    /// `metadata.labels`.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// `spec.taints`.
    pub fn taints(&self) -> &[Taint] {
        self.node
            .spec
            .as_ref()
            .and_then(|s| s.taints.as_deref())
            .unwrap_or(&[])
    }

    /// `spec.unschedulable` (cordoned).
    pub fn unschedulable(&self) -> bool {
        self.node
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false)
    }

    /// Pods on the node (bound or assumed).
    pub fn pods(&self) -> &[Arc<PodInfo>] {
        &self.pods
    }

    /// Host ports in use.
    pub fn used_ports(&self) -> &HostPortInfo {
        &self.used_ports
    }

    /// Images present on the node, keyed by every name they are known under.
    pub fn image_states(&self) -> &BTreeMap<String, ImageStateSummary> {
        &self.image_states
    }

    /// Accounts a pod on this node (upstream `AddPodInfo`).
    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.account(&pod);
        self.generation = next_generation();
        self.pods.push(pod);
    }

    /// Adds a pod's requests, host ports and affinity to the node's sums.
    fn account(&mut self, pod: &PodInfo) {
        self.requested.add(&pod.requests);
        let nz = &mut self.non_zero_requested;
        nz.milli_cpu = nz.milli_cpu.saturating_add(pod.non_zero_requests.milli_cpu);
        nz.memory = nz.memory.saturating_add(pod.non_zero_requests.memory);
        for p in &pod.host_ports {
            self.used_ports.add(p);
        }
        self.count_affinity(pod, 1);
    }

    /// Takes a pod's requests, host ports and affinity out of the node's sums.
    fn unaccount(&mut self, pod: &PodInfo) {
        self.requested.sub(&pod.requests);
        self.requested.scalar.retain(|_, v| *v != 0);
        let nz = &mut self.non_zero_requested;
        nz.milli_cpu = nz.milli_cpu.saturating_sub(pod.non_zero_requests.milli_cpu);
        nz.memory = nz.memory.saturating_sub(pod.non_zero_requests.memory);
        for p in &pod.host_ports {
            self.used_ports.remove(p);
        }
        self.count_affinity(pod, -1);
    }

    /// Removes a pod by `namespace/name`; returns it if it was there (upstream `RemovePod`).
    pub fn remove_pod(&mut self, key: &str) -> Option<Arc<PodInfo>> {
        let i = self.pods.iter().position(|p| p.has_key(key))?;
        let pod = self.pods.swap_remove(i);
        self.unaccount(&pod);
        self.generation = next_generation();
        self.epoch = Epoch::next();
        Some(pod)
    }

    /// Replaces the pod `key` (`namespace/name`, `new`'s) by `new` in place when both count
    /// the same for label selectors (namespace, labels, terminating), keeping
    /// [`NodeInfo::pods_epoch`]; false (and no change) if the pod is not here or counts
    /// differently.
    pub fn replace_pod(&mut self, key: &str, new: Arc<PodInfo>) -> bool {
        let Some(i) = self.pods.iter().position(|p| p.has_key(key)) else {
            return false;
        };
        let old = Arc::clone(&self.pods[i]);
        if old.namespace != new.namespace
            || old.labels != new.labels
            || old.terminating() != new.terminating()
        {
            return false;
        }
        self.unaccount(&old);
        self.account(&new);
        self.pods[i] = new;
        self.generation = next_generation();
        true
    }
}

/// Workload objects whose selectors define the default topology-spread selector of a pod
/// (upstream `helper.DefaultSelector`).
#[derive(Clone, Debug, Default)]
pub struct Workloads {
    /// Services (their `spec.selector` maps).
    pub services: Vec<Service>,
    /// ReplicationControllers.
    pub replication_controllers: Vec<ReplicationController>,
    /// ReplicaSets.
    pub replica_sets: Vec<ReplicaSet>,
    /// StatefulSets.
    pub stateful_sets: Vec<StatefulSet>,
}

/// The storage objects VolumeBinding reads.
#[derive(Clone, Debug, Default)]
pub struct Volumes {
    /// PersistentVolumeClaims by `namespace/name`.
    pub claims: HashMap<String, k8s_openapi::api::core::v1::PersistentVolumeClaim>,
    /// PersistentVolumes by name.
    pub volumes: HashMap<String, k8s_openapi::api::core::v1::PersistentVolume>,
    /// StorageClasses by name.
    pub classes: HashMap<String, k8s_openapi::api::storage::v1::StorageClass>,
}

/// The cluster as one scheduling cycle sees it.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    nodes: Vec<NodeInfo>,
    index: HashMap<String, usize>,
    nominated: HashMap<String, Vec<Arc<PodInfo>>>,
    /// Pods bound to nodes the snapshot does not know (yet), adopted when the node appears.
    orphans: HashMap<String, Vec<Arc<PodInfo>>>,
    /// Where each pod counted on a known node is: `namespace/name` → node name (so removing
    /// a pod does not scan every node).
    located: HashMap<String, String>,
    namespace_labels: HashMap<String, Labels>,
    priority_classes: Vec<PriorityClass>,
    pdbs: Vec<PodDisruptionBudget>,
    workloads: Workloads,
    volumes: Arc<Volumes>,
}

fn node_images(node: &Node) -> impl Iterator<Item = &ContainerImage> {
    node.status.iter().flat_map(|s| s.images.iter().flatten())
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded") | Some("Failed")
    )
}

impl Snapshot {
    /// Builds the snapshot: nodes in the given order, bound non-terminal pods on their
    /// nodes, unbound pods with `status.nominatedNodeName` as nominated pods. Pods bound to
    /// unknown nodes are kept aside (they count once their node appears).
    pub fn new(nodes: &[Node], pods: &[Pod]) -> Self {
        Self::new_with_priority_classes(nodes, pods, &[])
    }

    /// Like [`Snapshot::new`], resolving priorities of pods without `spec.priority` from
    /// their PriorityClass (see [`pod_priority`]).
    pub fn new_with_priority_classes(
        nodes: &[Node],
        pods: &[Pod],
        classes: &[PriorityClass],
    ) -> Self {
        let mut snap = Snapshot {
            priority_classes: classes.to_vec(),
            ..Default::default()
        };
        for node in nodes {
            snap.insert_node(node.clone());
        }
        snap.refresh_images();
        for pod in pods {
            snap.insert_pod(pod);
        }
        snap
    }

    fn insert_node(&mut self, node: Node) {
        let info = NodeInfo::new(node);
        match self.index.get(info.name()) {
            Some(&i) => {
                let pods = std::mem::take(&mut self.nodes[i].pods);
                let epoch = self.nodes[i].epoch.0;
                self.nodes[i] = info;
                for p in pods {
                    self.nodes[i].add_pod(p);
                }
                // The same pods in the same order.
                self.nodes[i].epoch = Epoch(epoch);
            }
            None => {
                let name = info.name().to_string();
                self.index.insert(name.clone(), self.nodes.len());
                self.nodes.push(info);
                let last = self.nodes.len() - 1;
                for p in self.orphans.remove(&name).unwrap_or_default() {
                    self.located.insert(p.key(), name.clone());
                    self.nodes[last].add_pod(p);
                }
            }
        }
    }

    /// Recomputes every node's image states (how many nodes hold each image).
    fn refresh_images(&mut self) {
        let mut images: BTreeMap<String, ImageStateSummary> = BTreeMap::new();
        for info in &self.nodes {
            for img in node_images(&info.node) {
                for name in img.names.iter().flatten() {
                    let e = images.entry(name.clone()).or_default();
                    e.size = img.size_bytes.unwrap_or(0);
                    e.num_nodes += 1;
                }
            }
        }
        for info in &mut self.nodes {
            let own: BTreeMap<String, ImageStateSummary> = node_images(&info.node)
                .flat_map(|img| img.names.iter().flatten())
                .filter_map(|n| images.get(n).map(|s| (n.clone(), *s)))
                .collect();
            info.image_states = Arc::new(own);
        }
    }

    fn insert_pod(&mut self, pod: &Pod) {
        if is_terminal(pod) {
            return;
        }
        let placed = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some_and(|n| !n.is_empty());
        let info = Arc::new(if placed {
            self.placed_pod_info(pod)
        } else {
            self.pod_info(pod)
        });
        if let Some(node) = info.node_name() {
            match self.index.get(node) {
                Some(&i) => {
                    self.located.insert(info.key(), node.to_string());
                    self.nodes[i].add_pod(info)
                }
                None => self.orphans.entry(node.to_string()).or_default().push(info),
            }
        } else if let Some(node) = info.nominated_node_name().map(str::to_string) {
            self.nominated.entry(node).or_default().push(info);
        }
    }

    /// Adds or replaces a node (its pods stay); the incremental path for a driver's informer.
    pub fn set_node(&mut self, node: Node) {
        self.insert_node(node);
        self.refresh_images();
    }

    /// Removes a node; its pods are kept aside until they are removed or the node returns.
    pub fn remove_node(&mut self, name: &str) -> bool {
        let Some(i) = self.index.remove(name) else {
            return false;
        };
        let gone = self.nodes.remove(i);
        for p in &gone.pods {
            self.located.remove(&p.key());
        }
        if !gone.pods.is_empty() {
            self.orphans.insert(name.to_string(), gone.pods);
        }
        for (j, n) in self.nodes.iter().enumerate().skip(i) {
            self.index.insert(n.name().to_string(), j);
        }
        self.refresh_images();
        true
    }

    /// Adds or replaces a pod by `namespace/name`: bound pods count on their node, unbound
    /// pods with `status.nominatedNodeName` are nominated, terminal pods are dropped.
    pub fn set_pod(&mut self, pod: &Pod) {
        let key = format!(
            "{}/{}",
            pod.metadata.namespace.as_deref().unwrap_or_default(),
            pod.metadata.name.as_deref().unwrap_or_default()
        );
        if !self.replace_placed(&key, pod) {
            self.remove_pod(&key);
            self.insert_pod(pod);
        }
    }

    /// The common update of a pod already on a node (its status, say): replaced in place
    /// when it stays on that node and counts the same for selectors; false when it does not
    /// apply.
    fn replace_placed(&mut self, key: &str, pod: &Pod) -> bool {
        let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
        let (Some(node), Some(located)) = (node, self.located.get(key)) else {
            return false;
        };
        if node != located || is_terminal(pod) {
            return false;
        }
        let Some(&i) = self.index.get(node) else {
            return false;
        };
        let info = Arc::new(self.placed_pod_info(pod));
        self.nodes[i].replace_pod(key, info)
    }

    /// Removes a pod by `namespace/name` wherever it is; false if it was not there.
    pub fn remove_pod(&mut self, key: &str) -> bool {
        let mut found = false;
        if let Some(node) = self.located.remove(key) {
            if let Some(&i) = self.index.get(&node) {
                found = self.nodes[i].remove_pod(key).is_some();
            }
        }
        for lists in [&mut self.nominated, &mut self.orphans] {
            for list in lists.values_mut() {
                let before = list.len();
                list.retain(|p| !p.has_key(key));
                found |= list.len() != before;
            }
            lists.retain(|_, l| !l.is_empty());
        }
        found
    }

    /// Adds namespace labels (used by affinity terms with a `namespaceSelector`).
    pub fn with_namespaces(mut self, namespaces: &[Namespace]) -> Self {
        for ns in namespaces {
            if let Some(name) = &ns.metadata.name {
                self.namespace_labels
                    .insert(name.clone(), ns.metadata.labels.clone().unwrap_or_default());
            }
        }
        self
    }

    /// Adds PodDisruptionBudgets (used by preemption).
    pub fn with_pdbs(mut self, pdbs: Vec<PodDisruptionBudget>) -> Self {
        self.pdbs = pdbs;
        self
    }

    /// Adds workloads (used for default topology spreading).
    pub fn with_workloads(mut self, workloads: Workloads) -> Self {
        self.workloads = workloads;
        self
    }

    /// Replaces the claims, volumes and classes VolumeBinding reads.
    pub fn with_volumes(mut self, volumes: Volumes) -> Self {
        self.volumes = Arc::new(volumes);
        self
    }

    /// The claims, volumes and classes.
    pub fn volumes(&self) -> &Volumes {
        &self.volumes
    }

    /// Parses a pod, resolving its priority against the snapshot's PriorityClasses.
    pub fn pod_info(&self, pod: &Pod) -> PodInfo {
        PodInfo::with_priority(pod.clone(), pod_priority(pod, &self.priority_classes))
    }

    /// [`Snapshot::pod_info`] of a pod on a node, keeping only what [`placed::info`] keeps.
    fn placed_pod_info(&self, pod: &Pod) -> PodInfo {
        placed::info(pod, pod_priority(pod, &self.priority_classes))
    }

    /// Accounts a pod on a node as if bound (upstream "assume"); false if the node is unknown.
    /// Lets a driver schedule several pods against one snapshot.
    pub fn assume(&mut self, pod: &Pod, node: &str) -> bool {
        let Some(&i) = self.index.get(node) else {
            return false;
        };
        let mut info = self.placed_pod_info(pod);
        if let Some(spec) = info.pod.spec.as_mut() {
            spec.node_name = Some(node.to_string());
        }
        let info = Arc::new(info);
        let key = info.key();
        self.remove_pod(&key);
        self.located.insert(key, node.to_string());
        self.nodes[i].add_pod(info);
        true
    }

    /// All nodes, in input order.
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    /// A node by name.
    pub fn get(&self, name: &str) -> Option<&NodeInfo> {
        self.index.get(name).map(|&i| &self.nodes[i])
    }

    /// Pods nominated to a node (by an earlier preemption) that are not bound yet.
    pub fn nominated_pods(&self, node: &str) -> &[Arc<PodInfo>] {
        self.nominated.get(node).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Labels of a namespace (empty when unknown).
    pub fn namespace_labels(&self, ns: &str) -> Labels {
        self.namespace_labels.get(ns).cloned().unwrap_or_default()
    }

    /// Names of all namespaces whose labels are known.
    pub fn namespaces(&self) -> impl Iterator<Item = (&String, &Labels)> {
        self.namespace_labels.iter()
    }

    /// PodDisruptionBudgets.
    pub fn pdbs(&self) -> &[PodDisruptionBudget] {
        &self.pdbs
    }

    /// Workloads for default spreading.
    pub fn workloads(&self) -> &Workloads {
        &self.workloads
    }
}

#[cfg(test)]
mod tests;
