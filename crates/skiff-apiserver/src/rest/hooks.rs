//! Kind-specific steps around writes: ClusterIP/NodePort allocation for Services, CRD
//! establishment, and keeping the registry in step with CRDs.

use super::{meta, Storage, WriteCtx};
use serde_json::{json, Value};
use skiff_api::{ApiError, FieldError, ResourceInfo};

fn is(res: &ResourceInfo, group: &str, kind: &str) -> bool {
    res.group == group && res.kind == kind
}

impl Storage {
    /// Before an object is first stored.
    pub async fn before_create(
        &self,
        res: &ResourceInfo,
        obj: &mut Value,
        ctx: &WriteCtx,
    ) -> Result<(), ApiError> {
        if is(res, "", "Service") {
            self.allocators
                .allocate_service(self, obj, ctx.dry_run)
                .await?;
        }
        if is(res, "apiextensions.k8s.io", "CustomResourceDefinition") {
            crate::crd::establish(obj, ctx.now);
        }
        if is(res, "batch", "Job") {
            job_selector(obj);
        }
        if is(res, "", "Pod") {
            self.admit_priority(obj).await?;
            self.admit_runtime_class(obj).await?;
            self.admit_service_account(obj).await?;
        }
        if is(res, "", "PersistentVolumeClaim") {
            self.admit_default_storage_class(obj).await?;
        }
        Ok(())
    }

    /// Before an update is stored.
    pub async fn before_update(
        &self,
        res: &ResourceInfo,
        old: &Value,
        new: &mut Value,
        ctx: &WriteCtx,
    ) -> Result<(), ApiError> {
        if is(res, "", "Service") {
            let old_ip = old.pointer("/spec/clusterIP").cloned();
            let new_ip = new.pointer("/spec/clusterIP").cloned();
            match new_ip {
                None | Some(Value::Null) => {
                    if let Some(ip) = old_ip {
                        new["spec"]["clusterIP"] = ip;
                        if let Some(ips) = old.pointer("/spec/clusterIPs") {
                            new["spec"]["clusterIPs"] = ips.clone();
                        }
                    }
                }
                Some(ip) if Some(&ip) != old_ip.as_ref() => {
                    return Err(ApiError::Invalid(
                        super::target(res, meta::meta_str(old, "name")),
                        vec![FieldError::invalid(
                            "spec.clusterIPs[0]",
                            ip,
                            "may not change once set",
                        )],
                    ));
                }
                _ => {}
            }
            for key in ["ipFamilies", "ipFamilyPolicy"] {
                if new["spec"].get(key).is_none() {
                    if let Some(v) = old["spec"].get(key) {
                        new["spec"][key] = v.clone();
                    }
                }
            }
        }
        if is(res, "apiextensions.k8s.io", "CustomResourceDefinition") {
            crate::crd::establish(new, ctx.now);
        }
        Ok(())
    }

    /// After a write reached the store (`new` is None for a delete).
    pub async fn after_write(&self, res: &ResourceInfo, old: Option<&Value>, new: Option<&Value>) {
        if is(res, "apiextensions.k8s.io", "CustomResourceDefinition") {
            match new {
                Some(crd) => crate::crd::register(&self.registry, crd),
                None => {
                    if let Some(crd) = old {
                        crate::crd::unregister(&self.registry, crd);
                    }
                }
            }
        }
        if new.is_none() && is(res, "", "Service") {
            if let Some(svc) = old {
                self.release(res, svc).await;
            }
        }
    }

    /// Frees what `before_create` allocated for an object that was not (or is no longer) stored.
    pub async fn release(&self, res: &ResourceInfo, obj: &Value) {
        if is(res, "", "Service") {
            self.allocators.release_service(self, obj).await;
        }
    }
}

/// The upstream `kubernetes` Service in `default`, pointing at the API server.
pub fn kubernetes_service(port: u16) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]}
    })
}

/// Upstream's Job strategy on create: unless `spec.manualSelector` is true, the Job selects its
/// pods by its uid, and the pod template carries the uid and job-name labels (old and new keys).
pub fn job_selector(job: &mut Value) {
    if job["spec"]["manualSelector"] == true {
        return;
    }
    let uid = meta::meta_str(job, "uid").to_string();
    let name = meta::meta_str(job, "name").to_string();
    job["spec"]["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
    let template = &mut job["spec"]["template"];
    if !template["metadata"].is_object() {
        template["metadata"] = json!({});
    }
    if !template["metadata"]["labels"].is_object() {
        template["metadata"]["labels"] = json!({});
    }
    let labels = &mut template["metadata"]["labels"];
    for (k, v) in [
        ("batch.kubernetes.io/controller-uid", &uid),
        ("controller-uid", &uid),
        ("batch.kubernetes.io/job-name", &name),
        ("job-name", &name),
    ] {
        labels[k] = json!(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_select_their_pods_by_uid() {
        let mut j =
            json!({"metadata": {"name": "pi", "uid": "u-1"}, "spec": {"template": {"spec": {}}}});
        job_selector(&mut j);
        assert_eq!(
            j["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
            "u-1"
        );
        assert_eq!(
            j["spec"]["template"]["metadata"]["labels"]["job-name"],
            "pi"
        );
        let mut manual = json!({"metadata": {"name": "m", "uid": "u"}, "spec": {"manualSelector": true, "selector": {"matchLabels": {"a": "b"}}}});
        let before = manual.clone();
        job_selector(&mut manual);
        assert_eq!(manual, before);
    }
}
