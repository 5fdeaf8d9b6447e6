//! Upstream `rolling.go`: scale the new ReplicaSet up within maxSurge, then the old ones down
//! within maxUnavailable, unhealthy replicas first.

use super::util::{self, *};
use super::Planner;

impl Planner<'_> {
    /// Upstream `rolloutRolling`.
    pub(crate) fn rollout_rolling(&mut self) {
        let Ok(new) = self.get_all_and_sync_revision(true) else {
            return;
        };
        let Some(new) = new else {
            return;
        };
        if self.reconcile_new_rs(new) {
            self.sync_rollout_status(Some(new));
            return;
        }
        if self.reconcile_old_rss(new) {
            self.sync_rollout_status(Some(new));
            return;
        }
        if deployment_complete(&self.d, &self.status()) {
            let old = self.old_indices(Some(new));
            self.cleanup(&old);
        }
        self.sync_rollout_status(Some(new));
    }

    /// Upstream `reconcileNewReplicaSet`.
    fn reconcile_new_rs(&mut self, new: usize) -> bool {
        let want = replicas(&self.d);
        let cur = util::rs_replicas(&self.rss[new]);
        if cur == want {
            return false;
        }
        if cur > want {
            return self.scale_rs_and_record(new, want);
        }
        let all: Vec<&k8s_openapi::api::apps::v1::ReplicaSet> = self.rss.iter().collect();
        let count = new_rs_new_replicas(&self.d, &all, &self.rss[new]);
        self.scale_rs_and_record(new, count)
    }

    /// Upstream `reconcileOldReplicaSets`.
    fn reconcile_old_rss(&mut self, new: usize) -> bool {
        let old: Vec<usize> = self
            .old_indices(Some(new))
            .into_iter()
            .filter(|i| util::rs_replicas(&self.rss[*i]) > 0)
            .collect();
        let old_pods: i32 = old
            .iter()
            .map(|i| util::rs_replicas(&self.rss[*i]))
            .fold(0i32, i32::saturating_add);
        if old_pods == 0 {
            return false;
        }
        let all_pods: i32 = self
            .rss
            .iter()
            .map(util::rs_replicas)
            .fold(0i32, i32::saturating_add);
        let min_available = replicas(&self.d) - max_unavailable(&self.d);
        let new_rs = &self.rss[new];
        let new_unavailable = util::rs_replicas(new_rs) - util::rs_counts(new_rs).2;
        let max_scaled_down = all_pods - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        let cleaned = self.cleanup_unhealthy_replicas(&old, max_scaled_down);
        let scaled = self.scale_down_old_for_rolling_update(&old);
        cleaned + scaled > 0
    }

    /// Upstream `cleanupUnhealthyReplicas`: scale old ReplicaSets down by their unavailable
    /// replicas first (that cannot reduce availability).
    fn cleanup_unhealthy_replicas(&mut self, old: &[usize], max_cleanup: i32) -> i32 {
        let mut total = 0;
        for &i in old {
            if total >= max_cleanup {
                break;
            }
            let cur = util::rs_replicas(&self.rss[i]);
            let avail = util::rs_counts(&self.rss[i]).2;
            if cur == 0 || cur == avail {
                continue;
            }
            let down = (max_cleanup - total).min(cur - avail);
            if down <= 0 {
                continue;
            }
            self.scale_rs_and_record(i, cur - down);
            total += down;
        }
        total
    }

    /// Upstream `scaleDownOldReplicaSetsForRollingUpdate`: keep at least replicas −
    /// maxUnavailable available.
    fn scale_down_old_for_rolling_update(&mut self, old: &[usize]) -> i32 {
        let min_available = replicas(&self.d) - max_unavailable(&self.d);
        let available: i32 = self
            .rss
            .iter()
            .map(|rs| util::rs_counts(rs).2)
            .fold(0i32, i32::saturating_add);
        if available <= min_available {
            return 0;
        }
        let want_down = available - min_available;
        let mut total = 0;
        for &i in old {
            if total >= want_down {
                break;
            }
            let cur = util::rs_replicas(&self.rss[i]);
            if cur == 0 {
                continue;
            }
            let down = cur.min(want_down - total);
            self.scale_rs_and_record(i, cur - down);
            total += down;
        }
        total
    }
}
