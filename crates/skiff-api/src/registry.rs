//! The set of served resources: the built-ins plus custom resources added as CRDs become
//! established. Lookups by path segment, kind and short name.

use crate::builtin;
use crate::resource::ResourceInfo;
use std::sync::{Arc, RwLock};

/// One API group as discovery shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupInfo {
    /// Group name (empty for core).
    pub name: String,
    /// Versions, preferred first.
    pub versions: Vec<String>,
}

/// All served resources. Cheap to clone (shared).
///
/// ```
/// let reg = skiff_api::Registry::builtin();
/// assert!(reg.by_plural("apps", "v1", "deployments").is_some());
/// assert_eq!(reg.resolve_name("deploy").unwrap().kind, "Deployment");
/// ```
#[derive(Clone, Debug)]
pub struct Registry {
    inner: Arc<RwLock<Vec<Arc<ResourceInfo>>>>,
    generation: Arc<std::sync::atomic::AtomicU64>,
}

impl Registry {
    /// The built-in resources only.
    pub fn builtin() -> Self {
        Self {
            inner: Arc::new(RwLock::new(
                builtin::resources().into_iter().map(Arc::new).collect(),
            )),
            generation: Arc::default(),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<ResourceInfo>>> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Every resource.
    pub fn all(&self) -> Vec<Arc<ResourceInfo>> {
        self.read().clone()
    }

    /// The resource at `/apis/{group}/{version}/{plural}`.
    pub fn by_plural(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceInfo>> {
        self.read()
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
            .cloned()
    }

    /// The resource of a kind at a group/version.
    pub fn by_kind(&self, group: &str, version: &str, kind: &str) -> Option<Arc<ResourceInfo>> {
        self.read()
            .iter()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
            .cloned()
    }

    /// Resolves what a user typed (plural, singular, short name, `plural.group`) to a resource
    /// in its preferred version.
    pub fn resolve_name(&self, name: &str) -> Option<Arc<ResourceInfo>> {
        let (res, group) = match name.split_once('.') {
            Some((r, g)) => (r, Some(g)),
            None => (name, None),
        };
        let all = self.read();
        let mut hits = all.iter().filter(|r| {
            group.is_none_or(|g| r.group == g)
                && (r.plural == res || r.singular == res || r.short_names.iter().any(|s| s == res))
        });
        hits.next().cloned()
    }

    /// Groups in discovery order (core first), each with versions, preferred first.
    pub fn groups(&self) -> Vec<GroupInfo> {
        let mut out: Vec<GroupInfo> = Vec::new();
        for r in self.read().iter() {
            match out.iter_mut().find(|g| g.name == r.group) {
                Some(g) => {
                    if !g.versions.contains(&r.version) {
                        g.versions.push(r.version.clone());
                    }
                }
                None => out.push(GroupInfo {
                    name: r.group.clone(),
                    versions: vec![r.version.clone()],
                }),
            }
        }
        for g in &mut out {
            let pref = if g.name.is_empty() {
                "v1".to_string()
            } else {
                self.preferred_version(&g.name).unwrap_or_default()
            };
            g.versions
                .sort_by_key(|v| (v != &pref, std::cmp::Reverse(version_priority(v))));
        }
        out
    }

    /// The preferred version of a group.
    pub fn preferred_version(&self, group: &str) -> Option<String> {
        let all = self.read();
        let custom: Vec<&Arc<ResourceInfo>> = all
            .iter()
            .filter(|r| r.group == group && r.custom)
            .collect();
        if let Some(first) = custom.iter().max_by_key(|r| version_priority(&r.version)) {
            return Some(first.version.clone());
        }
        if all.iter().any(|r| r.group == group) {
            return Some(builtin::preferred_version(group).to_string());
        }
        None
    }

    /// Resources served at a group/version.
    pub fn resources_in(&self, group: &str, version: &str) -> Vec<Arc<ResourceInfo>> {
        self.read()
            .iter()
            .filter(|r| r.group == group && r.version == version)
            .cloned()
            .collect()
    }

    /// Replaces the custom resources of `group`/`plural` (every version) with `versions`.
    pub fn set_custom(&self, group: &str, plural: &str, versions: Vec<ResourceInfo>) {
        let mut all = self.inner.write().unwrap_or_else(|e| e.into_inner());
        all.retain(|r| !(r.custom && r.group == group && r.plural == plural));
        all.extend(versions.into_iter().map(Arc::new));
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Bumped whenever the set of served resources changes (for caches of derived documents).
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Removes a custom resource (all versions).
    pub fn remove_custom(&self, group: &str, plural: &str) {
        self.set_custom(group, plural, Vec::new());
    }
}

/// Kubernetes version ordering: GA > beta > alpha, then by numbers (v2 > v1, v1beta2 > v1beta1).
pub fn version_priority(v: &str) -> (u8, u32, u32) {
    let rest = v.strip_prefix('v').unwrap_or(v);
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let major = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    let (stage, minor) = if tail.is_empty() {
        (3, 0)
    } else if let Some(n) = tail.strip_prefix("beta") {
        (2, n.parse().unwrap_or(0))
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n.parse().unwrap_or(0))
    } else {
        (0, 0)
    };
    (stage, major, minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_short_and_qualified_names() {
        let reg = Registry::builtin();
        assert_eq!(reg.resolve_name("po").unwrap().plural, "pods");
        assert_eq!(
            reg.resolve_name("deployments.apps").unwrap().kind,
            "Deployment"
        );
        assert_eq!(
            reg.resolve_name("ev.events.k8s.io").unwrap().group,
            "events.k8s.io"
        );
        assert!(reg.resolve_name("nope").is_none());
    }

    #[test]
    fn autoscaling_prefers_v2_and_core_comes_first() {
        let reg = Registry::builtin();
        let groups = reg.groups();
        assert_eq!(groups[0].name, "");
        let a = groups.iter().find(|g| g.name == "autoscaling").unwrap();
        assert_eq!(a.versions, vec!["v2", "v1"]);
    }

    #[test]
    fn version_priority_orders_like_upstream() {
        let mut v = vec!["v1beta1", "v1", "v2alpha1", "v2", "v1beta2"];
        v.sort_by_key(|x| std::cmp::Reverse(version_priority(x)));
        assert_eq!(v, vec!["v2", "v1", "v1beta2", "v1beta1", "v2alpha1"]);
    }
}
