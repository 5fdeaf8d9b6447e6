//! GET `/v1-skiff/snapshot`: a consistent snapshot of the whole store while serving (what
//! `skiff store snapshot save` uses when the server holds the store file), for cluster admins
//! only. The body is the `skiff-snapshot/1` format of [`skiff_store::snapshot`], streamed.

use crate::pipeline::User;
use crate::state::AppState;
use axum::body::Body;
use axum::response::Response;
use skiff_api::ApiError;
use std::sync::Arc;
use tokio::io::AsyncReadExt;

/// The path of the snapshot endpoint.
pub const PATH: &str = "/v1-skiff/snapshot";

/// Streams a snapshot of the store.
pub fn serve(state: &Arc<AppState>, user: &User) -> Result<Response, ApiError> {
    if !user.groups.iter().any(|g| g == "system:masters") {
        return Err(ApiError::Forbidden(format!(
            "User \"{}\" cannot take a store snapshot: only cluster admins (system:masters) may",
            user.name
        )));
    }
    let (mut writer, reader) = tokio::io::duplex(256 * 1024);
    let store = state.storage.store.clone();
    tokio::spawn(async move {
        match skiff_store::snapshot::save(store.as_ref(), &mut writer).await {
            Ok(s) => tracing::info!(revision = s.revision, keys = s.keys, "store snapshot sent"),
            // The client sees a body without a valid trailer and refuses it.
            Err(e) => tracing::warn!(error = %e, "store snapshot failed"),
        }
    });
    let stream = futures::stream::unfold(reader, |mut r| async move {
        let mut buf = vec![0u8; 64 * 1024];
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), r))
            }
        }
    });
    Response::builder()
        .status(http::StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "application/octet-stream")
        .body(Body::from_stream(stream))
        .map_err(|e| ApiError::Internal(e.to_string()))
}
