//! The store conformance suite (the same checks the embedded and in-memory stores pass)
//! against a real etcd: every fresh store is a new single-member etcd on free loopback ports,
//! so revisions start at 1 like a new embedded store. Needs `etcd` (Debian's etcd-server;
//! `.ci/run` installs it).

use skiff_store::conformance::Harness;
use skiff_store::Store;
use skiff_store_etcd::testing::EtcdCluster;
use skiff_store_etcd::{EtcdOptions, EtcdStore};
use std::time::Duration;

struct EtcdHarness {
    clusters: Vec<EtcdCluster>,
    last: Option<Duration>,
}

impl EtcdHarness {
    fn new() -> Self {
        Self {
            clusters: Vec::new(),
            last: None,
        }
    }

    async fn connect(&self, progress_interval: Duration) -> Box<dyn Store> {
        let cluster = self.clusters.last().expect("a cluster");
        let mut options = EtcdOptions::new(cluster.endpoints());
        options.progress_interval = progress_interval;
        Box::new(EtcdStore::connect(options).await.expect("connect to etcd"))
    }
}

#[async_trait::async_trait]
impl Harness for EtcdHarness {
    async fn fresh(&mut self, progress_interval: Duration) -> Box<dyn Store> {
        self.clusters
            .push(tokio::task::block_in_place(|| EtcdCluster::start(1)));
        self.last = Some(progress_interval);
        self.connect(progress_interval).await
    }

    async fn reopen(&mut self, store: Box<dyn Store>) -> Option<Box<dyn Store>> {
        drop(store);
        let interval = self.last?;
        let cluster = self.clusters.last_mut()?;
        tokio::task::block_in_place(|| cluster.restart(0));
        Some(self.connect(interval).await)
    }
}

skiff_store::conformance_tests!(EtcdHarness::new());
