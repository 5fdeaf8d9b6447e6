//! Property test: random operation sequences run in lockstep against the naive `MemStore`
//! model and the durable `EmbeddedStore` must give identical results, and watches opened at
//! random points must deliver exactly the model's events.

use std::time::Duration;

use proptest::prelude::*;
use skiff_store::conformance::{assert_events, events_until_progress, val, Model};
use skiff_store::{
    EmbeddedStore, KeyValue, ListRequest, MemStore, Revision, Store, StoreOptions, WatchStream,
};

const KEYS: [&str; 6] = ["/a/1", "/a/2", "/a/3", "/ab", "/b/1", "/b/2"];
const PREFIXES: [&str; 5] = ["", "/a/", "/a", "/b/", "/c/"];

#[derive(Debug, Clone)]
enum Op {
    Create {
        key: usize,
        val: u8,
    },
    /// `right`: use the live mod revision; otherwise it plus `delta`.
    Update {
        key: usize,
        val: u8,
        right: bool,
        delta: i8,
    },
    Delete {
        key: usize,
        cond: Option<(bool, i8)>,
    },
    Get {
        key: usize,
        at: Option<u8>,
    },
    List {
        prefix: usize,
        after: Option<usize>,
        limit: usize,
        at: Option<u8>,
    },
    Compact {
        at: u8,
    },
    Watch {
        prefix: usize,
        back: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..KEYS.len(), any::<u8>()).prop_map(|(key, val)| Op::Create { key, val }),
        4 => (0..KEYS.len(), any::<u8>(), prop::bool::weighted(0.7), any::<i8>())
            .prop_map(|(key, val, right, delta)| Op::Update { key, val, right, delta }),
        2 => (0..KEYS.len(), prop::option::of((prop::bool::weighted(0.7), any::<i8>())))
            .prop_map(|(key, cond)| Op::Delete { key, cond }),
        2 => (0..KEYS.len(), prop::option::of(any::<u8>()))
            .prop_map(|(key, at)| Op::Get { key, at }),
        2 => (0..PREFIXES.len(), prop::option::of(0..KEYS.len()), 0usize..4,
              prop::option::of(any::<u8>()))
            .prop_map(|(prefix, after, limit, at)| Op::List { prefix, after, limit, at }),
        1 => any::<u8>().prop_map(|at| Op::Compact { at }),
        1 => (0..PREFIXES.len(), any::<u8>()).prop_map(|(prefix, back)| Op::Watch { prefix, back }),
    ]
}

/// Picks a revision in `[-1, current + 1]`: invalid, compacted, valid and future ones.
fn pick(sel: u8, current: Revision) -> Revision {
    i64::from(sel) % (current + 3) - 1
}

fn expected_rev(live: &Option<KeyValue>, right: bool, delta: i8) -> Revision {
    let base = live.as_ref().map_or(1, |kv| kv.mod_revision);
    if right || delta == 0 {
        base
    } else {
        base + i64::from(delta)
    }
}

struct Watch {
    prefix: &'static str,
    after: Revision,
    mem: WatchStream,
    emb: WatchStream,
}

async fn counters(s: &dyn Store) -> (Revision, Revision) {
    (
        s.current_revision().await.unwrap(),
        s.compacted_revision().await.unwrap(),
    )
}

async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        progress_interval: Duration::from_millis(20),
    };
    let mem = MemStore::with_options(options.clone());
    let emb = EmbeddedStore::open_with_options(&dir.path().join("s.redb"), options).unwrap();
    let mut model = Model::default();
    let mut watches: Vec<Watch> = Vec::new();

    for (step, op) in ops.iter().enumerate() {
        let current = mem.current_revision().await.unwrap();
        let ctx = format!("step {step}: {op:?}");
        let (m, e) = match op {
            Op::Create { key, val: v } => {
                let v = val(&v.to_string());
                let (m, e) = (
                    mem.create(KEYS[*key], v.clone()).await,
                    emb.create(KEYS[*key], v).await,
                );
                if let Ok(kv) = &m {
                    model.created(kv);
                }
                (format!("{m:?}"), format!("{e:?}"))
            }
            Op::Update {
                key,
                val: v,
                right,
                delta,
            } => {
                let live = mem.get(KEYS[*key], None).await.unwrap().0;
                let exp = expected_rev(&live, *right, *delta);
                let v = val(&v.to_string());
                let m = mem.update(KEYS[*key], v.clone(), exp).await;
                let e = emb.update(KEYS[*key], v, exp).await;
                if let (Ok(kv), Some(prev)) = (&m, &live) {
                    model.updated(kv, prev);
                }
                (format!("{m:?}"), format!("{e:?}"))
            }
            Op::Delete { key, cond } => {
                let live = mem.get(KEYS[*key], None).await.unwrap().0;
                let exp = cond.map(|(right, delta)| expected_rev(&live, right, delta));
                let (m, e) = (
                    mem.delete(KEYS[*key], exp).await,
                    emb.delete(KEYS[*key], exp).await,
                );
                if let (Ok(kv), Some(prev)) = (&m, &live) {
                    model.deleted(kv, prev);
                }
                (format!("{m:?}"), format!("{e:?}"))
            }
            Op::Get { key, at } => {
                let at = at.map(|a| pick(a, current));
                let (m, e) = (mem.get(KEYS[*key], at).await, emb.get(KEYS[*key], at).await);
                (format!("{m:?}"), format!("{e:?}"))
            }
            Op::List {
                prefix,
                after,
                limit,
                at,
            } => {
                let req = ListRequest {
                    prefix: PREFIXES[*prefix].to_string(),
                    after_key: after.map(|k| KEYS[k].to_string()),
                    limit: *limit,
                    revision: at.map(|a| pick(a, current)),
                };
                let (m, e) = (mem.list(req.clone()).await, emb.list(req).await);
                (format!("{m:?}"), format!("{e:?}"))
            }
            Op::Compact { at } => {
                let mut r = i64::from(*at) % (current + 2);
                // Never compact away events an open watch may still need to replay.
                if let Some(min_after) = watches.iter().map(|w| w.after).min() {
                    r = r.min(min_after + 1);
                }
                let (m, e) = (mem.compact(r).await, emb.compact(r).await);
                (format!("{m:?}"), format!("{e:?}"))
            }
            Op::Watch { prefix, back } => {
                let after = (current - i64::from(*back) % (current + 1)).max(0);
                let prefix = PREFIXES[*prefix];
                match (
                    mem.watch(prefix, after).await,
                    emb.watch(prefix, after).await,
                ) {
                    (Ok(m), Ok(e)) => {
                        if watches.len() < 3 {
                            watches.push(Watch {
                                prefix,
                                after,
                                mem: m,
                                emb: e,
                            });
                        }
                        ("ok".into(), "ok".into())
                    }
                    (m, e) => (format!("{:?}", m.map(drop)), format!("{:?}", e.map(drop))),
                }
            }
        };
        prop_assert_eq!(&m, &e, "{}", ctx);
        prop_assert_eq!(
            counters(&mem).await,
            counters(&emb).await,
            "counters after {}",
            ctx
        );
    }

    let last = mem.current_revision().await.unwrap();
    for mut w in watches {
        let expected = model.expected(w.prefix, w.after);
        let what = format!("watch {:?} after {}", w.prefix, w.after);
        let m = events_until_progress(&mut w.mem, last, &what).await;
        assert_events(&m, &expected, &format!("mem {what}"));
        let e = events_until_progress(&mut w.emb, last, &what).await;
        assert_events(&e, &expected, &format!("embedded {what}"));
    }
    emb.close().unwrap();
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn embedded_matches_model(ops in prop::collection::vec(op(), 1..60)) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(run(ops))?;
    }
}
