//! Deterministic resource IDs in each cloud's style (D19), drawn from the world's seeded
//! generator so the same scenario and seed always name things the same way.

use rand::{Rng, RngExt};

use crate::profile::IdStyle;

const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &[u8] = b"0123456789abcdef";

fn draw(rng: &mut impl Rng, alphabet: &[u8], n: usize) -> String {
    (0..n)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// A UUID (version 4 layout) from the generator: huawei's resource IDs.
pub fn uuid(rng: &mut impl Rng) -> String {
    let h = draw(rng, HEX, 32);
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// A Direct Connect virtual interface's ID: `dxvif-` and 8 lowercase letters and digits
/// (`dxvif-fgabcd12`, Direct Connect API `DescribeVirtualInterfaces`).
pub fn virtual_interface(rng: &mut impl Rng) -> String {
    format!("dxvif-{}", draw(rng, ALNUM, 8))
}

/// An ID for a resource of kind `prefix` (`vpc`, `subnet`, `eni`, `sg`, `acl`, `rtb`, `igw`,
/// `i`, `fl`). alibaba calls subnets `vsw`; tencent calls instances `ins`.
pub fn resource(rng: &mut impl Rng, style: IdStyle, prefix: &str) -> String {
    match style {
        IdStyle::Aws => format!("{prefix}-{}", draw(rng, HEX, 17)),
        IdStyle::Tencent => {
            let prefix = if prefix == "i" { "ins" } else { prefix };
            format!("{prefix}-{}", draw(rng, ALNUM, 8))
        }
        IdStyle::Alibaba => {
            let prefix = match prefix {
                "subnet" => "vsw",
                // Alibaba's peering connections are `pcc-…` (VPC API, CreateVpcPeerConnection).
                "pcx" => "pcc",
                p => p,
            };
            format!("{prefix}-{}", draw(rng, ALNUM, 22))
        }
        IdStyle::Huawei => uuid(rng),
    }
}

/// An account (or project) ID: aws 12 digits, tencent AppID 10 digits, alibaba 16 digits,
/// huawei project ID 32 hex.
pub fn account(rng: &mut impl Rng, style: IdStyle) -> String {
    const DIGITS: &[u8] = b"0123456789";
    match style {
        IdStyle::Aws => format!("{}{}", draw(rng, b"123456789", 1), draw(rng, DIGITS, 11)),
        IdStyle::Tencent => format!("1{}", draw(rng, DIGITS, 9)),
        IdStyle::Alibaba => format!("1{}", draw(rng, DIGITS, 15)),
        IdStyle::Huawei => draw(rng, HEX, 32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn shapes_follow_d19() {
        let mut r = ChaCha8Rng::seed_from_u64(1);
        let aws = resource(&mut r, IdStyle::Aws, "eni");
        assert!(
            aws.starts_with("eni-")
                && aws.len() == 21
                && aws[4..].chars().all(|c| c.is_ascii_hexdigit())
        );
        let tc = resource(&mut r, IdStyle::Tencent, "eni");
        assert_eq!(tc.len(), 12);
        let ali = resource(&mut r, IdStyle::Alibaba, "eni");
        assert_eq!(ali.len(), 26);
        let hw = resource(&mut r, IdStyle::Huawei, "eni");
        assert_eq!(hw.len(), 36);
        assert_eq!(hw.matches('-').count(), 4);
        assert_eq!(account(&mut r, IdStyle::Huawei).len(), 32);
        assert_eq!(account(&mut r, IdStyle::Aws).len(), 12);
    }

    #[test]
    fn same_seed_same_ids() {
        let a: Vec<_> = (0..5)
            .map({
                let mut r = ChaCha8Rng::seed_from_u64(42);
                move |_| resource(&mut r, IdStyle::Aws, "vpc")
            })
            .collect();
        let b: Vec<_> = (0..5)
            .map({
                let mut r = ChaCha8Rng::seed_from_u64(42);
                move |_| resource(&mut r, IdStyle::Aws, "vpc")
            })
            .collect();
        assert_eq!(a, b);
    }
}
