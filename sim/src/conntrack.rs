//! Connection tracking: what makes security groups (and huawei's ACLs) stateful (D6–D9;
//! policy.md §1.3, §3, §4).
//!
//! One table holds every zone: a zone is an ENI (its security groups) or a subnet's ACL
//! (huawei). Keys are canonical (the two endpoints sorted), so a reply finds the entry its
//! request opened; the entry remembers which side opened it. Entries expire lazily against the
//! `now` passed in: the table never reads a clock.
//!
//! Keys (D6): TCP/UDP by 5-tuple; ICMP echo by (src, dst, identifier); anything else by
//! (src, dst, protocol).
//!
//! A rule change on huawei *clears* connections (D8, policy.md §3.2): [`Table::clear`] does not
//! forget a TCP connection but marks it, so that a lookup tells three cases apart
//! ([`Lookup`]): tracked, untracked, and a segment that continues a cleared connection, which
//! the caller rejects instead of picking it up as a new connection. The mark lasts until a SYN
//! opens a new connection on the same 5-tuple or the entry's idle timeout, as it stood when it
//! was cleared, runs out (`docs/decisions/huawei-rule-change.md`).
//!
//! An entry also carries the flow-log counters of its connection at its ENI (two
//! [`Partial`]s, one per orientation), so that the per-packet path finds a connection and its
//! counters with one lookup. The table never loses them: an entry that leaves the table with
//! counters hands them back ([`Table::take_carried`]) for the caller to merge.
//!
//! The table is open addressing with linear Robin Hood probing over 128-byte buckets (two
//! cache lines, aligned), a byte of hash tag per bucket in a separate small array, and
//! backward-shift deletion (no tombstones). A [`Handle`] names the bucket a lookup found, for
//! as long as no entry moves.

use std::net::Ipv4Addr;

use crate::Direction;
use crate::flowlog::collect::Partial;
use crate::packet::{Embedded, FiveTuple, L4, Packet, TcpFlags, icmp, proto};
use crate::profile::Timeouts;
use crate::time::Time;

/// A tracking zone: an ENI's security groups, or a subnet's stateful ACL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Zone {
    Eni(u32),
    Acl(u32),
}

/// A connection's key: the zone and the two endpoints in canonical order (lower first), packed
/// into 20 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Key {
    lo_ip: u32,
    hi_ip: u32,
    /// Port of `lo` in the high half, of `hi` in the low half.
    ports: u32,
    zone: u32,
    /// Zone kind (0 ENI, 1 ACL) in the high byte, IP protocol in the low byte.
    kind_protocol: u16,
}

impl Key {
    fn lo(&self) -> (u32, u16) {
        (self.lo_ip, (self.ports >> 16) as u16)
    }
    fn hi(&self) -> (u32, u16) {
        (self.hi_ip, self.ports as u16)
    }
    fn zone(&self) -> Zone {
        match self.kind_protocol >> 8 {
            0 => Zone::Eni(self.zone),
            _ => Zone::Acl(self.zone),
        }
    }
    fn protocol(&self) -> u8 {
        self.kind_protocol as u8
    }

    /// The bucket-choosing hash: a folded multiply of the key's two words (foldhash's core).
    /// The zone is left out on purpose: the entries of one connection in its zones (the ENI
    /// at each end, a subnet's ACL) start probing at the same bucket and so sit side by side,
    /// and the packet that needs both finds them in one place in memory.
    #[inline]
    fn hash(&self) -> u64 {
        let a = (self.lo_ip as u64) << 32 | self.hi_ip as u64;
        let b = (self.ports as u64) << 32 | (self.kind_protocol & 0xff) as u64;
        let x = (a ^ 0x243f_6a88_85a3_08d3) as u128 * (b ^ 0x1319_8a2e_0370_7344) as u128;
        let h = (x as u64) ^ (x >> 64) as u64;
        let y = h as u128 * 0x9e37_79b9_7f4a_7c15u128;
        (y as u64) ^ (y >> 64) as u64
    }
}

/// Connection state, enough to pick the right timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum State {
    TcpSynSent,
    TcpEstablished,
    TcpClosing,
    TcpClosed,
    Udp,
    UdpStream,
    Icmp,
    Other,
}

/// Is a packet going the way the connection was opened, or coming back?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Orientation {
    Original,
    Reply,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[repr(C)]
pub struct Entry {
    pub expires: Time,
    /// The opening packet's direction relative to the zone.
    pub opened: Direction,
    pub state: State,
    replied: bool,
    /// The endpoint that sent the opening packet is the key's `lo` (else its `hi`).
    opener_lo: bool,
    /// A rule change cleared the connection ([`Table::clear`]): it passes nothing more, and
    /// only a new connection replaces it. (In what was padding: the entry stays 96 bytes.)
    cleared: bool,
    /// Flow-log counters of the connection's packets at the zone's ENI, per [`Orientation`].
    partials: [Partial; 2],
}

impl Entry {
    fn orientation(&self, k: &Key, src: (u32, u16)) -> Orientation {
        let opener = if self.opener_lo { k.lo() } else { k.hi() };
        if opener == src {
            Orientation::Original
        } else {
            Orientation::Reply
        }
    }
}

/// Flow-log counters that left the table with their connection: the ENI and 5-tuple they
/// count (the packets' own), to be merged into the flow log [`Partial::log`] names.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct Carried {
    pub eni: u32,
    pub tuple: FiveTuple,
    pub partial: Partial,
}

/// What a lookup found for a packet in a zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A live connection, which the packet moved on (state, expiry).
    Tracked(Handle),
    /// A segment that continues a connection a rule change cleared ([`Table::clear`]): not
    /// part of a tracked connection, and not the start of a new one. The entry is left as it
    /// was (the segment does not keep it alive).
    Cleared,
    /// No connection: the rules decide, and may open one.
    Untracked,
}

/// Where a lookup found a connection, and which way the packet went: valid until entries of
/// the table move (a removal, an insertion that displaces entries, growth), which
/// [`Table::partial_mut`] checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handle {
    bucket: u32,
    version: u32,
    pub orientation: Orientation,
}

/// A tracked connection as `purge` and `clear` show it: who opened it, which way, to whom.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conn {
    pub opened: Direction,
    pub protocol: u8,
    /// (address, port) of the side that opened it; ICMP echo: the identifier as port.
    pub opener: (Ipv4Addr, u16),
    pub other: (Ipv4Addr, u16),
}

/// A bucket: a key and its entry in two aligned cache lines (laid out as written: the key
/// and the connection state in the first line, the counters across both).
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
#[repr(C, align(128))]
struct Bucket {
    key: Key,
    entry: Entry,
}

const _: () = assert!(std::mem::size_of::<Bucket>() == 128);
const _: () = assert!(std::mem::size_of::<Entry>() == 96);

/// Buckets [`Table::prefetch`] touches from a connection's home bucket.
const PREFETCH_BUCKETS: usize = 4;

const EMPTY: Bucket = Bucket {
    key: Key {
        lo_ip: 0,
        hi_ip: 0,
        ports: 0,
        zone: 0,
        kind_protocol: 0,
    },
    entry: Entry {
        expires: Time(0),
        opened: Direction::Ingress,
        state: State::Other,
        replied: false,
        opener_lo: false,
        cleared: false,
        partials: [Partial::EMPTY; 2],
    },
};

/// Asks the CPU to start loading the cache line at `p` into its caches, without waiting for
/// it: a hint, which changes nothing a program can observe but timing.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn prefetch_line(p: *const u8) {
    // SAFETY: `_mm_prefetch` is unsafe only for its `sse` target feature, which every x86_64
    // CPU has (it is in the target's baseline). A prefetch never faults, even on an invalid
    // address, and writes nothing.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(p.cast());
    }
}

/// Starts loading a tag byte (see [`prefetch_line`]); elsewhere than x86_64, reads it.
#[inline(always)]
fn prefetch_tag(t: &u8) {
    #[cfg(target_arch = "x86_64")]
    prefetch_line(t);
    #[cfg(not(target_arch = "x86_64"))]
    std::hint::black_box(*t);
}

/// Starts loading both cache lines of a bucket (see [`prefetch_line`]); elsewhere than
/// x86_64, reads one word in each: the reads wait, but bring the lines in all the same.
#[inline(always)]
fn prefetch_bucket(b: &Bucket) {
    #[cfg(target_arch = "x86_64")]
    {
        let p = (b as *const Bucket).cast::<u8>();
        prefetch_line(p);
        prefetch_line(p.wrapping_add(64));
    }
    #[cfg(not(target_arch = "x86_64"))]
    std::hint::black_box((b.key.zone, b.entry.partials[1].packets()));
}

/// The connection-tracking table of a world. Serialized sparsely (`Saved`).
#[derive(Clone, Debug, Default)]
pub struct Table {
    /// Per bucket: 0 when empty, else 0x80 | 7 bits of the key's hash.
    tags: Vec<u8>,
    /// A power of two of them (or none), at most 80 % full.
    buckets: Vec<Bucket>,
    len: usize,
    /// Changes whenever entries move: handles from before are stale.
    version: u32,
    /// Counters of entries that left the table, waiting for the caller.
    carried: Vec<Carried>,
    /// [`Table::maybe_sweep`] walks the table once it holds this many entries.
    sweep_at: usize,
}

/// A table as snapshots keep it: the buckets in use where they are (Robin Hood placement
/// depends on the order entries came in, so it is kept, not redone), and how many there are.
#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    buckets: usize,
    len: usize,
    version: u32,
    carried: Vec<Carried>,
    sweep_at: usize,
    /// (bucket index, tag, bucket), in index order.
    used: Vec<(u32, u8, Bucket)>,
}

impl serde::Serialize for Table {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let used = self
            .tags
            .iter()
            .zip(&self.buckets)
            .enumerate()
            .filter(|(_, (t, _))| **t != 0)
            .map(|(i, (t, b))| (i as u32, *t, *b))
            .collect();
        Saved {
            buckets: self.buckets.len(),
            len: self.len,
            version: self.version,
            carried: self.carried.clone(),
            sweep_at: self.sweep_at,
            used,
        }
        .serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Table {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Table, D::Error> {
        use serde::de::Error;
        let saved = Saved::deserialize(d)?;
        let n = saved.buckets;
        if !(n == 0 || n.is_power_of_two()) || saved.used.len() != saved.len {
            return Err(D::Error::custom("a connection table of another shape"));
        }
        let mut t = Table {
            tags: vec![0; n],
            buckets: vec![EMPTY; n],
            len: saved.len,
            version: saved.version,
            carried: saved.carried,
            sweep_at: saved.sweep_at,
        };
        for (i, tag, b) in saved.used {
            let i = i as usize;
            if i >= n || tag == 0 {
                return Err(D::Error::custom("a connection outside the table"));
            }
            t.tags[i] = tag;
            t.buckets[i] = b;
        }
        Ok(t)
    }
}

/// The endpoints a packet is tracked by, or `None` for packets conntrack ignores (ICMP
/// errors, which are RELATED or not, never a connection of their own).
fn endpoints(p: &Packet) -> Option<((u32, u16), (u32, u16))> {
    let (s, d) = (u32::from(p.src), u32::from(p.dst));
    match p.l4 {
        L4::Tcp { .. } | L4::Udp { .. } => {
            let (sp, dp) = p.ports();
            Some(((s, sp), (d, dp)))
        }
        L4::Icmp {
            icmp_type: icmp::ECHO_REQUEST | icmp::ECHO_REPLY,
            ident,
            ..
        } => Some(((s, ident), (d, ident))),
        L4::Icmp {
            embedded: Some(_), ..
        } => None,
        L4::Icmp { .. } | L4::Other { .. } => Some(((s, 0), (d, 0))),
    }
}

fn key(zone: Zone, protocol: u8, a: (u32, u16), b: (u32, u16)) -> Key {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let (kind, zone) = match zone {
        Zone::Eni(z) => (0u16, z),
        Zone::Acl(z) => (1u16, z),
    };
    Key {
        lo_ip: lo.0,
        hi_ip: hi.0,
        ports: (lo.1 as u32) << 16 | hi.1 as u32,
        zone,
        kind_protocol: kind << 8 | protocol as u16,
    }
}

#[inline]
fn tag(h: u64) -> u8 {
    0x80 | (h >> 57) as u8
}

impl Table {
    pub fn with_capacity(n: usize) -> Table {
        let mut t = Table::default();
        t.grow_to(Self::buckets_for(n));
        t
    }

    /// Buckets for `n` entries at most 80 % full.
    fn buckets_for(n: usize) -> usize {
        (n * 5 / 4 + 1).next_power_of_two().max(16)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Re-creates the table with `buckets` buckets, entries rehashed (they move).
    fn grow_to(&mut self, buckets: usize) {
        let old_tags = std::mem::replace(&mut self.tags, vec![0; buckets]);
        let old = std::mem::replace(&mut self.buckets, vec![EMPTY; buckets]);
        self.version = self.version.wrapping_add(1);
        for (t, b) in old_tags.iter().zip(&old) {
            if *t != 0 {
                self.place(*b);
            }
        }
    }

    /// Puts a bucket for a key not in the table where Robin Hood probing wants it: along the
    /// probe run, an entry closer to its home than the one being placed gives up its bucket
    /// and moves on. Entries of a run stay sorted by home, so every entry is close to it (and
    /// a connection's entries, sharing their home, stay side by side). Returns where `b` went.
    fn place(&mut self, b: Bucket) -> usize {
        let mask = self.buckets.len() - 1;
        let h = b.key.hash();
        let (mut cur, mut cur_tag) = (b, tag(h));
        let mut i = h as usize & mask;
        let mut dist = 0;
        let mut placed = None;
        loop {
            if self.tags[i] == 0 {
                self.tags[i] = cur_tag;
                self.buckets[i] = cur;
                return placed.unwrap_or(i);
            }
            let home = self.buckets[i].key.hash() as usize & mask;
            let theirs = i.wrapping_sub(home) & mask;
            if theirs < dist {
                std::mem::swap(&mut cur, &mut self.buckets[i]);
                std::mem::swap(&mut cur_tag, &mut self.tags[i]);
                placed.get_or_insert(i);
                // Entries moved: handles are stale.
                self.version = self.version.wrapping_add(1);
                dist = theirs;
            }
            i = (i + 1) & mask;
            dist += 1;
        }
    }

    /// The bucket holding `k`, whose hash is `h`.
    #[inline]
    fn find(&self, k: &Key, h: u64) -> Option<usize> {
        if self.buckets.is_empty() {
            return None;
        }
        let mask = self.buckets.len() - 1;
        let t = tag(h);
        let mut i = h as usize & mask;
        loop {
            match self.tags[i] {
                0 => return None,
                x if x == t && self.buckets[i].key == *k => return Some(i),
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Puts `e` under `k`, replacing (and carrying the counters of) an entry already there.
    fn insert(&mut self, k: Key, e: Entry) -> usize {
        let h = k.hash();
        if let Some(i) = self.find(&k, h) {
            self.carry(i);
            self.buckets[i].entry = e;
            return i;
        }
        if (self.len + 1) * 5 > self.buckets.len() * 4 {
            self.grow_to(Self::buckets_for(self.len + 1).max(2 * self.buckets.len()));
        }
        self.len += 1;
        self.place(Bucket { key: k, entry: e })
    }

    /// Keeps the flow-log counters of bucket `i`'s entry for the caller.
    fn carry(&mut self, i: usize) {
        let Bucket { key: k, entry: e } = &self.buckets[i];
        let Zone::Eni(eni) = k.zone() else {
            return;
        };
        for (o, p) in e.partials.iter().enumerate() {
            if !p.is_empty() {
                let opener = if e.opener_lo { k.lo() } else { k.hi() };
                let other = if e.opener_lo { k.hi() } else { k.lo() };
                let (src, dst) = if o == Orientation::Original as usize {
                    (opener, other)
                } else {
                    (other, opener)
                };
                self.carried.push(Carried {
                    eni,
                    tuple: FiveTuple {
                        src: Ipv4Addr::from(src.0),
                        dst: Ipv4Addr::from(dst.0),
                        sport: src.1,
                        dport: dst.1,
                        protocol: k.protocol(),
                    },
                    partial: *p,
                });
            }
        }
    }

    /// Removes bucket `i`'s entry (its counters are carried), shifting the rest of its probe
    /// run back one bucket, up to an entry at its home, so that no lookup needs a tombstone.
    fn remove_at(&mut self, i: usize) {
        self.carry(i);
        let mask = self.buckets.len() - 1;
        let mut hole = i;
        loop {
            let j = (hole + 1) & mask;
            if self.tags[j] == 0 || self.buckets[j].key.hash() as usize & mask == j {
                break;
            }
            self.tags[hole] = self.tags[j];
            self.buckets[hole] = self.buckets[j];
            hole = j;
        }
        self.tags[hole] = 0;
        self.len -= 1;
        self.version = self.version.wrapping_add(1);
    }

    /// Removes every entry for which `remove` says so.
    fn remove_where(&mut self, mut remove: impl FnMut(&Key, &Entry) -> bool) {
        if self.len == 0 {
            return;
        }
        let mask = self.buckets.len() - 1;
        // Start after an empty bucket: no probe run wraps past it, so removals only ever move
        // entries not yet visited, and visit order covers every entry once.
        let start = self.tags.iter().position(|&t| t == 0).expect("never full");
        let mut i = (start + 1) & mask;
        while i != start {
            if self.tags[i] != 0 && remove(&self.buckets[i].key, &self.buckets[i].entry) {
                // Bucket `i` now holds the next entry of the run, if any: look again.
                self.remove_at(i);
            } else {
                i = (i + 1) & mask;
            }
        }
    }

    /// Touches the buckets where `p`'s connection would be, in every zone: they all start
    /// probing at the same bucket (see [`Key::hash`]), so the first two buckets there hold
    /// them in the usual case. The memory is on its way while the caller does other work; a
    /// lookup comes soon after. Changes nothing.
    #[inline]
    pub fn prefetch(&self, p: &Packet) {
        let Some((src, dst)) = endpoints(p) else {
            return;
        };
        if self.buckets.is_empty() {
            return;
        }
        let mask = self.buckets.len() - 1;
        let i = key(Zone::Eni(0), p.protocol(), src, dst).hash() as usize & mask;
        // The tags the lookup reads first, then each cache line of the buckets.
        prefetch_tag(&self.tags[i]);
        for k in 0..PREFETCH_BUCKETS {
            prefetch_bucket(&self.buckets[(i + k) & mask]);
        }
    }

    /// Finds the live connection this packet belongs to, updates its state and expiry, and
    /// says which way the packet goes. An expired entry is removed and not found. For zones
    /// that are never cleared (a subnet's ACL): a cleared connection is not found either.
    pub fn track(
        &mut self,
        zone: Zone,
        now: Time,
        p: &Packet,
        t: &Timeouts,
    ) -> Option<(Orientation, Entry)> {
        match self.track_handle(zone, now, p, t) {
            Lookup::Tracked(h) => Some((h.orientation, self.buckets[h.bucket as usize].entry)),
            Lookup::Cleared | Lookup::Untracked => None,
        }
    }

    /// [`Table::track`], answering with a handle on the entry, or telling a segment of a
    /// cleared connection from a packet with none.
    #[inline]
    pub fn track_handle(&mut self, zone: Zone, now: Time, p: &Packet, t: &Timeouts) -> Lookup {
        let Some((src, dst)) = endpoints(p) else {
            return Lookup::Untracked;
        };
        let k = key(zone, p.protocol(), src, dst);
        let Some(i) = self.find(&k, k.hash()) else {
            return Lookup::Untracked;
        };
        let e = &mut self.buckets[i].entry;
        if e.expires <= now {
            self.remove_at(i);
            return Lookup::Untracked;
        }
        if e.cleared {
            // Only a SYN starts a connection anew (judged by the rules, then replacing this
            // entry); any other segment belongs to the connection that was cleared.
            return match p.l4 {
                L4::Tcp { flags, .. } if flags.is_syn_only() => Lookup::Untracked,
                _ => Lookup::Cleared,
            };
        }
        let orientation = e.orientation(&k, src);
        // An echo request coming from the other side is a new exchange, not a reply.
        if orientation == Orientation::Reply
            && matches!(p.l4, L4::Icmp { icmp_type, .. } if icmp_type != icmp::ECHO_REPLY)
        {
            return Lookup::Untracked;
        }
        advance(e, orientation, p, t, now);
        Lookup::Tracked(Handle {
            bucket: i as u32,
            version: self.version,
            orientation,
        })
    }

    /// Opens a connection for a packet just allowed by rules in `direction`.
    pub fn open(&mut self, zone: Zone, now: Time, p: &Packet, direction: Direction, t: &Timeouts) {
        self.open_handle(zone, now, p, direction, t);
    }

    /// [`Table::open`], answering with a handle on the new entry.
    pub fn open_handle(
        &mut self,
        zone: Zone,
        now: Time,
        p: &Packet,
        direction: Direction,
        t: &Timeouts,
    ) -> Option<Handle> {
        let (src, dst) = endpoints(p)?;
        let state = match p.l4 {
            L4::Tcp { flags, .. } if flags.has(TcpFlags::RST) => State::TcpClosed,
            L4::Tcp { flags, .. } if flags.is_syn_only() => State::TcpSynSent,
            // Picked up mid-stream (Linux's nf_conntrack_tcp_loose).
            L4::Tcp { .. } => State::TcpEstablished,
            L4::Udp { .. } => State::Udp,
            L4::Icmp { .. } => State::Icmp,
            L4::Other { .. } => State::Other,
        };
        let k = key(zone, p.protocol(), src, dst);
        let mut e = Entry {
            opener_lo: src == k.lo(),
            opened: direction,
            state,
            replied: false,
            cleared: false,
            expires: now,
            partials: [Partial::EMPTY; 2],
        };
        e.expires = now + timeout(&e, t);
        let i = self.insert(k, e);
        Some(Handle {
            bucket: i as u32,
            version: self.version,
            orientation: Orientation::Original,
        })
    }

    /// The handle of `p`'s connection in `zone`, live or not, without touching it.
    pub fn find_handle(&self, zone: Zone, p: &Packet) -> Option<Handle> {
        let (src, dst) = endpoints(p)?;
        let k = key(zone, p.protocol(), src, dst);
        let i = self.find(&k, k.hash())?;
        Some(Handle {
            bucket: i as u32,
            version: self.version,
            orientation: self.buckets[i].entry.orientation(&k, src),
        })
    }

    /// The flow-log counters of the handle's entry for the handle's orientation, unless
    /// entries moved since the handle was made.
    #[inline]
    pub fn partial_mut(&mut self, h: Handle) -> Option<&mut Partial> {
        if h.version != self.version {
            return None;
        }
        Some(&mut self.buckets[h.bucket as usize].entry.partials[h.orientation as usize])
    }

    /// When the entry a handle names expires (`None` if entries moved since the handle was
    /// made).
    pub fn expires(&self, h: Handle) -> Option<Time> {
        (h.version == self.version).then(|| self.buckets[h.bucket as usize].entry.expires)
    }

    /// Takes every partial counted for flow log `log` out of the table (a window closes).
    pub fn drain_partials(&mut self, log: u32, mut f: impl FnMut(Carried)) {
        for i in 0..self.buckets.len() {
            if self.tags[i] == 0
                || self.buckets[i]
                    .entry
                    .partials
                    .iter()
                    .all(|p| p.is_empty() || p.log() != log)
            {
                continue;
            }
            // Carry the whole entry's counters, hand back those of `log`, keep the others.
            let before = self.carried.len();
            self.carry(i);
            let e = &mut self.buckets[i].entry;
            for p in &mut e.partials {
                if !p.is_empty() && p.log() == log {
                    *p = Partial::EMPTY;
                }
            }
            for c in self.carried.drain(before..) {
                if c.partial.log() == log {
                    f(c);
                }
            }
        }
    }

    /// Are counters of removed entries waiting ([`Table::take_carried`])?
    #[inline]
    pub fn has_carried(&self) -> bool {
        !self.carried.is_empty()
    }

    /// Hands over the counters of entries removed since the last call, oldest first.
    pub fn take_carried(&mut self, f: impl FnMut(Carried)) {
        self.carried.drain(..).for_each(f);
    }

    /// Is this ICMP error about a connection tracked in `zone` (RELATED, D9)? `embedded` is
    /// the header of the packet the error refers to, which the zone's side had sent. A
    /// cleared connection is not tracked: errors about it are not related.
    pub fn is_related(&self, zone: Zone, now: Time, embedded: &Embedded) -> bool {
        let a = (u32::from(embedded.src), embedded.sport);
        let b = (u32::from(embedded.dst), embedded.dport);
        let ports_matter = matches!(embedded.protocol, proto::TCP | proto::UDP);
        let (a, b) = if ports_matter {
            (a, b)
        } else {
            ((a.0, 0), (b.0, 0))
        };
        let k = key(zone, embedded.protocol, a, b);
        self.find(&k, k.hash()).is_some_and(|i| {
            let e = &self.buckets[i].entry;
            e.expires > now && !e.cleared
        })
    }

    /// Removes every connection of `zone` for which `remove` says so; returns how many.
    pub fn purge(&mut self, zone: Zone, mut remove: impl FnMut(&Conn) -> bool) -> usize {
        let before = self.len;
        self.remove_where(|k, e| k.zone() == zone && remove(&conn(k, e)));
        before - self.len
    }

    /// Clears every connection of `zone` for which `clear` says so (huawei's rule change,
    /// D8); returns how many. A TCP connection stays in the table, marked: until a SYN opens
    /// a new connection on its 5-tuple, or until it expires when it would have (its idle
    /// timeout as of its last packet: nothing refreshes a cleared entry), its other segments
    /// look up as [`Lookup::Cleared`]. Other protocols have no opening packet to tell a new
    /// flow from the old one: their connections are removed, and their next packet is judged
    /// as a new flow. Counters stay with the entry (a window's close drains them).
    pub fn clear(&mut self, zone: Zone, mut clear: impl FnMut(&Conn) -> bool) -> usize {
        let mut n = self.purge(zone, |c| c.protocol != proto::TCP && clear(c));
        for i in 0..self.buckets.len() {
            if self.tags[i] == 0 {
                continue;
            }
            let Bucket { key: k, entry: e } = &self.buckets[i];
            if k.zone() == zone && k.protocol() == proto::TCP && !e.cleared && clear(&conn(k, e)) {
                self.buckets[i].entry.cleared = true;
                n += 1;
            }
        }
        n
    }

    /// Drops expired entries (housekeeping; behaviour does not depend on it).
    pub fn sweep(&mut self, now: Time) {
        self.remove_where(|_, e| e.expires <= now);
    }

    /// [`Table::sweep`] once the table has doubled since the last one (at least 4,096
    /// entries): a walk costs what the table holds, so walking at every instant of a busy
    /// run made its time quadratic. Nothing else depends on when expired entries go: a lookup
    /// treats an expired entry as gone (and removes it), and a window's close drains every
    /// entry's counters, expired or not. Memory stays within twice the live connections.
    pub fn maybe_sweep(&mut self, now: Time) {
        if self.len < self.sweep_at.max(4096) {
            return;
        }
        self.sweep(now);
        self.sweep_at = 2 * self.len;
    }
}

/// A connection as [`Table::purge`] and [`Table::clear`] show it.
fn conn(k: &Key, e: &Entry) -> Conn {
    let (opener, other) = if e.opener_lo {
        (k.lo(), k.hi())
    } else {
        (k.hi(), k.lo())
    };
    Conn {
        opened: e.opened,
        protocol: k.protocol(),
        opener: (Ipv4Addr::from(opener.0), opener.1),
        other: (Ipv4Addr::from(other.0), other.1),
    }
}

fn advance(e: &mut Entry, o: Orientation, p: &Packet, t: &Timeouts, now: Time) {
    match p.l4 {
        L4::Tcp { flags, .. } => {
            if flags.has(TcpFlags::RST) {
                e.state = State::TcpClosed;
            } else if flags.has(TcpFlags::FIN) {
                e.state = State::TcpClosing;
            } else if o == Orientation::Reply && e.state == State::TcpSynSent {
                e.state = State::TcpEstablished;
            }
        }
        L4::Udp { .. } => {
            if o == Orientation::Reply {
                e.replied = true;
            } else if e.replied {
                // A second request after a response: a stream (policy.md §1.3 udp-stream).
                e.state = State::UdpStream;
            }
        }
        _ => {}
    }
    if o == Orientation::Reply {
        e.replied = true;
    }
    e.expires = now + timeout(e, t);
}

fn timeout(e: &Entry, t: &Timeouts) -> crate::time::Span {
    match e.state {
        State::TcpSynSent => t.tcp_syn,
        State::TcpEstablished => t.tcp_established,
        State::TcpClosing => t.tcp_closing,
        State::TcpClosed => t.tcp_closed,
        State::Udp => t.udp,
        State::UdpStream => t.udp_stream,
        State::Icmp => t.icmp,
        State::Other => t.other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Profile, Provider};
    use crate::time::Span;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    /// The table's mechanics (Robin Hood placement, backward-shift removal, removal while
    /// scanning, growth) against a plain map, on keys that collide on purpose (few endpoints,
    /// several zones sharing a home bucket).
    #[test]
    fn table_agrees_with_a_map() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut t = Table::with_capacity(8);
        let mut model: std::collections::BTreeMap<(u32, u32, u32, u32, u16), Time> =
            Default::default();
        let id = |k: &Key| (k.lo_ip, k.hi_ip, k.ports, k.zone, k.kind_protocol);
        for step in 0..20_000u64 {
            let zone = if rng.random_bool(0.8) {
                Zone::Eni(rng.random_range(0..4))
            } else {
                Zone::Acl(rng.random_range(0..2))
            };
            let a = (rng.random_range(0..20u32), rng.random_range(0..3u16));
            let b = (rng.random_range(0..20u32), rng.random_range(0..3u16));
            let k = key(zone, 6, a, b);
            match rng.random_range(0..10) {
                0..=5 => {
                    let mut e = EMPTY.entry;
                    e.expires = Time(step);
                    t.insert(k, e);
                    model.insert(id(&k), Time(step));
                }
                6..=8 => {
                    if let Some(i) = t.find(&k, k.hash()) {
                        t.remove_at(i);
                    }
                    model.remove(&id(&k));
                }
                _ => {
                    let cut = Time(rng.random_range(0..=step));
                    t.remove_where(|_, e| e.expires < cut);
                    model.retain(|_, at| *at >= cut);
                }
            }
            t.carried.clear();
            assert_eq!(t.len(), model.len(), "step {step}");
        }
        for i in 0..t.buckets.len() {
            if t.tags[i] != 0 {
                let k = t.buckets[i].key;
                assert_eq!(t.find(&k, k.hash()), Some(i));
                assert_eq!(model.get(&id(&k)), Some(&t.buckets[i].entry.expires));
            }
        }
    }

    #[test]
    fn reply_of_tracked_echo_is_found_until_timeout() {
        let t = Profile::of(Provider::Aws).timeouts;
        let mut ct = Table::default();
        let z = Zone::Eni(0);
        let req = Packet::echo_request(ip("203.0.113.12"), ip("172.31.16.139"), 9, 1);
        let t0 = Time::from_secs(1000);
        assert!(ct.track(z, t0, &req, &t).is_none());
        ct.open(z, t0, &req, Direction::Ingress, &t);
        let rep = req.echo_reply().unwrap();
        let (o, e) = ct.track(z, t0 + Span::from_secs(1), &rep, &t).unwrap();
        assert_eq!((o, e.opened), (Orientation::Reply, Direction::Ingress));
        // ICMP idle timeout is 30 s (D6): a reply 31 s after the last packet is not tracked.
        assert!(ct.track(z, t0 + Span::from_secs(32), &rep, &t).is_none());
    }

    #[test]
    fn tcp_states_follow_flags() {
        let t = Profile::of(Provider::Huawei).timeouts;
        let mut ct = Table::default();
        let z = Zone::Eni(3);
        let (c, s) = (ip("10.0.0.5"), ip("10.0.1.9"));
        let syn = Packet::tcp(c, 33000, s, 22, TcpFlags::SYN, 60);
        ct.open(z, Time(0), &syn, Direction::Egress, &t);
        let synack = Packet::tcp(s, 22, c, 33000, TcpFlags::SYN | TcpFlags::ACK, 60);
        let (_, e) = ct.track(z, Time(1), &synack, &t).unwrap();
        assert_eq!(e.state, State::TcpEstablished);
        let fin = Packet::tcp(c, 33000, s, 22, TcpFlags::FIN | TcpFlags::ACK, 52);
        let (o, e) = ct.track(z, Time(2), &fin, &t).unwrap();
        assert_eq!((o, e.state), (Orientation::Original, State::TcpClosing));
        // Other zones and other ports are separate connections.
        assert!(ct.track(Zone::Eni(4), Time(3), &fin, &t).is_none());
        let other = Packet::tcp(c, 33001, s, 22, TcpFlags::ACK, 52);
        assert!(ct.track(z, Time(3), &other, &t).is_none());
    }

    /// Huawei's rule change (D8, policy.md §3.2, docs/decisions/huawei-rule-change.md): an
    /// inbound-initiated TCP connection is cleared, not forgotten. Its segments, either way,
    /// look up as cleared (and do not keep it alive) until its idle timeout as it stood; a
    /// SYN is a new connection. The connection the ENI opened outbound goes on.
    #[test]
    fn a_cleared_connection_holds_its_segments_until_a_syn_or_its_timeout() {
        let t = Profile::of(Provider::Huawei).timeouts;
        let mut ct = Table::default();
        let z = Zone::Eni(2);
        let (client, server, db) = (ip("10.0.1.10"), ip("10.0.1.20"), ip("10.0.1.30"));
        let syn = Packet::tcp(client, 40022, server, 22, TcpFlags::SYN, 60);
        ct.open(z, Time::from_secs(0), &syn, Direction::Ingress, &t);
        let synack = Packet::tcp(server, 22, client, 40022, TcpFlags::SYN | TcpFlags::ACK, 60);
        assert!(ct.track(z, Time::from_secs(1), &synack, &t).is_some());
        let sql = Packet::tcp(server, 45432, db, 5432, TcpFlags::SYN, 60);
        ct.open(z, Time::from_secs(1), &sql, Direction::Egress, &t);
        let last = Time::from_secs(2);
        let data = Packet::tcp(
            client,
            40022,
            server,
            22,
            TcpFlags::ACK | TcpFlags::PSH,
            152,
        );
        assert!(ct.track(z, last, &data, &t).is_some());

        assert_eq!(ct.clear(z, |c| c.opened == Direction::Ingress), 1);
        // Clearing again finds nothing new; other zones are untouched.
        assert_eq!(ct.clear(z, |c| c.opened == Direction::Ingress), 0);
        assert_eq!(ct.len(), 2);
        let now = Time::from_secs(10);
        assert_eq!(ct.track_handle(z, now, &data, &t), Lookup::Cleared);
        // The server's segments of it too, and a RST: none starts a connection.
        let ack = Packet::tcp(server, 22, client, 40022, TcpFlags::ACK, 52);
        assert_eq!(ct.track_handle(z, now, &ack, &t), Lookup::Cleared);
        let rst = Packet::tcp(client, 40022, server, 22, TcpFlags::RST, 40);
        assert_eq!(ct.track_handle(z, now, &rst, &t), Lookup::Cleared);
        // The outbound-initiated connection is tracked as before.
        let reply = Packet::tcp(db, 5432, server, 45432, TcpFlags::SYN | TcpFlags::ACK, 60);
        assert!(matches!(
            ct.track_handle(z, now, &reply, &t),
            Lookup::Tracked(Handle {
                orientation: Orientation::Reply,
                ..
            })
        ));
        // Rejected segments do not refresh it: it ends at its idle timeout as of its last
        // accepted packet, and a segment after that is a packet of no connection.
        let end = last + t.tcp_established;
        let just_before = Time(end.0 - 1);
        assert_eq!(ct.track_handle(z, just_before, &data, &t), Lookup::Cleared);
        assert_eq!(ct.track_handle(z, end, &data, &t), Lookup::Untracked);
        assert_eq!(ct.len(), 1);
    }

    #[test]
    fn a_syn_replaces_a_cleared_connection() {
        let t = Profile::of(Provider::Huawei).timeouts;
        let mut ct = Table::default();
        let z = Zone::Eni(2);
        let (client, server) = (ip("10.0.1.10"), ip("10.0.1.20"));
        let syn = Packet::tcp(client, 40022, server, 22, TcpFlags::SYN, 60);
        ct.open(z, Time(0), &syn, Direction::Ingress, &t);
        ct.clear(z, |_| true);
        // A SYN on the same 5-tuple is a new connection: the rules judge it ...
        assert_eq!(ct.track_handle(z, Time(5), &syn, &t), Lookup::Untracked);
        // ... and, once they allow it, it replaces the cleared entry.
        ct.open(z, Time(5), &syn, Direction::Ingress, &t);
        assert_eq!(ct.len(), 1);
        let synack = Packet::tcp(server, 22, client, 40022, TcpFlags::SYN | TcpFlags::ACK, 60);
        let (o, e) = ct.track(z, Time(6), &synack, &t).unwrap();
        assert_eq!((o, e.state), (Orientation::Reply, State::TcpEstablished));
    }

    /// UDP, ICMP and other protocols have no opening packet to tell a new flow from the old
    /// one: clearing removes them, and their next packet is judged as a new flow.
    #[test]
    fn clearing_removes_connections_of_other_protocols() {
        let t = Profile::of(Provider::Huawei).timeouts;
        let mut ct = Table::default();
        let z = Zone::Eni(2);
        let q = Packet::udp(ip("10.0.1.10"), 40053, ip("10.0.1.20"), 53, 60);
        ct.open(z, Time(0), &q, Direction::Ingress, &t);
        let ping = Packet::echo_request(ip("10.0.1.10"), ip("10.0.1.20"), 7, 1);
        ct.open(z, Time(0), &ping, Direction::Ingress, &t);
        assert_eq!(ct.clear(z, |c| c.opened == Direction::Ingress), 2);
        assert!(ct.is_empty());
        assert_eq!(ct.track_handle(z, Time(1), &q, &t), Lookup::Untracked);
    }

    /// An ICMP error about a cleared connection is not RELATED (D9): the connection is not
    /// tracked any more.
    #[test]
    fn an_icmp_error_about_a_cleared_connection_is_not_related() {
        let t = Profile::of(Provider::Huawei).timeouts;
        let mut ct = Table::default();
        let z = Zone::Eni(1);
        let syn = Packet::tcp(
            ip("10.0.1.10"),
            40022,
            ip("10.0.1.20"),
            22,
            TcpFlags::SYN,
            60,
        );
        ct.open(z, Time(0), &syn, Direction::Ingress, &t);
        let synack = Packet::tcp(
            ip("10.0.1.20"),
            22,
            ip("10.0.1.10"),
            40022,
            TcpFlags::SYN | TcpFlags::ACK,
            60,
        );
        let err = Packet::icmp_error(
            ip("10.0.1.10"),
            &synack,
            icmp::DEST_UNREACHABLE,
            icmp::PORT_UNREACHABLE,
        );
        let L4::Icmp {
            embedded: Some(emb),
            ..
        } = err.l4
        else {
            panic!()
        };
        assert!(ct.is_related(z, Time(1), &emb));
        ct.clear(z, |_| true);
        assert!(!ct.is_related(z, Time(1), &emb));
    }

    #[test]
    fn icmp_error_is_related_to_the_flow_it_quotes() {
        let t = Profile::of(Provider::Tencent).timeouts;
        let mut ct = Table::default();
        let z = Zone::Eni(1);
        let q = Packet::udp(ip("10.0.0.5"), 40000, ip("10.0.1.9"), 53, 60);
        ct.open(z, Time(0), &q, Direction::Egress, &t);
        let err = Packet::icmp_error(
            ip("10.0.1.9"),
            &q,
            icmp::DEST_UNREACHABLE,
            icmp::PORT_UNREACHABLE,
        );
        let L4::Icmp {
            embedded: Some(emb),
            ..
        } = err.l4
        else {
            panic!()
        };
        assert!(ct.is_related(z, Time(1), &emb));
        assert!(!ct.is_related(Zone::Eni(2), Time(1), &emb));
    }
}
