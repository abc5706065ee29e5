//! `vpclab live`: real programs send real packets through the simulated cloud.
//!
//! Every ENI and every internet or on-premises host of the scenario gets a network namespace
//! of its own (`netns`), with its addresses on a TAP device whose other end is this process.
//! A frame a program sends there is read here: ARP is answered as a VPC's virtual switch
//! answers it (`frame`), an IPv4 datagram is decoded (`vpclab_sim::wire::decode`) and sent
//! through the same world as scripted packets (`Simulation::inject`: security groups, ACLs,
//! connection tracking, routes, NAT, routers, CCN), and if the world delivers it to another
//! namespace it is written there, with the addresses, ports and TTL the world gave it and its
//! real payload. The real receiver answers on its own. Flow-log records print as their
//! windows close.
//!
//! Time: the world's clock is virtual; this module, at the edge, maps the wall clock onto it
//! (the scenario's `start:` when the run begins, then one virtual second per second). The
//! scenario's own script runs on that clock too, its hosts answering as in `vpclab run`: its
//! packets share the world (connections, NAT ports, records) but stay inside the simulator.
//!
//! Nothing leaves the machine: the namespaces have no link to the host's network but their
//! TAP device, which only this process reads, and a datagram to an address nobody simulates
//! is dropped by the world like any other.

mod frame;
mod netns;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use vpclab_controlplane::run::{self, Streamed, Traces, note_line};
use vpclab_controlplane::{Loaded, Options};
use vpclab_sim::explain;
use vpclab_sim::flowlog::format::Format;
use vpclab_sim::pcap::{ClassicPcapWriter, PcapWriter};
use vpclab_sim::time::{Span, Time};
use vpclab_sim::wire;
use vpclab_sim::world::{Endpoint, World, live};

use crate::output::say;
use crate::{BAD_INPUT, fail};

/// A command to run inside a host's namespace.
#[derive(Debug, PartialEq, Eq)]
pub struct Exec {
    pub host: String,
    pub argv: Vec<String>,
}

pub struct Args<'a> {
    pub file: &'a Path,
    pub provider: Option<String>,
    pub format: Option<String>,
    pub explain: bool,
    pub window: Option<u64>,
    pub duration: Option<f64>,
    pub pcapng: Option<&'a Path>,
    pub pcap: Option<&'a Path>,
    pub execs: Vec<Exec>,
    pub shell: Option<String>,
    /// `vpclab bench live`: print no records, and the run's figures on stdout at the end.
    pub bench: bool,
}

/// The `--exec` commands of a command line: clap gives the first `--exec NAME` and every
/// word after the first `--`, in which each further command starts at `--exec NAME --`.
pub fn execs(first: Option<String>, words: Vec<String>) -> Result<Vec<Exec>, String> {
    let Some(host) = first else {
        return match words.is_empty() {
            true => Ok(Vec::new()),
            false => Err("a command after `--` needs `--exec NAME` before it".into()),
        };
    };
    let mut out = vec![Exec {
        host,
        argv: Vec::new(),
    }];
    let mut words = words.into_iter();
    while let Some(w) = words.next() {
        if w == "--exec" {
            let host = words
                .next()
                .ok_or("--exec needs a host name and `-- COMMAND`")?;
            if words.next().as_deref() != Some("--") {
                return Err(format!("--exec {host}: the command follows `--`"));
            }
            out.push(Exec {
                host,
                argv: Vec::new(),
            });
        } else if let Some(last) = out.last_mut() {
            last.argv.push(w);
        }
    }
    if let Some(e) = out.iter().find(|e| e.argv.is_empty()) {
        return Err(format!(
            "--exec {}: no command (`--exec NAME -- COMMAND ARGS…`)",
            e.host
        ));
    }
    Ok(out)
}

/// Set by SIGINT, SIGTERM and SIGHUP: the run ends, windows flush, namespaces go.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn catch_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
    }
}

/// A simulated host that has a namespace: which endpoint it is and what it is given.
struct Planned {
    endpoint: Endpoint,
    plan: netns::Plan,
}

/// The hosts a live run gives namespaces, in the world's order: every ENI but those of the
/// cloud's own devices (a NAT gateway's, a router attachment's), then every external host.
fn plans(world: &World) -> Vec<Planned> {
    let mut out = Vec::new();
    for (i, eni) in live(&world.enis) {
        if eni.requester_managed {
            continue;
        }
        let cidr = world.subnets[eni.subnet as usize].cidr;
        let len = cidr.prefix_len();
        let mut addresses = vec![(eni.ip, len)];
        addresses.extend(eni.secondary_ips.iter().map(|&ip| (ip, len)));
        out.push(Planned {
            endpoint: Endpoint::Eni(i),
            plan: netns::Plan {
                name: eni.name.clone(),
                addresses,
                // The subnet's first address is the VPC router's on every cloud here.
                gateway: cidr.nth(1),
                mtu: world.interface_mtu(Endpoint::Eni(i)),
            },
        });
    }
    for (i, host) in live(&world.externals) {
        out.push(Planned {
            endpoint: Endpoint::External(i),
            plan: netns::Plan {
                name: host.name.clone(),
                addresses: vec![(host.ip, 32)],
                gateway: None,
                mtu: world.interface_mtu(Endpoint::External(i)),
            },
        });
    }
    out
}

pub fn cmd_live(a: Args<'_>) -> ExitCode {
    let provider = match crate::generate::parse_provider(a.provider.as_deref()) {
        Ok(p) => p,
        Err(e) => return fail(BAD_INPUT, &e),
    };
    let format = match a
        .format
        .as_deref()
        .map(|f| Format::parse(f, None))
        .transpose()
    {
        Ok(f) => f,
        Err(e) => return fail(BAD_INPUT, &format!("--format: {e}")),
    };
    let opts = Options {
        provider,
        format,
        explain: a.explain,
        capture: a.pcapng.is_some() || a.pcap.is_some(),
        labels_only: false,
    };
    let mut loaded = match crate::load_file(a.file, &opts) {
        Ok(l) => l,
        Err(e) => return fail(BAD_INPUT, &e),
    };
    if let Some(w) = a.window {
        if w == 0 {
            return fail(BAD_INPUT, "--window: must be at least 1 second");
        }
        loaded.sim.world.set_windows(Span::from_secs(w));
    }
    let captures = match Captures::create(a.pcapng, a.pcap) {
        Ok(c) => c,
        Err(e) => return fail(1, &e),
    };
    let planned = plans(&loaded.sim.world);
    let named = |name: &str| planned.iter().position(|p| p.plan.name == name);
    let wanted = a.execs.iter().map(|e| &e.host).chain(a.shell.as_ref());
    for name in wanted {
        if named(name).is_none() {
            let known: Vec<&str> = planned.iter().map(|p| p.plan.name.as_str()).collect();
            return fail(
                BAD_INPUT,
                &format!(
                    "no interface or host named {name:?} in {}; it has: {}",
                    a.file.display(),
                    known.join(", ")
                ),
            );
        }
    }
    // After the file and the names: they are wrong whoever runs it.
    if let Err(e) = netns::check_privileges() {
        return fail(BAD_INPUT, &format!("live: {e}"));
    }
    for name in netns::remove_stale() {
        crate::output::warn(format_args!(
            "vpclab: removed {name}, left by a run that is gone"
        ));
    }
    let plans: Vec<netns::Plan> = planned.iter().map(|p| p.plan.clone()).collect();
    let lab = match netns::build(&plans) {
        Ok(lab) => lab,
        Err(e) => return fail(1, &format!("live: {e}")),
    };
    catch_signals();
    for (p, host) in planned.iter().zip(&lab.hosts) {
        let addresses: Vec<String> = p
            .plan
            .addresses
            .iter()
            .map(|(a, l)| format!("{a}/{l}"))
            .collect();
        crate::output::warn(format_args!(
            "vpclab: {} {} in netns {}",
            p.plan.name,
            addresses.join(" "),
            host.netns
        ));
    }
    if let Some(w) = a.window {
        crate::output::warn(format_args!(
            "vpclab: capture windows of {w} s (--window), not the cloud's"
        ));
    }
    let mut live = Live {
        hosts: lab
            .hosts
            .iter()
            .zip(&planned)
            .map(|(h, p)| (p.endpoint, h))
            .collect(),
        by_endpoint: planned
            .iter()
            .enumerate()
            .map(|(i, p)| (p.endpoint, i))
            .collect(),
        clock: Clock {
            wall: Instant::now(),
            start: loaded.sim.now(),
        },
        not_simulated: BTreeMap::new(),
        printer: Printer::new(a.explain && !a.bench, loaded.start),
        captures,
        stats: Stats::default(),
    };
    let mut children = match spawn(&a, &planned, &lab) {
        Ok(c) => c,
        Err(e) => return fail(1, &format!("live: {e}")),
    };
    let interactive = a.shell.is_some() || !a.execs.is_empty();
    let deadline = a
        .duration
        .map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    live.printer.closed = a.bench;
    let result = live.run(&mut loaded, &mut children, interactive, deadline);
    let wall = live.clock.wall.elapsed();
    for c in &mut children {
        // Commands still running when the run stops (Ctrl-C, --duration) are stopped.
        let _ = c.child.kill();
        let _ = c.child.wait();
    }
    // What the script would have sent later is not sent: the run is over.
    let unsent = loaded.sim.drop_pending_traffic();
    let closed = loaded
        .sim
        .close_windows()
        .map_err(|e| e.to_string())
        .and_then(|_| live.printer.drain(&mut loaded).map_err(|e| e.to_string()))
        .and_then(|()| live.captures.flush(&mut loaded));
    if let Err(e) = result.and(closed) {
        return fail(1, &format!("live: {e}"));
    }
    for c in &children {
        crate::output::warn(format_args!(
            "vpclab: {}: `{}` {}",
            c.host, c.line, c.status
        ));
    }
    if unsent > 0 {
        crate::output::warn(format_args!(
            "vpclab: {unsent} scripted packets were not sent: the run ended before they were due"
        ));
    }
    for (kind, n) in &live.not_simulated {
        crate::output::warn(format_args!("vpclab: {n} frames not simulated: {kind}"));
    }
    let s = &live.stats;
    let per = |d: Duration, n: u64| d.as_nanos() as f64 / 1000.0 / n.max(1) as f64;
    if a.bench {
        say!("live_wall_seconds={:.2}", wall.as_secs_f64());
        say!("frames_read={}", s.frames_in);
        say!("datagrams_simulated={}", s.datagrams);
        say!("frames_written={}", s.frames_out);
        say!(
            "datagrams_per_second={:.0}",
            s.datagrams as f64 / wall.as_secs_f64()
        );
        say!(
            "device_io_us_per_frame={:.2}",
            per(s.io, s.frames_in + s.frames_out)
        );
        say!("simulator_us_per_datagram={:.2}", per(s.sim, s.datagrams));
    } else {
        crate::output::warn(format_args!(
            "vpclab: {} datagrams through the simulated cloud, {} frames written; \
             {:.1} µs device I/O per frame, {:.1} µs simulator per datagram",
            s.datagrams,
            s.frames_out,
            per(s.io, s.frames_in + s.frames_out),
            per(s.sim, s.datagrams)
        ));
    }
    if let Some((path, _, w)) = &live.captures.classic {
        crate::output::warn(format_args!(
            "vpclab: {}: {} packets; capture points by Ethernet source address:",
            path.display(),
            w.packets()
        ));
        for line in run::classic_legend(w) {
            crate::output::warn(format_args!("  {line}"));
        }
    }
    if live.printer.failed {
        return fail(1, "cannot write the records to standard output");
    }
    ExitCode::SUCCESS
}

/// `vpclab bench live`: iperf3 from one instance to the other of `scenarios/two-instances.yaml`
/// for `seconds`, its figures printed.
pub fn bench(seconds: u32) -> ExitCode {
    let file = Path::new("scenarios/two-instances.yaml");
    let client = format!("sleep 0.5; iperf3 --client 10.0.1.20 --time {seconds} --format m");
    crate::output::warn(format_args!(
        "vpclab bench live: iperf3 --client 10.0.1.20 --time {seconds} (10.0.1.10 -> 10.0.1.20)"
    ));
    cmd_live(Args {
        file,
        provider: None,
        format: None,
        explain: false,
        window: None,
        duration: Some(f64::from(seconds) + 30.0),
        pcapng: None,
        pcap: None,
        execs: vec![
            Exec {
                host: "server".into(),
                argv: ["iperf3", "--server", "--one-off"]
                    .map(String::from)
                    .to_vec(),
            },
            Exec {
                host: "client".into(),
                argv: ["sh".to_string(), "-c".to_string(), client].to_vec(),
            },
        ],
        shell: None,
        bench: true,
    })
}

/// The wall clock mapped onto the world's: `start` when the run began, then one virtual
/// microsecond per real one.
struct Clock {
    wall: Instant,
    start: Time,
}

impl Clock {
    fn now(&self) -> Time {
        let elapsed = self.wall.elapsed().as_micros() as u64;
        Time(self.start.micros() + elapsed)
    }
}

/// A command running in a namespace.
struct Running {
    host: String,
    line: String,
    child: Child,
    status: String,
}

fn spawn(a: &Args<'_>, planned: &[Planned], lab: &netns::Lab) -> Result<Vec<Running>, String> {
    let netns_of = |name: &str| {
        let i = planned
            .iter()
            .position(|p| p.plan.name == name)
            .unwrap_or(0);
        lab.hosts[i].netns.clone()
    };
    let mut out = Vec::new();
    for e in &a.execs {
        let mut c = netns::command_in(&netns_of(&e.host), &e.argv);
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c
            .spawn()
            .map_err(|err| format!("{}: cannot run: {err}", e.argv[0]))?;
        // Their output goes to standard error, each line after the host's name: standard
        // output is the records'.
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let host = e.host.clone();
            std::thread::spawn(move || {
                let reader = io::BufReader::new(pipe);
                for line in io::BufRead::lines(reader).map_while(Result::ok) {
                    crate::output::warn(format_args!("{host}| {line}"));
                }
            });
        }
        out.push(Running {
            host: e.host.clone(),
            line: e.argv.join(" "),
            child,
            status: String::new(),
        });
    }
    if let Some(name) = &a.shell {
        let shell = std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into());
        let mut c = netns::command_in(&netns_of(name), std::slice::from_ref(&shell));
        let child = c.spawn().map_err(|e| format!("{shell}: cannot run: {e}"))?;
        out.push(Running {
            host: name.clone(),
            line: shell,
            child,
            status: String::new(),
        });
    }
    Ok(out)
}

/// The running part of a live run.
struct Live<'a> {
    /// Each namespace's endpoint and device, in the order of `plans`.
    hosts: Vec<(Endpoint, &'a netns::Host)>,
    /// The index in `hosts` of each endpoint (the lookup of every delivered datagram).
    by_endpoint: BTreeMap<Endpoint, usize>,
    clock: Clock,
    /// Frames that were not IPv4 or did not decode, by what they were.
    not_simulated: BTreeMap<String, u64>,
    printer: Printer,
    captures: Captures,
    stats: Stats,
}

/// The packet captures of `--pcapng` and `--pcap`, written to their files as the run goes
/// (a live run may last hours: what is captured is not kept here).
struct Captures {
    pcapng: Option<(PathBuf, File, PcapWriter)>,
    classic: Option<(PathBuf, File, ClassicPcapWriter)>,
}

impl Captures {
    /// Creates the files, before anything else is made: a path that cannot be written is
    /// known at once.
    fn create(pcapng: Option<&Path>, classic: Option<&Path>) -> Result<Captures, String> {
        let open =
            |p: &Path| File::create(p).map_err(|e| format!("{}: cannot write: {e}", p.display()));
        Ok(Captures {
            pcapng: match pcapng {
                Some(p) => Some((p.to_path_buf(), open(p)?, PcapWriter::new())),
                None => None,
            },
            classic: match classic {
                Some(p) => Some((p.to_path_buf(), open(p)?, ClassicPcapWriter::new())),
                None => None,
            },
        })
    }

    /// Writes what the world captured since the last call.
    fn flush(&mut self, l: &mut Loaded) -> Result<(), String> {
        if self.pcapng.is_none() && self.classic.is_none() {
            return Ok(());
        }
        let captured = l.sim.world.take_captures();
        let failed = |p: &Path, e: io::Error| format!("{}: cannot write: {e}", p.display());
        if let Some((path, file, w)) = &mut self.pcapng {
            run::add_to_pcap(w, l, &captured);
            file.write_all(&w.take_bytes())
                .map_err(|e| failed(path, e))?;
        }
        if let Some((path, file, w)) = &mut self.classic {
            run::add_to_classic_pcap(w, l, &captured);
            file.write_all(&w.take_bytes())
                .map_err(|e| failed(path, e))?;
        }
        Ok(())
    }
}

/// What a run moved, and where its time went (wall clock, the edge's own business).
#[derive(Default)]
struct Stats {
    frames_in: u64,
    frames_out: u64,
    datagrams: u64,
    /// In read(2) and write(2) on the devices.
    io: Duration,
    /// Decoding, the world's pipeline, rewriting.
    sim: Duration,
}

/// How long a poll waits at most: how often finished commands and signals are noticed.
const TICK: Duration = Duration::from_millis(20);

impl Live<'_> {
    fn run(
        &mut self,
        l: &mut Loaded,
        children: &mut [Running],
        interactive: bool,
        deadline: Option<Instant>,
    ) -> Result<(), String> {
        let mut fds: Vec<libc::pollfd> = self
            .hosts
            .iter()
            .map(|(_, h)| libc::pollfd {
                fd: h.tap.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let mut buf = vec![0u8; 65536];
        loop {
            l.sim
                .run_until(self.clock.now())
                .map_err(|e| e.to_string())?;
            self.printer.drain(l).map_err(|e| e.to_string())?;
            self.captures.flush(l)?;
            if STOP.load(Ordering::SeqCst) || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(());
            }
            if interactive && all_done(children) {
                return Ok(());
            }
            let wait = match l.sim.next_due() {
                Some(at) => {
                    Duration::from_micros(at.micros().saturating_sub(self.clock.now().micros()))
                }
                None => TICK,
            }
            .min(TICK);
            // SAFETY: `fds` is a live array of `fds.len()` pollfd structs.
            let n = unsafe {
                libc::poll(
                    fds.as_mut_ptr(),
                    fds.len() as libc::nfds_t,
                    wait.as_millis() as i32,
                )
            };
            if n <= 0 {
                continue; // a timeout, or a signal (EINTR): the loop looks again
            }
            let ready: Vec<usize> = (fds.iter().enumerate())
                .filter(|(_, f)| f.revents & libc::POLLIN != 0)
                .map(|(i, _)| i)
                .collect();
            for i in ready {
                self.read_all(l, i, &mut buf)?;
            }
        }
    }

    /// Reads every frame host `i`'s device has for us.
    fn read_all(&mut self, l: &mut Loaded, i: usize, buf: &mut [u8]) -> Result<(), String> {
        loop {
            let t = Instant::now();
            let read = (&self.hosts[i].1.tap).read(buf);
            self.stats.io += t.elapsed();
            let n = match read {
                Ok(n) => {
                    self.stats.frames_in += 1;
                    n
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("{}: {e}", self.hosts[i].1.netns)),
            };
            match frame::classify(&buf[..n]) {
                frame::Frame::Arp(reply) => self.write(i, &reply),
                frame::Frame::Ipv4(datagram) => self.send(l, i, datagram)?,
                frame::Frame::Other(kind) => {
                    let kind = match kind {
                        Some(t) => format!("EtherType {t:#06x}"),
                        None => "runt frames".into(),
                    };
                    *self.not_simulated.entry(kind).or_default() += 1;
                }
            }
        }
    }

    /// Sends a real datagram from host `i` through the world and hands on what it delivers.
    fn send(&mut self, l: &mut Loaded, i: usize, datagram: &[u8]) -> Result<(), String> {
        let t = Instant::now();
        let packet = match wire::decode(datagram) {
            Ok(p) => p,
            Err(e) => {
                *self.not_simulated.entry(e.to_string()).or_default() += 1;
                return Ok(());
            }
        };
        l.sim
            .run_until(self.clock.now())
            .map_err(|e| e.to_string())?;
        let outcomes = l.sim.inject(self.hosts[i].0, packet);
        self.stats.datagrams += 1;
        let mut frames = Vec::new();
        for (k, o) in outcomes.iter().enumerate() {
            let Some((to, seen)) = o.delivered() else {
                continue;
            };
            let Some(&j) = self.by_endpoint.get(&to) else {
                continue;
            };
            // The real datagram keeps its payload; what the cloud itself answers is made here.
            let bytes = if k == 0 {
                let mut bytes = datagram[..usize::from(packet.len)].to_vec();
                match wire::rewrite(&mut bytes, &seen) {
                    Ok(()) => bytes,
                    Err(_) => continue,
                }
            } else {
                wire::encode(&seen)
            };
            frames.push((j, frame::ethernet(self.hosts[j].1.mac, &bytes)));
        }
        self.stats.sim += t.elapsed();
        for (j, f) in frames {
            self.write(j, &f);
        }
        Ok(())
    }

    /// Writes a frame to host `i`'s device. A full device queue drops it, as a real link does.
    fn write(&mut self, i: usize, frame: &[u8]) {
        let t = Instant::now();
        let _ = (&self.hosts[i].1.tap).write(frame);
        self.stats.io += t.elapsed();
        self.stats.frames_out += 1;
    }
}

/// Whether every command has ended (recording how).
fn all_done(children: &mut [Running]) -> bool {
    let mut done = true;
    for c in children.iter_mut() {
        if !c.status.is_empty() {
            continue;
        }
        match c.child.try_wait() {
            Ok(Some(s)) => {
                c.status = match s.code() {
                    Some(0) => "exited with 0".into(),
                    Some(n) => format!("exited with {n}"),
                    None => "was killed by a signal".into(),
                }
            }
            Ok(None) => done = false,
            Err(e) => c.status = format!("could not be waited for: {e}"),
        }
    }
    done
}

/// Prints what the run collects as it goes: records as their windows close, and with
/// `--explain` each packet's path and each record's why.
struct Printer {
    explain: bool,
    origin: Option<Time>,
    traces: Traces,
    /// Standard output failed (not a closed pipe): nothing more is printed.
    failed: bool,
    closed: bool,
}

impl Printer {
    fn new(explain: bool, start: Time) -> Printer {
        Printer {
            explain,
            origin: Some(start),
            traces: Traces::default(),
            failed: false,
            closed: false,
        }
    }

    fn drain(&mut self, l: &mut Loaded) -> io::Result<()> {
        let mut out = io::stdout().lock();
        let (explain, origin) = (self.explain, self.origin);
        let (traces, closed) = (&mut self.traces, self.closed || self.failed);
        let written = run::drain(l, |world, item| {
            if closed {
                return Ok(());
            }
            match item {
                Streamed::Packet(o) if explain => {
                    traces.keep(world, o);
                    for line in explain::packet(world, o, origin) {
                        writeln!(out, "{line}")?;
                    }
                }
                Streamed::Note(n, _) if explain => writeln!(out, "{}", note_line(n, origin))?,
                Streamed::Record(line, _, record) => {
                    writeln!(out, "{line}")?;
                    if explain {
                        for why in traces.why(record, origin) {
                            writeln!(out, "{why}")?;
                        }
                    }
                }
                Streamed::Packet(_) | Streamed::Note(..) => {}
            }
            Ok(())
        })
        .and_then(|()| out.flush());
        match written {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => self.closed = true,
            Err(_) => self.failed = true,
            Ok(()) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn exec_commands_split_at_each_exec() {
        let got = execs(
            Some("web".into()),
            words("nc -l 80 --exec home -- curl -s http://198.51.100.10/"),
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                Exec {
                    host: "web".into(),
                    argv: words("nc -l 80")
                },
                Exec {
                    host: "home".into(),
                    argv: words("curl -s http://198.51.100.10/")
                },
            ]
        );
        assert_eq!(execs(None, vec![]).unwrap(), vec![]);
        assert_eq!(
            execs(None, words("ping x")).unwrap_err(),
            "a command after `--` needs `--exec NAME` before it"
        );
        assert_eq!(
            execs(Some("web".into()), vec![]).unwrap_err(),
            "--exec web: no command (`--exec NAME -- COMMAND ARGS…`)"
        );
        assert_eq!(
            execs(Some("web".into()), words("true --exec home curl")).unwrap_err(),
            "--exec home: the command follows `--`"
        );
    }
}
