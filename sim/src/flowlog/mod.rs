//! Flow logs: which capture points a flow log covers, how packets aggregate into records per
//! window (D10, D11), NODATA and SKIPDATA (D12), and the cloud formats (D14–D17).

pub mod collect;
pub mod format;
pub mod record;

pub use collect::{Collector, Filter, Scope, Settings, TruthLevel};
pub use record::CcnPoint;
pub use record::{
    CaptureMeta, Flow, LogStatus, Loss, Record, RouterEnd, RouterFlow, RouterPath, TrafficPath,
    Truth,
};
