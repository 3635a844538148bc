//! Bearer tokens and the sessions behind them.
//!
//! A token is 32 random bytes from the operating system, sent to the client
//! once as unpadded base64url. The server keeps only the SHA-256 of those
//! bytes, so a leaked session table yields no usable token.
//!
//! A session remembers who logged in and the secret or password hash the
//! credentials were checked against. It ends when its time is up, or as soon
//! as the directory no longer holds that same hash for that same subject (the
//! secret or password changed, the subject was removed or lost its means of
//! logging in): the token is then refused from the next request on.
//!
//! Time is passed in (`now`), so that expiry is tested without waiting.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::subject::Subject;
use crate::directory::{Directory, SecretHash};

const TOKEN_BYTES: usize = 32;

/// What the server keeps of a token: the SHA-256 of its bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// The hash of a presented token; `None` when it cannot be one of ours
    /// (wrong alphabet or length).
    pub fn of(token: &str) -> Option<TokenHash> {
        let bytes = URL_SAFE_NO_PAD.decode(token.as_bytes()).ok()?;
        (bytes.len() == TOKEN_BYTES).then(|| TokenHash(Sha256::digest(&bytes).into()))
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(<redacted>)")
    }
}

/// A live session.
#[derive(Debug, Clone)]
pub struct Session {
    pub subject: Subject,
    /// The hash the credentials were verified against.
    verified_against: SecretHash,
    /// When it ends, on the server's clock.
    pub expires: Instant,
    /// When it ends, as told to the client.
    pub expires_at: DateTime<Utc>,
}

/// Why a token is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not a token this server issued (or one forgotten since).
    Unknown,
    Expired,
    /// Ended by a change of the directory.
    Revoked(Revocation),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// The subject is no longer in the directory, or can no longer log in.
    Removed,
    /// Its secret or password changed.
    CredentialChanged,
}

impl Refusal {
    /// The error code a client receives.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Unknown => "invalid_token",
            Refusal::Expired => "token_expired",
            Refusal::Revoked(_) => "token_revoked",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::Unknown => "the token is not valid; log in again",
            Refusal::Expired => "the token has expired; log in again",
            Refusal::Revoked(Revocation::Removed) => {
                "the session was revoked: its login was removed from the directory"
            }
            Refusal::Revoked(Revocation::CredentialChanged) => {
                "the session was revoked: its secret or password changed"
            }
        })
    }
}

/// A token as handed to the client, once.
pub struct Issued {
    pub token: String,
    pub session: Session,
}

/// Every session of one config server.
#[derive(Debug)]
pub struct Sessions {
    ttl: Duration,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    live: HashMap<TokenHash, Session>,
    /// Sessions that ended, remembered for a while so that their token is
    /// refused with the reason rather than as unknown, whichever request or
    /// task noticed first.
    ended: HashMap<TokenHash, Ended>,
}

#[derive(Debug)]
struct Ended {
    refusal: Refusal,
    forget: Instant,
}

impl Table {
    fn end(&mut self, token: TokenHash, refusal: Refusal, forget: Instant) {
        self.live.remove(&token);
        self.ended.insert(token, Ended { refusal, forget });
    }
}

impl Sessions {
    pub fn new(ttl: Duration) -> Sessions {
        Sessions {
            ttl,
            table: Mutex::new(Table::default()),
        }
    }

    /// Opens a session for `subject`, verified against `credential`.
    pub fn issue(&self, subject: Subject, credential: &SecretHash, now: Instant) -> Issued {
        let mut bytes = [0u8; TOKEN_BYTES];
        OsRng.fill_bytes(&mut bytes);
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let hash = TokenHash(Sha256::digest(bytes).into());
        let session = Session {
            subject,
            verified_against: credential.clone(),
            expires: now + self.ttl,
            expires_at: Utc::now()
                + chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::MAX),
        };
        self.lock().live.insert(hash, session.clone());
        Issued { token, session }
    }

    /// The session of `token` if it is still valid at `now` in `dir`.
    pub fn check(
        &self,
        token: &TokenHash,
        dir: &Directory,
        now: Instant,
    ) -> Result<Session, Refusal> {
        let mut table = self.lock();
        if let Some(session) = table.live.get(token) {
            return match validity(session, dir, now) {
                Ok(()) => Ok(session.clone()),
                Err(refusal) => {
                    let forget = session.expires + self.ttl;
                    table.end(*token, refusal.clone(), forget);
                    Err(refusal)
                }
            };
        }
        match table.ended.get(token) {
            Some(ended) if now < ended.forget => Err(ended.refusal.clone()),
            Some(_) => {
                table.ended.remove(token);
                Err(Refusal::Unknown)
            }
            None => Err(Refusal::Unknown),
        }
    }

    /// Ends every session that expired by `now` or that `dir` revokes, and
    /// forgets those that ended long enough ago; returns how many ended.
    pub fn sweep(&self, dir: &Directory, now: Instant) -> usize {
        let mut table = self.lock();
        let ending: Vec<(TokenHash, Refusal, Instant)> = table
            .live
            .iter()
            .filter_map(|(token, session)| {
                let refusal = validity(session, dir, now).err()?;
                Some((*token, refusal, session.expires + self.ttl))
            })
            .collect();
        let count = ending.len();
        for (token, refusal, forget) in ending {
            table.end(token, refusal, forget);
        }
        table.ended.retain(|_, ended| now < ended.forget);
        count
    }

    /// How many sessions are live (as far as the last check or sweep knows).
    pub fn open(&self) -> usize {
        self.lock().live.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        // Every change under the lock is completed before it is released.
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Whether `session` still holds at `now` in `dir`.
fn validity(session: &Session, dir: &Directory, now: Instant) -> Result<(), Refusal> {
    if now >= session.expires {
        return Err(Refusal::Expired);
    }
    match session.subject.credential(dir) {
        None => Err(Refusal::Revoked(Revocation::Removed)),
        Some(hash) if hash != &session.verified_against => {
            Err(Refusal::Revoked(Revocation::CredentialChanged))
        }
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::hash_secret;

    fn acme() -> Directory {
        Directory::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/tenant"))
            .unwrap()
    }

    fn login(sessions: &Sessions, dir: &Directory, app: &str, now: Instant) -> String {
        let subject = Subject::Application(app.to_owned());
        let credential = subject.credential(dir).unwrap().clone();
        sessions.issue(subject, &credential, now).token
    }

    fn check(
        sessions: &Sessions,
        token: &str,
        dir: &Directory,
        now: Instant,
    ) -> Result<Session, Refusal> {
        sessions.check(&TokenHash::of(token).unwrap(), dir, now)
    }

    #[test]
    fn a_token_is_32_random_bytes_in_base64url() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let dir = acme();
        let now = Instant::now();
        let a = login(&sessions, &dir, "ixs-sales", now);
        let b = login(&sessions, &dir, "ixs-sales", now);
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        let session = check(&sessions, &a, &dir, now).unwrap();
        assert_eq!(session.subject, Subject::Application("ixs-sales".into()));
    }

    #[test]
    fn a_forged_token_is_unknown() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let dir = acme();
        let now = Instant::now();
        let real = login(&sessions, &dir, "ixs-sales", now);
        let mut forged = real.clone().into_bytes();
        forged[0] = if forged[0] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        assert_eq!(
            check(&sessions, &forged, &dir, now).unwrap_err(),
            Refusal::Unknown
        );
        assert!(TokenHash::of("not a token").is_none());
        assert!(TokenHash::of(&real[..40]).is_none());
    }

    #[test]
    fn a_session_expires_after_its_ttl() {
        let ttl = Duration::from_secs(8 * 3600);
        let sessions = Sessions::new(ttl);
        let dir = acme();
        let start = Instant::now();
        let token = login(&sessions, &dir, "ixs-sales", start);
        let just_before = start + ttl - Duration::from_millis(1);
        assert!(check(&sessions, &token, &dir, just_before).is_ok());
        assert_eq!(
            check(&sessions, &token, &dir, start + ttl).unwrap_err(),
            Refusal::Expired
        );
        // Refused with its reason until it is forgotten.
        assert_eq!(sessions.open(), 0);
        assert_eq!(
            check(&sessions, &token, &dir, start + ttl).unwrap_err(),
            Refusal::Expired
        );
        assert_eq!(
            check(&sessions, &token, &dir, start + ttl * 2).unwrap_err(),
            Refusal::Unknown
        );
    }

    #[test]
    fn a_changed_secret_revokes_the_session() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let mut dir = acme();
        let now = Instant::now();
        let sales = login(&sessions, &dir, "ixs-sales", now);
        let support = login(&sessions, &dir, "ixs-support", now);
        dir.applications.get_mut("ixs-sales").unwrap().secret_hash =
            Some(SecretHash::new(hash_secret("another secret")));
        assert_eq!(
            check(&sessions, &sales, &dir, now).unwrap_err(),
            Refusal::Revoked(Revocation::CredentialChanged)
        );
        assert!(check(&sessions, &support, &dir, now).is_ok());
        // Changing it back does not revive the session: it has ended.
        dir = acme();
        assert_eq!(
            check(&sessions, &sales, &dir, now).unwrap_err(),
            Refusal::Revoked(Revocation::CredentialChanged)
        );
    }

    #[test]
    fn removing_the_subject_revokes_the_session() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let mut dir = acme();
        let now = Instant::now();
        let anna = Subject::Person("anna".into());
        let credential = anna.credential(&dir).unwrap().clone();
        let token = sessions.issue(anna, &credential, now).token;
        dir.persons.remove("anna");
        assert_eq!(
            check(&sessions, &token, &dir, now).unwrap_err(),
            Refusal::Revoked(Revocation::Removed)
        );
    }

    #[test]
    fn sweep_forgets_expired_and_revoked_sessions() {
        let ttl = Duration::from_secs(60);
        let sessions = Sessions::new(ttl);
        let mut dir = acme();
        let start = Instant::now();
        login(&sessions, &dir, "ixs-sales", start);
        let later = start + Duration::from_secs(30);
        let support = login(&sessions, &dir, "ixs-support", later);
        assert_eq!(sessions.open(), 2);
        assert_eq!(sessions.sweep(&dir, start + ttl), 1);
        dir.applications.remove("ixs-support");
        assert_eq!(sessions.sweep(&dir, later), 1);
        assert_eq!(sessions.open(), 0);
        assert_eq!(
            check(&sessions, &support, &dir, later).unwrap_err(),
            Refusal::Revoked(Revocation::Removed)
        );
        // Ended sessions are forgotten in the end.
        sessions.sweep(&dir, later + ttl * 2);
        assert_eq!(
            check(&sessions, &support, &dir, later).unwrap_err(),
            Refusal::Unknown
        );
    }
}
