//! Server-side printing for Skiff: the `meta.k8s.io/v1` `Table` that `kubectl get` asks for,
//! with the columns and cells kube-apiserver's printers produce. Pure: no I/O, no clock reads
//! (`now` is passed in).
//!
//! - [`column`]: column definitions and shared columns.
//! - [`builtin`]: which printer serves which built-in resource; the default table.
//! - [`pod`], [`node`], [`core`], [`workloads`], [`storage`], [`network`], [`rbac`],
//!   [`cluster`]: the printers.
//! - [`custom`] and [`jsonpath`]: custom resources' `additionalPrinterColumns`.
//! - [`age`]: upstream's human durations; [`util`]: JSON readers and shared formatting.

pub mod age;
pub mod builtin;
pub mod cluster;
pub mod column;
pub mod core;
pub mod custom;
pub mod jsonpath;
pub mod network;
pub mod node;
pub mod pod;
pub mod rbac;
pub mod storage;
pub mod util;
pub mod workloads;

pub use column::Column;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use skiff_api::ResourceInfo;

/// What each row's `object` holds (`?includeObject=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IncludeObject {
    /// No object.
    None,
    /// A `PartialObjectMetadata` (`meta.k8s.io/v1`) with the object's metadata (the default).
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// Parses the query parameter value (`None`, `Metadata`, `Object`); `None` if unknown.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "None" => Some(Self::None),
            "Metadata" | "" => Some(Self::Metadata),
            "Object" => Some(Self::Object),
            _ => None,
        }
    }
}

fn printer_columns<'a>(res: &'a ResourceInfo, apc: Option<&'a Value>) -> Option<&'a Value> {
    apc.or(res.printer_columns.as_deref())
}

/// The columns of a resource: built-ins by group and plural (upstream's default `Name`,
/// `Created At` when upstream has no printer); custom resources from
/// `additional_printer_columns` (else the ones the resource carries), `Name` + `Age` when none.
pub fn columns_for(res: &ResourceInfo, additional_printer_columns: Option<&Value>) -> Vec<Column> {
    if res.custom {
        return custom::columns(printer_columns(res, additional_printer_columns));
    }
    match builtin::printer(&res.group, &res.plural) {
        Some(p) => (p.columns)(),
        None => builtin::default_columns(),
    }
}

/// The cells of one object's row, in the order of [`columns_for`] (wide columns included).
pub fn row_cells(
    res: &ResourceInfo,
    obj: &Value,
    additional_printer_columns: Option<&Value>,
    now: DateTime<Utc>,
) -> Vec<Value> {
    if res.custom {
        return custom::cells(obj, printer_columns(res, additional_printer_columns), now);
    }
    match builtin::printer(&res.group, &res.plural) {
        Some(p) => (p.cells)(obj, now),
        None => builtin::default_cells(obj, now),
    }
}

fn row_object(obj: &Value, include: IncludeObject) -> Option<Value> {
    match include {
        IncludeObject::None => None,
        IncludeObject::Object => Some(obj.clone()),
        IncludeObject::Metadata => Some(json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
        })),
    }
}

fn table_meta(list_meta: &Value) -> Value {
    let mut m = Map::new();
    for k in ["resourceVersion", "continue"] {
        if let Some(v) = list_meta
            .get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
        {
            m.insert(k.into(), v.into());
        }
    }
    if let Some(n) = list_meta
        .get("remainingItemCount")
        .filter(|n| n.is_number())
    {
        m.insert("remainingItemCount".into(), n.clone());
    }
    Value::Object(m)
}

/// The whole `Table` for `objects`. `list_meta` supplies `resourceVersion`, `continue` and
/// `remainingItemCount` (empty ones are left out).
pub fn table<T: std::borrow::Borrow<Value>>(
    res: &ResourceInfo,
    objects: &[T],
    include_object: IncludeObject,
    list_meta: Value,
    additional_printer_columns: Option<&Value>,
    now: DateTime<Utc>,
) -> Value {
    let columns: Vec<Value> = columns_for(res, additional_printer_columns)
        .iter()
        .map(Column::to_json)
        .collect();
    let is_pods = !res.custom && res.group.is_empty() && res.plural == "pods";
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let obj: &Value = obj.borrow();
            let mut row = Map::new();
            row.insert(
                "cells".into(),
                Value::Array(row_cells(res, obj, additional_printer_columns, now)),
            );
            if is_pods {
                if let Some(conds) = pod::row_conditions(obj) {
                    row.insert("conditions".into(), conds);
                }
            }
            if let Some(o) = row_object(obj, include_object) {
                row.insert("object".into(), o);
            }
            Value::Object(row)
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": table_meta(&list_meta),
        "columnDefinitions": columns,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests;
