//! The in-process API client of `skiff server`: the scheduler, the controller manager and the
//! embedded agent send their Kubernetes API requests straight into the API server's request
//! dispatch (authorisation, admission, storage, watches — everything a remote client gets),
//! skipping only TCP, TLS and HTTP framing, like kube-apiserver's loopback client skips the
//! network for its own controllers.
//!
//! `skiff server` hands `loopback::client(&server)` to each component in place of a client
//! built from the admin kubeconfig.

use skiff_apiserver::pipeline::User;
use skiff_apiserver::serve::RunningServer;
use std::convert::Infallible;

/// The identity of in-process components: the same as the admin kubeconfig's certificate.
fn loopback_user() -> User {
    User::new(
        "system:admin",
        vec!["system:masters".into(), "system:authenticated".into()],
    )
}

/// A kube client served by `server` in this process.
pub fn client(server: &RunningServer) -> kube::Client {
    let state = server.state.clone();
    let user = loopback_user();
    let service = tower::service_fn(move |req: http::Request<kube::client::Body>| {
        let (state, user) = (state.clone(), user.clone());
        async move {
            let req = req.map(axum::body::Body::new);
            Ok::<_, Infallible>(skiff_apiserver::dispatch::dispatch(state, user, req).await)
        }
    });
    kube::Client::new(service, "default")
}
