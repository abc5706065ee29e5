//! The gRPC control plane.
//!
//! - `pb`: the generated types of `proto/vpclab/v1`.
//! - `names`: resource names, ids, page tokens.
//! - `error`: refusals → gRPC statuses with google.rpc details.
//! - `command`: every change as a storable command (the request itself), one row each with
//!   its weight and the resource it answers with.
//! - `project`: one project's simulated cloud; applies commands through the world's operations.
//! - `view`: the model read back as API resources, and the table of every resource (its
//!   collection, message and view).
//! - `cloud`: all projects, their store, replay on start.
//! - `commit`: group commit: one thread stores every project's changes, many per transaction.
//! - `quota`: the server's per-project quotas, checked as requests arrive.
//! - `tenancy`: bearer tokens → projects.
//! - `grpc`: the five services' thin handlers, one block per resource.
//! - `server`: `serve(listener, cloud, tenancy, shutdown)` with reflection and health.
//! - `snapshot`: a project's whole state, taken every so many commands, so a start replays
//!   only the commands after it.

pub mod cloud;
pub mod command;
pub mod commit;
pub mod error;
pub mod grpc;
pub mod names;
pub mod pb;
pub mod project;
pub mod quota;
pub mod server;
pub mod snapshot;
pub mod tenancy;
pub mod view;

pub use cloud::{Caller, Cloud, Defaults, Restored};
pub use quota::Quotas;
pub use server::serve;
pub use tenancy::Tenancy;
