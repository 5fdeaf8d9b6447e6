//! Property: on random small clusters, `schedule` only picks nodes that pass every filter,
//! never overcommits cpu, memory or pod count, and fails only when no node passes.

use super::super::*;
use crate::framework::CycleState;
use crate::testing::{node, pod};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

#[derive(Clone, Debug)]
struct NodeSpec {
    milli_cpu: u32,
    mem_mib: u32,
    pods: u32,
    zone: u8,
    tainted: bool,
    cordoned: bool,
}

#[derive(Clone, Debug)]
struct PodSpec {
    milli_cpu: u32,
    mem_mib: u32,
    priority: i32,
    app: u8,
    tolerates: bool,
    anti_affinity: bool,
    spread: bool,
    zone_selector: Option<u8>,
    host_port: bool,
}

fn node_spec() -> impl Strategy<Value = NodeSpec> {
    (
        1u32..16,
        1u32..32,
        1u32..8,
        0u8..3,
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(c, m, pods, zone, tainted, cordoned)| NodeSpec {
            milli_cpu: c * 500,
            mem_mib: m * 512,
            pods,
            zone,
            tainted,
            cordoned,
        })
}

fn pod_spec() -> impl Strategy<Value = PodSpec> {
    (
        (0u32..12, 0u32..8, 0i32..3, 0u8..3),
        (
            prop::bool::weighted(0.3),
            prop::bool::weighted(0.2),
            prop::bool::weighted(0.2),
            prop::option::weighted(0.2, 0u8..3),
            prop::bool::weighted(0.15),
        ),
    )
        .prop_map(
            |(
                (c, m, priority, app),
                (tolerates, anti_affinity, spread, zone_selector, host_port),
            )| PodSpec {
                milli_cpu: c * 250,
                mem_mib: m * 512,
                priority,
                app,
                tolerates,
                anti_affinity,
                spread,
                zone_selector,
                host_port,
            },
        )
}

const ZONE: &str = "topology.kubernetes.io/zone";

fn build_node(i: usize, s: &NodeSpec) -> k8s_openapi::api::core::v1::Node {
    let mut b = node(&format!("n{i}"))
        .cpu(&format!("{}m", s.milli_cpu))
        .memory(&format!("{}Mi", s.mem_mib))
        .pods(s.pods)
        .label(ZONE, &format!("z{}", s.zone));
    if s.tainted {
        b = b.taint("dedicated", "x", "NoSchedule");
    }
    if s.cordoned {
        b = b.unschedulable();
    }
    b.build()
}

fn build_pod(i: usize, s: &PodSpec) -> Pod {
    let app = format!("app{}", s.app);
    let mut b = pod(&format!("p{i}"))
        .label("app", &app)
        .priority(s.priority);
    if s.milli_cpu > 0 {
        b = b.cpu(&format!("{}m", s.milli_cpu));
    }
    if s.mem_mib > 0 {
        b = b.memory(&format!("{}Mi", s.mem_mib));
    }
    if s.tolerates {
        b = b.toleration("dedicated", "Equal", "x", "NoSchedule");
    }
    if s.anti_affinity {
        b = b.anti_affinity(&[("app", &app)], "kubernetes.io/hostname");
    }
    if s.spread {
        b = b.spread(1, ZONE, "DoNotSchedule", &[("app", &app)]);
    }
    if let Some(z) = s.zone_selector {
        b = b.node_selector(ZONE, &format!("z{z}"));
    }
    if s.host_port {
        b = b.host_port(8080);
    }
    b.build()
}

/// Nodes that pass PreFilter and every Filter, by brute force.
fn feasible(p: &Pod, snap: &Snapshot, profile: &Profile) -> Vec<String> {
    let info = snap.pod_info(p);
    let mut state = CycleState::new();
    let allowed = match profile.run_pre_filter(&mut state, &info, snap) {
        Err(_) => return Vec::new(),
        Ok(a) => a.map(|n| n.nodes),
    };
    snap.nodes()
        .iter()
        .filter(|n| allowed.as_ref().is_none_or(|a| a.contains(n.name())))
        .filter(|n| profile.run_filter(&state, &info, n).is_success())
        .map(|n| n.name().to_string())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn schedule_picks_only_feasible_nodes_and_never_overcommits(
        nodes in prop::collection::vec(node_spec(), 1..6),
        pods in prop::collection::vec(pod_spec(), 1..24),
        seed in any::<u64>(),
    ) {
        let profile = Profile::default();
        let nodes: Vec<_> = nodes.iter().enumerate().map(|(i, s)| build_node(i, s)).collect();
        let mut snap = Snapshot::new(&nodes, &[]);
        let mut rng = StdRng::seed_from_u64(seed);
        for (i, spec) in pods.iter().enumerate() {
            let p = build_pod(i, spec);
            let ok = feasible(&p, &snap, &profile);
            match schedule(&p, &snap, &profile, &mut rng) {
                ScheduleResult::Scheduled(placed) => {
                    prop_assert!(ok.contains(&placed.node), "{} not in feasible {:?}", placed.node, ok);
                    let n = snap.get(&placed.node).expect("chosen node exists");
                    let info = snap.pod_info(&p);
                    prop_assert!(n.requested.milli_cpu + info.requests.milli_cpu <= n.allocatable.milli_cpu);
                    prop_assert!(n.requested.memory + info.requests.memory <= n.allocatable.memory);
                    prop_assert!((n.pods().len() as i64) < n.allocatable.allowed_pod_number);
                    prop_assert!(snap.assume(&p, &placed.node));
                }
                ScheduleResult::Unschedulable(err) => {
                    prop_assert!(ok.is_empty(), "missed feasible nodes {:?}: {}", ok, err);
                    let prefix = format!("0/{} nodes are available", nodes.len());
                    prop_assert!(err.message().starts_with(&prefix), "{}", err);
                }
                other => prop_assert!(false, "unexpected result {:?}", other),
            }
        }
        for n in snap.nodes() {
            prop_assert!(n.requested.milli_cpu <= n.allocatable.milli_cpu);
            prop_assert!(n.requested.memory <= n.allocatable.memory);
        }
    }
}

fn odd_quantity() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "-1",
        "0",
        "1e100",
        "-1e100",
        "abc",
        "",
        "9Ei",
        "0.0000001",
        "1.5Gi",
        "1e-9",
        "+4",
    ])
    .prop_map(str::to_string)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn odd_quantities_never_panic(
        node_q in prop::collection::vec((odd_quantity(), odd_quantity(), odd_quantity()), 1..4),
        pod_q in prop::collection::vec((odd_quantity(), odd_quantity(), 0i32..3), 1..6),
        seed in any::<u64>(),
    ) {
        let nodes: Vec<_> = node_q
            .iter()
            .enumerate()
            .map(|(i, (c, m, p))| node(&format!("n{i}")).cpu(c).memory(m).allocatable("pods", p).build())
            .collect();
        let existing: Vec<_> = pod_q
            .iter()
            .enumerate()
            .map(|(i, (c, m, prio))| {
                pod(&format!("e{i}")).cpu(c).memory(m).priority(*prio).node(&format!("n{}", i % nodes.len())).build()
            })
            .collect();
        let snap = Snapshot::new(&nodes, &existing);
        let mut rng = StdRng::seed_from_u64(seed);
        for (i, (c, m, _)) in pod_q.iter().enumerate() {
            let p = pod(&format!("p{i}")).cpu(c).memory(m).priority(5).build();
            let _ = schedule(&p, &snap, &Profile::default(), &mut rng);
        }
    }
}
