//! Who is calling: persons log in to the instance with their
//! configuration-server credentials (checked by the [`Verifier`]) and get a
//! bearer token of the instance's own (`tokens`) that carries their identity
//! and roles; each request's token gives its [`Caller`].

use super::tokens::{Refusal, Verified};
use super::{ApiError, AppState};
use crate::config_client::ConfigClient;
use crate::directory::{Directory, Role};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::Utc;
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// The authenticated person behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub person: String,
    pub roles: BTreeSet<Role>,
}

impl Caller {
    /// Whether the caller holds `role` (an administrator holds every role).
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role) || self.roles.contains(&Role::Admin)
    }
}

/// Checks persons' credentials: with the configuration server, or against
/// the tenant's files when the instance reads them directly.
#[derive(Debug, Clone)]
pub enum Verifier {
    Server(ConfigClient),
    Directory {
        directory: Arc<Directory>,
        /// Bounds the password checks running at once: each takes tens of
        /// milliseconds of a core and about 19 MiB.
        checks: Arc<Semaphore>,
    },
}

impl Verifier {
    /// Checks against the tenant's files, as many at once as there are
    /// cores (as the configuration server does).
    pub fn directory(directory: Arc<Directory>) -> Verifier {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Verifier::Directory {
            directory,
            checks: Arc::new(Semaphore::new(cores)),
        }
    }

    /// The person's identity and roles (and, from the configuration server,
    /// her token there), or `None` if the credentials are wrong. Refused
    /// with 503 `busy` while the checks against the tenant's files are at
    /// their bound: a log-in costs nothing before its credentials are
    /// checked, so waiting callers would pile up.
    pub async fn verify(&self, person: &str, password: &str) -> Result<Option<Verified>, ApiError> {
        match self {
            Verifier::Server(client) => match client.verify_person(person, password).await {
                Ok(Some(login)) => Ok(login.whoami.person.map(|person| Verified {
                    caller: Caller {
                        person,
                        roles: login.whoami.roles,
                    },
                    recheck: Some(login.token),
                    until: login.expires_at,
                })),
                Ok(None) => Ok(None),
                Err(e) => {
                    tracing::warn!(error = %crate::telemetry::error_chain(&e),
                        "cannot verify credentials with the configuration server");
                    Err(ApiError::Unavailable(
                        "config_server_unavailable",
                        "credentials cannot be checked: the configuration server is unreachable"
                            .into(),
                    ))
                }
            },
            Verifier::Directory { directory, checks } => {
                let permit = checks
                    .clone()
                    .try_acquire_owned()
                    .map_err(|_| ApiError::Busy)?;
                let directory = directory.clone();
                let (person, password) = (person.to_owned(), password.to_owned());
                // The permit goes with the check: a caller that gives up
                // does not free it while the check still runs.
                tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    directory
                        .verify_person(&person, &password)
                        .map(|p| Verified {
                            caller: Caller {
                                person: p.name.clone(),
                                roles: directory.roles_of(&p.name),
                            },
                            recheck: None,
                            until: None,
                        })
                })
                .await
                .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))
            }
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            ApiError::Unauthorized(
                "this request needs a bearer token: log in with POST /v1/sessions".into(),
            )
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(crate::bearer::token)
            .ok_or_else(|| {
                ApiError::Unauthorized("the Authorization header must be 'Bearer <token>'".into())
            })?;
        state
            .sessions
            .caller(token, Utc::now())
            .map_err(|refusal| match refusal {
                Refusal::Revoked => ApiError::TokenRevoked,
                Refusal::NotActive => ApiError::not_active(),
                Refusal::Unknown => ApiError::Unauthorized(
                    "the token is unknown to this instance or has expired: log in again".into(),
                ),
            })
    }
}
