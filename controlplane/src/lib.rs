//! vpclab-controlplane: everything that turns user input into operations on the simulated
//! cloud: scenario files and the gRPC API, both as the same commands on the same world operations.
//!
//! Map of the crate:
//! - `doc`: the scenario file format as serde types (shape only).
//! - `load`: scenario → project (through `plan`'s commands) + script, with errors that name
//!   file, line and field.
//! - `expect`: `expect:` assertions on printed records, and the diff when they fail.
//! - `run`: runs a loaded scenario and collects records, explanations and captures, or
//!   streams them as they happen.
//! - `plan`: a scenario's topology as API commands, handed one by one to an executor: a
//!   project in memory (`load`) or a server over gRPC (`vpclab apply`).
//! - `parse`: the words of policy and traffic (`tcp`, `22-80`, `syn`) → model types, shared by
//!   scenario files and the API.
//! - `deliver`: records → files laid out as each cloud delivers them (S3 text or Parquet,
//!   LTS / SLS / CLS JSON lines).
//! - `store`: the durable store of commands and delivered records (redb).
//! - `api`: the gRPC control plane (services, projects, tenancy, `serve`).

pub mod api;
pub mod deliver;
pub mod doc;
pub mod expect;
pub mod load;
pub mod parse;
pub mod plan;
pub mod run;
pub mod store;

pub use load::{Loaded, Options, ScenarioError, load, rename_zones};
pub use run::{Run, run};
