//! Assembles documents: one OpenAPI 3.0 document per group-version (its paths plus every
//! definition reachable from them) and the Swagger 2.0 document of everything.

use crate::builtin_types::{self, API_RESOURCE_LIST, DELETE_OPTIONS, PATCH, STATUS};
use crate::kinds;
use crate::normalize;
use crate::paths::{self, PathItem};
use crate::CustomSchemas;
use serde_json::{json, Map, Value};
use skiff_api::ResourceInfo;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The parts of one group-version: its paths and its definitions (v3 form).
pub struct GvParts {
    /// API group (empty for core).
    pub group: String,
    /// Version.
    pub version: String,
    /// Paths in document order.
    pub paths: Vec<PathItem>,
    /// Every definition the paths reach, by name.
    pub schemas: BTreeMap<String, Value>,
}

/// Builds the parts of the group-version served by `resources` (all of one group/version).
pub fn gv_parts(
    group: &str,
    version: &str,
    resources: &[Arc<ResourceInfo>],
    custom: &CustomSchemas,
) -> GvParts {
    let mut local: BTreeMap<String, Value> = BTreeMap::new();
    let mut items = vec![paths::gv_root_path(group, version)];
    let mut resources: Vec<&Arc<ResourceInfo>> = resources.iter().collect();
    resources.sort_by(|a, b| a.plural.cmp(&b.plural));
    for res in resources {
        let crd = kinds::crd_schema(res, custom);
        local.insert(res.definition.clone(), kinds::kind_schema(res, crd));
        let list_def = kinds::list_definition(res);
        local.insert(list_def.clone(), kinds::list_schema(res));
        items.extend(paths::resource_paths(res, &list_def));
    }
    items.sort_by(|a, b| a.path.cmp(&b.path));

    let mut queue: Vec<String> = paths::referenced_definitions(&items);
    queue.extend(local.keys().cloned());
    queue.extend([STATUS, DELETE_OPTIONS, PATCH, API_RESOURCE_LIST].map(String::from));
    let builtins = builtin_types::definitions();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut schemas = BTreeMap::new();
    while let Some(name) = queue.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let def = local
            .get(&name)
            .or_else(|| builtins.get(&name))
            .cloned()
            .unwrap_or_else(
                || json!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true }),
            );
        normalize::refs_in(&def, &mut queue);
        schemas.insert(name, def);
    }
    GvParts {
        group: group.to_string(),
        version: version.to_string(),
        paths: items,
        schemas,
    }
}

fn security_scheme() -> Value {
    json!({ "BearerToken": { "description": "Bearer Token authentication", "in": "header", "name": "authorization", "type": "apiKey" } })
}

fn info() -> Value {
    json!({ "title": "Kubernetes", "version": "unversioned" })
}

/// The OpenAPI 3.0 document of one group-version.
pub fn v3_document(parts: &GvParts) -> Value {
    let tag = paths::tag(&parts.group, &parts.version);
    let paths: Map<String, Value> = parts
        .paths
        .iter()
        .map(|p| (p.path.clone(), paths::render_v3(p, &tag)))
        .collect();
    let schemas: Map<String, Value> = parts
        .schemas
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    json!({
        "components": { "schemas": schemas, "securitySchemes": security_scheme() },
        "info": info(),
        "openapi": "3.0.0",
        "paths": paths,
        "security": [{ "BearerToken": [] }],
    })
}

/// The Swagger 2.0 document of all group-versions.
pub fn v2_document(all: &[GvParts]) -> Value {
    let mut defs: BTreeMap<&str, Value> = BTreeMap::new();
    let mut paths: BTreeMap<&str, Value> = BTreeMap::new();
    for parts in all {
        let tag = paths::tag(&parts.group, &parts.version);
        for (name, schema) in &parts.schemas {
            defs.entry(name.as_str())
                .or_insert_with(|| normalize::schema_v2(Some(name), schema));
        }
        for p in &parts.paths {
            paths.insert(p.path.as_str(), paths::render_v2(p, &tag));
        }
    }
    let defs: Map<String, Value> = defs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let paths: Map<String, Value> = paths.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    json!({
        "definitions": defs,
        "info": info(),
        "paths": paths,
        "security": [{ "BearerToken": [] }],
        "securityDefinitions": security_scheme(),
        "swagger": "2.0",
    })
}

/// 64-bit FNV-1a, stable across runs and platforms.
pub fn fnv64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The hash of a document as served in `serverRelativeURL` (`?hash=...`): 32 upper-case hex
/// digits, two FNV-1a passes (forward and backward) over the bytes.
pub fn hash_hex(bytes: &[u8]) -> String {
    let back: Vec<u8> = bytes.iter().rev().copied().collect();
    format!("{:016X}{:016X}", fnv64(bytes), fnv64(&back))
}

/// A fingerprint of everything a group-version's document is built from, so identical inputs
/// can reuse already serialized bytes.
pub fn fingerprint(resources: &[Arc<ResourceInfo>], custom: &CustomSchemas) -> u64 {
    let mut s = String::from(env!("CARGO_PKG_VERSION"));
    let mut rs: Vec<&Arc<ResourceInfo>> = resources.iter().collect();
    rs.sort_by(|a, b| (&a.group, &a.version, &a.plural).cmp(&(&b.group, &b.version, &b.plural)));
    for r in rs {
        s.push_str(&format!(
            "|{}|{}|{}|{}|{}|{}|{:?}|{}|{:?}|{}|{}|{}",
            r.group,
            r.version,
            r.kind,
            r.list_kind,
            r.plural,
            r.definition,
            r.scope,
            r.status_subresource,
            r.scale,
            r.custom,
            r.verbs.join(","),
            r.namespaced()
        ));
        if let Some(schema) = kinds::crd_schema(r, custom) {
            s.push('|');
            s.push_str(&schema.to_string());
        }
    }
    fnv64(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable() {
        assert_eq!(fnv64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(hash_hex(b"abc").len(), 32);
    }

    #[test]
    fn every_reached_definition_is_present() {
        let reg = skiff_api::Registry::builtin();
        let parts = gv_parts(
            "batch",
            "v1",
            &reg.resources_in("batch", "v1"),
            &CustomSchemas::new(),
        );
        let mut refs = Vec::new();
        for s in parts.schemas.values() {
            normalize::refs_in(s, &mut refs);
        }
        for r in refs {
            assert!(parts.schemas.contains_key(&r), "missing {r}");
        }
        assert!(parts
            .schemas
            .contains_key("io.k8s.api.batch.v1.CronJobList"));
        assert!(
            parts.schemas["io.k8s.api.batch.v1.Job"]["x-kubernetes-group-version-kind"].is_array()
        );
    }
}
