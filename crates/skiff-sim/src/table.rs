//! The sim's nodes and what every task needs to know about each: name, uid, whether its
//! kubelet is alive. Shared by the heartbeat and pod tasks without locks held across awaits
//! (atomics, and one short `Mutex` for the uid).

use crate::options::SimOptions;
use k8s_openapi::jiff::Timestamp;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Mutex;
use tokio::sync::watch;

/// Per-node flags.
#[derive(Debug, Default)]
struct NodeState {
    /// Listed in `--stop-heartbeat`: dead for the whole run.
    pinned_dead: bool,
    /// Carries `sim.skiff.dev/heartbeat: stop`.
    annotated_dead: AtomicBool,
    /// Deleted from the API while the sim runs (a kubelet does not re-register on its own).
    gone: AtomicBool,
    /// Registration succeeded.
    registered: AtomicBool,
    /// `metadata.uid` of the Node (for the Lease's owner reference).
    uid: Mutex<String>,
    /// When Ready last turned True, in microseconds since the epoch; 0 = not Ready now.
    ready_since: AtomicI64,
}

/// All nodes of one sim run, indexed by `i` (the number in the node's name).
#[derive(Debug)]
pub struct NodeTable {
    names: Vec<String>,
    index: HashMap<String, u32>,
    nodes: Vec<NodeState>,
    revivals: watch::Sender<u64>,
}

impl NodeTable {
    /// The table for `opts.nodes` nodes, none registered yet.
    pub fn new(opts: &SimOptions) -> Self {
        let names: Vec<String> = (0..opts.nodes).map(|i| opts.node_name(i)).collect();
        let index = names.iter().zip(0..).map(|(n, i)| (n.clone(), i)).collect();
        let nodes = names
            .iter()
            .map(|n| NodeState {
                pinned_dead: opts.stop_heartbeat.contains(n),
                ..Default::default()
            })
            .collect();
        Self {
            names,
            index,
            nodes,
            revivals: watch::channel(0).0,
        }
    }

    fn state(&self, i: u32) -> Option<&NodeState> {
        self.nodes.get(usize::try_from(i).ok()?)
    }

    /// Number of nodes.
    pub fn len(&self) -> u32 {
        u32::try_from(self.names.len()).unwrap_or(u32::MAX)
    }

    /// Whether the table has no nodes.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Name of node `i`.
    pub fn name(&self, i: u32) -> &str {
        usize::try_from(i)
            .ok()
            .and_then(|i| self.names.get(i))
            .map_or("", String::as_str)
    }

    /// The index of the node called `name`, if it is one of ours.
    pub fn index_of(&self, name: &str) -> Option<u32> {
        self.index.get(name).copied()
    }

    /// Whether node `i`'s simulated kubelet runs: registered, not stopped, not deleted.
    pub fn is_live(&self, i: u32) -> bool {
        self.state(i).is_some_and(|s| {
            s.registered.load(Ordering::Relaxed)
                && !s.pinned_dead
                && !s.annotated_dead.load(Ordering::Relaxed)
                && !s.gone.load(Ordering::Relaxed)
        })
    }

    /// Whether node `i` was stopped by `--stop-heartbeat`.
    pub fn is_pinned_dead(&self, i: u32) -> bool {
        self.state(i).is_some_and(|s| s.pinned_dead)
    }

    /// Records a successful registration with the Node's uid.
    pub fn set_registered(&self, i: u32, uid: &str) {
        if let Some(s) = self.state(i) {
            self.set_uid(i, uid);
            s.registered.store(true, Ordering::Relaxed);
        }
    }

    /// The Node's uid ("" before registration).
    pub fn uid(&self, i: u32) -> String {
        self.state(i)
            .and_then(|s| s.uid.lock().ok().map(|u| u.clone()))
            .unwrap_or_default()
    }

    /// Updates the Node's uid (it changes if someone deletes and recreates the node).
    pub fn set_uid(&self, i: u32, uid: &str) {
        if let Some(mut u) = self.state(i).and_then(|s| s.uid.lock().ok()) {
            uid.clone_into(&mut u);
        }
    }

    /// Applies what the API says about node `i` (its heartbeat annotation and whether it
    /// exists). Returns true when this brings a dead kubelet back to life.
    pub fn observe(&self, i: u32, annotated_dead: bool, gone: bool) -> bool {
        let Some(s) = self.state(i) else {
            return false;
        };
        let was_live = self.is_live(i);
        s.annotated_dead.store(annotated_dead, Ordering::Relaxed);
        s.gone.store(gone, Ordering::Relaxed);
        !was_live && self.is_live(i)
    }

    /// When Ready turned True for node `i`; if it is not Ready now, it turns Ready at `now`.
    pub fn ready_since(&self, i: u32, now: Timestamp) -> Timestamp {
        let Some(s) = self.state(i) else {
            return now;
        };
        let micros = s.ready_since.load(Ordering::Relaxed);
        if micros != 0 {
            if let Ok(t) = Timestamp::from_microsecond(micros) {
                return t;
            }
        }
        s.ready_since.store(now.as_microsecond(), Ordering::Relaxed);
        now
    }

    /// Records when node `i` turned Ready (`None`: it is not Ready now, e.g. the node lifecycle
    /// controller marked it Unknown).
    pub fn set_ready_since(&self, i: u32, since: Option<Timestamp>) {
        if let Some(s) = self.state(i) {
            let micros = since.map_or(0, |t| t.as_microsecond().max(1));
            s.ready_since.store(micros, Ordering::Relaxed);
        }
    }

    /// A receiver that changes whenever a dead node comes back (its pods must be looked at
    /// again).
    pub fn revivals(&self) -> watch::Receiver<u64> {
        self.revivals.subscribe()
    }

    /// Announces that a node came back to life.
    pub fn notify_revival(&self) {
        self.revivals.send_modify(|n| *n += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> NodeTable {
        let mut opts = SimOptions::new(3);
        opts.stop_heartbeat.insert("sim-node-2".into());
        NodeTable::new(&opts)
    }

    #[test]
    fn names_map_to_indexes() {
        let t = table();
        assert_eq!(t.len(), 3);
        assert_eq!(t.index_of("sim-node-1"), Some(1));
        assert_eq!(t.index_of("other"), None);
        assert_eq!(t.name(1), "sim-node-1");
        assert_eq!(t.name(9), "");
    }

    #[test]
    fn a_node_lives_once_registered_and_until_stopped() {
        let t = table();
        assert!(!t.is_live(0));
        t.set_registered(0, "u0");
        assert!(t.is_live(0));
        assert_eq!(t.uid(0), "u0");
        assert!(!t.observe(0, true, false));
        assert!(!t.is_live(0));
        assert!(
            t.observe(0, false, false),
            "removing the annotation revives it"
        );
        assert!(!t.observe(0, false, true));
        assert!(!t.is_live(0), "a deleted node is dead");
    }

    #[test]
    fn stop_heartbeat_nodes_never_live() {
        let t = table();
        t.set_registered(2, "u2");
        assert!(t.is_pinned_dead(2));
        assert!(!t.is_live(2));
        assert!(!t.observe(2, false, false));
    }

    #[test]
    fn ready_since_is_remembered_until_the_node_is_not_ready() {
        let t = table();
        let t0: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let t1: Timestamp = "2025-01-01T00:01:00Z".parse().unwrap();
        assert_eq!(t.ready_since(0, t0), t0);
        assert_eq!(t.ready_since(0, t1), t0);
        t.set_ready_since(0, None);
        assert_eq!(t.ready_since(0, t1), t1);
    }

    #[test]
    fn revivals_are_announced() {
        let t = table();
        let rx = t.revivals();
        t.notify_revival();
        assert!(rx.has_changed().unwrap());
    }
}
