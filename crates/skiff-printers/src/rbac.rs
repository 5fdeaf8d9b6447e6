//! RBAC: role bindings and cluster role bindings (`NAME ROLE AGE | USERS GROUPS
//! SERVICEACCOUNTS`). Roles and cluster roles have no printer upstream and get the default
//! table (`NAME CREATED AT`).

use crate::age;
use crate::column::{age_col, c, name_col, w, Column};
use crate::util::{arr, name, s};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// RoleBinding and ClusterRoleBinding columns.
pub fn binding_columns() -> Vec<Column> {
    vec![
        name_col(),
        c("Role", "string", "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace."),
        age_col(),
        w("Users", "string", "Users in the roleBinding"),
        w("Groups", "string", "Groups in the roleBinding"),
        w("ServiceAccounts", "string", "ServiceAccounts in the roleBinding"),
    ]
}

/// RoleBinding and ClusterRoleBinding cells (`rbac.SubjectsStrings`).
pub fn binding_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for subj in arr(o, "/subjects") {
        match s(subj, "/kind") {
            "User" => users.push(s(subj, "/name").to_string()),
            "Group" => groups.push(s(subj, "/name").to_string()),
            "ServiceAccount" => sas.push(format!("{}/{}", s(subj, "/namespace"), s(subj, "/name"))),
            _ => {}
        }
    }
    vec![
        json!(name(o)),
        json!(format!(
            "{}/{}",
            s(o, "/roleRef/kind"),
            s(o, "/roleRef/name")
        )),
        json!(age::age(o, now)),
        json!(users.join(", ")),
        json!(groups.join(", ")),
        json!(sas.join(", ")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_row() {
        let now = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let rb = json!({
            "metadata": { "name": "admins", "creationTimestamp": "2024-04-30T12:00:00Z" },
            "roleRef": { "kind": "ClusterRole", "name": "admin" },
            "subjects": [
                { "kind": "User", "name": "alice" },
                { "kind": "User", "name": "bob" },
                { "kind": "Group", "name": "ops" },
                { "kind": "ServiceAccount", "name": "ci", "namespace": "tools" },
            ],
        });
        assert_eq!(
            binding_cells(&rb, now),
            vec![
                json!("admins"),
                json!("ClusterRole/admin"),
                json!("24h"),
                json!("alice, bob"),
                json!("ops"),
                json!("tools/ci")
            ]
        );
    }
}
