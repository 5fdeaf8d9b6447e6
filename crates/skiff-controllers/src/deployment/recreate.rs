//! Upstream `recreate.go`: scale every old ReplicaSet to zero, wait until their pods are
//! gone, then create and scale up the new one.

use std::collections::BTreeSet;

use super::util::{self, *};
use super::Planner;
use crate::ownership;
use crate::pods;

impl Planner<'_> {
    /// Upstream `rolloutRecreate`.
    pub(crate) fn rollout_recreate(&mut self) {
        let Ok(mut new) = self.get_all_and_sync_revision(false) else {
            return;
        };
        let old = self.old_indices(new);
        let mut scaled_down = false;
        for &i in &old {
            if util::rs_replicas(&self.rss[i]) > 0 {
                scaled_down |= self.scale_rs_and_record(i, 0);
            }
        }
        if scaled_down || self.old_pods_running(new, &old) {
            self.sync_rollout_status(new);
            return;
        }
        if new.is_none() {
            match self.get_all_and_sync_revision(true) {
                Ok(n) => new = n,
                Err(_) => return,
            }
        }
        if let Some(n) = new {
            let want = replicas(&self.d);
            self.scale_rs_and_record(n, want);
        }
        if deployment_complete(&self.d, &self.status()) {
            let old = self.old_indices(new);
            self.cleanup(&old);
        }
        self.sync_rollout_status(new);
    }

    /// Upstream `oldPodsRunning`: old ReplicaSets still report pods, or pods they control
    /// are not terminal yet.
    fn old_pods_running(&self, new: Option<usize>, old: &[usize]) -> bool {
        if old
            .iter()
            .map(|i| util::rs_counts(&self.rss[*i]).0)
            .fold(0i32, i32::saturating_add)
            > 0
        {
            return true;
        }
        let old_uids: BTreeSet<&str> = old
            .iter()
            .filter(|i| Some(**i) != new)
            .filter_map(|i| self.rss[*i].metadata.uid.as_deref())
            .collect();
        self.obs.pods.iter().any(|p| {
            ownership::controller_of(&p.metadata).is_some_and(|r| old_uids.contains(r.uid.as_str()))
                && !pods::is_terminal(p)
        })
    }
}
