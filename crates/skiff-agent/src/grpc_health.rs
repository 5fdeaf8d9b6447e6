//! The standard gRPC health check (`grpc.health.v1.Health/Check`) for `grpc` probes, with
//! upstream's failure messages.

/// `grpc.health.v1.HealthCheckRequest`.
#[derive(Clone, PartialEq, prost::Message)]
struct HealthCheckRequest {
    #[prost(string, tag = "1")]
    service: String,
}

/// `grpc.health.v1.HealthCheckResponse`.
#[derive(Clone, PartialEq, prost::Message)]
struct HealthCheckResponse {
    #[prost(int32, tag = "1")]
    status: i32,
}

/// The name of a `ServingStatus` value.
pub fn status_name(status: i32) -> &'static str {
    match status {
        1 => "SERVING",
        2 => "NOT_SERVING",
        3 => "SERVICE_UNKNOWN",
        _ => "UNKNOWN",
    }
}

/// Checks `service` ("" for the whole server) at `host:port` over plain HTTP/2.
pub async fn check(host: &str, port: u16, service: &str) -> Result<(), String> {
    let addr = format!("{host}:{port}");
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| format!("failed to connect service {addr:?}: {e}"))?;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| format!("failed to connect service {addr:?}: {e}"))?;
    let codec = tonic_prost::ProstCodec::<HealthCheckRequest, HealthCheckResponse>::default();
    let path = http::uri::PathAndQuery::from_static("/grpc.health.v1.Health/Check");
    let request = tonic::Request::new(HealthCheckRequest {
        service: service.to_string(),
    });
    match grpc.unary(request, path, codec).await {
        Ok(r) if r.get_ref().status == 1 => Ok(()),
        Ok(r) => Err(format!(
            "service unhealthy (responded with {:?})",
            status_name(r.get_ref().status)
        )),
        Err(s) if s.code() == tonic::Code::Unimplemented => Err(format!(
            "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): {}",
            s.message()
        )),
        Err(s) => Err(format!("health rpc failed: {}", s.message())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serving_not_serving_and_unreachable_servers() {
        let (reporter, service) = tonic_health::server::health_reporter();
        reporter
            .set_service_status("ok", tonic_health::ServingStatus::Serving)
            .await;
        reporter
            .set_service_status("down", tonic_health::ServingStatus::NotServing)
            .await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        assert_eq!(check("127.0.0.1", port, "ok").await, Ok(()));
        assert_eq!(
            check("127.0.0.1", port, "down").await.unwrap_err(),
            "service unhealthy (responded with \"NOT_SERVING\")"
        );
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = closed.local_addr().unwrap().port();
        drop(closed);
        assert!(check("127.0.0.1", dead, "")
            .await
            .unwrap_err()
            .starts_with("failed to connect service"));
    }
}
