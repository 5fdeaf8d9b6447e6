//! Upstream `rollingUpdate` (`update.go`): without surge, delete old pods within
//! maxUnavailable and let `manage` recreate them; with surge, start new pods next to old ones
//! within maxSurge and delete the old ones once the new are available.

use super::Sync;
use crate::cached_pod::CachedPod;
use crate::deployment::util::value_from_int_or_percent;
use crate::pods;

impl Sync<'_> {
    /// (maxSurge, maxUnavailable) over the nodes that should run a pod; upstream rounds both
    /// up, and falls back to maxUnavailable 1 when both are 0.
    pub(crate) fn max_surge_unavailable(&self) -> (i32, i32) {
        let desired = self.nodes.iter().filter(|n| self.should_run(n).0).count() as i32;
        let strategy = self
            .ds
            .spec
            .as_ref()
            .and_then(|s| s.update_strategy.as_ref());
        if strategy
            .and_then(|u| u.type_.as_deref())
            .unwrap_or("RollingUpdate")
            != "RollingUpdate"
        {
            return (0, 0);
        }
        let Some(ru) = strategy.and_then(|u| u.rolling_update.as_ref()) else {
            return (0, 1.min(desired));
        };
        let get = |v: Option<&k8s_openapi::apimachinery::pkg::util::intstr::IntOrString>| {
            v.and_then(|v| value_from_int_or_percent(v, desired, true))
                .unwrap_or(0)
        };
        let surge = get(ru.max_surge.as_ref());
        let mut unavailable = get(ru.max_unavailable.as_ref());
        if desired > 0 && surge == 0 && unavailable == 0 {
            unavailable = 1;
        }
        (surge, unavailable)
    }

    /// Upstream `findUpdatedPodsOnNode`: at most one new and one old live pod, else `None`.
    fn updated_on_node<'p>(
        &self,
        pods_on: &[&'p CachedPod],
    ) -> Option<(Option<&'p CachedPod>, Option<&'p CachedPod>)> {
        let (mut new, mut old) = (None, None);
        for &p in pods_on
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
        {
            let slot = if self.is_updated(p) {
                &mut new
            } else {
                &mut old
            };
            if slot.is_some() {
                return None;
            }
            *slot = Some(p);
        }
        Some((new, old))
    }

    /// Upstream `rollingUpdate`: (pods to delete, nodes to start a new pod on).
    pub(crate) fn rolling_update(&self) -> (Vec<String>, Vec<String>) {
        let (max_surge, max_unavailable) = self.max_surge_unavailable();
        let min_ready = self.min_ready();
        let avail = |p: &CachedPod| pods::is_available(p, min_ready, self.now);
        let name = |p: &CachedPod| p.metadata.name.clone().unwrap_or_default();
        if max_surge == 0 {
            let mut unavailable = 0;
            let mut replace = Vec::new();
            let mut candidates = Vec::new();
            for pods_on in self.by_node.values() {
                let Some((new, old)) = self.updated_on_node(pods_on) else {
                    unavailable += 1;
                    continue;
                };
                match (new, old) {
                    (None, None) | (Some(_), Some(_)) => unavailable += 1,
                    (Some(n), None) => {
                        if !avail(n) {
                            unavailable += 1;
                        }
                    }
                    (None, Some(o)) => {
                        if !avail(o) {
                            replace.push(name(o));
                            unavailable += 1;
                        } else if unavailable < max_unavailable {
                            candidates.push(name(o));
                        }
                    }
                }
            }
            let room = usize::try_from((max_unavailable - unavailable).max(0))
                .unwrap_or(0)
                .min(candidates.len());
            replace.extend(candidates.into_iter().take(room));
            return (replace, Vec::new());
        }

        let desired = self.nodes.iter().filter(|n| self.should_run(n).0).count() as i32;
        let (mut delete, mut should_not_run, mut candidates, mut allowed) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut surge, mut available) = (0, 0);
        for (node_name, pods_on) in &self.by_node {
            let Some((new, old)) = self.updated_on_node(pods_on) else {
                surge += 1;
                continue;
            };
            match (old, new) {
                (Some(o), _) if avail(o) => available += 1,
                (None, Some(n)) if avail(n) => available += 1,
                _ => {}
            }
            let runs_here = self.node(node_name).is_some_and(|n| self.should_run(n).0);
            match (old, new) {
                (None, _) => {}
                (Some(o), None) => {
                    if !avail(o) {
                        if !runs_here {
                            delete.push(name(o));
                            continue;
                        }
                        allowed.push(node_name.clone());
                    } else {
                        if !runs_here {
                            should_not_run.push(name(o));
                            continue;
                        }
                        if surge >= max_surge {
                            continue;
                        }
                        candidates.push(node_name.clone());
                    }
                }
                (Some(o), Some(n)) => {
                    if !avail(n) {
                        surge += 1;
                        continue;
                    }
                    delete.push(name(o));
                }
            }
        }
        let deletable = usize::try_from((available - desired).max(0))
            .unwrap_or(0)
            .min(should_not_run.len());
        delete.extend(should_not_run.into_iter().take(deletable));
        let room = usize::try_from((max_surge - surge).max(0))
            .unwrap_or(0)
            .min(candidates.len());
        allowed.extend(candidates.into_iter().take(room));
        (delete, allowed)
    }
}
