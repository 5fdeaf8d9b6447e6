//! The pod side of the simulated kubelets as a state machine without I/O: fed watch events,
//! write results and the time, it keeps a few bytes per pod (uid, node, IP, what is in
//! flight) and returns the API writes to make as [`Effect`]s.

use crate::cidr::{IpPool, Ipv4Cidr};
use crate::node;
use crate::pod_plan::{self, Lifecycle};
use crate::pod_status;
use crate::table::NodeTable;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::Ipv4Addr;
use std::time::Duration;

/// A pod by `namespace/name` and uid (names can be reused by a new pod; the uid cannot).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodRef {
    /// `namespace/name`.
    pub key: String,
    /// `metadata.uid`.
    pub uid: String,
}

impl PodRef {
    /// The pod's namespace.
    pub fn namespace(&self) -> &str {
        self.key.split_once('/').map_or("", |(ns, _)| ns)
    }

    /// The pod's name.
    pub fn name(&self) -> &str {
        self.key.split_once('/').map_or(&self.key, |(_, n)| n)
    }

    fn of(pod: &Pod) -> Self {
        let m = &pod.metadata;
        Self {
            key: format!(
                "{}/{}",
                m.namespace.as_deref().unwrap_or_default(),
                m.name.as_deref().unwrap_or_default()
            ),
            uid: m.uid.clone().unwrap_or_default(),
        }
    }
}

/// Which write is in flight for a pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Status patch to Running.
    Start,
    /// Status patch to Succeeded/Failed.
    Finish,
    /// DELETE with grace period 0.
    Delete,
    /// GET, to look at the pod again (a timer fired or a write failed).
    Fetch,
}

/// An API call for the driver to make; its result comes back through
/// [`Tracker::on_result`] (and for a fetch, [`Tracker::on_fetched`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Merge-patch the pod's `/status` with `patch`.
    Patch {
        /// The pod.
        pod: PodRef,
        /// Start or Finish.
        op: Op,
        /// The body.
        patch: serde_json::Value,
    },
    /// Delete the pod with grace period 0 and a uid precondition.
    Delete(PodRef),
    /// Get the pod and hand it to [`Tracker::on_fetched`].
    Fetch(PodRef),
}

/// What the tracker remembers per pod bound to a sim node.
#[derive(Debug)]
struct Tracked {
    uid: String,
    node: u32,
    /// Address taken from the node's pool (not set for hostNetwork pods).
    ip: Option<Ipv4Addr>,
    in_flight: Option<Op>,
    recheck_at: Option<Timestamp>,
    failures: u8,
    /// Listing generation that last saw the pod.
    seen: u32,
    /// resourceVersion our last write produced: older events are stale (they were sent
    /// before our write landed) and are ignored. 0 = none, or not a number.
    written: u64,
}

/// The pod's resourceVersion as a number (etcd's and Skiff's are; others compare as 0).
fn resource_version(pod: &Pod) -> u64 {
    pod.metadata
        .resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Retry delay after `failures` consecutive failed writes: 1 s doubling to 30 s.
fn backoff(failures: u8) -> Duration {
    Duration::from_secs(1u64 << failures.min(5)).min(Duration::from_secs(30))
}

/// How long to wait before trying again to start a pod whose node has no free IP.
const NO_IP_RETRY: Duration = Duration::from_secs(10);

/// The state of every pod on the sim's nodes.
#[derive(Debug)]
pub struct Tracker {
    pods: HashMap<String, Tracked>,
    pools: Vec<IpPool>,
    timers: BinaryHeap<Reverse<(Timestamp, String)>>,
    /// Pods to start, held back while a (re)list is in progress so addresses of running pods
    /// are all reserved before new ones are handed out.
    listing: Option<Vec<Pod>>,
    generation: u32,
}

impl Tracker {
    /// A tracker for `nodes` nodes whose pod ranges come from `pod_cidr`.
    pub fn new(nodes: u32, pod_cidr: Ipv4Cidr) -> Self {
        let pools = (0..nodes)
            .map(|i| IpPool::new(pod_cidr.nth_24(i).unwrap_or(pod_cidr)))
            .collect();
        Self {
            pods: HashMap::new(),
            pools,
            timers: BinaryHeap::new(),
            listing: None,
            generation: 0,
        }
    }

    /// Pods currently tracked.
    pub fn len(&self) -> usize {
        self.pods.len()
    }

    /// Whether no pod is tracked.
    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    fn pool(&mut self, node: u32) -> Option<&mut IpPool> {
        self.pools.get_mut(usize::try_from(node).ok()?)
    }

    fn forget(&mut self, key: &str) {
        if let Some(t) = self.pods.remove(key) {
            if let Some(ip) = t.ip {
                if let Some(p) = self.pool(t.node) {
                    p.release(ip);
                }
            }
        }
    }

    fn schedule(&mut self, key: &str, at: Timestamp) {
        if let Some(t) = self.pods.get_mut(key) {
            if t.recheck_at.is_some_and(|old| old <= at) {
                return;
            }
            t.recheck_at = Some(at);
            self.timers.push(Reverse((at, key.to_string())));
        }
    }

    /// A (re)list begins: what it does not list again is gone afterwards.
    pub fn on_init(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        self.listing = Some(Vec::new());
    }

    /// The (re)list is complete: forgets unlisted pods, then starts the held-back ones.
    pub fn on_init_done(&mut self, nodes: &NodeTable, now: Timestamp) -> Vec<Effect> {
        let generation = self.generation;
        let stale: Vec<String> = self
            .pods
            .iter()
            .filter(|(_, t)| t.seen != generation)
            .map(|(k, _)| k.clone())
            .collect();
        for key in stale {
            self.forget(&key);
        }
        let held = self.listing.take().unwrap_or_default();
        held.into_iter()
            .flat_map(|pod| self.on_apply(pod, nodes, now))
            .collect()
    }

    /// A pod was deleted.
    pub fn on_delete(&mut self, pod: &Pod) {
        let r = PodRef::of(pod);
        if self.pods.get(&r.key).is_some_and(|t| t.uid == r.uid) {
            self.forget(&r.key);
        }
    }

    /// A pod was added or changed (or listed): decides what its kubelet does next.
    pub fn on_apply(&mut self, pod: Pod, nodes: &NodeTable, now: Timestamp) -> Vec<Effect> {
        let node_name = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
        let Some(node) = node_name.and_then(|n| nodes.index_of(n)) else {
            return vec![];
        };
        let r = PodRef::of(&pod);
        if self.pods.get(&r.key).is_some_and(|t| t.uid != r.uid) {
            self.forget(&r.key);
        }
        if let Some(t) = self.pods.get_mut(&r.key) {
            t.seen = self.generation;
            if resource_version(&pod) < t.written {
                return vec![];
            }
        }
        if !nodes.is_live(node) {
            return vec![];
        }
        let lifecycle = pod_plan::lifecycle(&pod);
        if lifecycle == Lifecycle::Finished {
            self.forget(&r.key);
            return vec![];
        }
        if lifecycle == Lifecycle::Pending {
            if let Some(held) = self.listing.as_mut() {
                held.push(pod);
                return vec![];
            }
        }
        let generation = self.generation;
        let t = self.pods.entry(r.key.clone()).or_insert_with(|| Tracked {
            uid: r.uid.clone(),
            node,
            ip: None,
            in_flight: None,
            recheck_at: None,
            failures: 0,
            seen: generation,
            written: 0,
        });
        match lifecycle {
            Lifecycle::Finished => vec![],
            Lifecycle::Deleting { finalize } => {
                if !finalize || t.in_flight == Some(Op::Delete) {
                    return vec![];
                }
                t.in_flight = Some(Op::Delete);
                vec![Effect::Delete(r)]
            }
            Lifecycle::Running { pod_ip, finish } => {
                if t.in_flight == Some(Op::Start) {
                    t.in_flight = None;
                }
                let host_network = pod.spec.as_ref().and_then(|s| s.host_network) == Some(true);
                if t.ip.is_none() && !host_network {
                    if let Some(ip) = pod_ip {
                        let pool = usize::try_from(node)
                            .ok()
                            .and_then(|n| self.pools.get_mut(n));
                        if pool.is_some_and(|p| p.reserve(ip)) {
                            t.ip = Some(ip);
                        }
                    }
                }
                match finish {
                    Err(e) => {
                        tracing::warn!(pod = %r.key, "ignoring {e}");
                        vec![]
                    }
                    Ok(None) => vec![],
                    Ok(Some((outcome, at))) if at <= now => {
                        if matches!(t.in_flight, Some(Op::Finish | Op::Delete)) {
                            return vec![];
                        }
                        t.in_flight = Some(Op::Finish);
                        let status = pod_status::finished(&pod, outcome, now);
                        vec![Effect::Patch {
                            pod: r,
                            op: Op::Finish,
                            patch: pod_status::patch(&status),
                        }]
                    }
                    Ok(Some((_, at))) => {
                        self.schedule(&r.key, at);
                        vec![]
                    }
                }
            }
            Lifecycle::Pending => {
                if t.in_flight == Some(Op::Start) {
                    return vec![];
                }
                let host_ip = node::internal_ip(node);
                let host_network = pod.spec.as_ref().and_then(|s| s.host_network) == Some(true);
                let ip = if host_network {
                    Some(host_ip)
                } else if t.ip.is_some() {
                    t.ip
                } else {
                    let ip = usize::try_from(node)
                        .ok()
                        .and_then(|n| self.pools.get_mut(n))
                        .and_then(IpPool::allocate);
                    t.ip = ip;
                    ip
                };
                let Some(ip) = ip else {
                    tracing::warn!(pod = %r.key, node = nodes.name(node), "no free pod IP on the node; retrying later");
                    let at = now.checked_add(NO_IP_RETRY).unwrap_or(now);
                    self.schedule(&r.key, at);
                    return vec![];
                };
                t.in_flight = Some(Op::Start);
                let status = pod_status::running(&pod, host_ip, ip, now);
                vec![Effect::Patch {
                    pod: r,
                    op: Op::Start,
                    patch: pod_status::patch(&status),
                }]
            }
        }
    }

    /// A write (or fetch) for `pod` finished. A failure is retried by fetching the pod again
    /// after a backoff; success waits for the watch to show the result.
    pub fn on_result(&mut self, pod: &PodRef, op: Op, ok: bool, now: Timestamp) {
        let Some(t) = self.pods.get_mut(&pod.key).filter(|t| t.uid == pod.uid) else {
            return;
        };
        if t.in_flight == Some(op) {
            t.in_flight = None;
        }
        if ok {
            // A fetch is not progress: only a successful write ends a run of failures.
            if op != Op::Fetch {
                t.failures = 0;
            }
            return;
        }
        t.failures = t.failures.saturating_add(1);
        let at = now.checked_add(backoff(t.failures)).unwrap_or(now);
        self.schedule(&pod.key, at);
    }

    /// A write for `pod` was answered with `resource_version`: watch events older than it
    /// no longer say anything new (so a Start is not sent twice because of a stale event).
    pub fn on_written(&mut self, pod: &PodRef, resource_version: &str) {
        if let Some(t) = self.pods.get_mut(&pod.key).filter(|t| t.uid == pod.uid) {
            t.written = t.written.max(resource_version.parse().unwrap_or(0));
        }
    }

    /// The answer to an [`Effect::Fetch`]: the pod as it is now, or `None` if it is gone.
    pub fn on_fetched(
        &mut self,
        pod_ref: &PodRef,
        pod: Option<Pod>,
        nodes: &NodeTable,
        now: Timestamp,
    ) -> Vec<Effect> {
        self.on_result(pod_ref, Op::Fetch, true, now);
        match pod {
            None => {
                if self
                    .pods
                    .get(&pod_ref.key)
                    .is_some_and(|t| t.uid == pod_ref.uid)
                {
                    self.forget(&pod_ref.key);
                }
                vec![]
            }
            Some(p) => self.on_apply(p, nodes, now),
        }
    }

    /// When the next timer is due.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// Fires the timers due at `now`: each asks for its pod to be fetched and looked at again.
    pub fn due(&mut self, nodes: &NodeTable, now: Timestamp) -> Vec<Effect> {
        let mut out = Vec::new();
        while let Some(Reverse((at, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, key))) = self.timers.pop() else {
                break;
            };
            let Some(t) = self.pods.get_mut(&key) else {
                continue;
            };
            if t.recheck_at != Some(at) {
                continue;
            }
            t.recheck_at = None;
            if t.in_flight.is_some() || !nodes.is_live(t.node) {
                continue;
            }
            t.in_flight = Some(Op::Fetch);
            out.push(Effect::Fetch(PodRef {
                key,
                uid: t.uid.clone(),
            }));
        }
        out
    }
}

#[cfg(test)]
#[path = "tracker_tests.rs"]
mod tests;
