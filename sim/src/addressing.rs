//! Address plans as each cloud's VPC service checks them: the block sizes of VPCs and
//! subnets, the addresses of a subnet the cloud keeps for itself, and how availability zones
//! are named after their region. Data per provider (decisions D2), each value citing the page
//! it comes from (these are VPC documents, not flow-log ones, so none of them is a seed).

use crate::addr::Ipv4Net;
use std::net::Ipv4Addr;

/// What a provider's VPC service allows in an address plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addressing {
    /// Inclusive prefix lengths of a VPC's block.
    pub vpc_prefix: (u8, u8),
    /// Inclusive prefix lengths of a subnet's block.
    pub subnet_prefix: (u8, u8),
    /// Addresses at the start and at the end of every subnet that no interface may take.
    pub reserved: Reserved,
    pub zones: ZoneNames,
}

/// The addresses a cloud keeps in each subnet: the first `first` and the last `last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reserved {
    pub first: u32,
    pub last: u32,
    /// The documented example, as the error message shows it.
    pub example: &'static str,
}

/// How a region's availability zones are named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneNames {
    /// aws: a zone name (`us-east-1a`: the region and a letter) or a zone ID (`use1-az1`: the
    /// region's short code, `-az` and a number). AWS "Availability Zone IDs for your AWS
    /// resources" (RAM User Guide).
    Aws,
    /// The region and a letter: huawei `cn-north-4a` (Huawei Cloud "Regions and AZs").
    RegionLetter,
    /// alibaba (Alibaba Cloud "Regions and zones"): the region, `-` and a letter
    /// (`cn-hangzhou-h`), or the region and a letter when the region ends in a digit
    /// (`ap-southeast-1a`).
    RegionDashLetter,
    /// The region, `-` and a number: tencent `ap-guangzhou-3` (Tencent Cloud "Regions and
    /// Availability Zones").
    RegionDashNumber,
}

impl Addressing {
    /// aws: "The allowed block size is between a /16 netmask (65,536 IP addresses) and /28
    /// netmask (16 IP addresses)", for VPCs and subnets alike; "The first four IP addresses and
    /// the last IP address in each subnet CIDR block are not available for your use" (Amazon
    /// VPC User Guide, "VPC CIDR blocks" and "Subnet CIDR blocks"; policy.md §6.1).
    pub const AWS: Addressing = Addressing {
        vpc_prefix: (16, 28),
        subnet_prefix: (16, 28),
        reserved: Reserved {
            first: 4,
            last: 1,
            example: "in 10.0.0.0/24: 10.0.0.0 to 10.0.0.3 and 10.0.0.255",
        },
        zones: ZoneNames::Aws,
    };

    /// alibaba: a vSwitch's "subnet mask must be 16 to 29 bits long"; "the first IP address
    /// and the last three IP addresses of each vSwitch CIDR block are reserved" (CreateVSwitch
    /// API reference, `CidrBlock`). VPC blocks: vpclab's general /8–/28.
    pub const ALIBABA: Addressing = Addressing {
        vpc_prefix: (8, 28),
        subnet_prefix: (16, 29),
        reserved: Reserved {
            first: 1,
            last: 3,
            example: "in 192.168.1.0/24: 192.168.1.0, 192.168.1.253, 192.168.1.254 and 192.168.1.255",
        },
        zones: ZoneNames::RegionDashLetter,
    };

    /// huawei: a subnet's "mask cannot be greater than 28"; "the first and the last three IP
    /// addresses of each subnet are reserved by the system (in 192.168.1.0/24: 192.168.1.0,
    /// .253, .254 and .255)", and the gateway (the second address) is no interface's either
    /// (VPC API reference, "Creating a Subnet", `cidr`, `gateway_ip`, `allocation_pools`).
    pub const HUAWEI: Addressing = Addressing {
        vpc_prefix: (8, 28),
        subnet_prefix: (8, 28),
        reserved: Reserved {
            first: 2,
            last: 3,
            example: "in 192.168.1.0/24: 192.168.1.0, the gateway 192.168.1.1, 192.168.1.253, \
                      192.168.1.254 and 192.168.1.255",
        },
        zones: ZoneNames::RegionLetter,
    };

    /// tencent: VPC blocks "/12 to /28" inside 10.0.0.0/8 and 172.16.0.0/12 (/16 to /28 inside
    /// 192.168.0.0/16: vpclab keeps /12 for all), subnets up to /28; the network address, the
    /// gateway (the second) and the broadcast address are reserved (Tencent Cloud VPC, "Network
    /// Planning").
    pub const TENCENT: Addressing = Addressing {
        vpc_prefix: (12, 28),
        subnet_prefix: (12, 28),
        reserved: Reserved {
            first: 2,
            last: 1,
            example: "in 10.0.0.0/24: 10.0.0.0, the gateway 10.0.0.1 and 10.0.0.255",
        },
        zones: ZoneNames::RegionDashNumber,
    };

    /// Err(the rule) when `cidr` is not a block a VPC may have.
    pub fn check_vpc_block(&self, cidr: Ipv4Net) -> Result<(), String> {
        check_prefix("VPC block", cidr, self.vpc_prefix)
    }

    /// Err(the rule) when `cidr` is not a block a subnet may have.
    pub fn check_subnet_block(&self, cidr: Ipv4Net) -> Result<(), String> {
        check_prefix("subnet", cidr, self.subnet_prefix)
    }

    /// Whether `ip`, an address of `cidr`, is one the cloud keeps for itself.
    pub fn is_reserved(&self, cidr: Ipv4Net, ip: Ipv4Addr) -> bool {
        let offset = u64::from(u32::from(ip).wrapping_sub(u32::from(cidr.network())));
        offset < u64::from(self.reserved.first)
            || offset + u64::from(self.reserved.last) >= cidr.size()
    }

    /// The addresses of `cidr` an interface may take, lowest first.
    pub fn usable(&self, cidr: Ipv4Net) -> impl Iterator<Item = Ipv4Addr> {
        let end = cidr.size().saturating_sub(u64::from(self.reserved.last));
        (u64::from(self.reserved.first)..end).filter_map(move |n| cidr.nth(n as u32))
    }

    /// Err(the rule) when `zone` is not the name of an availability zone of `region`.
    pub fn check_zone(&self, region: &str, zone: &str) -> Result<(), String> {
        let ok = match self.zones {
            ZoneNames::Aws => {
                zone_suffix(zone, region, "", is_letter)
                    || zone_suffix(zone, &aws_region_code(region), "-az", is_number)
            }
            ZoneNames::RegionLetter => zone_suffix(zone, region, "", is_letter),
            ZoneNames::RegionDashLetter => {
                zone_suffix(zone, region, alibaba_separator(region), is_letter)
            }
            ZoneNames::RegionDashNumber => zone_suffix(zone, region, "-", is_number),
        };
        if ok {
            return Ok(());
        }
        let examples = self.zone_examples(region);
        Err(format!(
            "`{zone}` is not an availability zone of region {region}: use one such as {examples}"
        ))
    }

    /// A region's first zone, for subnets that name none.
    pub fn default_zone(&self, region: &str) -> String {
        self.zone(region, 0)
    }

    /// A region's zone number `n` (from 0), as this cloud names it (letters run to `z`).
    pub fn zone(&self, region: &str, n: usize) -> String {
        let letter = char::from(b'a' + (n.min(25) as u8));
        match self.zones {
            ZoneNames::Aws => format!("{}-az{}", aws_region_code(region), n + 1),
            ZoneNames::RegionLetter => format!("{region}{letter}"),
            ZoneNames::RegionDashLetter => format!("{region}{}{letter}", alibaba_separator(region)),
            ZoneNames::RegionDashNumber => format!("{region}-{}", n + 1),
        }
    }

    fn zone_examples(&self, region: &str) -> String {
        match self.zones {
            ZoneNames::Aws => format!("{region}a or {}", self.default_zone(region)),
            _ => self.default_zone(region),
        }
    }
}

fn check_prefix(what: &str, cidr: Ipv4Net, (low, high): (u8, u8)) -> Result<(), String> {
    if (low..=high).contains(&cidr.prefix_len()) {
        Ok(())
    } else {
        Err(format!("{what} {cidr} must be between /{low} and /{high}"))
    }
}

/// Whether `zone` is `head`, `sep` and a suffix `tail` accepts.
fn zone_suffix(zone: &str, head: &str, sep: &str, tail: fn(&str) -> bool) -> bool {
    zone.strip_prefix(head)
        .and_then(|rest| rest.strip_prefix(sep))
        .is_some_and(tail)
}

/// What comes between an alibaba region and its zone's letter.
fn alibaba_separator(region: &str) -> &'static str {
    if region.ends_with(|c: char| c.is_ascii_digit()) {
        ""
    } else {
        "-"
    }
}

fn is_letter(s: &str) -> bool {
    s.len() == 1 && s.bytes().all(|b| b.is_ascii_lowercase())
}

fn is_number(s: &str) -> bool {
    (1..=2).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) && !s.starts_with('0')
}

/// The short code aws zone IDs start with: `us-east-1` → `use1`, `ap-southeast-2` → `apse2`,
/// `us-gov-west-1` → `usgw1`, `eu-central-1` → `euc1`.
fn aws_region_code(region: &str) -> String {
    region
        .split('-')
        .enumerate()
        .map(|(i, part)| {
            if i == 0 || part.bytes().all(|b| b.is_ascii_digit()) {
                return part.to_string();
            }
            let compass = [
                ("northeast", "ne"),
                ("northwest", "nw"),
                ("southeast", "se"),
                ("southwest", "sw"),
                ("north", "n"),
                ("south", "s"),
                ("east", "e"),
                ("west", "w"),
                ("central", "c"),
            ];
            match compass.iter().find(|(word, _)| *word == part) {
                Some((_, code)) => code.to_string(),
                None => part.chars().take(1).collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        Ipv4Net::parse_strict(s).unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn reserved_addresses_follow_each_cloud() {
        let c = net("10.0.1.0/24");
        // (cloud, first usable, last usable)
        let cases = [
            (Addressing::AWS, "10.0.1.4", "10.0.1.254"),
            (Addressing::ALIBABA, "10.0.1.1", "10.0.1.252"),
            (Addressing::HUAWEI, "10.0.1.2", "10.0.1.252"),
            (Addressing::TENCENT, "10.0.1.2", "10.0.1.254"),
        ];
        for (a, first, last) in cases {
            let usable: Vec<Ipv4Addr> = a.usable(c).collect();
            assert_eq!(usable.first(), Some(&ip(first)), "{a:?}");
            assert_eq!(usable.last(), Some(&ip(last)), "{a:?}");
            let reserved = 256 - usable.len() as u32;
            assert_eq!(reserved, a.reserved.first + a.reserved.last, "{a:?}");
            for n in 0..256 {
                let h = c.nth(n).unwrap();
                assert_eq!(a.is_reserved(c, h), !usable.contains(&h), "{a:?} {h}");
            }
        }
    }

    #[test]
    fn block_sizes_follow_each_cloud() {
        assert!(Addressing::AWS.check_vpc_block(net("10.0.0.0/16")).is_ok());
        assert_eq!(
            Addressing::AWS.check_vpc_block(net("10.0.0.0/15")),
            Err("VPC block 10.0.0.0/15 must be between /16 and /28".into())
        );
        assert!(
            Addressing::AWS
                .check_subnet_block(net("10.0.0.0/28"))
                .is_ok()
        );
        assert!(
            Addressing::AWS
                .check_subnet_block(net("10.0.0.0/29"))
                .is_err()
        );
        assert!(
            Addressing::ALIBABA
                .check_subnet_block(net("10.0.0.0/29"))
                .is_ok()
        );
        assert!(
            Addressing::ALIBABA
                .check_subnet_block(net("10.0.0.0/15"))
                .is_err()
        );
        assert!(
            Addressing::HUAWEI
                .check_vpc_block(net("10.0.0.0/8"))
                .is_ok()
        );
        assert!(
            Addressing::HUAWEI
                .check_subnet_block(net("10.0.0.0/29"))
                .is_err()
        );
        assert!(
            Addressing::TENCENT
                .check_vpc_block(net("10.0.0.0/11"))
                .is_err()
        );
    }

    #[test]
    fn zones_belong_to_their_region() {
        let ok = [
            (Addressing::AWS, "us-east-1", "us-east-1a"),
            (Addressing::AWS, "us-east-1", "use1-az1"),
            (Addressing::AWS, "us-west-2", "usw2-az4"),
            (Addressing::AWS, "ap-southeast-2", "apse2-az3"),
            (Addressing::AWS, "us-gov-west-1", "usgw1-az1"),
            (Addressing::AWS, "eu-central-1", "euc1-az2"),
            (Addressing::HUAWEI, "cn-north-4", "cn-north-4a"),
            (Addressing::ALIBABA, "cn-hangzhou", "cn-hangzhou-h"),
            (Addressing::ALIBABA, "ap-southeast-1", "ap-southeast-1c"),
            (Addressing::TENCENT, "ap-guangzhou", "ap-guangzhou-3"),
            (Addressing::TENCENT, "ap-guangzhou", "ap-guangzhou-10"),
        ];
        for (a, region, zone) in ok {
            assert_eq!(a.check_zone(region, zone), Ok(()), "{zone}");
        }
        let refused = [
            (Addressing::AWS, "us-east-1", "usw2-az1"),
            (Addressing::AWS, "us-east-1", "us-east-1"),
            (Addressing::AWS, "us-east-1", "us-east-2a"),
            (Addressing::HUAWEI, "cn-north-4", "cn-north-1a"),
            (Addressing::ALIBABA, "cn-hangzhou", "cn-hangzhou-1"),
            (Addressing::ALIBABA, "ap-southeast-1", "ap-southeast-1-c"),
            (Addressing::AWS, "eu-ést-1", "eu-ést-1a-"),
            (Addressing::TENCENT, "ap-guangzhou", "ap-shanghai-2"),
            (Addressing::TENCENT, "ap-guangzhou", "ap-guangzhou-03"),
        ];
        for (a, region, zone) in refused {
            assert!(a.check_zone(region, zone).is_err(), "{zone}");
        }
        assert_eq!(
            Addressing::AWS.check_zone("us-east-1", "usw2-az1"),
            Err(
                "`usw2-az1` is not an availability zone of region us-east-1: use one such as \
                 us-east-1a or use1-az1"
                    .into()
            )
        );
    }

    #[test]
    fn default_zones_are_the_regions_own() {
        for (a, region) in [
            (Addressing::AWS, "us-east-1"),
            (Addressing::HUAWEI, "cn-north-4"),
            (Addressing::ALIBABA, "cn-hangzhou"),
            (Addressing::ALIBABA, "ap-southeast-1"),
            (Addressing::AWS, "eu-ést-1"),
            (Addressing::TENCENT, "ap-guangzhou"),
        ] {
            assert_eq!(a.check_zone(region, &a.default_zone(region)), Ok(()));
        }
        assert_eq!(Addressing::AWS.default_zone("us-east-1"), "use1-az1");
    }
}
