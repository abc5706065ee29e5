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

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
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
        let f = field.into();
        self.field = (!f.is_empty()).then_some(f);
        self
    }

    pub fn about(mut self, kind: &str, name: impl Into<String>) -> ApiError {
        self.resource = Some(Box::new((kind.to_string(), name.into())));
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
