//! Pulling from a registry (Debian's docker-registry on a free loopback port, with
//! htpasswd authentication; the image pushed with skopeo): without credentials the pull
//! fails (ErrImagePull, then ImagePullBackOff), with an imagePullSecret of type
//! kubernetes.io/dockerconfigjson it succeeds, with the kubelet's Pulling/Pulled events.
//! Needs root, containerd, runc, CNI plugins, docker-registry and skopeo (`.ci/run`).

mod common;
use common::eventually;
use common::pods::{busybox_pod, events, field, images, one_node_cluster, one_node_cluster_with};
use std::process::{Child, Command, Stdio};

/// A docker-registry process, killed on drop.
struct Registry(Child);

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_registry(dir: &std::path::Path, user: &str, password: &str) -> (Registry, String) {
    let port = free_port();
    let hash = bcrypt::hash(password, 5).unwrap();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("htpasswd"), format!("{user}:{hash}\n")).unwrap();
    let config = format!(
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: skiff-test\n    path: {}\n",
        dir.join("data").display(),
        dir.join("htpasswd").display()
    );
    std::fs::write(dir.join("config.yml"), config).unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(dir.join("config.yml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker-registry (apt-get install docker-registry)");
    let registry = Registry(child);
    let addr = format!("127.0.0.1:{port}");
    eventually("the registry answering", || {
        std::net::TcpStream::connect(&addr).is_ok()
    });
    (registry, addr)
}

#[test]
fn images_are_pulled_from_a_registry_with_the_pods_pull_secret() {
    let s = one_node_cluster("reg", "sktest-g", "10.85.0.0/16");
    let dir = s.dir.path().join("registry");
    let (_registry, addr) = start_registry(&dir, "puller", "p4ss");
    // push a fresh image with skopeo
    let busybox = std::fs::read("/bin/busybox").unwrap();
    let img = skiff_agent::images::oci::busybox(
        "skiff.test/pulled:v1",
        busybox,
        &["sh", "sleep", "echo"],
        vec!["/bin/sh".into()],
    );
    let archive = dir.join("pulled.tar");
    std::fs::write(&archive, skiff_agent::images::oci::archive(&img).unwrap()).unwrap();
    let image = format!("{addr}/test/pulled:v1");
    let pushed = Command::new("skopeo")
        .args([
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            "puller:p4ss",
        ])
        .arg(format!("oci-archive:{}", archive.display()))
        .arg(format!("docker://{image}"))
        .output()
        .expect("skopeo (apt-get install skopeo)");
    assert!(
        pushed.status.success(),
        "skopeo copy: {}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let pod = |name: &str, secret: Option<&str>| {
        let secrets = secret
            .map(|s| format!("  imagePullSecrets: [{{name: {s}}}]\n"))
            .unwrap_or_default();
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  terminationGracePeriodSeconds: 1\n{secrets}  containers:\n  - name: main\n    image: {image}\n    command: [sleep, '3600']\n"
        )
    };

    // no credentials: refused by the registry, then back-off
    s.apply_ok(&["apply", "-f", "-"], &pod("nocreds", None));
    let waiting = ".status.containerStatuses[0].state.waiting.reason";
    eventually("nocreds in ImagePullBackOff", || {
        field(&s, "nocreds", waiting) == "ImagePullBackOff"
    });
    let ev = events(&s, "nocreds");
    assert!(
        ev.contains(&format!("Failed: Failed to pull image \"{image}\"")),
        "{ev}"
    );

    // with a docker-registry secret: pulled and running
    s.ok(&[
        "create",
        "secret",
        "docker-registry",
        "regcred",
        &format!("--docker-server={addr}"),
        "--docker-username=puller",
        "--docker-password=p4ss",
    ]);
    s.apply_ok(&["apply", "-f", "-"], &pod("withcreds", Some("regcred")));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    while field(&s, "withcreds", ".status.phase") != "Running" {
        assert!(
            std::time::Instant::now() < deadline,
            "withcreds not running: {}\n{}",
            events(&s, "withcreds"),
            s.ok(&[
                "get",
                "pod",
                "withcreds",
                "-o",
                "jsonpath={.status.containerStatuses}"
            ])
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // Events are written in the background, like the kubelet's.
    eventually("the Pulled event", || {
        events(&s, "withcreds").contains("Pulled: ")
    });
    let ev = events(&s, "withcreds");
    assert!(
        ev.contains(&format!("Pulling: Pulling image \"{image}\"")),
        "{ev}"
    );
    assert!(
        ev.contains(&format!(
            "Pulled: Successfully pulled image \"{image}\" in "
        )) && ev.contains("Image size: "),
        "{ev}"
    );
    let image_id = field(&s, "withcreds", ".status.containerStatuses[0].imageID");
    assert!(image_id.contains("sha256:"), "{image_id}");

    // a secret that does not exist is an event, not a crash
    s.apply_ok(
        &["apply", "-f", "-"],
        &pod("nosecret", Some("missing")).replace("test/pulled:v1", "test/absent:v1"),
    );
    eventually("an event about the missing secret", || {
        events(&s, "nosecret").contains(
            "FailedToRetrieveImagePullSecret: Unable to retrieve some image pull secrets (missing)",
        )
    });
    s.ok(&[
        "delete",
        "pod",
        "nocreds",
        "withcreds",
        "nosecret",
        "--timeout=60s",
    ]);

    // an archive dropped into <data-dir>/agent/images/ while the agent runs is imported
    let dropped = skiff_agent::images::oci::busybox(
        "skiff.test/dropped:v1",
        std::fs::read("/bin/busybox").unwrap(),
        &["sh"],
        vec!["/bin/sh".into()],
    );
    let tmp = dir.join("dropped.tar.part");
    std::fs::write(&tmp, skiff_agent::images::oci::archive(&dropped).unwrap()).unwrap();
    let images_dir = s.dir.path().join("agent/images");
    std::fs::create_dir_all(&images_dir).unwrap();
    std::fs::rename(&tmp, images_dir.join("dropped.tar")).unwrap();
    eventually("the dropped archive imported", || {
        images(s.dir.path(), &["ls"]).contains("skiff.test/dropped")
    });
}

#[test]
fn unused_images_are_garbage_collected_above_the_threshold() {
    // Thresholds of 0%: the disk always counts as full, every unused image goes.
    let s = one_node_cluster_with(
        "gc",
        "sktest-k",
        "10.87.0.0/16",
        &[
            "--image-gc-high-threshold",
            "0",
            "--image-gc-low-threshold",
            "0",
            "--minimum-image-ttl-duration",
            "0s",
        ],
    );
    s.apply_ok(
        &["apply", "-f", "-"],
        &busybox_pod("user", "Always", "sleep 3600"),
    );
    eventually("the pod running", || {
        field(&s, "user", ".status.phase") == "Running"
    });
    let unused = skiff_agent::images::oci::busybox(
        "skiff.test/unused:v1",
        std::fs::read("/bin/busybox").unwrap(),
        &["true"],
        vec!["/bin/true".into()],
    );
    let archive = s.dir.path().join("unused.tar");
    std::fs::write(
        &archive,
        skiff_agent::images::oci::archive(&unused).unwrap(),
    )
    .unwrap();
    images(s.dir.path(), &["import", archive.to_str().unwrap()]);
    eventually("the unused image removed", || {
        !images(s.dir.path(), &["ls"]).contains("skiff.test/unused")
    });
    let left = images(s.dir.path(), &["ls"]);
    assert!(
        left.contains("skiff.test/busybox"),
        "the image in use was removed: {left}"
    );
    assert!(
        left.contains("registry.k8s.io/pause"),
        "the sandbox image was removed: {left}"
    );
    // bad thresholds are one clear line
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args([
            "agent",
            "--image-gc-high-threshold",
            "50",
            "--image-gc-low-threshold",
            "60",
            "--data-dir",
        ])
        .arg(s.dir.path().join("never"))
        .arg("--kubeconfig")
        .arg(&s.kubeconfig)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("--image-gc-low-threshold (60) must not be above"));
    s.ok(&["delete", "pod", "user", "--timeout=60s"]);
}
