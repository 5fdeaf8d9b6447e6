//! Start-up and the HTTPS accept loop: data dir, PKI, store, watch cache, bootstrap objects,
//! kubeconfig, then TLS connections served with HTTP/2 or HTTP/1.1 (ALPN).

use crate::allocator::{Allocators, Cidr};
use crate::config::ServerConfig;
use crate::pipeline::{Admission, AllowAll, User};
use crate::rest::{Storage, WriteCtx};
use crate::state::AppState;
use crate::watchcache::WatchCache;
use axum::body::Body;
use serde_json::json;
use skiff_store::Store;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Why the server could not start: each variant is one line telling the user what to do.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory cannot be created or written.
    #[error("data directory {path} is not writable: {reason} (choose another with --data-dir or fix its permissions)")]
    DataDir {
        /// Directory.
        path: String,
        /// Cause.
        reason: String,
    },
    /// The port is taken.
    #[error("cannot listen on {addr}: {reason} (another process uses this port? choose another with --secure-port)")]
    Listen {
        /// Address.
        addr: String,
        /// Cause.
        reason: String,
    },
    /// The store could not be opened.
    #[error("cannot open the store: {0}")]
    Store(String),
    /// Certificates could not be created.
    #[error("{0}")]
    Pki(#[from] crate::pki::PkiError),
    /// TLS configuration failed.
    #[error("{0}")]
    Tls(#[from] crate::tls::TlsError),
    /// A flag value is invalid.
    #[error("{0}")]
    Config(String),
    /// Bootstrap objects could not be written.
    #[error("bootstrap failed: {0}")]
    Bootstrap(String),
}

/// A server that is serving. Drop or call [`RunningServer::shutdown`] to stop it.
pub struct RunningServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The `https://…` URL clients should use.
    pub url: String,
    /// Shared state.
    pub state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    accept_loop: tokio::task::JoinHandle<()>,
    /// The embedded store, closed on shutdown (etcd needs no closing).
    embedded: Option<Arc<skiff_store::EmbeddedStore>>,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl RunningServer {
    /// Stops accepting, ends open connections and closes the store.
    pub async fn shutdown(self) {
        self.state.ready.store(false, Ordering::SeqCst);
        let _ = self.shutdown.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.accept_loop).await;
        drop(self.state);
        if let Some(store) = self.embedded {
            let _ = tokio::task::spawn_blocking(move || store.close()).await;
        }
    }
}

fn check_data_dir(cfg: &ServerConfig) -> Result<(), StartError> {
    let err = |e: std::io::Error| StartError::DataDir {
        path: cfg.data_dir.display().to_string(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(&cfg.data_dir).map_err(err)?;
    std::fs::create_dir_all(cfg.data_dir.join("db")).map_err(err)?;
    let probe = cfg.data_dir.join(".write-test");
    std::fs::write(&probe, b"ok").map_err(err)?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Starts an API server and returns once it serves.
pub async fn start(cfg: ServerConfig) -> Result<RunningServer, StartError> {
    let cidr = Cidr::parse(&cfg.service_cidr)
        .map_err(|e| StartError::Config(format!("--service-cidr: {e}")))?;
    check_data_dir(&cfg)?;
    let mut sans = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    if let Some(h) = hostname() {
        sans.push(h);
    }
    if !cfg.bind_address.is_unspecified() && !cfg.bind_address.is_loopback() {
        sans.push(cfg.bind_address.to_string());
    }
    sans.push(cidr.first().to_string());
    sans.extend(
        [
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ]
        .map(String::from),
    );
    for s in &cfg.tls_sans {
        if !sans.contains(s) {
            sans.push(s.clone());
        }
    }
    let pki = crate::pki::load_or_create(&cfg.tls_dir(), &sans)?;
    let tls = crate::tls::server_config(&pki)?;
    let join_token = crate::join::load_or_create(&cfg.node_token_path(), &pki.ca_cert)?;

    let addr = SocketAddr::new(cfg.bind_address, cfg.secure_port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| StartError::Listen {
            addr: addr.to_string(),
            reason: e.to_string(),
        })?;
    let addr = listener.local_addr().map_err(|e| StartError::Listen {
        addr: addr.to_string(),
        reason: e.to_string(),
    })?;

    let (store, embedded): (Arc<dyn Store>, _) = match &cfg.datastore {
        crate::config::Datastore::Embedded => {
            let path = cfg.store_path();
            let embedded = Arc::new(
                skiff_store::EmbeddedStore::open(&path)
                    .map_err(|e| StartError::Store(e.to_string()))?,
            );
            (embedded.clone(), Some(embedded))
        }
        crate::config::Datastore::Etcd(options) => {
            let etcd = skiff_store_etcd::EtcdStore::connect(options.clone())
                .await
                .map_err(|e| StartError::Store(e.to_string()))?;
            (Arc::new(etcd), None)
        }
    };
    let cache = WatchCache::start(store.clone())
        .await
        .map_err(|e| StartError::Store(e.to_string()))?;
    let storage = Arc::new(Storage {
        store: store.clone(),
        registry: skiff_api::Registry::builtin(),
        cache,
        admission: Admission {
            mutating: vec![Box::new(cfg.default_tolerations)],
            validating: vec![],
        },
        allocators: Allocators { service_cidr: cidr },
    });
    let host = if cfg.bind_address.is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        cfg.bind_address.to_string()
    };
    let url = format!("https://{host}:{}", addr.port());
    let state = Arc::new(AppState {
        storage: storage.clone(),
        authorizer: Box::new(AllowAll),
        openapi: Default::default(),
        ready: false.into(),
        server_address: format!("{host}:{}", addr.port()),
        clock: Arc::new(chrono::Utc::now),
        bookmark_interval: bookmark_interval(),
        ca_cert: pki.ca_cert.clone(),
        join_token: Some(join_token),
        service_accounts: Arc::new(
            crate::serviceaccount::Tokens::from_pem(&pki.service_account_key).map_err(|e| {
                StartError::Config(format!(
                    "{e} (delete it to have a new service-account signing key generated)"
                ))
            })?,
        ),
        nodes: Some(crate::kubelet::NodeClient::new(&pki)?),
    });

    bootstrap(&storage, addr.port())
        .await
        .map_err(|e| StartError::Bootstrap(e.to_string()))?;
    crate::crd::load_all(&storage)
        .await
        .map_err(|e| StartError::Bootstrap(e.to_string()))?;

    let kubeconfig = crate::pki::admin_kubeconfig(&pki, &url);
    crate::pki::write_file(&cfg.kubeconfig_path(), &kubeconfig, true)?;
    if let Some(p) = &cfg.write_kubeconfig {
        crate::pki::write_file(p, &kubeconfig, true)?;
    }

    let (tx, rx) = watch::channel(false);
    tokio::spawn(crate::compactor::run(
        store.clone(),
        storage.cache.clone(),
        cfg.compaction_interval,
        rx.clone(),
    ));
    let accept_loop = tokio::spawn(accept_loop(
        listener,
        tokio_rustls::TlsAcceptor::from(tls),
        state.clone(),
        rx,
    ));
    state.ready.store(true, Ordering::SeqCst);
    Ok(RunningServer {
        addr,
        url,
        state,
        shutdown: tx,
        accept_loop,
        embedded,
    })
}

fn bookmark_interval() -> Duration {
    std::env::var("SKIFF_WATCH_BOOKMARK_INTERVAL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(60))
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    state: Arc<AppState>,
    mut stop: watch::Receiver<bool>,
) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            r = listener.accept() => {
                let Ok((tcp, _peer)) = r else { continue };
                let _ = tcp.set_nodelay(true);
                let (acceptor, state, stop) = (acceptor.clone(), state.clone(), stop.clone());
                conns.spawn(serve_connection(tcp, acceptor, state, stop));
            }
            _ = stop.changed() => break,
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    conns.abort_all();
}

async fn serve_connection(
    tcp: tokio::net::TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    state: Arc<AppState>,
    mut stop: watch::Receiver<bool>,
) {
    let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
    else {
        return;
    };
    let user = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(crate::tls::user_from_cert)
        .unwrap_or_else(User::anonymous);
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let (state, user) = (state.clone(), user.clone());
        async move {
            Ok::<_, std::convert::Infallible>(
                crate::dispatch::dispatch(state, user, req.map(Body::new)).await,
            )
        }
    });
    let builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    let conn = builder.serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(tls), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
        }
    }
}

/// Creates the objects every cluster has from its first start: the four system namespaces with
/// their default ServiceAccounts, and the `kubernetes` Service.
async fn bootstrap(st: &Storage, port: u16) -> Result<(), skiff_api::ApiError> {
    let ctx = WriteCtx {
        user: User::new("system:apiserver", vec!["system:masters".into()]),
        dry_run: false,
        field_manager: "skiff-apiserver".into(),
        now: chrono::Utc::now(),
        apply: false,
    };
    let reg = &st.registry;
    let ns = st.namespaces();
    let sa = reg
        .by_plural("", "v1", "serviceaccounts")
        .expect("invariant: built in");
    let svc = reg
        .by_plural("", "v1", "services")
        .expect("invariant: built in");
    for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        if st.try_get(&ns, "", name).await?.is_none() {
            st.create(&ns, "", json!({"metadata": {"name": name}}), &ctx)
                .await?;
        }
        if st.try_get(&sa, name, "default").await?.is_none() {
            st.create(
                &sa,
                name,
                json!({"metadata": {"name": "default", "namespace": name}}),
                &ctx,
            )
            .await?;
        }
    }
    let pc = reg
        .by_plural("scheduling.k8s.io", "v1", "priorityclasses")
        .expect("invariant: built in");
    for (name, value) in crate::admission::SYSTEM_PRIORITY_CLASSES {
        if st.try_get(&pc, "", name).await?.is_none() {
            let class = json!({
                "metadata": {"name": name},
                "value": value,
                "description": "Used for system critical pods that must not be moved from their current node.",
                "preemptionPolicy": "PreemptLowerPriority",
            });
            match st.create(&pc, "", class, &ctx).await {
                Ok(_) | Err(skiff_api::ApiError::AlreadyExists(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    if st.try_get(&svc, "default", "kubernetes").await?.is_none() {
        // The first address of the range is kept for this Service (random allocation skips it).
        let mut k = crate::rest::hooks::kubernetes_service(port);
        k["spec"]["clusterIP"] = json!(st.allocators.service_cidr.first().to_string());
        match st.create(&svc, "default", k, &ctx).await {
            Ok(_) | Err(skiff_api::ApiError::AlreadyExists(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
