//! The scheduling queue (upstream `PriorityQueue`) as a pure state machine; time is passed in.
//!
//! - activeQ: pods ready to be tried, highest priority first, then oldest.
//! - backoffQ: pods waiting out a per-pod exponential backoff (1s doubling to 10s).
//! - unschedulable: pods no node fits, until a cluster event one of their rejecting plugins
//!   registered arrives, or 5 minutes pass. Gated pods wait here until their gates go.
//!
//! Times are [`Duration`]s since any fixed origin the caller chooses. A driver loops:
//! [`SchedulingQueue::pop`] → [`crate::schedule()`] → bind and [`SchedulingQueue::done`], or
//! [`SchedulingQueue::mark_unschedulable`] with the rejecting plugins; informer events go to
//! [`SchedulingQueue::add`]/[`update`](SchedulingQueue::update)/[`delete`](SchedulingQueue::delete)
//! and [`SchedulingQueue::on_event`]; [`SchedulingQueue::next_wakeup`] says when to flush.

use crate::framework::{ClusterEvent, EventResource};
use crate::plugins::SchedulingGates;
use crate::pod_info;
use crate::profile::Profile;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

/// Upstream `DefaultPodInitialBackoffDuration`.
pub const DEFAULT_POD_INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// Upstream `DefaultPodMaxBackoffDuration`.
pub const DEFAULT_POD_MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Upstream `DefaultPodMaxInUnschedulablePodsDuration`.
pub const DEFAULT_MAX_IN_UNSCHEDULABLE: Duration = Duration::from_secs(5 * 60);

/// Queue tuning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    /// Backoff after the first failed attempt.
    pub initial_backoff: Duration,
    /// Backoff cap.
    pub max_backoff: Duration,
    /// How long a pod may sit in the unschedulable set before it is retried anyway.
    pub max_in_unschedulable: Duration,
    /// Upstream `SchedulerPopFromBackoffQ` (beta, on in 1.33): when activeQ is empty, pop the
    /// backoffQ pod closest to completing its backoff (not pods that failed with an error).
    pub pop_from_backoff_q: bool,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            initial_backoff: DEFAULT_POD_INITIAL_BACKOFF,
            max_backoff: DEFAULT_POD_MAX_BACKOFF,
            max_in_unschedulable: DEFAULT_MAX_IN_UNSCHEDULABLE,
            pop_from_backoff_q: true,
        }
    }
}

/// A pod handed out by [`SchedulingQueue::pop`] (upstream `QueuedPodInfo`).
#[derive(Clone, Debug, PartialEq)]
pub struct QueuedPod {
    /// The pod.
    pub pod: Pod,
    /// `namespace/name`.
    pub key: String,
    /// Scheduling attempts so far, including this one.
    pub attempts: u32,
    /// When the pod was (re)added to the queue.
    pub timestamp: Duration,
    /// When the pod was first popped.
    pub initial_attempt: Option<Duration>,
    /// The scheduling cycle this attempt belongs to.
    pub cycle: u64,
}

/// Where a pod currently is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    /// Ready to pop.
    Active,
    /// Waiting out its backoff.
    Backoff,
    /// Waiting for a cluster event (or its scheduling gates).
    Unschedulable,
    /// Popped and being scheduled.
    InFlight,
}

#[derive(Clone, Debug)]
struct Entry {
    pod: Pod,
    priority: i32,
    attempts: u32,
    timestamp: Duration,
    initial_attempt: Option<Duration>,
    rejected_by: BTreeSet<String>,
    /// Failed with an error rather than a rejection.
    error: bool,
    gated: bool,
    location: Location,
    seq: u64,
    /// Cycle of the current attempt, and the event-log position when it started.
    cycle: u64,
    events_from: usize,
}

type ActiveKey = (Reverse<i32>, Duration, u64);

/// The scheduling queue.
#[derive(Clone, Debug)]
pub struct SchedulingQueue {
    config: QueueConfig,
    interests: BTreeMap<String, Vec<ClusterEvent>>,
    entries: HashMap<String, Entry>,
    active: BTreeMap<ActiveKey, String>,
    backoff: BTreeMap<(Duration, u64), String>,
    error_backoff: BTreeMap<(Duration, u64), String>,
    cycle: u64,
    seq: u64,
    /// Events received while pods were in flight (cleared when none are).
    in_flight_events: Vec<ClusterEvent>,
    priority_classes: Vec<PriorityClass>,
}

fn pod_key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or("default"),
        pod.metadata.name.as_deref().unwrap_or("")
    )
}

/// Whether an update changes anything but status and bookkeeping metadata (upstream
/// `isPodUpdated`: resourceVersion, generation, managedFields and status are ignored).
fn meaningfully_updated(old: &Pod, new: &Pod) -> bool {
    // Destructured so that a field added to ObjectMeta is a compile error here, not a silent
    // difference from upstream.
    let ObjectMeta {
        annotations,
        creation_timestamp,
        deletion_grace_period_seconds,
        deletion_timestamp,
        finalizers,
        generate_name,
        generation: _,
        labels,
        managed_fields: _,
        name,
        namespace,
        owner_references,
        resource_version: _,
        self_link,
        uid,
    } = &old.metadata;
    let m = &new.metadata;
    old.spec != new.spec
        || *annotations != m.annotations
        || *labels != m.labels
        || *creation_timestamp != m.creation_timestamp
        || *deletion_grace_period_seconds != m.deletion_grace_period_seconds
        || *deletion_timestamp != m.deletion_timestamp
        || *finalizers != m.finalizers
        || *generate_name != m.generate_name
        || *name != m.name
        || *namespace != m.namespace
        || *owner_references != m.owner_references
        || *self_link != m.self_link
        || *uid != m.uid
}

impl SchedulingQueue {
    /// A queue whose requeueing follows the events the profile's plugins registered.
    pub fn new(config: QueueConfig, profile: &Profile) -> Self {
        let interests = profile
            .cluster_events()
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        SchedulingQueue {
            config,
            interests,
            entries: HashMap::new(),
            active: BTreeMap::new(),
            backoff: BTreeMap::new(),
            error_backoff: BTreeMap::new(),
            cycle: 0,
            seq: 0,
            in_flight_events: Vec::new(),
            priority_classes: Vec::new(),
        }
    }

    /// PriorityClasses used to order pods without `spec.priority` (see [`pod_info::pod_priority`]).
    pub fn set_priority_classes(&mut self, classes: Vec<PriorityClass>) {
        self.priority_classes = classes;
    }

    fn pod_priority(&self, pod: &Pod) -> i32 {
        pod_info::pod_priority(pod, &self.priority_classes)
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Upstream `calculateBackoffDuration`: 0 before any attempt, then initial × 2^(attempts-1), capped.
    pub fn backoff_duration(&self, attempts: u32) -> Duration {
        if attempts == 0 {
            return Duration::ZERO;
        }
        let mut d = self.config.initial_backoff;
        for _ in 1..attempts {
            if d > self.config.max_backoff.saturating_sub(d) {
                return self.config.max_backoff;
            }
            d = d.saturating_add(d);
        }
        d
    }

    fn backoff_expiry(&self, e: &Entry) -> Duration {
        e.timestamp
            .saturating_add(self.backoff_duration(e.attempts))
    }

    fn detach(&mut self, key: &str) {
        let Some(e) = self.entries.get(key) else {
            return;
        };
        let expiry = self.backoff_expiry(e);
        match e.location {
            Location::Active => {
                self.active
                    .remove(&(Reverse(e.priority), e.timestamp, e.seq));
            }
            Location::Backoff => {
                self.backoff.remove(&(expiry, e.seq));
                self.error_backoff.remove(&(expiry, e.seq));
            }
            Location::Unschedulable | Location::InFlight => {}
        }
    }

    fn place(&mut self, key: &str, location: Location) {
        self.detach(key);
        let seq = self.next_seq();
        let Some(attempts) = self.entries.get(key).map(|e| e.attempts) else {
            return;
        };
        let backoff = self.backoff_duration(attempts);
        let Some(e) = self.entries.get_mut(key) else {
            return;
        };
        e.location = location;
        e.seq = seq;
        let (priority, ts, error) = (e.priority, e.timestamp, e.error);
        let expiry = e.timestamp.saturating_add(backoff);
        match location {
            Location::Active => {
                self.active
                    .insert((Reverse(priority), ts, seq), key.to_string());
            }
            Location::Backoff if error => {
                self.error_backoff.insert((expiry, seq), key.to_string());
            }
            Location::Backoff => {
                self.backoff.insert((expiry, seq), key.to_string());
            }
            Location::Unschedulable | Location::InFlight => {}
        }
    }

    /// Moves a waiting pod to activeQ, or to backoffQ while its backoff runs.
    fn requeue(&mut self, key: &str, now: Duration) {
        let Some(e) = self.entries.get(key) else {
            return;
        };
        if e.gated {
            return;
        }
        let to = if self.backoff_expiry(e) > now {
            Location::Backoff
        } else {
            Location::Active
        };
        self.place(key, to);
    }

    /// Adds a new unscheduled pod (gated pods wait in the unschedulable set).
    pub fn add(&mut self, pod: Pod, now: Duration) {
        let key = pod_key(&pod);
        if self.entries.contains_key(&key) {
            self.update(pod, now);
            return;
        }
        let gated = !SchedulingGates::gates(&pod).is_empty();
        let entry = Entry {
            priority: self.pod_priority(&pod),
            pod,
            attempts: 0,
            timestamp: now,
            initial_attempt: None,
            rejected_by: BTreeSet::new(),
            error: false,
            gated,
            location: Location::Unschedulable,
            seq: 0,
            cycle: 0,
            events_from: 0,
        };
        self.entries.insert(key.clone(), entry);
        if gated {
            if let Some(e) = self.entries.get_mut(&key) {
                e.rejected_by.insert(SchedulingGates::NAME.to_string());
            }
        } else {
            self.place(&key, Location::Active);
        }
    }

    /// Replaces a queued pod with a newer version. A gated pod whose gates are gone, or an
    /// unschedulable pod whose spec or labels changed, is moved to be retried.
    pub fn update(&mut self, pod: Pod, now: Duration) {
        let key = pod_key(&pod);
        let Some(location) = self.entries.get(&key).map(|e| e.location) else {
            self.add(pod, now);
            return;
        };
        let priority = self.pod_priority(&pod);
        self.detach(&key);
        let Some(e) = self.entries.get_mut(&key) else {
            return;
        };
        let changed = meaningfully_updated(&e.pod, &pod);
        let was_gated = e.gated;
        e.gated = !SchedulingGates::gates(&pod).is_empty();
        e.priority = priority;
        e.pod = pod;
        let ungated = was_gated && !e.gated;
        if ungated {
            e.rejected_by.clear();
            e.timestamp = now;
        }
        match location {
            Location::Active | Location::Backoff | Location::InFlight => self.place(&key, location),
            Location::Unschedulable if ungated => self.place(&key, Location::Active),
            Location::Unschedulable if changed => self.requeue(&key, now),
            Location::Unschedulable => {}
        }
    }

    /// Forgets a pod (deleted, or bound by someone else).
    pub fn delete(&mut self, key: &str) {
        self.detach(key);
        self.entries.remove(key);
        self.prune_events();
    }

    /// Marks a popped pod as done (bound); it leaves the queue.
    pub fn done(&mut self, key: &str) {
        if self
            .entries
            .get(key)
            .is_some_and(|e| e.location == Location::InFlight)
        {
            self.entries.remove(key);
        }
        self.prune_events();
    }

    /// Moves backoff-completed pods to activeQ and pods stuck in the unschedulable set past
    /// `max_in_unschedulable` back for another try (upstream's periodic flushes).
    pub fn flush(&mut self, now: Duration) {
        let done: Vec<String> = self
            .backoff
            .range(..=(now, u64::MAX))
            .chain(self.error_backoff.range(..=(now, u64::MAX)))
            .map(|(_, k)| k.clone())
            .collect();
        for k in done {
            self.place(&k, Location::Active);
        }
        let stale: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| {
                e.location == Location::Unschedulable
                    && !e.gated
                    && now.saturating_sub(e.timestamp) > self.config.max_in_unschedulable
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in stale {
            self.requeue(&k, now);
        }
    }

    /// The next pod to schedule: highest priority, then oldest. Flushes first.
    pub fn pop(&mut self, now: Duration) -> Option<QueuedPod> {
        self.flush(now);
        let key = match self.active.iter().next() {
            Some((_, k)) => k.clone(),
            None if self.config.pop_from_backoff_q => self.backoff.iter().next()?.1.clone(),
            None => return None,
        };
        self.detach(&key);
        self.cycle += 1;
        let (cycle, events_from) = (self.cycle, self.in_flight_events.len());
        let e = self.entries.get_mut(&key)?;
        e.location = Location::InFlight;
        e.attempts = e.attempts.saturating_add(1);
        e.cycle = cycle;
        e.events_from = events_from;
        e.initial_attempt.get_or_insert(now);
        Some(QueuedPod {
            pod: e.pod.clone(),
            key,
            attempts: e.attempts,
            timestamp: e.timestamp,
            initial_attempt: e.initial_attempt,
            cycle,
        })
    }

    /// Returns a popped pod that did not get scheduled. `rejected_by` are the plugins that
    /// rejected it (empty for an error: the pod goes to the error backoff). If an event one
    /// of those plugins cares about arrived during the attempt, the pod is retried after its
    /// backoff instead of waiting.
    pub fn mark_unschedulable(&mut self, key: &str, rejected_by: &BTreeSet<&str>, now: Duration) {
        let Some(e) = self.entries.get_mut(key) else {
            return;
        };
        if e.location != Location::InFlight {
            return;
        }
        e.timestamp = now;
        e.rejected_by = rejected_by.iter().map(|s| s.to_string()).collect();
        e.error = rejected_by.is_empty();
        let from = e.events_from;
        if e.error {
            self.place(key, Location::Backoff);
            self.prune_events();
            return;
        }
        let missed = self.in_flight_events[from.min(self.in_flight_events.len())..]
            .iter()
            .any(|ev| self.worth_requeuing(key, ev));
        if missed {
            self.requeue(key, now);
        } else {
            self.place(key, Location::Unschedulable);
        }
        self.prune_events();
    }

    fn worth_requeuing(&self, key: &str, event: &ClusterEvent) -> bool {
        let Some(e) = self.entries.get(key) else {
            return false;
        };
        if event.resource == EventResource::WildCard || e.rejected_by.is_empty() {
            return true;
        }
        e.rejected_by.iter().any(|plugin| {
            self.interests
                .get(plugin)
                .is_some_and(|evs| evs.iter().any(|i| i.matches(event)))
        })
    }

    fn prune_events(&mut self) {
        if !self
            .entries
            .values()
            .any(|e| e.location == Location::InFlight)
        {
            self.in_flight_events.clear();
        }
    }

    /// A cluster event: unschedulable pods rejected by a plugin interested in it are moved to
    /// activeQ (or backoffQ while backing off); pods in flight remember it.
    pub fn on_event(&mut self, event: ClusterEvent, now: Duration) {
        if self
            .entries
            .values()
            .any(|e| e.location == Location::InFlight)
        {
            self.in_flight_events.push(event);
        }
        let mut moving: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| e.location == Location::Unschedulable && !e.gated)
            .map(|(k, _)| k.clone())
            .filter(|k| self.worth_requeuing(k, &event))
            .collect();
        moving.sort();
        for k in moving {
            self.requeue(&k, now);
        }
    }

    /// Where a pod is, if queued.
    pub fn location(&self, key: &str) -> Option<Location> {
        self.entries.get(key).map(|e| e.location)
    }

    /// Number of pods in activeQ, backoffQ and the unschedulable set.
    pub fn lens(&self) -> (usize, usize, usize) {
        let unsched = self
            .entries
            .values()
            .filter(|e| e.location == Location::Unschedulable)
            .count();
        (
            self.active.len(),
            self.backoff.len() + self.error_backoff.len(),
            unsched,
        )
    }

    /// The earliest time at which [`SchedulingQueue::flush`] would move something, so a
    /// driver knows when to wake up.
    pub fn next_wakeup(&self) -> Option<Duration> {
        let backoff = self
            .backoff
            .keys()
            .next()
            .into_iter()
            .chain(self.error_backoff.keys().next())
            .map(|(t, _)| *t);
        let stale = self
            .entries
            .values()
            .filter(|e| e.location == Location::Unschedulable && !e.gated)
            .map(|e| {
                e.timestamp
                    .saturating_add(self.config.max_in_unschedulable)
                    .saturating_add(Duration::from_millis(1))
            });
        backoff.chain(stale).min()
    }
}

#[cfg(test)]
mod tests;
