//! No acknowledged write is lost and nothing unacknowledged shows up half-applied:
//! concurrent clients create and update ConfigMaps through the API while `skiff server` is
//! killed with SIGKILL and restarted (embedded store), or while members of a 3-member etcd are
//! killed and restarted under a running server (etcd backend). After each cycle every object
//! must hold the last value its writer saw acknowledged, or the one write in flight when the
//! crash came — never an older one, never anything else. Each run prints how many cycles and
//! writes it checked.

mod common;
use common::Server;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use skiff_store_etcd::testing::EtcdCluster;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What one writer knows about its objects: name → (last acknowledged sequence number, the
/// sequence number of a write sent but not acknowledged, if any).
type Ledger = BTreeMap<String, (Option<u64>, Option<u64>)>;

const WRITERS: usize = 4;

/// Numbers the objects writers create, so that no name is created twice.
static NEXT_NAME: AtomicU64 = AtomicU64::new(1);

/// One writer: alternately creates a new object and bumps the sequence of one of its own,
/// recording what the server acknowledged, until `stop` is set.
async fn writer(
    client: kube::Client,
    id: usize,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<u64>>,
) {
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut step = 0u64;
    while !stop.load(Ordering::SeqCst) {
        step += 1;
        let existing: Vec<(String, u64)> = {
            let l = ledger.lock().unwrap();
            l.iter()
                .filter(|(n, (a, pending))| {
                    n.starts_with(&format!("w{id}-")) && a.is_some() && pending.is_none()
                })
                .map(|(n, (a, _))| (n.clone(), a.unwrap_or(0)))
                .collect()
        };
        let (name, seq, create) = if step % 2 == 1 || existing.is_empty() {
            // A name never used before, across cycles too: a create that reused an earlier
            // cycle's name would fail as AlreadyExists and overwrite that object's pending
            // write in the ledger, which then no longer says what may be stored.
            let n = NEXT_NAME.fetch_add(1, Ordering::SeqCst);
            (format!("w{id}-{n}"), 1, true)
        } else {
            let (n, a) = existing[(step as usize / 2) % existing.len()].clone();
            (n, a + 1, false)
        };
        ledger
            .lock()
            .unwrap()
            .entry(name.clone())
            .or_insert((None, None))
            .1 = Some(seq);
        let result = if create {
            let cm: ConfigMap = serde_json::from_value(json!({
                "metadata": {"name": name},
                "data": {"seq": seq.to_string(), "payload": "x".repeat(512)},
            }))
            .unwrap();
            api.create(&PostParams::default(), &cm).await.map(drop)
        } else {
            let patch = json!({"data": {"seq": seq.to_string()}});
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map(drop)
        };
        match result {
            Ok(()) => {
                let mut l = ledger.lock().unwrap();
                let e = l.get_mut(&name).expect("recorded");
                *e = (Some(seq), None);
                *acked.lock().unwrap() += 1;
            }
            // The server is gone (or the write's fate is unknown): leave it pending and
            // back off until the next cycle.
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Checks every object against the ledger; returns how many objects were checked. Pending
/// writes are resolved by what the server holds (they either happened or not, whole).
async fn verify(client: kube::Client, ledger: &Mutex<Ledger>) -> usize {
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let stored: BTreeMap<String, ConfigMap> = api
        .list(&Default::default())
        .await
        .expect("list after restart")
        .items
        .into_iter()
        .map(|c| (c.metadata.name.clone().unwrap(), c))
        .collect();
    let mut l = ledger.lock().unwrap();
    for (name, (acked, pending)) in l.iter_mut() {
        let found = stored.get(name);
        let seq = found.map(|c| {
            let data = c.data.clone().unwrap_or_default();
            if let Some(p) = data.get("payload") {
                assert_eq!(p.len(), 512, "{name}: a torn value");
            }
            data["seq"].parse::<u64>().expect("seq")
        });
        match (*acked, *pending, seq) {
            (Some(a), None, Some(s)) => assert_eq!(s, a, "{name}: acknowledged {a}, found {s}"),
            (Some(a), Some(p), Some(s)) => assert!(
                s == a || s == p,
                "{name}: acknowledged {a}, in flight {p}, found {s}"
            ),
            (None, Some(1), None) => {}    // a create that never happened
            (None, Some(1), Some(1)) => {} // a create that happened unacknowledged
            (a, p, s) => panic!("{name}: acknowledged {a:?}, in flight {p:?}, found {s:?}"),
        }
        // What is stored is what counts from now on.
        *acked = seq;
        *pending = None;
    }
    l.retain(|_, (a, _)| a.is_some());
    for name in stored.keys().filter(|n| n.starts_with('w')) {
        assert!(l.contains_key(name), "{name}: stored but never written");
    }
    l.len()
}

/// Runs the writers against `client` for `duration`, calling `crash` in the middle; then
/// stops them.
async fn write_through(
    client: kube::Client,
    ledger: &Arc<Mutex<Ledger>>,
    acked: &Arc<Mutex<u64>>,
    duration: Duration,
    crash: impl FnOnce(),
) {
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..WRITERS)
        .map(|id| {
            tokio::spawn(writer(
                client.clone(),
                id,
                ledger.clone(),
                stop.clone(),
                acked.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(duration / 2).await;
    tokio::task::block_in_place(crash);
    tokio::time::sleep(duration / 2).await;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_server_loses_no_acknowledged_write() {
    if common::on_etcd() {
        return; // the embedded store's test; etcd has its own below
    }
    let flags = ["--disable-controller-manager", "--disable-scheduler"];
    let mut s = Server::start_with(&flags);
    let ledger = Arc::new(Mutex::new(Ledger::new()));
    let acked = Arc::new(Mutex::new(0u64));
    let cycles = 5;
    let mut checked = 0;
    for _ in 0..cycles {
        let client = s.client().await;
        let server = &mut s;
        write_through(client, &ledger, &acked, Duration::from_millis(1600), || {
            server.kill9()
        })
        .await;
        tokio::task::block_in_place(|| s.launch(&flags));
        checked += verify(s.client().await, &ledger).await;
    }
    let writes = *acked.lock().unwrap();
    println!("embedded store: {cycles} kill -9 cycles, {writes} acknowledged writes, {checked} object checks: none lost");
    assert!(writes > 50, "too few writes to mean anything: {writes}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_etcd_members_lose_no_acknowledged_write() {
    let mut etcd = tokio::task::block_in_place(|| EtcdCluster::start(3));
    let url = etcd.datastore_url();
    let flags = [
        "--disable-controller-manager",
        "--disable-scheduler",
        "--datastore",
        url.as_str(),
    ];
    let s = Server::start_with(&flags);
    let ledger = Arc::new(Mutex::new(Ledger::new()));
    let acked = Arc::new(Mutex::new(0u64));
    let cycles = 3;
    let mut checked = 0;
    for i in 0..cycles {
        let member = i % 3;
        let cluster = &mut etcd;
        write_through(
            s.client().await,
            &ledger,
            &acked,
            Duration::from_millis(2000),
            || cluster.kill(member),
        )
        .await;
        tokio::task::block_in_place(|| etcd.restart(member));
        checked += verify(s.client().await, &ledger).await;
    }
    let writes = *acked.lock().unwrap();
    println!("etcd backend: {cycles} member kill -9 cycles on a 3-member cluster, {writes} acknowledged writes, {checked} object checks: none lost");
    assert!(writes > 50, "too few writes to mean anything: {writes}");
}
