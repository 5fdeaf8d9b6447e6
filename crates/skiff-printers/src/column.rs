//! Table column definitions (`meta.k8s.io/v1` `TableColumnDefinition`) and the shapes every
//! printer shares: the `Name` and `Age` columns, and the printer function pair.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// Description upstream gives the `Name` column (from `ObjectMeta.name`).
pub const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
/// Description upstream gives `Age` and `Created At` (from `ObjectMeta.creationTimestamp`).
pub const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// One column of a Table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// Header, e.g. `Name`, `Ready` (kubectl upper-cases it).
    pub name: String,
    /// OpenAPI type of the cells: `string`, `integer`, `number`, `boolean`, `date`.
    pub type_: String,
    /// `name` for the primary name column, else usually empty.
    pub format: String,
    /// Human description.
    pub description: String,
    /// 0 for normal columns, 1 (or more) for columns shown only with `-o wide`.
    pub priority: i32,
}

impl Column {
    /// The `TableColumnDefinition` JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.type_,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// A normal column.
pub fn c(name: &str, type_: &str, description: &str) -> Column {
    Column {
        name: name.into(),
        type_: type_.into(),
        format: String::new(),
        description: description.into(),
        priority: 0,
    }
}

/// A `-o wide` column (priority 1).
pub fn w(name: &str, type_: &str, description: &str) -> Column {
    Column {
        priority: 1,
        ..c(name, type_, description)
    }
}

/// The `Name` column.
pub fn name_col() -> Column {
    Column {
        format: "name".into(),
        ..c("Name", "string", NAME_DESC)
    }
}

/// The `Age` column.
pub fn age_col() -> Column {
    c("Age", "string", AGE_DESC)
}

/// `Containers`, `Images` (wide) as the workload printers have them.
pub fn container_cols() -> [Column; 2] {
    [
        w(
            "Containers",
            "string",
            "Names of each container in the template.",
        ),
        w(
            "Images",
            "string",
            "Images referenced by each container in the template.",
        ),
    ]
}

/// A built-in printer: its columns and the cells of one object.
#[derive(Clone, Copy)]
pub struct Printer {
    /// Column definitions.
    pub columns: fn() -> Vec<Column>,
    /// Cells of one object, one per column (wide ones included).
    pub cells: fn(&Value, DateTime<Utc>) -> Vec<Value>,
}
