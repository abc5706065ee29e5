//! API errors: one exhaustive map from the model's refusals to gRPC statuses with
//! `google.rpc` details (BadRequest field violations, PreconditionFailure, QuotaFailure,
//! ResourceInfo), after tonic's richer-error example.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, QuotaViolation, StatusExt};
use vpclab_sim::world::{ErrorKind, ModelError};

/// A refused request, ready to become a [`Status`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    /// The request field at fault (`vpc.cidr`), when there is one.
    pub field: Option<String>,
    /// Resources that block the request (PreconditionFailure subjects).
    pub dependents: Vec<String>,
    /// The resource the request is about: (type, name). Boxed to keep errors small.
    pub resource: Option<Box<(String, String)>>,
    /// For RESOURCE_EXHAUSTED: the profile's quota that was met (`router_flow_logs`).
    pub quota: Option<String>,
}

/// How much of an offending value a refusal quotes (in characters), and how long a message,
/// a field path or a resource name may get: a refusal stays small whatever was sent, so it
/// fits in a client's header limits and in one log line.
const QUOTE_CHARS: usize = 100;
const MESSAGE_CHARS: usize = 1_000;
const NAME_CHARS: usize = 200;

/// `text` with every `quoted` value longer than `QUOTE_CHARS` cut short (saying how long it
/// was), and the whole cut at `limit` characters.
fn shorten(text: String, limit: usize) -> String {
    if !text.contains('`') || text.len() <= QUOTE_CHARS {
        return cut(text, limit);
    }
    let parts: Vec<&str> = text.split('`').collect();
    let last = parts.len() - 1;
    let mut out = String::with_capacity(text.len().min(limit + 64));
    let mut note = None;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push('`');
        }
        if let Some(n) = note.take() {
            out.push_str(&format!(" ({n} characters)"));
        }
        // Odd parts are between backticks, when a closing one follows.
        let quoted = i % 2 == 1 && i < last;
        let chars = part.chars().count();
        if quoted && chars > QUOTE_CHARS {
            out.extend(part.chars().take(QUOTE_CHARS));
            out.push('…');
            note = Some(chars);
        } else {
            out.push_str(part);
        }
    }
    cut(out, limit)
}

/// `text` cut at `limit` characters, with `…` when something was cut.
fn cut(text: String, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: shorten(message.into(), MESSAGE_CHARS),
            field: None,
            dependents: Vec::new(),
            resource: None,
            quota: None,
        }
    }

    /// INVALID_ARGUMENT with a field violation.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::new(Code::InvalidArgument, message).at(field)
    }

    pub fn not_found(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::new(Code::NotFound, message).at(field)
    }

    pub fn at(mut self, field: impl Into<String>) -> ApiError {
        let f = cut(field.into(), NAME_CHARS);
        self.field = (!f.is_empty()).then_some(f);
        self
    }

    pub fn about(mut self, kind: &str, name: impl Into<String>) -> ApiError {
        let name = cut(name.into(), NAME_CHARS);
        self.resource = Some(Box::new((kind.to_string(), name)));
        self
    }

    /// A model refusal, its field placed under the request field that carried the resource
    /// (`vpc` + `cidr` → `vpc.cidr`). A quota refusal's model field is the quota's name: it
    /// becomes `quota`, and the caller names the request field (`at`) and the quota's subject
    /// (`about`).
    pub fn model(e: ModelError, within: &str) -> ApiError {
        let code = match e.kind {
            ErrorKind::InvalidArgument => Code::InvalidArgument,
            ErrorKind::NotFound => Code::NotFound,
            ErrorKind::AlreadyExists => Code::AlreadyExists,
            ErrorKind::FailedPrecondition => Code::FailedPrecondition,
            ErrorKind::ResourceExhausted => Code::ResourceExhausted,
            ErrorKind::Aborted => Code::Aborted,
        };
        let field = match (within.is_empty(), e.field.is_empty()) {
            (_, true) => within.to_string(),
            (true, false) => e.field.clone(),
            (false, false) => format!("{within}.{}", e.field),
        };
        if code == Code::ResourceExhausted {
            let mut err = ApiError::new(code, e.message).at(within);
            err.quota = (!e.field.is_empty()).then_some(e.field);
            return err;
        }
        let mut err = ApiError::new(code, e.message).at(field);
        err.dependents = e.dependents;
        err
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(Code::Internal, message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{:?}: {field}: {}", self.code, self.message),
            None => write!(f, "{:?}: {}", self.code, self.message),
        }
    }
}

impl std::error::Error for ApiError {}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Status {
        let mut d = ErrorDetails::new();
        if let Some(field) = &e.field {
            d.add_bad_request_violation(field.clone(), e.message.clone());
        }
        match e.code {
            Code::FailedPrecondition => {
                if e.dependents.is_empty() {
                    d.add_precondition_failure_violation(
                        "STATE",
                        e.resource.as_ref().map_or("", |r| r.1.as_str()),
                        e.message.clone(),
                    );
                }
                for dep in &e.dependents {
                    d.add_precondition_failure_violation("IN_USE", dep.clone(), e.message.clone());
                }
            }
            Code::ResourceExhausted => {
                // The subject is what the quota counts for (the project, an interface).
                let subject = match (&e.resource, &e.field) {
                    (Some(r), _) => r.1.clone(),
                    (None, f) => f.clone().unwrap_or_default(),
                };
                d.set_quota_failure(vec![QuotaViolation {
                    subject,
                    description: e.message.clone(),
                    quota_id: e.quota.clone().unwrap_or_default(),
                    ..QuotaViolation::default()
                }]);
            }
            _ => {}
        }
        if let Some((kind, name)) = e.resource.as_deref() {
            d.set_resource_info(kind.clone(), name.clone(), "", e.message.clone());
        }
        Status::with_error_details(e.code, e.message, d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_value_is_quoted_short() {
        let value = "x".repeat(5_000);
        let e = ApiError::invalid("vpc.cidr", format!("`{value}` is not a CIDR block"));
        assert_eq!(
            e.message,
            format!(
                "`{}…` (5000 characters) is not a CIDR block",
                "x".repeat(100)
            )
        );
        assert_eq!(
            ApiError::invalid("f", "`short` stays").message,
            "`short` stays"
        );
        // An unpaired backtick quotes nothing; the message is still cut.
        let e = ApiError::invalid("f", format!("`{value}"));
        assert_eq!(e.message.chars().count(), MESSAGE_CHARS + 1);
        assert!(e.message.ends_with('…'));
    }

    #[test]
    fn names_and_fields_stay_small() {
        let long = "n".repeat(10_000);
        let e = ApiError::invalid(long.clone(), "bad").about("vpclab.v1.Vpc", long);
        assert_eq!(
            e.field.as_deref().map(|f| f.chars().count()),
            Some(NAME_CHARS + 1)
        );
        assert_eq!(
            e.resource.map(|r| r.1.chars().count()),
            Some(NAME_CHARS + 1)
        );
    }
}
