//! [`ManagedFields`]: the `metadata.managedFields` entries of an object, decoded.

use serde_json::{Map, Value};

use super::fieldset::{FieldSet, FieldSetError};

/// Whether an entry records a server-side apply or another write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// `Apply`: the manager's applied configuration (the manager owns exactly these fields).
    Apply,
    /// `Update`: fields the manager changed with create/update/patch.
    Update,
}

impl Operation {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One `metadata.managedFields` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct ManagedFieldsEntry {
    /// The field manager's name.
    pub manager: String,
    /// Apply or Update.
    pub operation: Operation,
    /// The `apiVersion` the fields are expressed in.
    pub api_version: String,
    /// When the entry last changed (RFC 3339), as supplied by the caller.
    pub time: Option<String>,
    /// The owned fields (`fieldsV1`).
    pub fields: FieldSet,
    /// The subresource written through (`status`, `scale`), `None` for the main resource.
    pub subresource: Option<String>,
}

impl ManagedFieldsEntry {
    /// Whether two entries denote the same manager (upstream's manager identifier: name,
    /// operation, subresource, plus apiVersion for updates).
    pub fn same_manager(&self, other: &ManagedFieldsEntry) -> bool {
        self.manager == other.manager
            && self.operation == other.operation
            && self.subresource == other.subresource
            && (self.operation == Operation::Apply || self.api_version == other.api_version)
    }

    /// How conflicts name this manager: `"kubectl-client-side-apply" using apps/v1`.
    pub fn display_name(&self) -> String {
        let mut out = Value::String(self.manager.clone()).to_string();
        if let Some(sub) = &self.subresource {
            out.push_str(&format!(" with subresource {}", Value::String(sub.clone())));
        }
        if self.operation == Operation::Update {
            out.push_str(&format!(" using {}", self.api_version));
        }
        out
    }

    /// The entry as JSON (field order as upstream serializes it).
    pub fn to_value(&self) -> Value {
        let mut map = Map::new();
        map.insert("manager".into(), self.manager.clone().into());
        map.insert("operation".into(), self.operation.as_str().into());
        map.insert("apiVersion".into(), self.api_version.clone().into());
        if let Some(time) = &self.time {
            map.insert("time".into(), time.clone().into());
        }
        map.insert("fieldsType".into(), "FieldsV1".into());
        map.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if let Some(sub) = &self.subresource {
            map.insert("subresource".into(), sub.clone().into());
        }
        Value::Object(map)
    }

    /// Decodes one entry.
    pub fn from_value(value: &Value) -> Result<Self, ManagedFieldsError> {
        let Value::Object(map) = value else {
            return Err(ManagedFieldsError::NotAnObject);
        };
        let text = |k: &str| map.get(k).and_then(Value::as_str).map(str::to_string);
        let operation = match text("operation").as_deref() {
            Some("Apply") => Operation::Apply,
            Some("Update") => Operation::Update,
            other => {
                return Err(ManagedFieldsError::BadOperation(
                    other.unwrap_or_default().to_string(),
                ))
            }
        };
        match text("fieldsType").as_deref() {
            Some("FieldsV1") | None => {}
            Some(other) => return Err(ManagedFieldsError::BadFieldsType(other.to_string())),
        }
        let fields = match map.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::new(),
            Some(v) => FieldSet::from_fields_v1(v)?,
        };
        Ok(ManagedFieldsEntry {
            manager: text("manager").unwrap_or_default(),
            operation,
            api_version: text("apiVersion").unwrap_or_default(),
            time: text("time"),
            fields,
            subresource: text("subresource").filter(|s| !s.is_empty()),
        })
    }
}

/// A managed-fields entry that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManagedFieldsError {
    /// `metadata.managedFields` is not a list, or an entry is not an object.
    #[error("managedFields: expected a list of objects")]
    NotAnObject,
    /// `operation` is neither `Apply` nor `Update`.
    #[error("managedFields: invalid operation {0:?}")]
    BadOperation(String),
    /// `fieldsType` is not `FieldsV1`.
    #[error("managedFields: unsupported fieldsType {0:?}")]
    BadFieldsType(String),
    /// `fieldsV1` is malformed.
    #[error(transparent)]
    Fields(#[from] FieldSetError),
}

/// The decoded `metadata.managedFields` of an object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ManagedFields {
    /// The entries, in no particular order ([`ManagedFields::to_value`] sorts them).
    pub entries: Vec<ManagedFieldsEntry>,
}

impl ManagedFields {
    /// No entries.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Decodes a `managedFields` list (`null` is empty).
    pub fn from_value(value: &Value) -> Result<Self, ManagedFieldsError> {
        match value {
            Value::Null => Ok(ManagedFields::new()),
            Value::Array(items) => {
                let mut out = ManagedFields::new();
                for item in items {
                    out.merge_entry(ManagedFieldsEntry::from_value(item)?);
                }
                Ok(out)
            }
            _ => Err(ManagedFieldsError::NotAnObject),
        }
    }

    /// Decodes an object's `metadata.managedFields` (absent is empty).
    pub fn from_object(object: &Value) -> Result<Self, ManagedFieldsError> {
        match object.get("metadata").and_then(|m| m.get("managedFields")) {
            Some(v) => ManagedFields::from_value(v),
            None => Ok(ManagedFields::new()),
        }
    }

    /// The entries as a JSON list, sorted like upstream: operation, time, manager,
    /// apiVersion, subresource.
    pub fn to_value(&self) -> Value {
        let mut entries: Vec<&ManagedFieldsEntry> = self.entries.iter().collect();
        entries.sort_by(|a, b| {
            a.operation
                .cmp(&b.operation)
                .then_with(|| seconds(&a.time).cmp(&seconds(&b.time)))
                .then_with(|| a.manager.cmp(&b.manager))
                .then_with(|| a.api_version.cmp(&b.api_version))
                .then_with(|| a.subresource.cmp(&b.subresource))
        });
        Value::Array(
            entries
                .into_iter()
                .map(ManagedFieldsEntry::to_value)
                .collect(),
        )
    }

    /// Stores the entries in `object.metadata.managedFields`, removing the field when
    /// there are none.
    pub fn write_to(&self, object: &mut Value) {
        let Value::Object(root) = object else { return };
        let metadata = root
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(metadata) = metadata else {
            return;
        };
        if self.entries.is_empty() {
            metadata.shift_remove("managedFields");
        } else {
            metadata.insert("managedFields".into(), self.to_value());
        }
    }

    /// The entry of the given manager identity, if any.
    pub fn find(&self, probe: &ManagedFieldsEntry) -> Option<&ManagedFieldsEntry> {
        self.entries.iter().find(|e| e.same_manager(probe))
    }

    pub(crate) fn find_mut(
        &mut self,
        probe: &ManagedFieldsEntry,
    ) -> Option<&mut ManagedFieldsEntry> {
        self.entries.iter_mut().find(|e| e.same_manager(probe))
    }

    /// Adds an entry, uniting its fields with an existing entry of the same manager.
    pub(crate) fn merge_entry(&mut self, entry: ManagedFieldsEntry) {
        match self.find_mut(&entry) {
            Some(existing) => existing.fields.union_with(&entry.fields),
            None => self.entries.push(entry),
        }
    }

    /// Drops entries that own nothing.
    pub(crate) fn drop_empty(&mut self) {
        self.entries.retain(|e| !e.fields.is_empty());
    }
}

/// Whole seconds of an RFC 3339 time for ordering (missing times sort first).
fn seconds(time: &Option<String>) -> String {
    time.as_deref()
        .map(|t| {
            t.split('.')
                .next()
                .unwrap_or(t)
                .trim_end_matches('Z')
                .to_string()
        })
        .unwrap_or_default()
}
