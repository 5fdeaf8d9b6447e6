//! Storage: persistent volumes and claims, storage classes, CSI drivers, CSI nodes, CSI storage
//! capacities and volume attachments.

use crate::age;
use crate::column::{age_col, c, name_col, w, Column};
use crate::util::{arr, b, name, obj, opt_s, quantity, s};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

const CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

/// `GetAccessModesAsString`: `RWO,ROX,RWX,RWOP` in that order, duplicates dropped.
fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|x| x.as_str() == Some(m));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(m, _)| has(m))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

fn class_of(o: &Value) -> String {
    obj(o, "/metadata/annotations")
        .and_then(|a| a.get(CLASS_ANNOTATION))
        .and_then(Value::as_str)
        .unwrap_or_else(|| s(o, "/spec/storageClassName"))
        .to_string()
}

fn phase(o: &Value) -> String {
    if crate::util::deleting(o) {
        "Terminating".into()
    } else {
        s(o, "/status/phase").to_string()
    }
}

fn unset(v: Option<&str>) -> String {
    v.unwrap_or("<unset>").to_string()
}

/// PersistentVolume columns.
pub fn pv_columns() -> Vec<Column> {
    vec![
        name_col(),
        c("Capacity", "string", "capacity is the description of the persistent volume's resources and capacity."),
        c("Access Modes", "string", "accessModes contains all ways the volume can be mounted."),
        c("Reclaim Policy", "string", "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim."),
        c("Status", "string", "phase indicates if a volume is available, bound to a claim, or released by a claim."),
        c("Claim", "string", "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim."),
        c("StorageClass", "string", "StorageClass of the pv"),
        c("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
        c("Reason", "string", "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI."),
        age_col(),
        w("VolumeMode", "string", "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state."),
    ]
}

/// PersistentVolume cells.
pub fn pv_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let claim = match o.pointer("/spec/claimRef") {
        Some(r) if r.is_object() => format!("{}/{}", s(r, "/namespace"), s(r, "/name")),
        _ => String::new(),
    };
    vec![
        json!(name(o)),
        json!(quantity(o.pointer("/spec/capacity/storage"))),
        json!(access_modes(arr(o, "/spec/accessModes"))),
        json!(s(o, "/spec/persistentVolumeReclaimPolicy")),
        json!(phase(o)),
        json!(claim),
        json!(class_of(o)),
        json!(unset(opt_s(o, "/spec/volumeAttributesClassName"))),
        json!(s(o, "/status/reason")),
        json!(age::age(o, now)),
        json!(unset(opt_s(o, "/spec/volumeMode"))),
    ]
}

/// PersistentVolumeClaim columns.
pub fn pvc_columns() -> Vec<Column> {
    vec![
        name_col(),
        c(
            "Status",
            "string",
            "phase represents the current phase of PersistentVolumeClaim.",
        ),
        c(
            "Volume",
            "string",
            "volumeName is the binding reference to the PersistentVolume backing this claim.",
        ),
        c(
            "Capacity",
            "string",
            "capacity represents the actual resources of the underlying volume.",
        ),
        c(
            "Access Modes",
            "string",
            "accessModes contains the actual access modes the volume backing the PVC has.",
        ),
        c("StorageClass", "string", "StorageClass of the pvc"),
        c(
            "VolumeAttributesClass",
            "string",
            "VolumeAttributesClass of the pvc",
        ),
        age_col(),
        w(
            "VolumeMode",
            "string",
            "volumeMode defines what type of volume is required by the claim.",
        ),
    ]
}

/// PersistentVolumeClaim cells: capacity and access modes only once bound.
pub fn pvc_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let volume = s(o, "/spec/volumeName");
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            quantity(o.pointer("/status/capacity/storage")),
            access_modes(arr(o, "/status/accessModes")),
        )
    };
    vec![
        json!(name(o)),
        json!(phase(o)),
        json!(volume),
        json!(capacity),
        json!(modes),
        json!(class_of(o)),
        json!(unset(opt_s(o, "/spec/volumeAttributesClassName"))),
        json!(age::age(o, now)),
        json!(unset(opt_s(o, "/spec/volumeMode"))),
    ]
}

/// StorageClass columns.
pub fn storageclass_columns() -> Vec<Column> {
    vec![
        name_col(),
        c("Provisioner", "string", "provisioner indicates the type of the provisioner."),
        c("ReclaimPolicy", "string", "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class."),
        c("VolumeBindingMode", "string", "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound."),
        c("AllowVolumeExpansion", "string", "allowVolumeExpansion shows whether the storage class allow volume expand."),
        age_col(),
    ]
}

/// StorageClass cells; the default class is marked ` (default)`.
pub fn storageclass_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let ann = obj(o, "/metadata/annotations");
    let is_default = [
        "storageclass.kubernetes.io/is-default-class",
        "storageclass.beta.kubernetes.io/is-default-class",
    ]
    .iter()
    .any(|k| ann.and_then(|a| a.get(*k)).and_then(Value::as_str) == Some("true"));
    let mut n = name(o);
    if is_default {
        n.push_str(" (default)");
    }
    vec![
        json!(n),
        json!(s(o, "/provisioner")),
        json!(opt_s(o, "/reclaimPolicy").unwrap_or("Delete")),
        json!(opt_s(o, "/volumeBindingMode").unwrap_or("Immediate")),
        json!(b(o, "/allowVolumeExpansion")),
        json!(age::age(o, now)),
    ]
}

/// CSIDriver columns.
pub fn csidriver_columns() -> Vec<Column> {
    vec![
        name_col(),
        c("AttachRequired", "boolean", "attachRequired indicates this CSI volume driver requires an attach operation."),
        c("PodInfoOnMount", "boolean", "podInfoOnMount indicates this CSI volume driver requires additional pod information during mount operations."),
        c("StorageCapacity", "boolean", "storageCapacity indicates that the CSI volume driver wants pod scheduling to consider the storage capacity."),
        c("TokenRequests", "string", "tokenRequests indicates the CSI driver needs pods' service account tokens it is mounting volume for."),
        c("RequiresRepublish", "boolean", "requiresRepublish indicates the CSI driver wants NodePublishVolume being periodically called."),
        c("Modes", "string", "volumeLifecycleModes defines what kind of volumes this CSI volume driver supports."),
        age_col(),
    ]
}

/// CSIDriver cells.
pub fn csidriver_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let modes: Vec<&str> = arr(o, "/spec/volumeLifecycleModes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let tokens = match o.pointer("/spec/tokenRequests").and_then(Value::as_array) {
        Some(t) => t
            .iter()
            .map(|x| s(x, "/audience"))
            .collect::<Vec<_>>()
            .join(","),
        None => "<unset>".into(),
    };
    let attach = o
        .pointer("/spec/attachRequired")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    vec![
        json!(name(o)),
        json!(attach),
        json!(b(o, "/spec/podInfoOnMount")),
        json!(b(o, "/spec/storageCapacity")),
        json!(tokens),
        json!(b(o, "/spec/requiresRepublish")),
        json!(if modes.is_empty() {
            "<none>".to_string()
        } else {
            modes.join(",")
        }),
        json!(age::age(o, now)),
    ]
}

/// CSINode columns.
pub fn csinode_columns() -> Vec<Column> {
    vec![
        name_col(),
        c(
            "Drivers",
            "integer",
            "Drivers indicates the number of CSI drivers registered on the node",
        ),
        age_col(),
    ]
}

/// CSINode cells.
pub fn csinode_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(o)),
        json!(arr(o, "/spec/drivers").len()),
        json!(age::age(o, now)),
    ]
}

/// CSIStorageCapacity columns.
pub fn csistoragecapacity_columns() -> Vec<Column> {
    vec![
        name_col(),
        c("StorageClassName", "string", "storageClassName represents the name of the StorageClass that the reported capacity applies to."),
        c("Capacity", "string", "capacity is the value reported by the CSI driver in its GetCapacityResponse for a GetCapacityRequest with topology and parameters that match the previous fields."),
    ]
}

/// CSIStorageCapacity cells.
pub fn csistoragecapacity_cells(o: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    let cap = match o.get("capacity") {
        Some(v) if !v.is_null() => quantity(Some(v)),
        _ => "<unset>".into(),
    };
    vec![json!(name(o)), json!(s(o, "/storageClassName")), json!(cap)]
}

/// VolumeAttachment columns.
pub fn volumeattachment_columns() -> Vec<Column> {
    vec![
        name_col(),
        Column {
            format: "name".into(),
            ..c(
                "Attacher",
                "string",
                "attacher indicates the name of the volume driver that MUST handle this request.",
            )
        },
        c(
            "PV",
            "string",
            "persistentVolumeName represents the name of the persistent volume to attach.",
        ),
        c(
            "Node",
            "string",
            "nodeName represents the node that the volume should be attached to.",
        ),
        c(
            "Attached",
            "boolean",
            "attached indicates the volume is successfully attached.",
        ),
        age_col(),
    ]
}

/// VolumeAttachment cells.
pub fn volumeattachment_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(o)),
        json!(s(o, "/spec/attacher")),
        json!(s(o, "/spec/source/persistentVolumeName")),
        json!(s(o, "/spec/nodeName")),
        json!(b(o, "/status/attached")),
        json!(age::age(o, now)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn pv_and_pvc_rows() {
        let pv = json!({
            "metadata": { "name": "pv1", "creationTimestamp": "2024-05-01T11:00:00Z" },
            "spec": { "capacity": { "storage": "10Gi" }, "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "fast",
                "claimRef": { "namespace": "default", "name": "data" }, "volumeMode": "Filesystem" },
            "status": { "phase": "Bound" },
        });
        assert_eq!(
            pv_cells(&pv, now()),
            vec![
                json!("pv1"),
                json!("10Gi"),
                json!("RWO,RWX"),
                json!("Retain"),
                json!("Bound"),
                json!("default/data"),
                json!("fast"),
                json!("<unset>"),
                json!(""),
                json!("60m"),
                json!("Filesystem")
            ]
        );
        let pvc = json!({
            "metadata": { "name": "data", "creationTimestamp": "2024-05-01T11:00:00Z" },
            "spec": { "volumeName": "pv1", "storageClassName": "fast", "resources": { "requests": { "storage": "5Gi" } } },
            "status": { "phase": "Bound", "capacity": { "storage": "10Gi" }, "accessModes": ["ReadWriteOnce"] },
        });
        assert_eq!(
            pvc_cells(&pvc, now()),
            vec![
                json!("data"),
                json!("Bound"),
                json!("pv1"),
                json!("10Gi"),
                json!("RWO"),
                json!("fast"),
                json!("<unset>"),
                json!("60m"),
                json!("<unset>")
            ]
        );
        let pending = json!({ "metadata": { "name": "p", "deletionTimestamp": "2024-05-01T11:00:00Z" }, "status": { "phase": "Pending" } });
        assert_eq!(
            pvc_cells(&pending, now())[1..5],
            [json!("Terminating"), json!(""), json!(""), json!("")]
        );
    }

    #[test]
    fn storageclass_and_csi_rows() {
        let sc = json!({
            "metadata": { "name": "standard", "creationTimestamp": "2024-05-01T11:00:00Z",
                "annotations": { "storageclass.kubernetes.io/is-default-class": "true" } },
            "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer",
        });
        assert_eq!(
            storageclass_cells(&sc, now()),
            vec![
                json!("standard (default)"),
                json!("rancher.io/local-path"),
                json!("Delete"),
                json!("WaitForFirstConsumer"),
                json!(false),
                json!("60m")
            ]
        );
        let drv = json!({ "metadata": { "name": "d" }, "spec": { "volumeLifecycleModes": ["Persistent"] } });
        assert_eq!(
            csidriver_cells(&drv, now()),
            vec![
                json!("d"),
                json!(true),
                json!(false),
                json!(false),
                json!("<unset>"),
                json!(false),
                json!("Persistent"),
                json!("<unknown>")
            ]
        );
        let va = json!({ "metadata": { "name": "va" }, "spec": { "attacher": "csi.x", "nodeName": "n1", "source": { "persistentVolumeName": "pv1" } }, "status": { "attached": true } });
        assert_eq!(
            volumeattachment_cells(&va, now()),
            vec![
                json!("va"),
                json!("csi.x"),
                json!("pv1"),
                json!("n1"),
                json!(true),
                json!("<unknown>")
            ]
        );
        assert_eq!(
            csistoragecapacity_cells(&json!({}), now()),
            vec![json!(""), json!(""), json!("<unset>")]
        );
    }
}
