//! IPv4 prefixes (CIDR blocks): parsing, containment, overlap. Small on purpose: the simulator
//! needs exactly these operations, in the per-packet path, without allocation.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 prefix such as `10.0.0.0/16`. Always canonical: host bits are zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Net {
    addr: u32,
    len: u8,
}

/// Why a CIDR string was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CidrError {
    Syntax(String),
    /// `10.0.0.1/16`: host bits set. The clouds refuse these for VPCs and subnets.
    HostBits {
        given: String,
        canonical: Ipv4Net,
    },
}

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CidrError::Syntax(s) => write!(f, "`{s}` is not an IPv4 CIDR block (like 10.0.0.0/16)"),
            CidrError::HostBits { given, canonical } => {
                write!(f, "`{given}` has host bits set; did you mean {canonical}?")
            }
        }
    }
}

impl Ipv4Net {
    pub const ANY: Ipv4Net = Ipv4Net { addr: 0, len: 0 };

    /// A prefix from raw parts; `addr` must already have its host bits cleared.
    pub const fn from_raw(addr: u32, len: u8) -> Ipv4Net {
        Ipv4Net { addr, len }
    }

    /// Builds a prefix, zeroing host bits.
    pub fn new_truncating(addr: Ipv4Addr, len: u8) -> Ipv4Net {
        let len = len.min(32);
        Ipv4Net {
            addr: u32::from(addr) & mask(len),
            len,
        }
    }

    pub fn host(addr: Ipv4Addr) -> Ipv4Net {
        Ipv4Net {
            addr: addr.into(),
            len: 32,
        }
    }

    /// Parses `a.b.c.d/len` strictly (host bits must be zero) or a bare address as /32.
    pub fn parse_strict(s: &str) -> Result<Ipv4Net, CidrError> {
        let net = Self::parse_lenient(s)?;
        let (a, _) = split(s).ok_or_else(|| CidrError::Syntax(s.to_string()))?;
        if u32::from(a) != net.addr {
            return Err(CidrError::HostBits {
                given: s.to_string(),
                canonical: net,
            });
        }
        Ok(net)
    }

    /// Parses and canonicalises (`100.68.0.18/18` becomes `100.68.0.0/18`), as AWS does for
    /// ACL entries.
    pub fn parse_lenient(s: &str) -> Result<Ipv4Net, CidrError> {
        let (a, len) = split(s).ok_or_else(|| CidrError::Syntax(s.to_string()))?;
        Ok(Ipv4Net::new_truncating(a, len))
    }

    pub fn network(self) -> Ipv4Addr {
        self.addr.into()
    }
    pub fn prefix_len(self) -> u8 {
        self.len
    }
    pub fn mask(self) -> u32 {
        mask(self.len)
    }
    #[inline]
    pub fn contains(self, ip: Ipv4Addr) -> bool {
        (u32::from(ip) & mask(self.len)) == self.addr
    }
    #[inline]
    pub fn contains_u32(self, ip: u32) -> bool {
        (ip & mask(self.len)) == self.addr
    }
    /// True when every address of `other` is inside `self`.
    pub fn covers(self, other: Ipv4Net) -> bool {
        other.len >= self.len && self.contains(other.network())
    }
    pub fn overlaps(self, other: Ipv4Net) -> bool {
        self.covers(other) || other.covers(self)
    }
    /// Number of addresses in the block.
    pub fn size(self) -> u64 {
        1u64 << (32 - self.len as u32)
    }
    /// The `n`-th address of the block (n = 0 is the network address).
    pub fn nth(self, n: u32) -> Option<Ipv4Addr> {
        if (n as u64) < self.size() {
            Some((self.addr + n).into())
        } else {
            None
        }
    }
    pub fn broadcast(self) -> Ipv4Addr {
        (self.addr | !mask(self.len)).into()
    }
}

#[inline]
const fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len as u32)
    }
}

fn split(s: &str) -> Option<(Ipv4Addr, u8)> {
    let s = s.trim();
    match s.split_once('/') {
        Some((a, l)) => {
            let a = Ipv4Addr::from_str(a).ok()?;
            let l: u8 = l.parse().ok()?;
            (l <= 32).then_some((a, l))
        }
        None => Some((Ipv4Addr::from_str(s).ok()?, 32)),
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.addr), self.len)
    }
}

/// `10.0.0.0/16` in human-readable formats (JSON output); the address and length as numbers
/// in binary ones (snapshots), like `Ipv4Addr`.
impl serde::Serialize for Ipv4Net {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            serde::Serialize::serialize(&(self.addr, self.len), s)
        }
    }
}

impl<'de> serde::Deserialize<'de> for Ipv4Net {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Ipv4Net, D::Error> {
        use serde::de::Error;
        if d.is_human_readable() {
            let s = <String as serde::Deserialize>::deserialize(d)?;
            Ipv4Net::parse_strict(&s).map_err(D::Error::custom)
        } else {
            let (addr, len) = <(u32, u8) as serde::Deserialize>::deserialize(d)?;
            if len > 32 || addr & !mask(len) != 0 {
                return Err(D::Error::custom(format!("{addr:#x}/{len} is not a prefix")));
            }
            Ok(Ipv4Net { addr, len })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_canonicalises() {
        assert_eq!(
            Ipv4Net::parse_strict("10.0.0.0/16").unwrap().to_string(),
            "10.0.0.0/16"
        );
        assert_eq!(
            Ipv4Net::parse_lenient("100.68.0.18/18")
                .unwrap()
                .to_string(),
            "100.68.0.0/18"
        );
        assert!(matches!(
            Ipv4Net::parse_strict("10.0.0.1/16"),
            Err(CidrError::HostBits { .. })
        ));
        assert!(matches!(
            Ipv4Net::parse_strict("10.0.0.0/33"),
            Err(CidrError::Syntax(_))
        ));
        assert_eq!(Ipv4Net::parse_strict("1.2.3.4").unwrap().prefix_len(), 32);
        assert_eq!(Ipv4Net::parse_strict("0.0.0.0/0").unwrap(), Ipv4Net::ANY);
    }

    #[test]
    fn containment_and_overlap() {
        let vpc = Ipv4Net::parse_strict("172.31.0.0/16").unwrap();
        let sub = Ipv4Net::parse_strict("172.31.16.0/20").unwrap();
        let other = Ipv4Net::parse_strict("172.32.0.0/20").unwrap();
        assert!(vpc.covers(sub));
        assert!(!sub.covers(vpc));
        assert!(vpc.overlaps(sub) && sub.overlaps(vpc));
        assert!(!vpc.overlaps(other));
        assert!(sub.contains("172.31.16.139".parse().unwrap()));
        assert!(!sub.contains("172.31.32.1".parse().unwrap()));
        assert!(Ipv4Net::ANY.contains("203.0.113.12".parse().unwrap()));
        assert_eq!(sub.broadcast().to_string(), "172.31.31.255");
    }
}
