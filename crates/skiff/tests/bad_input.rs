//! Bad input gets upstream's code and reason, never a 500, and the server keeps serving.

mod common;
use common::Server;
use http_body_util::BodyExt;
use serde_json::{json, Value};

async fn send(
    client: &kube::Client,
    method: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .body(kube::client::Body::from(body))
        .unwrap();
    let resp = client.send(req).await.expect("transport");
    let code = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
    (code, v)
}

fn assert_status(got: &(u16, Value), code: u16, reason: &str) {
    assert_eq!(got.0, code, "{}", got.1);
    assert_eq!(got.1["kind"], "Status", "{}", got.1);
    assert_eq!(got.1["code"], code, "{}", got.1);
    assert_eq!(got.1["reason"], reason, "{}", got.1);
}

const CMS: &str = "/api/v1/namespaces/default/configmaps";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_are_400() {
    let s = Server::start();
    let c = s.client().await;
    assert_status(
        &send(
            &c,
            "POST",
            CMS,
            "application/json",
            b"{\"metadata\": ".to_vec(),
        )
        .await,
        400,
        "BadRequest",
    );
    assert_status(
        &send(
            &c,
            "POST",
            CMS,
            "application/yaml",
            b"metadata: [unclosed".to_vec(),
        )
        .await,
        400,
        "BadRequest",
    );
    assert_status(
        &send(&c, "POST", CMS, "text/plain", b"hello".to_vec()).await,
        415,
        "UnsupportedMediaType",
    );
    // wrong types are refused like upstream's decoder does
    let r = send(
        &c,
        "POST",
        CMS,
        "application/json",
        json!({"metadata": {"name": "x"}, "data": {"a": 1}})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_status(&r, 400, "BadRequest");
    // still serving
    let ok = send(
        &c,
        "POST",
        CMS,
        "application/json",
        json!({"metadata": {"name": "fine"}})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(ok.0, 201, "{}", ok.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_duplicate_fields_follow_field_validation() {
    let s = Server::start();
    let c = s.client().await;
    let body = br#"{"metadata": {"name": "strict"}, "data": {"a": "b"}, "bogus": 1}"#.to_vec();
    let r = send(
        &c,
        "POST",
        &format!("{CMS}?fieldValidation=Strict"),
        "application/json",
        body.clone(),
    )
    .await;
    assert_status(&r, 400, "BadRequest");
    assert!(
        r.1["message"]
            .as_str()
            .unwrap()
            .contains(r#"unknown field "bogus""#),
        "{}",
        r.1
    );
    let dup = br#"{"metadata": {"name": "dup", "name": "dup2"}}"#.to_vec();
    let r = send(
        &c,
        "POST",
        &format!("{CMS}?fieldValidation=Strict"),
        "application/json",
        dup,
    )
    .await;
    assert_status(&r, 400, "BadRequest");
    assert!(
        r.1["message"]
            .as_str()
            .unwrap()
            .contains(r#"duplicate field "metadata.name""#),
        "{}",
        r.1
    );
    // Ignore stores the object without the unknown field
    let r = send(
        &c,
        "POST",
        &format!("{CMS}?fieldValidation=Ignore"),
        "application/json",
        body,
    )
    .await;
    assert_eq!(r.0, 201, "{}", r.1);
    assert!(r.1.get("bogus").is_none());
    // A merge patch is checked too (its own fields: the stored object has no unknown ones);
    // a null deletes and is no unknown field.
    let target = format!("{CMS}/strict?fieldValidation=Strict");
    let patch = |body: &str| body.as_bytes().to_vec();
    let r = send(
        &c,
        "PATCH",
        &target,
        "application/merge-patch+json",
        patch(r#"{"data": {"c": "d"}, "metadata": {"labels": {"l": "v"}, "bogus2": {"x": 1}}}"#),
    )
    .await;
    assert_status(&r, 400, "BadRequest");
    let msg = r.1["message"].as_str().unwrap();
    assert!(msg.contains(r#"unknown field "metadata.bogus2""#), "{msg}");
    let r = send(
        &c,
        "PATCH",
        &target,
        "application/merge-patch+json",
        patch(r#"{"data": {"c": "d"}, "bogus": null}"#),
    )
    .await;
    assert_eq!(r.0, 200, "{}", r.1);
    assert_eq!(r.1["data"]["c"], "d");
    // kubectl's default (Strict) refuses the same manifest
    let out = s.with_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: k\nbogus: 1\n",
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown field"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_names_stale_versions_and_missing_namespaces() {
    let s = Server::start();
    let c = s.client().await;
    let r = send(
        &c,
        "POST",
        CMS,
        "application/json",
        json!({"metadata": {"name": "Bad_Name"}})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_status(&r, 422, "Invalid");
    assert_eq!(r.1["details"]["causes"][0]["field"], "metadata.name");
    let r = send(
        &c,
        "POST",
        "/api/v1/namespaces/nope/configmaps",
        "application/json",
        json!({"metadata": {"name": "x"}}).to_string().into_bytes(),
    )
    .await;
    assert_status(&r, 404, "NotFound");
    assert_eq!(r.1["message"], r#"namespaces "nope" not found"#);
    let r = send(
        &c,
        "POST",
        CMS,
        "application/json",
        json!({"metadata": {"name": "v"}}).to_string().into_bytes(),
    )
    .await;
    assert_eq!(r.0, 201);
    let rv: i64 = r.1["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let upd =
        json!({"metadata": {"name": "v", "resourceVersion": rv.to_string()}, "data": {"x": "1"}});
    assert_eq!(
        send(
            &c,
            "PUT",
            &format!("{CMS}/v"),
            "application/json",
            upd.to_string().into_bytes()
        )
        .await
        .0,
        200
    );
    let r = send(
        &c,
        "PUT",
        &format!("{CMS}/v"),
        "application/json",
        upd.to_string().into_bytes(),
    )
    .await;
    assert_status(&r, 409, "Conflict");
    let r = send(
        &c,
        "POST",
        CMS,
        "application/json",
        json!({"metadata": {"name": "v"}}).to_string().into_bytes(),
    )
    .await;
    assert_status(&r, 409, "AlreadyExists");
    let r = send(
        &c,
        "GET",
        &format!("{CMS}/missing"),
        "application/json",
        vec![],
    )
    .await;
    assert_status(&r, 404, "NotFound");
    assert_eq!(r.1["message"], r#"configmaps "missing" not found"#);
    let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}});
    let r = send(
        &c,
        "POST",
        "/api/v1/namespaces/default/pods",
        "application/json",
        pod.to_string().into_bytes(),
    )
    .await;
    assert_status(&r, 422, "Invalid");
    assert_eq!(
        r.1["message"],
        r#"Pod "p" is invalid: spec.containers[0].image: Required value"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_objects_and_unknown_paths() {
    let s = Server::start();
    let c = s.client().await;
    let big = "x".repeat(2 * 1024 * 1024);
    let r = send(
        &c,
        "POST",
        CMS,
        "application/json",
        json!({"metadata": {"name": "big"}, "data": {"a": big}})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_status(&r, 413, "RequestEntityTooLarge");
    let huge = "x".repeat(4 * 1024 * 1024);
    let r = send(
        &c,
        "POST",
        CMS,
        "application/json",
        json!({"metadata": {"name": "huge"}, "data": {"a": huge}})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_status(&r, 413, "RequestEntityTooLarge");
    let r = send(
        &c,
        "GET",
        "/api/v1/namespaces/default/nothings",
        "application/json",
        vec![],
    )
    .await;
    assert_status(&r, 404, "NotFound");
    let r = send(
        &c,
        "GET",
        "/api/v1/namespaces/default/configmaps?limit=abc",
        "application/json",
        vec![],
    )
    .await;
    assert_status(&r, 400, "BadRequest");
    let r = send(
        &c,
        "GET",
        "/api/v1/namespaces/default/configmaps?labelSelector=a%20b%20c",
        "application/json",
        vec![],
    )
    .await;
    assert_status(&r, 400, "BadRequest");
    let r = send(
        &c,
        "DELETE",
        "/api/v1/namespaces",
        "application/json",
        vec![],
    )
    .await;
    assert_status(&r, 405, "MethodNotAllowed");
    // the big object was not half-written
    let r = send(&c, "GET", &format!("{CMS}/big"), "application/json", vec![]).await;
    assert_eq!(r.0, 404);
}
