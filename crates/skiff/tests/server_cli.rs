//! `skiff server` start-up failures: one clear line on stderr and a non-zero exit.

mod common;
use std::process::Command;

fn skiff(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(args)
        .output()
        .expect("run skiff")
}

fn one_line_error(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "should fail");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("skiff:") || l.starts_with("error:"))
        .collect();
    assert_eq!(lines.len(), 1, "one error line expected:\n{err}");
    lines[0].to_string()
}

#[test]
fn a_port_in_use_is_one_clear_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = skiff(&[
        "server",
        "--bind-address",
        "127.0.0.1",
        "--secure-port",
        &port,
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    let line = one_line_error(&out);
    assert!(
        line.contains("cannot listen") && line.contains(&port) && line.contains("--secure-port"),
        "{line}"
    );
}

#[test]
fn an_unwritable_data_dir_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let out = skiff(&[
        "server",
        "--secure-port",
        "0",
        "--data-dir",
        file.to_str().unwrap(),
    ]);
    let line = one_line_error(&out);
    assert!(
        line.contains("data directory") && line.contains("--data-dir"),
        "{line}"
    );
}

#[test]
fn a_corrupt_or_foreign_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("db")).unwrap();
    std::fs::write(
        dir.path().join("db/state.redb"),
        b"this is not a skiff store, just some bytes".repeat(100),
    )
    .unwrap();
    let out = skiff(&[
        "server",
        "--bind-address",
        "127.0.0.1",
        "--secure-port",
        "0",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    let line = one_line_error(&out);
    assert!(
        line.contains("state.redb") && line.contains("not a Skiff store"),
        "{line}"
    );
    // the file is left as it was
    assert!(std::fs::read(dir.path().join("db/state.redb"))
        .unwrap()
        .starts_with(b"this is not"));
}

#[test]
fn unknown_flags_and_datastores_are_refused() {
    let out = skiff(&["server", "--no-such-flag"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unexpected argument '--no-such-flag'"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = skiff(&[
        "server",
        "--datastore",
        "mysql://127.0.0.1:3306",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    let line = one_line_error(&out);
    assert!(
        line.contains("etcd://HOST:PORT") && line.contains("embedded"),
        "{line}"
    );
    // Nobody listens on this port: a clear error, not a hang or a panic.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = skiff(&[
        "server",
        "--datastore",
        &format!("etcd://127.0.0.1:{port}"),
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    let line = one_line_error(&out);
    assert!(
        line.contains("etcd") && line.contains(&port.to_string()),
        "{line}"
    );
}

#[test]
fn help_explains_the_flags() {
    let out = skiff(&["server", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--data-dir",
        "--bind-address",
        "--secure-port",
        "--tls-san",
        "--service-cidr",
        "--disable-agent",
        "--datastore",
        "--write-kubeconfig",
    ] {
        assert!(help.contains(flag), "{flag} missing from help:\n{help}");
    }
}

#[test]
fn tls_sans_and_write_kubeconfig() {
    let mut s = common::Server::start();
    s.stop();
    let extra = s.data_dir().join("extra-kubeconfig.yaml");
    s.launch(&[
        "--tls-san",
        "skiff.example.test",
        "--write-kubeconfig",
        extra.to_str().unwrap(),
    ]);
    let pem = std::fs::read_to_string(s.data_dir().join("tls/serving.crt")).unwrap();
    let der = rustls_pemfile::certs(&mut pem.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
    let san = cert.subject_alternative_name().unwrap().unwrap();
    let names: Vec<String> = san
        .value
        .general_names
        .iter()
        .map(|n| n.to_string())
        .collect();
    for want in [
        "DNSName(skiff.example.test)",
        "DNSName(localhost)",
        "IPAddress(7f:00:00:01)",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    let kc = std::fs::read_to_string(&extra).unwrap();
    assert!(kc.contains("client-certificate-data"));
    let out = Command::new(common::kubectl_bin())
        .arg("--kubeconfig")
        .arg(&extra)
        .args(["get", "ns", "default", "-o", "name"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "namespace/default"
    );
}
