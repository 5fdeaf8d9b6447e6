//! Indexed Jobs (upstream `indexed_job_utils.go`): completion indexes on pods, ordered
//! interval sets rendered as `1,3-5`, and the indexes still to run.

use std::collections::BTreeSet;

use crate::cached_pod::CachedPod;

/// Upstream `batch.JobCompletionIndexAnnotation` (also used as a label).
pub const COMPLETION_INDEX_ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";
/// Upstream `batch.JobIndexFailureCountAnnotation`.
pub const INDEX_FAILURE_COUNT_ANNOTATION: &str = "batch.kubernetes.io/job-index-failure-count";
/// Upstream `batch.JobIndexIgnoredFailureCountAnnotation`.
pub const INDEX_IGNORED_FAILURE_COUNT_ANNOTATION: &str =
    "batch.kubernetes.io/job-index-ignored-failure-count";
/// The environment variable carrying the index into containers.
pub const COMPLETION_INDEX_ENV: &str = "JOB_COMPLETION_INDEX";

/// A pod's completion index, if it carries a valid one.
pub fn completion_index(pod: &CachedPod) -> Option<i32> {
    let v = pod
        .metadata
        .annotations
        .as_ref()?
        .get(COMPLETION_INDEX_ANNOTATION)?;
    v.parse::<i32>().ok().filter(|i| *i >= 0)
}

fn int_annotation(pod: &CachedPod, key: &str) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .and_then(|v| v.parse::<i32>().ok())
        .filter(|v| *v >= 0)
        .unwrap_or(0)
}

/// The failures counted against the pod's index so far.
pub fn index_failure_count(pod: &CachedPod) -> i32 {
    int_annotation(pod, INDEX_FAILURE_COUNT_ANNOTATION)
}

/// Failures of the index that were ignored by the pod failure policy.
pub fn index_ignored_failure_count(pod: &CachedPod) -> i32 {
    int_annotation(pod, INDEX_IGNORED_FAILURE_COUNT_ANNOTATION)
}

/// The most indexes one interval string may expand to (upstream validation allows at most
/// 100000 completions for Indexed Jobs).
const MAX_INDEXES: i32 = 100_000;

/// A sorted set of indexes, kept as disjoint closed intervals (upstream `orderedIntervals`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Intervals(pub Vec<(i32, i32)>);

impl Intervals {
    /// Upstream `parseIndexesFromString`: `1,3-5`, dropping indexes ≥ `completions` and
    /// anything malformed.
    pub fn parse(s: &str, completions: i32) -> Self {
        let mut set = BTreeSet::new();
        for part in s.split(',').filter(|p| !p.is_empty()) {
            let (a, b) = match part.split_once('-') {
                Some((a, b)) => (a.parse::<i32>(), b.parse::<i32>()),
                None => (part.parse::<i32>(), part.parse::<i32>()),
            };
            let (Ok(a), Ok(b)) = (a, b) else { continue };
            if a < 0 || b < a {
                continue;
            }
            // Validation caps Indexed completions at 100000; bound the work on any input.
            for i in a..=b
                .min(completions.saturating_sub(1))
                .min(a.saturating_add(MAX_INDEXES))
            {
                set.insert(i);
            }
        }
        Self::from_sorted(set)
    }

    fn from_sorted(set: BTreeSet<i32>) -> Self {
        let mut out: Vec<(i32, i32)> = Vec::new();
        for i in set {
            match out.last_mut() {
                Some(last) if last.1 + 1 == i => last.1 = i,
                _ => out.push((i, i)),
            }
        }
        Self(out)
    }

    /// All indexes, ascending.
    pub fn indexes(&self) -> BTreeSet<i32> {
        self.0.iter().flat_map(|(a, b)| *a..=*b).collect()
    }

    /// This set plus `more`.
    pub fn with(&self, more: impl IntoIterator<Item = i32>) -> Self {
        let mut set = self.indexes();
        set.extend(more);
        Self::from_sorted(set)
    }

    /// How many indexes.
    pub fn total(&self) -> i32 {
        self.0.iter().map(|(a, b)| b - a + 1).sum()
    }

    /// Whether `i` is in the set.
    pub fn has(&self, i: i32) -> bool {
        self.0.iter().any(|(a, b)| *a <= i && i <= *b)
    }
}

impl std::fmt::Display for Intervals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (n, (a, b)) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str(",")?;
            }
            if a == b {
                write!(f, "{a}")?;
            } else {
                write!(f, "{a}-{b}")?;
            }
        }
        Ok(())
    }
}

/// Upstream `firstPendingIndexes`: the lowest `count` indexes below `completions` that are
/// neither done, failed, nor running.
pub fn first_pending(non_pending: &Intervals, count: usize, completions: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut candidate = 0;
    for &(first, last) in &non_pending.0 {
        while candidate < completions && out.len() < count && candidate < first {
            out.push(candidate);
            candidate += 1;
        }
        candidate = candidate.max(last.saturating_add(1));
    }
    while candidate < completions && out.len() < count {
        out.push(candidate);
        candidate += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_render_and_parse_like_upstream() {
        let s = Intervals::default().with([5, 1, 2, 3, 7, 8]);
        assert_eq!(s.to_string(), "1-3,5,7-8");
        assert_eq!(
            Intervals::parse("1-3,5,7-8", 8),
            Intervals::default().with([1, 2, 3, 5, 7])
        );
        assert_eq!(Intervals::parse("x,2,-1,4-3", 10).to_string(), "2");
        assert_eq!(s.total(), 6);
    }

    #[test]
    fn first_pending_skips_done_and_running_indexes() {
        let busy = Intervals::default().with([0, 2, 3]);
        assert_eq!(first_pending(&busy, 2, 6), [1, 4]);
        assert_eq!(first_pending(&busy, 10, 5), [1, 4]);
    }
}
