//! vpclab-controlplane: everything that turns user input into operations on the simulated
//! cloud. Today that is scenario files; the gRPC API (a later issue) goes through the same
//! world operations.
//!
//! Map of the crate:
//! - `doc`: the scenario file format as serde types (shape only).
//! - `load`: scenario → world + script, with errors that name file, line and field.
//! - `expect`: `expect:` assertions on printed records, and the diff when they fail.
//! - `run`: runs a loaded scenario and collects records, explanations and captures.

pub mod doc;
pub mod expect;
pub mod load;
pub mod run;

pub use load::{Loaded, Options, ScenarioError, load};
pub use run::{Run, run};
