//! Running a loaded scenario: play the script, close the windows that hold its traffic, and
//! collect what a user sees (records in the chosen format), what a teacher explains (each
//! packet's path and verdicts) and what a packet capture holds.

use vpclab_sim::explain;
use vpclab_sim::flowlog::Record;
use vpclab_sim::pcap::PcapWriter;
use vpclab_sim::simulation::Note;
use vpclab_sim::wire;
use vpclab_sim::world::{Captured, ModelError, Outcome};

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
    let records = l.sim.world.take_records();
    let printed = records
        .iter()
        .filter(|r| l.format.prints(r))
        .map(|r| Printed::new(r, &l.format))
        .collect();
    Ok(Run {
        records,
        printed,
        outcomes: l.sim.take_outcomes(),
        notes: l.sim.take_notes(),
        captures: l.sim.world.take_captures(),
    })
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
                out.push_str(&format!("note {}: {}\n", n.at, n.text));
            }
            for line in explain::packet(&l.sim.world, o) {
                out.push_str(&line);
                out.push('\n');
            }
        }
        for n in notes {
            out.push_str(&format!("note {}: {}\n", n.at, n.text));
        }
        out
    }

    /// Every packet at every capture point as pcapng: one interface per ENI and direction.
    pub fn pcap(&self, l: &Loaded) -> Vec<u8> {
        let mut w = PcapWriter::new();
        for c in &self.captures {
            let eni = &l.sim.world.enis[c.eni as usize];
            let name = format!("{}/{}", eni.id, c.direction.as_str());
            let desc = format!(
                "{} {} ({}), {}",
                eni.name,
                c.direction.as_str(),
                eni.ip,
                l.provider
            );
            let iface = w.interface(&name, &desc);
            let comment = format!("packet #{} {}", c.packet_id, c.action.as_str());
            w.packet(iface, c.at, &wire::encode(&c.packet), Some(&comment));
        }
        w.into_bytes()
    }

    pub fn check(&self, l: &Loaded) -> Vec<Failure> {
        expect::check(&l.expectations, &self.printed)
    }
}
