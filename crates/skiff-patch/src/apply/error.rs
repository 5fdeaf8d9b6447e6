//! [`ApplyError`] and the conflict report of server-side apply.

use super::fieldset::FieldSet;
use super::path::{path_to_string, PathElement};

/// Why a server-side apply was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplyError {
    /// Other managers own fields the apply would change (HTTP 409).
    #[error("{0}")]
    Conflict(Conflicts),
    /// The request itself is malformed (HTTP 400).
    #[error("{0}")]
    BadRequest(String),
    /// The configuration does not fit the schema, e.g. duplicate list-map keys (HTTP 422).
    #[error("{0}")]
    Invalid(String),
}

impl ApplyError {
    /// The HTTP status to answer with.
    pub fn status_code(&self) -> u16 {
        match self {
            ApplyError::Conflict(_) => 409,
            ApplyError::BadRequest(_) => 400,
            ApplyError::Invalid(_) => 422,
        }
    }
}

/// One conflicting field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The owning manager as upstream prints it: `"kubectl-client-side-apply" using apps/v1`.
    pub manager: String,
    /// The field path, upstream-formatted (`.spec.replicas`).
    pub path: String,
    pub(crate) elements: Vec<PathElement>,
}

impl Conflict {
    /// The `StatusCause` message (`conflict with "m" using v1`); its field is [`Conflict::path`].
    pub fn cause_message(&self) -> String {
        format!("conflict with {}", self.manager)
    }
}

/// All conflicts of one apply, grouped by manager.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Conflicts {
    /// The conflicts, sorted by manager, paths in field-set order.
    pub conflicts: Vec<Conflict>,
}

impl Conflicts {
    pub(crate) fn from_sets(mut sets: Vec<(String, FieldSet)>) -> Self {
        sets.sort_by(|a, b| a.0.cmp(&b.0));
        let conflicts = sets
            .into_iter()
            .flat_map(|(manager, set)| {
                set.paths().into_iter().map(move |elements| Conflict {
                    manager: manager.clone(),
                    path: path_to_string(&elements),
                    elements,
                })
            })
            .collect();
        Conflicts { conflicts }
    }

    /// Whether there is no conflict.
    pub fn is_empty(&self) -> bool {
        self.conflicts.is_empty()
    }

    /// The conflicts whose path is not in `allowed`.
    pub(crate) fn without(&self, allowed: Option<&FieldSet>) -> Conflicts {
        let conflicts = self
            .conflicts
            .iter()
            .filter(|c| !allowed.is_some_and(|a| a.has(&c.elements)))
            .cloned()
            .collect();
        Conflicts { conflicts }
    }
}

impl std::fmt::Display for Conflicts {
    /// The apiserver's message: `Apply failed with 1 conflict: conflict with "m" using
    /// apps/v1: .spec.replicas`, or one `conflicts with "m":` block per manager.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.conflicts.as_slice() {
            [] => write!(f, "Apply failed with 0 conflicts"),
            [only] => write!(
                f,
                "Apply failed with 1 conflict: conflict with {}: {}",
                only.manager, only.path
            ),
            all => {
                let mut lines = Vec::new();
                let mut current: Option<&str> = None;
                for c in all {
                    if current != Some(c.manager.as_str()) {
                        lines.push(format!("conflicts with {}", c.manager));
                        current = Some(&c.manager);
                    }
                    lines.push(format!("- {}", c.path));
                }
                write!(
                    f,
                    "Apply failed with {} conflicts: {}",
                    all.len(),
                    lines.join("\n")
                )
            }
        }
    }
}
