//! Pods on a real agent: the test image, manifests, reading fields, HTTP.

use super::Server;
use std::path::Path;

/// Whether `node` is Ready.
pub fn ready(s: &Server, node: &str) -> bool {
    let out = s.kubectl(&[
        "get",
        "node",
        node,
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
    ]);
    String::from_utf8_lossy(&out.stdout) == "True"
}

/// `skiff images <args> --data-dir <dir>`: its stdout; fails the test on an error.
pub fn images(data_dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_skiff"))
        .arg("images")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skiff images {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds `skiff.test/busybox:v1` from the machine's busybox and imports it into the
/// containerd of the agent with data dir `data_dir` with `skiff images import`.
pub fn import_busybox(data_dir: &Path) {
    let busybox =
        std::fs::read("/bin/busybox").expect("/bin/busybox (apt-get install busybox-static)");
    let img = skiff_agent::images::oci::busybox(
        "skiff.test/busybox:v1",
        busybox,
        &[
            "sh", "sleep", "echo", "cat", "mkdir", "httpd", "head", "tr", "tar", "tty", "test",
            "ls", "rm", "grep", "stat", "id",
        ],
        vec!["/bin/sh".into()],
    );
    let archive = data_dir.join("busybox.tar");
    std::fs::write(&archive, skiff_agent::images::oci::archive(&img).unwrap()).unwrap();
    images(data_dir, &["import", archive.to_str().unwrap()]);
}

/// A pod manifest running the test image.
pub fn busybox_pod(name: &str, policy: &str, script: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  restartPolicy: {policy}\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: main\n    image: skiff.test/busybox:v1\n    command: [\"sh\", \"-c\", {script:?}]\n"
    )
}

pub fn field(s: &Server, pod: &str, path: &str) -> String {
    let out = s.kubectl(&["get", "pod", pod, "-o", &format!("jsonpath={{{path}}}")]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A plain HTTP GET of `/` at `addr`: the whole response, or "" if nothing answered.
pub fn http_get(addr: &str) -> String {
    use std::io::{Read, Write};
    let Ok(addr) = addr.parse::<std::net::SocketAddr>() else {
        return String::new();
    };
    let Ok(mut c) = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2))
    else {
        return String::new();
    };
    let _ = c.set_read_timeout(Some(std::time::Duration::from_secs(2)));
    let _ = c.write_all(b"GET / HTTP/1.0\r\nHost: pod\r\n\r\n");
    let mut out = String::new();
    let _ = c.read_to_string(&mut out);
    out
}

/// How many pod sandboxes the containerd at `socket` has (None: it does not answer).
pub fn sandbox_count(socket: &Path) -> Option<usize> {
    if !socket.exists() {
        return None;
    }
    let rt = tokio::runtime::Runtime::new().ok()?;
    rt.block_on(async {
        let mut cri = skiff_agent::cri::Cri::connect(socket).await.ok()?;
        let list = cri
            .runtime
            .list_pod_sandbox(k8s_cri::v1::ListPodSandboxRequest { filter: None })
            .await
            .ok()?;
        Some(list.into_inner().items.len())
    })
}

/// The events about `pod` as `reason: message` lines (what `kubectl describe` lists).
pub fn events(s: &Server, pod: &str) -> String {
    s.ok(&[
        "get",
        "events",
        "--field-selector",
        &format!("involvedObject.name={pod}"),
        "-o",
        "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}",
    ])
}

/// A one-machine cluster for pod tests: a server whose embedded agent is node `node`, with
/// its own pod bridge and cluster CIDR (tests run side by side on one host), Ready, with the
/// test image imported. The bridge is removed when the server is dropped.
pub fn one_node_cluster(node: &str, bridge: &str, cluster_cidr: &str) -> Server {
    one_node_cluster_with(node, bridge, cluster_cidr, &[])
}

/// [`one_node_cluster`] with extra flags for `skiff server`.
pub fn one_node_cluster_with(
    node: &str,
    bridge: &str,
    cluster_cidr: &str,
    extra: &[&str],
) -> Server {
    let mut flags = vec![
        "--node-name",
        node,
        "--cni-bridge",
        bridge,
        "--cluster-cidr",
        cluster_cidr,
    ];
    flags.extend_from_slice(extra);
    let mut s = Server::start_with_agent(&flags);
    s.bridge = Some(bridge.to_string());
    super::eventually("the node Ready", || ready(&s, node));
    import_busybox(s.dir.path());
    s
}
