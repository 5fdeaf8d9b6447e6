//! The etcd v3 backend of Skiff's [`Store`]: what kube-apiserver does with etcd, behind the
//! same trait the embedded store implements, so the API server cannot tell them apart.
//!
//! - Keys are stored verbatim (`/registry/pods/default/web`, kube-apiserver's layout) and
//!   etcd's revisions are the resourceVersions.
//! - Conditional writes are single transactions comparing the key's `create_revision` /
//!   `mod_revision`; the `else` branch reads the key so a lost race reports the live value.
//! - Watches are etcd watches with `prev_kv`; an idle, caught-up watch asks etcd for a progress
//!   notification (etcd ≥ 3.4), which becomes [`WatchItem::Progress`](skiff_store::WatchItem).
//! - Only etcd 3.4 APIs are used (Debian's etcd-server 3.4.23), none removed since.
//!
//! ```no_run
//! # async fn run() -> Result<(), skiff_store::StoreError> {
//! use skiff_store::Store;
//! use skiff_store_etcd::{EtcdOptions, EtcdStore};
//! let store = EtcdStore::connect(EtcdOptions::new(vec!["http://127.0.0.1:2379".into()])).await?;
//! let kv = store.create("/registry/configmaps/default/a", "{}".into()).await?;
//! assert_eq!(kv.create_revision, kv.mod_revision);
//! # Ok(()) }
//! ```

mod options;
#[cfg(feature = "testing")]
pub mod testing;
mod watch;

pub use options::{parse_datastore, EtcdOptions, TlsFiles};

use bytes::Bytes;
use etcd_client::{
    Client, CompactionOptions, Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions,
    PutOptions, Txn, TxnOp, TxnOpResponse,
};
use skiff_store::error::{check_compact, check_key, check_watch_start, CompactPlan};
use skiff_store::{KeyValue, ListRequest, ListResponse, Revision, Store, StoreError, WatchStream};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// A key no object uses: revision probes read it.
const PROBE_KEY: &[u8] = b"\0";

/// A [`Store`] on an etcd cluster.
pub struct EtcdStore {
    client: Client,
    options: EtcdOptions,
    /// A lower bound of etcd's compacted revision (it only grows), so finding the exact one
    /// takes few probes.
    compacted_hint: AtomicI64,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoints", &self.options.endpoints)
            .finish_non_exhaustive()
    }
}

fn backend(e: etcd_client::Error) -> StoreError {
    match e {
        etcd_client::Error::GRpcStatus(s) => {
            StoreError::Backend(format!("etcd: {} ({:?})", s.message(), s.code()))
        }
        e => StoreError::Backend(format!("etcd: {e}")),
    }
}

/// PURE — whether an error means the request was not served and may be sent again: the
/// member could not be reached, or etcd had no leader for it.
pub(crate) fn transient(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::GRpcStatus(s) => {
            s.code() == tonic::Code::Unavailable
                || s.message().contains("no leader")
                || s.message().contains("leader changed")
        }
        etcd_client::Error::TransportError(_) => true,
        _ => false,
    }
}

/// What an etcd read error means.
enum ReadError {
    Compacted,
    Future,
    Other(StoreError),
}

fn read_error(e: etcd_client::Error) -> ReadError {
    if let etcd_client::Error::GRpcStatus(s) = &e {
        if s.message().contains("required revision has been compacted") {
            return ReadError::Compacted;
        }
        if s.message()
            .contains("required revision is a future revision")
        {
            return ReadError::Future;
        }
    }
    ReadError::Other(backend(e))
}

fn key_value(kv: &etcd_client::KeyValue) -> KeyValue {
    KeyValue {
        key: String::from_utf8_lossy(kv.key()).into_owned(),
        value: Bytes::copy_from_slice(kv.value()),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
    }
}

/// The first key after every key starting with `prefix` (etcd's `range_end` for a prefix).
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

fn revision_of(header: Option<&etcd_client::ResponseHeader>) -> Result<Revision, StoreError> {
    header
        .map(|h| h.revision())
        .ok_or_else(|| StoreError::Backend("etcd: a response without a header".into()))
}

impl EtcdStore {
    /// Connects to the members in `options` (the first request waits for one to answer).
    pub async fn connect(options: EtcdOptions) -> Result<Self, StoreError> {
        let mut connect = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(options.request_timeout)
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5));
        if options.tls.any() {
            connect = connect.with_tls(tls_config(&options.tls)?);
        }
        let client = Client::connect(&options.endpoints, Some(connect))
            .await
            .map_err(|e| {
                StoreError::Backend(format!(
                    "cannot reach etcd at {}: {e} (is etcd running there? check --datastore)",
                    options.endpoints.join(",")
                ))
            })?;
        let store = EtcdStore {
            client,
            options,
            compacted_hint: AtomicI64::new(0),
        };
        store.current_revision().await.map_err(|e| {
            StoreError::Backend(format!(
                "etcd at {} does not answer: {e} (is it running and healthy?)",
                store.options.endpoints.join(",")
            ))
        })?;
        Ok(store)
    }

    /// Runs `op` with a KV client, again (with back-off, within the request timeout) while it
    /// fails in a way that means the request was not served: a member that is down (the
    /// client's balancer may still pick it), or a cluster between leaders.
    async fn retry<T, F, Fut>(&self, mut op: F) -> Result<T, etcd_client::Error>
    where
        F: FnMut(etcd_client::KvClient) -> Fut,
        Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
    {
        let deadline = tokio::time::Instant::now() + self.options.request_timeout;
        let mut pause = Duration::from_millis(20);
        loop {
            match op(self.client.kv_client()).await {
                Err(e) if transient(&e) && tokio::time::Instant::now() + pause < deadline => {
                    tracing::debug!(error = %e, "etcd request not served; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
                r => return r,
            }
        }
    }

    /// The endpoints this store uses.
    pub fn endpoints(&self) -> &[String] {
        &self.options.endpoints
    }

    /// Whether reads at `revision` are still possible (not compacted away).
    async fn readable(&self, revision: Revision) -> Result<bool, StoreError> {
        let opts = GetOptions::new().with_count_only().with_revision(revision);
        match self
            .retry(|mut kv| {
                let opts = opts.clone();
                async move { kv.get(PROBE_KEY, Some(opts)).await }
            })
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => match read_error(e) {
                ReadError::Compacted => Ok(false),
                ReadError::Future => Ok(true),
                ReadError::Other(e) => Err(e),
            },
        }
    }

    /// The error of a read at `requested` that etcd refused.
    async fn revision_error(&self, e: etcd_client::Error, requested: Revision) -> StoreError {
        match read_error(e) {
            ReadError::Compacted => match self.compacted_revision().await {
                Ok(compacted) => StoreError::Compacted {
                    requested,
                    compacted,
                },
                Err(e) => e,
            },
            ReadError::Future => match self.current_revision().await {
                Ok(current) => StoreError::FutureRevision { requested, current },
                Err(e) => e,
            },
            ReadError::Other(e) => e,
        }
    }

    /// Checks a read revision that etcd cannot check itself: negative ones, and 0 (which etcd
    /// reads as "latest" but means "before the first write" here). `Ok(true)`: the read is at
    /// revision 0 and finds nothing.
    async fn at_zero(&self, revision: Option<Revision>) -> Result<bool, StoreError> {
        match revision {
            Some(r) if r < 0 => Err(StoreError::InvalidArgument(format!(
                "revision {r} is negative"
            ))),
            Some(0) => {
                let compacted = self.compacted_revision().await?;
                if compacted > 0 {
                    return Err(StoreError::Compacted {
                        requested: 0,
                        compacted,
                    });
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Runs a conditional write: `then` when every compare holds, else reads `key` back.
    async fn write(
        &self,
        key: &str,
        when: Vec<Compare>,
        then: TxnOp,
    ) -> Result<(bool, Revision, Option<KeyValue>), StoreError> {
        let txn = Txn::new()
            .when(when)
            .and_then(vec![then])
            .or_else(vec![TxnOp::get(key, None)]);
        let resp = self
            .retry(|mut kv| {
                let txn = txn.clone();
                async move { kv.txn(txn).await }
            })
            .await
            .map_err(backend)?;
        let revision = revision_of(resp.header())?;
        let kv = resp.op_responses().into_iter().find_map(|op| match op {
            TxnOpResponse::Put(p) => p.prev_key().map(key_value),
            TxnOpResponse::Get(g) => g.kvs().first().map(key_value),
            TxnOpResponse::Delete(d) => d.prev_kvs().first().map(key_value),
            TxnOpResponse::Txn(_) => None,
        });
        Ok((resp.succeeded(), revision, kv))
    }

    /// Why a conditional write on `key` did not apply, given its live value.
    fn refused(key: &str, live: Option<KeyValue>) -> StoreError {
        match live {
            None => StoreError::NotFound { key: key.into() },
            Some(current) => StoreError::Conflict {
                key: key.into(),
                current: Some(current),
            },
        }
    }
}

fn tls_config(files: &TlsFiles) -> Result<etcd_client::TlsOptions, StoreError> {
    let read = |p: &std::path::PathBuf, what: &str| {
        std::fs::read(p).map_err(|e| {
            StoreError::Backend(format!(
                "--datastore-{what} {}: {e} (check the path and its permissions)",
                p.display()
            ))
        })
    };
    let mut tls = etcd_client::TlsOptions::new();
    if let Some(ca) = &files.ca {
        tls = tls.ca_certificate(etcd_client::Certificate::from_pem(read(ca, "cafile")?));
    }
    match (&files.cert, &files.key) {
        (Some(c), Some(k)) => {
            tls = tls.identity(etcd_client::Identity::from_pem(
                read(c, "certfile")?,
                read(k, "keyfile")?,
            ))
        }
        (None, None) => {}
        _ => {
            return Err(StoreError::Backend(
                "--datastore-certfile and --datastore-keyfile go together".into(),
            ))
        }
    }
    Ok(tls)
}

#[async_trait::async_trait]
impl Store for EtcdStore {
    async fn current_revision(&self) -> Result<Revision, StoreError> {
        let resp = self
            .retry(|mut kv| async move {
                kv.get(PROBE_KEY, Some(GetOptions::new().with_count_only()))
                    .await
            })
            .await
            .map_err(backend)?;
        revision_of(resp.header())
    }

    async fn compacted_revision(&self) -> Result<Revision, StoreError> {
        // etcd does not report its compacted revision; reads below it fail, so search for the
        // oldest readable revision between what is known and the current one.
        let hint = self.compacted_hint.load(Ordering::Relaxed);
        let low = hint.max(1);
        if self.readable(low).await? {
            return Ok(hint);
        }
        let (mut bad, mut good) = (low, self.current_revision().await?);
        while good - bad > 1 {
            let mid = bad + (good - bad) / 2;
            if self.readable(mid).await? {
                good = mid;
            } else {
                bad = mid;
            }
        }
        self.compacted_hint.fetch_max(good, Ordering::Relaxed);
        Ok(good)
    }

    async fn get(
        &self,
        key: &str,
        revision: Option<Revision>,
    ) -> Result<(Option<KeyValue>, Revision), StoreError> {
        check_key(key)?;
        if self.at_zero(revision).await? {
            return Ok((None, 0));
        }
        let opts = revision.map(|r| GetOptions::new().with_revision(r));
        let resp = match self
            .retry(|mut kv| {
                let opts = opts.clone();
                async move { kv.get(key, opts).await }
            })
            .await
        {
            Ok(r) => r,
            Err(e) => return Err(self.revision_error(e, revision.unwrap_or(0)).await),
        };
        let at = match revision {
            Some(r) => r,
            None => revision_of(resp.header())?,
        };
        Ok((resp.kvs().first().map(key_value), at))
    }

    async fn list(&self, req: ListRequest) -> Result<ListResponse, StoreError> {
        if self.at_zero(req.revision).await? {
            return Ok(ListResponse {
                kvs: Vec::new(),
                revision: 0,
                more: false,
                remaining: 0,
            });
        }
        let start = match &req.after_key {
            Some(after) if after.as_str() >= req.prefix.as_str() => {
                let mut k = after.clone().into_bytes();
                k.push(0);
                k
            }
            _ if req.prefix.is_empty() => vec![0],
            _ => req.prefix.clone().into_bytes(),
        };
        let mut opts = GetOptions::new()
            .with_range(prefix_end(req.prefix.as_bytes()))
            .with_limit(i64::try_from(req.limit).unwrap_or(i64::MAX));
        if let Some(r) = req.revision {
            opts = opts.with_revision(r);
        }
        let resp = match self
            .retry(|mut kv| {
                let (start, opts) = (start.clone(), opts.clone());
                async move { kv.get(start, Some(opts)).await }
            })
            .await
        {
            Ok(r) => r,
            Err(e) => return Err(self.revision_error(e, req.revision.unwrap_or(0)).await),
        };
        let kvs: Vec<KeyValue> = resp.kvs().iter().map(key_value).collect();
        let remaining = u64::try_from(resp.count())
            .unwrap_or(0)
            .saturating_sub(kvs.len() as u64);
        Ok(ListResponse {
            revision: match req.revision {
                Some(r) => r,
                None => revision_of(resp.header())?,
            },
            more: resp.more(),
            remaining,
            kvs,
        })
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue, StoreError> {
        check_key(key)?;
        let (ok, revision, _) = self
            .write(
                key,
                vec![Compare::create_revision(key, CompareOp::Equal, 0)],
                TxnOp::put(key, value.to_vec(), None),
            )
            .await?;
        if !ok {
            return Err(StoreError::AlreadyExists { key: key.into() });
        }
        Ok(KeyValue {
            key: key.into(),
            value,
            create_revision: revision,
            mod_revision: revision,
        })
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected_mod_revision: Revision,
    ) -> Result<KeyValue, StoreError> {
        check_key(key)?;
        let (ok, revision, kv) = self
            .write(
                key,
                vec![
                    Compare::create_revision(key, CompareOp::Greater, 0),
                    Compare::mod_revision(key, CompareOp::Equal, expected_mod_revision),
                ],
                TxnOp::put(key, value.to_vec(), Some(PutOptions::new().with_prev_key())),
            )
            .await?;
        if !ok {
            return Err(Self::refused(key, kv));
        }
        let prev =
            kv.ok_or_else(|| StoreError::Backend("etcd: an update without prev_kv".into()))?;
        Ok(KeyValue {
            key: key.into(),
            value,
            create_revision: prev.create_revision,
            mod_revision: revision,
        })
    }

    async fn delete(
        &self,
        key: &str,
        expected_mod_revision: Option<Revision>,
    ) -> Result<KeyValue, StoreError> {
        check_key(key)?;
        let mut when = vec![Compare::create_revision(key, CompareOp::Greater, 0)];
        if let Some(e) = expected_mod_revision {
            when.push(Compare::mod_revision(key, CompareOp::Equal, e));
        }
        let (ok, revision, kv) = self
            .write(
                key,
                when,
                TxnOp::delete(key, Some(DeleteOptions::new().with_prev_key())),
            )
            .await?;
        if !ok {
            return Err(Self::refused(key, kv));
        }
        let prev =
            kv.ok_or_else(|| StoreError::Backend("etcd: a delete without prev_kv".into()))?;
        Ok(KeyValue {
            mod_revision: revision,
            ..prev
        })
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError> {
        check_watch_start(after, 0)?;
        let start = after.saturating_add(1);
        if !self.readable(start).await? {
            return Err(StoreError::Compacted {
                requested: start,
                compacted: self.compacted_revision().await?,
            });
        }
        watch::start(
            self.client.watch_client(),
            prefix,
            start,
            self.options.progress_interval,
        )
        .await
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let current = self.current_revision().await?;
        let compacted = self.compacted_revision().await?;
        if check_compact(revision, current, compacted)? == CompactPlan::Noop {
            return Ok(());
        }
        self.retry(|mut kv| async move {
            kv.compact(revision, Some(CompactionOptions::new().with_physical()))
                .await
        })
        .await
        .map_err(backend)?;
        self.compacted_hint.fetch_max(revision, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn only_errors_of_requests_never_served_are_retried() {
        use super::transient;
        let status =
            |code, msg: &str| etcd_client::Error::GRpcStatus(tonic::Status::new(code, msg));
        assert!(transient(&status(
            tonic::Code::Unavailable,
            "tcp connect error"
        )));
        assert!(transient(&status(
            tonic::Code::Unknown,
            "etcdserver: leader changed"
        )));
        assert!(!transient(&status(
            tonic::Code::OutOfRange,
            "etcdserver: mvcc: required revision has been compacted"
        )));
        assert!(!transient(&status(
            tonic::Code::Unknown,
            "h2 protocol error"
        )));
    }

    #[test]
    fn prefix_ends_increment_the_last_byte_that_can_be() {
        assert_eq!(prefix_end(b"/registry/"), b"/registry0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b""), b"\0");
        assert_eq!(prefix_end(b"\xff\xff"), b"\0");
    }
}
