//! Which printer serves which built-in resource (by group and plural), and upstream's default
//! table (`NAME CREATED AT`) for built-ins without one (roles, CRDs, limit ranges, ...).

use crate::column::{c, name_col, Column, Printer, AGE_DESC};
use crate::util::name;
use crate::{cluster, core, network, node, pod, rbac, storage, workloads};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

const fn p(
    columns: fn() -> Vec<Column>,
    cells: fn(&Value, DateTime<Utc>) -> Vec<Value>,
) -> Printer {
    Printer { columns, cells }
}

/// The printer of a built-in resource, if upstream registers one.
pub fn printer(group: &str, plural: &str) -> Option<Printer> {
    use workloads as wl;
    let found = match (group, plural) {
        ("", "pods") => p(pod::columns, pod::cells),
        ("", "nodes") => p(node::columns, node::cells),
        ("", "namespaces") => p(core::namespace_columns, core::namespace_cells),
        ("", "configmaps") => p(core::configmap_columns, core::configmap_cells),
        ("", "secrets") => p(core::secret_columns, core::secret_cells),
        ("", "serviceaccounts") => p(core::serviceaccount_columns, core::serviceaccount_cells),
        ("", "services") => p(core::service_columns, core::service_cells),
        ("", "endpoints") => p(core::endpoints_columns, core::endpoints_cells),
        ("", "podtemplates") => p(core::podtemplate_columns, core::podtemplate_cells),
        ("", "resourcequotas") => p(core::resourcequota_columns, core::resourcequota_cells),
        ("", "events") | ("events.k8s.io", "events") => p(core::event_columns, core::event_cells),
        ("", "persistentvolumes") => p(storage::pv_columns, storage::pv_cells),
        ("", "persistentvolumeclaims") => p(storage::pvc_columns, storage::pvc_cells),
        ("", "replicationcontrollers") => {
            p(wl::replicaset_columns, wl::replicationcontroller_cells)
        }
        ("apps", "deployments") => p(wl::deployment_columns, wl::deployment_cells),
        ("apps", "replicasets") => p(wl::replicaset_columns, wl::replicaset_cells),
        ("apps", "statefulsets") => p(wl::statefulset_columns, wl::statefulset_cells),
        ("apps", "daemonsets") => p(wl::daemonset_columns, wl::daemonset_cells),
        ("apps", "controllerrevisions") => {
            p(wl::controllerrevision_columns, wl::controllerrevision_cells)
        }
        ("batch", "jobs") => p(wl::job_columns, wl::job_cells),
        ("batch", "cronjobs") => p(wl::cronjob_columns, wl::cronjob_cells),
        ("autoscaling", "horizontalpodautoscalers") => p(wl::hpa_columns, wl::hpa_cells),
        ("policy", "poddisruptionbudgets") => p(wl::pdb_columns, wl::pdb_cells),
        ("rbac.authorization.k8s.io", "rolebindings" | "clusterrolebindings") => {
            p(rbac::binding_columns, rbac::binding_cells)
        }
        ("coordination.k8s.io", "leases") => p(cluster::lease_columns, cluster::lease_cells),
        ("scheduling.k8s.io", "priorityclasses") => {
            p(cluster::priorityclass_columns, cluster::priorityclass_cells)
        }
        ("node.k8s.io", "runtimeclasses") => {
            p(cluster::runtimeclass_columns, cluster::runtimeclass_cells)
        }
        ("certificates.k8s.io", "certificatesigningrequests") => {
            p(cluster::csr_columns, cluster::csr_cells)
        }
        (
            "admissionregistration.k8s.io",
            "mutatingwebhookconfigurations" | "validatingwebhookconfigurations",
        ) => p(cluster::webhook_columns, cluster::webhook_cells),
        ("admissionregistration.k8s.io", "validatingadmissionpolicies") => {
            p(cluster::vap_columns, cluster::vap_cells)
        }
        ("admissionregistration.k8s.io", "validatingadmissionpolicybindings") => {
            p(cluster::vapb_columns, cluster::vapb_cells)
        }
        ("flowcontrol.apiserver.k8s.io", "flowschemas") => {
            p(cluster::flowschema_columns, cluster::flowschema_cells)
        }
        ("flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations") => {
            p(cluster::prioritylevel_columns, cluster::prioritylevel_cells)
        }
        ("storage.k8s.io", "storageclasses") => {
            p(storage::storageclass_columns, storage::storageclass_cells)
        }
        ("storage.k8s.io", "csidrivers") => p(storage::csidriver_columns, storage::csidriver_cells),
        ("storage.k8s.io", "csinodes") => p(storage::csinode_columns, storage::csinode_cells),
        ("storage.k8s.io", "csistoragecapacities") => p(
            storage::csistoragecapacity_columns,
            storage::csistoragecapacity_cells,
        ),
        ("storage.k8s.io", "volumeattachments") => p(
            storage::volumeattachment_columns,
            storage::volumeattachment_cells,
        ),
        ("networking.k8s.io", "ingresses") => p(network::ingress_columns, network::ingress_cells),
        ("networking.k8s.io", "ingressclasses") => {
            p(network::ingressclass_columns, network::ingressclass_cells)
        }
        ("networking.k8s.io", "networkpolicies") => {
            p(network::networkpolicy_columns, network::networkpolicy_cells)
        }
        ("networking.k8s.io", "servicecidrs") => {
            p(network::servicecidr_columns, network::servicecidr_cells)
        }
        ("networking.k8s.io", "ipaddresses") => {
            p(network::ipaddress_columns, network::ipaddress_cells)
        }
        ("discovery.k8s.io", "endpointslices") => {
            p(network::endpointslice_columns, network::endpointslice_cells)
        }
        _ => return None,
    };
    Some(found)
}

/// Columns of upstream's default table convertor.
pub fn default_columns() -> Vec<Column> {
    vec![name_col(), c("Created At", "date", AGE_DESC)]
}

/// Cells of the default table: the name and the creation time in UTC RFC 3339.
pub fn default_cells(obj: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    let created = crate::age::parse_time(obj.pointer("/metadata/creationTimestamp"))
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".into());
    vec![json!(name(obj)), json!(created)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_printer_has_matching_cells() {
        let now = Utc::now();
        for r in skiff_api::Registry::builtin().all() {
            if let Some(pr) = printer(&r.group, &r.plural) {
                let cols = (pr.columns)();
                assert_eq!(
                    cols.len(),
                    (pr.cells)(&json!({}), now).len(),
                    "{}",
                    r.plural
                );
                let name_cols = cols.iter().filter(|c| c.format == "name").count();
                // Events keep Name as a wide column; VolumeAttachment's Attacher is also "name".
                assert!(
                    cols[0].format == "name" || r.plural == "events",
                    "{}",
                    r.plural
                );
                assert!(
                    name_cols == 1 || r.plural == "volumeattachments",
                    "{}",
                    r.plural
                );
                let junk = json!({ "metadata": 5, "spec": [1, 2], "status": "x" });
                assert_eq!(cols.len(), (pr.cells)(&junk, now).len(), "{}", r.plural);
            }
        }
        assert!(printer("rbac.authorization.k8s.io", "roles").is_none());
    }

    #[test]
    fn default_table_prints_created_at() {
        let now = Utc::now();
        let role = json!({ "metadata": { "name": "r", "creationTimestamp": "2024-05-01T11:00:00+02:00" } });
        assert_eq!(
            default_cells(&role, now),
            vec![json!("r"), json!("2024-05-01T09:00:00Z")]
        );
        assert_eq!(
            default_cells(&json!({}), now),
            vec![json!(""), json!("0001-01-01T00:00:00Z")]
        );
        assert_eq!(default_columns()[1].name, "Created At");
    }
}
