//! Controller references, label selectors over typed objects, and upstream's claim rules
//! (`ControllerRefManager`): which children a controller keeps, adopts and releases.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::Metadata;
use serde_json::Value;

/// A label selector ready to match typed objects (wraps [`skiff_api::selector::LabelSelector`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector(skiff_api::selector::LabelSelector);

impl Selector {
    /// From a `meta/v1` LabelSelector; `None` when it cannot be parsed (unknown operator).
    pub fn from_label_selector(sel: &LabelSelector) -> Option<Self> {
        let v = serde_json::to_value(sel).ok()?;
        skiff_api::selector::LabelSelector::from_object(&v)
            .ok()
            .map(Self)
    }

    /// From a plain equality map, as ReplicationControllers and Services select.
    pub fn from_map(map: &BTreeMap<String, String>) -> Self {
        Self(skiff_api::selector::LabelSelector(
            map.iter()
                .map(|(k, v)| skiff_api::selector::Requirement::Eq(k.clone(), v.clone()))
                .collect(),
        ))
    }

    /// True when the selector has no requirement (upstream would select everything; the
    /// planners refuse to act on such a selector).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        let obj: serde_json::Map<String, Value> = labels
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        self.0.matches(&Value::Object(obj))
    }
}

/// A controller reference to the owner described by `meta` (upstream `metav1.NewControllerRef`:
/// `controller` and `blockOwnerDeletion` true).
pub fn controller_ref(api_version: &str, kind: &str, meta: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The owner reference with `controller: true`, if any (upstream `metav1.GetControllerOf`).
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
}

/// Whether `meta` is controlled by the object whose uid is `owner_uid`.
pub fn is_controlled_by(meta: &ObjectMeta, owner_uid: &str) -> bool {
    controller_of(meta).is_some_and(|r| r.uid == owner_uid)
}

/// The outcome of claiming candidates for one controller.
#[derive(Debug)]
pub struct Claim<'a, T> {
    /// Children the controller manages after this sync: already owned and matching, plus adopted.
    pub claimed: Vec<&'a T>,
    /// Orphans that match the selector: to get our controller reference.
    pub adopt: Vec<&'a T>,
    /// Owned children that no longer match: to lose our controller reference.
    pub release: Vec<&'a T>,
}

/// Upstream's `ClaimObject` over `candidates`: objects controlled by someone else are ignored;
/// owned ones are kept when they match and released when they don't; matching orphans are
/// adopted. Nothing is adopted or released while the owner is being deleted, and objects being
/// deleted are never adopted or released.
pub fn claim<'a, T: Metadata<Ty = ObjectMeta>>(
    owner: &ObjectMeta,
    selector: &Selector,
    candidates: &[&'a T],
) -> Claim<'a, T> {
    let owner_uid = owner.uid.as_deref().unwrap_or_default();
    let owner_deleting = owner.deletion_timestamp.is_some();
    let mut out = Claim {
        claimed: Vec::new(),
        adopt: Vec::new(),
        release: Vec::new(),
    };
    for &obj in candidates {
        let meta = obj.metadata();
        if meta.namespace != owner.namespace {
            continue;
        }
        let matches = !selector.is_empty() && selector.matches(meta.labels.as_ref());
        match controller_of(meta) {
            Some(r) if r.uid != owner_uid || owner_uid.is_empty() => {}
            Some(_) => {
                if matches {
                    out.claimed.push(obj);
                } else if !owner_deleting && meta.deletion_timestamp.is_none() {
                    out.release.push(obj);
                }
            }
            None => {
                if matches && !owner_deleting && meta.deletion_timestamp.is_none() {
                    out.adopt.push(obj);
                    out.claimed.push(obj);
                }
            }
        }
    }
    out
}

/// Names of objects, in order.
pub fn names<T: Metadata<Ty = ObjectMeta>>(objs: &[&T]) -> Vec<String> {
    objs.iter()
        .map(|o| o.metadata().name.clone().unwrap_or_default())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn claim_adopts_matching_orphans_and_releases_owned_pods_that_stopped_matching() {
        let owner = rs("web").uid("rs-uid").build();
        let orphan = pod("orphan").label("app", "web").build();
        let owned = pod("owned").label("app", "web").owned_by_rs(&owner).build();
        let moved = pod("moved").label("app", "db").owned_by_rs(&owner).build();
        let foreign = pod("foreign")
            .label("app", "web")
            .owner("ReplicaSet", "other", "other-uid")
            .build();
        let stranger = pod("stranger").label("app", "db").build();
        let sel = Selector::from_label_selector(&owner.spec.as_ref().unwrap().selector).unwrap();
        let all = [&orphan, &owned, &moved, &foreign, &stranger];
        let c = claim(&owner.metadata, &sel, &all);
        assert_eq!(names(&c.claimed), ["orphan", "owned"]);
        assert_eq!(names(&c.adopt), ["orphan"]);
        assert_eq!(names(&c.release), ["moved"]);
    }

    #[test]
    fn an_owner_being_deleted_neither_adopts_nor_releases() {
        let owner = rs("web").uid("u").deleting().build();
        let orphan = pod("orphan").label("app", "web").build();
        let moved = pod("moved").label("app", "db").owned_by_rs(&owner).build();
        let sel = Selector::from_label_selector(&owner.spec.as_ref().unwrap().selector).unwrap();
        let c = claim(&owner.metadata, &sel, &[&orphan, &moved]);
        assert!(c.adopt.is_empty() && c.release.is_empty() && c.claimed.is_empty());
    }

    #[test]
    fn an_empty_selector_claims_nothing() {
        let owner = rs("web").uid("u").build();
        let orphan = pod("orphan").label("app", "web").build();
        let c = claim(&owner.metadata, &Selector::default(), &[&orphan]);
        assert!(c.claimed.is_empty());
    }
}
