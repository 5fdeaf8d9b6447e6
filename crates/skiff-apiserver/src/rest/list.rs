//! LIST: selectors, `limit`/`continue` chunking, `resourceVersion`/`resourceVersionMatch`.
//! Lists without chunking (or at resourceVersion "0", whose limit is ignored like upstream's)
//! are served from the watch cache; chunked lists page through a snapshot of the watch cache
//! taken by their first page ([`crate::list_snapshots`]); exact-revision lists, and
//! continuations whose snapshot is gone, read a consistent snapshot of the store.

use super::{decode, keys, store_error, Storage};
use crate::list_snapshots::page_start;
use base64::Engine;
use serde_json::{json, Value};
use skiff_api::selector::{field_values, supported_fields, FieldSelector, LabelSelector};
use skiff_api::{ApiError, ResourceInfo};
use skiff_store::ListRequest;
use std::sync::Arc;

/// Parsed list options.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// `labelSelector`
    pub label: LabelSelector,
    /// `fieldSelector`
    pub field: FieldSelector,
    /// `limit` (0 = all)
    pub limit: usize,
    /// Decoded `continue` token: (revision, last key returned).
    pub continue_from: Option<(i64, String)>,
    /// `resourceVersion`
    pub resource_version: String,
    /// `resourceVersionMatch`
    pub rv_match: String,
    /// Keep only `apiVersion`, `kind` and `metadata` of each item (for PartialObjectMetadata
    /// lists: each full object is dropped as soon as it is matched, so a metadata list of many
    /// large objects never holds them all).
    pub metadata_only: bool,
}

const CONTINUE_EXPIRED: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

impl ListOptions {
    /// Parses the query of a list or watch request for `res`.
    pub fn parse(res: &ResourceInfo, q: &crate::request::Query) -> Result<Self, ApiError> {
        let label = LabelSelector::parse(q.str("labelSelector")).map_err(ApiError::BadRequest)?;
        let field = FieldSelector::parse(q.str("fieldSelector")).map_err(ApiError::BadRequest)?;
        let supported: &[&str] = if res.custom {
            &["metadata.name", "metadata.namespace"]
        } else {
            supported_fields(&res.group, &res.plural)
        };
        field.check_supported(supported).map_err(|e| {
            ApiError::BadRequest(format!(
                "Unable to find {:?} that match label selector \"\", field selector {:?}: {e}",
                res.group_resource(),
                q.str("fieldSelector")
            ))
        })?;
        let limit = match q.get("limit") {
            None | Some("") => 0,
            Some(l) => l
                .parse::<i64>()
                .map_err(|_| ApiError::BadRequest(format!("invalid limit {l:?}")))?
                .max(0) as usize,
        };
        let continue_from = match q.get("continue") {
            None | Some("") => None,
            Some(c) => Some(decode_continue(c)?),
        };
        let rv = q.str("resourceVersion").to_string();
        let rv_match = q.str("resourceVersionMatch").to_string();
        if continue_from.is_some() && !rv.is_empty() && rv != "0" {
            return Err(ApiError::BadRequest(
                "specifying resource version is not allowed when using continue".into(),
            ));
        }
        match rv_match.as_str() {
            "" | "NotOlderThan" | "Exact" => {}
            other => {
                return Err(ApiError::BadRequest(format!(
                    "resourceVersionMatch: Unsupported value: {other:?}: supported values: \"Exact\", \"NotOlderThan\""
                )))
            }
        }
        let initial_events_watch = q.flag("watch") && q.get("sendInitialEvents").is_some();
        if !rv_match.is_empty() && rv.is_empty() && !initial_events_watch {
            return Err(ApiError::BadRequest(
                "resourceVersionMatch is forbidden unless resourceVersion is provided".into(),
            ));
        }
        if !rv.is_empty() && rv.parse::<i64>().is_err() {
            return Err(ApiError::BadRequest(format!(
                "invalid resource version {rv:?}"
            )));
        }
        Ok(Self {
            label,
            field,
            limit,
            continue_from,
            resource_version: rv,
            rv_match,
            metadata_only: false,
        })
    }

    /// A matched object as the list holds it: whole, or only `apiVersion`, `kind` and
    /// `metadata` with [`ListOptions::metadata_only`].
    fn project(&self, mut v: Value) -> Arc<Value> {
        if let Some(m) = v.as_object_mut().filter(|_| self.metadata_only) {
            m.retain(|k, _| matches!(k.as_str(), "apiVersion" | "kind" | "metadata"));
        }
        Arc::new(v)
    }

    /// Whether a label or field selector is given.
    pub fn selecting(&self) -> bool {
        !self.label.is_empty() || !self.field.0.is_empty()
    }

    /// How a read from the watch cache waits: for the revision `resourceVersion` names (None
    /// for "" and "0"), or, when it is empty, for the store's current revision (consistent).
    fn cache_wait(&self) -> (Option<i64>, bool) {
        let min_rev = self.resource_version.parse::<i64>().ok().filter(|r| *r > 0);
        (min_rev, self.resource_version.is_empty())
    }

    /// Whether an object passes both selectors.
    pub fn matches(&self, res: &ResourceInfo, obj: &Value) -> bool {
        if !self
            .label
            .matches(obj.pointer("/metadata/labels").unwrap_or(&Value::Null))
        {
            return false;
        }
        if self.field.0.is_empty() {
            return true;
        }
        let supported: &[&'static str] = if res.custom {
            &["metadata.name", "metadata.namespace"]
        } else {
            supported_fields(&res.group, &res.plural)
        };
        self.field.matches(&field_values(obj, supported))
    }
}

/// A cached object as a list needs it, in the requested version. A metadata-only list
/// without a field selector (which may read the spec) decodes only the object's head when it
/// is stored in the requested version; everything else is decoded whole.
fn decode_listed(
    res: &ResourceInfo,
    o: &ListOptions,
    raw: &crate::watchcache::Raw,
) -> Option<Value> {
    if o.metadata_only && o.field.0.is_empty() {
        let head = raw.decode_head()?;
        if head.get("apiVersion").and_then(Value::as_str) == Some(res.api_version().as_str()) {
            return Some(head);
        }
    }
    raw.decode().map(|v| super::in_version(res, v))
}

fn encode_continue(rv: i64, key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({"v": "meta.k8s.io/v1", "rv": rv, "start": key}).to_string())
}

fn decode_continue(c: &str) -> Result<(i64, String), ApiError> {
    let bad = |why: &str| ApiError::BadRequest(format!("continue key is not valid: {why}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c.trim_end_matches('='))
        .map_err(|_| bad("not base64"))?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad("not JSON"))?;
    if v["v"] != "meta.k8s.io/v1" {
        return Err(bad("unsupported version"));
    }
    let rv = v["rv"]
        .as_i64()
        .filter(|r| *r > 0)
        .ok_or_else(|| bad("no resource version"))?;
    let start = v["start"].as_str().ok_or_else(|| bad("no start key"))?;
    if !start.starts_with(keys::ROOT) {
        return Err(bad("start key outside the registry"));
    }
    Ok((rv, start.to_string()))
}

/// One page of a list.
#[derive(Debug)]
pub struct ListPage {
    /// Matching objects.
    pub items: Vec<Arc<Value>>,
    /// The revision the page reflects.
    pub revision: i64,
    /// Token for the next page.
    pub continue_token: Option<String>,
    /// Objects left after this page (only without selectors, like upstream).
    pub remaining: Option<u64>,
}

impl Storage {
    /// LIST.
    pub async fn list(
        &self,
        res: &ResourceInfo,
        ns: &str,
        o: &ListOptions,
    ) -> Result<ListPage, ApiError> {
        let prefix = keys::collection(res, ns);
        if let Some((objs, rev)) = self.list_from_cache(&prefix, o).await? {
            return Ok(Self::cached_page(res, o, &objs, rev));
        }
        if let Some(page) = self.page_from_snapshot(res, &prefix, o).await? {
            return Ok(page);
        }
        self.list_from_store(res, &prefix, o).await
    }

    /// A page of a limited list, or of its continuation, cut from a snapshot of the watch
    /// cache ([`crate::list_snapshots`]). None leaves it to the store: exact revisions,
    /// continuations without a limit, and continuations whose snapshot is no longer kept.
    async fn page_from_snapshot(
        &self,
        res: &ResourceInfo,
        prefix: &str,
        o: &ListOptions,
    ) -> Result<Option<ListPage>, ApiError> {
        if o.limit == 0 || o.rv_match == "Exact" {
            return Ok(None);
        }
        let (entries, rev, after) = match &o.continue_from {
            Some((rv, key)) => match self.cache.kept_snapshot(prefix, *rv) {
                Some(entries) => (entries, *rv, Some(key.as_str())),
                None => return Ok(None),
            },
            None => {
                let (min_rev, consistent) = o.cache_wait();
                match self
                    .cache
                    .snapshot(prefix, min_rev, consistent, o.limit)
                    .await
                {
                    Ok((entries, rev)) => (entries, rev, None),
                    Err(ApiError::Timeout(_)) if consistent => return Ok(None),
                    Err(e) => return Err(e),
                }
            }
        };
        let selecting = o.selecting();
        let mut items = Vec::new();
        let mut next = page_start(&entries, after);
        let mut last = after.unwrap_or("");
        while next < entries.len() && items.len() < o.limit {
            let (key, raw) = &entries[next];
            next += 1;
            last = key;
            let v = decode_listed(res, o, raw).ok_or_else(|| {
                ApiError::Internal(format!("the stored object {key:?} is not JSON"))
            })?;
            if o.matches(res, &v) {
                items.push(o.project(v));
            }
        }
        let more = next < entries.len();
        if !more {
            self.cache.release_snapshot(prefix, rev);
        }
        Ok(Some(ListPage {
            items,
            revision: rev,
            continue_token: more.then(|| encode_continue(rev, last)),
            remaining: (more && !selecting).then_some((entries.len() - next) as u64),
        }))
    }

    /// LIST as a JSON `<Kind>List`. What the watch cache serves is encoded one object at a
    /// time from its stored bytes (the `resourceVersion` spliced in, no decoding unless a
    /// selector or a conversion needs it), so a list of many objects costs its JSON and not
    /// a decoded copy of every object as well.
    pub async fn list_json(
        &self,
        res: &ResourceInfo,
        ns: &str,
        o: &ListOptions,
    ) -> Result<Vec<u8>, ApiError> {
        let prefix = keys::collection(res, ns);
        let Some((objs, rev)) = self.list_from_cache(&prefix, o).await? else {
            let page = match self.page_from_snapshot(res, &prefix, o).await? {
                Some(page) => page,
                None => self.list_from_store(res, &prefix, o).await?,
            };
            return Ok(list_json(res, &page));
        };
        let page = ListPage {
            items: Vec::new(),
            revision: rev,
            continue_token: None,
            remaining: None,
        };
        let api_version = res.api_version();
        let selecting = o.selecting();
        let mut out = list_head(res, &page);
        let mut first = true;
        for raw in &objs {
            let start = out.len();
            if !first {
                out.push(b',');
            }
            // Selecting needs the decoded object anyway.
            match (!selecting).then(|| raw.encoded(&api_version)).flatten() {
                Some(bytes) => out.extend_from_slice(&bytes),
                None => {
                    let Some(v) = raw.decode().map(|v| super::in_version(res, v)) else {
                        out.truncate(start);
                        continue;
                    };
                    if !o.matches(res, &v) {
                        out.truncate(start);
                        continue;
                    }
                    let _ = serde_json::to_writer(&mut out, &v);
                }
            }
            first = false;
        }
        out.extend_from_slice(b"]}");
        Ok(out)
    }

    /// Upstream's shouldDelegateList: continuations, exact revisions and limited lists go to
    /// storage (None), except a limited list at resourceVersion "0", which the cache serves
    /// whole (the limit is ignored), as client-go reflectors' first lists expect.
    async fn list_from_cache(
        &self,
        prefix: &str,
        o: &ListOptions,
    ) -> Result<Option<(Vec<crate::watchcache::Raw>, i64)>, ApiError> {
        let exact = o.rv_match == "Exact";
        let limited = o.limit > 0 && o.resource_version != "0";
        if limited || o.continue_from.is_some() || exact {
            return Ok(None);
        }
        let (min_rev, consistent) = o.cache_wait();
        match self.cache.list(prefix, min_rev, consistent).await {
            Ok(listed) => Ok(Some(listed)),
            // Like kube-apiserver, a consistent list the cache cannot serve in time (its
            // watch is reconnecting, e.g. to another etcd member) is read from storage.
            Err(ApiError::Timeout(_)) if consistent => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn cached_page(
        res: &ResourceInfo,
        o: &ListOptions,
        objs: &[crate::watchcache::Raw],
        rev: i64,
    ) -> ListPage {
        let items = objs
            .iter()
            .filter_map(|raw| decode_listed(res, o, raw))
            .filter(|v| o.matches(res, v))
            .map(|v| o.project(v))
            .collect();
        ListPage {
            items,
            revision: rev,
            continue_token: None,
            remaining: None,
        }
    }

    /// A list read from the store, in pages of `o.limit` (all at once when 0).
    async fn list_from_store(
        &self,
        res: &ResourceInfo,
        prefix: &str,
        o: &ListOptions,
    ) -> Result<ListPage, ApiError> {
        let exact = o.rv_match == "Exact";
        let (mut revision, mut after) = match &o.continue_from {
            Some((rv, key)) => (Some(*rv), Some(key.clone())),
            None if exact => (o.resource_version.parse().ok(), None),
            None => (None, None),
        };
        let selecting = o.selecting();
        let mut items = Vec::new();
        loop {
            let want = if o.limit == 0 {
                0
            } else {
                o.limit - items.len()
            };
            let page = self
                .store
                .list(ListRequest {
                    prefix: prefix.to_string(),
                    after_key: after.clone(),
                    limit: want,
                    revision,
                })
                .await
                .map_err(|e| match e {
                    skiff_store::StoreError::Compacted { .. } if o.continue_from.is_some() => {
                        ApiError::Expired(CONTINUE_EXPIRED.into())
                    }
                    e => store_error(res, "", e),
                })?;
            let rev = page.revision;
            for kv in &page.kvs {
                let v = super::in_version(res, decode(kv)?);
                if o.matches(res, &v) {
                    items.push(o.project(v));
                }
                after = Some(kv.key.clone());
            }
            let full = o.limit > 0 && items.len() >= o.limit;
            if !page.more || full {
                let continue_token = (page.more && o.limit > 0)
                    .then(|| encode_continue(rev, after.as_deref().unwrap_or("")));
                let remaining = (page.more && !selecting).then_some(page.remaining);
                return Ok(ListPage {
                    items,
                    revision: rev,
                    continue_token,
                    remaining,
                });
            }
            // Keep reading the same snapshot for the following pages.
            revision = Some(rev);
        }
    }

    /// Every object matching `o` (no chunking), from the cache.
    pub async fn list_all(
        &self,
        res: &ResourceInfo,
        ns: &str,
        o: &ListOptions,
    ) -> Result<Vec<Value>, ApiError> {
        let all = ListOptions {
            limit: 0,
            continue_from: None,
            rv_match: String::new(),
            resource_version: String::new(),
            ..o.clone()
        };
        Ok(self
            .list(res, ns, &all)
            .await?
            .items
            .into_iter()
            .map(Arc::unwrap_or_clone)
            .collect())
    }
}

impl ListPage {
    /// The list's `metadata`.
    pub fn list_meta(&self) -> Value {
        let mut meta = json!({"resourceVersion": self.revision.to_string()});
        if let Some(c) = &self.continue_token {
            meta["continue"] = json!(c);
        }
        if let Some(r) = self.remaining {
            meta["remainingItemCount"] = json!(r);
        }
        meta
    }
}

/// Wraps items into a `<Kind>List`.
pub fn list_object(res: &ResourceInfo, page: &ListPage) -> Value {
    // Built in place: `json!` would serialize the copied items into a second copy.
    let mut out = serde_json::Map::new();
    out.insert("kind".into(), res.list_kind.clone().into());
    out.insert("apiVersion".into(), res.api_version().into());
    out.insert("metadata".into(), page.list_meta());
    out.insert(
        "items".into(),
        Value::Array(page.items.iter().map(|i| (**i).clone()).collect()),
    );
    Value::Object(out)
}

/// A `<Kind>List`'s JSON up to the opening of its `items` array.
fn list_head(res: &ResourceInfo, page: &ListPage) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + page.items.len() * 512);
    let head = json!({"kind": res.list_kind, "apiVersion": res.api_version(), "metadata": page.list_meta()});
    let head = serde_json::to_vec(&head).unwrap_or_default();
    out.extend_from_slice(&head[..head.len().saturating_sub(1)]);
    out.extend_from_slice(b",\"items\":[");
    out
}

/// The `<Kind>List` serialized as JSON straight from the shared items (no copies).
pub fn list_json(res: &ResourceInfo, page: &ListPage) -> Vec<u8> {
    let mut out = list_head(res, page);
    for (i, item) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let _ = serde_json::to_writer(&mut out, item.as_ref());
    }
    out.extend_from_slice(b"]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_reject_garbage() {
        let t = encode_continue(42, "/registry/pods/default/web");
        assert_eq!(
            decode_continue(&t).unwrap(),
            (42, "/registry/pods/default/web".to_string())
        );
        assert_eq!(decode_continue("!!!").unwrap_err().code(), 400);
        let bad = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"v":"meta.k8s.io/v1","rv":1,"start":"/etc/passwd"}"#);
        assert_eq!(decode_continue(&bad).unwrap_err().code(), 400);
    }
}
