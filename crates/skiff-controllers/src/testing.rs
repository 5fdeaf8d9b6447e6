//! Test builders: small typed objects that read like sentences in tests.
#![allow(dead_code)] // a shared builder kit: not every test uses every builder

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec, ReplicaSetStatus};
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateTerminated, PodCondition, PodSpec, PodTemplateSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, ObjectMeta, OwnerReference, Time,
};

use crate::cached_pod::{CachedContainerStatus, CachedPod, CachedPodSpec, CachedPodStatus};
use crate::Timestamp;

/// `secs` seconds after the epoch.
pub fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH)
}

pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn template(app: &str, image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels(&[("app", app)])),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "main".into(),
                image: Some(image.into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
    }
}

pub fn owner_ref(kind: &str, name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: if kind == "Job" { "batch/v1" } else { "apps/v1" }.into(),
        kind: kind.into(),
        name: name.into(),
        uid: uid.into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some("default".into()),
        uid: Some(format!("uid-{name}")),
        ..Default::default()
    }
}

// ---------------------------------------------------------------- pods

pub struct PodBuilder(CachedPod);

pub fn pod(name: &str) -> PodBuilder {
    PodBuilder(CachedPod {
        metadata: ObjectMeta {
            creation_timestamp: Some(Time(t(1))),
            ..meta(name)
        },
        spec: Some(CachedPodSpec::default()),
        status: Some(CachedPodStatus {
            phase: Some("Pending".into()),
            ..Default::default()
        }),
    })
}

impl PodBuilder {
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.0
            .metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert(k.into(), v.into());
        self
    }
    pub fn labels_if_absent(mut self, l: Option<&BTreeMap<String, String>>) -> Self {
        let dst = self.0.metadata.labels.get_or_insert_with(Default::default);
        for (k, v) in l.into_iter().flatten() {
            dst.entry(k.clone()).or_insert_with(|| v.clone());
        }
        self
    }
    pub fn annotation(mut self, k: &str, v: &str) -> Self {
        self.0
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(k.into(), v.into());
        self
    }
    pub fn owner(mut self, kind: &str, name: &str, uid: &str) -> Self {
        self.0.metadata.owner_references = Some(vec![owner_ref(kind, name, uid)]);
        self
    }
    /// Owned by `rs`, carrying its template labels where the pod has none of its own.
    pub fn owned_by_rs(self, rs: &ReplicaSet) -> Self {
        let tl = rs
            .spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .and_then(|t| t.metadata.as_ref())
            .and_then(|m| m.labels.clone());
        let m = &rs.metadata;
        self.owner(
            "ReplicaSet",
            m.name.as_deref().unwrap_or_default(),
            m.uid.as_deref().unwrap_or_default(),
        )
        .labels_if_absent(tl.as_ref())
    }
    pub fn uid(mut self, uid: &str) -> Self {
        self.0.metadata.uid = Some(uid.into());
        self
    }
    pub fn node(mut self, n: &str) -> Self {
        self.0.spec.get_or_insert_with(Default::default).node_name = Some(n.into());
        self
    }
    pub fn phase(mut self, p: &str) -> Self {
        self.0.status.get_or_insert_with(Default::default).phase = Some(p.into());
        self
    }
    pub fn running(self) -> Self {
        self.phase("Running")
    }
    pub fn succeeded(self) -> Self {
        self.phase("Succeeded")
    }
    pub fn failed(self) -> Self {
        self.phase("Failed")
    }
    pub fn condition(mut self, type_: &str, status: &str, at: Timestamp) -> Self {
        let st = self.0.status.get_or_insert_with(Default::default);
        let conds = st.conditions.get_or_insert_with(Default::default);
        conds.retain(|c| c.type_ != type_);
        conds.push(PodCondition {
            type_: type_.into(),
            status: status.into(),
            last_transition_time: Some(Time(at)),
            ..Default::default()
        });
        self
    }
    /// Running, scheduled on `node-1` unless already placed, and Ready since `at`.
    pub fn ready_since(mut self, at: Timestamp) -> Self {
        if self
            .0
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_ref())
            .is_none()
        {
            self = self.node("node-1");
        }
        self.running().condition("Ready", "True", at)
    }
    pub fn restarts(mut self, n: i32) -> Self {
        let st = self.0.status.get_or_insert_with(Default::default);
        st.container_statuses = Some(vec![CachedContainerStatus {
            name: "main".into(),
            restart_count: n,
            ..Default::default()
        }]);
        self
    }
    /// The main container terminated with `code`, finishing at `at`.
    pub fn exit_code(mut self, code: i32, at: Timestamp) -> Self {
        let st = self.0.status.get_or_insert_with(Default::default);
        st.container_statuses = Some(vec![CachedContainerStatus {
            name: "main".into(),
            state: Some(ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: code,
                    finished_at: Some(Time(at)),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }]);
        self
    }
    pub fn created(mut self, at: Timestamp) -> Self {
        self.0.metadata.creation_timestamp = Some(Time(at));
        self
    }
    pub fn deleting(mut self) -> Self {
        self.0.metadata.deletion_timestamp = Some(Time(t(1)));
        self
    }
    pub fn finalizer(mut self, f: &str) -> Self {
        self.0
            .metadata
            .finalizers
            .get_or_insert_with(Default::default)
            .push(f.into());
        self
    }
    pub fn build(self) -> CachedPod {
        self.0
    }
}

// ---------------------------------------------------------------- replica sets

pub struct RsBuilder(ReplicaSet);

/// A ReplicaSet selecting and templating `app=<name>`, one replica.
pub fn rs(name: &str) -> RsBuilder {
    RsBuilder(ReplicaSet {
        metadata: ObjectMeta {
            creation_timestamp: Some(Time(t(1))),
            generation: Some(1),
            ..meta(name)
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(labels(&[("app", name)])),
                ..Default::default()
            },
            template: Some(template(name, "nginx:1")),
            ..Default::default()
        }),
        status: None,
    })
}

impl RsBuilder {
    fn spec(&mut self) -> &mut ReplicaSetSpec {
        self.0.spec.get_or_insert_with(Default::default)
    }
    pub fn uid(mut self, uid: &str) -> Self {
        self.0.metadata.uid = Some(uid.into());
        self
    }
    pub fn replicas(mut self, n: i32) -> Self {
        self.spec().replicas = Some(n);
        self
    }
    pub fn min_ready(mut self, s: i32) -> Self {
        self.spec().min_ready_seconds = Some(s);
        self
    }
    pub fn generation(mut self, g: i64) -> Self {
        self.0.metadata.generation = Some(g);
        self
    }
    pub fn deleting(mut self) -> Self {
        self.0.metadata.deletion_timestamp = Some(Time(t(1)));
        self
    }
    pub fn status(mut self, replicas: i32, ready: i32, available: i32) -> Self {
        self.0.status = Some(ReplicaSetStatus {
            replicas,
            ready_replicas: Some(ready),
            available_replicas: Some(available),
            fully_labeled_replicas: Some(replicas),
            observed_generation: self.0.metadata.generation,
            ..Default::default()
        });
        self
    }
    pub fn build(self) -> ReplicaSet {
        self.0
    }
}

// ---------------------------------------------------------------- deployments

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStatus, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

pub struct DeploymentBuilder(Deployment);

/// A Deployment selecting `app=<name>`, image `nginx:1`, one replica, defaults elsewhere.
pub fn deployment(name: &str) -> DeploymentBuilder {
    DeploymentBuilder(Deployment {
        metadata: ObjectMeta {
            creation_timestamp: Some(Time(t(1))),
            generation: Some(1),
            ..meta(name)
        },
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(labels(&[("app", name)])),
                ..Default::default()
            },
            template: template(name, "nginx:1"),
            ..Default::default()
        }),
        status: None,
    })
}

fn int_or_string(v: &str) -> IntOrString {
    v.parse()
        .map(IntOrString::Int)
        .unwrap_or_else(|_| IntOrString::String(v.into()))
}

impl DeploymentBuilder {
    fn spec(&mut self) -> &mut DeploymentSpec {
        self.0.spec.get_or_insert_with(Default::default)
    }
    fn rolling(&mut self) -> &mut RollingUpdateDeployment {
        let s = self.spec().strategy.get_or_insert_with(Default::default);
        s.type_ = Some("RollingUpdate".into());
        s.rolling_update.get_or_insert_with(Default::default)
    }
    pub fn replicas(mut self, n: i32) -> Self {
        self.spec().replicas = Some(n);
        self
    }
    pub fn max_surge(mut self, v: &str) -> Self {
        self.rolling().max_surge = Some(int_or_string(v));
        self
    }
    pub fn max_unavailable(mut self, v: &str) -> Self {
        self.rolling().max_unavailable = Some(int_or_string(v));
        self
    }
    pub fn recreate(mut self) -> Self {
        self.spec().strategy = Some(DeploymentStrategy {
            type_: Some("Recreate".into()),
            rolling_update: None,
        });
        self
    }
    pub fn paused(mut self) -> Self {
        self.spec().paused = Some(true);
        self
    }
    pub fn min_ready(mut self, s: i32) -> Self {
        self.spec().min_ready_seconds = Some(s);
        self
    }
    pub fn progress_deadline(mut self, s: i32) -> Self {
        self.spec().progress_deadline_seconds = Some(s);
        self
    }
    pub fn history(mut self, n: i32) -> Self {
        self.spec().revision_history_limit = Some(n);
        self
    }
    pub fn image(mut self, image: &str) -> Self {
        if let Some(c) = self
            .spec()
            .template
            .spec
            .as_mut()
            .and_then(|s| s.containers.first_mut())
        {
            c.image = Some(image.into());
        }
        self
    }
    pub fn generation(mut self, g: i64) -> Self {
        self.0.metadata.generation = Some(g);
        self
    }
    pub fn status(mut self, st: DeploymentStatus) -> Self {
        self.0.status = Some(st);
        self
    }
    pub fn build(self) -> Deployment {
        self.0
    }
}

impl RsBuilder {
    /// The ReplicaSet `d` would create for its current template at `revision`, holding
    /// `replicas` replicas that are all ready and available.
    pub fn of_deployment(d: &Deployment, revision: i64, replicas: i32) -> RsBuilder {
        use crate::deployment::util::{
            max_surge, DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION, REVISION_ANNOTATION,
        };
        use crate::hash::{compute_hash, POD_TEMPLATE_HASH_LABEL};
        let spec = d.spec.clone().unwrap_or_default();
        let hash = compute_hash(&spec.template, None);
        let mut tpl = spec.template.clone();
        tpl.metadata
            .get_or_insert_with(Default::default)
            .labels
            .get_or_insert_with(Default::default)
            .insert(POD_TEMPLATE_HASH_LABEL.into(), hash.clone());
        let mut sel = spec.selector.clone();
        sel.match_labels
            .get_or_insert_with(Default::default)
            .insert(POD_TEMPLATE_HASH_LABEL.into(), hash.clone());
        let name = format!("{}-{hash}", d.metadata.name.clone().unwrap_or_default());
        let want = spec.replicas.unwrap_or(1);
        let dm = &d.metadata;
        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                creation_timestamp: Some(Time(t(revision))),
                generation: Some(1),
                labels: tpl.metadata.as_ref().and_then(|m| m.labels.clone()),
                annotations: Some(labels(&[
                    (REVISION_ANNOTATION, &revision.to_string()),
                    (DESIRED_REPLICAS_ANNOTATION, &want.to_string()),
                    (MAX_REPLICAS_ANNOTATION, &(want + max_surge(d)).to_string()),
                ])),
                owner_references: Some(vec![owner_ref(
                    "Deployment",
                    dm.name.as_deref().unwrap_or_default(),
                    dm.uid.as_deref().unwrap_or_default(),
                )]),
                ..meta(&name)
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                selector: sel,
                template: Some(tpl),
                min_ready_seconds: spec.min_ready_seconds,
            }),
            status: None,
        };
        rs.status = Some(ReplicaSetStatus {
            replicas,
            ready_replicas: Some(replicas),
            available_replicas: Some(replicas),
            fully_labeled_replicas: Some(replicas),
            observed_generation: Some(1),
            ..Default::default()
        });
        RsBuilder(rs)
    }
    pub fn annotation(mut self, k: &str, v: &str) -> Self {
        self.0
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(k.into(), v.into());
        self
    }
}

// ---------------------------------------------------------------- jobs

use k8s_openapi::api::batch::v1::{Job, JobSpec, JobStatus};

pub struct JobBuilder(Job);

/// A Job `name` with completions 1, parallelism 1, restartPolicy Never.
pub fn job(name: &str) -> JobBuilder {
    let mut tpl = template(name, "busybox");
    if let Some(s) = tpl.spec.as_mut() {
        s.restart_policy = Some("Never".into());
    }
    let uid = format!("uid-{name}");
    tpl.metadata
        .get_or_insert_with(Default::default)
        .labels
        .get_or_insert_with(Default::default)
        .insert("batch.kubernetes.io/controller-uid".into(), uid.clone());
    JobBuilder(Job {
        metadata: ObjectMeta {
            creation_timestamp: Some(Time(t(1))),
            generation: Some(1),
            ..meta(name)
        },
        spec: Some(JobSpec {
            completions: Some(1),
            parallelism: Some(1),
            backoff_limit: Some(6),
            template: tpl,
            selector: Some(LabelSelector {
                match_labels: Some(labels(&[("batch.kubernetes.io/controller-uid", &uid)])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        status: None,
    })
}

impl JobBuilder {
    pub fn spec(&mut self) -> &mut JobSpec {
        self.0.spec.get_or_insert_with(Default::default)
    }
    pub fn completions(mut self, n: Option<i32>) -> Self {
        self.spec().completions = n;
        self
    }
    pub fn parallelism(mut self, n: i32) -> Self {
        self.spec().parallelism = Some(n);
        self
    }
    pub fn backoff_limit(mut self, n: i32) -> Self {
        self.spec().backoff_limit = Some(n);
        self
    }
    pub fn indexed(mut self) -> Self {
        self.spec().completion_mode = Some("Indexed".into());
        self
    }
    pub fn suspend(mut self, s: bool) -> Self {
        self.spec().suspend = Some(s);
        self
    }
    pub fn active_deadline(mut self, s: i64) -> Self {
        self.spec().active_deadline_seconds = Some(s);
        self
    }
    pub fn ttl(mut self, s: i32) -> Self {
        self.spec().ttl_seconds_after_finished = Some(s);
        self
    }
    pub fn with_status(mut self, st: JobStatus) -> Self {
        self.0.status = Some(st);
        self
    }
    pub fn build(self) -> Job {
        self.0
    }
}

impl PodBuilder {
    /// Owned by `job`, labeled as its pods are, carrying the tracking finalizer.
    pub fn of_job(self, job: &Job) -> Self {
        let m = &job.metadata;
        let uid = m.uid.clone().unwrap_or_default();
        self.owner("Job", m.name.as_deref().unwrap_or_default(), &uid)
            .label("batch.kubernetes.io/controller-uid", &uid)
            .finalizer("batch.kubernetes.io/job-tracking")
    }
    pub fn index(self, i: i32) -> Self {
        self.annotation("batch.kubernetes.io/job-completion-index", &i.to_string())
    }
}
