//! StatefulSet revisions (upstream `history` and `getStatefulSetRevisions`): each distinct pod
//! template is a ControllerRevision `<set>-<hash>`; pods carry `controller-revision-hash`.

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use serde_json::{json, Value};

use crate::cached_pod::CachedPod;
use crate::hash::safe_encode;
use crate::ownership;

/// Upstream `apps.ControllerRevisionHashLabelKey`.
pub const REVISION_LABEL: &str = "controller-revision-hash";
/// Upstream default of `spec.revisionHistoryLimit`.
pub const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;

/// The revision a pod was created from.
pub fn pod_revision(p: &CachedPod) -> Option<&str> {
    p.metadata
        .labels
        .as_ref()?
        .get(REVISION_LABEL)
        .map(String::as_str)
}

/// Upstream `getPatch`: the revision data, `{"spec":{"template":{..., "$patch":"replace"}}}`.
pub fn revision_data(template: &PodTemplateSpec) -> Value {
    let mut t = serde_json::to_value(template).unwrap_or(Value::Null);
    if let Some(o) = t.as_object_mut() {
        o.insert("$patch".into(), json!("replace"));
    }
    json!({ "spec": { "template": t } })
}

/// The template a revision records.
pub fn revision_template(rev: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut t = rev.data.as_ref()?.0.pointer("/spec/template")?.clone();
    if let Some(o) = t.as_object_mut() {
        o.remove("$patch");
    }
    serde_json::from_value(t).ok()
}

fn fnv32a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// Upstream `HashControllerRevision`: a hash of the data (and the collision count).
pub fn hash_revision(data: &Value, collision_count: Option<i32>) -> String {
    let mut bytes = serde_json::to_vec(data).unwrap_or_default();
    if let Some(c) = collision_count {
        bytes.extend_from_slice(&(c as u32).to_le_bytes());
    }
    safe_encode(&fnv32a(&bytes).to_string())
}

fn same_data(a: &ControllerRevision, data: &Value) -> bool {
    let mut x = a.data.as_ref().map(|d| d.0.clone()).unwrap_or(Value::Null);
    let mut y = data.clone();
    prune(&mut x);
    prune(&mut y);
    x == y
}

fn prune(v: &mut Value) -> bool {
    match v {
        Value::Null => false,
        Value::Array(a) => {
            a.iter_mut().for_each(|x| {
                prune(x);
            });
            !a.is_empty()
        }
        Value::Object(m) => {
            m.retain(|_, x| prune(x));
            !m.is_empty()
        }
        _ => true,
    }
}

/// What to do about revisions in this sync.
#[derive(Debug, Default)]
pub struct Revisions {
    /// The revision pods are being rolled to.
    pub update: ControllerRevision,
    /// The revision the set was last fully at (the update revision when none).
    pub current: ControllerRevision,
    /// The collision count after this sync.
    pub collision_count: Option<i32>,
    /// A revision to create.
    pub create: Option<ControllerRevision>,
    /// An existing revision whose number must rise (the template went back to it).
    pub renumber: Option<ControllerRevision>,
}

/// Upstream `getStatefulSetRevisions`.
pub fn resolve(set: &StatefulSet, owned: &[&ControllerRevision]) -> Revisions {
    let spec = set.spec.clone().unwrap_or_default();
    let status = set.status.clone().unwrap_or_default();
    resolve_for(
        &Parent {
            meta: &set.metadata,
            kind: "StatefulSet",
            template: &spec.template,
            collision_count: status.collision_count,
            current: status.current_revision.as_deref(),
        },
        owned,
    )
}

/// The owner of a revision history (StatefulSet or DaemonSet).
#[derive(Debug)]
pub struct Parent<'a> {
    /// The owner's metadata.
    pub meta: &'a ObjectMeta,
    /// `StatefulSet` or `DaemonSet` (apps/v1).
    pub kind: &'static str,
    /// The current pod template.
    pub template: &'a PodTemplateSpec,
    /// `status.collisionCount`.
    pub collision_count: Option<i32>,
    /// `status.currentRevision`, where the kind has one.
    pub current: Option<&'a str>,
}

/// Upstream's revision bookkeeping for any owner: reuse a revision with equal data
/// (renumbering it when it is not the latest) or create `<owner>-<hash>`, stepping the
/// collision count past names taken by different data.
pub fn resolve_for(parent: &Parent<'_>, owned: &[&ControllerRevision]) -> Revisions {
    let data = revision_data(parent.template);
    let mut sorted: Vec<&ControllerRevision> = owned.to_vec();
    sorted.sort_by(|a, b| {
        a.revision
            .cmp(&b.revision)
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    let next = sorted.last().map_or(0, |r| r.revision) + 1;
    let mut collision = parent.collision_count;
    let mut out = Revisions::default();

    let equal: Vec<&&ControllerRevision> = sorted.iter().filter(|r| same_data(r, &data)).collect();
    let update = if let Some(last_equal) = equal.last() {
        if sorted.last().map(|r| &r.metadata.name) == Some(&last_equal.metadata.name) {
            (**last_equal).clone()
        } else {
            let mut r = (**last_equal).clone();
            r.revision = next;
            out.renumber = Some(r.clone());
            r
        }
    } else {
        let set_name = parent.meta.name.clone().unwrap_or_default();
        let mut name;
        let mut hash;
        loop {
            hash = hash_revision(&data, collision);
            name = format!("{set_name}-{hash}");
            match sorted
                .iter()
                .find(|r| r.metadata.name.as_deref() == Some(name.as_str()))
            {
                Some(r) if !same_data(r, &data) => {
                    collision = Some(collision.unwrap_or(0).saturating_add(1))
                }
                _ => break,
            }
        }
        let mut labels = parent
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        labels.insert(REVISION_LABEL.into(), hash);
        let r = ControllerRevision {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: parent.meta.namespace.clone(),
                labels: Some(labels),
                owner_references: Some(vec![ownership::controller_ref(
                    "apps/v1",
                    parent.kind,
                    parent.meta,
                )]),
                ..ObjectMeta::default()
            },
            data: Some(RawExtension(data)),
            revision: next,
        };
        out.create = Some(r.clone());
        r
    };
    let current_name = parent.current.map(str::to_string);
    out.current = sorted
        .iter()
        .find(|r| r.metadata.name.is_some() && r.metadata.name == current_name)
        .map(|r| (*r).clone())
        .unwrap_or_else(|| update.clone());
    out.update = update;
    out.collision_count = collision;
    out
}

/// Upstream `truncateHistory`: delete the oldest revisions beyond the limit that no live pod,
/// nor the current or update revision, uses.
pub fn truncate(
    set: &StatefulSet,
    owned: &[&ControllerRevision],
    pods: &[&CachedPod],
    keep: &[&str],
) -> Vec<String> {
    let limit = set
        .spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .unwrap_or(DEFAULT_REVISION_HISTORY_LIMIT)
        .max(0) as usize;
    let live: BTreeSet<&str> = pods
        .iter()
        .filter_map(|p| pod_revision(p))
        .chain(keep.iter().copied())
        .collect();
    let mut history: Vec<&ControllerRevision> = owned
        .iter()
        .copied()
        .filter(|r| !live.contains(r.metadata.name.as_deref().unwrap_or_default()))
        .collect();
    if history.len() <= limit {
        return Vec::new();
    }
    history.sort_by_key(|r| r.revision);
    let n = history.len() - limit;
    history
        .into_iter()
        .take(n)
        .filter_map(|r| r.metadata.name.clone())
        .collect()
}
