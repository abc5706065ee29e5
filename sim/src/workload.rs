//! Workloads: traffic made by seeded random processes instead of a hand-written script, for
//! datasets of a whole fleet (issue 9). A [`Process`] is a stream of arrivals (Poisson with a
//! daily profile, periodic with jitter, or a steady sequence) and what each arrival sends (a
//! TCP session, UDP exchanges, an echo, one probe of a scan, a forged SYN). The simulation
//! keeps each process as one queue entry that, when due, sends its arrival and schedules the
//! next: memory follows the processes and the sessions in flight, never the day's packets.
//!
//! Every packet a process sends carries its label (0: benign; a workload numbers its
//! incidents from 1), and so do the hosts' answers: each record then says how many of its
//! packets came from which (`flowlog::Truth::labels`).
//!
//! What this module does not do: decide topology, roles or which incident uses which hosts
//! (the scenario loader's workload section does), or policy changes (scheduled as
//! `simulation::Change`s like a script's).

use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::simulation::Close;
use crate::time::{Span, Time};
use crate::world::Endpoint;

/// The TCP payload of one full segment (MTU 1500 less 52 bytes of IP and TCP headers with
/// timestamps): large transfers are cut into segments of this size.
pub const MSS: u32 = 1448;

/// A process's arrivals.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Arrivals {
    /// A Poisson process of `rate` arrivals per second at the profile's peak, thinned by the
    /// daily profile (a non-homogeneous Poisson process).
    Poisson { rate: f64, profile: Daily },
    /// One arrival every `period`, each moved by up to ±`jitter` of it (C2 beacons, health
    /// checks, NTP polls).
    Periodic { period: Span, jitter: f64 },
}

/// The shape of a day: how busy each hour is, relative to the peak (UTC hours).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Daily {
    /// Always at the peak.
    Flat,
    /// Office hours: busy 08:00–18:00, quiet at night (admins, internal apps).
    Office,
    /// Consumer web: lowest before dawn, highest in the evening.
    Web,
    /// Night jobs: busy 01:00–05:00 (batch, backups, replication).
    Night,
}

impl Daily {
    /// How busy the hour holding `t` is, in (0, 1], linearly between hourly points.
    pub fn level(self, t: Time) -> f64 {
        const OFFICE: [f64; 24] = [
            0.08, 0.06, 0.05, 0.05, 0.05, 0.08, 0.15, 0.35, 0.75, 0.95, 1.0, 1.0, 0.85, 0.95, 1.0,
            1.0, 0.95, 0.8, 0.5, 0.3, 0.2, 0.15, 0.12, 0.1,
        ];
        const WEB: [f64; 24] = [
            0.45, 0.35, 0.28, 0.25, 0.25, 0.28, 0.35, 0.5, 0.62, 0.7, 0.75, 0.78, 0.8, 0.8, 0.78,
            0.78, 0.8, 0.85, 0.92, 0.98, 1.0, 0.95, 0.8, 0.6,
        ];
        const NIGHT: [f64; 24] = [
            0.3, 1.0, 1.0, 1.0, 1.0, 0.6, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05,
            0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.08, 0.15,
        ];
        let table = match self {
            Daily::Flat => return 1.0,
            Daily::Office => &OFFICE,
            Daily::Web => &WEB,
            Daily::Night => &NIGHT,
        };
        let day_us = t.micros() % 86_400_000_000;
        let hour = (day_us / 3_600_000_000) as usize;
        let frac = (day_us % 3_600_000_000) as f64 / 3_600_000_000.0;
        table[hour] + (table[(hour + 1) % 24] - table[hour]) * frac
    }
}

/// A size in bytes drawn at each arrival.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Size {
    Fixed(u32),
    /// Uniform in `[lo, hi]`.
    Uniform(u32, u32),
    /// Pareto with scale `min` and shape `alpha`, cut at `max`: web objects and transfers are
    /// heavy-tailed (most small, a few huge).
    Pareto {
        min: u32,
        alpha: f64,
        max: u32,
    },
}

impl Size {
    pub fn draw(self, rng: &mut impl Rng) -> u32 {
        match self {
            Size::Fixed(n) => n,
            Size::Uniform(lo, hi) => rng.random_range(lo.min(hi)..=hi.max(lo)),
            Size::Pareto { min, alpha, max } => {
                let u: f64 = rng.random_range(f64::EPSILON..1.0);
                let x = min as f64 / u.powf(1.0 / alpha.max(0.01));
                x.min(max as f64) as u32
            }
        }
    }

    /// The largest value it can draw.
    pub fn max(self) -> u32 {
        match self {
            Size::Fixed(n) => n,
            Size::Uniform(lo, hi) => lo.max(hi),
            Size::Pareto { max, .. } => max,
        }
    }
}

/// Who a process's arrivals pick: uniformly, or skewed towards the first ones (Zipf-like:
/// a few clients and servers do most of the talking, as in real fleets).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Pick {
    pub endpoints: Vec<Endpoint>,
    pub skewed: bool,
}

impl Pick {
    pub fn uniform(endpoints: Vec<Endpoint>) -> Pick {
        Pick {
            endpoints,
            skewed: false,
        }
    }

    pub fn skewed(endpoints: Vec<Endpoint>) -> Pick {
        Pick {
            endpoints,
            skewed: true,
        }
    }

    fn draw(&self, rng: &mut impl Rng) -> Option<Endpoint> {
        let n = self.endpoints.len();
        if n == 0 {
            return None;
        }
        let i = if self.skewed {
            // Inverse of a 1/x density over [1, n+1): index ~ (n+1)^u - 1.
            let u: f64 = rng.random();
            (((n as f64 + 1.0).powf(u) - 1.0) as usize).min(n - 1)
        } else {
            rng.random_range(0..n)
        };
        Some(self.endpoints[i])
    }
}

/// What one arrival sends.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Pattern {
    /// A TCP session from a client to a server on one of `ports`: a request, a response cut
    /// into full segments, each acknowledged, then the close.
    Tcp {
        clients: Pick,
        servers: Pick,
        ports: Vec<u16>,
        request: Size,
        response: Size,
        close: Close,
        /// Time between the session's packets, in milliseconds.
        gap_ms: Size,
    },
    /// `count` UDP requests of `size` bytes (the server answers each, if it listens).
    Udp {
        clients: Pick,
        servers: Pick,
        port: u16,
        size: u16,
        count: u16,
    },
    /// Echo requests (answered by hosts).
    Ping {
        clients: Pick,
        servers: Pick,
        count: u16,
    },
    /// One connection attempt of a scan per arrival: the `next`th pair of `targets` ×
    /// `ports`, targets first (horizontal: every host on a port, then the next port) or ports
    /// first (vertical). A probe is a TCP connect: SYN, and on SYN-ACK an ACK and a RST.
    Scan {
        from: Endpoint,
        targets: Vec<Endpoint>,
        ports: Vec<u16>,
        ports_first: bool,
    },
    /// A SYN with a forged source drawn from `sources` (a /N block as first address and
    /// size): a SYN flood; the victim's SYN-ACKs go to addresses that never answer.
    ForgedSyn {
        from: Endpoint,
        target: Endpoint,
        port: u16,
        source_base: u32,
        source_count: u32,
    },
}

/// The ephemeral ports an operating system's clients use (policy.md §2): Linux
/// 32768–60999, Windows 49152–65535.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

impl PortRange {
    pub const LINUX: PortRange = PortRange {
        lo: 32768,
        hi: 60999,
    };
    pub const WINDOWS: PortRange = PortRange {
        lo: 49152,
        hi: 65535,
    };
}

/// One source of traffic: when it sends, what, and under which label.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Process {
    pub label: u32,
    pub start: Time,
    pub end: Time,
    pub arrivals: Arrivals,
    pub pattern: Pattern,
    pub client_ports: PortRange,
    /// Arrivals so far (the next scan probe's index).
    pub sent: u64,
    /// Its own random stream, so that adding a process never changes another's traffic.
    pub rng: ChaCha8Rng,
}

/// What an arrival asks the simulation to send.
#[derive(Clone, Debug, PartialEq)]
pub enum Emit {
    Tcp {
        client: Endpoint,
        server: Endpoint,
        sport: u16,
        dport: u16,
        requests: Vec<u16>,
        responses: Vec<u16>,
        close: Close,
        gap: Span,
    },
    Udp {
        client: Endpoint,
        server: Endpoint,
        sport: u16,
        dport: u16,
        size: u16,
        count: u16,
    },
    Ping {
        client: Endpoint,
        server: Endpoint,
        ident: u16,
        count: u16,
    },
    /// A SYN from `from` whose source address is `src`.
    ForgedSyn {
        from: Endpoint,
        src: std::net::Ipv4Addr,
        sport: u16,
        target: Endpoint,
        dport: u16,
    },
}

impl Process {
    /// A process whose random stream is the `index`th of `seed`.
    pub fn new(
        seed: u64,
        index: u64,
        label: u32,
        (start, end): (Time, Time),
        arrivals: Arrivals,
        pattern: Pattern,
        client_ports: PortRange,
    ) -> Process {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x776f_726b_6c6f_6164);
        rng.set_stream(index);
        Process {
            label,
            start,
            end,
            arrivals,
            pattern,
            client_ports,
            sent: 0,
            rng,
        }
    }

    /// The first arrival at or after `start`, or `None` if there is none before `end`.
    pub fn first(&mut self) -> Option<Time> {
        let start = self.start;
        self.after(start, true)
    }

    /// The next arrival after one at `now`.
    pub fn next(&mut self, now: Time) -> Option<Time> {
        self.after(now, false)
    }

    fn after(&mut self, now: Time, first: bool) -> Option<Time> {
        if let Pattern::Scan { targets, ports, .. } = &self.pattern
            && self.sent >= (targets.len() * ports.len()) as u64
        {
            return None;
        }
        let at = match self.arrivals {
            Arrivals::Poisson { rate, profile } => {
                if rate <= 0.0 {
                    return None;
                }
                // Thinning: candidates at the peak rate, each kept with the hour's level.
                let mut t = now;
                loop {
                    let u: f64 = self.rng.random_range(f64::EPSILON..1.0);
                    let gap = (-u.ln() / rate * 1e6).max(1.0) as u64;
                    t = Time(t.micros().saturating_add(gap));
                    if t >= self.end {
                        return None;
                    }
                    if self.rng.random::<f64>() < profile.level(t) {
                        break t;
                    }
                }
            }
            Arrivals::Periodic { period, jitter } => {
                let base = if first {
                    // The first beacon lands somewhere in the first period.
                    now + Span(self.rng.random_range(0..period.micros().max(1)))
                } else {
                    now + period
                };
                let j = (period.micros() as f64 * jitter.clamp(0.0, 1.0)) as i64;
                let shift = if j > 0 {
                    self.rng.random_range(-j..=j)
                } else {
                    0
                };
                Time(
                    base.micros()
                        .saturating_add_signed(shift)
                        .max(now.micros() + 1),
                )
            }
        };
        (at < self.end).then_some(at)
    }

    /// What the arrival due now sends (`None`: nobody to pick).
    pub fn emit(&mut self) -> Option<Emit> {
        let n = self.sent;
        self.sent += 1;
        let ports = self.client_ports;
        let rng = &mut self.rng;
        let sport = |rng: &mut ChaCha8Rng| rng.random_range(ports.lo..=ports.hi);
        Some(match &self.pattern {
            Pattern::Tcp {
                clients,
                servers,
                ports,
                request,
                response,
                close,
                gap_ms,
            } => {
                let client = clients.draw(rng)?;
                let server = servers.draw(rng)?;
                let dport = *ports.get(rng.random_range(0..ports.len().max(1)))?;
                let requests = segments(request.draw(rng));
                let responses = segments(response.draw(rng));
                let gap = Span::from_micros(u64::from(gap_ms.draw(rng).max(1)) * 1000);
                Emit::Tcp {
                    client,
                    server,
                    sport: sport(rng),
                    dport,
                    requests,
                    responses,
                    close: *close,
                    gap,
                }
            }
            Pattern::Udp {
                clients,
                servers,
                port,
                size,
                count,
            } => Emit::Udp {
                client: clients.draw(rng)?,
                server: servers.draw(rng)?,
                sport: sport(rng),
                dport: *port,
                size: *size,
                count: *count,
            },
            Pattern::Ping {
                clients,
                servers,
                count,
            } => Emit::Ping {
                client: clients.draw(rng)?,
                server: servers.draw(rng)?,
                ident: rng.random_range(1..=u16::MAX),
                count: *count,
            },
            Pattern::Scan {
                from,
                targets,
                ports,
                ports_first,
            } => {
                let (t, p) = (targets.len() as u64, ports.len() as u64);
                if n >= t * p {
                    return None;
                }
                let (ti, pi) = if *ports_first {
                    (n / p, n % p)
                } else {
                    (n % t, n / t)
                };
                Emit::Tcp {
                    client: *from,
                    server: targets[ti as usize],
                    sport: sport(rng),
                    dport: ports[pi as usize],
                    requests: Vec::new(),
                    responses: Vec::new(),
                    close: Close::Rst,
                    gap: Span::from_millis(1),
                }
            }
            Pattern::ForgedSyn {
                from,
                target,
                port,
                source_base,
                source_count,
            } => Emit::ForgedSyn {
                from: *from,
                src: (source_base + rng.random_range(0..(*source_count).max(1))).into(),
                sport: rng.random_range(1024..=u16::MAX),
                target: *target,
                dport: *port,
            },
        })
    }
}

/// A transfer of `bytes` as TCP payloads: full segments and the rest (none for 0 bytes).
pub fn segments(bytes: u32) -> Vec<u16> {
    let mut v = vec![MSS as u16; (bytes / MSS) as usize];
    if !bytes.is_multiple_of(MSS) {
        v.push((bytes % MSS) as u16);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Time = Time(1_700_000_000_000_000);

    fn poisson(rate: f64, profile: Daily, secs: u64) -> Process {
        Process::new(
            7,
            0,
            0,
            (T0, T0 + Span::from_secs(secs)),
            Arrivals::Poisson { rate, profile },
            Pattern::Ping {
                clients: Pick::uniform(vec![Endpoint::External(0)]),
                servers: Pick::uniform(vec![Endpoint::Eni(0)]),
                count: 1,
            },
            PortRange::LINUX,
        )
    }

    fn arrivals(p: &mut Process) -> Vec<Time> {
        let mut v = Vec::new();
        let mut t = p.first();
        while let Some(at) = t {
            v.push(at);
            t = p.next(at);
        }
        v
    }

    #[test]
    fn a_flat_poisson_process_keeps_its_rate() {
        let n = arrivals(&mut poisson(10.0, Daily::Flat, 1000)).len();
        assert!(
            (9_500..=10_500).contains(&n),
            "{n} arrivals in 1000 s at 10/s"
        );
    }

    #[test]
    fn a_daily_profile_thins_the_quiet_hours() {
        // Office hours: 03:00 is at 5% of the peak, 10:00 at 100%.
        // 1_700_006_400 is a midnight (UTC).
        let day = |h: u64| Time::from_secs(1_700_006_400 + h * 3600);
        assert!((Daily::Office.level(day(3)) - 0.05).abs() < 1e-9);
        assert!((Daily::Office.level(day(10)) - 1.0).abs() < 1e-9);
        let mut p = poisson(1.0, Daily::Office, 86_400);
        let times = arrivals(&mut p);
        let in_hour = |h: u64| {
            times
                .iter()
                .filter(|t| (t.secs() % 86_400) / 3600 == h)
                .count()
        };
        assert!(
            in_hour(10) > 5 * in_hour(3),
            "{} vs {}",
            in_hour(10),
            in_hour(3)
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_arrivals_and_another_stream_others() {
        let a = arrivals(&mut poisson(5.0, Daily::Web, 600));
        let b = arrivals(&mut poisson(5.0, Daily::Web, 600));
        assert_eq!(a, b);
        let mut other = poisson(5.0, Daily::Web, 600);
        other.rng.set_stream(1);
        assert_ne!(a, arrivals(&mut other));
    }

    #[test]
    fn periodic_arrivals_stay_within_their_jitter() {
        let mut p = poisson(1.0, Daily::Flat, 3600);
        p.arrivals = Arrivals::Periodic {
            period: Span::from_secs(60),
            jitter: 0.1,
        };
        let times = arrivals(&mut p);
        assert!((59..=61).contains(&times.len()), "{}", times.len());
        for w in times.windows(2) {
            let gap = w[1].micros() - w[0].micros();
            assert!((48_000_000..=72_000_000).contains(&gap), "gap {gap}");
        }
    }

    #[test]
    fn a_scan_probes_each_pair_once_in_its_order() {
        let targets = vec![Endpoint::Eni(0), Endpoint::Eni(1)];
        let mut p = poisson(100.0, Daily::Flat, 3600);
        p.pattern = Pattern::Scan {
            from: Endpoint::External(0),
            targets,
            ports: vec![22, 80, 443],
            ports_first: false,
        };
        let mut probes = Vec::new();
        while let Some(Emit::Tcp { server, dport, .. }) = p.emit() {
            probes.push((server, dport));
        }
        assert_eq!(
            probes,
            [
                (Endpoint::Eni(0), 22),
                (Endpoint::Eni(1), 22),
                (Endpoint::Eni(0), 80),
                (Endpoint::Eni(1), 80),
                (Endpoint::Eni(0), 443),
                (Endpoint::Eni(1), 443)
            ]
        );
        assert_eq!(p.next(T0), None, "a finished scan has no next arrival");
    }

    #[test]
    fn transfers_are_cut_into_full_segments() {
        assert_eq!(segments(0), Vec::<u16>::new());
        assert_eq!(segments(1448), vec![1448]);
        assert_eq!(segments(3000), vec![1448, 1448, 104]);
    }

    #[test]
    fn pareto_sizes_are_heavy_tailed_and_capped() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let s = Size::Pareto {
            min: 1000,
            alpha: 1.2,
            max: 10_000_000,
        };
        let mut v: Vec<u32> = (0..10_000).map(|_| s.draw(&mut rng)).collect();
        v.sort_unstable();
        assert!(v[0] >= 1000 && v[9_999] <= 10_000_000);
        let median = v[5_000];
        assert!((1_500..=2_200).contains(&median), "median {median}");
        assert!(
            v[9_990] > 50 * median,
            "the tail is heavy: p99.9 {}",
            v[9_990]
        );
    }
}
