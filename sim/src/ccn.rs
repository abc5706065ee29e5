//! Cloud Connect Networks (tencent's CCN; alibaba's CEN plays the same part): VPCs of several
//! regions joined by one network, the routes they learn from it, and the region-pair
//! bandwidth limits that throttle the traffic between regions. Also the token bucket that
//! enforces a bandwidth limit on the virtual clock, which ENI bandwidth limits share.
//!
//! Sources: seed `004_252b6bcbbaaf3f99.txt` (tencent: CCN cross-region flow logs, their key
//! "quintuple + traffic source region + traffic destination region", REJECT = "cross-region
//! traffic that is blocked due to rate limiting", ENI egress captured before rate limiting and
//! ingress after); `docs/reference/flowlogs.md` §3.1 (alibaba CEN records) and §3.4; decisions D11
//! (CCN window 60 s, start/end = first/last packet), D13, D20.
//!
//! What a CCN is here (the per-packet hop is the world's, `world/connect.rs`):
//! - **Attachments**: VPCs (tencent's "instances"), each with its block and region. A VPC joins
//!   one CCN at most, and the blocks of a CCN's VPCs may not overlap. Joining publishes the
//!   VPC's block: every other attached VPC learns a route to it, as tencent adds routes with
//!   next hop CCN to a VPC's route tables when it joins. vpclab keeps these learned routes
//!   here, beside the VPCs' own tables (a scenario never writes them), and the world runs one
//!   longest-prefix match over both: a table route at least as long as the learned one wins
//!   (the learned route conflicts with it and is not used).
//! - **Bandwidth limits**: a limit names two regions and a rate in bits per second. The seeds
//!   say nothing of direction; vpclab's choice is that each direction of the pair has a
//!   bucket of its own at that rate (a duplex link), so a request flood one way does not
//!   starve the replies. Pairs without a limit are not throttled. Traffic between VPCs of one
//!   region never is, and never appears in a CCN flow log (seed 004: these logs are of
//!   cross-region traffic).
//! - **Token bucket** ([`TokenBucket`]): it holds one second of its rate and starts full. It
//!   refills at the rate over the virtual time that passed (rate × elapsed, exact integer
//!   arithmetic in bit-microseconds: no rounding, no wall clock). A packet passes when the
//!   bucket holds its IP length in bits, which are taken out; otherwise it is dropped (no
//!   queueing, no partial credit) and takes nothing.
//! - **Capture points** for CCN flow logs: point 0 is the CCN as a whole (a window in which it
//!   carried nothing the flow log keeps gives one NODATA record there); then one per ordered
//!   pair of attached VPCs in different regions, in order of attachment, whose records carry
//!   the source and destination regions. The 5-tuple settles the pair (blocks do not overlap),
//!   so a point's records are keyed exactly by "quintuple + source region + destination
//!   region".
//!
//! What it does not: route policies or selective publishing, region outbound-bandwidth caps,
//! the free default cross-region bandwidth, detaching a VPC or deleting a CCN, queueing or
//! shaping (packets over a limit are dropped, never delayed).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::Direction;
use crate::addr::Ipv4Net;
use crate::flowlog::CaptureMeta;
use crate::time::Time;

/// Bit-microseconds in one bit: bucket contents are kept in bits × 10⁻⁶, so that a refill of
/// `rate` bits per second over `n` microseconds is exactly `rate × n`.
const MICRO: u128 = 1_000_000;

/// A token bucket on the virtual clock: `rate` bits per second, holding at most one second of
/// it, full when created (module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenBucket {
    rate: u64,
    /// Bit-microseconds available.
    tokens: u128,
    /// When `tokens` was last brought up to date.
    last: Time,
}

impl TokenBucket {
    /// A full bucket of `rate` bits per second, at `now`.
    pub fn new(rate: u64, now: Time) -> TokenBucket {
        TokenBucket {
            rate,
            tokens: Self::capacity_of(rate),
            last: now,
        }
    }

    fn capacity_of(rate: u64) -> u128 {
        rate as u128 * MICRO
    }

    /// Bits per second.
    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// Whole bits in the bucket at its last update.
    pub fn bits(&self) -> u64 {
        (self.tokens / MICRO) as u64
    }

    /// Refills for the time since the last update, then takes a packet of `bytes` if the
    /// bucket holds it. `now` earlier than the last update (never, on one clock) refills
    /// nothing.
    pub fn admit(&mut self, now: Time, bytes: u64) -> bool {
        let capacity = Self::capacity_of(self.rate);
        if now > self.last {
            let elapsed = now.saturating_sub(self.last).micros() as u128;
            self.tokens = (self.tokens + self.rate as u128 * elapsed).min(capacity);
            self.last = now;
        }
        let cost = bytes as u128 * 8 * MICRO;
        if self.tokens >= cost {
            self.tokens -= cost;
            true
        } else {
            false
        }
    }
}

/// A bandwidth limit in both directions of something (a region pair, an ENI): one bucket per
/// direction at the same rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Bandwidth {
    buckets: [TokenBucket; 2],
}

impl Bandwidth {
    pub fn new(rate: u64, now: Time) -> Bandwidth {
        let b = TokenBucket::new(rate, now);
        Bandwidth { buckets: [b, b] }
    }

    /// Bits per second, in each direction.
    pub fn rate(&self) -> u64 {
        self.buckets[0].rate
    }

    /// Does a packet of `bytes` fit the limit in `direction` at `now`?
    pub fn admit(&mut self, now: Time, direction: Direction, bytes: u64) -> bool {
        self.buckets[direction as usize].admit(now, bytes)
    }
}

/// A VPC attached to a CCN.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Attachment {
    /// alibaba: the transit-router attachment's id (`tr-attach-…`); tencent, whose
    /// attachments have none: the VPC's id.
    pub id: String,
    pub vpc: u32,
    pub vpc_id: String,
    pub vpc_name: String,
    /// The block it publishes (the VPC's).
    pub cidr: Ipv4Net,
    pub region: String,
}

/// A region-pair bandwidth limit: `regions[0]`→`regions[1]` is [`Direction::Egress`]'s bucket,
/// the reverse [`Direction::Ingress`]'s (a convention of this module only).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limit {
    pub regions: [String; 2],
    pub bandwidth: Bandwidth,
}

impl Limit {
    /// The bucket of traffic from `from` to `to`, if this limit is of that pair.
    fn direction(&self, from: &str, to: &str) -> Option<Direction> {
        if self.regions[0] == from && self.regions[1] == to {
            Some(Direction::Egress)
        } else if self.regions[1] == from && self.regions[0] == to {
            Some(Direction::Ingress)
        } else {
            None
        }
    }
}

/// What a CCN did with a cross-region packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Forwarded; `Some(rate)` when the pair has a limit.
    Passed(Option<u64>),
    /// Dropped: over the pair's limit of this many bits per second.
    Throttled(u64),
}

/// A capture point of CCN flow logs: the whole CCN (`pair` `None`), or traffic from one
/// attachment to another in another region.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Point {
    pair: Option<(u32, u32)>,
    meta: Arc<CaptureMeta>,
}

/// One Cloud Connect Network.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Ccn {
    pub id: String,
    pub name: String,
    /// In order of attachment.
    pub attachments: Vec<Attachment>,
    pub limits: Vec<Limit>,
    /// The live flow logs capturing it (kept by the world).
    pub logs: Vec<u32>,
    points: Vec<Point>,
}

impl Ccn {
    /// A CCN with no attachment; `meta` describes it as a whole (capture point 0).
    pub fn new(id: String, name: String, meta: Arc<CaptureMeta>) -> Ccn {
        Ccn {
            id,
            name,
            attachments: Vec::new(),
            limits: Vec::new(),
            logs: Vec::new(),
            points: vec![Point { pair: None, meta }],
        }
    }

    /// The attachment of VPC `vpc`.
    pub fn attachment_of(&self, vpc: u32) -> Option<u32> {
        self.attachments
            .iter()
            .position(|a| a.vpc == vpc)
            .map(|a| a as u32)
    }

    /// The learned route for `dst` seen from VPC `from`: the other attachment whose block
    /// holds it, the longest such block first.
    pub fn route(&self, from: u32, dst: Ipv4Addr) -> Option<u32> {
        self.attachments
            .iter()
            .enumerate()
            .filter(|(_, a)| a.vpc != from && a.cidr.contains(dst))
            .max_by_key(|(_, a)| a.cidr.prefix_len())
            .map(|(i, _)| i as u32)
    }

    /// Adds an attachment; `meta(from, to)` describes the capture point of each new ordered
    /// pair of attachments in different regions (to and from the new one).
    pub fn attach(
        &mut self,
        attachment: Attachment,
        mut meta: impl FnMut(&Attachment, &Attachment) -> Arc<CaptureMeta>,
    ) {
        let new = self.attachments.len() as u32;
        self.attachments.push(attachment);
        for other in 0..new {
            let (a, b) = (
                &self.attachments[other as usize],
                &self.attachments[new as usize],
            );
            if a.region == b.region {
                continue;
            }
            let (to_new, from_new) = (meta(a, b), meta(b, a));
            self.points.push(Point {
                pair: Some((other, new)),
                meta: to_new,
            });
            self.points.push(Point {
                pair: Some((new, other)),
                meta: from_new,
            });
        }
    }

    /// The capture point of traffic from attachment `from` to attachment `to`.
    pub fn point(&self, from: u32, to: u32) -> Option<u32> {
        self.points
            .iter()
            .position(|p| p.pair == Some((from, to)))
            .map(|p| p as u32)
    }

    /// What records of capture point `point` say about where they were captured.
    pub fn point_meta(&self, point: u32) -> Arc<CaptureMeta> {
        let p = self.points.get(point as usize).unwrap_or(&self.points[0]);
        p.meta.clone()
    }

    /// The regions of capture point `point` (source, destination), unless it is the CCN as a
    /// whole.
    pub fn point_regions(&self, point: u32) -> Option<(&str, &str)> {
        let (a, b) = self.points.get(point as usize)?.pair?;
        Some((
            &self.attachments[a as usize].region,
            &self.attachments[b as usize].region,
        ))
    }

    /// Is any attached VPC in `region`?
    pub fn has_region(&self, region: &str) -> bool {
        self.attachments.iter().any(|a| a.region == region)
    }

    /// Sets the limit of a region pair (both directions), replacing the pair's previous one.
    pub fn set_limit(&mut self, regions: [String; 2], bandwidth: Bandwidth) {
        let same = |l: &Limit| l.direction(&regions[0], &regions[1]).is_some();
        match self.limits.iter_mut().find(|l| same(l)) {
            Some(l) => {
                l.regions = regions;
                l.bandwidth = bandwidth;
            }
            None => self.limits.push(Limit { regions, bandwidth }),
        }
    }

    /// The limit from region `from` to region `to`, bits per second.
    pub fn limit(&self, from: &str, to: &str) -> Option<u64> {
        self.limits
            .iter()
            .find(|l| l.direction(from, to).is_some())
            .map(|l| l.bandwidth.rate())
    }

    /// Runs a packet of `bytes` from attachment `from` to attachment `to` through the
    /// limit of their regions' pair, at `now`. The caller has checked that the regions differ.
    pub fn admit(&mut self, now: Time, from: u32, to: u32, bytes: u64) -> Admission {
        let (a, b) = (
            &self.attachments[from as usize].region,
            &self.attachments[to as usize].region,
        );
        let found = self
            .limits
            .iter_mut()
            .find_map(|l| l.direction(a, b).map(|d| (l, d)));
        match found {
            None => Admission::Passed(None),
            Some((l, d)) => {
                let rate = l.bandwidth.rate();
                if l.bandwidth.admit(now, d, bytes) {
                    Admission::Passed(Some(rate))
                } else {
                    Admission::Throttled(rate)
                }
            }
        }
    }

    /// A record's action in words, for its ground truth: forwarded, or dropped over the
    /// pair's limit.
    pub fn verdict_words(&self, point: u32, dropped: bool) -> String {
        let Some((from, to)) = self.point_regions(point) else {
            return format!("CCN {}", self.id);
        };
        let limit = self.limit(from, to);
        match (dropped, limit) {
            (true, Some(rate)) => throttled_words(&self.id, from, to, rate),
            (true, None) => format!("dropped by CCN {}: region pair {from}→{to}", self.id),
            (false, Some(rate)) => format!(
                "CCN {}: forwarded {from}→{to}, within its {} limit",
                self.id,
                rate_text(rate)
            ),
            (false, None) => format!(
                "CCN {}: forwarded {from}→{to} (no bandwidth limit on the pair)",
                self.id
            ),
        }
    }
}

/// "dropped by CCN ccn-…: region pair ap-guangzhou→ap-shanghai over its 1 Mbit/s limit".
pub fn throttled_words(ccn: &str, from: &str, to: &str, rate: u64) -> String {
    format!(
        "dropped by CCN {ccn}: region pair {from}→{to} over its {} limit",
        rate_text(rate)
    )
}

/// The world's CCNs, by index, with their IDs.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Ccns {
    pub items: Vec<Ccn>,
    ids: BTreeMap<String, u32>,
}

impl Ccns {
    pub fn find(&self, id: &str) -> Option<u32> {
        self.ids.get(id).copied()
    }

    pub fn by_name(&self, name: &str) -> Option<u32> {
        self.items
            .iter()
            .position(|c| c.name == name)
            .map(|c| c as u32)
    }

    pub fn get(&self, c: u32) -> Option<&Ccn> {
        self.items.get(c as usize)
    }

    /// Adds a CCN whose ID is not taken (the caller checked); gives its index.
    pub fn push(&mut self, ccn: Ccn) -> u32 {
        let c = self.items.len() as u32;
        self.ids.insert(ccn.id.clone(), c);
        self.items.push(ccn);
        c
    }
}

/// Region IDs as the clouds write them (`ap-guangzhou`, `cn-hangzhou`, `us-east-1`): 1–64
/// lowercase letters, digits and `-`, starting with a letter.
pub fn check_region(region: &str) -> Result<(), String> {
    let ok = !region.is_empty()
        && region.len() <= 64
        && region.starts_with(|c: char| c.is_ascii_lowercase())
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{region}` is not a region ID: use lowercase letters, digits and `-`, starting with \
             a letter (e.g. ap-guangzhou)"
        ))
    }
}

/// A rate in words, exactly: `1 Mbit/s`, `1.5 Mbit/s`, `500 kbit/s`, `800 bit/s`, `1000001 bit/s`.
pub fn rate_text(bps: u64) -> String {
    let (unit, size) = match bps {
        1_000_000_000.. => ("Gbit/s", 1_000_000_000),
        1_000_000.. => ("Mbit/s", 1_000_000),
        1_000.. => ("kbit/s", 1_000),
        _ => ("bit/s", 1),
    };
    let (whole, rest) = (bps / size, bps % size);
    if rest == 0 {
        format!("{whole} {unit}")
    } else if (rest * 1000) % size == 0 {
        // Three decimals at most, trailing zeros trimmed.
        let frac = format!("{:03}", rest * 1000 / size);
        format!("{whole}.{} {unit}", frac.trim_end_matches('0'))
    } else {
        // Not exact in three decimals: the exact number.
        format!("{bps} bit/s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Span;

    fn at_ms(ms: u64) -> Time {
        Time::from_secs(1_700_000_000) + Span::from_millis(ms)
    }

    /// 1 Mbit/s holds 1,000,000 bits: 100 packets of 1250 bytes (10,000 bits). At one packet
    /// every 5 ms the bucket refills 5,000 bits per packet, so it drains by 5,000 bits a
    /// packet: packets 0..=198 pass (before packet i it holds 1,000,000 - 5,000 i bits), then
    /// every other one (even i) finds the 10,000 bits it needs.
    #[test]
    fn token_bucket_admits_exactly_on_the_virtual_clock() {
        let mut b = TokenBucket::new(1_000_000, at_ms(0));
        let mut passed = Vec::new();
        let mut dropped = Vec::new();
        for i in 0..300u64 {
            if b.admit(at_ms(10_000 + 5 * i), 1250) {
                passed.push(i);
            } else {
                dropped.push(i);
            }
        }
        assert_eq!(passed.len(), 249);
        assert_eq!(dropped.len(), 51);
        assert_eq!(passed[..199], (0..199).collect::<Vec<_>>()[..]);
        assert_eq!(dropped[0], 199);
        assert!(passed[199..].iter().all(|i| i % 2 == 0));
        assert!(dropped.iter().all(|i| i % 2 == 1));
        // Packet 298 emptied it; 299 found 5,000 bits, too few, and took nothing.
        assert_eq!(b.bits(), 5_000);
    }

    #[test]
    fn token_bucket_refills_to_one_second_and_no_more() {
        let mut b = TokenBucket::new(80_000, at_ms(0));
        // 80,000 bits = 10 packets of 1000 bytes at once.
        assert_eq!((0..12).filter(|_| b.admit(at_ms(0), 1000)).count(), 10);
        // 100 ms later: 8,000 bits back, one packet.
        assert!(b.admit(at_ms(100), 1000));
        assert!(!b.admit(at_ms(100), 1000));
        // An hour later the bucket holds one second of rate, not an hour of it.
        assert_eq!(
            (0..20).filter(|_| b.admit(at_ms(3_600_000), 1000)).count(),
            10
        );
        // 99,999 µs refill 7,999.92 bits: not enough; one more microsecond is.
        assert!(!b.admit(at_ms(3_600_000) + Span::from_micros(99_999), 1000));
        assert!(b.admit(at_ms(3_600_000) + Span::from_micros(100_000), 1000));
        // A packet larger than the bucket never passes.
        let mut tiny = TokenBucket::new(8_000, at_ms(0));
        assert!(!tiny.admit(at_ms(5_000), 1001));
        assert!(tiny.admit(at_ms(5_000), 1000));
    }

    #[test]
    fn directions_have_their_own_buckets() {
        let mut bw = Bandwidth::new(8_000, at_ms(0));
        assert!(bw.admit(at_ms(0), Direction::Egress, 1000));
        assert!(!bw.admit(at_ms(0), Direction::Egress, 1000));
        assert!(bw.admit(at_ms(0), Direction::Ingress, 1000));
    }

    fn attachment(vpc: u32, cidr: &str, region: &str) -> Attachment {
        Attachment {
            id: format!("vpc-{vpc}"),
            vpc,
            vpc_id: format!("vpc-{vpc}"),
            vpc_name: format!("v{vpc}"),
            cidr: Ipv4Net::parse_strict(cidr).unwrap(),
            region: region.into(),
        }
    }

    #[test]
    fn routes_points_and_limits() {
        let meta = Arc::new(CaptureMeta::default());
        let mut c = Ccn::new("ccn-1".into(), "ccn".into(), meta.clone());
        c.attach(attachment(0, "10.0.0.0/16", "ap-guangzhou"), |_, _| {
            meta.clone()
        });
        c.attach(attachment(1, "10.1.0.0/16", "ap-guangzhou"), |_, _| {
            meta.clone()
        });
        c.attach(attachment(2, "10.2.0.0/16", "ap-shanghai"), |_, _| {
            meta.clone()
        });
        // Learned routes: the other VPCs' blocks, never one's own.
        assert_eq!(c.route(0, "10.2.3.4".parse().unwrap()), Some(2));
        assert_eq!(c.route(0, "10.1.3.4".parse().unwrap()), Some(1));
        assert_eq!(c.route(0, "10.0.3.4".parse().unwrap()), None);
        // Points: the whole CCN, then both directions of each cross-region pair.
        assert_eq!(c.point(0, 1), None);
        assert_eq!(c.point(0, 2), Some(1));
        assert_eq!(c.point(2, 0), Some(2));
        assert_eq!(c.point(1, 2), Some(3));
        assert_eq!(c.point_regions(4), Some(("ap-shanghai", "ap-guangzhou")));
        assert_eq!(c.point_regions(0), None);
        // One limit, both directions, each with a bucket of its own.
        let t = at_ms(0);
        c.set_limit(
            ["ap-shanghai".into(), "ap-guangzhou".into()],
            Bandwidth::new(8_000, t),
        );
        assert_eq!(c.limit("ap-guangzhou", "ap-shanghai"), Some(8_000));
        assert_eq!(c.admit(t, 0, 2, 1000), Admission::Passed(Some(8_000)));
        assert_eq!(c.admit(t, 1, 2, 1000), Admission::Throttled(8_000));
        assert_eq!(c.admit(t, 2, 0, 1000), Admission::Passed(Some(8_000)));
        // Setting the pair again replaces the limit (and its buckets).
        c.set_limit(
            ["ap-guangzhou".into(), "ap-shanghai".into()],
            Bandwidth::new(16_000, t),
        );
        assert_eq!(c.limits.len(), 1);
        assert_eq!(c.admit(t, 0, 2, 1000), Admission::Passed(Some(16_000)));
        assert_eq!(
            c.verdict_words(1, true),
            "dropped by CCN ccn-1: region pair ap-guangzhou→ap-shanghai over its 16 kbit/s limit"
        );
    }

    #[test]
    fn rates_in_words() {
        assert_eq!(rate_text(1_000_000), "1 Mbit/s");
        assert_eq!(rate_text(1_500_000), "1.5 Mbit/s");
        assert_eq!(rate_text(10_000_000_000), "10 Gbit/s");
        assert_eq!(rate_text(500_000), "500 kbit/s");
        assert_eq!(rate_text(1_234_000), "1.234 Mbit/s");
        assert_eq!(rate_text(800), "800 bit/s");
        assert_eq!(rate_text(1_000_001), "1000001 bit/s");
    }

    #[test]
    fn region_ids() {
        assert!(check_region("ap-guangzhou").is_ok());
        assert!(check_region("us-east-1").is_ok());
        assert!(check_region("").is_err());
        assert!(check_region("Ap-Guangzhou").is_err());
        assert!(check_region("1ap").is_err());
    }
}
