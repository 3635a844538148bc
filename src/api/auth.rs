//! Who may do what: persons log in to the instance with their
//! configuration-server credentials and get a bearer token that carries their
//! identity and roles. Tokens are random, kept only as SHA-256 digests,
//! expire, and belong to the instance that issued them: another instance
//! does not know them.

use super::{ApiError, AppState};
use crate::config_client::ConfigClient;
use crate::directory::{Directory, Role};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
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

#[derive(Debug)]
struct Session {
    caller: Caller,
    expires_at: DateTime<Utc>,
}

/// The instance's sessions; one per instance, never shared.
#[derive(Debug)]
pub struct Sessions {
    ttl: Duration,
    by_digest: Mutex<HashMap<[u8; 32], Session>>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Sessions {
    pub fn new(ttl: Duration) -> Self {
        Sessions {
            ttl,
            by_digest: Mutex::new(HashMap::new()),
        }
    }

    /// A new token for `caller`, and when it expires.
    pub fn issue(&self, caller: Caller, now: DateTime<Utc>) -> (String, DateTime<Utc>) {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = hex::encode(bytes);
        let expires_at = now + chrono::Duration::from_std(self.ttl).unwrap_or_default();
        let mut sessions = self.by_digest.lock().unwrap_or_else(|p| p.into_inner());
        sessions.retain(|_, s| s.expires_at > now);
        sessions.insert(digest(&token), Session { caller, expires_at });
        (token, expires_at)
    }

    /// The caller a token stands for, if it is known and not expired.
    pub fn caller(&self, token: &str, now: DateTime<Utc>) -> Option<Caller> {
        if token.len() != 64 {
            return None;
        }
        let sessions = self.by_digest.lock().unwrap_or_else(|p| p.into_inner());
        sessions
            .get(&digest(token))
            .filter(|s| s.expires_at > now)
            .map(|s| s.caller.clone())
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
    pub fn directory(directory: Directory) -> Verifier {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Verifier::Directory {
            directory: Arc::new(directory),
            checks: Arc::new(Semaphore::new(cores)),
        }
    }

    /// The person's identity and roles, or `None` if the credentials are
    /// wrong. Refused with 503 `busy` while the checks against the tenant's
    /// files are at their bound: a log-in costs nothing before its
    /// credentials are checked, so waiting callers would pile up.
    pub async fn verify(&self, person: &str, password: &str) -> Result<Option<Caller>, ApiError> {
        match self {
            Verifier::Server(client) => match client.verify_person(person, password).await {
                Ok(Some(whoami)) => Ok(whoami.person.map(|person| Caller {
                    person,
                    roles: whoami.roles,
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
                    directory.verify_person(&person, &password).map(|p| Caller {
                        person: p.name.clone(),
                        roles: directory.roles_of(&p.name),
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
        state.sessions.caller(token, Utc::now()).ok_or_else(|| {
            ApiError::Unauthorized(
                "the token is unknown to this instance or has expired: log in again".into(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anna() -> Caller {
        Caller {
            person: "anna".into(),
            roles: [Role::Agent].into(),
        }
    }

    #[test]
    fn tokens_are_random_and_expire() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let now = Utc::now();
        let (a, expires) = sessions.issue(anna(), now);
        let (b, _) = sessions.issue(anna(), now);
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(sessions.caller(&a, now), Some(anna()));
        assert_eq!(sessions.caller(&a, expires), None, "expired at its expiry");
        let mut forged = a.clone();
        forged.replace_range(0..1, if a.starts_with('0') { "1" } else { "0" });
        assert_eq!(sessions.caller(&forged, now), None);
        assert_eq!(sessions.caller("", now), None);
    }

    #[test]
    fn one_instance_does_not_know_another_s_tokens() {
        let (sales, support) = (
            Sessions::new(Duration::from_secs(60)),
            Sessions::new(Duration::from_secs(60)),
        );
        let (token, _) = sales.issue(anna(), Utc::now());
        assert_eq!(support.caller(&token, Utc::now()), None);
    }
}
