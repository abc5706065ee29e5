//! The world: one simulated cloud (D1). It owns the model (VPCs, subnets, ENIs, security
//! groups, ACLs, route tables, internet gateways, external hosts), the topology graph, the
//! connection-tracking table and the flow-log collectors, and runs packets through the
//! per-packet path.
//!
//! Every operation that changes the model goes through a method here with the same
//! validation, whether it comes from a scenario file or, later, the gRPC API: this is the one
//! funnel. The world does not schedule anything and never reads a clock: each call gets `now`.
//! Every operation validates fully before it changes anything; [`World::transact`] also gives
//! back the randomness of a refused one. Deleted resources stay as tombstones (`deleted`),
//! skipped by every check and iteration, so indices never move.
//!
//! One concern per module:
//!
//! - `model`: the resources, [`Kind`], IDs, [`ModelError`], and the [`World`] with its lookups.
//! - `vpcs`: VPCs, subnets, route tables and internet gateways: create, change, delete.
//! - `endpoints`: network interfaces and external hosts: create, change, delete.
//! - `policy`: security groups and ACLs, their rules, and the ENIs' compiled rule lists.
//! - `flow_logs`: flow logs: create, delete, and which ENIs each covers.
//! - `gateways`: NAT gateways: create, delete.
//! - `catalog`: log groups and streams, flow-log rules, enterprise routers and attachments.
//! - `lifecycle`: what deletes and renames share: refusals, tombstones, renames.
//! - `pipeline`: the per-packet path, from [`World::send`] to delivery or drop.
//! - `routing`: enterprise routers on the packet path, and the operations on their routing.
//! - `connect`: Cloud Connect Networks on the packet path, and bandwidth limits.
//! - `outcome`: what became of a packet ([`Outcome`]).
//! - `capture`: capture points, and flow-log windows closed into records.
//! - `router_logs`: router flow logs, captured at enterprise-router attachments.
//! - `trains`: packet trains: a packet's trace, and more packets like it.
//! - `names`: addresses, names, and decisions in plain words.
//! - `saved`: what a snapshot keeps beside the fields.

mod capture;
mod catalog;
mod connect;
mod endpoints;
mod flow_logs;
mod gateways;
mod lifecycle;
mod model;
mod names;
mod outcome;
mod peering;
mod pipeline;
mod policy;
mod router_logs;
mod routing;
mod saved;
#[cfg(test)]
mod tests;
mod trains;
mod vpcs;
mod vpn;

pub use capture::Captured;
pub use connect::{CcnHit, Throttle};
pub use endpoints::EniSpec;
pub use flow_logs::{FlowLogSpec, FlowLogUpdate};
pub use gateways::NatGatewaySpec;
pub use model::{
    Config, Device, Endpoint, Eni, ErrorKind, ExternalHost, FlowLog, InternetGateway, Kind,
    ModelError, NatGateway, NetworkAcl, Node, Peering, Resource, Route, RouteTable, SecurityGroup,
    Site, Subnet, Target, Vpc, VpnConnection, VpnGateway, VpnRouting, World, check_name, live,
};
pub use outcome::{Drop, Fate, NatHit, Outcome, RouteHit, RouterDrop, RouterHit, Translation};
pub use policy::check_acl_entries;
pub use routing::AttachmentInterface;
pub use trains::Trace;
pub use vpn::VpnConnectionSpec;
