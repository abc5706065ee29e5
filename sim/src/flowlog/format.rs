//! Cloud formats: turns one [`Record`] into the one line a cloud would print for it.
//!
//! What it does:
//! - `huawei`: the Huawei VPC flow-log line, 14 positional fields, version `1`, `start`/`end` =
//!   capture-window bounds (flowlogs.md §3.2, decisions D11, D15).
//! - `tencent` / `tencent-positional`: the Tencent ENI record, the 14 AWS-v2 names with version
//!   `0001_0001`, window bounds as `start`/`end`, as CLS `key:value` pairs in the order of the
//!   seed's sample, or as bare values in field order (flowlogs.md §3.4, D11, D14).
//! - `alibaba`: one JSON object per line with the SLS field names, every value a JSON string as
//!   SLS stores them (flowlogs.md §3.1, D11, D16).
//! - `aws`: the v2 default format or any custom list of v2–v5 fields; `version` is the highest
//!   version among the chosen fields (flowlogs.md §1.2–1.7, D17).
//! - `huawei-er`: the Huawei Enterprise Router flow-log line, 14 positional fields ending in
//!   `direct` (ingress into / egress out of the router through the attachment), no action,
//!   `start`/`end` = window bounds (flowlogs.md §3.3, D15).
//! - `aws-tgw`: the AWS transit-gateway default format, every v2–v6 TGW field in the TGW table's
//!   order (version 6); any custom list of TGW fields is an `aws` format too (§1.8, D17).
//! - `json`: vpclab's own record with every field and its ground truth (packet ids, decisions).
//!
//! Router records (a router attachment's, [`CaptureMeta::is_router`]) and ENI records have
//! their own shapes. A record is printed in the format asked for when that format fits it, and
//! otherwise in its own kind's counterpart ([`Format::for_record`]): `huawei` and `huawei-er`
//! swap; an AWS format that names a VPC-only field (`action`, `interface-id`, …) prints router
//! records in the TGW default, one that names a TGW-only field (`tgw-id`, `packets-lost-*`, …)
//! prints ENI records in the v2 default, and one naming neither (`srcaddr dstaddr packets`)
//! prints both. Alibaba, tencent and json print router records in their own shape: the
//! attachment id as the interface, the attached VPC, `-` for subnet, instance and `action`
//! (routers do not judge packets). A router record has no action anywhere.
//!
//! Cloud Connect Network records (a CCN's capture point, `CaptureMeta::ccn`) print in
//! tencent's CCN line (`tencent`, `tencent-positional`) or alibaba's CEN record (`alibaba`):
//! `format/ccn.rs`. Other formats print them in their own shape.
//!
//! NODATA and SKIPDATA records (no [`Flow`]) print `-` from `srcaddr` to `bytes` and for
//! `action`, and the capture-window bounds as `start`/`end`, in every cloud format (§1.6, D12).
//! A record the flow log skipped for capacity (`truth.skipped`, D12) is still rendered on request,
//! but [`Format::prints`] says it belongs only in `json`.
//!
//! What it does not: aggregate packets into records, choose windows, decide NODATA/SKIPDATA or
//! ICMP ports (the record arrives with the ports its provider profile keys, D10, D14), write
//! files or add newlines, parse records back, or produce the AWS v7+ fields.
//!
//! AWS `tcp-flags`: AWS maps each packet's flags before OR-ing them over the window (FIN 1,
//! SYN 2, RST 4, SYN-ACK 18; ACK and PSH alone 0). The collector does the same per packet and
//! keeps the result in [`Flow::aws_tcp_flags`], which the AWS format prints as is; the raw OR
//! ([`Flow::tcp_flags`]) serves alibaba's wider mask.

use std::borrow::Cow;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::Serialize;

use super::record::{CaptureMeta, Flow, LogStatus, Record, RouterEnd, RouterFlow, TrafficPath};
use crate::packet::TcpFlags;
use crate::{Action, Direction};

mod ccn;

/// What `-` means in every format: not applicable, or not known to vpclab.
const DASH: &str = "-";

/// A flow-log output format.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Format {
    /// Huawei VPC flow log (D15).
    Huawei,
    /// Huawei Enterprise Router flow log (D15, flowlogs.md §3.3).
    HuaweiRouter,
    /// Alibaba SLS key/value record as a JSON line (D16).
    Alibaba,
    /// Tencent ENI flow log (D14).
    Tencent(TencentStyle),
    /// AWS VPC or transit-gateway flow log, default or custom (D17).
    Aws(AwsFormat),
    /// vpclab's own JSON line: every field plus the ground truth.
    Json,
}

/// How a Tencent ENI record is laid out (D14).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum TencentStyle {
    /// CLS `key:value` pairs in the order of the documented sample (`tencent`).
    #[default]
    KeyValue,
    /// The 14 values in field order, space separated (`tencent-positional`).
    Positional,
}

impl Format {
    /// The names [`Format::parse`] and [`FromStr`] accept, for CLI help.
    pub const NAMES: [&'static str; 8] = [
        "huawei",
        "huawei-er",
        "alibaba",
        "tencent",
        "tencent-positional",
        "aws",
        "aws-tgw",
        "json",
    ];

    /// A format from its CLI name and, for `aws` only, an optional custom field list
    /// (`"version vpc-id subnet-id"` or `"${version} ${vpc-id}"`). `aws` without a list is the
    /// v2 default format, `aws-tgw` the transit-gateway default.
    pub fn parse(name: &str, aws_fields: Option<&str>) -> Result<Format, FormatError> {
        let format = name.parse::<Format>()?;
        match (format, aws_fields) {
            (Format::Aws(_), Some(spec)) => Ok(Format::Aws(AwsFormat::parse(spec)?)),
            (format, None) => Ok(format),
            (format, Some(_)) => Err(FormatError::FieldsNotAws(format.name().to_owned())),
        }
    }

    /// The field names of a positional format, in print order (`project-id` for huawei); `None`
    /// for formats whose lines name their fields (tencent key:value, alibaba, json).
    pub fn positional_fields(&self) -> Option<Vec<&'static str>> {
        match self {
            Format::Huawei => {
                let mut names = V2_NAMES.to_vec();
                names[1] = "project-id";
                Some(names)
            }
            Format::HuaweiRouter => Some(HUAWEI_ER_NAMES.to_vec()),
            Format::Tencent(TencentStyle::Positional) => Some(V2_NAMES.to_vec()),
            Format::Aws(aws) => Some(aws.fields().iter().map(|f| f.name()).collect()),
            Format::Tencent(TencentStyle::KeyValue) | Format::Alibaba | Format::Json => None,
        }
    }

    /// The CLI name. A custom AWS format is also `aws`: its fields are in [`AwsFormat`]'s
    /// `Display`.
    pub fn name(&self) -> &'static str {
        match self {
            Format::Huawei => "huawei",
            Format::HuaweiRouter => "huawei-er",
            Format::Alibaba => "alibaba",
            Format::Tencent(TencentStyle::KeyValue) => "tencent",
            Format::Tencent(TencentStyle::Positional) => "tencent-positional",
            Format::Aws(aws) if aws.fields == AwsField::DEFAULT_TGW => "aws-tgw",
            Format::Aws(_) => "aws",
            Format::Json => "json",
        }
    }

    /// Whether the record appears in this format's output: a record skipped for capacity is
    /// kept only in `json`, the ground truth (D12). The huawei ER line has no `log-status`, so
    /// a router's NODATA and SKIPDATA records appear in `json` only.
    pub fn prints(&self, record: &Record) -> bool {
        match &*self.for_record(record) {
            Format::Json => true,
            Format::HuaweiRouter => !record.truth.skipped && record.status == LogStatus::Ok,
            _ => !record.truth.skipped,
        }
    }

    /// Same as [`render`].
    pub fn render(&self, record: &Record) -> String {
        render(record, self)
    }

    /// The positional field names of a Cloud Connect Network's record in this format, when
    /// they differ from [`Format::positional_fields`] (tencent-positional's CCN line).
    pub fn ccn_positional_fields(&self, record: &Record) -> Option<Vec<&'static str>> {
        ccn::positional_fields(record, self)
    }

    /// The format router records print in when this one is asked for: `huawei` → `huawei-er`,
    /// an AWS format naming a VPC-only field → the TGW default; any other format prints router
    /// records itself.
    pub fn for_router(&self) -> Format {
        match self {
            Format::Huawei => Format::HuaweiRouter,
            Format::Aws(aws) if aws.scope == FieldScope::Vpc => {
                Format::Aws(AwsFormat::default_tgw())
            }
            other => other.clone(),
        }
    }

    /// The format ENI records print in when this one is asked for: `huawei-er` → `huawei`, an
    /// AWS format naming a TGW-only field → the v2 default.
    pub fn for_eni(&self) -> Format {
        match self {
            Format::HuaweiRouter => Format::Huawei,
            Format::Aws(aws) if aws.scope == FieldScope::TransitGateway => {
                Format::Aws(AwsFormat::default_v2())
            }
            other => other.clone(),
        }
    }

    /// The format `record` prints in when this one is asked for: this one when it fits the
    /// record's kind (ENI or router attachment), else the kind's counterpart (module doc).
    pub fn for_record(&self, record: &Record) -> Cow<'_, Format> {
        let router = record.capture.is_router();
        let fits = match self {
            Format::Huawei => !router,
            Format::HuaweiRouter => router,
            Format::Aws(aws) => match aws.scope {
                FieldScope::Both => true,
                FieldScope::Vpc => !router,
                FieldScope::TransitGateway => router,
            },
            Format::Alibaba | Format::Tencent(_) | Format::Json => true,
        };
        match (fits, router) {
            (true, _) => Cow::Borrowed(self),
            (false, true) => Cow::Owned(self.for_router()),
            (false, false) => Cow::Owned(self.for_eni()),
        }
    }
}

impl FromStr for Format {
    type Err = FormatError;

    /// A CLI name (ASCII case ignored, surrounding spaces trimmed); `aws` is the v2 default.
    fn from_str(s: &str) -> Result<Format, FormatError> {
        let name = s.trim().to_ascii_lowercase();
        match name.as_str() {
            "huawei" => Ok(Format::Huawei),
            "huawei-er" => Ok(Format::HuaweiRouter),
            "alibaba" => Ok(Format::Alibaba),
            "tencent" => Ok(Format::Tencent(TencentStyle::KeyValue)),
            "tencent-positional" => Ok(Format::Tencent(TencentStyle::Positional)),
            "aws" => Ok(Format::Aws(AwsFormat::default_v2())),
            "aws-tgw" => Ok(Format::Aws(AwsFormat::default_tgw())),
            "json" => Ok(Format::Json),
            _ => Err(FormatError::UnknownFormat(s.to_owned())),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A field of the AWS VPC flow-log record, v2–v5 (flowlogs.md §1.3 rows 1–29), in AWS's table
/// order, then the v6 fields of transit-gateway records (§1.8).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum AwsField {
    Version,
    AccountId,
    InterfaceId,
    SrcAddr,
    DstAddr,
    SrcPort,
    DstPort,
    Protocol,
    Packets,
    Bytes,
    Start,
    End,
    Action,
    LogStatus,
    VpcId,
    SubnetId,
    InstanceId,
    TcpFlags,
    Type,
    PktSrcAddr,
    PktDstAddr,
    Region,
    AzId,
    SublocationType,
    SublocationId,
    PktSrcAwsService,
    PktDstAwsService,
    FlowDirection,
    TrafficPath,
    ResourceType,
    TgwId,
    TgwAttachmentId,
    TgwSrcVpcAccountId,
    TgwDstVpcAccountId,
    TgwSrcVpcId,
    TgwDstVpcId,
    TgwSrcSubnetId,
    TgwDstSubnetId,
    TgwSrcEni,
    TgwDstEni,
    TgwSrcAzId,
    TgwDstAzId,
    TgwPairAttachmentId,
    PacketsLostNoRoute,
    PacketsLostBlackhole,
    PacketsLostMtuExceeded,
    PacketsLostTtlExpired,
}

/// Which records an AWS field, or a format, applies to: VPC flow-log records (ENIs),
/// transit-gateway records (router attachments), or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum FieldScope {
    Both,
    Vpc,
    TransitGateway,
}

impl AwsField {
    /// Every field: the VPC table's order, then the TGW-only fields in the TGW table's order.
    pub const ALL: [AwsField; 47] = [
        AwsField::Version,
        AwsField::AccountId,
        AwsField::InterfaceId,
        AwsField::SrcAddr,
        AwsField::DstAddr,
        AwsField::SrcPort,
        AwsField::DstPort,
        AwsField::Protocol,
        AwsField::Packets,
        AwsField::Bytes,
        AwsField::Start,
        AwsField::End,
        AwsField::Action,
        AwsField::LogStatus,
        AwsField::VpcId,
        AwsField::SubnetId,
        AwsField::InstanceId,
        AwsField::TcpFlags,
        AwsField::Type,
        AwsField::PktSrcAddr,
        AwsField::PktDstAddr,
        AwsField::Region,
        AwsField::AzId,
        AwsField::SublocationType,
        AwsField::SublocationId,
        AwsField::PktSrcAwsService,
        AwsField::PktDstAwsService,
        AwsField::FlowDirection,
        AwsField::TrafficPath,
        AwsField::ResourceType,
        AwsField::TgwId,
        AwsField::TgwAttachmentId,
        AwsField::TgwSrcVpcAccountId,
        AwsField::TgwDstVpcAccountId,
        AwsField::TgwSrcVpcId,
        AwsField::TgwDstVpcId,
        AwsField::TgwSrcSubnetId,
        AwsField::TgwDstSubnetId,
        AwsField::TgwSrcEni,
        AwsField::TgwDstEni,
        AwsField::TgwSrcAzId,
        AwsField::TgwDstAzId,
        AwsField::TgwPairAttachmentId,
        AwsField::PacketsLostNoRoute,
        AwsField::PacketsLostBlackhole,
        AwsField::PacketsLostMtuExceeded,
        AwsField::PacketsLostTtlExpired,
    ];

    /// The transit-gateway default format: every v2–v6 field of TGW records in the TGW
    /// table's order (flowlogs.md §1.8: "default format = all v2–v6 fields in table order").
    pub const DEFAULT_TGW: [AwsField; 36] = [
        AwsField::Version,
        AwsField::ResourceType,
        AwsField::AccountId,
        AwsField::TgwId,
        AwsField::TgwAttachmentId,
        AwsField::TgwSrcVpcAccountId,
        AwsField::TgwDstVpcAccountId,
        AwsField::TgwSrcVpcId,
        AwsField::TgwDstVpcId,
        AwsField::TgwSrcSubnetId,
        AwsField::TgwDstSubnetId,
        AwsField::TgwSrcEni,
        AwsField::TgwDstEni,
        AwsField::TgwSrcAzId,
        AwsField::TgwDstAzId,
        AwsField::TgwPairAttachmentId,
        AwsField::SrcAddr,
        AwsField::DstAddr,
        AwsField::SrcPort,
        AwsField::DstPort,
        AwsField::Protocol,
        AwsField::Packets,
        AwsField::Bytes,
        AwsField::Start,
        AwsField::End,
        AwsField::LogStatus,
        AwsField::Type,
        AwsField::PacketsLostNoRoute,
        AwsField::PacketsLostBlackhole,
        AwsField::PacketsLostMtuExceeded,
        AwsField::PacketsLostTtlExpired,
        AwsField::TcpFlags,
        AwsField::Region,
        AwsField::FlowDirection,
        AwsField::PktSrcAwsService,
        AwsField::PktDstAwsService,
    ];

    /// The v2 default format: the 14 v2 fields in table order (§1.2), the table's first 14.
    pub const DEFAULT_V2: [AwsField; 14] = {
        let mut out = [AwsField::Version; 14];
        let mut i = 0;
        while i < out.len() {
            out[i] = AwsField::ALL[i];
            i += 1;
        }
        out
    };

    /// The name AWS uses in a format string (`${name}`).
    pub fn name(self) -> &'static str {
        match self {
            AwsField::Version => "version",
            AwsField::AccountId => "account-id",
            AwsField::InterfaceId => "interface-id",
            AwsField::SrcAddr => "srcaddr",
            AwsField::DstAddr => "dstaddr",
            AwsField::SrcPort => "srcport",
            AwsField::DstPort => "dstport",
            AwsField::Protocol => "protocol",
            AwsField::Packets => "packets",
            AwsField::Bytes => "bytes",
            AwsField::Start => "start",
            AwsField::End => "end",
            AwsField::Action => "action",
            AwsField::LogStatus => "log-status",
            AwsField::VpcId => "vpc-id",
            AwsField::SubnetId => "subnet-id",
            AwsField::InstanceId => "instance-id",
            AwsField::TcpFlags => "tcp-flags",
            AwsField::Type => "type",
            AwsField::PktSrcAddr => "pkt-srcaddr",
            AwsField::PktDstAddr => "pkt-dstaddr",
            AwsField::Region => "region",
            AwsField::AzId => "az-id",
            AwsField::SublocationType => "sublocation-type",
            AwsField::SublocationId => "sublocation-id",
            AwsField::PktSrcAwsService => "pkt-src-aws-service",
            AwsField::PktDstAwsService => "pkt-dst-aws-service",
            AwsField::FlowDirection => "flow-direction",
            AwsField::TrafficPath => "traffic-path",
            AwsField::ResourceType => "resource-type",
            AwsField::TgwId => "tgw-id",
            AwsField::TgwAttachmentId => "tgw-attachment-id",
            AwsField::TgwSrcVpcAccountId => "tgw-src-vpc-account-id",
            AwsField::TgwDstVpcAccountId => "tgw-dst-vpc-account-id",
            AwsField::TgwSrcVpcId => "tgw-src-vpc-id",
            AwsField::TgwDstVpcId => "tgw-dst-vpc-id",
            AwsField::TgwSrcSubnetId => "tgw-src-subnet-id",
            AwsField::TgwDstSubnetId => "tgw-dst-subnet-id",
            AwsField::TgwSrcEni => "tgw-src-eni",
            AwsField::TgwDstEni => "tgw-dst-eni",
            AwsField::TgwSrcAzId => "tgw-src-az-id",
            AwsField::TgwDstAzId => "tgw-dst-az-id",
            AwsField::TgwPairAttachmentId => "tgw-pair-attachment-id",
            AwsField::PacketsLostNoRoute => "packets-lost-no-route",
            AwsField::PacketsLostBlackhole => "packets-lost-blackhole",
            AwsField::PacketsLostMtuExceeded => "packets-lost-mtu-exceeded",
            AwsField::PacketsLostTtlExpired => "packets-lost-ttl-expired",
        }
    }

    /// Which records the field applies to: the fields of both tables, the VPC table's own
    /// (`interface-id`, `action`, `vpc-id`, …), or the TGW table's own (`resource-type`,
    /// `tgw-*`, `packets-lost-*`) (§1.3, §1.8).
    pub fn scope(self) -> FieldScope {
        match self {
            AwsField::InterfaceId
            | AwsField::Action
            | AwsField::VpcId
            | AwsField::SubnetId
            | AwsField::InstanceId
            | AwsField::PktSrcAddr
            | AwsField::PktDstAddr
            | AwsField::AzId
            | AwsField::SublocationType
            | AwsField::SublocationId
            | AwsField::TrafficPath => FieldScope::Vpc,
            // The TGW table's own fields are the ones version 6 introduced.
            _ if self.version() == 6 => FieldScope::TransitGateway,
            _ => FieldScope::Both,
        }
    }

    /// The flow-log version that introduced the field (§1.3).
    pub fn version(self) -> u8 {
        match self {
            AwsField::Version
            | AwsField::AccountId
            | AwsField::InterfaceId
            | AwsField::SrcAddr
            | AwsField::DstAddr
            | AwsField::SrcPort
            | AwsField::DstPort
            | AwsField::Protocol
            | AwsField::Packets
            | AwsField::Bytes
            | AwsField::Start
            | AwsField::End
            | AwsField::Action
            | AwsField::LogStatus => 2,
            AwsField::VpcId
            | AwsField::SubnetId
            | AwsField::InstanceId
            | AwsField::TcpFlags
            | AwsField::Type
            | AwsField::PktSrcAddr
            | AwsField::PktDstAddr => 3,
            AwsField::Region
            | AwsField::AzId
            | AwsField::SublocationType
            | AwsField::SublocationId => 4,
            AwsField::PktSrcAwsService
            | AwsField::PktDstAwsService
            | AwsField::FlowDirection
            | AwsField::TrafficPath => 5,
            AwsField::ResourceType
            | AwsField::TgwId
            | AwsField::TgwAttachmentId
            | AwsField::TgwSrcVpcAccountId
            | AwsField::TgwDstVpcAccountId
            | AwsField::TgwSrcVpcId
            | AwsField::TgwDstVpcId
            | AwsField::TgwSrcSubnetId
            | AwsField::TgwDstSubnetId
            | AwsField::TgwSrcEni
            | AwsField::TgwDstEni
            | AwsField::TgwSrcAzId
            | AwsField::TgwDstAzId
            | AwsField::TgwPairAttachmentId
            | AwsField::PacketsLostNoRoute
            | AwsField::PacketsLostBlackhole
            | AwsField::PacketsLostMtuExceeded
            | AwsField::PacketsLostTtlExpired => 6,
        }
    }
}

impl FromStr for AwsField {
    type Err = FormatError;

    /// A bare field name (`vpc-id`), case-sensitive as in AWS format strings.
    fn from_str(s: &str) -> Result<AwsField, FormatError> {
        AwsField::ALL
            .into_iter()
            .find(|field| field.name() == s)
            .ok_or_else(|| FormatError::UnknownAwsFields(vec![s.to_owned()]))
    }
}

impl fmt::Display for AwsField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The fields of an AWS flow log, in print order: the v2 default, the transit-gateway default
/// or a custom list (D17).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct AwsFormat {
    /// Never empty.
    fields: Vec<AwsField>,
    /// The records the fields apply to (never a mix of VPC-only and TGW-only fields).
    scope: FieldScope,
}

impl AwsFormat {
    /// The default format (§1.2), which prints version 2.
    pub fn default_v2() -> AwsFormat {
        AwsFormat {
            fields: AwsField::DEFAULT_V2.to_vec(),
            scope: FieldScope::Vpc,
        }
    }

    /// The transit-gateway default format (§1.8), which prints version 6.
    pub fn default_tgw() -> AwsFormat {
        AwsFormat {
            fields: AwsField::DEFAULT_TGW.to_vec(),
            scope: FieldScope::TransitGateway,
        }
    }

    /// A custom format from a whitespace-separated field list, each name bare (`vpc-id`) or as
    /// AWS writes it (`${vpc-id}`). Errors on an empty list, on names that are not v2–v6 fields
    /// (all of them listed), on a field named twice (AWS takes a subset of its fields) and on a
    /// mix of VPC-only and TGW-only fields (a flow log is of one resource type).
    pub fn parse(spec: &str) -> Result<AwsFormat, FormatError> {
        let mut fields = Vec::new();
        let mut unknown = Vec::new();
        for token in spec.split_whitespace() {
            let name = token
                .strip_prefix("${")
                .and_then(|rest| rest.strip_suffix('}'))
                .unwrap_or(token);
            match name.parse::<AwsField>() {
                Ok(field) => fields.push(field),
                Err(_) => unknown.push(token.to_owned()),
            }
        }
        if !unknown.is_empty() {
            return Err(FormatError::UnknownAwsFields(unknown));
        }
        AwsFormat::from_fields(fields)
    }

    /// A custom format from fields in print order; errors when empty, a field repeats, or
    /// VPC-only and TGW-only fields are mixed.
    pub fn from_fields(fields: Vec<AwsField>) -> Result<AwsFormat, FormatError> {
        if fields.is_empty() {
            return Err(FormatError::EmptyAwsFormat);
        }
        for (i, field) in fields.iter().enumerate() {
            if fields[..i].contains(field) {
                return Err(FormatError::DuplicateAwsField(field.name().to_owned()));
            }
        }
        let first = |scope| fields.iter().copied().find(|f| f.scope() == scope);
        let scope = match (first(FieldScope::Vpc), first(FieldScope::TransitGateway)) {
            (Some(vpc), Some(tgw)) => {
                return Err(FormatError::MixedAwsFields(
                    vpc.name().to_owned(),
                    tgw.name().to_owned(),
                ));
            }
            (Some(_), None) => FieldScope::Vpc,
            (None, Some(_)) => FieldScope::TransitGateway,
            (None, None) => FieldScope::Both,
        };
        Ok(AwsFormat { fields, scope })
    }

    /// The fields in print order.
    pub fn fields(&self) -> &[AwsField] {
        &self.fields
    }

    /// The records this format applies to.
    pub fn scope(&self) -> FieldScope {
        self.scope
    }

    /// The `version` the records print: the highest version among the fields (§1.3, D17); 2 for
    /// the default format.
    pub fn version(&self) -> u8 {
        self.fields
            .iter()
            .map(|field| field.version())
            .max()
            .unwrap_or(2)
    }
}

impl Default for AwsFormat {
    fn default() -> AwsFormat {
        AwsFormat::default_v2()
    }
}

impl fmt::Display for AwsFormat {
    /// The format string as AWS writes it: `${version} ${account-id} …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, field) in self.fields.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "${{{}}}", field.name())?;
        }
        Ok(())
    }
}

impl FromStr for AwsFormat {
    type Err = FormatError;

    fn from_str(s: &str) -> Result<AwsFormat, FormatError> {
        AwsFormat::parse(s)
    }
}

/// Why a format name or an AWS field list was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FormatError {
    /// Not one of [`Format::NAMES`].
    UnknownFormat(String),
    /// A field list was given for a format other than `aws`.
    FieldsNotAws(String),
    /// An AWS field list with no field.
    EmptyAwsFormat,
    /// Names in an AWS field list that are not v2–v6 fields, as written.
    UnknownAwsFields(Vec<String>),
    /// A field named twice in an AWS field list.
    DuplicateAwsField(String),
    /// A VPC-only field and a TGW-only field in one AWS field list (their names).
    MixedAwsFields(String, String),
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::UnknownFormat(name) => write!(
                f,
                "unknown flow-log format `{name}` (expected one of: {})",
                Format::NAMES.join(", ")
            ),
            FormatError::FieldsNotAws(name) => write!(
                f,
                "a field list only applies to the `aws` format, not to `{name}`"
            ),
            FormatError::EmptyAwsFormat => {
                f.write_str("an AWS flow-log format needs at least one field")
            }
            FormatError::UnknownAwsFields(names) => {
                let s = if names.len() == 1 { "" } else { "s" };
                let listed: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
                write!(
                    f,
                    "unknown AWS flow-log field{s} {} (vpclab knows the v2-v6 fields: {})",
                    listed.join(", "),
                    AwsField::ALL.map(AwsField::name).join(" ")
                )
            }
            FormatError::DuplicateAwsField(name) => {
                write!(f, "AWS flow-log field `{name}` is listed twice")
            }
            FormatError::MixedAwsFields(vpc, tgw) => write!(
                f,
                "an AWS flow-log format is for VPC flow logs or for transit-gateway flow logs, \
                 not both: `{vpc}` is a VPC field, `{tgw}` a transit-gateway field"
            ),
        }
    }
}

impl std::error::Error for FormatError {}

/// One record as one line of `format` (or of its counterpart for the record's kind,
/// [`Format::for_record`]), without a trailing newline. Renders any record, even one
/// [`Format::prints`] would leave out.
pub fn render(record: &Record, format: &Format) -> String {
    // A Cloud Connect Network's record, in a format with a CCN shape (format/ccn.rs).
    if record.capture.ccn.is_some()
        && let Some(line) = ccn::render(record, format)
    {
        return line;
    }
    match &*format.for_record(record) {
        Format::Huawei => join_spaced(&v2_shape(record, "1")),
        Format::HuaweiRouter => join_spaced(&huawei_er_shape(record)),
        Format::Tencent(TencentStyle::Positional) => {
            join_spaced(&v2_shape(record, TENCENT_VERSION))
        }
        Format::Tencent(TencentStyle::KeyValue) => tencent_key_value(record),
        Format::Alibaba => to_json_line(&AlibabaLine::new(record)),
        Format::Aws(aws) => aws_line(record, aws),
        Format::Json => to_json_line(&JsonLine::new(record)),
    }
}

/// AWS's `tcp-flags` from the raw OR of a window's header bits: FIN, SYN and RST as themselves,
/// ACK as 16 only when SYN is present too (SYN-ACK = 18), everything else dropped (§1.3 row 18).
///
/// Applied to a raw OR this cannot tell a SYN-ACK from a SYN followed by an ACK, which is why the
/// collector applies [`aws_packet_tcp_flags`] per packet instead (a mapped value maps to itself).
pub fn aws_tcp_flags(raw: u8) -> u8 {
    let mut flags = raw & (TcpFlags::FIN | TcpFlags::SYN | TcpFlags::RST);
    if raw & TcpFlags::SYN != 0 && raw & TcpFlags::ACK != 0 {
        flags |= TcpFlags::ACK;
    }
    flags
}

/// AWS's `tcp-flags` value of one packet: FIN 1, SYN 2, RST 4, SYN-ACK 18; ACK, PSH, URG, ECE and
/// CWR alone count 0 (§1.3 row 18). An aggregator that ORs these per packet gets AWS's window
/// value exactly, which [`aws_tcp_flags`] leaves unchanged.
///
/// AWS prints `-` for an invalid combination; vpclab has no such case and keeps the bits (a
/// packet with SYN and FIN gives 3).
pub fn aws_packet_tcp_flags(flags: u8) -> u8 {
    aws_tcp_flags(flags)
}

/// Alibaba's `tcp-flags` from the raw OR: FIN, SYN, RST, PSH, ACK and URG (its wider mask; SYN-ACK
/// = 18), ECE and CWR dropped (flowlogs.md §3.1, D16).
pub fn alibaba_tcp_flags(raw: u8) -> u8 {
    raw & (TcpFlags::FIN
        | TcpFlags::SYN
        | TcpFlags::RST
        | TcpFlags::PSH
        | TcpFlags::ACK
        | TcpFlags::URG)
}

fn join_spaced<S: AsRef<str>>(values: &[S]) -> String {
    let mut line = String::new();
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        line.push_str(value.as_ref());
    }
    line
}

/// `action`: `-` without a flow, and for a router record (routers do not judge packets).
fn action_text(record: &Record) -> &'static str {
    match &record.flow {
        Some(flow) if !record.capture.is_router() => flow.action.as_str(),
        _ => DASH,
    }
}

/// A traffic field as text, or `-` when the record has no flow (NODATA, SKIPDATA).
fn flow_text<T: fmt::Display>(
    record: &Record,
    value: impl FnOnce(&Flow) -> T,
) -> Cow<'static, str> {
    match &record.flow {
        Some(flow) => Cow::Owned(value(flow).to_string()),
        None => Cow::Borrowed(DASH),
    }
}

fn secs_text(secs: u64) -> Cow<'static, str> {
    Cow::Owned(secs.to_string())
}

/// `in` / `out`, as Alibaba spells directions.
fn alibaba_direction(direction: Direction) -> &'static str {
    match direction {
        Direction::Ingress => "in",
        Direction::Egress => "out",
    }
}

// ---------------------------------------------------------------------------------------------
// Huawei VPC and Tencent ENI: the AWS-v2 shape with window bounds.

const TENCENT_VERSION: &str = "0001_0001";

/// The 14 field names shared by AWS v2, Huawei VPC (`project-id` for `account-id`) and Tencent
/// ENI, in positional order.
const V2_NAMES: [&str; 14] = [
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
];

/// The key order of the Tencent ENI sample in the seed (flowlogs.md §3.4, seed 004).
const TENCENT_KEY_ORDER: [&str; 14] = [
    "srcaddr",
    "dstport",
    "account-id",
    "start",
    "dstaddr",
    "version",
    "packets",
    "protocol",
    "bytes",
    "action",
    "srcport",
    "end",
    "log-status",
    "interface-id",
];

/// The values of [`V2_NAMES`] for a format whose `start`/`end` are the capture-window bounds
/// (Huawei VPC, Tencent ENI: D11).
fn v2_shape<'a>(record: &'a Record, version: &'static str) -> [Cow<'a, str>; 14] {
    let capture = &*record.capture;
    [
        Cow::Borrowed(version),
        Cow::Borrowed(capture.account_id.as_str()),
        Cow::Borrowed(capture.interface_id.as_str()),
        flow_text(record, |f| f.tuple.src),
        flow_text(record, |f| f.tuple.dst),
        flow_text(record, |f| f.tuple.sport),
        flow_text(record, |f| f.tuple.dport),
        flow_text(record, |f| f.tuple.protocol),
        flow_text(record, |f| f.packets),
        flow_text(record, |f| f.bytes),
        secs_text(record.window_start.secs()),
        secs_text(record.window_end.secs()),
        Cow::Borrowed(action_text(record)),
        Cow::Borrowed(record.status.as_str()),
    ]
}

// ---------------------------------------------------------------------------------------------
// Huawei Enterprise Router.

/// The 14 fields of the huawei ER record, as the LTS page names them (flowlogs.md §3.3).
const HUAWEI_ER_NAMES: [&str; 14] = [
    "version",
    "project_id",
    "instance_id",
    "resource_id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "direct",
];

/// The values of [`HUAWEI_ER_NAMES`]: version 1, the project, the router (`instance_id`), the
/// attachment (`resource_id`), the packets' 5-tuple, the window bounds as `start`/`end` (the
/// documented example spans 600 s, D11) and `direct`: `ingress` into the router through the
/// attachment, `egress` out of it. No action, no log-status.
fn huawei_er_shape(record: &Record) -> [Cow<'_, str>; 14] {
    let capture = &*record.capture;
    [
        Cow::Borrowed("1"),
        Cow::Borrowed(capture.account_id.as_str()),
        Cow::Borrowed(capture.router_id.as_deref().unwrap_or(DASH)),
        Cow::Borrowed(capture.interface_id.as_str()),
        flow_text(record, |f| f.tuple.src),
        flow_text(record, |f| f.tuple.dst),
        flow_text(record, |f| f.tuple.sport),
        flow_text(record, |f| f.tuple.dport),
        flow_text(record, |f| f.tuple.protocol),
        flow_text(record, |f| f.packets),
        flow_text(record, |f| f.bytes),
        secs_text(record.window_start.secs()),
        secs_text(record.window_end.secs()),
        flow_text(record, |f| f.direction.as_str()),
    ]
}

fn tencent_key_value(record: &Record) -> String {
    let values = v2_shape(record, TENCENT_VERSION);
    let pairs: Vec<String> = TENCENT_KEY_ORDER
        .iter()
        .filter_map(|key| {
            let i = V2_NAMES.iter().position(|name| name == key)?;
            Some(format!("{key}:{}", values[i]))
        })
        .collect();
    pairs.join(" ")
}

// ---------------------------------------------------------------------------------------------
// AWS.

fn aws_line(record: &Record, format: &AwsFormat) -> String {
    // Written straight into one string: a busy window renders hundreds of thousands of lines.
    let version = format.version();
    let mut line = String::with_capacity(160);
    for (i, &field) in format.fields().iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        push_aws_value(&mut line, record, field, version);
    }
    line
}

/// Appends `n` in decimal (what `Display` prints).
fn push_decimal(line: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    line.push_str(std::str::from_utf8(&digits[at..]).expect("ASCII digits"));
}

/// Appends an address as `Display` prints it (dotted quad).
fn push_ipv4(line: &mut String, ip: Ipv4Addr) {
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            line.push('.');
        }
        push_decimal(line, octet as u64);
    }
}

fn push_aws_value(line: &mut String, record: &Record, field: AwsField, version: u8) {
    let capture = &*record.capture;
    let flow = record.flow.as_ref();
    // A traffic field: `-` when the record has no flow (NODATA, SKIPDATA).
    let number = |line: &mut String, value: fn(&Flow) -> u64| match flow {
        Some(f) => push_decimal(line, value(f)),
        None => line.push_str(DASH),
    };
    let address = |line: &mut String, value: fn(&Flow) -> Ipv4Addr| match flow {
        Some(f) => push_ipv4(line, value(f)),
        None => line.push_str(DASH),
    };
    let text = |line: &mut String, value: fn(&Flow) -> &'static str| {
        line.push_str(flow.map_or(DASH, value))
    };
    match field {
        AwsField::Version => push_decimal(line, version as u64),
        AwsField::AccountId => line.push_str(&capture.account_id),
        AwsField::InterfaceId => line.push_str(&capture.interface_id),
        AwsField::SrcAddr => address(line, |f| f.tuple.src),
        AwsField::DstAddr => address(line, |f| f.tuple.dst),
        AwsField::SrcPort => number(line, |f| f.tuple.sport as u64),
        AwsField::DstPort => number(line, |f| f.tuple.dport as u64),
        AwsField::Protocol => number(line, |f| f.tuple.protocol as u64),
        AwsField::Packets => number(line, |f| f.packets),
        AwsField::Bytes => number(line, |f| f.bytes),
        // First and last packet; the window bounds when there is no traffic (§1.6).
        AwsField::Start => push_decimal(line, flow.map_or(record.window_start, |f| f.first).secs()),
        AwsField::End => push_decimal(line, flow.map_or(record.window_end, |f| f.last).secs()),
        AwsField::Action => line.push_str(action_text(record)),
        AwsField::LogStatus => line.push_str(record.status.as_str()),
        AwsField::VpcId => line.push_str(&capture.vpc_id),
        AwsField::SubnetId => line.push_str(&capture.subnet_id),
        AwsField::InstanceId => line.push_str(capture.instance_id.as_deref().unwrap_or(DASH)),
        AwsField::TcpFlags => number(line, |f| f.aws_tcp_flags as u64),
        AwsField::Type => text(line, |_| "IPv4"),
        AwsField::PktSrcAddr => address(line, |f| f.pkt_src),
        AwsField::PktDstAddr => address(line, |f| f.pkt_dst),
        AwsField::Region => line.push_str(&capture.region),
        AwsField::AzId => line.push_str(&capture.az_id),
        // vpclab has no Wavelength, Outposts or Local Zones, and does not know AWS's service
        // address ranges.
        AwsField::SublocationType
        | AwsField::SublocationId
        | AwsField::PktSrcAwsService
        | AwsField::PktDstAwsService => line.push_str(DASH),
        AwsField::FlowDirection => text(line, |f| f.direction.as_str()),
        // Egress only; `-` for ingress and when no path applies (§1.3 row 29).
        AwsField::TrafficPath => match flow {
            Some(Flow {
                direction: Direction::Egress,
                traffic_path: Some(path),
                ..
            }) => push_decimal(line, *path as u64),
            _ => line.push_str(DASH),
        },
        AwsField::ResourceType => line.push_str(if capture.is_router() {
            "TransitGatewayAttachment"
        } else {
            DASH
        }),
        AwsField::TgwId => line.push_str(capture.router_id.as_deref().unwrap_or(DASH)),
        AwsField::TgwAttachmentId => line.push_str(if capture.is_router() {
            &capture.interface_id
        } else {
            DASH
        }),
        AwsField::TgwSrcVpcAccountId => push_end(line, record, Side::Src, |e| &e.vpc_account_id),
        AwsField::TgwDstVpcAccountId => push_end(line, record, Side::Dst, |e| &e.vpc_account_id),
        AwsField::TgwSrcVpcId => push_end(line, record, Side::Src, |e| &e.vpc_id),
        AwsField::TgwDstVpcId => push_end(line, record, Side::Dst, |e| &e.vpc_id),
        AwsField::TgwSrcSubnetId => push_end(line, record, Side::Src, |e| &e.subnet_id),
        AwsField::TgwDstSubnetId => push_end(line, record, Side::Dst, |e| &e.subnet_id),
        AwsField::TgwSrcEni => push_end(line, record, Side::Src, |e| &e.eni_id),
        AwsField::TgwDstEni => push_end(line, record, Side::Dst, |e| &e.eni_id),
        AwsField::TgwSrcAzId => push_end(line, record, Side::Src, |e| &e.az_id),
        AwsField::TgwDstAzId => push_end(line, record, Side::Dst, |e| &e.az_id),
        // The other attachment of the crossing: where an ingress record's packets went out,
        // where an egress record's came in (§1.8).
        AwsField::TgwPairAttachmentId => {
            let pair = flow.and_then(|f| {
                let path = &f.router.as_ref()?.path;
                match f.direction {
                    Direction::Ingress => path.dst.as_ref(),
                    Direction::Egress => Some(&path.src),
                }
            });
            line.push_str(pair.map_or(DASH, |e| e.attachment_id.as_str()));
        }
        AwsField::PacketsLostNoRoute => push_lost(line, record, |r| r.lost_no_route),
        AwsField::PacketsLostBlackhole => push_lost(line, record, |r| r.lost_blackhole),
        // vpclab checks neither MTU nor TTL on routers: nothing is lost to them.
        AwsField::PacketsLostMtuExceeded => push_lost(line, record, |r| r.lost_mtu_exceeded),
        // No router decrements the TTL (docs/decisions/ttl.md).
        AwsField::PacketsLostTtlExpired => push_lost(line, record, |_| 0),
    }
}

/// The source or destination side of a router crossing.
#[derive(Clone, Copy)]
enum Side {
    Src,
    Dst,
}

/// A `tgw-src-*` / `tgw-dst-*` value: `-` for an ENI record, a record without traffic, a side
/// the packets never reached (dropped) or a value that does not apply (no VPC behind a VPN
/// attachment).
fn push_end(
    line: &mut String,
    record: &Record,
    side: Side,
    value: fn(&RouterEnd) -> &Option<String>,
) {
    let end = record
        .flow
        .as_ref()
        .and_then(|f| f.router.as_ref())
        .and_then(|r| match side {
            Side::Src => Some(&r.path.src),
            Side::Dst => r.path.dst.as_ref(),
        });
    line.push_str(end.and_then(|e| value(e).as_deref()).unwrap_or(DASH));
}

/// A `packets-lost-*` counter of a router record with traffic; `-` otherwise.
fn push_lost(line: &mut String, record: &Record, value: fn(&RouterFlow) -> u64) {
    match record.flow.as_ref().and_then(|f| f.router.as_ref()) {
        Some(r) => push_decimal(line, value(r)),
        None => line.push_str(DASH),
    }
}

// ---------------------------------------------------------------------------------------------
// Alibaba.

/// An Alibaba SLS record; the field order is the SLS field table's (flowlogs.md §3.1).
#[derive(Serialize)]
struct AlibabaLine<'a> {
    #[serde(rename = "__topic__")]
    topic: &'static str,
    version: &'static str,
    #[serde(rename = "vswitch-id")]
    vswitch_id: &'a str,
    #[serde(rename = "vm-id")]
    vm_id: &'a str,
    #[serde(rename = "vpc-id")]
    vpc_id: &'a str,
    #[serde(rename = "account-id")]
    account_id: &'a str,
    #[serde(rename = "eni-id")]
    eni_id: &'a str,
    region: &'a str,
    srcaddr: Cow<'static, str>,
    srcport: Cow<'static, str>,
    dstaddr: Cow<'static, str>,
    dstport: Cow<'static, str>,
    protocol: Cow<'static, str>,
    direction: Cow<'static, str>,
    packets: Cow<'static, str>,
    bytes: Cow<'static, str>,
    start: String,
    end: String,
    #[serde(rename = "log-status")]
    log_status: &'static str,
    action: Cow<'static, str>,
    #[serde(rename = "tcp-flags")]
    tcp_flags: Cow<'static, str>,
    traffic_path: &'static str,
}

impl<'a> AlibabaLine<'a> {
    fn new(record: &'a Record) -> AlibabaLine<'a> {
        let capture = &*record.capture;
        let flow = record.flow.as_ref();
        // `start`: first packet; `end`: close time of a connection closed in the window, else the
        // window end (D11). No traffic: the window bounds.
        let start = flow.map_or(record.window_start, |f| f.first);
        let end = flow.and_then(|f| f.closed_at).unwrap_or(record.window_end);
        AlibabaLine {
            topic: "flow_log",
            version: "1",
            vswitch_id: &capture.subnet_id,
            vm_id: capture.instance_id.as_deref().unwrap_or(DASH),
            vpc_id: &capture.vpc_id,
            account_id: &capture.account_id,
            eni_id: &capture.interface_id,
            region: &capture.region,
            srcaddr: flow_text(record, |f| f.tuple.src),
            srcport: flow_text(record, |f| f.tuple.sport),
            dstaddr: flow_text(record, |f| f.tuple.dst),
            dstport: flow_text(record, |f| f.tuple.dport),
            protocol: flow_text(record, |f| f.tuple.protocol),
            direction: flow_text(record, |f| alibaba_direction(f.direction)),
            packets: flow_text(record, |f| f.packets),
            bytes: flow_text(record, |f| f.bytes),
            start: start.secs().to_string(),
            end: end.secs().to_string(),
            log_status: record.status.as_str(),
            action: Cow::Borrowed(action_text(record)),
            tcp_flags: flow_text(record, |f| alibaba_tcp_flags(f.tcp_flags)),
            traffic_path: alibaba_traffic_path(flow.and_then(|f| f.traffic_path)),
        }
    }
}

/// Alibaba's `traffic_path` names the gateway a record's traffic was sampled at (`ipv4Gateway`,
/// `natGateway`, …; `all` is a flow-log setting, not a path). Traffic that stays in the VPC
/// passes no gateway, so it prints `-`, as does an unknown path.
fn alibaba_traffic_path(path: Option<TrafficPath>) -> &'static str {
    match path {
        Some(TrafficPath::InternetGateway) => "ipv4Gateway",
        // Peering is not among the paths alibaba samples at (flowlogs.md §3).
        Some(
            TrafficPath::SameVpc
            | TrafficPath::VirtualPrivateGateway
            | TrafficPath::IntraRegionPeering
            | TrafficPath::InterRegionPeering,
        )
        | None => DASH,
    }
}

// ---------------------------------------------------------------------------------------------
// vpclab JSON.

/// vpclab's own record: everything a [`Record`] holds, times in Unix seconds with the exact
/// microseconds beside them. Traffic fields are `null` for NODATA and SKIPDATA.
#[derive(Serialize)]
struct JsonLine<'a> {
    flow_log_id: &'a str,
    capture: &'a CaptureMeta,
    window_start: u64,
    window_end: u64,
    status: LogStatus,
    direction: Option<Direction>,
    action: Option<Action>,
    srcaddr: Option<Ipv4Addr>,
    dstaddr: Option<Ipv4Addr>,
    srcport: Option<u16>,
    dstport: Option<u16>,
    protocol: Option<u8>,
    pkt_srcaddr: Option<Ipv4Addr>,
    pkt_dstaddr: Option<Ipv4Addr>,
    packets: Option<u64>,
    bytes: Option<u64>,
    first: Option<u64>,
    first_us: Option<u64>,
    last: Option<u64>,
    last_us: Option<u64>,
    /// Raw OR of the header bits.
    tcp_flags: Option<u8>,
    closed_at: Option<u64>,
    closed_at_us: Option<u64>,
    /// AWS's `traffic-path` code (1 same VPC, 2 internet gateway), whatever the direction.
    traffic_path: Option<u8>,
    /// Router records: the attachments crossed and the packets lost.
    #[serde(skip_serializing_if = "Option::is_none")]
    router: Option<&'a RouterFlow>,
    truth: JsonTruth<'a>,
}

/// A record's truth as `json` prints it: labels as `{"benign": 3, "inc-2": 12}`, present only
/// when the world labels its traffic.
#[derive(Serialize)]
struct JsonTruth<'a> {
    packet_ids: &'a [u64],
    decisions: &'a [String],
    #[serde(skip_serializing_if = "Labels::is_empty")]
    labels: Labels<'a>,
    skipped: bool,
    skipped_records: u64,
}

struct Labels<'a>(&'a [(std::sync::Arc<str>, u64)]);

impl Labels<'_> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Labels<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(name, n)| (&**name, n)))
    }
}

impl<'a> JsonLine<'a> {
    fn new(record: &'a Record) -> JsonLine<'a> {
        let flow = record.flow.as_ref();
        let closed_at = flow.and_then(|f| f.closed_at);
        JsonLine {
            flow_log_id: &record.flow_log_id,
            capture: &record.capture,
            window_start: record.window_start.secs(),
            window_end: record.window_end.secs(),
            status: record.status,
            direction: flow.map(|f| f.direction),
            // Routers do not judge packets: a router record has no action.
            action: flow
                .filter(|_| !record.capture.is_router())
                .map(|f| f.action),
            srcaddr: flow.map(|f| f.tuple.src),
            dstaddr: flow.map(|f| f.tuple.dst),
            srcport: flow.map(|f| f.tuple.sport),
            dstport: flow.map(|f| f.tuple.dport),
            protocol: flow.map(|f| f.tuple.protocol),
            pkt_srcaddr: flow.map(|f| f.pkt_src),
            pkt_dstaddr: flow.map(|f| f.pkt_dst),
            packets: flow.map(|f| f.packets),
            bytes: flow.map(|f| f.bytes),
            first: flow.map(|f| f.first.secs()),
            first_us: flow.map(|f| f.first.micros()),
            last: flow.map(|f| f.last.secs()),
            last_us: flow.map(|f| f.last.micros()),
            tcp_flags: flow.map(|f| f.tcp_flags),
            closed_at: closed_at.map(|t| t.secs()),
            closed_at_us: closed_at.map(|t| t.micros()),
            traffic_path: flow.and_then(|f| f.traffic_path).map(|p| p as u8),
            router: flow.and_then(|f| f.router.as_ref()),
            truth: JsonTruth {
                packet_ids: &record.truth.packet_ids,
                decisions: &record.truth.decisions,
                labels: Labels(&record.truth.labels),
                skipped: record.truth.skipped,
                skipped_records: record.truth.skipped_records,
            },
        }
    }
}

/// One JSON object on one line. The views above only hold strings, numbers and plain structs, so
/// serialisation cannot fail; if it ever did, the line says so instead of panicking.
fn to_json_line<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|err| {
        let message = serde_json::to_string(&err.to_string()).unwrap_or_else(|_| "\"\"".into());
        format!("{{\"error\":{message}}}")
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::flowlog::RouterPath;
    use crate::flowlog::record::Truth;
    use crate::packet::FiveTuple;
    use crate::time::Time;

    const SYN: u8 = TcpFlags::SYN;
    const ACK: u8 = TcpFlags::ACK;
    const FIN: u8 = TcpFlags::FIN;
    const PSH: u8 = TcpFlags::PSH;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().expect("test address")
    }

    fn capture(account: &str, eni: &str) -> CaptureMeta {
        CaptureMeta {
            account_id: account.into(),
            interface_id: eni.into(),
            vpc_id: "vpc-abcdefab012345678".into(),
            subnet_id: "subnet-aaaaaaaa012345678".into(),
            instance_id: Some("i-01234567890123456".into()),
            region: "us-east-1".into(),
            az_id: "use1-az1".into(),
            primary_ip: ip("10.0.0.62"),
            router_id: None,
            ccn: None,
        }
    }

    /// The AWS examples' account and ENI.
    fn aws_capture() -> Arc<CaptureMeta> {
        Arc::new(capture("123456789010", "eni-1235b8ca123456789"))
    }

    /// An `OK` record of one window; by default ingress, ACCEPT, no flags, window = [first, last].
    struct Rec {
        capture: Arc<CaptureMeta>,
        window: (u64, u64),
        src: (&'static str, u16),
        dst: (&'static str, u16),
        protocol: u8,
        direction: Direction,
        action: Action,
        packets: u64,
        bytes: u64,
        first_last: (u64, u64),
        tcp_flags: u8,
        closed_at: Option<u64>,
        traffic_path: Option<TrafficPath>,
    }

    impl Rec {
        fn new(
            capture: Arc<CaptureMeta>,
            src: (&'static str, u16),
            dst: (&'static str, u16),
            protocol: u8,
            packets: u64,
            bytes: u64,
            first_last: (u64, u64),
        ) -> Rec {
            Rec {
                capture,
                window: first_last,
                src,
                dst,
                protocol,
                direction: Direction::Ingress,
                action: Action::Accept,
                packets,
                bytes,
                first_last,
                tcp_flags: 0,
                closed_at: None,
                traffic_path: None,
            }
        }

        fn build(self) -> Record {
            let tuple = FiveTuple {
                src: ip(self.src.0),
                dst: ip(self.dst.0),
                sport: self.src.1,
                dport: self.dst.1,
                protocol: self.protocol,
            };
            Record {
                flow_log_id: "fl-test".into(),
                capture: self.capture,
                window_start: Time::from_secs(self.window.0),
                window_end: Time::from_secs(self.window.1),
                status: LogStatus::Ok,
                flow: Some(Flow {
                    tuple,
                    pkt_src: tuple.src,
                    pkt_dst: tuple.dst,
                    direction: self.direction,
                    action: self.action,
                    packets: self.packets,
                    bytes: self.bytes,
                    first: Time::from_secs(self.first_last.0),
                    last: Time::from_secs(self.first_last.1),
                    tcp_flags: self.tcp_flags,
                    // Test records give the window's raw OR; the aggregator ORs per packet.
                    aws_tcp_flags: aws_tcp_flags(self.tcp_flags),
                    closed_at: self.closed_at.map(Time::from_secs),
                    traffic_path: self.traffic_path,
                    router: None,
                }),
                truth: Truth::default(),
            }
        }
    }

    fn no_traffic(capture: Arc<CaptureMeta>, status: LogStatus, window: (u64, u64)) -> Record {
        Record {
            flow_log_id: "fl-test".into(),
            capture,
            window_start: Time::from_secs(window.0),
            window_end: Time::from_secs(window.1),
            status,
            flow: None,
            truth: Truth::default(),
        }
    }

    fn aws_v2() -> Format {
        Format::Aws(AwsFormat::default_v2())
    }

    fn aws_custom(spec: &str) -> Format {
        Format::Aws(AwsFormat::parse(spec).expect("valid test format"))
    }

    // --- AWS default format: flowlogs.md §1.6, §1.7 -------------------------------------------

    #[test]
    fn aws_v2_accepted_ssh() {
        let r = Rec::new(
            aws_capture(),
            ("172.31.16.139", 20641),
            ("172.31.16.21", 22),
            6,
            20,
            4249,
            (1418530010, 1418530070),
        )
        .build();
        assert_eq!(
            render(&r, &aws_v2()),
            "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 \
             1418530010 1418530070 ACCEPT OK"
        );
    }

    #[test]
    fn aws_v2_rejected_rdp() {
        let mut r = Rec::new(
            aws_capture(),
            ("172.31.9.69", 49761),
            ("172.31.9.12", 3389),
            6,
            20,
            4249,
            (1418530010, 1418530070),
        );
        r.action = Action::Reject;
        assert_eq!(
            render(&r.build(), &aws_v2()),
            "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 \
             1418530010 1418530070 REJECT OK"
        );
    }

    /// The SG-vs-NACL ping pair: request in ACCEPT, reply out REJECT; the window holds both.
    fn ping_pair() -> (Record, Record) {
        let mut request = Rec::new(
            aws_capture(),
            ("203.0.113.12", 0),
            ("172.31.16.139", 0),
            1,
            4,
            336,
            (1432917027, 1432917142),
        );
        request.window = (1432917000, 1432917600);
        let mut reply = Rec::new(
            aws_capture(),
            ("172.31.16.139", 0),
            ("203.0.113.12", 0),
            1,
            4,
            336,
            (1432917094, 1432917142),
        );
        reply.window = (1432917000, 1432917600);
        reply.direction = Direction::Egress;
        reply.action = Action::Reject;
        (request.build(), reply.build())
    }

    #[test]
    fn aws_v2_ping_pair() {
        let (request, reply) = ping_pair();
        assert_eq!(
            render(&request, &aws_v2()),
            "2 123456789010 eni-1235b8ca123456789 203.0.113.12 172.31.16.139 0 0 1 4 336 \
             1432917027 1432917142 ACCEPT OK"
        );
        assert_eq!(
            render(&reply, &aws_v2()),
            "2 123456789010 eni-1235b8ca123456789 172.31.16.139 203.0.113.12 0 0 1 4 336 \
             1432917094 1432917142 REJECT OK"
        );
    }

    #[test]
    fn aws_v2_nodata_and_skipdata() {
        let nodata = no_traffic(aws_capture(), LogStatus::NoData, (1431280876, 1431280934));
        assert_eq!(
            render(&nodata, &aws_v2()),
            "2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA"
        );
        let skip_capture = Arc::new(capture("123456789010", "eni-11111111aaaaaaaaa"));
        let skipdata = no_traffic(skip_capture, LogStatus::SkipData, (1431280876, 1431280934));
        assert_eq!(
            render(&skipdata, &aws_v2()),
            "2 123456789010 eni-11111111aaaaaaaaa - - - - - - - 1431280876 1431280934 - SKIPDATA"
        );
    }

    // --- AWS custom formats -------------------------------------------------------------------

    const TCP_FLAGS_FORMAT: &str = "version vpc-id subnet-id instance-id interface-id account-id \
        type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start \
        end action tcp-flags log-status";

    /// The §1.7 TCP-flag sequence on ENI 10.0.0.62 (client 52.213.180.42, server port 5001).
    /// Raw flags are what each side sent in the window, except that the client's ACKs are left
    /// out of its SYN windows: from the raw OR vpclab cannot tell a client's SYN + ACK from a
    /// server's SYN-ACK and would print 18 (see `aws_tcp_flags_client_window_limitation`).
    #[test]
    fn aws_custom_tcp_flag_sequence() {
        let format = aws_custom(TCP_FLAGS_FORMAT);
        let line = |src, dst, direction, bytes, packets, window, flags| {
            let mut r = Rec::new(aws_capture(), src, dst, 6, packets, bytes, window);
            r.direction = direction;
            r.tcp_flags = flags;
            render(&r.build(), &format)
        };
        let client = "52.213.180.42";
        let server = "10.0.0.62";
        let meta = "3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 \
                    eni-1235b8ca123456789 123456789010 IPv4";
        let w1 = (1566848875, 1566848933);
        assert_eq!(
            line(
                (client, 43416),
                (server, 5001),
                Direction::Ingress,
                568,
                8,
                w1,
                SYN
            ),
            format!(
                "{meta} 52.213.180.42 10.0.0.62 43416 5001 52.213.180.42 10.0.0.62 6 568 8 \
                 1566848875 1566848933 ACCEPT 2 OK"
            )
        );
        assert_eq!(
            line(
                (server, 5001),
                (client, 43416),
                Direction::Egress,
                376,
                7,
                w1,
                SYN | ACK | PSH
            ),
            format!(
                "{meta} 10.0.0.62 52.213.180.42 5001 43416 10.0.0.62 52.213.180.42 6 376 7 \
                 1566848875 1566848933 ACCEPT 18 OK"
            )
        );
        // Next interval: FIN on 43418 (ACK and PSH alone count 0).
        let w2 = (1566848933, 1566849113);
        assert_eq!(
            line(
                (server, 5001),
                (client, 43418),
                Direction::Egress,
                63388,
                1219,
                w2,
                FIN | ACK | PSH
            ),
            format!(
                "{meta} 10.0.0.62 52.213.180.42 5001 43418 10.0.0.62 52.213.180.42 6 63388 1219 \
                 1566848933 1566849113 ACCEPT 1 OK"
            )
        );
        // A short connection in one interval: SYN|FIN (3) and SYN-ACK|FIN (19).
        let w3 = (1566933133, 1566933193);
        assert_eq!(
            line(
                (client, 43638),
                (server, 5001),
                Direction::Ingress,
                1260,
                17,
                w3,
                SYN | FIN
            ),
            format!(
                "{meta} 52.213.180.42 10.0.0.62 43638 5001 52.213.180.42 10.0.0.62 6 1260 17 \
                 1566933133 1566933193 ACCEPT 3 OK"
            )
        );
        assert_eq!(
            line(
                (server, 5001),
                (client, 43638),
                Direction::Egress,
                967,
                14,
                w3,
                SYN | ACK | FIN | PSH
            ),
            format!(
                "{meta} 10.0.0.62 52.213.180.42 5001 43638 10.0.0.62 52.213.180.42 6 967 14 \
                 1566933133 1566933193 ACCEPT 19 OK"
            )
        );
    }

    #[test]
    fn aws_tcp_flags_client_window_limitation() {
        // On a raw OR a client's SYN then ACKs would look like a SYN-ACK: hence per-packet mapping.
        assert_eq!(aws_tcp_flags(SYN | ACK | PSH), 18); // AWS would print 2.
        // Mapped values are fixed points, so an aggregator ORing per-packet values is exact.
        for v in [0, 1, 2, 3, 4, 18, 19] {
            assert_eq!(aws_tcp_flags(v), v);
        }
        assert_eq!(aws_packet_tcp_flags(ACK | PSH), 0);
        assert_eq!(aws_packet_tcp_flags(SYN | TcpFlags::ECE), 2);
    }

    const V5_FORMAT: &str = "version srcaddr dstaddr srcport dstport protocol start end type \
        packets bytes account-id vpc-id subnet-id instance-id interface-id region az-id \
        sublocation-type sublocation-id action tcp-flags pkt-srcaddr pkt-dstaddr \
        pkt-src-aws-service pkt-dst-aws-service traffic-path flow-direction log-status";

    /// The §1.7 v5 example (an instance talking to S3). vpclab does not know AWS's service
    /// address ranges, so `pkt-src-aws-service`/`pkt-dst-aws-service` print `-` where AWS prints
    /// `S3`, and its traffic paths are only 1 and 2, so the egress line's `8` (IGW, Nitro) is `2`
    /// (IGW). Every other field is the document's.
    #[test]
    fn aws_custom_v5_service_and_traffic_path() {
        let format = aws_custom(V5_FORMAT);
        let eni = Arc::new(CaptureMeta {
            account_id: "123456789012".into(),
            interface_id: "eni-1235b8ca123456789".into(),
            vpc_id: "vpc-abcdefab012345678".into(),
            subnet_id: "subnet-aaaaaaaa012345678".into(),
            instance_id: Some("i-0c50d5961bcb2d47b".into()),
            region: "ap-southeast-2".into(),
            az_id: "apse2-az3".into(),
            primary_ip: ip("10.0.0.71"),
            router_id: None,
            ccn: None,
        });
        let window = (1616729292, 1616729349);
        let mut ingress = Rec::new(
            eni.clone(),
            ("52.95.128.179", 80),
            ("10.0.0.71", 34210),
            6,
            14,
            15044,
            window,
        );
        ingress.tcp_flags = SYN | ACK | FIN | PSH;
        // A path on an ingress record is not printed.
        ingress.traffic_path = Some(TrafficPath::InternetGateway);
        assert_eq!(
            render(&ingress.build(), &format),
            "5 52.95.128.179 10.0.0.71 80 34210 6 1616729292 1616729349 IPv4 14 15044 \
             123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b \
             eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - ACCEPT 19 52.95.128.179 10.0.0.71 \
             - - - ingress OK"
        );
        let mut egress = Rec::new(
            eni,
            ("10.0.0.71", 34210),
            ("52.95.128.179", 80),
            6,
            7,
            471,
            window,
        );
        egress.direction = Direction::Egress;
        egress.tcp_flags = SYN | FIN;
        egress.traffic_path = Some(TrafficPath::InternetGateway);
        assert_eq!(
            render(&egress.build(), &format),
            "5 10.0.0.71 52.95.128.179 34210 80 6 1616729292 1616729349 IPv4 7 471 \
             123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b \
             eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - ACCEPT 3 10.0.0.71 52.95.128.179 \
             - - 2 egress OK"
        );
    }

    /// The real-world v5 SKIPDATA line of §1.6 (all 29 fields in alphabetical order). Its ids
    /// were elided in the source and are filled in here; it shows `start` = `end` = 1700185000,
    /// vpclab prints the window bounds, here a 60 s window.
    #[test]
    fn aws_custom_v5_skipdata() {
        let mut names: Vec<&str> = AwsField::ALL
            .iter()
            .filter(|f| f.version() <= 5)
            .map(|f| f.name())
            .collect();
        names.sort_unstable();
        let format = aws_custom(&names.join(" "));
        let meta = Arc::new(CaptureMeta {
            account_id: "325352056000".into(),
            interface_id: "eni-0123456789abcdef0".into(),
            vpc_id: "vpc-0123456789abcdef0".into(),
            subnet_id: "subnet-0123456789abcdef0".into(),
            instance_id: Some("i-0123456789abcdef0".into()),
            region: "ap-northeast-1".into(),
            az_id: "apne1-az1".into(),
            primary_ip: ip("10.0.0.5"),
            router_id: None,
            ccn: None,
        });
        let r = no_traffic(meta, LogStatus::SkipData, (1700185000, 1700185060));
        assert_eq!(
            render(&r, &format),
            "325352056000 - apne1-az1 - - - 1700185060 - i-0123456789abcdef0 eni-0123456789abcdef0 \
             SKIPDATA - - - - - - ap-northeast-1 - - 1700185000 - - subnet-0123456789abcdef0 - - - \
             5 vpc-0123456789abcdef0"
        );
    }

    #[test]
    fn aws_instance_id_dash_when_requester_managed() {
        let mut nat = capture("123456789010", "eni-1235b8ca123456789");
        nat.instance_id = None;
        let mut r = Rec::new(
            Arc::new(nat),
            ("10.0.1.5", 40000),
            ("10.0.0.220", 443),
            6,
            1,
            60,
            (100, 100),
        );
        r.window = (0, 600);
        let mut record = r.build();
        if let Some(flow) = record.flow.as_mut() {
            flow.pkt_dst = ip("203.0.113.5");
        }
        let format = aws_custom("instance-id interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr");
        assert_eq!(
            render(&record, &format),
            "- eni-1235b8ca123456789 10.0.1.5 10.0.0.220 10.0.1.5 203.0.113.5"
        );
    }

    // --- AwsFormat parsing --------------------------------------------------------------------

    #[test]
    fn aws_format_parse_and_version() {
        assert_eq!(AwsFormat::default_v2().version(), 2);
        assert_eq!(
            AwsFormat::parse(TCP_FLAGS_FORMAT).map(|f| f.version()),
            Ok(3)
        );
        assert_eq!(AwsFormat::parse(V5_FORMAT).map(|f| f.version()), Ok(5));
        assert_eq!(
            AwsFormat::parse("version region").map(|f| f.version()),
            Ok(4)
        );
        let dollar = AwsFormat::parse("${version} ${srcaddr}").expect("valid");
        assert_eq!(dollar.fields(), [AwsField::Version, AwsField::SrcAddr]);
        // Display gives the AWS format string, which parses back to the same format.
        let default = AwsFormat::default_v2();
        assert_eq!(
            default.to_string(),
            "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} \
             ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}"
        );
        assert_eq!(AwsFormat::parse(&default.to_string()), Ok(default));
        for field in AwsField::ALL {
            assert_eq!(field.name().parse::<AwsField>(), Ok(field));
        }
    }

    #[test]
    fn aws_format_parse_errors() {
        let err = AwsFormat::parse("version vpc-idd ${bogus} srcaddr").unwrap_err();
        assert_eq!(
            err,
            FormatError::UnknownAwsFields(vec!["vpc-idd".into(), "${bogus}".into()])
        );
        let message = err.to_string();
        assert!(
            message.contains("`vpc-idd`") && message.contains("`${bogus}`"),
            "{message}"
        );
        // v7+ fields are not vpclab's.
        assert!(matches!(
            AwsFormat::parse("version ecs-cluster-arn"),
            Err(FormatError::UnknownAwsFields(names)) if names == ["ecs-cluster-arn"]
        ));
        assert_eq!(AwsFormat::parse(""), Err(FormatError::EmptyAwsFormat));
        assert_eq!(AwsFormat::parse("  \t "), Err(FormatError::EmptyAwsFormat));
        assert_eq!(
            AwsFormat::parse("srcaddr ${srcaddr}"),
            Err(FormatError::DuplicateAwsField("srcaddr".into()))
        );
        assert_eq!(
            AwsFormat::from_fields(vec![]),
            Err(FormatError::EmptyAwsFormat)
        );
    }

    #[test]
    fn format_names() {
        for name in Format::NAMES {
            let format: Format = name.parse().expect("known name");
            assert_eq!(format.to_string(), name);
        }
        assert_eq!("AWS".parse::<Format>(), Ok(aws_v2()));
        assert_eq!(Format::parse("aws", None), Ok(aws_v2()));
        assert_eq!(
            Format::parse("aws", Some("version vpc-id")),
            Ok(aws_custom("version vpc-id"))
        );
        assert_eq!(
            Format::parse("huawei", Some("version")),
            Err(FormatError::FieldsNotAws("huawei".into()))
        );
        let err = "gcp".parse::<Format>().unwrap_err();
        assert_eq!(err, FormatError::UnknownFormat("gcp".into()));
        assert!(err.to_string().contains("tencent-positional"));
        assert!(matches!(
            Format::parse("aws", Some("nope")),
            Err(FormatError::UnknownAwsFields(_))
        ));
    }

    // --- Huawei: flowlogs.md §3.2, seed 003 --------------------------------------------------

    fn huawei_capture() -> Arc<CaptureMeta> {
        let mut meta = capture(
            "5f67944957444bd6bb4fe3b367de8f3d",
            "1d515d18-1b36-47dc-a983-bd6512aed4bd",
        );
        meta.primary_ip = ip("192.168.3.25");
        Arc::new(meta)
    }

    #[test]
    fn huawei_accept() {
        // start/end are the 600 s window's bounds, not the packet's time.
        let mut r = Rec::new(
            huawei_capture(),
            ("192.168.0.154", 38929),
            ("192.168.3.25", 53),
            17,
            1,
            96,
            (1548752200, 1548752200),
        );
        r.window = (1548752136, 1548752736);
        assert_eq!(
            render(&r.build(), &Format::Huawei),
            "1 5f67944957444bd6bb4fe3b367de8f3d 1d515d18-1b36-47dc-a983-bd6512aed4bd \
             192.168.0.154 192.168.3.25 38929 53 17 1 96 1548752136 1548752736 ACCEPT OK"
        );
    }

    #[test]
    fn huawei_nodata_and_skipdata() {
        let window = (1431280876, 1431280934);
        let nodata = no_traffic(huawei_capture(), LogStatus::NoData, window);
        assert_eq!(
            render(&nodata, &Format::Huawei),
            "1 5f67944957444bd6bb4fe3b367de8f3d 1d515d18-1b36-47dc-a983-bd6512aed4bd \
             - - - - - - - 1431280876 1431280934 - NODATA"
        );
        let skipdata = no_traffic(huawei_capture(), LogStatus::SkipData, window);
        assert_eq!(
            render(&skipdata, &Format::Huawei),
            "1 5f67944957444bd6bb4fe3b367de8f3d 1d515d18-1b36-47dc-a983-bd6512aed4bd \
             - - - - - - - 1431280876 1431280934 - SKIPDATA"
        );
    }

    // --- Router records: huawei ER (flowlogs.md §3.3), AWS transit gateway (§1.8) ----------

    /// A router attachment as capture point.
    fn router_capture(account: &str, router: &str, attachment: &str) -> Arc<CaptureMeta> {
        Arc::new(CaptureMeta {
            account_id: account.into(),
            interface_id: attachment.into(),
            vpc_id: "vpc-0aaaaaaaaaaaaaaaa".into(),
            subnet_id: "-".into(),
            instance_id: None,
            region: "us-east-1".into(),
            az_id: "-".into(),
            primary_ip: Ipv4Addr::UNSPECIFIED,
            router_id: Some(router.into()),
            ccn: None,
        })
    }

    fn end(attachment: &str, vpc: &str, subnet: &str, eni: &str, az: &str) -> RouterEnd {
        RouterEnd {
            attachment_id: attachment.into(),
            vpc_account_id: Some("123456789010".into()),
            vpc_id: Some(vpc.into()),
            subnet_id: Some(subnet.into()),
            eni_id: Some(eni.into()),
            az_id: Some(az.into()),
        }
    }

    /// A record of a TGW attachment: VPC A's attachment (client side, use1-az1) to VPC B's.
    fn tgw_record(direction: Direction, dst: bool, lost: (u64, u64)) -> Record {
        let attachment = match direction {
            Direction::Ingress => "tgw-attach-0aaaaaaaaaaaaaaaa",
            Direction::Egress => "tgw-attach-0bbbbbbbbbbbbbbbb",
        };
        let mut r = Rec::new(
            router_capture("123456789010", "tgw-0123456789abcdef0", attachment),
            ("10.20.33.164", 39812),
            ("10.40.2.236", 80),
            6,
            3,
            180,
            (1700000010, 1700000011),
        );
        r.direction = direction;
        r.tcp_flags = SYN;
        r.window = (1700000000, 1700000060);
        let mut record = r.build();
        let flow = record.flow.as_mut().expect("traffic");
        flow.router = Some(RouterFlow {
            path: Arc::new(RouterPath {
                src: end(
                    "tgw-attach-0aaaaaaaaaaaaaaaa",
                    "vpc-0aaaaaaaaaaaaaaaa",
                    "subnet-0aaaaaaaaaaaaaaaa",
                    "eni-0aaaaaaaaaaaaaaaa",
                    "use1-az1",
                ),
                dst: dst.then(|| {
                    end(
                        "tgw-attach-0bbbbbbbbbbbbbbbb",
                        "vpc-0bbbbbbbbbbbbbbbb",
                        "subnet-0bbbbbbbbbbbbbbbb",
                        "eni-0bbbbbbbbbbbbbbbb",
                        "use1-az1",
                    )
                }),
            }),
            lost_no_route: lost.0,
            lost_blackhole: lost.1,
            lost_mtu_exceeded: 0,
        });
        record
    }

    /// The documented ER example, field for field: ICMP (ports 0 0) leaving the router
    /// through the attachment (`egress`), 279 packets, 27342 bytes, a 600 s window.
    #[test]
    fn huawei_er_documented_example() {
        let mut r = Rec::new(
            router_capture(
                "0ebc7f641d80f4d32f9dc0056bdaae5b",
                "740cc7e2-c686-496e-9fae-2dfc33e9d443",
                "2756dc58-49be-413d-852f-accc5657a6c3",
            ),
            ("192.168.3.227", 0),
            ("172.16.0.206", 0),
            1,
            279,
            27342,
            (1670338600, 1670339100),
        );
        r.direction = Direction::Egress;
        r.window = (1670338595, 1670339195);
        let record = r.build();
        let line = "1 0ebc7f641d80f4d32f9dc0056bdaae5b 740cc7e2-c686-496e-9fae-2dfc33e9d443 \
                    2756dc58-49be-413d-852f-accc5657a6c3 192.168.3.227 172.16.0.206 0 0 1 279 \
                    27342 1670338595 1670339195 egress";
        assert_eq!(render(&record, &Format::HuaweiRouter), line);
        // Asked for the huawei VPC format, a router record prints as the ER line.
        assert_eq!(render(&record, &Format::Huawei), line);
        // Every field under its documented name.
        let names = Format::HuaweiRouter
            .positional_fields()
            .expect("positional");
        let named: Vec<(&str, &str)> = names.into_iter().zip(line.split(' ')).collect();
        assert_eq!(
            named,
            [
                ("version", "1"),
                ("project_id", "0ebc7f641d80f4d32f9dc0056bdaae5b"),
                ("instance_id", "740cc7e2-c686-496e-9fae-2dfc33e9d443"),
                ("resource_id", "2756dc58-49be-413d-852f-accc5657a6c3"),
                ("srcaddr", "192.168.3.227"),
                ("dstaddr", "172.16.0.206"),
                ("srcport", "0"),
                ("dstport", "0"),
                ("protocol", "1"),
                ("packets", "279"),
                ("bytes", "27342"),
                ("start", "1670338595"),
                ("end", "1670339195"),
                ("direct", "egress"),
            ]
        );
    }

    #[test]
    fn huawei_er_ingress_and_formats_of_eni_records() {
        let mut r = Rec::new(
            router_capture("0ebc7f641d80f4d32f9dc0056bdaae5b", "er-1", "att-1"),
            ("172.16.0.206", 40000),
            ("192.168.3.227", 22),
            6,
            5,
            400,
            (10, 20),
        );
        r.window = (0, 600);
        assert_eq!(
            render(&r.build(), &Format::HuaweiRouter),
            "1 0ebc7f641d80f4d32f9dc0056bdaae5b er-1 att-1 172.16.0.206 192.168.3.227 40000 22 \
             6 5 400 0 600 ingress"
        );
        // Asked for the ER format, an ENI record prints in the VPC format.
        let mut eni = Rec::new(
            huawei_capture(),
            ("192.168.0.154", 38929),
            ("192.168.3.25", 53),
            17,
            1,
            96,
            (1548752200, 1548752200),
        );
        eni.window = (1548752136, 1548752736);
        let eni = eni.build();
        assert_eq!(
            render(&eni, &Format::HuaweiRouter),
            render(&eni, &Format::Huawei)
        );
        assert_eq!(
            Format::HuaweiRouter.for_record(&eni).into_owned(),
            Format::Huawei
        );
    }

    #[test]
    fn huawei_er_has_no_nodata_line() {
        let capture = router_capture("0ebc7f641d80f4d32f9dc0056bdaae5b", "er-1", "att-1");
        let nodata = no_traffic(capture, LogStatus::NoData, (0, 600));
        assert!(!Format::HuaweiRouter.prints(&nodata));
        assert!(!Format::Huawei.prints(&nodata));
        assert!(Format::Json.prints(&nodata));
        assert!(aws_v2().prints(&nodata));
        assert_eq!(
            render(&nodata, &Format::HuaweiRouter),
            "1 0ebc7f641d80f4d32f9dc0056bdaae5b er-1 att-1 - - - - - - - 0 600 -"
        );
    }

    /// The TGW default format: 36 fields in the TGW table's order, version 6.
    #[test]
    fn aws_tgw_default_ingress_and_egress() {
        let tgw = Format::Aws(AwsFormat::default_tgw());
        assert_eq!(AwsFormat::default_tgw().version(), 6);
        assert_eq!(
            tgw.positional_fields().expect("positional").join(" "),
            "version resource-type account-id tgw-id tgw-attachment-id tgw-src-vpc-account-id \
             tgw-dst-vpc-account-id tgw-src-vpc-id tgw-dst-vpc-id tgw-src-subnet-id \
             tgw-dst-subnet-id tgw-src-eni tgw-dst-eni tgw-src-az-id tgw-dst-az-id \
             tgw-pair-attachment-id srcaddr dstaddr srcport dstport protocol packets bytes start \
             end log-status type packets-lost-no-route packets-lost-blackhole \
             packets-lost-mtu-exceeded packets-lost-ttl-expired tcp-flags region flow-direction \
             pkt-src-aws-service pkt-dst-aws-service"
        );
        let ingress = tgw_record(Direction::Ingress, true, (0, 0));
        assert_eq!(
            render(&ingress, &tgw),
            "6 TransitGatewayAttachment 123456789010 tgw-0123456789abcdef0 \
             tgw-attach-0aaaaaaaaaaaaaaaa 123456789010 123456789010 vpc-0aaaaaaaaaaaaaaaa \
             vpc-0bbbbbbbbbbbbbbbb subnet-0aaaaaaaaaaaaaaaa subnet-0bbbbbbbbbbbbbbbb \
             eni-0aaaaaaaaaaaaaaaa eni-0bbbbbbbbbbbbbbbb use1-az1 use1-az1 \
             tgw-attach-0bbbbbbbbbbbbbbbb 10.20.33.164 10.40.2.236 39812 80 6 3 180 1700000010 \
             1700000011 OK IPv4 0 0 0 0 2 us-east-1 ingress - -"
        );
        // Egress through B: the pair is where the packets came in.
        let egress = tgw_record(Direction::Egress, true, (0, 0));
        let line = render(&egress, &tgw);
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields[4], "tgw-attach-0bbbbbbbbbbbbbbbb");
        assert_eq!(fields[15], "tgw-attach-0aaaaaaaaaaaaaaaa");
        assert_eq!(fields[33], "egress");
    }

    /// A blackholed flow: counted where it entered, its losses in packets-lost-blackhole,
    /// nothing on the destination side.
    #[test]
    fn aws_tgw_lost_packets() {
        let tgw = aws_custom(
            "tgw-attachment-id tgw-dst-vpc-id tgw-dst-eni tgw-pair-attachment-id srcaddr \
             dstaddr packets packets-lost-no-route packets-lost-blackhole flow-direction",
        );
        let blackholed = tgw_record(Direction::Ingress, false, (0, 3));
        assert_eq!(
            render(&blackholed, &tgw),
            "tgw-attach-0aaaaaaaaaaaaaaaa - - - 10.20.33.164 10.40.2.236 3 0 3 ingress"
        );
        let no_route = tgw_record(Direction::Ingress, false, (3, 0));
        assert_eq!(
            render(&no_route, &tgw),
            "tgw-attach-0aaaaaaaaaaaaaaaa - - - 10.20.33.164 10.40.2.236 3 3 0 ingress"
        );
        // No traffic: every traffic and router field is `-`.
        let capture = router_capture("123456789010", "tgw-1", "tgw-attach-1");
        let nodata = no_traffic(capture, LogStatus::NoData, (1700000000, 1700000060));
        assert_eq!(
            render(&nodata, &Format::Aws(AwsFormat::default_tgw())),
            "6 TransitGatewayAttachment 123456789010 tgw-1 tgw-attach-1 - - - - - - - - - - - \
             - - - - - - - 1700000000 1700000060 NODATA - - - - - - us-east-1 - - -"
        );
    }

    /// Which format each kind of record prints in (module doc).
    #[test]
    fn formats_fit_their_records() {
        let router = tgw_record(Direction::Ingress, true, (0, 0));
        let eni = ping_pair().0;
        let tgw = Format::Aws(AwsFormat::default_tgw());
        // A VPC format prints router records in the TGW default, and the reverse.
        assert_eq!(render(&router, &aws_v2()), render(&router, &tgw));
        assert_eq!(render(&eni, &tgw), render(&eni, &aws_v2()));
        assert_eq!(
            aws_v2().for_record(&router).into_owned(),
            tgw,
            "v2 → TGW default for router records"
        );
        // A format of common fields prints both as asked.
        let common = aws_custom("version srcaddr dstaddr packets flow-direction");
        assert_eq!(
            render(&router, &common),
            "5 10.20.33.164 10.40.2.236 3 ingress"
        );
        assert_eq!(
            render(&eni, &common),
            "5 203.0.113.12 172.31.16.139 4 ingress"
        );
        // TGW fields on an ENI record, VPC fields on a router record: `-`.
        assert_eq!(
            AwsFormat::parse("tgw-id packets-lost-blackhole resource-type").map(|f| f.scope()),
            Ok(FieldScope::TransitGateway)
        );
        // Tencent and alibaba print router records in their own shape, without an action.
        let kv = render(&router, &Format::Tencent(TencentStyle::KeyValue));
        assert!(kv.contains("action:- "), "{kv}");
        assert!(
            kv.contains("interface-id:tgw-attach-0aaaaaaaaaaaaaaaa"),
            "{kv}"
        );
        let ali = json(&render(&router, &Format::Alibaba));
        assert_eq!(ali["action"], "-");
        assert_eq!(ali["eni-id"], "tgw-attach-0aaaaaaaaaaaaaaaa");
        assert_eq!(ali["vswitch-id"], "-");
        assert_eq!(ali["direction"], "in");
        // json: no action, the router path and losses.
        let j = json(&render(&router, &Format::Json));
        assert!(j["action"].is_null());
        assert_eq!(j["capture"]["router_id"], "tgw-0123456789abcdef0");
        assert_eq!(
            j["router"]["path"]["dst"]["attachment_id"],
            "tgw-attach-0bbbbbbbbbbbbbbbb"
        );
        assert_eq!(j["router"]["lost_blackhole"], 0);
        // ENI records keep their json shape (no router keys).
        let e = json(&render(&eni, &Format::Json));
        assert!(e.get("router").is_none() && e["capture"].get("router_id").is_none());
    }

    #[test]
    fn aws_tgw_format_parse() {
        assert_eq!(
            Format::parse("aws-tgw", None),
            Ok(Format::Aws(AwsFormat::default_tgw()))
        );
        assert_eq!(Format::Aws(AwsFormat::default_tgw()).name(), "aws-tgw");
        assert_eq!(
            Format::parse("aws", Some("version tgw-id srcaddr packets-lost-no-route"))
                .map(|f| f.positional_fields()),
            Ok(Some(vec![
                "version",
                "tgw-id",
                "srcaddr",
                "packets-lost-no-route"
            ]))
        );
        let err = AwsFormat::parse("tgw-id action").unwrap_err();
        assert_eq!(
            err,
            FormatError::MixedAwsFields("action".into(), "tgw-id".into())
        );
        assert_eq!(
            err.to_string(),
            "an AWS flow-log format is for VPC flow logs or for transit-gateway flow logs, not \
             both: `action` is a VPC field, `tgw-id` a transit-gateway field"
        );
    }

    // --- Tencent: flowlogs.md §3.4, seed 004 -------------------------------------------------

    fn tencent_capture() -> Arc<CaptureMeta> {
        let mut meta = capture("1251762227", "eni-lq6mkcis");
        meta.primary_ip = ip("10.0.3.4");
        Arc::new(meta)
    }

    /// The seed's SSH sample, joined on one line. The sample shows `start` = `end` =
    /// 1655104384; the ENI format prints the window bounds (D11), so with a 300 s window
    /// starting there `end` is 1655104684. Keys, their order and every other value are the
    /// seed's.
    #[test]
    fn tencent_key_value_ssh_sample() {
        let mut r = Rec::new(
            tencent_capture(),
            ("192.63.197.94", 58188),
            ("10.0.3.4", 22),
            6,
            2,
            108,
            (1655104384, 1655104384),
        );
        r.window = (1655104384, 1655104684);
        let record = r.build();
        assert_eq!(
            render(&record, &Format::Tencent(TencentStyle::KeyValue)),
            "srcaddr:192.63.197.94 dstport:22 account-id:1251762227 start:1655104384 \
             dstaddr:10.0.3.4 version:0001_0001 packets:2 protocol:6 bytes:108 action:ACCEPT \
             srcport:58188 end:1655104684 log-status:OK interface-id:eni-lq6mkcis"
        );
        assert_eq!(
            render(&record, &Format::Tencent(TencentStyle::Positional)),
            "0001_0001 1251762227 eni-lq6mkcis 192.63.197.94 10.0.3.4 58188 22 6 2 108 \
             1655104384 1655104684 ACCEPT OK"
        );
    }

    /// NODATA prints `-` for packets and bytes, not the `-1` of the seed's log-status text (D14).
    #[test]
    fn tencent_nodata() {
        let r = no_traffic(
            tencent_capture(),
            LogStatus::NoData,
            (1655104200, 1655104500),
        );
        assert_eq!(
            render(&r, &Format::Tencent(TencentStyle::KeyValue)),
            "srcaddr:- dstport:- account-id:1251762227 start:1655104200 dstaddr:- \
             version:0001_0001 packets:- protocol:- bytes:- action:- srcport:- end:1655104500 \
             log-status:NODATA interface-id:eni-lq6mkcis"
        );
        assert_eq!(
            render(&r, &Format::Tencent(TencentStyle::Positional)),
            "0001_0001 1251762227 eni-lq6mkcis - - - - - - - 1655104200 1655104500 - NODATA"
        );
    }

    #[test]
    fn tencent_key_order_is_a_permutation() {
        let mut keys = TENCENT_KEY_ORDER;
        let mut names = V2_NAMES;
        keys.sort_unstable();
        names.sort_unstable();
        assert_eq!(keys, names);
    }

    // --- Alibaba: flowlogs.md §3.1 -----------------------------------------------------------

    fn alibaba_capture() -> Arc<CaptureMeta> {
        Arc::new(CaptureMeta {
            account_id: "1234567890123456".into(),
            interface_id: "eni-bp1a2b3c4d5e6f7g8h9i0jkl".into(),
            vpc_id: "vpc-bp1qpo0kug3a20qqe****".into(),
            subnet_id: "vsw-bp1s2q4p3x0i6a3l3****".into(),
            instance_id: Some("i-bp1ec4d5e6f7g8h9****".into()),
            region: "cn-hangzhou".into(),
            az_id: "cn-hangzhou-h".into(),
            primary_ip: ip("10.0.0.2"),
            router_id: None,
            ccn: None,
        })
    }

    fn json(line: &str) -> serde_json::Value {
        serde_json::from_str(line).expect("one JSON object")
    }

    /// The documented pair on one ENI (`eni-xxx in 10.0.0.1 53870 6 10.0.0.2 80 …`): the
    /// inbound side of a short connection, closed inside the window, so `end` is the close time.
    #[test]
    fn alibaba_short_connection_inbound() {
        let mut r = Rec::new(
            alibaba_capture(),
            ("10.0.0.1", 53870),
            ("10.0.0.2", 80),
            6,
            6,
            472,
            (1700000012, 1700000013),
        );
        r.window = (1700000000, 1700000600);
        r.tcp_flags = SYN | ACK | PSH | FIN | TcpFlags::ECE;
        r.closed_at = Some(1700000013);
        let line = render(&r.build(), &Format::Alibaba);
        assert!(!line.contains('\n'));
        let expected = [
            ("__topic__", "flow_log"),
            ("version", "1"),
            ("vswitch-id", "vsw-bp1s2q4p3x0i6a3l3****"),
            ("vm-id", "i-bp1ec4d5e6f7g8h9****"),
            ("vpc-id", "vpc-bp1qpo0kug3a20qqe****"),
            ("account-id", "1234567890123456"),
            ("eni-id", "eni-bp1a2b3c4d5e6f7g8h9i0jkl"),
            ("region", "cn-hangzhou"),
            ("srcaddr", "10.0.0.1"),
            ("srcport", "53870"),
            ("dstaddr", "10.0.0.2"),
            ("dstport", "80"),
            ("protocol", "6"),
            ("direction", "in"),
            ("packets", "6"),
            ("bytes", "472"),
            ("start", "1700000012"),
            ("end", "1700000013"),
            ("log-status", "OK"),
            ("action", "ACCEPT"),
            // SYN|ACK|PSH|FIN = 27; ECE is outside Alibaba's mask.
            ("tcp-flags", "27"),
            ("traffic_path", "-"),
        ];
        let value = json(&line);
        let object = value.as_object().expect("an object");
        assert_eq!(object.len(), expected.len());
        for (key, want) in expected {
            assert_eq!(
                object.get(key).and_then(|v| v.as_str()),
                Some(want),
                "field {key}"
            );
        }
        // Keys in the SLS field table's order.
        let mut at = 0;
        for (key, _) in expected {
            let found = line[at..]
                .find(&format!("\"{key}\":"))
                .expect("key in order");
            at += found + 1;
        }
    }

    /// Outbound through the internet gateway, still open at the window end; then NODATA.
    #[test]
    fn alibaba_outbound_open_and_nodata() {
        let mut r = Rec::new(
            alibaba_capture(),
            ("10.0.0.2", 40000),
            ("203.0.113.5", 443),
            6,
            3,
            164,
            (1700000100, 1700000200),
        );
        r.window = (1700000000, 1700000600);
        r.direction = Direction::Egress;
        r.tcp_flags = SYN | ACK;
        r.traffic_path = Some(TrafficPath::InternetGateway);
        let v = json(&render(&r.build(), &Format::Alibaba));
        assert_eq!(v["direction"], "out");
        assert_eq!(v["start"], "1700000100");
        assert_eq!(v["end"], "1700000600");
        assert_eq!(v["tcp-flags"], "18");
        assert_eq!(v["traffic_path"], "ipv4Gateway");

        let mut nodata = no_traffic(
            alibaba_capture(),
            LogStatus::NoData,
            (1700000000, 1700000600),
        );
        Arc::make_mut(&mut nodata.capture).instance_id = None;
        let v = json(&render(&nodata, &Format::Alibaba));
        for key in [
            "vm-id",
            "srcaddr",
            "srcport",
            "dstaddr",
            "dstport",
            "protocol",
            "direction",
        ] {
            assert_eq!(v[key], "-", "{key}");
        }
        for key in ["packets", "bytes", "action", "tcp-flags", "traffic_path"] {
            assert_eq!(v[key], "-", "{key}");
        }
        assert_eq!(v["start"], "1700000000");
        assert_eq!(v["end"], "1700000600");
        assert_eq!(v["log-status"], "NODATA");
    }

    // --- vpclab JSON and skipped records ------------------------------------------------------

    #[test]
    fn json_has_everything() {
        let (mut request, _) = ping_pair();
        request.truth = Truth {
            packet_ids: vec![3, 5, 7, 9],
            decisions: vec!["nacl acl-1 rule 100 allow".into()],
            labels: vec![("benign".into(), 1), ("inc-2".into(), 3)],
            skipped: false,
            skipped_records: 0,
        };
        if let Some(flow) = request.flow.as_mut() {
            flow.first = Time::from_micros(1_432_917_027_250_000);
        }
        let line = render(&request, &Format::Json);
        assert!(!line.contains('\n'));
        let v = json(&line);
        assert_eq!(v["flow_log_id"], "fl-test");
        assert_eq!(v["capture"]["interface_id"], "eni-1235b8ca123456789");
        assert_eq!(v["window_start"], 1432917000);
        assert_eq!(v["window_end"], 1432917600);
        assert_eq!(v["status"], "OK");
        assert_eq!(v["direction"], "ingress");
        assert_eq!(v["action"], "ACCEPT");
        assert_eq!(v["srcaddr"], "203.0.113.12");
        assert_eq!(v["protocol"], 1);
        assert_eq!(v["packets"], 4);
        assert_eq!(v["bytes"], 336);
        assert_eq!(v["first"], 1432917027);
        assert_eq!(v["first_us"], 1_432_917_027_250_000_u64);
        assert_eq!(v["closed_at"], serde_json::Value::Null);
        assert_eq!(v["truth"]["packet_ids"], serde_json::json!([3, 5, 7, 9]));
        assert_eq!(v["truth"]["decisions"][0], "nacl acl-1 rule 100 allow");
        assert_eq!(
            v["truth"]["labels"],
            serde_json::json!({"benign": 1, "inc-2": 3})
        );
    }

    #[test]
    fn skipped_records_print_only_in_json() {
        let (mut record, _) = ping_pair();
        let formats = [
            Format::Huawei,
            Format::Alibaba,
            Format::Tencent(TencentStyle::KeyValue),
            Format::Tencent(TencentStyle::Positional),
            aws_v2(),
            Format::Json,
        ];
        assert!(formats.iter().all(|f| f.prints(&record)));
        record.truth.skipped = true;
        for format in &formats {
            assert_eq!(format.prints(&record), *format == Format::Json, "{format}");
        }
        let v = json(&Format::Json.render(&record));
        assert_eq!(v["truth"]["skipped"], true);
    }
}
