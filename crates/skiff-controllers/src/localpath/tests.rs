use super::*;
use serde_json::json;

fn claim(
    name: &str,
    uid: &str,
    class: Option<&str>,
    volume: Option<&str>,
) -> PersistentVolumeClaim {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "ns", "uid": uid},
        "spec": {
            "storageClassName": class,
            "volumeName": volume,
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "2Gi"}},
        },
        "status": {"phase": "Pending"},
    }))
    .unwrap()
}

fn pod_using(claim: &str, node: &str) -> CachedPod {
    serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {
            "nodeName": node,
            "containers": [{"name": "c"}],
            "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": claim}}],
        }
    }))
    .unwrap()
}

fn node(name: &str, dir: &str) -> Node {
    serde_json::from_value(json!({
        "metadata": {"name": name, "annotations": {NODE_DIR_ANNOTATION: dir}},
    }))
    .unwrap()
}

#[test]
fn a_claim_waits_for_its_first_consumer_then_gets_a_volume_on_its_node() {
    let class = default_class();
    let c = claim("data", "u1", Some("local-path"), None);
    let waiting = plan(&Inputs {
        classes: vec![&class],
        claims: vec![&c],
        ..Default::default()
    });
    assert!(
        matches!(&waiting[..], [Step::ClaimEvent { event, .. }] if event.reason == "WaitForFirstConsumer")
    );

    let p = pod_using("data", "n1");
    let n = node("n1", "/srv/skiff/storage/");
    let steps = plan(&Inputs {
        classes: vec![&class],
        claims: vec![&c],
        pods: vec![&p],
        nodes: vec![&n],
        ..Default::default()
    });
    let [Step::CreateVolume(pv)] = &steps[..] else {
        panic!("{steps:?}")
    };
    assert_eq!(pv.metadata.name.as_deref(), Some("pvc-u1"));
    let spec = pv.spec.as_ref().unwrap();
    assert_eq!(
        spec.host_path.as_ref().unwrap().path,
        "/srv/skiff/storage/pvc-u1_ns_data"
    );
    assert_eq!(spec.capacity.as_ref().unwrap()["storage"].0, "2Gi");
    assert_eq!(spec.claim_ref.as_ref().unwrap().uid.as_deref(), Some("u1"));
    assert_eq!(
        spec.persistent_volume_reclaim_policy.as_deref(),
        Some("Delete")
    );
    let term = &spec
        .node_affinity
        .as_ref()
        .unwrap()
        .required
        .as_ref()
        .unwrap()
        .node_selector_terms[0];
    assert_eq!(
        term.match_expressions.as_ref().unwrap()[0]
            .values
            .as_deref(),
        Some(&["n1".to_string()][..])
    );

    // the volume exists: the claim is bound to it, the volume turns Bound
    let steps = plan(&Inputs {
        classes: vec![&class],
        claims: vec![&c],
        volumes: vec![pv],
        pods: vec![&p],
        nodes: vec![&n],
    });
    assert!(steps
        .iter()
        .any(|s| matches!(s, Step::BindClaim { volume, status, .. }
        if volume == "pvc-u1" && status.phase.as_deref() == Some("Bound"))));
    assert!(steps
        .iter()
        .any(|s| matches!(s, Step::VolumePhase { phase, .. } if phase == "Bound")));
}

#[test]
fn claims_of_other_classes_are_left_alone_and_the_class_is_created() {
    let c = claim("data", "u1", Some("fast-ssd"), None);
    let other: StorageClass =
        serde_json::from_value(json!({"metadata": {"name": "fast-ssd"}, "provisioner": "ebs"}))
            .unwrap();
    let p = pod_using("data", "n1");
    let steps = plan(&Inputs {
        classes: vec![&other],
        claims: vec![&c],
        pods: vec![&p],
        ..Default::default()
    });
    assert!(matches!(&steps[..], [Step::CreateClass(_)]), "{steps:?}");
}

#[test]
fn a_volume_whose_claim_is_gone_is_deleted_or_released() {
    let class = default_class();
    let c = claim("data", "u1", Some("local-path"), None);
    let mut pv = volume_for(&c, &class, "n1", DEFAULT_DIR);
    let steps = plan(&Inputs {
        classes: vec![&class],
        volumes: vec![&pv],
        ..Default::default()
    });
    assert_eq!(
        steps,
        vec![Step::DeleteVolume {
            name: "pvc-u1".into()
        }]
    );
    pv.spec.as_mut().unwrap().persistent_volume_reclaim_policy = Some("Retain".into());
    let steps = plan(&Inputs {
        classes: vec![&class],
        volumes: vec![&pv],
        ..Default::default()
    });
    assert_eq!(
        steps,
        vec![Step::VolumePhase {
            name: "pvc-u1".into(),
            phase: "Released".into()
        }]
    );
    // a claim recreated with the same name is another claim (another uid)
    let again = claim("data", "u2", Some("local-path"), None);
    let steps = plan(&Inputs {
        classes: vec![&class],
        claims: vec![&again],
        volumes: vec![&pv],
        ..Default::default()
    });
    assert!(steps.contains(&Step::VolumePhase {
        name: "pvc-u1".into(),
        phase: "Released".into()
    }));
}

#[test]
fn a_claim_without_a_class_gets_the_default_one_once_there_is_one() {
    let mut plain = default_class();
    plain.metadata.annotations = None;
    let c = claim("data", "u1", None, None);
    let none_asked = claim("raw", "u2", Some(""), None);
    // No default class: the claim is left alone, like one that asks for no class.
    let without = plan(&Inputs {
        classes: vec![&plain],
        claims: vec![&c, &none_asked],
        ..Default::default()
    });
    assert_eq!(without, vec![]);

    let class = default_class();
    let with = plan(&Inputs {
        classes: vec![&class],
        claims: vec![&c, &none_asked],
        ..Default::default()
    });
    assert_eq!(
        with,
        vec![Step::SetClaimClass {
            namespace: "ns".into(),
            name: "data".into(),
            class: "local-path".into(),
        }]
    );
    // A bound claim keeps what it has.
    let bound = claim("old", "u3", None, Some("pv-1"));
    let steps = plan(&Inputs {
        classes: vec![&class],
        claims: vec![&bound],
        ..Default::default()
    });
    assert!(
        !steps
            .iter()
            .any(|s| matches!(s, Step::SetClaimClass { .. })),
        "{steps:?}"
    );
}

#[test]
fn the_newest_default_class_wins() {
    let class = |name: &str, created: &str, default: bool| -> StorageClass {
        serde_json::from_value(json!({
            "metadata": {"name": name, "creationTimestamp": created, "annotations": {
                "storageclass.kubernetes.io/is-default-class": default.to_string()}},
            "provisioner": "example.com/x",
        }))
        .unwrap()
    };
    let old = class("old", "2026-01-01T00:00:00Z", true);
    let new = class("new", "2026-02-01T00:00:00Z", true);
    let newest = class("newest", "2026-03-01T00:00:00Z", false);
    assert_eq!(
        default_class_name(&[&old, &new, &newest]).as_deref(),
        Some("new")
    );
    assert_eq!(default_class_name(&[&newest]), None);
}
