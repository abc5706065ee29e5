//! Control-plane limits: the rules each cloud's control plane enforces on flow logs, log groups,
//! log streams and enterprise-router attachments, as data per provider (decisions D2), plus the
//! name and description rules they share.
//!
//! Every number and list below cites the seed it comes from (summarised in
//! `docs/reference/flowlogs.md` §0.1):
//! - `000_f546a8f003a32ba8.txt`: huawei, enterprise-router flow logs ("Flow Log Overview").
//! - `001_9827b89b1ec4d866.txt`: alibaba, VPC flow logs ("Limits" table, supported regions).
//! - `002_70499de7780823c1.txt`: tencent, flow-log FAQ ("Can I edit a flow log's configuration").
//! - `003_7a6a5705ef81d38f.txt`: huawei, VPC flow logs with LTS log groups and log streams.
//! - `004_252b6bcbbaaf3f99.txt`: tencent, flow-log product introduction ("Limits").
//!
//! Where the seeds are silent, the comment says so and names the document used instead
//! (`docs/reference/flowlogs.md`, or the cloud's API reference).
//!
//! This module only answers "is this allowed, and if not, why?" with a user-facing sentence.
//! It does not count resources or pick error kinds: the operations that own the resources
//! (`world`, `logs`, `router`) count live flow logs against a quota and turn a refusal into a
//! `ModelError` of the right kind and field.

use crate::profile::Provider;
use crate::router::AttachmentKind;

/// Everything a provider's control plane enforces that this module knows of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub provider: Provider,
    /// Flow logs an account may create in one region (a simulated world is one account in one
    /// region, decisions D1).
    pub flow_logs_per_region: Option<u32>,
    /// Flow logs one ENI may carry.
    pub flow_logs_per_eni: Option<u32>,
    /// Enterprise-router flow logs an account may create.
    pub router_flow_logs: Option<u32>,
    /// Flow-log fields that can be changed after creation; everything else is fixed.
    pub flow_log_updatable: &'static [&'static str],
    /// Retention of a new log group when the request names none.
    pub log_retention_default_days: u32,
    /// Allowed retention, in days, inclusive.
    pub log_retention_days: (u32, u32),
    /// When non-empty, retention must be one of these values (aws CloudWatch Logs); when
    /// empty, any day in `log_retention_days` is allowed.
    pub log_retention_choices: &'static [u32],
    /// Which instance types an ENI must belong to for a flow log to capture it.
    pub instance_types: InstanceTypes,
    /// Enterprise-router attachment kinds a new attachment may not have, each with the
    /// documented reason.
    pub router_attachments_refused: &'static [(AttachmentKind, &'static str)],
    /// Regions where flow logs can be created, as `(region id, name in the document)`;
    /// `None`: every region.
    pub flow_log_regions: Option<&'static [(&'static str, &'static str)]>,
    /// Whose naming rules log groups and log streams follow.
    pub log_names: LogNames,
    /// Whether a second flow log with the same configuration and destination as a live one
    /// is refused (aws: `FlowLogAlreadyExists`).
    pub refuse_duplicate_flow_logs: bool,
}

/// The naming rules of a provider's log service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogNames {
    /// Huawei LTS (seed 003, Tables 1 and 2); alibaba and tencent follow it too, their seeds
    /// name no rule of their own.
    Lts,
    /// CloudWatch Logs (AWS API reference, CreateLogGroup `logGroupName`: "Length
    /// Constraints: Minimum length of 1. Maximum length of 512. Pattern: `[\.\-_/#A-Za-z0-9]+`";
    /// CreateLogStream `logStreamName`: "Minimum length of 1. Maximum length of 512. Pattern:
    /// `[^:*]*`").
    CloudWatch,
}

/// Which instance types can carry flow logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstanceTypes {
    /// How many leading `.`-separated parts of an instance type name its family: 2 for
    /// alibaba (`ecs.t1` of `ecs.t1.small`), 1 for the others (`S3` of `S3.MEDIUM4`, `c3` of
    /// huawei's `c3.large.2`). Families are compared whole and without regard to ASCII case,
    /// so `S3ne` is not `S3`, and huawei's lowercase flavor `c3.large.2` is the documented `C3`.
    pub family_parts: usize,
    pub rule: FamilyRule,
    /// Whose instance type decides.
    pub scope: InstanceScope,
}

/// The families that can or cannot carry flow logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FamilyRule {
    /// Every instance type can.
    All,
    /// Only these families can; `reason` is what the refusal says.
    Only {
        families: &'static [&'static str],
        reason: &'static str,
    },
    /// Every family but these can; `reason` is what the refusal says.
    Except {
        families: &'static [&'static str],
        reason: &'static str,
    },
}

/// Whose instance type a flow log depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstanceScope {
    /// The instance the ENI is attached to.
    Instance,
    /// Every instance in the ENI's VPC: alibaba refuses flow logs for ENIs, vSwitches and
    /// VPCs when the *VPC* contains an instance of an unsupported family (seed 001, Limits:
    /// "ENIs that do not support flow logs | VPCs to which ENIs belong contain instances of
    /// the following instance families").
    Vpc,
}

/// seed 001 (alibaba), Limits, rows "VPCs / vSwitches / ENIs that do not support flow logs"
/// (the same 26 families in each row).
pub const ALIBABA_UNSUPPORTED_FAMILIES: &[&str] = &[
    "ecs.c1", "ecs.c2", "ecs.c4", "ecs.ce4", "ecs.cm4", "ecs.d1", "ecs.e3", "ecs.e4", "ecs.ga1",
    "ecs.gn4", "ecs.gn5", "ecs.i1", "ecs.m1", "ecs.m2", "ecs.mn4", "ecs.n1", "ecs.n2", "ecs.n4",
    "ecs.s1", "ecs.s2", "ecs.s3", "ecs.se1", "ecs.sn1", "ecs.sn2", "ecs.t1", "ecs.xn4",
];

/// seed 004 (tencent), Model Restrictions: "The following models will no longer support
/// creating new flow logs for data collection, and existing flow logs will cease data reporting
/// starting from July 25, 2022" (Standard, Memory-optimized, Compute, Batch Compute, HCC).
pub const TENCENT_UNSUPPORTED_FAMILIES: &[&str] = &[
    "S3", "SA1", "S2", "S1", "M3", "M2", "M1", "C4", "CN3", "C3", "C2", "BC1", "BS1", "HCCIC5",
    "HCCG5v",
];

/// seed 004 (tencent), Model Restrictions: "Cloud Virtual Machine instance types that support
/// flow log collection include: …" (duplicates in the document removed). The word "include"
/// makes this list open, and newer families (S6, SA3, …) are missing from it, so vpclab
/// refuses only `TENCENT_UNSUPPORTED_FAMILIES` and keeps this list for reference and tests.
pub const TENCENT_SUPPORTED_FAMILIES: &[&str] = &[
    "M6ce", "M6p", "SA3se", "S4m", "DA3", "ITA3", "I6t", "I6", "S5se", "SA2", "SK1", "S4", "S5",
    "SN3ne", "S3ne", "S2ne", "SA2a", "SW3a", "SW3b", "SW3ne", "IT5c", "IT5", "IT3", "I3", "D3",
    "DA2", "D2", "M6", "MA2", "M4", "C6", "IT3a", "IT3b", "IT3c", "C4ne", "CN3ne", "C3ne", "G11",
    "PNV4", "GNV4v", "GNV4", "GT4", "GI3X", "GN7", "GN7vw",
];

/// seed 003 (huawei VPC flow logs), prerequisites: "Currently, only C3, M3, and S2 ECSs are
/// supported."
pub const HUAWEI_SUPPORTED_FAMILIES: &[&str] = &["C3", "M3", "S2"];

/// seed 001 (alibaba), "Features and supported regions": the regions of the table, as region
/// ids (the ids are not in the seed; they are alibaba's ids for the names it lists).
pub const ALIBABA_FLOW_LOG_REGIONS: &[(&str, &str)] = &[
    ("cn-qingdao", "China (Qingdao)"),
    ("cn-beijing", "China (Beijing)"),
    ("cn-zhangjiakou", "China (Zhangjiakou)"),
    ("cn-huhehaote", "China (Hohhot)"),
    ("cn-wulanchabu", "China (Ulanqab)"),
    ("cn-hangzhou", "China (Hangzhou)"),
    ("cn-shanghai", "China (Shanghai)"),
    ("cn-shenzhen", "China (Shenzhen)"),
    ("cn-heyuan", "China (Heyuan)"),
    ("cn-guangzhou", "China (Guangzhou)"),
    ("cn-chengdu", "China (Chengdu)"),
    ("cn-hongkong", "China (Hong Kong)"),
    ("ap-northeast-1", "Japan (Tokyo)"),
    ("ap-southeast-1", "Singapore (Singapore)"),
    ("ap-southeast-2", "Australia (Sydney)"),
    ("ap-southeast-3", "Malaysia (Kuala Lumpur)"),
    ("ap-southeast-5", "Indonesia (Jakarta)"),
    ("us-west-1", "US (Silicon Valley)"),
    ("us-east-1", "US (Virginia)"),
    ("eu-central-1", "Germany (Frankfurt)"),
    ("eu-west-1", "UK (London)"),
    ("ap-south-1", "India (Mumbai)"),
    ("me-east-1", "UAE (Dubai)"),
];

/// CloudWatch Logs `retentionInDays`: "Possible values are: 1, 3, 5, 7, 14, 30, 60, 90, 120,
/// 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, and 3653" (AWS API
/// reference, PutRetentionPolicy; aws is not in the seeds, decisions D1).
pub const AWS_RETENTION_CHOICES: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// seed 000 (huawei ER flow logs): "From May 2024, enterprise routers and Direct Connect virtual
/// gateways cannot be used together to set up a hybrid cloud network. Existing networks that
/// are set up using enterprise routers and Direct Connect virtual gateways are not affected."
/// and "it is recommended that you use Enterprise Router and Direct Connect Global DC Gateway".
const HUAWEI_NO_VIRTUAL_GATEWAY: &str = "from May 2024, enterprise routers and Direct Connect \
     virtual gateways cannot be used together to set up a hybrid cloud network (existing \
     networks are not affected); attach a Direct Connect global DC gateway instead";

/// The retention every provider gets when a request names none: seed 003 (huawei LTS), Table 1:
/// "The default retention period for logs is seven days." The other seeds name no default;
/// issue 3 asks for 7 days everywhere.
const DEFAULT_RETENTION_DAYS: u32 = 7;

impl Limits {
    pub fn of(provider: Provider) -> Limits {
        match provider {
            Provider::Huawei => Limits {
                provider,
                // Not in the seeds: docs/reference/flowlogs.md §3.2, "Constraints (OTC): … ≤10 flow
                // logs per region per account".
                flow_logs_per_region: Some(10),
                flow_logs_per_eni: None,
                // seed 000, Constraints: "By default, you can create a maximum of 20 flow
                // logs." The seed names no scope; docs/reference/flowlogs.md §3.3 says "≤20 ER flow
                // logs per user", i.e. per account.
                router_flow_logs: Some(20),
                // Not in the seeds: huawei VPC API "Updating a VPC Flow Log" (PUT
                // /v1/{project_id}/fl/flow_logs/{id}) takes `name` and `description` only.
                flow_log_updatable: &["name", "description"],
                log_retention_default_days: DEFAULT_RETENTION_DAYS,
                // seed 003 names only the default; the range is the LTS API's (CreateLogGroup
                // `ttl_in_days`: minimum 1, maximum 365).
                log_retention_days: (1, 365),
                log_retention_choices: &[],
                instance_types: InstanceTypes {
                    family_parts: 1,
                    rule: FamilyRule::Only {
                        families: HUAWEI_SUPPORTED_FAMILIES,
                        reason: "huawei VPC flow logs support only C3, M3 and S2 ECSs",
                    },
                    scope: InstanceScope::Instance,
                },
                router_attachments_refused: &[(
                    AttachmentKind::VirtualGateway,
                    HUAWEI_NO_VIRTUAL_GATEWAY,
                )],
                flow_log_regions: None,
                log_names: LogNames::Lts,
                refuse_duplicate_flow_logs: false,
            },
            Provider::Alibaba => Limits {
                provider,
                // seed 001, Limits: "Number of flow logs that can be created in each region |
                // 10 | N/A" (not adjustable).
                flow_logs_per_region: Some(10),
                flow_logs_per_eni: None,
                router_flow_logs: None,
                // Not in the seeds: alibaba API ModifyFlowLogAttribute "Modifies the name and
                // description of a flow log."
                flow_log_updatable: &["name", "description"],
                log_retention_default_days: DEFAULT_RETENTION_DAYS,
                // Not in the seeds: SLS Logstore `ttl`, "The valid range is 1 to 3650. A value
                // of 3650 indicates permanent retention."
                log_retention_days: (1, 3650),
                log_retention_choices: &[],
                instance_types: InstanceTypes {
                    family_parts: 2,
                    rule: FamilyRule::Except {
                        families: ALIBABA_UNSUPPORTED_FAMILIES,
                        // seed 001, Limits, Adjustable column: "Upgrade or release an Elastic
                        // Compute Service (ECS) instance that does not support advanced network
                        // features."
                        reason: "alibaba does not support flow logs in a VPC that contains an \
                                 ECS instance of this family, which does not support advanced \
                                 network features; upgrade or release the instance",
                    },
                    scope: InstanceScope::Vpc,
                },
                router_attachments_refused: &[],
                // seed 001: "Features and supported regions" table.
                flow_log_regions: Some(ALIBABA_FLOW_LOG_REGIONS),
                log_names: LogNames::Lts,
                refuse_duplicate_flow_logs: false,
            },
            Provider::Tencent => Limits {
                provider,
                flow_logs_per_region: None,
                // seed 004, Limits: "Only one flow log can be created for each Elastic Network
                // Interface (ENI)."
                flow_logs_per_eni: Some(1),
                router_flow_logs: None,
                // seed 002: "After creating a Flow Log, you cannot change its storage location,
                // collection type, or other configuration information. You can only modify the
                // log name and tags." (seed 004, Limits: "Once a flow log is created, you cannot
                // modify its configuration".)
                flow_log_updatable: &["name", "tags"],
                log_retention_default_days: DEFAULT_RETENTION_DAYS,
                // Not in the seeds: CLS topic `Period`, "可取值范围1~3600" (3640 means
                // permanent, which vpclab does not model).
                log_retention_days: (1, 3600),
                log_retention_choices: &[],
                instance_types: InstanceTypes {
                    family_parts: 1,
                    rule: FamilyRule::Except {
                        families: TENCENT_UNSUPPORTED_FAMILIES,
                        // seed 004, Model Restrictions (quoted at the list above).
                        reason: "from July 25, 2022 this model no longer supports creating new \
                                 flow logs, and existing flow logs stopped reporting data; use \
                                 a model that supports flow log collection, such as S5, SA2 or \
                                 M6",
                    },
                    scope: InstanceScope::Instance,
                },
                router_attachments_refused: &[],
                flow_log_regions: None,
                log_names: LogNames::Lts,
                refuse_duplicate_flow_logs: false,
            },
            Provider::Aws => Limits {
                provider,
                flow_logs_per_region: None,
                flow_logs_per_eni: None,
                router_flow_logs: None,
                // Not in the seeds: docs/reference/flowlogs.md §1.1, "Immutable after creation
                // (format cannot change; delete and recreate)"; tags are set with CreateTags.
                flow_log_updatable: &["tags"],
                log_retention_default_days: DEFAULT_RETENTION_DAYS,
                log_retention_days: (1, 3653),
                log_retention_choices: AWS_RETENTION_CHOICES,
                instance_types: InstanceTypes {
                    family_parts: 1,
                    rule: FamilyRule::All,
                    scope: InstanceScope::Instance,
                },
                router_attachments_refused: &[],
                flow_log_regions: None,
                log_names: LogNames::CloudWatch,
                // EC2 CreateFlowLogs error `FlowLogAlreadyExists` (docs/reference/flowlogs.md §4.1,
                // as moto models it): "There is an existing Flow Log with the same
                // configuration and log destination."
                refuse_duplicate_flow_logs: true,
            },
        }
    }

    /// Err(the rule) when `name` is not a log group name this provider's log service takes.
    pub fn check_log_group_name(&self, name: &str) -> Result<(), String> {
        match self.log_names {
            LogNames::Lts => check_lts_name("log group", name),
            LogNames::CloudWatch => check_cloudwatch_name("log group", name, |c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | '#')
            }),
        }
    }

    /// Err(the rule) when `name` is not a log stream name this provider's log service takes.
    pub fn check_log_stream_name(&self, name: &str) -> Result<(), String> {
        match self.log_names {
            LogNames::Lts => check_lts_name("log stream", name),
            LogNames::CloudWatch => {
                check_cloudwatch_name("log stream", name, |c| !matches!(c, ':' | '*'))
            }
        }
    }

    /// The family of an instance type, as this provider's lists name families.
    pub fn instance_family<'a>(&self, instance_type: &'a str) -> &'a str {
        let parts = self.instance_types.family_parts.max(1);
        match instance_type.match_indices('.').nth(parts - 1) {
            Some((end, _)) => &instance_type[..end],
            None => instance_type,
        }
    }

    /// Err(documented reason) when an ENI attached to an instance of this type cannot have a
    /// flow log. With [`InstanceScope::Vpc`] (alibaba) the caller asks for every instance type
    /// in the ENI's VPC.
    pub fn check_instance_type(&self, instance_type: &str) -> Result<(), String> {
        let family = self.instance_family(instance_type);
        let listed = |families: &[&str]| families.iter().any(|f| f.eq_ignore_ascii_case(family));
        let refuse = |reason: &str| {
            Err(format!(
                "instance type `{instance_type}` (family `{family}`) cannot carry a flow log: \
                 {reason}"
            ))
        };
        match self.instance_types.rule {
            FamilyRule::All => Ok(()),
            FamilyRule::Only { families, reason } if !listed(families) => refuse(reason),
            FamilyRule::Except { families, reason } if listed(families) => refuse(reason),
            FamilyRule::Only { .. } | FamilyRule::Except { .. } => Ok(()),
        }
    }

    /// Err(documented reason) when this provider refuses a new enterprise-router attachment of
    /// this kind.
    pub fn check_router_attachment(&self, kind: AttachmentKind) -> Result<(), String> {
        match self
            .router_attachments_refused
            .iter()
            .find(|(k, _)| *k == kind)
        {
            Some((_, reason)) => Err(format!(
                "a new {} attachment is not allowed: {reason}",
                kind.label()
            )),
            None => Ok(()),
        }
    }

    /// Err(what is allowed) when `days` is not a retention this provider's log service takes.
    pub fn check_retention(&self, days: u32) -> Result<(), String> {
        let (lo, hi) = self.log_retention_days;
        let choices = self.log_retention_choices;
        if choices.is_empty() {
            if (lo..=hi).contains(&days) {
                return Ok(());
            }
            return Err(format!(
                "a retention of {days} days is not allowed: use {lo} to {hi} days"
            ));
        }
        if choices.contains(&days) {
            return Ok(());
        }
        let list: Vec<String> = choices.iter().map(u32::to_string).collect();
        Err(format!(
            "a retention of {days} days is not allowed: use one of {} days",
            list.join(", ")
        ))
    }

    /// Err(where flow logs are available) when flow logs cannot be created in `region`.
    pub fn check_flow_log_region(&self, region: &str) -> Result<(), String> {
        let Some(regions) = self.flow_log_regions else {
            return Ok(());
        };
        if regions.iter().any(|(id, _)| *id == region) {
            return Ok(());
        }
        let ids: Vec<&str> = regions.iter().map(|(id, _)| *id).collect();
        Err(format!(
            "flow logs are not available in region `{region}`: {} offers them in {}",
            self.provider,
            ids.join(", ")
        ))
    }

    /// Err(the rule) when `field` of an existing flow log cannot be changed.
    pub fn check_flow_log_update(&self, field: &str) -> Result<(), String> {
        if self.flow_log_updatable.contains(&field) {
            return Ok(());
        }
        Err(format!(
            "`{field}` of a flow log cannot be changed after creation: {} allows changing only {}; delete the flow log and create a new one instead",
            self.provider,
            self.flow_log_updatable
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(" and ")
        ))
    }
}

/// What a name or a description may contain, for the messages.
const NAME_CHARS: &str = "letters, digits, `_`, `-` and `.`";

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// "spaces are" / "`@` is", for "… not allowed".
fn describe(c: char) -> String {
    match c {
        ' ' => "spaces are".to_string(),
        c if c.is_control() || c.is_whitespace() => format!("{c:?} is"),
        c => format!("`{c}` is"),
    }
}

/// Length (in characters) and character set, shared by every name rule.
fn check_length_and_chars(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!(
            "a {what} name must not be empty: use 1 to 64 {NAME_CHARS}"
        ));
    }
    let len = name.chars().count();
    if len > 64 {
        return Err(format!(
            "`{name}` is not a valid {what} name: it has {len} characters, at most 64 are allowed"
        ));
    }
    if let Some(c) = name.chars().find(|c| !is_name_char(*c)) {
        return Err(format!(
            "`{name}` is not a valid {what} name: {} not allowed; use only {NAME_CHARS}",
            describe(c)
        ));
    }
    Ok(())
}

/// LTS's rule for log groups and log streams: 1–64 characters, letters, digits, `_ - .`, not
/// starting with `.` or `_`, not ending with `.`. Seed 003, Table 1 (Log Group Name): "Must be
/// a string of 1 to 64 characters. Only allows uppercase and lowercase letters, digits,
/// underscores (_), hyphens (-), and periods (.). The name cannot start with a period or
/// underscore, or end with a period." Table 2 (Log Stream Name): "Must be a string of 1 to 64
/// characters. Cannot start with a period (.) or underscore (_) or end with a period (.)." That
/// table names no character set; vpclab applies the log group's, as LTS does.
fn check_lts_name(what: &str, name: &str) -> Result<(), String> {
    check_length_and_chars(what, name)?;
    if name.starts_with(['.', '_']) {
        return Err(format!(
            "`{name}` is not a valid {what} name: it must not start with `.` or `_`"
        ));
    }
    if name.ends_with('.') {
        return Err(format!(
            "`{name}` is not a valid {what} name: it must not end with `.`"
        ));
    }
    Ok(())
}

/// CloudWatch Logs names: 1 to 512 characters, each one `allowed` says.
fn check_cloudwatch_name(
    what: &str,
    name: &str,
    allowed: impl Fn(char) -> bool,
) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!(
            "a {what} name must not be empty: use 1 to 512 characters"
        ));
    }
    let len = name.chars().count();
    if len > 512 {
        return Err(format!(
            "`{name}` is not a valid {what} name: it has {len} characters, at most 512 are allowed"
        ));
    }
    if let Some(c) = name.chars().find(|c| !allowed(*c)) {
        let rule = if what == "log group" {
            "use only letters, digits, `.`, `-`, `_`, `/` and `#`"
        } else {
            "use any characters but `:` and `*`"
        };
        return Err(format!(
            "`{name}` is not a valid {what} name: {} not allowed; {rule}",
            describe(c)
        ));
    }
    Ok(())
}

/// seed 003, Table 3 (Name): "The VPC flow log name can contain a maximum of 64 characters,
/// which may consist of letters, digits, underscores (_), hyphens (-), and periods (.). The name
/// cannot contain spaces." Non-empty: a flow log is found by its name.
pub fn check_flow_log_name(name: &str) -> Result<(), String> {
    if name.contains(' ') {
        return Err(format!(
            "`{name}` is not a valid flow log name: it must not contain spaces; use only \
             {NAME_CHARS}"
        ));
    }
    check_length_and_chars("flow log", name)
}

/// seed 003, Table 3 (Description): "The VPC flow log description can contain a maximum of 255
/// characters and cannot contain angle brackets (< or >)." May be empty (it is optional).
pub fn check_description(text: &str) -> Result<(), String> {
    let len = text.chars().count();
    if len > 255 {
        return Err(format!(
            "the description has {len} characters: at most 255 are allowed"
        ));
    }
    if text.contains(['<', '>']) {
        return Err("the description must not contain angle brackets (`<` or `>`)".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_per_provider() {
        let hw = Limits::of(Provider::Huawei);
        assert_eq!(hw.router_flow_logs, Some(20));
        assert_eq!(hw.flow_logs_per_region, Some(10));
        let ali = Limits::of(Provider::Alibaba);
        assert_eq!(ali.flow_logs_per_region, Some(10));
        assert_eq!(ali.flow_logs_per_eni, None);
        assert_eq!(ali.router_flow_logs, None);
        let tc = Limits::of(Provider::Tencent);
        assert_eq!(tc.flow_logs_per_eni, Some(1));
        assert_eq!(tc.flow_logs_per_region, None);
        let aws = Limits::of(Provider::Aws);
        assert_eq!(
            (
                aws.flow_logs_per_region,
                aws.flow_logs_per_eni,
                aws.router_flow_logs
            ),
            (None, None, None)
        );
        for p in Provider::ALL {
            assert_eq!(Limits::of(p).provider, p);
            assert_eq!(Limits::of(p).log_retention_default_days, 7);
        }
    }

    #[test]
    fn updatable_fields() {
        let tc = Limits::of(Provider::Tencent);
        assert_eq!(tc.flow_log_updatable, &["name", "tags"]);
        assert!(tc.check_flow_log_update("name").is_ok());
        assert!(tc.check_flow_log_update("tags").is_ok());
        assert_eq!(
            tc.check_flow_log_update("description").unwrap_err(),
            "`description` of a flow log cannot be changed after creation: tencent allows \
             changing only `name` and `tags`; delete the flow log and create a new one instead"
        );
        assert!(tc.check_flow_log_update("traffic_type").is_err());
        let hw = Limits::of(Provider::Huawei);
        assert!(hw.check_flow_log_update("description").is_ok());
        assert!(hw.check_flow_log_update("log_stream").is_err());
        let aws = Limits::of(Provider::Aws);
        assert!(aws.check_flow_log_update("tags").is_ok());
        assert_eq!(
            aws.check_flow_log_update("name").unwrap_err(),
            "`name` of a flow log cannot be changed after creation: aws allows changing only \
             `tags`; delete the flow log and create a new one instead"
        );
    }

    #[test]
    fn instance_families() {
        let ali = Limits::of(Provider::Alibaba);
        assert_eq!(ali.instance_family("ecs.t1.small"), "ecs.t1");
        assert_eq!(ali.instance_family("ecs.t1"), "ecs.t1");
        assert_eq!(ali.instance_family("ecs.g7.large"), "ecs.g7");
        let tc = Limits::of(Provider::Tencent);
        assert_eq!(tc.instance_family("S3.MEDIUM4"), "S3");
        assert_eq!(tc.instance_family("S3"), "S3");
        assert_eq!(tc.instance_family(""), "");
        let hw = Limits::of(Provider::Huawei);
        assert_eq!(hw.instance_family("c3.large.2"), "c3");
    }

    #[test]
    fn huawei_only_c3_m3_s2() {
        let hw = Limits::of(Provider::Huawei);
        for ok in [
            "c3.large.2",
            "C3.xlarge.4",
            "m3.large.8",
            "s2.medium.4",
            "S2",
        ] {
            assert_eq!(hw.check_instance_type(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            hw.check_instance_type("s3.large.2").unwrap_err(),
            "instance type `s3.large.2` (family `s3`) cannot carry a flow log: huawei VPC flow \
             logs support only C3, M3 and S2 ECSs"
        );
        // A family is compared whole: c3ne is not C3.
        assert!(hw.check_instance_type("c3ne.large.2").is_err());
    }

    #[test]
    fn alibaba_unsupported_families() {
        let ali = Limits::of(Provider::Alibaba);
        assert_eq!(ali.instance_types.scope, InstanceScope::Vpc);
        assert_eq!(ali.check_instance_type("ecs.g7.large"), Ok(()));
        // sn1ne is a family of its own, not sn1.
        assert_eq!(ali.check_instance_type("ecs.sn1ne.large"), Ok(()));
        assert_eq!(
            ali.check_instance_type("ecs.t1.small").unwrap_err(),
            "instance type `ecs.t1.small` (family `ecs.t1`) cannot carry a flow log: alibaba \
             does not support flow logs in a VPC that contains an ECS instance of this family, \
             which does not support advanced network features; upgrade or release the instance"
        );
        for f in ALIBABA_UNSUPPORTED_FAMILIES {
            assert!(
                ali.check_instance_type(&format!("{f}.large")).is_err(),
                "{f}"
            );
        }
        assert_eq!(ALIBABA_UNSUPPORTED_FAMILIES.len(), 26);
    }

    #[test]
    fn tencent_unsupported_models() {
        let tc = Limits::of(Provider::Tencent);
        assert_eq!(tc.check_instance_type("S5.MEDIUM4"), Ok(()));
        // S3ne supports flow logs; only S3 does not.
        assert_eq!(tc.check_instance_type("S3ne.LARGE8"), Ok(()));
        // Not on either list (the supported list "includes"): accepted.
        assert_eq!(tc.check_instance_type("S6.MEDIUM2"), Ok(()));
        assert_eq!(
            tc.check_instance_type("S3.MEDIUM4").unwrap_err(),
            "instance type `S3.MEDIUM4` (family `S3`) cannot carry a flow log: from July 25, \
             2022 this model no longer supports creating new flow logs, and existing flow logs \
             stopped reporting data; use a model that supports flow log collection, such as S5, \
             SA2 or M6"
        );
        assert!(tc.check_instance_type("HCCG5v.2XLARGE").is_err());
        for f in TENCENT_UNSUPPORTED_FAMILIES {
            assert!(tc.check_instance_type(f).is_err(), "{f}");
        }
        for f in TENCENT_SUPPORTED_FAMILIES {
            assert_eq!(tc.check_instance_type(f), Ok(()), "{f}");
        }
    }

    #[test]
    fn tencent_lists_are_disjoint_even_ignoring_case() {
        for s in TENCENT_SUPPORTED_FAMILIES {
            assert!(
                !TENCENT_UNSUPPORTED_FAMILIES
                    .iter()
                    .any(|u| u.eq_ignore_ascii_case(s)),
                "{s}"
            );
        }
    }

    #[test]
    fn aws_supports_every_type() {
        let aws = Limits::of(Provider::Aws);
        for t in ["t2.micro", "m5.large", "S3.MEDIUM4", "ecs.t1.small", ""] {
            assert_eq!(aws.check_instance_type(t), Ok(()), "{t}");
        }
    }

    #[test]
    fn huawei_refuses_new_virtual_gateway_attachments() {
        let hw = Limits::of(Provider::Huawei);
        assert_eq!(
            hw.check_router_attachment(AttachmentKind::VirtualGateway)
                .unwrap_err(),
            "a new virtual gateway (Direct Connect) attachment is not allowed: from May 2024, \
             enterprise routers and Direct Connect virtual gateways cannot be used together to \
             set up a hybrid cloud network (existing networks are not affected); attach a Direct \
             Connect global DC gateway instead"
        );
        for k in [
            AttachmentKind::Vpc,
            AttachmentKind::VpnGateway,
            AttachmentKind::PeeringConnection,
            AttachmentKind::GlobalDcGateway,
        ] {
            assert_eq!(hw.check_router_attachment(k), Ok(()), "{k:?}");
        }
        for p in [Provider::Alibaba, Provider::Tencent, Provider::Aws] {
            assert_eq!(
                Limits::of(p).check_router_attachment(AttachmentKind::VirtualGateway),
                Ok(())
            );
        }
    }

    #[test]
    fn retention_ranges() {
        let hw = Limits::of(Provider::Huawei);
        assert_eq!(hw.log_retention_days, (1, 365));
        assert!(hw.check_retention(1).is_ok());
        assert!(hw.check_retention(365).is_ok());
        assert_eq!(
            hw.check_retention(0).unwrap_err(),
            "a retention of 0 days is not allowed: use 1 to 365 days"
        );
        assert!(hw.check_retention(366).is_err());
        assert!(Limits::of(Provider::Alibaba).check_retention(3650).is_ok());
        assert!(Limits::of(Provider::Alibaba).check_retention(3651).is_err());
        assert!(Limits::of(Provider::Tencent).check_retention(3600).is_ok());
        assert!(Limits::of(Provider::Tencent).check_retention(3601).is_err());
        let aws = Limits::of(Provider::Aws);
        assert!(aws.check_retention(7).is_ok());
        assert!(aws.check_retention(3653).is_ok());
        assert_eq!(
            aws.check_retention(2).unwrap_err(),
            "a retention of 2 days is not allowed: use one of 1, 3, 5, 7, 14, 30, 60, 90, 120, \
             150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653 days"
        );
        for p in Provider::ALL {
            let l = Limits::of(p);
            assert!(
                l.check_retention(l.log_retention_default_days).is_ok(),
                "{p}"
            );
        }
    }

    #[test]
    fn alibaba_flow_log_regions() {
        let ali = Limits::of(Provider::Alibaba);
        assert!(ali.check_flow_log_region("cn-hangzhou").is_ok());
        assert_eq!(ALIBABA_FLOW_LOG_REGIONS.len(), 23);
        let err = ali.check_flow_log_region("cn-nanjing").unwrap_err();
        assert!(
            err.starts_with(
                "flow logs are not available in region `cn-nanjing`: alibaba offers them in \
                 cn-qingdao, cn-beijing,"
            ),
            "{err}"
        );
        for p in [Provider::Huawei, Provider::Tencent, Provider::Aws] {
            assert!(Limits::of(p).check_flow_log_region("anywhere-1").is_ok());
        }
        // Each profile's default region can carry flow logs.
        for p in Provider::ALL {
            let region = p.profile().default_region;
            assert!(Limits::of(p).check_flow_log_region(region).is_ok(), "{p}");
        }
    }

    #[test]
    fn log_group_names() {
        let hw = Limits::of(Provider::Huawei);
        for ok in ["a", "lts-group-01nh", "A.b_c-d", "1", "x_", &"a".repeat(64)] {
            assert_eq!(hw.check_log_group_name(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            hw.check_log_group_name("").unwrap_err(),
            "a log group name must not be empty: use 1 to 64 letters, digits, `_`, `-` and `.`"
        );
        assert_eq!(
            hw.check_log_group_name(&"a".repeat(65)).unwrap_err(),
            format!(
                "`{}` is not a valid log group name: it has 65 characters, at most 64 are allowed",
                "a".repeat(65)
            )
        );
        assert_eq!(
            hw.check_log_group_name(".logs").unwrap_err(),
            "`.logs` is not a valid log group name: it must not start with `.` or `_`"
        );
        assert_eq!(
            hw.check_log_group_name("_logs").unwrap_err(),
            "`_logs` is not a valid log group name: it must not start with `.` or `_`"
        );
        assert_eq!(
            hw.check_log_group_name("logs.").unwrap_err(),
            "`logs.` is not a valid log group name: it must not end with `.`"
        );
        assert_eq!(
            hw.check_log_group_name("my logs").unwrap_err(),
            "`my logs` is not a valid log group name: spaces are not allowed; use only letters, \
             digits, `_`, `-` and `.`"
        );
        assert_eq!(
            hw.check_log_group_name("logs@1").unwrap_err(),
            "`logs@1` is not a valid log group name: `@` is not allowed; use only letters, \
             digits, `_`, `-` and `.`"
        );
        assert_eq!(
            hw.check_log_group_name("日志").unwrap_err(),
            "`日志` is not a valid log group name: `日` is not allowed; use only letters, \
             digits, `_`, `-` and `.`"
        );
        assert_eq!(
            hw.check_log_group_name("a\tb").unwrap_err(),
            "`a\tb` is not a valid log group name: '\\t' is not allowed; use only letters, \
             digits, `_`, `-` and `.`"
        );
        // A 64-character name of two-byte characters is still refused for its characters,
        // not its length: length counts characters.
        assert!(
            hw.check_log_group_name(&"é".repeat(64))
                .unwrap_err()
                .contains("`é` is")
        );
    }

    #[test]
    fn log_stream_names() {
        let hw = Limits::of(Provider::Huawei);
        assert_eq!(hw.check_log_stream_name("vpc-flow"), Ok(()));
        assert_eq!(
            hw.check_log_stream_name(".s").unwrap_err(),
            "`.s` is not a valid log stream name: it must not start with `.` or `_`"
        );
        assert_eq!(
            hw.check_log_stream_name("s.").unwrap_err(),
            "`s.` is not a valid log stream name: it must not end with `.`"
        );
        assert_eq!(
            hw.check_log_stream_name("").unwrap_err(),
            "a log stream name must not be empty: use 1 to 64 letters, digits, `_`, `-` and `.`"
        );
        assert!(hw.check_log_stream_name(&"s".repeat(65)).is_err());
        assert!(hw.check_log_stream_name("a/b").is_err());
    }

    #[test]
    fn cloudwatch_log_names() {
        let aws = Limits::of(Provider::Aws);
        for ok in [
            "/aws/vpc/flow-logs",
            "a#b.c_d-e",
            ".logs",
            "logs.",
            &"a".repeat(512),
        ] {
            assert_eq!(aws.check_log_group_name(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            aws.check_log_group_name("").unwrap_err(),
            "a log group name must not be empty: use 1 to 512 characters"
        );
        assert!(
            aws.check_log_group_name(&"a".repeat(513))
                .unwrap_err()
                .ends_with("it has 513 characters, at most 512 are allowed")
        );
        assert_eq!(
            aws.check_log_group_name("flow logs").unwrap_err(),
            "`flow logs` is not a valid log group name: spaces are not allowed; use only \
             letters, digits, `.`, `-`, `_`, `/` and `#`"
        );
        assert_eq!(aws.check_log_stream_name("eni-1 / all"), Ok(()));
        assert_eq!(
            aws.check_log_stream_name("a:b").unwrap_err(),
            "`a:b` is not a valid log stream name: `:` is not allowed; use any characters but `:` and `*`"
        );
    }

    #[test]
    fn flow_log_names() {
        // Unlike log groups, a flow log name may start with `.` or `_` and end with `.`.
        for ok in ["fl", "_x.", ".x", &"f".repeat(64)] {
            assert_eq!(check_flow_log_name(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            check_flow_log_name("my flow log").unwrap_err(),
            "`my flow log` is not a valid flow log name: it must not contain spaces; use only \
             letters, digits, `_`, `-` and `.`"
        );
        assert_eq!(
            check_flow_log_name("").unwrap_err(),
            "a flow log name must not be empty: use 1 to 64 letters, digits, `_`, `-` and `.`"
        );
        assert_eq!(
            check_flow_log_name(&"f".repeat(65)).unwrap_err(),
            format!(
                "`{}` is not a valid flow log name: it has 65 characters, at most 64 are allowed",
                "f".repeat(65)
            )
        );
        assert_eq!(
            check_flow_log_name("fl#1").unwrap_err(),
            "`fl#1` is not a valid flow log name: `#` is not allowed; use only letters, digits, \
             `_`, `-` and `.`"
        );
    }

    #[test]
    fn descriptions() {
        assert_eq!(check_description(""), Ok(()));
        assert_eq!(check_description("web tier, port 443 & 80"), Ok(()));
        assert_eq!(check_description(&"d".repeat(255)), Ok(()));
        assert_eq!(check_description(&"é".repeat(255)), Ok(()));
        assert_eq!(
            check_description(&"d".repeat(256)).unwrap_err(),
            "the description has 256 characters: at most 255 are allowed"
        );
        assert_eq!(
            check_description("<script>").unwrap_err(),
            "the description must not contain angle brackets (`<` or `>`)"
        );
        assert!(check_description("a > b").is_err());
    }
}
