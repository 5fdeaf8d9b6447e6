//! IPv4 CIDRs (`10.42.0.0/16`): parsing, containment, and carving /24 ranges out of a network
//! (node pod CIDRs).
//!
//! ```
//! use skiff_api::cidr::Ipv4Cidr;
//! let cluster: Ipv4Cidr = "10.42.0.0/16".parse().unwrap();
//! assert_eq!(cluster.nth_24(3).unwrap().to_string(), "10.42.3.0/24");
//! assert!(cluster.contains(&"10.42.3.0/24".parse().unwrap()));
//! ```

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 network such as `10.128.0.0/9` (host bits are cleared when parsed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Cidr {
    network: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Cidr {
    /// The network of `addr` with `prefix` bits (host bits cleared; a prefix over 32 is 32).
    pub const fn new(addr: Ipv4Addr, prefix: u8) -> Self {
        let prefix = if prefix > 32 { 32 } else { prefix };
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        };
        Ipv4Cidr {
            network: Ipv4Addr::from_bits(addr.to_bits() & mask),
            prefix,
        }
    }

    /// Whether `other` lies entirely inside this network.
    pub fn contains(&self, other: &Ipv4Cidr) -> bool {
        other.prefix >= self.prefix && Ipv4Cidr::new(other.network, self.prefix) == *self
    }

    /// The network's first address.
    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// How many /24 ranges the network holds (0 when it is smaller than a /24).
    pub fn count_24(&self) -> u32 {
        if self.prefix > 24 {
            0
        } else {
            1 << (24 - self.prefix)
        }
    }

    /// The `i`-th /24 inside the network, if there is one.
    pub fn nth_24(&self, i: u32) -> Option<Ipv4Cidr> {
        (i < self.count_24()).then(|| Ipv4Cidr {
            network: Ipv4Addr::from(u32::from(self.network) + (i << 8)),
            prefix: 24,
        })
    }
}

/// Why a CIDR string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid IPv4 CIDR {0:?} (expected e.g. 10.128.0.0/9)")]
pub struct CidrError(String);

impl FromStr for Ipv4Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || CidrError(s.to_string());
        let (addr, prefix) = s.trim().split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        Ok(Ipv4Cidr::new(addr, prefix))
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}
