//! The ServiceAccount admission plugin for new pods: the ServiceAccount must exist, and unless
//! automounting is switched off (on the pod, else on the ServiceAccount) every container gets
//! the `kube-api-access-*` projected volume at [`MOUNT_PATH`] — a bound token, the cluster CA
//! (`kube-root-ca.crt`) and the namespace — exactly as upstream injects it.

use crate::rest::Storage;
use serde_json::{json, Value};
use skiff_api::ApiError;

/// Where containers find their token, `ca.crt` and `namespace`.
pub const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// Prefix of the injected volume's name.
pub const VOLUME_PREFIX: &str = "kube-api-access-";
/// The ConfigMap every namespace has with the cluster CA (`ca.crt`).
pub const ROOT_CA_CONFIG_MAP: &str = "kube-root-ca.crt";
/// The lifetime the injected token projection asks for (upstream's 3607: a marker for
/// tokens whose holders are expected to reload them).
pub const INJECTED_TOKEN_SECONDS: i64 = 3607;

/// PURE — the projected volume upstream injects.
pub fn api_access_volume(name: &str) -> Value {
    json!({
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": INJECTED_TOKEN_SECONDS, "path": "token"}},
                {"configMap": {"name": ROOT_CA_CONFIG_MAP, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
        },
    })
}

/// PURE — whether the pod gets a token: the pod's `automountServiceAccountToken` wins, then the
/// ServiceAccount's; the default is yes.
pub fn should_automount(pod: &Value, service_account: Option<&Value>) -> bool {
    pod.pointer("/spec/automountServiceAccountToken")
        .and_then(Value::as_bool)
        .or_else(|| {
            service_account?
                .get("automountServiceAccountToken")?
                .as_bool()
        })
        .unwrap_or(true)
}

/// PURE — mounts the API-access volume into every (init) container that has nothing mounted at
/// [`MOUNT_PATH`] yet, adding the volume (named with `suffix`) if any container needs it; an
/// existing `kube-api-access-*` volume is reused.
pub fn inject(pod: &mut Value, suffix: &str) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let existing = spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.get("name").and_then(Value::as_str))
        .find(|n| n.starts_with(VOLUME_PREFIX))
        .map(str::to_string);
    let name = existing
        .clone()
        .unwrap_or_else(|| format!("{VOLUME_PREFIX}{suffix}"));
    let mut needed = false;
    for list in ["initContainers", "containers"] {
        for c in spec
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let Some(c) = c.as_object_mut() else { continue };
            let mounts = c.entry("volumeMounts").or_insert_with(|| json!([]));
            let Some(mounts) = mounts.as_array_mut() else {
                continue;
            };
            let taken = mounts
                .iter()
                .any(|m| m.get("mountPath").and_then(Value::as_str) == Some(MOUNT_PATH));
            if !taken {
                mounts.push(json!({"name": name, "readOnly": true, "mountPath": MOUNT_PATH}));
                needed = true;
            }
        }
    }
    if needed && existing.is_none() {
        let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
        if let Some(v) = volumes.as_array_mut() {
            v.push(api_access_volume(&name));
        }
    }
}

/// Five characters the way upstream's `utilrand.String` picks them (no vowels, no look-alikes).
fn suffix() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

impl Storage {
    /// The ServiceAccount admission plugin (see the module docs). A pod naming a missing
    /// ServiceAccount is refused with upstream's message — except `default`, which the
    /// ServiceAccount controller creates moments after its namespace (upstream refuses such a
    /// pod until then; Skiff admits it and the agent fetches the token once it exists).
    pub async fn admit_service_account(&self, pod: &mut Value) -> Result<(), ApiError> {
        let annotations = pod.pointer("/metadata/annotations");
        if annotations
            .and_then(|a| a.get("kubernetes.io/config.mirror"))
            .is_some()
        {
            return Ok(());
        }
        let Some(res) = self.registry.by_plural("", "v1", "serviceaccounts") else {
            return Ok(());
        };
        let ns = pod
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_string();
        let name = pod
            .pointer("/spec/serviceAccountName")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .unwrap_or("default")
            .to_string();
        let sa = self.lookup(&res, &ns, &name).await?;
        if sa.is_none() && name != "default" {
            let pod_name = pod
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            return Err(ApiError::Forbidden(format!(
                "pods \"{pod_name}\" is forbidden: error looking up service account {ns}/{name}: serviceaccount \"{name}\" not found"
            )));
        }
        if should_automount(pod, sa.as_ref()) {
            inject(pod, &suffix());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Value {
        json!({"spec": {
            "initContainers": [{"name": "init", "image": "busybox"}],
            "containers": [
                {"name": "a", "image": "busybox"},
                {"name": "b", "image": "busybox", "volumeMounts": [{"name": "own", "mountPath": MOUNT_PATH}]},
            ],
            "volumes": [{"name": "own", "emptyDir": {}}],
        }})
    }

    #[test]
    fn containers_get_the_volume_unless_something_is_mounted_there() {
        let mut p = pod();
        inject(&mut p, "x2b4z");
        let volumes = p["spec"]["volumes"].as_array().unwrap();
        assert_eq!(volumes.len(), 2);
        assert_eq!(volumes[1], api_access_volume("kube-api-access-x2b4z"));
        let init = &p["spec"]["initContainers"][0]["volumeMounts"];
        assert_eq!(
            init[0],
            json!({"name": "kube-api-access-x2b4z", "readOnly": true, "mountPath": MOUNT_PATH})
        );
        assert_eq!(p["spec"]["containers"][0]["volumeMounts"], *init);
        let b = p["spec"]["containers"][1]["volumeMounts"]
            .as_array()
            .unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0]["name"], "own");
        // Injecting twice changes nothing.
        let before = p.clone();
        inject(&mut p, "other");
        assert_eq!(p, before);
    }

    #[test]
    fn no_volume_when_every_container_has_its_own() {
        let mut p = json!({"spec": {"containers": [
            {"name": "b", "volumeMounts": [{"name": "own", "mountPath": MOUNT_PATH}]}]}});
        inject(&mut p, "abcde");
        assert!(p["spec"].get("volumes").is_none());
    }

    #[test]
    fn the_pod_setting_wins_over_the_service_accounts() {
        let sa_off = json!({"automountServiceAccountToken": false});
        assert!(should_automount(&json!({"spec": {}}), None));
        assert!(!should_automount(&json!({"spec": {}}), Some(&sa_off)));
        assert!(should_automount(
            &json!({"spec": {"automountServiceAccountToken": true}}),
            Some(&sa_off)
        ));
        assert!(!should_automount(
            &json!({"spec": {"automountServiceAccountToken": false}}),
            None
        ));
    }
}
