//! Fitting one group of desired endpoints (one port set, one address type) into existing
//! slices (upstream `reconcileByPortMapping`), with deterministic choices where upstream
//! picks from maps at random.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};

use super::desired::{desired_labels, endpoint_key, equal_beyond_key, new_slice, EndpointKey};

/// The slices of one port group to create, update and delete.
#[derive(Debug, Default)]
pub(super) struct Changes {
    /// New slices (named by `generateName`).
    pub create: Vec<EndpointSlice>,
    /// Existing slices with new content (same name and resourceVersion).
    pub update: Vec<EndpointSlice>,
    /// Existing slices to delete.
    pub delete: Vec<EndpointSlice>,
}

/// Upstream `reconcileByPortMapping`, in three passes:
/// 1. each existing slice (by name) keeps the desired endpoints it already holds, brought up
///    to date; a slice left empty is deleted, a changed one (or one with stale labels) updated;
/// 2. slices being updated are topped up with the remaining endpoints, fullest first;
/// 3. what is left goes into the unchanged slice it fills best, if it fits in one, else into
///    new slices of at most `max` endpoints.
///
/// New endpoints are taken in key order, so the result is the same on every run.
pub(super) fn reconcile_port_group(
    svc: &Service,
    existing: &[&EndpointSlice],
    mut desired: BTreeMap<EndpointKey, Endpoint>,
    ports: &[EndpointPort],
    address_type: &str,
    max: usize,
) -> Changes {
    let labels = desired_labels(svc);
    let mut by_name: BTreeMap<String, EndpointSlice> = BTreeMap::new();
    let mut unchanged: BTreeSet<String> = BTreeSet::new();
    let mut to_update: BTreeSet<String> = BTreeSet::new();
    let mut to_delete: BTreeSet<String> = BTreeSet::new();

    for slice in existing {
        let name = slice.metadata.name.clone().unwrap_or_default();
        let mut kept = Vec::new();
        let mut changed = false;
        for ep in &slice.endpoints {
            if let Some(want) = desired.remove(&endpoint_key(ep)) {
                changed |= !equal_beyond_key(&want, ep);
                kept.push(want);
            }
        }
        let labels_changed = slice.metadata.labels.clone().unwrap_or_default() != labels;
        let mut next = (*slice).clone();
        if changed || kept.len() != slice.endpoints.len() {
            if kept.is_empty() {
                to_delete.insert(name.clone());
            } else {
                next.endpoints = kept;
                next.metadata.labels = Some(labels.clone());
                to_update.insert(name.clone());
            }
        } else if labels_changed {
            next.metadata.labels = Some(labels.clone());
            to_update.insert(name.clone());
        } else {
            unchanged.insert(name.clone());
        }
        by_name.insert(name, next);
    }

    if !desired.is_empty() && !to_update.is_empty() {
        let mut names: Vec<&String> = to_update.iter().collect();
        names.sort_by_key(|n| {
            let len = by_name.get(*n).map_or(0, |s| s.endpoints.len());
            (std::cmp::Reverse(len), (*n).clone())
        });
        for name in names {
            if let Some(slice) = by_name.get_mut(name) {
                fill(slice, &mut desired, max);
            }
        }
    }

    let mut create = Vec::new();
    while !desired.is_empty() {
        let target = if desired.len() < max {
            slice_to_fill(&unchanged, &by_name, desired.len(), max)
        } else {
            None
        };
        match target.and_then(|name| by_name.get_mut(&name).map(|s| (name, s))) {
            Some((name, slice)) => {
                fill(slice, &mut desired, max);
                unchanged.remove(&name);
                to_update.insert(name);
            }
            None => {
                let mut slice = new_slice(svc, ports.to_vec(), address_type);
                fill(&mut slice, &mut desired, max);
                create.push(slice);
            }
        }
    }

    let pick = |names: &BTreeSet<String>| -> Vec<EndpointSlice> {
        names
            .iter()
            .filter_map(|n| by_name.get(n).cloned())
            .collect()
    };
    Changes {
        create,
        update: pick(&to_update),
        delete: pick(&to_delete),
    }
}

/// Moves desired endpoints, in key order, into `slice` until it holds `max`.
fn fill(slice: &mut EndpointSlice, desired: &mut BTreeMap<EndpointKey, Endpoint>, max: usize) {
    while slice.endpoints.len() < max {
        let Some((_, ep)) = desired.pop_first() else {
            break;
        };
        slice.endpoints.push(ep);
    }
}

/// Upstream `getSliceToFill`: the unchanged slice that `count` more endpoints would bring
/// closest to full without overflowing it (the first by name on ties).
fn slice_to_fill(
    unchanged: &BTreeSet<String>,
    by_name: &BTreeMap<String, EndpointSlice>,
    count: usize,
    max: usize,
) -> Option<String> {
    let mut best: Option<(usize, &String)> = None;
    for name in unchanged {
        let Some(slice) = by_name.get(name) else {
            continue;
        };
        let Some(room) = max.checked_sub(count + slice.endpoints.len()) else {
            continue;
        };
        if best.is_none_or(|(r, _)| room < r) {
            best = Some((room, name));
            if room == 0 {
                break;
            }
        }
    }
    best.map(|(_, n)| n.clone())
}
