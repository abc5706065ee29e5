//! Who may call, and as which project. `--tokens FILE` maps bearer tokens to projects; a
//! caller sees and changes only its own project. Without a tokens file the server serves one
//! project, `default`, to every caller (and refuses to listen beyond loopback).
//!
//! The tokens file (YAML):
//! ```yaml
//! tokens:
//!   - token: s3cret-for-team-a
//!     project: team-a
//!     provider: aws        # optional: the cloud a new project simulates
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use tonic::Code;
use tonic::metadata::MetadataMap;
use vpclab_sim::profile::Provider;

use super::cloud::Caller;
use super::error::ApiError;

pub const DEFAULT_PROJECT: &str = "default";

pub struct Tenancy {
    /// token → caller; `None`: one default project for everyone.
    tokens: Option<BTreeMap<String, Caller>>,
    default_provider: Provider,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensDoc {
    tokens: Vec<TokenDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenDoc {
    token: String,
    project: String,
    #[serde(default)]
    provider: Option<String>,
}

/// Project ids: 1-63 lowercase letters, digits and `-`, starting with a letter.
pub fn check_project_id(p: &str) -> Result<(), String> {
    let ok = !p.is_empty()
        && p.len() <= 63
        && p.starts_with(|c: char| c.is_ascii_lowercase())
        && p.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{p}` is not a valid project id: use 1-63 lowercase letters, digits or `-`, starting with a letter"
        ))
    }
}

impl Tenancy {
    /// Every caller is the default project.
    pub fn single(provider: Provider) -> Tenancy {
        Tenancy {
            tokens: None,
            default_provider: provider,
        }
    }

    /// Reads a tokens file. Errors name the file and what is wrong.
    pub fn from_file(
        path: &str,
        text: &str,
        default_provider: Provider,
    ) -> Result<Tenancy, String> {
        let doc: TokensDoc = serde_saphyr::from_str(text).map_err(|e| format!("{path}: {e}"))?;
        let mut tokens = BTreeMap::new();
        for (i, t) in doc.tokens.into_iter().enumerate() {
            let at = format!("{path}: tokens[{i}]");
            if t.token.len() < 8 {
                return Err(format!("{at}.token: tokens must be at least 8 characters"));
            }
            check_project_id(&t.project).map_err(|e| format!("{at}.project: {e}"))?;
            let provider = match t.provider {
                Some(p) => p.parse().map_err(|e| format!("{at}.provider: {e}"))?,
                None => default_provider,
            };
            let caller = Caller {
                project: t.project,
                provider,
            };
            if tokens.insert(t.token, caller).is_some() {
                return Err(format!("{at}.token: the same token appears twice"));
            }
        }
        if tokens.is_empty() {
            return Err(format!("{path}: no tokens"));
        }
        Ok(Tenancy {
            tokens: Some(tokens),
            default_provider,
        })
    }

    pub fn is_single(&self) -> bool {
        self.tokens.is_none()
    }

    /// The caller of a request, from its `authorization: Bearer <token>` header.
    pub fn caller(&self, md: &MetadataMap) -> Result<Caller, ApiError> {
        let Some(tokens) = &self.tokens else {
            return Ok(Caller {
                project: DEFAULT_PROJECT.into(),
                provider: self.default_provider,
            });
        };
        let header = md
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::new(
                    Code::Unauthenticated,
                    "this server needs a bearer token: send `authorization: Bearer <token>`",
                )
            })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| {
                ApiError::new(
                    Code::Unauthenticated,
                    "the authorization header must be `Bearer <token>`",
                )
            })?;
        tokens
            .get(token.trim())
            .cloned()
            .ok_or_else(|| ApiError::new(Code::Unauthenticated, "unknown token"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_file() {
        let t = Tenancy::from_file(
            "t.yaml",
            "tokens:\n  - token: aaaaaaaa1\n    project: team-a\n  - token: bbbbbbbb2\n    project: team-b\n    provider: aws\n",
            Provider::Huawei,
        )
        .unwrap();
        let mut md = MetadataMap::new();
        md.insert("authorization", "Bearer bbbbbbbb2".parse().unwrap());
        assert_eq!(
            t.caller(&md).unwrap(),
            Caller {
                project: "team-b".into(),
                provider: Provider::Aws
            }
        );
        md.insert("authorization", "Bearer nope-nope".parse().unwrap());
        assert_eq!(t.caller(&md).unwrap_err().code, Code::Unauthenticated);
        assert_eq!(
            t.caller(&MetadataMap::new()).unwrap_err().code,
            Code::Unauthenticated
        );
        let e = Tenancy::from_file(
            "t.yaml",
            "tokens:\n  - token: short\n    project: a\n",
            Provider::Aws,
        )
        .err()
        .unwrap();
        assert_eq!(
            e,
            "t.yaml: tokens[0].token: tokens must be at least 8 characters"
        );
    }
}
