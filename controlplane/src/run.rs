//! Running a loaded scenario: play the script, close the windows that hold its traffic, and
//! collect what a user sees (records in the chosen format), what a teacher explains (each
//! packet's path and verdicts) and what a packet capture holds: all at the end ([`run`]), or
//! instant by instant as the run goes, keeping none of it ([`stream`], for long scripts).

use std::rc::Rc;

use vpclab_sim::explain;
use vpclab_sim::flowlog::Record;
use vpclab_sim::pcap::{ClassicPcapWriter, PcapWriter};
use vpclab_sim::simulation::Note;
use vpclab_sim::time::Time;
use vpclab_sim::wire;
use vpclab_sim::world::{Captured, ModelError, Outcome, World};

use crate::expect::{self, Failure, Printed};
use crate::load::Loaded;

/// Everything a run produced.
pub struct Run {
    /// Every record, including those dropped by SKIPDATA (ground truth).
    pub records: Vec<Record>,
    /// The records the output format prints, in order.
    pub printed: Vec<Printed>,
    pub outcomes: Vec<Outcome>,
    pub notes: Vec<Note>,
    pub captures: Vec<Captured>,
}

pub fn run(l: &mut Loaded) -> Result<Run, ModelError> {
    match l.until {
        Some(t) => l.sim.run_until(t)?,
        None => {
            l.sim.run_to_end()?;
        }
    }
    Ok(collect(l))
}

/// Why [`run_within`] stopped.
#[derive(Debug)]
pub enum RunError {
    Model(ModelError),
    /// The scenario had sent more packets than the budget allows.
    TooManyPackets {
        limit: u64,
    },
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Model(e) => write!(f, "{e}"),
            RunError::TooManyPackets { limit } => write!(
                f,
                "the scenario sends more than {limit} packets, more than a run here keeps \
                 (`vpclab run` streams any number)"
            ),
        }
    }
}

impl From<ModelError> for RunError {
    fn from(e: ModelError) -> Self {
        RunError::Model(e)
    }
}

/// [`run`], giving up once the scenario has sent more than `max_packets` packets: a run keeps
/// every packet's outcome, so this bounds its memory and time (checked after each instant,
/// so the last instant may pass the budget by its own packets).
pub fn run_within(l: &mut Loaded, max_packets: u64) -> Result<Run, RunError> {
    let over = |l: &Loaded| l.sim.world.packets_sent() > max_packets;
    let too_many = RunError::TooManyPackets { limit: max_packets };
    match l.until {
        Some(t) => {
            while l.sim.step(t)? {
                if over(l) {
                    return Err(too_many);
                }
            }
            l.sim.run_until(t)?;
        }
        None => {
            while l.sim.step_script()? {
                if over(l) {
                    return Err(too_many);
                }
            }
            l.sim.close_windows()?;
        }
    }
    Ok(collect(l))
}

/// What a finished run produced, taken from the simulation.
fn collect(l: &mut Loaded) -> Run {
    let records = l.sim.world.take_records();
    let printed = records
        .iter()
        .filter(|r| l.format.prints(r))
        .map(|r| Printed::new(r, &l.format))
        .collect();
    Run {
        records,
        printed,
        outcomes: l.sim.take_outcomes(),
        notes: l.sim.take_notes(),
        captures: l.sim.world.take_captures(),
    }
}

impl Run {
    /// The printed lines, one record per line.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.printed.iter().map(|p| p.line.as_str())
    }

    /// The explanation of every packet, in the order they were sent, with the run's notes.
    pub fn explain(&self, l: &Loaded) -> String {
        let mut out = String::new();
        let mut notes = self.notes.iter().peekable();
        for o in &self.outcomes {
            while let Some(n) = notes.next_if(|n| n.at < o.at) {
                out.push_str(&note_line(n, Some(l.start)));
                out.push('\n');
            }
            for line in explain::packet(&l.sim.world, o, Some(l.start)) {
                out.push_str(&line);
                out.push('\n');
            }
        }
        for n in notes {
            out.push_str(&note_line(n, Some(l.start)));
            out.push('\n');
        }
        out
    }

    /// The explanation of the `n`th printed record (1-based, in output order): the lines
    /// `vpclab run --explain` prints under it ([`explain::record`]), or how many records
    /// print when there is no such record.
    pub fn why(&self, l: &Loaded, n: usize) -> Result<Vec<String>, usize> {
        let mut printed = self.records.iter().filter(|r| l.format.prints(r));
        let Some(r) = n.checked_sub(1).and_then(|i| printed.nth(i)) else {
            return Err(self.printed.len());
        };
        // Outcomes are in id order; only the record's first packet's trace is read.
        let first = r.truth.packet_ids.first().and_then(|id| {
            let i = self.outcomes.binary_search_by_key(id, |o| o.id).ok()?;
            Some(explain::trace(&l.sim.world, &self.outcomes[i]))
        });
        Ok(explain::record(r, |_| first.as_ref(), Some(l.start)))
    }

    /// Every packet at every capture point as pcapng: one interface per ENI and direction.
    pub fn pcap(&self, l: &Loaded) -> Vec<u8> {
        pcap(l, &self.captures)
    }

    /// The packet ids the `n`th printed record (1-based, in output order) counts, or how
    /// many records print when there is no such record.
    pub fn packets_of_printed(&self, l: &Loaded, n: usize) -> Result<&[u64], usize> {
        let mut printed = self.records.iter().filter(|r| l.format.prints(r));
        match n.checked_sub(1).and_then(|i| printed.nth(i)) {
            Some(r) => Ok(&r.truth.packet_ids),
            None => Err(self.printed.len()),
        }
    }

    pub fn check(&self, l: &Loaded) -> Vec<Failure> {
        expect::check(&l.expectations, &self.printed)
    }
}

/// A note as explanations print it, its time relative to `origin` when given.
pub fn note_line(n: &Note, origin: Option<vpclab_sim::time::Time>) -> String {
    format!("note {}: {}", explain::when(n.at, origin), n.text)
}

/// A capture point's name (`eni-…/ingress`) and description, as captures show them.
fn capture_point(l: &Loaded, c: &Captured) -> (String, String) {
    let eni = &l.sim.world.enis[c.eni as usize];
    let name = format!("{}/{}", eni.id, c.direction.as_str());
    let desc = format!(
        "{} {} ({}), {}",
        eni.name,
        c.direction.as_str(),
        eni.ip,
        l.provider
    );
    (name, desc)
}

/// Captured packets as pcapng: one interface per ENI and direction.
pub fn pcap(l: &Loaded, captures: &[Captured]) -> Vec<u8> {
    let mut w = PcapWriter::new();
    add_to_pcap(&mut w, l, captures);
    w.into_bytes()
}

/// Adds captured packets to a pcapng writer (for captures written as they come).
pub fn add_to_pcap(w: &mut PcapWriter, l: &Loaded, captures: &[Captured]) {
    for c in captures {
        let (name, desc) = capture_point(l, c);
        let iface = w.interface(&name, &desc);
        let comment = format!("packet #{} {}", c.packet_id, c.action.as_str());
        w.packet(iface, c.at, &wire::encode(&c.packet), Some(&comment));
    }
}

/// Captured packets as classic pcap (Ethernet, one link): the file, and the legend of the
/// Ethernet source addresses that name the capture points, one line each.
pub fn classic_pcap(l: &Loaded, captures: &[Captured]) -> (Vec<u8>, Vec<String>) {
    let mut w = ClassicPcapWriter::new();
    add_to_classic_pcap(&mut w, l, captures);
    let legend = classic_legend(&w);
    (w.into_bytes(), legend)
}

/// Adds captured packets to a classic pcap writer (for captures written as they come).
pub fn add_to_classic_pcap(w: &mut ClassicPcapWriter, l: &Loaded, captures: &[Captured]) {
    for c in captures {
        let (name, desc) = capture_point(l, c);
        let iface = w.interface(&name, &desc);
        w.packet(iface, c.at, &wire::encode(&c.packet));
    }
}

/// The legend of a classic capture: each Ethernet source address and the capture point it
/// names, one line each.
pub fn classic_legend(w: &ClassicPcapWriter) -> Vec<String> {
    w.legend()
        .map(|(mac, name, desc)| format!("{mac} {name} ({desc})"))
        .collect()
}

/// The traces of the packets whose records may still be to come, for the records'
/// explanations in a streamed run: a packet is forgotten once it is older than twice the
/// longest flow-log window (no open window can count it any more), so memory follows the
/// packets of a window, not of the run; and the packets of a flow, which go the same way,
/// share one trace (a few bytes a packet).
#[derive(Default)]
pub struct Traces {
    kept: std::collections::BTreeMap<u64, (Time, Rc<explain::Trace>)>,
    /// The last distinct traces, newest last, for sharing.
    recent: Vec<Rc<explain::Trace>>,
}

impl Traces {
    /// How many distinct recent traces a new one is compared with.
    const RECENT: usize = 16;

    /// Keeps a packet's trace, forgetting those no record can count any more.
    pub fn keep(&mut self, world: &World, o: &Outcome) {
        let horizon = o.at - world.longest_window().times(2);
        while let Some(e) = self.kept.first_entry() {
            if e.get().0 >= horizon {
                break;
            }
            e.remove();
        }
        let t = explain::trace(world, o);
        let shared = match self.recent.iter().position(|r| **r == t) {
            Some(i) => {
                let r = self.recent.remove(i);
                self.recent.push(r.clone());
                r
            }
            None => {
                let r = Rc::new(t);
                if self.recent.len() == Self::RECENT {
                    self.recent.remove(0);
                }
                self.recent.push(r.clone());
                r
            }
        };
        self.kept.insert(o.id, (o.at, shared));
    }

    /// The lines that explain `record` ([`explain::record`]).
    pub fn why(&self, record: &Record, origin: Option<Time>) -> Vec<String> {
        explain::record(record, |id| self.kept.get(&id).map(|(_, t)| &**t), origin)
    }
}

/// What a streamed run hands out as it goes.
pub enum Streamed<'a> {
    /// A packet, in the instant it was sent (only with `Options.explain` or `capture`: the
    /// outcomes the simulation keeps).
    Packet(&'a Outcome),
    /// A note, after the packets of its instant and before any later one (the order of
    /// [`Run::explain`]), with the outcome of the packet it is about if it names one.
    Note(&'a Note, Option<&'a Outcome>),
    /// A record's line in the scenario's format, when its window closes (records no format
    /// prints are not handed out), with the names of its fields when the line is positional
    /// (they differ between ENI, router and CCN records), and the record.
    Record(&'a str, Option<Vec<&'static str>>, &'a Record),
}

/// Why a streamed run stopped early.
#[derive(Debug)]
pub enum StreamError<E> {
    Model(ModelError),
    /// The callback's error.
    Sink(E),
}

impl<E> From<ModelError> for StreamError<E> {
    fn from(e: ModelError) -> Self {
        StreamError::Model(e)
    }
}

/// Runs a loaded scenario like [`run`], handing each instant's packets, notes and records to
/// `each` as soon as the instant has run and keeping none of them, so memory does not grow
/// with the packets sent (what `vpclab run --explain` needs for long scripts). Packet
/// captures, if on, still collect in the world (`world.take_captures()` after the run).
///
/// The order is [`Run::explain`]'s: every packet and note of an instant has that instant's
/// time, so emitting an instant's packets, then its notes, puts each note before the first
/// packet later than it.
pub fn stream<E>(
    l: &mut Loaded,
    mut each: impl FnMut(&World, Streamed<'_>) -> Result<(), E>,
) -> Result<(), StreamError<E>> {
    let mut drain = |l: &mut Loaded| drain(l, &mut each);
    match l.until {
        Some(t) => {
            while l.sim.step(t)? {
                drain(l).map_err(StreamError::Sink)?;
            }
            // No event is due by `t` any more: this only moves the clock and closes windows.
            l.sim.run_until(t)?;
        }
        None => {
            while l.sim.step_script()? {
                drain(l).map_err(StreamError::Sink)?;
            }
            l.sim.close_windows()?;
        }
    }
    drain(l).map_err(StreamError::Sink)
}

/// Hands `each` what the simulation collected since the last call, in [`stream`]'s order:
/// the packets kept, the notes, then the records of the windows that closed. For callers that
/// drive the clock themselves (live mode).
pub fn drain<E>(
    l: &mut Loaded,
    mut each: impl FnMut(&World, Streamed<'_>) -> Result<(), E>,
) -> Result<(), E> {
    let outcomes = l.sim.take_outcomes();
    for o in &outcomes {
        each(&l.sim.world, Streamed::Packet(o))?;
    }
    for n in l.sim.take_notes() {
        // Outcomes are in id order: the note's packet, if kept, is found by search.
        let about = n.packet.and_then(|id| {
            outcomes
                .binary_search_by_key(&id, |o| o.id)
                .ok()
                .map(|i| &outcomes[i])
        });
        each(&l.sim.world, Streamed::Note(&n, about))?;
    }
    // Records after the packets: a step may send a record's last packets and close its
    // window, and the record's explanation reads its packets' traces.
    for r in l.sim.world.take_records() {
        if l.format.prints(&r) {
            let format = l.format.for_record(&r);
            let line = format.render(&r);
            let fields = format
                .ccn_positional_fields(&r)
                .or_else(|| format.positional_fields());
            each(&l.sim.world, Streamed::Record(&line, fields, &r))?;
        }
    }
    Ok(())
}
