//! [`FieldSet`]: a set of field paths stored as a trie, with structured-merge-diff's set
//! algebra and the `fieldsV1` JSON encoding used in `metadata.managedFields`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::path::{path_to_string, PathElement};

/// A set of paths. A node holds `members` (paths ending here) and `children` (non-empty
/// subsets below an element). In `fieldsV1`, a member with children is written as `.`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

/// A `fieldsV1` document that is not a valid field set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldSetError {
    /// A node is not a JSON object.
    #[error("fieldsV1: expected an object at {path:?}")]
    NotAnObject {
        /// Path of the node, upstream-formatted.
        path: String,
    },
    /// A key is neither `.` nor a valid `f:`/`k:`/`v:`/`i:` element.
    #[error("fieldsV1: invalid path element {key:?} at {path:?}")]
    BadKey {
        /// The key.
        key: String,
        /// Path of the node, upstream-formatted.
        path: String,
    },
    /// Nesting deeper than followed.
    #[error("fieldsV1: nested too deeply")]
    TooDeep,
}

const MAX_DEPTH: usize = 256;

impl FieldSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// A set of the given paths (each a slice of field names), e.g. `[["status"]]`.
    pub fn from_field_paths(paths: &[&[&str]]) -> Self {
        let mut set = FieldSet::new();
        for path in paths {
            let path: Vec<PathElement> = path
                .iter()
                .map(|f| PathElement::Field((*f).to_string()))
                .collect();
            set.insert(&path);
        }
        set
    }

    /// Whether the set holds no path.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    /// Adds a path. The empty path is ignored.
    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            // Look up before inserting: cloning the element (a String for a field) for
            // every step of every path was most of the cost of building a set.
            [first, rest @ ..] => match self.children.get_mut(first) {
                Some(child) => child.insert(rest),
                None => {
                    let mut child = FieldSet::new();
                    child.insert(rest);
                    self.children.insert(first.clone(), child);
                }
            },
        }
    }

    /// Whether the path is a member.
    pub fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    /// Whether the element is a member of this node.
    pub fn has_member(&self, pe: &PathElement) -> bool {
        self.members.contains(pe)
    }

    /// The subset below `pe`, if any.
    pub fn child(&self, pe: &PathElement) -> Option<&FieldSet> {
        self.children.get(pe)
    }

    /// The members of this node.
    pub fn members(&self) -> impl Iterator<Item = &PathElement> {
        self.members.iter()
    }

    /// The children of this node.
    pub fn children(&self) -> impl Iterator<Item = (&PathElement, &FieldSet)> {
        self.children.iter()
    }

    pub(crate) fn insert_member(&mut self, pe: PathElement) {
        self.members.insert(pe);
    }

    pub(crate) fn set_child(&mut self, pe: PathElement, set: FieldSet) {
        if set.is_empty() {
            self.children.remove(&pe);
        } else {
            self.children.insert(pe, set);
        }
    }

    /// Paths in either set.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.union_with(other);
        out
    }

    /// Adds every path of `other`.
    pub fn union_with(&mut self, other: &FieldSet) {
        self.members.extend(other.members.iter().cloned());
        for (pe, child) in &other.children {
            self.children
                .entry(pe.clone())
                .or_default()
                .union_with(child);
        }
    }

    /// Paths in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            members: self.members.intersection(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (pe, child) in &self.children {
            if let Some(theirs) = other.children.get(pe) {
                out.set_child(pe.clone(), child.intersection(theirs));
            }
        }
        out
    }

    /// Paths of `self` that are not in `other` (a parent does not remove its children).
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            members: self.members.difference(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (pe, child) in &self.children {
            match other.children.get(pe) {
                Some(theirs) => out.set_child(pe.clone(), child.difference(theirs)),
                None => out.set_child(pe.clone(), child.clone()),
            }
        }
        out
    }

    /// Removes every path of `other`: [`FieldSet::difference`] in place, visiting only the
    /// nodes `other` has (an update changes a few fields of an object whose managers own
    /// hundreds).
    pub fn remove_all(&mut self, other: &FieldSet) {
        remove_members(&mut self.members, &other.members);
        for (pe, theirs) in &other.children {
            if let Some(mine) = self.children.get_mut(pe) {
                mine.remove_all(theirs);
                if mine.is_empty() {
                    self.children.remove(pe);
                }
            }
        }
    }

    /// [`FieldSet::recursive_difference`] in place: removes the paths of `other` and every
    /// path below a member of `other`.
    pub fn remove_recursive(&mut self, other: &FieldSet) {
        remove_members(&mut self.members, &other.members);
        for pe in &other.members {
            self.children.remove(pe);
        }
        for (pe, theirs) in &other.children {
            if let Some(mine) = self.children.get_mut(pe) {
                mine.remove_recursive(theirs);
                if mine.is_empty() {
                    self.children.remove(pe);
                }
            }
        }
    }

    /// Paths of `self` that neither are in `other` nor have a prefix that is a member of
    /// `other` (upstream's `RecursiveDifference`, used to filter ignored fields).
    pub fn recursive_difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            members: self.members.difference(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (pe, child) in &self.children {
            if other.members.contains(pe) {
                continue;
            }
            match other.children.get(pe) {
                Some(theirs) => out.set_child(pe.clone(), child.recursive_difference(theirs)),
                None => out.set_child(pe.clone(), child.clone()),
            }
        }
        out
    }

    /// Every path, members of a node before its children, each group in sorted order.
    pub fn paths(&self) -> Vec<Vec<PathElement>> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Vec<PathElement>>) {
        for pe in &self.members {
            let mut path = prefix.clone();
            path.push(pe.clone());
            out.push(path);
        }
        for (pe, child) in &self.children {
            prefix.push(pe.clone());
            child.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    /// Every path formatted like upstream (`.spec.replicas`).
    pub fn path_strings(&self) -> Vec<String> {
        self.paths().iter().map(|p| path_to_string(p)).collect()
    }

    /// The `fieldsV1` JSON object.
    pub fn to_fields_v1(&self) -> Value {
        Value::Object(self.emit(false))
    }

    fn emit(&self, include_self: bool) -> Map<String, Value> {
        let mut out = Map::new();
        if include_self && !self.is_empty() {
            out.insert(".".into(), Value::Object(Map::new()));
        }
        let mut members = self.members.iter().peekable();
        let mut children = self.children.iter().peekable();
        loop {
            let take_member = match (members.peek(), children.peek()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(m), Some((c, _))) => *m <= *c,
            };
            if take_member {
                let Some(pe) = members.next() else { break };
                let both = children.peek().is_some_and(|(c, _)| *c == pe);
                let value = match both.then(|| children.next()).flatten() {
                    Some((_, child)) => child.emit(true),
                    None => Map::new(),
                };
                out.insert(pe.to_fields_v1_key(), Value::Object(value));
            } else {
                let Some((pe, child)) = children.next() else {
                    break;
                };
                out.insert(pe.to_fields_v1_key(), Value::Object(child.emit(false)));
            }
        }
        out
    }

    /// Parses a `fieldsV1` JSON object.
    pub fn from_fields_v1(value: &Value) -> Result<FieldSet, FieldSetError> {
        FieldSet::parse(value, &mut Vec::new())
    }

    /// `keys`: the `fieldsV1` keys leading here, turned into a path only for an error.
    fn parse<'v>(value: &'v Value, keys: &mut Vec<&'v str>) -> Result<FieldSet, FieldSetError> {
        if keys.len() > MAX_DEPTH {
            return Err(FieldSetError::TooDeep);
        }
        let Value::Object(map) = value else {
            return Err(FieldSetError::NotAnObject {
                path: keys_to_path(keys),
            });
        };
        let mut set = FieldSet::new();
        for (key, child) in map {
            if key == "." {
                continue;
            }
            let Some(pe) = PathElement::from_fields_v1_key(key) else {
                return Err(FieldSetError::BadKey {
                    key: key.clone(),
                    path: keys_to_path(keys),
                });
            };
            keys.push(key);
            let parsed = FieldSet::parse(child, keys);
            keys.pop();
            let parsed = parsed?;
            let is_member =
                parsed.is_empty() || child.as_object().is_some_and(|m| m.contains_key("."));
            if parsed.is_empty() {
                set.members.insert(pe);
            } else {
                if is_member {
                    set.members.insert(pe.clone());
                }
                set.children.insert(pe, parsed);
            }
        }
        Ok(set)
    }
}

/// The upstream-formatted path of `fieldsV1` keys already parsed once.
fn keys_to_path(keys: &[&str]) -> String {
    let path: Vec<PathElement> = keys
        .iter()
        .filter_map(|k| PathElement::from_fields_v1_key(k))
        .collect();
    path_to_string(&path)
}

/// Removes `theirs` from `mine`, walking the smaller of the two.
fn remove_members(mine: &mut BTreeSet<PathElement>, theirs: &BTreeSet<PathElement>) {
    if theirs.is_empty() || mine.is_empty() {
        return;
    }
    if theirs.len() < mine.len() {
        for pe in theirs {
            mine.remove(pe);
        }
    } else {
        mine.retain(|pe| !theirs.contains(pe));
    }
}

#[cfg(test)]
mod tests;
