//! Addresses of simulated nodes and pods: each node's InternalIP, its /24 pod range carved out
//! of `--pod-cidr`, and a per-node allocator handing out pod IPs from that range.

use std::net::Ipv4Addr;

pub use skiff_api::cidr::{CidrError, Ipv4Cidr};

/// The default `--pod-cidr`: 10.128.0.0/9, room for 32768 nodes' /24s.
pub const DEFAULT_POD_CIDR: Ipv4Cidr = Ipv4Cidr::new(Ipv4Addr::new(10, 128, 0, 0), 9);

/// Nodes whose InternalIP [`node_ip`] can give: 10.127.0.0/16 without .0 and .255 endings.
pub const MAX_NODES: u32 = 256 * 254;

/// The fake InternalIP of node `i`: 10.127.x.y with y in 1..=254, unique for
/// `i < MAX_NODES`.
pub fn node_ip(i: u32) -> Option<Ipv4Addr> {
    if i >= MAX_NODES {
        return None;
    }
    let x = u8::try_from(i / 254).ok()?;
    let y = u8::try_from(i % 254 + 1).ok()?;
    Some(Ipv4Addr::new(10, 127, x, y))
}

/// First and last host number handed out in a /24 (`.1` is left for a gateway, as CNI
/// host-local does).
const FIRST_HOST: u8 = 2;
const LAST_HOST: u8 = 254;

/// Pod IPs of one node's /24: `.2` … `.254`, handed out round-robin so a freed address is not
/// reused at once (like CNI host-local). 40 bytes per node.
#[derive(Clone, Debug)]
pub struct IpPool {
    base: u32,
    used: [u64; 4],
    next: u8,
}

impl IpPool {
    /// An empty pool over the /24 that starts at `range`'s network address.
    pub fn new(range: Ipv4Cidr) -> Self {
        Self {
            base: u32::from(range.network()) & !0xff,
            used: [0; 4],
            next: FIRST_HOST,
        }
    }

    fn host(&self, ip: Ipv4Addr) -> Option<u8> {
        let ip = u32::from(ip);
        let host = u8::try_from(ip & 0xff).ok()?;
        (ip & !0xff == self.base && (FIRST_HOST..=LAST_HOST).contains(&host)).then_some(host)
    }

    fn is_used(&self, host: u8) -> bool {
        self.used[usize::from(host / 64)] & (1 << (host % 64)) != 0
    }

    fn set(&mut self, host: u8, used: bool) {
        let (word, bit) = (usize::from(host / 64), 1u64 << (host % 64));
        if used {
            self.used[word] |= bit;
        } else {
            self.used[word] &= !bit;
        }
    }

    /// The next free address, or `None` when all 253 are taken.
    pub fn allocate(&mut self) -> Option<Ipv4Addr> {
        let span = LAST_HOST - FIRST_HOST + 1;
        for step in 0..span {
            let host = FIRST_HOST + (self.next - FIRST_HOST + step) % span;
            if !self.is_used(host) {
                self.set(host, true);
                self.next = if host == LAST_HOST {
                    FIRST_HOST
                } else {
                    host + 1
                };
                return Some(Ipv4Addr::from(self.base | u32::from(host)));
            }
        }
        None
    }

    /// Marks `ip` as taken (a pod that already had it when the sim started). Returns false if
    /// it is outside the pool or already taken.
    pub fn reserve(&mut self, ip: Ipv4Addr) -> bool {
        match self.host(ip) {
            Some(h) if !self.is_used(h) => {
                self.set(h, true);
                true
            }
            _ => false,
        }
    }

    /// Returns `ip` to the pool (no effect if it is not from this pool).
    pub fn release(&mut self, ip: Ipv4Addr) {
        if let Some(h) = self.host(ip) {
            self.set(h, false);
        }
    }

    /// Addresses in use.
    pub fn in_use(&self) -> u32 {
        self.used.iter().map(|w| w.count_ones()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Ipv4Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_masks_host_bits() {
        assert_eq!(cidr("10.128.0.0/9"), DEFAULT_POD_CIDR);
        assert_eq!(cidr("10.130.5.7/16").to_string(), "10.130.0.0/16");
        assert_eq!(cidr("0.0.0.0/0").count_24(), 1 << 24);
        for bad in ["10.0.0.0", "10.0.0.0/33", "10.0.0/8", "x/8", "10.0.0.0/-1"] {
            assert!(bad.parse::<Ipv4Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn node_i_gets_the_ith_24() {
        let c = cidr("10.128.0.0/9");
        assert_eq!(c.count_24(), 32768);
        assert_eq!(c.nth_24(0).unwrap().to_string(), "10.128.0.0/24");
        assert_eq!(c.nth_24(1).unwrap().to_string(), "10.128.1.0/24");
        assert_eq!(c.nth_24(256).unwrap().to_string(), "10.129.0.0/24");
        assert_eq!(c.nth_24(32768), None);
        assert_eq!(cidr("10.0.0.0/25").count_24(), 0);
    }

    #[test]
    fn node_ips_are_unique_and_avoid_network_and_broadcast() {
        assert_eq!(node_ip(0), Some(Ipv4Addr::new(10, 127, 0, 1)));
        assert_eq!(node_ip(253), Some(Ipv4Addr::new(10, 127, 0, 254)));
        assert_eq!(node_ip(254), Some(Ipv4Addr::new(10, 127, 1, 1)));
        assert_eq!(
            node_ip(MAX_NODES - 1),
            Some(Ipv4Addr::new(10, 127, 255, 254))
        );
        assert_eq!(node_ip(MAX_NODES), None);
        let all: std::collections::HashSet<_> = (0..MAX_NODES).filter_map(node_ip).collect();
        assert_eq!(all.len(), MAX_NODES as usize);
    }

    #[test]
    fn pool_hands_out_2_to_254_then_runs_dry() {
        let mut p = IpPool::new(cidr("10.128.3.0/24"));
        assert_eq!(p.allocate(), Some(Ipv4Addr::new(10, 128, 3, 2)));
        for _ in 3..=254 {
            assert!(p.allocate().is_some());
        }
        assert_eq!(p.in_use(), 253);
        assert_eq!(p.allocate(), None);
        p.release(Ipv4Addr::new(10, 128, 3, 77));
        assert_eq!(p.allocate(), Some(Ipv4Addr::new(10, 128, 3, 77)));
    }

    #[test]
    fn pool_does_not_reuse_a_freed_address_at_once() {
        let mut p = IpPool::new(cidr("10.128.0.0/24"));
        let a = p.allocate().unwrap();
        p.release(a);
        assert_ne!(p.allocate(), Some(a));
    }

    #[test]
    fn reserve_skips_taken_and_foreign_addresses() {
        let mut p = IpPool::new(cidr("10.128.0.0/24"));
        assert!(p.reserve(Ipv4Addr::new(10, 128, 0, 2)));
        assert!(!p.reserve(Ipv4Addr::new(10, 128, 0, 2)));
        assert!(!p.reserve(Ipv4Addr::new(10, 128, 1, 2)));
        assert!(!p.reserve(Ipv4Addr::new(10, 128, 0, 1)));
        assert!(!p.reserve(Ipv4Addr::new(10, 128, 0, 255)));
        assert_eq!(p.allocate(), Some(Ipv4Addr::new(10, 128, 0, 3)));
        p.release(Ipv4Addr::new(9, 9, 9, 9));
        assert_eq!(p.in_use(), 2);
    }
}
