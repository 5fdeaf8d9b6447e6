//! The canonical layout of Endpoints subsets (upstream `endpoints.RepackSubsets`) and the
//! truncation to [`MAX_CAPACITY`](super::MAX_CAPACITY) addresses.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EndpointAddress, EndpointPort, EndpointSubset};

use super::address::without_resource_version;

/// An address's identity: IP, then the target's uid (upstream `addressKey`; no target sorts
/// first, like upstream's `LessEndpointAddress`).
type AddrKey = (String, Option<String>);

/// A port's identity and canonical order: name, port, protocol, appProtocol.
type PortKey = (Option<String>, i32, Option<String>, Option<String>);

fn addr_key(a: &EndpointAddress) -> AddrKey {
    (
        a.ip.clone(),
        a.target_ref
            .as_ref()
            .map(|r| r.uid.clone().unwrap_or_default()),
    )
}

fn port_key(p: &EndpointPort) -> PortKey {
    (
        p.name.clone(),
        p.port,
        p.protocol.clone(),
        p.app_protocol.clone(),
    )
}

fn port_of(k: PortKey) -> EndpointPort {
    EndpointPort {
        name: k.0,
        port: k.1,
        protocol: k.2,
        app_protocol: k.3,
    }
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// Upstream `RepackSubsets`: expands subsets to (address, port, ready) facts and packs them
/// again so that each subset holds every address offering exactly its set of ports.
/// Addresses are de-duplicated by IP and target uid (not ready wins over ready for the same
/// port); subsets without ports (headless Services without ports) keep their addresses.
/// Addresses are sorted by IP then uid, ports by name, port, protocol and appProtocol, and
/// subsets by their ports then addresses, so equal inputs give byte-equal outputs. Empty
/// lists are `None`, as the API server encodes them.
pub fn repack_subsets(subsets: &[EndpointSubset]) -> Vec<EndpointSubset> {
    let mut all: BTreeMap<AddrKey, EndpointAddress> = BTreeMap::new();
    // `None` is upstream's sentinel port for subsets without ports.
    let mut by_port: BTreeMap<Option<PortKey>, BTreeMap<AddrKey, bool>> = BTreeMap::new();
    for subset in subsets {
        let ports: Vec<Option<PortKey>> = match subset.ports.as_deref() {
            None | Some([]) => vec![None],
            Some(ports) => ports.iter().map(|p| Some(port_key(p))).collect(),
        };
        let addrs = subset.addresses.iter().flatten().map(|a| (a, true));
        let not_ready = subset
            .not_ready_addresses
            .iter()
            .flatten()
            .map(|a| (a, false));
        let addrs: Vec<(&EndpointAddress, bool)> = addrs.chain(not_ready).collect();
        for port in ports {
            for &(addr, ready) in &addrs {
                let key = addr_key(addr);
                all.entry(key.clone()).or_insert_with(|| addr.clone());
                let set = by_port.entry(port.clone()).or_default();
                if set.get(&key) != Some(&false) {
                    set.insert(key, ready);
                }
            }
        }
    }

    let mut by_addresses: BTreeMap<Vec<(AddrKey, bool)>, Vec<PortKey>> = BTreeMap::new();
    for (port, set) in by_port {
        let ports = by_addresses.entry(set.into_iter().collect()).or_default();
        if let Some(port) = port {
            ports.push(port);
        }
    }

    let mut out: Vec<EndpointSubset> = by_addresses
        .into_iter()
        .map(|(set, mut ports)| {
            ports.sort();
            let pick = |want: bool| -> Vec<EndpointAddress> {
                set.iter()
                    .filter(|(_, ready)| *ready == want)
                    .filter_map(|(k, _)| all.get(k).cloned())
                    .collect()
            };
            EndpointSubset {
                addresses: non_empty(pick(true)),
                not_ready_addresses: non_empty(pick(false)),
                ports: non_empty(ports.into_iter().map(port_of).collect()),
            }
        })
        .collect();
    out.sort_by_cached_key(subset_order);
    out
}

fn subset_order(s: &EndpointSubset) -> (Vec<PortKey>, Vec<AddrKey>, Vec<AddrKey>) {
    (
        s.ports.iter().flatten().map(port_key).collect(),
        s.addresses.iter().flatten().map(addr_key).collect(),
        s.not_ready_addresses
            .iter()
            .flatten()
            .map(addr_key)
            .collect(),
    )
}

fn count(v: &Option<Vec<EndpointAddress>>) -> usize {
    v.as_ref().map_or(0, Vec::len)
}

/// Upstream `truncateEndpoints`: when the subsets hold more than `max` addresses, keeps at
/// most `max`, ready ones first, spreading the cut over subsets in proportion to their size
/// (rounded up, earlier subsets first). Returns whether anything was cut. Unlike upstream, a
/// subset left without any address is dropped, since the API rejects such a subset.
pub fn truncate_subsets(subsets: &mut Vec<EndpointSubset>, max: usize) -> bool {
    let ready: usize = subsets.iter().map(|s| count(&s.addresses)).sum();
    let not_ready: usize = subsets.iter().map(|s| count(&s.not_ready_addresses)).sum();
    if ready + not_ready <= max {
        return false;
    }
    let truncate_ready = ready > max;
    let (limit, total) = if truncate_ready {
        (max, ready)
    } else {
        (max - ready, not_ready)
    };
    let mut can_be_added = limit;
    for subset in subsets.iter_mut() {
        let list = if truncate_ready {
            subset.not_ready_addresses = None;
            &mut subset.addresses
        } else {
            &mut subset.not_ready_addresses
        };
        let n = count(list);
        // Upstream computes the share in float64 and rounds up; do the same.
        let share = ((n as f64 / total as f64) * limit as f64).ceil() as usize;
        let keep = share.min(can_be_added);
        if let Some(v) = list.as_mut() {
            v.truncate(keep);
        }
        if list.as_ref().is_some_and(Vec::is_empty) {
            *list = None;
        }
        can_be_added -= count(list);
    }
    subsets.retain(|s| count(&s.addresses) + count(&s.not_ready_addresses) > 0);
    true
}

/// Subsets in the form [`repack_subsets`] produces them, for comparing what is stored with
/// what is wanted: empty lists as `None`, no target resourceVersion (upstream ignores it), no
/// empty node names or hostnames.
pub fn normalize_subsets(subsets: Option<&[EndpointSubset]>) -> Option<Vec<EndpointSubset>> {
    let norm_addrs = |v: &Option<Vec<EndpointAddress>>| {
        non_empty(
            v.iter()
                .flatten()
                .map(|a| EndpointAddress {
                    ip: a.ip.clone(),
                    hostname: a.hostname.clone().filter(|h| !h.is_empty()),
                    node_name: a.node_name.clone().filter(|n| !n.is_empty()),
                    target_ref: a.target_ref.as_ref().map(without_resource_version),
                })
                .collect(),
        )
    };
    let out: Vec<EndpointSubset> = subsets
        .into_iter()
        .flatten()
        .map(|s| EndpointSubset {
            addresses: norm_addrs(&s.addresses),
            not_ready_addresses: norm_addrs(&s.not_ready_addresses),
            ports: s.ports.clone().and_then(non_empty),
        })
        .collect();
    non_empty(out)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ObjectReference;

    use super::*;

    fn ips(addrs: &Option<Vec<EndpointAddress>>) -> Vec<&str> {
        addrs.iter().flatten().map(|a| a.ip.as_str()).collect()
    }

    fn port_numbers(s: &EndpointSubset) -> Vec<i32> {
        s.ports.iter().flatten().map(|p| p.port).collect()
    }

    fn addr(ip: &str, uid: &str) -> EndpointAddress {
        EndpointAddress {
            ip: ip.into(),
            target_ref: Some(ObjectReference {
                kind: Some("Pod".into()),
                uid: Some(uid.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn port(name: &str, n: i32) -> EndpointPort {
        EndpointPort {
            name: Some(name.into()),
            port: n,
            protocol: Some("TCP".into()),
            app_protocol: None,
        }
    }

    #[test]
    fn truncation_keeps_ready_addresses_first_and_spreads_the_cut_proportionally() {
        let many = |prefix: &str, n: usize| -> Vec<EndpointAddress> {
            (0..n)
                .map(|i| addr(&format!("{prefix}.{i}"), &format!("{prefix}{i}")))
                .collect()
        };
        // 990 ready: room for 10 of the 20 not ready, split 5/5 across two subsets.
        let mut subsets = vec![
            EndpointSubset {
                addresses: Some(many("1", 490)),
                not_ready_addresses: Some(many("2", 10)),
                ports: Some(vec![port("a", 1)]),
            },
            EndpointSubset {
                addresses: Some(many("3", 500)),
                not_ready_addresses: Some(many("4", 10)),
                ports: Some(vec![port("b", 2)]),
            },
        ];
        assert!(truncate_subsets(&mut subsets, 1000));
        let counts: Vec<(usize, usize)> = subsets
            .iter()
            .map(|s| (ips(&s.addresses).len(), ips(&s.not_ready_addresses).len()))
            .collect();
        assert_eq!(counts, [(490, 5), (500, 5)]);

        // More ready addresses than room: not ready ones all go, ready ones are cut 3:1.
        let mut subsets = vec![
            EndpointSubset {
                addresses: Some(many("1", 9)),
                not_ready_addresses: Some(many("2", 4)),
                ports: Some(vec![port("a", 1)]),
            },
            EndpointSubset {
                addresses: Some(many("3", 3)),
                not_ready_addresses: None,
                ports: Some(vec![port("b", 2)]),
            },
        ];
        assert!(truncate_subsets(&mut subsets, 8));
        let counts: Vec<(usize, usize)> = subsets
            .iter()
            .map(|s| (ips(&s.addresses).len(), ips(&s.not_ready_addresses).len()))
            .collect();
        assert_eq!(counts, [(6, 0), (2, 0)]);

        let mut small = subsets.clone();
        assert!(!truncate_subsets(&mut small, 8));
        assert_eq!(small, subsets);
    }

    #[test]
    fn repack_dedups_addresses_and_not_ready_wins_over_ready() {
        let raw = vec![
            EndpointSubset {
                addresses: Some(vec![addr("10.0.0.2", "b"), addr("10.0.0.1", "a")]),
                not_ready_addresses: None,
                ports: Some(vec![port("p", 1)]),
            },
            EndpointSubset {
                addresses: None,
                not_ready_addresses: Some(vec![addr("10.0.0.1", "a")]),
                ports: Some(vec![port("p", 1)]),
            },
            EndpointSubset {
                addresses: Some(vec![addr("10.0.0.1", "a"), addr("10.0.0.1", "a")]),
                not_ready_addresses: None,
                ports: Some(vec![port("q", 2)]),
            },
            // Same IP, another pod: a distinct address.
            EndpointSubset {
                addresses: Some(vec![addr("10.0.0.1", "z")]),
                not_ready_addresses: None,
                ports: Some(vec![port("q", 2)]),
            },
        ];
        let out = repack_subsets(&raw);
        let got: Vec<(Vec<&str>, Vec<&str>, Vec<i32>)> = out
            .iter()
            .map(|s| {
                (
                    ips(&s.addresses),
                    ips(&s.not_ready_addresses),
                    port_numbers(s),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (vec!["10.0.0.2"], vec!["10.0.0.1"], vec![1]),
                (vec!["10.0.0.1", "10.0.0.1"], vec![], vec![2]),
            ]
        );
        assert_eq!(repack_subsets(&out), out);
    }
}
