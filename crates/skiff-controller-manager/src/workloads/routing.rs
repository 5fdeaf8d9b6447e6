//! Which controller keys each change wakes up (upstream's event handlers): a child wakes its
//! controller (old and new owner), an orphan wakes the controllers whose selector matches it.

use super::{Kind, Queues};
use crate::informers::Informers;
use crate::runtime::{Change, ObjectKey};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use skiff_controllers::ownership::Selector;

fn controller(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
}

fn kind_of(r: &OwnerReference) -> Option<Kind> {
    Some(match (r.api_version.as_str(), r.kind.as_str()) {
        ("apps/v1", "ReplicaSet") => Kind::ReplicaSet,
        ("v1", "ReplicationController") => Kind::ReplicationController,
        ("apps/v1", "Deployment") => Kind::Deployment,
        ("batch/v1", "Job") => Kind::Job,
        ("batch/v1", "CronJob") => Kind::CronJob,
        ("apps/v1", "StatefulSet") => Kind::StatefulSet,
        ("apps/v1", "DaemonSet") => Kind::DaemonSet,
        _ => return None,
    })
}

impl Queues {
    pub(crate) fn add(&self, kind: Kind, key: ObjectKey) {
        match kind {
            Kind::ReplicaSet => self.rs.add(key),
            Kind::ReplicationController => self.rc.add(key),
            Kind::Deployment => self.deploy.add(key),
            Kind::Job => self.job.add(key),
            Kind::CronJob => self.cron.add(key),
            Kind::StatefulSet => self.sts.add(key),
            Kind::DaemonSet => self.ds.add(key),
        }
    }

    /// Wakes the controllers of a child before and after a change.
    fn owners(&self, old: Option<&ObjectMeta>, new: &ObjectMeta) {
        let ns = new.namespace.clone().unwrap_or_default();
        let now = controller(new);
        for r in old.and_then(controller).into_iter().chain(now) {
            if let Some(kind) = kind_of(r) {
                self.add(kind, ObjectKey::new(ns.clone(), r.name.clone()));
            }
        }
    }
}

fn matches(sel: Option<&LabelSelector>, meta: &ObjectMeta) -> bool {
    sel.and_then(Selector::from_label_selector)
        .is_some_and(|s| !s.is_empty() && s.matches(meta.labels.as_ref()))
}

/// Hooks the queues to the informers.
pub(crate) fn register(inf: &Informers, q: &Queues) {
    // Pods: their controller, or for an orphan every controller whose selector matches.
    let (qq, rs, rc, sts, ds, jobs) = (
        q.clone(),
        inf.replica_sets.cache(),
        inf.replication_controllers.cache(),
        inf.stateful_sets.cache(),
        inf.daemon_sets.cache(),
        inf.jobs.cache(),
    );
    inf.pods.on_change(move |c| {
        let new = &c.object().metadata;
        qq.owners(c.old().map(|o| &o.metadata), new);
        let orphan = controller(new).is_none() && new.deletion_timestamp.is_none();
        if !orphan || matches!(c, Change::Deleted(_)) {
            return;
        }
        let ns = new.namespace.clone().unwrap_or_default();
        for r in rs.list_namespace(&ns) {
            if matches(r.spec.as_ref().map(|s| &s.selector), new) {
                qq.rs.add(ObjectKey::of(r.as_ref()));
            }
        }
        for r in rc.list_namespace(&ns) {
            let sel = r.spec.as_ref().and_then(|s| s.selector.as_ref());
            if sel.is_some_and(|m| {
                !m.is_empty() && Selector::from_map(m).matches(new.labels.as_ref())
            }) {
                qq.rc.add(ObjectKey::of(r.as_ref()));
            }
        }
        for s in sts.list_namespace(&ns) {
            if matches(s.spec.as_ref().map(|s| &s.selector), new) {
                qq.sts.add(ObjectKey::of(s.as_ref()));
            }
        }
        for d in ds.list_namespace(&ns) {
            if matches(d.spec.as_ref().map(|s| &s.selector), new) {
                qq.ds.add(ObjectKey::of(d.as_ref()));
            }
        }
        for j in jobs.list_namespace(&ns) {
            if matches(j.spec.as_ref().and_then(|s| s.selector.as_ref()), new) {
                qq.job.add(ObjectKey::of(j.as_ref()));
            }
        }
    });
    // ReplicaSets: themselves, and their Deployment (or, orphaned, matching Deployments).
    let (qq, deploys) = (q.clone(), inf.deployments.cache());
    inf.replica_sets.on_change(move |c| {
        let new = &c.object().metadata;
        qq.rs.add(ObjectKey::of(c.object()));
        qq.owners(c.old().map(|o| &o.metadata), new);
        if controller(new).is_none() && !matches!(c, Change::Deleted(_)) {
            let ns = new.namespace.clone().unwrap_or_default();
            for d in deploys.list_namespace(&ns) {
                if matches(d.spec.as_ref().map(|s| &s.selector), new) {
                    qq.deploy.add(ObjectKey::of(d.as_ref()));
                }
            }
        }
    });
    let qq = q.clone();
    inf.deployments
        .on_change(move |c| qq.deploy.add(ObjectKey::of(c.object())));
    let qq = q.clone();
    inf.replication_controllers
        .on_change(move |c| qq.rc.add(ObjectKey::of(c.object())));
    let qq = q.clone();
    inf.jobs.on_change(move |c| {
        qq.job.add(ObjectKey::of(c.object()));
        qq.owners(c.old().map(|o| &o.metadata), &c.object().metadata);
    });
    let qq = q.clone();
    inf.cron_jobs
        .on_change(move |c| qq.cron.add(ObjectKey::of(c.object())));
    let qq = q.clone();
    inf.stateful_sets
        .on_change(move |c| qq.sts.add(ObjectKey::of(c.object())));
    let qq = q.clone();
    inf.daemon_sets
        .on_change(move |c| qq.ds.add(ObjectKey::of(c.object())));
    let qq = q.clone();
    inf.revisions
        .on_change(move |c| qq.owners(c.old().map(|o| &o.metadata), &c.object().metadata));
    // Nodes: every DaemonSet, when a node comes, goes, or changes what may run on it.
    let (qq, ds) = (q.clone(), inf.daemon_sets.cache());
    inf.nodes.on_change(move |c| {
        let relevant = match c {
            Change::Applied {
                old: Some(old),
                new,
            } => {
                old.metadata.labels != new.metadata.labels
                    || old.spec.as_ref().map(|s| (&s.taints, s.unschedulable))
                        != new.spec.as_ref().map(|s| (&s.taints, s.unschedulable))
            }
            _ => true,
        };
        if relevant {
            for d in ds.list() {
                qq.ds.add(ObjectKey::of(d.as_ref()));
            }
        }
    });
}
