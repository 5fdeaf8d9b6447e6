//! Upstream `sync.go`: finding or creating the new ReplicaSet and syncing revisions,
//! proportional scaling, history cleanup, paused conditions, and the plain status sync.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::util::{self, *};
use super::{progress, Planner};
use crate::event::Event;
use crate::hash::{compute_hash, POD_TEMPLATE_HASH_LABEL};
use crate::ownership;

/// The sync stopped early (upstream returned an error and requeued).
pub(crate) struct Abort;

impl Planner<'_> {
    /// Upstream `FindNewReplicaSet`: the oldest ReplicaSet whose template equals the
    /// Deployment's (ignoring the hash label).
    pub(crate) fn new_rs_index(&self) -> Option<usize> {
        let tpl = &self.d.spec.as_ref()?.template;
        self.rss
            .iter()
            .position(|rs| util::equal_ignore_hash(&util::rs_template(rs), tpl))
    }

    /// All ReplicaSets but the new one, oldest first.
    pub(crate) fn old_indices(&self, new: Option<usize>) -> Vec<usize> {
        (0..self.rss.len()).filter(|i| Some(*i) != new).collect()
    }

    /// Upstream `getAllReplicaSetsAndSyncRevision` / `getNewReplicaSet`: syncs the new RS's
    /// annotations and the Deployment's revision, creating the new RS when `create`.
    pub(crate) fn get_all_and_sync_revision(
        &mut self,
        create: bool,
    ) -> Result<Option<usize>, Abort> {
        let existing = self.new_rs_index();
        let old = self.old_indices(existing);
        let new_revision = util::max_revision(old.iter().map(|i| &self.rss[*i])) + 1;

        if let Some(idx) = existing {
            let mut copy = self.rss[idx].clone();
            let annotations_updated =
                set_new_rs_annotations(&self.d, &mut copy, new_revision, true);
            let d_min_ready = util::min_ready_seconds(&self.d);
            let spec = copy.spec.get_or_insert_with(Default::default);
            let min_ready_update = spec.min_ready_seconds.unwrap_or(0) != d_min_ready;
            if annotations_updated || min_ready_update {
                spec.min_ready_seconds = (d_min_ready != 0).then_some(d_min_ready);
                self.rss[idx] = copy;
                self.touch(idx);
                return Ok(Some(idx));
            }
            let rev = copy
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(REVISION_ANNOTATION))
                .cloned()
                .unwrap_or_default();
            self.set_deployment_revision(&rev);
            if has_progress_deadline(&self.d)
                && get_condition(&self.status(), PROGRESSING).is_none()
            {
                let msg = format!("Found new replica set {:?}", self.name_of(idx));
                let c = new_condition(PROGRESSING, "True", FOUND_NEW_RS_REASON, msg, self.now);
                set_condition(self.status_mut(), c);
            }
            return Ok(Some(idx));
        }
        if !create {
            return Ok(None);
        }
        self.create_new_rs(new_revision, &old).map(Some)
    }

    fn set_deployment_revision(&mut self, rev: &str) {
        let a = self
            .d
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new);
        if a.get(REVISION_ANNOTATION).map(String::as_str) != Some(rev) {
            a.insert(REVISION_ANNOTATION.into(), rev.into());
        }
    }

    fn create_new_rs(&mut self, new_revision: i64, old: &[usize]) -> Result<usize, Abort> {
        let Some(spec) = self.d.spec.clone() else {
            return Err(Abort);
        };
        let collision = self.status().collision_count;
        let hash = compute_hash(&spec.template, collision);
        let mut template = spec.template.clone();
        let tmeta = template.metadata.get_or_insert_with(Default::default);
        tmeta
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(POD_TEMPLATE_HASH_LABEL.into(), hash.clone());
        let labels = tmeta.labels.clone();
        let mut selector: LabelSelector = spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(BTreeMap::new)
            .insert(POD_TEMPLATE_HASH_LABEL.into(), hash.clone());
        let d_name = self.d.metadata.name.clone().unwrap_or_default();
        let name = format!("{d_name}-{hash}");

        // Upstream learns of a name collision from the create's AlreadyExists; we see it in
        // the cache. Our own RS with the same template would have been found above.
        if let Some(other) = self
            .obs
            .replica_sets
            .iter()
            .find(|rs| rs.metadata.name.as_deref() == Some(name.as_str()))
        {
            let ours = ownership::is_controlled_by(
                &other.metadata,
                self.d.metadata.uid.as_deref().unwrap_or_default(),
            );
            if !(ours && util::equal_ignore_hash(&spec.template, &util::rs_template(other))) {
                let st = self.status_mut();
                st.collision_count = Some(st.collision_count.unwrap_or(0).saturating_add(1));
            }
            return Err(Abort);
        }

        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: self.d.metadata.namespace.clone(),
                owner_references: Some(vec![ownership::controller_ref(
                    "apps/v1",
                    "Deployment",
                    &self.d.metadata,
                )]),
                labels,
                creation_timestamp: Some(super::time(self.now)),
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: spec.min_ready_seconds.filter(|s| *s != 0),
                selector,
                template: Some(template),
            }),
            status: None,
        };
        let all: Vec<&ReplicaSet> = old
            .iter()
            .map(|i| &self.rss[*i])
            .chain(std::iter::once(&rs))
            .collect();
        let count = new_rs_new_replicas(&self.d, &all, &rs);
        util::set_rs_replicas(&mut rs, count);
        set_new_rs_annotations(&self.d, &mut rs, new_revision, false);
        self.rss.push(rs);
        let idx = self.rss.len() - 1;
        self.created = Some(name.clone());
        if count > 0 {
            self.events.push(Event::normal(
                "ScalingReplicaSet",
                format!("Scaled up replica set {name} to {count}"),
            ));
        }
        self.set_deployment_revision(&new_revision.to_string());
        if has_progress_deadline(&self.d) {
            let msg = format!("Created new replica set {name:?}");
            let c = new_condition(PROGRESSING, "True", NEW_REPLICA_SET_REASON, msg, self.now);
            set_condition(self.status_mut(), c);
        }
        Ok(idx)
    }

    /// Upstream `scaleReplicaSetAndRecordEvent`: nothing when already at `new_scale`.
    pub(crate) fn scale_rs_and_record(&mut self, idx: usize, new_scale: i32) -> bool {
        let cur = util::rs_replicas(&self.rss[idx]);
        if cur == new_scale {
            return false;
        }
        let op = if cur < new_scale { "up" } else { "down" };
        self.scale_rs(idx, new_scale, op)
    }

    /// Upstream `scaleReplicaSet`: sets replicas and the replicas annotations; true when the
    /// size changed.
    pub(crate) fn scale_rs(&mut self, idx: usize, new_scale: i32, op: &str) -> bool {
        let desired = replicas(&self.d);
        let max = desired + max_surge(&self.d);
        let old = util::rs_replicas(&self.rss[idx]);
        let size_changed = old != new_scale;
        if size_changed || replicas_annotations_need_update(&self.rss[idx], desired, max) {
            util::set_rs_replicas(&mut self.rss[idx], new_scale);
            set_replicas_annotations(&mut self.rss[idx], desired, max);
            self.touch(idx);
            if size_changed {
                let name = self.name_of(idx);
                self.events.push(Event::normal(
                    "ScalingReplicaSet",
                    format!("Scaled {op} replica set {name} to {new_scale} from {old}"),
                ));
            }
        }
        size_changed
    }

    /// Upstream `scale`: on scaling events and while paused, spread the change in replicas
    /// over the active ReplicaSets in proportion to their size.
    pub(crate) fn scale(&mut self, new: Option<usize>) {
        let old = self.old_indices(new);
        let d_replicas = replicas(&self.d);
        if let Some(idx) = self.find_active_or_latest(new, &old) {
            if util::rs_replicas(&self.rss[idx]) == d_replicas {
                return;
            }
            self.scale_rs_and_record(idx, d_replicas);
            return;
        }
        if is_saturated(&self.d, new.map(|i| &self.rss[i])) {
            for i in old {
                if util::rs_replicas(&self.rss[i]) > 0 {
                    self.scale_rs_and_record(i, 0);
                }
            }
            return;
        }
        if !is_rolling_update(&self.d) {
            return;
        }
        let mut active: Vec<usize> = old
            .iter()
            .copied()
            .chain(new)
            .filter(|i| util::rs_replicas(&self.rss[*i]) > 0)
            .collect();
        let total: i32 = active
            .iter()
            .map(|i| util::rs_replicas(&self.rss[*i]))
            .fold(0i32, i32::saturating_add);
        let allowed = if d_replicas > 0 {
            d_replicas + max_surge(&self.d)
        } else {
            0
        };
        let to_add = allowed - total;
        let op = match to_add.signum() {
            1 => {
                active.sort_by(|a, b| {
                    let (ra, rb) = (&self.rss[*a], &self.rss[*b]);
                    util::rs_replicas(rb)
                        .cmp(&util::rs_replicas(ra))
                        .then_with(|| util::by_creation(rb, ra))
                });
                "up"
            }
            -1 => {
                active.sort_by(|a, b| {
                    let (ra, rb) = (&self.rss[*a], &self.rss[*b]);
                    util::rs_replicas(rb)
                        .cmp(&util::rs_replicas(ra))
                        .then_with(|| util::by_creation(ra, rb))
                });
                "down"
            }
            _ => "",
        };
        let mut added = 0;
        let mut sizes = Vec::with_capacity(active.len());
        for &i in &active {
            let cur = util::rs_replicas(&self.rss[i]);
            if to_add != 0 {
                let p = self.proportion(i, to_add, added);
                sizes.push(cur.saturating_add(p));
                added = added.saturating_add(p);
            } else {
                sizes.push(cur);
            }
        }
        for (pos, &i) in active.iter().enumerate() {
            let mut size = sizes[pos];
            if pos == 0 && to_add != 0 {
                size = size.saturating_add(to_add.saturating_sub(added)).max(0);
            }
            self.scale_rs(i, size, op);
        }
    }

    /// Upstream `FindActiveOrLatest`: the only active RS, the newest when none is active, or
    /// `None` when several are active.
    fn find_active_or_latest(&self, new: Option<usize>, old: &[usize]) -> Option<usize> {
        if new.is_none() && old.is_empty() {
            return None;
        }
        let active: Vec<usize> = old
            .iter()
            .copied()
            .chain(new)
            .filter(|i| util::rs_replicas(&self.rss[*i]) > 0)
            .collect();
        match active.len() {
            0 => new.or_else(|| {
                old.iter()
                    .copied()
                    .max_by(|a, b| util::by_creation(&self.rss[*a], &self.rss[*b]))
            }),
            1 => Some(active[0]),
            _ => None,
        }
    }

    /// Upstream `GetProportion` / `getReplicaSetFraction`.
    fn proportion(&self, idx: usize, to_add: i32, added: i32) -> i32 {
        let rs = &self.rss[idx];
        let cur = util::rs_replicas(rs);
        if cur == 0 || to_add == 0 || to_add == added {
            return 0;
        }
        let fraction = if replicas(&self.d) == 0 {
            -cur
        } else {
            let d_total = replicas(&self.d) + max_surge(&self.d);
            let annotated = int_annotation(rs, MAX_REPLICAS_ANNOTATION).unwrap_or_else(|| {
                self.d
                    .status
                    .as_ref()
                    .and_then(|s| s.replicas)
                    .unwrap_or(0)
                    .clamp(0, MAX_REPLICAS)
            });
            if annotated == 0 {
                0
            } else {
                let size = f64::from(cur) * f64::from(d_total) / f64::from(annotated);
                let bound = f64::from(MAX_REPLICAS) * 4.0;
                (size.round().clamp(-bound, bound) as i32).saturating_sub(cur)
            }
        };
        let allowed = to_add.saturating_sub(added);
        if to_add > 0 {
            fraction.min(allowed)
        } else {
            fraction.max(allowed)
        }
    }

    /// Upstream `cleanupDeployment`: delete the oldest old ReplicaSets beyond
    /// revisionHistoryLimit that are fully scaled down and observed.
    pub(crate) fn cleanup(&mut self, old: &[usize]) {
        let Some(limit) = revision_history_limit(&self.d) else {
            return;
        };
        let mut cleanable: Vec<usize> = old
            .iter()
            .copied()
            .filter(|i| self.rss[*i].metadata.deletion_timestamp.is_none())
            .collect();
        let diff = cleanable.len() as i64 - i64::from(limit);
        if diff <= 0 {
            return;
        }
        cleanable.sort_by(|a, b| util::by_revision(&self.rss[*a], &self.rss[*b]));
        for &i in cleanable.iter().take(usize::try_from(diff).unwrap_or(0)) {
            let rs = &self.rss[i];
            let observed = rs
                .status
                .as_ref()
                .and_then(|s| s.observed_generation)
                .unwrap_or(0);
            if util::rs_counts(rs).0 != 0
                || util::rs_replicas(rs) != 0
                || rs.metadata.generation.unwrap_or(0) > observed
            {
                continue;
            }
            let name = self.name_of(i);
            if !self.deleted.contains(&name) {
                self.deleted.push(name);
            }
        }
    }

    /// Upstream `sync`: scaling events and paused Deployments.
    pub(crate) fn sync(&mut self) {
        let Ok(new) = self.get_all_and_sync_revision(false) else {
            return;
        };
        self.scale(new);
        let paused = self.d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
        if paused {
            let old = self.old_indices(new);
            self.cleanup(&old);
        }
        self.sync_deployment_status(new);
    }

    /// Upstream `syncStatusOnly`: a Deployment being deleted only reports status.
    pub(crate) fn sync_status_only(&mut self) {
        let Ok(new) = self.get_all_and_sync_revision(false) else {
            return;
        };
        self.sync_deployment_status(new);
    }

    /// Upstream `syncDeploymentStatus`.
    pub(crate) fn sync_deployment_status(&mut self, new: Option<usize>) {
        let st = progress::calculate_status(self, new);
        self.d.status = Some(st);
    }

    /// Upstream `checkPausedConditions`: Progressing=Unknown DeploymentPaused/Resumed.
    pub(crate) fn check_paused_conditions(&mut self) {
        if !has_progress_deadline(&self.d) {
            return;
        }
        let st = self.status();
        let cond = get_condition(&st, PROGRESSING);
        if cond.is_some_and(|c| c.reason.as_deref() == Some(TIMED_OUT_REASON)) {
            return;
        }
        let paused_exists = cond.is_some_and(|c| c.reason.as_deref() == Some(PAUSED_DEPLOY_REASON));
        let paused = self.d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
        let c = if paused && !paused_exists {
            new_condition(
                PROGRESSING,
                "Unknown",
                PAUSED_DEPLOY_REASON,
                "Deployment is paused".into(),
                self.now,
            )
        } else if !paused && paused_exists {
            new_condition(
                PROGRESSING,
                "Unknown",
                RESUMED_DEPLOY_REASON,
                "Deployment is resumed".into(),
                self.now,
            )
        } else {
            return;
        };
        set_condition(self.status_mut(), c);
    }

    /// Upstream `isScalingEvent`: an active ReplicaSet remembers a different desired size.
    pub(crate) fn is_scaling_event(&mut self) -> bool {
        let Ok(new) = self.get_all_and_sync_revision(false) else {
            return false;
        };
        let want = replicas(&self.d);
        let old = self.old_indices(new);
        old.iter().copied().chain(new).any(|i| {
            let rs = &self.rss[i];
            util::rs_replicas(rs) > 0
                && int_annotation(rs, DESIRED_REPLICAS_ANNOTATION).is_some_and(|d| d != want)
        })
    }
}
