//! The instance's sessions: a bearer token of its own for each person who
//! logged in. A token is 32 random bytes in hex, kept only as its SHA-256
//! digest; it expires, and belongs to the instance that issued it.
//!
//! Sessions are kept in the instance's own database (`instance_sessions`,
//! by digest, never the token), so that a restart, even after kill -9, does
//! not log anybody out: a session is written there before its token is
//! handed out, and the daemon loads the unexpired ones once it holds its
//! lease ([`Sessions::hold`]). Only the lease holder keeps sessions: an
//! instance that does not hold its lease (a backup standing by, one
//! starting or stopping) issues none, and answers every token as "not
//! active" rather than "unknown", since it cannot tell.
//!
//! When the configuration server checked the password, the session keeps
//! the person's own token on that server (a secret, in memory only, never
//! written), and after each new revision the instance asks the server again
//! who she is ([`Sessions::recheck`]):
//! - the server refuses her token (her password changed, she was deleted,
//!   or the server restarted and forgot its sessions): the session ends,
//!   and its token is refused as revoked;
//! - her roles changed: the session takes the new ones; with none left, it
//!   ends;
//! - the server does not answer: the sessions stay as they are until it
//!   answers again.
//!
//! A session restored from the database has no such token. It is held up
//! against the directory this instance reads instead: when restored, and
//! after each new revision. The person must be in it, and her roles are
//! taken afresh from its access groups; otherwise the session ends, and its
//! token is refused as revoked. With a configuration server, that directory
//! is what the server lets the instance read (the last revision read, or
//! the cached one at start): a person the instance cannot read — a gateway,
//! a reporter or an administrator granted tenant-wide, say — cannot be
//! confirmed, so her restored session ends and she logs in again, and a
//! role conferred by a group the instance cannot read is dropped. A
//! password change alone does not end a restored session: the directory an
//! instance reads holds no password. In file mode the directory is the
//! tenant's files as this start loaded them, which do not change while the
//! instance runs, so there is nothing to re-check after that.
//!
//! What a re-check decides is written to the database before it takes
//! effect (an ended session keeps its row until it would have expired, so
//! that its token is still refused as revoked after a restart); when the
//! database does not take it, it takes effect all the same and is sent
//! again with the next change. Retention removes expired rows.

use super::auth::Caller;
use crate::config_client::{ClientError, ConfigClient, Token, Whoami};
use crate::directory::{Directory, Role};
use crate::store::{Fence, PgStore, StoreError, StoredSession};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::future::BoxFuture;
use rand::RngCore;
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tracing::{info, warn};

/// How many sessions are re-checked at once, so that a revision does not
/// flood the configuration server.
const RECHECKS_AT_ONCE: usize = 8;

type Digest = [u8; 32];

fn digest(token: &str) -> Digest {
    Sha256::digest(token.as_bytes()).into()
}

fn role_names(roles: &BTreeSet<Role>) -> Vec<String> {
    roles.iter().map(|r| r.as_str().to_owned()).collect()
}

/// A person whose credentials were just checked.
#[derive(Debug)]
pub struct Verified {
    pub caller: Caller,
    /// Her own token on the configuration server, when it checked them.
    pub recheck: Option<Token>,
    /// When that token expires: the session does not outlive it.
    pub until: Option<DateTime<Utc>>,
}

/// Why a token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not issued here, or expired.
    Unknown,
    /// Ended by a change in the directory.
    Revoked,
    /// This instance does not hold its lease, so it does not know the
    /// sessions: ask the one that does, or again once this one does.
    NotActive,
}

/// Why no session was issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// This instance does not hold its lease: it keeps no sessions.
    #[error("this instance does not hold its database lease")]
    NotActive,
    /// The database did not keep the session: its token is not handed out.
    #[error("cannot keep the session")]
    Store(#[from] StoreError),
}

/// A change a re-check made to a session, to be kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The session ended at this time.
    Ended(Digest, DateTime<Utc>),
    /// The session now has these roles.
    Roles(Digest, BTreeSet<Role>),
}

/// Where sessions are kept while this instance holds its lease: its
/// database ([`InDatabase`]); anything else only in tests.
pub trait Keeper: Send + Sync + std::fmt::Debug {
    /// Keeps a new session. Its token is handed out only once this
    /// succeeded.
    fn issued<'a>(&'a self, session: &'a StoredSession) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Keeps what re-checks changed, in order.
    fn changed<'a>(&'a self, changes: &'a [Change]) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// The instance's database, written while `fence` holds.
#[derive(Debug)]
pub struct InDatabase {
    pub store: PgStore,
    pub fence: Fence,
}

impl Keeper for InDatabase {
    fn issued<'a>(&'a self, session: &'a StoredSession) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.store.keep_session(&self.fence, session))
    }

    fn changed<'a>(&'a self, changes: &'a [Change]) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            // A revision that ends many sessions ends them in one statement
            // per moment it settled them. An ended session changes no more,
            // so ends go first; role changes keep their order.
            let mut ended: Vec<(DateTime<Utc>, Vec<Vec<u8>>)> = Vec::new();
            for change in changes {
                if let Change::Ended(digest, at) = change {
                    match ended.iter_mut().find(|(when, _)| when == at) {
                        Some((_, digests)) => digests.push(digest.to_vec()),
                        None => ended.push((*at, vec![digest.to_vec()])),
                    }
                }
            }
            for (at, digests) in &ended {
                self.store.end_sessions(&self.fence, digests, *at).await?;
            }
            for change in changes {
                if let Change::Roles(digest, roles) = change {
                    self.store
                        .change_session_roles(&self.fence, digest, &role_names(roles))
                        .await?;
                }
            }
            Ok(())
        })
    }
}

/// What [`Sessions::hold`] found in the database.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Restored {
    /// Sessions that go on.
    pub live: usize,
    /// Sessions ended earlier, whose tokens are refused as revoked.
    pub revoked: usize,
    /// Sessions the directory no longer confirmed.
    pub ended: usize,
}

/// A re-check round. A log-in takes the one in force before its
/// credentials are checked: a round that began after that re-checks the
/// new session too, since the credentials may predate the revision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Round(u64);

#[derive(Debug)]
struct Session {
    caller: Caller,
    expires_at: DateTime<Utc>,
    /// Her token on the configuration server; `None`: held up against the
    /// directory instead.
    recheck: Option<Token>,
    /// The last round that confirmed it.
    checked: Round,
}

#[derive(Debug, Default)]
struct Table {
    live: HashMap<Digest, Session>,
    /// Sessions a change in the directory ended, until they would have
    /// expired, so that their token is refused as revoked.
    revoked: HashMap<Digest, DateTime<Utc>>,
    round: Round,
    /// What sessions without a token on the configuration server are held
    /// up against: the directory of the last revision, or of this start.
    directory: Option<Arc<Directory>>,
    /// Where sessions are kept; `None` while this instance does not hold
    /// its lease.
    keeper: Option<Arc<dyn Keeper>>,
    /// Changes the database did not take yet.
    unwritten: Vec<Change>,
}

impl Table {
    fn forget_expired(&mut self, now: DateTime<Utc>) {
        self.live.retain(|_, s| s.expires_at > now);
        self.revoked.retain(|_, expires_at| *expires_at > now);
    }

    /// What applying `verdict` to the session `digest` changes, to be
    /// kept.
    fn change_of(&self, digest: Digest, verdict: &Verdict, now: DateTime<Utc>) -> Option<Change> {
        let session = self.live.get(&digest)?;
        match verdict {
            Verdict::Keep(roles) if *roles != session.caller.roles => {
                Some(Change::Roles(digest, roles.clone()))
            }
            Verdict::End(_) => Some(Change::Ended(digest, now)),
            Verdict::Keep(_) | Verdict::Unanswered => None,
        }
    }

    /// Applies `verdict` to the session `digest` in `round`.
    fn apply(&mut self, round: Round, digest: Digest, verdict: Verdict) {
        // Gone meanwhile: expired.
        let Some(session) = self.live.get_mut(&digest) else {
            return;
        };
        let person = &session.caller.person;
        match verdict {
            Verdict::Keep(roles) => {
                session.checked = round;
                if roles != session.caller.roles {
                    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                    info!(%person, roles = ?names, "the session's roles follow the directory");
                    session.caller.roles = roles;
                }
            }
            Verdict::End(reason) => {
                info!(%person, %reason, "session ended by a change in the directory");
                let expires_at = session.expires_at;
                self.live.remove(&digest);
                self.revoked.insert(digest, expires_at);
            }
            Verdict::Unanswered => {}
        }
    }

    /// What the directory says of every session without a token on the
    /// configuration server that `round` has not confirmed yet.
    fn held_up(&self, round: Round) -> Vec<(Digest, Verdict)> {
        let Some(directory) = &self.directory else {
            return Vec::new();
        };
        self.live
            .iter()
            .filter(|(_, s)| s.recheck.is_none() && s.checked < round)
            .map(|(digest, s)| (*digest, held_up(&s.caller.person, directory)))
            .collect()
    }
}

/// What the configuration server's answer about one session means.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Keep(BTreeSet<Role>),
    End(String),
    /// No answer: keep the session and ask again at the next round.
    Unanswered,
}

fn verdict(person: &str, answer: Result<Whoami, ClientError>) -> Verdict {
    match answer {
        Ok(whoami) if whoami.person.as_deref() != Some(person) => {
            Verdict::End("the configuration server no longer knows the person".into())
        }
        Ok(whoami) if whoami.roles.is_empty() => Verdict::End("no role remains".into()),
        Ok(whoami) => Verdict::Keep(whoami.roles),
        Err(ClientError::Refused(reason)) => Verdict::End(reason),
        Err(_) => Verdict::Unanswered,
    }
}

/// What the directory says of a session of `person`.
fn held_up(person: &str, directory: &Directory) -> Verdict {
    if !directory.persons.contains_key(person) {
        return Verdict::End("the directory this instance reads does not hold the person".into());
    }
    let roles = directory.roles_of(person);
    if roles.is_empty() {
        Verdict::End("no role remains".into())
    } else {
        Verdict::Keep(roles)
    }
}

/// A session to re-check: its digest, its person and her token.
type Due = (Digest, String, Token);

/// The instance's sessions; one per instance, never shared with another.
#[derive(Debug)]
pub struct Sessions {
    ttl: Duration,
    table: Mutex<Table>,
}

impl Sessions {
    /// Sessions valid for `ttl`, held up against `directory` (see the
    /// module documentation) until a revision brings another.
    pub fn new(ttl: Duration, directory: Option<Arc<Directory>>) -> Self {
        Sessions {
            ttl,
            table: Mutex::new(Table {
                directory,
                ..Table::default()
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // Every change under the lock is complete before it is released.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The round in force: take it before checking a log-in's credentials.
    pub fn round(&self) -> Round {
        self.lock().round
    }

    /// Whether sessions are issued: this instance holds its lease.
    pub fn is_kept(&self) -> bool {
        self.lock().keeper.is_some()
    }

    /// From now on sessions are kept with `keeper`: takes over those
    /// `stored` (every unexpired one the database holds), holding the live
    /// ones up against the directory, and keeps what that changed.
    pub async fn hold(
        &self,
        keeper: Arc<dyn Keeper>,
        stored: Vec<StoredSession>,
        now: DateTime<Utc>,
    ) -> Restored {
        let mut restored = Restored::default();
        let mut changes = Vec::new();
        {
            let mut table = self.lock();
            table.forget_expired(now);
            let round = table.round;
            let mut taken = Vec::new();
            for row in stored {
                let Ok(digest) = Digest::try_from(row.digest.as_slice()) else {
                    warn!(person = %row.person, "a kept session has no valid digest; skipped");
                    continue;
                };
                let known = table.live.contains_key(&digest) || table.revoked.contains_key(&digest);
                if row.expires_at <= now || known {
                    continue;
                }
                if row.revoked_at.is_some() {
                    table.revoked.insert(digest, row.expires_at);
                    restored.revoked += 1;
                    continue;
                }
                // A role this version does not know is not granted.
                let roles = row.roles.iter().filter_map(|r| Role::parse(r)).collect();
                let session = Session {
                    caller: Caller {
                        person: row.person,
                        roles,
                    },
                    expires_at: row.expires_at,
                    recheck: None,
                    // Due at the next round, if not confirmed below.
                    checked: Round::default(),
                };
                table.live.insert(digest, session);
                taken.push(digest);
            }
            // Against the directory of the round in force (one in progress
            // has set it already). Kept after: a start that does not get to
            // keep it does the same again.
            if let Some(directory) = table.directory.clone() {
                for digest in &taken {
                    let verdict = held_up(&table.live[digest].caller.person, &directory);
                    changes.extend(table.change_of(*digest, &verdict, now));
                    table.apply(round, *digest, verdict);
                }
            }
            restored.ended = changes
                .iter()
                .filter(|c| matches!(c, Change::Ended(..)))
                .count();
            restored.live = taken.len() - restored.ended;
            table.keeper = Some(keeper);
        }
        self.keep(changes).await;
        restored
    }

    /// This instance no longer holds its lease: no session is issued from
    /// now on.
    pub fn release(&self) {
        self.lock().keeper = None;
    }

    /// A new token for `verified`, whose credentials began to be checked at
    /// `since`, and when it expires. The session is kept in the database
    /// before the token is returned.
    pub async fn issue(
        &self,
        verified: Verified,
        since: Round,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>), IssueError> {
        let keeper = self.lock().keeper.clone().ok_or(IssueError::NotActive)?;
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = hex::encode(bytes);
        let digest = digest(&token);
        let mut expires_at = now + chrono::Duration::from_std(self.ttl).unwrap_or_default();
        if let Some(until) = verified.until {
            expires_at = expires_at.min(until);
        }
        keeper
            .issued(&StoredSession {
                digest: digest.to_vec(),
                person: verified.caller.person.clone(),
                roles: role_names(&verified.caller.roles),
                issued_at: now,
                expires_at,
                revoked_at: None,
            })
            .await?;
        let session = Session {
            caller: verified.caller,
            expires_at,
            recheck: verified.recheck,
            checked: since,
        };
        let mut table = self.lock();
        table.forget_expired(now);
        table.live.insert(digest, session);
        Ok((token, expires_at))
    }

    /// The caller a token stands for, if it is known and not expired.
    pub fn caller(&self, token: &str, now: DateTime<Utc>) -> Result<Caller, Refusal> {
        if token.len() != 64 {
            return Err(Refusal::Unknown);
        }
        let digest = digest(token);
        let table = self.lock();
        if let Some(session) = table.live.get(&digest).filter(|s| s.expires_at > now) {
            return Ok(session.caller.clone());
        }
        match table.revoked.get(&digest) {
            Some(expires_at) if *expires_at > now => Err(Refusal::Revoked),
            _ if table.keeper.is_none() => Err(Refusal::NotActive),
            _ => Err(Refusal::Unknown),
        }
    }

    /// Holds the sessions up against `directory`, the directory of the
    /// revision now in force, and asks the configuration server again who
    /// each session's person is, a few at a time; ends or narrows the
    /// sessions accordingly. Called after each new revision is in force.
    pub async fn recheck(&self, client: &ConfigClient, directory: Arc<Directory>) {
        let (round, held_up) = self.begin_round(directory);
        self.settle(round, held_up, Utc::now()).await;
        loop {
            // Log-ins whose credentials were checked before this round began
            // come due too; the loop ends as none is left.
            let due = self.due(round);
            if due.is_empty() {
                return;
            }
            let mut answers = futures::stream::iter(due)
                .map(|(digest, person, token)| async move {
                    (digest, verdict(&person, client.whoami(&token).await))
                })
                .buffer_unordered(RECHECKS_AT_ONCE);
            let mut verdicts = Vec::new();
            let mut answered = true;
            while let Some((digest, verdict)) = answers.next().await {
                answered = verdict != Verdict::Unanswered;
                verdicts.push((digest, verdict));
                if !answered {
                    break;
                }
            }
            drop(answers);
            self.settle(round, verdicts, Utc::now()).await;
            if !answered {
                warn!(
                    "the configuration server does not answer; the sessions stay as they are \
                     until it does"
                );
                return;
            }
        }
    }

    /// Begins a round with `directory` in force: what it says of the
    /// sessions without a token on the configuration server.
    fn begin_round(&self, directory: Arc<Directory>) -> (Round, Vec<(Digest, Verdict)>) {
        let mut table = self.lock();
        table.round = Round(table.round.0 + 1);
        table.directory = Some(directory);
        let round = table.round;
        (round, table.held_up(round))
    }

    /// The sessions `round` has not confirmed yet and can re-check with the
    /// configuration server.
    fn due(&self, round: Round) -> Vec<Due> {
        self.lock()
            .live
            .iter()
            .filter(|(_, s)| s.checked < round)
            .filter_map(|(digest, s)| {
                let token = s.recheck.clone()?;
                Some((*digest, s.caller.person.clone(), token))
            })
            .collect()
    }

    /// Keeps, then applies, what was said of each session: an end is in
    /// the database before its token is refused, so that a stop, however
    /// abrupt, does not bring the session back. One the database does not
    /// take is applied all the same, and kept with the next change.
    async fn settle(&self, round: Round, verdicts: Vec<(Digest, Verdict)>, now: DateTime<Utc>) {
        let changes: Vec<Change> = {
            let table = self.lock();
            verdicts
                .iter()
                .filter_map(|(digest, verdict)| table.change_of(*digest, verdict, now))
                .collect()
        };
        self.keep(changes).await;
        let mut table = self.lock();
        table.forget_expired(now);
        for (digest, verdict) in verdicts {
            table.apply(round, digest, verdict);
        }
    }

    /// Keeps `changes`, after those the database did not take before. Not
    /// holding the lease, there is nowhere to keep them.
    async fn keep(&self, changes: Vec<Change>) {
        let (keeper, changes) = {
            let mut table = self.lock();
            let Some(keeper) = table.keeper.clone() else {
                return;
            };
            let mut all = std::mem::take(&mut table.unwritten);
            all.extend(changes);
            (keeper, all)
        };
        if changes.is_empty() {
            return;
        }
        if let Err(e) = keeper.changed(&changes).await {
            warn!(error = %crate::telemetry::error_chain(&e),
                "cannot keep the sessions' changes; they are kept with the next ones");
            let mut table = self.lock();
            let later = std::mem::replace(&mut table.unwritten, changes);
            table.unwritten.extend(later);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, Ordering};

    const TTL: Duration = Duration::from_secs(60);

    /// A keeper that remembers what it was given, and fails when told to.
    #[derive(Debug, Default)]
    struct Fake {
        issued: Mutex<Vec<StoredSession>>,
        changes: Mutex<Vec<Change>>,
        failing: AtomicBool,
    }

    impl Fake {
        fn answer(&self) -> Result<(), StoreError> {
            if self.failing.load(Ordering::Relaxed) {
                Err(StoreError::Unavailable(sqlx::Error::PoolTimedOut))
            } else {
                Ok(())
            }
        }

        fn changes(&self) -> Vec<Change> {
            self.changes.lock().unwrap().clone()
        }
    }

    impl Keeper for Fake {
        fn issued<'a>(
            &'a self,
            session: &'a StoredSession,
        ) -> BoxFuture<'a, Result<(), StoreError>> {
            Box::pin(async move {
                self.answer()?;
                self.issued.lock().unwrap().push(session.clone());
                Ok(())
            })
        }

        fn changed<'a>(&'a self, changes: &'a [Change]) -> BoxFuture<'a, Result<(), StoreError>> {
            Box::pin(async move {
                self.answer()?;
                self.changes.lock().unwrap().extend_from_slice(changes);
                Ok(())
            })
        }
    }

    /// The example tenant's whole directory, as file mode reads it.
    fn acme() -> Directory {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/tenant");
        Directory::load(&dir).expect("the example tenant loads")
    }

    /// Sessions held with a fake keeper, held up against `directory`.
    async fn held(directory: Option<Directory>) -> (Sessions, Arc<Fake>) {
        let sessions = Sessions::new(TTL, directory.map(Arc::new));
        let fake = Arc::new(Fake::default());
        sessions.hold(fake.clone(), Vec::new(), Utc::now()).await;
        (sessions, fake)
    }

    fn caller(person: &str, roles: &[Role]) -> Caller {
        Caller {
            person: person.into(),
            roles: roles.iter().copied().collect(),
        }
    }

    /// Checked against the tenant's files: nothing to re-check.
    fn from_files(person: &str) -> Verified {
        Verified {
            caller: caller(person, &[Role::Agent]),
            recheck: None,
            until: None,
        }
    }

    /// Checked by the configuration server, which gave `token`.
    fn from_server(person: &str, roles: &[Role]) -> Verified {
        Verified {
            caller: caller(person, roles),
            recheck: Some(Token::from(SecretString::from(format!("{person}-token")))),
            until: None,
        }
    }

    fn whoami(person: Option<&str>, roles: &[Role]) -> Whoami {
        Whoami {
            application: None,
            person: person.map(str::to_owned),
            access_groups: BTreeSet::new(),
            roles: roles.iter().copied().collect(),
            revision: 2,
        }
    }

    async fn issue(sessions: &Sessions, verified: Verified, now: DateTime<Utc>) -> String {
        let (token, _) = sessions
            .issue(verified, sessions.round(), now)
            .await
            .expect("issued");
        token
    }

    /// A row as the database would hand it back.
    fn stored(
        token: &str,
        person: &str,
        roles: &[&str],
        expires_at: DateTime<Utc>,
    ) -> StoredSession {
        StoredSession {
            digest: digest(token).to_vec(),
            person: person.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            issued_at: expires_at - chrono::Duration::seconds(60),
            expires_at,
            revoked_at: None,
        }
    }

    fn random_token() -> String {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        hex::encode(bytes)
    }

    #[tokio::test]
    async fn tokens_are_random_and_expire() {
        let (sessions, _) = held(None).await;
        let now = Utc::now();
        let (a, expires) = sessions
            .issue(from_files("anna"), sessions.round(), now)
            .await
            .unwrap();
        let b = issue(&sessions, from_files("anna"), now).await;
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(sessions.caller(&a, now), Ok(caller("anna", &[Role::Agent])));
        assert_eq!(
            sessions.caller(&a, expires),
            Err(Refusal::Unknown),
            "expired at its expiry"
        );
        let mut forged = a.clone();
        forged.replace_range(0..1, if a.starts_with('0') { "1" } else { "0" });
        assert_eq!(sessions.caller(&forged, now), Err(Refusal::Unknown));
        assert_eq!(sessions.caller("", now), Err(Refusal::Unknown));
    }

    #[tokio::test]
    async fn one_instance_does_not_know_another_s_tokens() {
        let ((sales, _), (support, _)) = (held(None).await, held(None).await);
        let token = issue(&sales, from_files("anna"), Utc::now()).await;
        assert_eq!(support.caller(&token, Utc::now()), Err(Refusal::Unknown));
    }

    #[tokio::test]
    async fn the_database_keeps_the_digest_before_the_token_is_handed_out() {
        let (sessions, fake) = held(None).await;
        let now = Utc::now();
        let (token, expires_at) = sessions
            .issue(
                from_server("anna", &[Role::Agent, Role::Reporter]),
                sessions.round(),
                now,
            )
            .await
            .unwrap();
        let kept = fake.issued.lock().unwrap().clone();
        assert_eq!(
            kept,
            [StoredSession {
                digest: Sha256::digest(token.as_bytes()).to_vec(),
                person: "anna".into(),
                roles: vec!["agent".into(), "reporter".into()],
                issued_at: now,
                expires_at,
                revoked_at: None,
            }],
            "the digest, never the token nor the configuration server's"
        );

        // Not kept: not handed out, not known.
        fake.failing.store(true, Ordering::Relaxed);
        let refused = sessions
            .issue(from_files("arno"), sessions.round(), now)
            .await;
        assert!(matches!(refused, Err(IssueError::Store(_))), "{refused:?}");
        assert_eq!(sessions.lock().live.len(), 1);
    }

    #[tokio::test]
    async fn without_the_lease_no_session_is_issued_and_no_token_judged() {
        let sessions = Sessions::new(TTL, None);
        let now = Utc::now();
        let refused = sessions
            .issue(from_files("anna"), sessions.round(), now)
            .await;
        assert!(matches!(refused, Err(IssueError::NotActive)), "{refused:?}");
        assert!(!sessions.is_kept());
        assert_eq!(
            sessions.caller(&random_token(), now),
            Err(Refusal::NotActive),
            "a backup cannot tell a token it does not know from a bad one"
        );
        assert_eq!(sessions.caller("short", now), Err(Refusal::Unknown));

        sessions
            .hold(Arc::new(Fake::default()), Vec::new(), now)
            .await;
        assert!(sessions.is_kept());
        let token = issue(&sessions, from_files("anna"), now).await;
        assert!(sessions.caller(&token, now).is_ok());
        assert_eq!(sessions.caller(&random_token(), now), Err(Refusal::Unknown));

        sessions.release();
        let refused = sessions
            .issue(from_files("anna"), sessions.round(), now)
            .await;
        assert!(matches!(refused, Err(IssueError::NotActive)), "{refused:?}");
    }

    #[tokio::test]
    async fn a_session_does_not_outlive_the_configuration_server_s_token() {
        let (sessions, _) = held(None).await;
        let now = Utc::now();
        let until = now + chrono::Duration::seconds(30);
        let verified = Verified {
            until: Some(until),
            ..from_server("anna", &[Role::Agent])
        };
        let (_, expires_at) = sessions
            .issue(verified, sessions.round(), now)
            .await
            .unwrap();
        assert_eq!(expires_at, until);
    }

    #[test]
    fn what_the_configuration_server_says_of_a_session() {
        let agent = [Role::Agent];
        assert_eq!(
            verdict("anna", Ok(whoami(Some("anna"), &agent))),
            Verdict::Keep(agent.into())
        );
        assert_eq!(
            verdict("anna", Ok(whoami(Some("anna"), &[]))),
            Verdict::End("no role remains".into())
        );
        assert!(matches!(
            verdict("anna", Ok(whoami(None, &agent))),
            Verdict::End(_)
        ));
        assert!(matches!(
            verdict("anna", Ok(whoami(Some("arno"), &agent))),
            Verdict::End(_)
        ));
        let revoked = ClientError::Refused("the session was revoked".into());
        assert_eq!(
            verdict("anna", Err(revoked)),
            Verdict::End("the session was revoked".into())
        );
        let unexpected = ClientError::Unexpected {
            status: 500,
            body: String::new(),
        };
        assert_eq!(verdict("anna", Err(unexpected)), Verdict::Unanswered);
    }

    #[test]
    fn what_the_directory_says_of_a_session() {
        let whole = acme();
        assert_eq!(held_up("anna", &whole), Verdict::Keep([Role::Agent].into()));
        assert_eq!(
            held_up("admin", &whole),
            Verdict::Keep([Role::Admin].into())
        );
        assert!(matches!(held_up("nobody", &whole), Verdict::End(_)));
        assert_eq!(
            held_up("svc-sales", &whole),
            Verdict::End("no role remains".into())
        );
        // What the sales instance reads: its own folder.
        let read = whole.filtered_for("svc-sales");
        assert_eq!(held_up("anna", &read), Verdict::Keep([Role::Agent].into()));
        for unread in ["admin", "rita", "gateway", "bea"] {
            assert!(
                matches!(held_up(unread, &read), Verdict::End(_)),
                "{unread} cannot be confirmed"
            );
        }
    }

    #[tokio::test]
    async fn a_recheck_narrows_ends_or_keeps_each_session() {
        let (sessions, fake) = held(None).await;
        let now = Utc::now();
        let start = sessions.round();
        let both = [Role::Agent, Role::Reporter];
        let (anna, _) = sessions
            .issue(from_server("anna", &both), start, now)
            .await
            .unwrap();
        let (arno, _) = sessions
            .issue(from_server("arno", &[Role::Agent]), start, now)
            .await
            .unwrap();
        let (rita, _) = sessions
            .issue(from_server("rita", &[Role::Reporter]), start, now)
            .await
            .unwrap();
        let (bea, _) = sessions.issue(from_files("bea"), start, now).await.unwrap();

        let (round, held_up) = sessions.begin_round(Arc::new(acme()));
        assert_eq!(
            held_up,
            [(digest(&bea), Verdict::Keep([Role::Agent].into()))],
            "bea is held up against the directory"
        );
        sessions.settle(round, held_up, now).await;
        let mut due: Vec<String> = sessions.due(round).into_iter().map(|d| d.1).collect();
        due.sort();
        assert_eq!(
            due,
            ["anna", "arno", "rita"],
            "those with a token on the configuration server are asked of it"
        );
        sessions
            .settle(
                round,
                vec![
                    (digest(&anna), Verdict::Keep([Role::Agent].into())),
                    (digest(&arno), Verdict::End("revoked".into())),
                    (digest(&rita), Verdict::Unanswered),
                ],
                now,
            )
            .await;
        assert_eq!(
            fake.changes(),
            [
                Change::Roles(digest(&anna), [Role::Agent].into()),
                Change::Ended(digest(&arno), now)
            ],
            "kept"
        );
        assert_eq!(
            sessions.caller(&anna, now),
            Ok(caller("anna", &[Role::Agent]))
        );
        assert_eq!(sessions.caller(&arno, now), Err(Refusal::Revoked));
        assert_eq!(
            sessions.caller(&rita, now),
            Ok(caller("rita", &[Role::Reporter])),
            "kept while unanswered"
        );
        assert_eq!(
            sessions.caller(&bea, now),
            Ok(caller("bea", &[Role::Agent]))
        );
        let due: Vec<String> = sessions.due(round).into_iter().map(|d| d.1).collect();
        assert_eq!(due, ["rita"], "the unanswered one is still due");
    }

    #[tokio::test]
    async fn a_log_in_checked_before_a_round_began_is_rechecked_in_it() {
        let (sessions, _) = held(None).await;
        let now = Utc::now();
        let before = sessions.round();
        let (round, _) = sessions.begin_round(Arc::new(acme()));
        // Its credentials were checked against the revision before.
        let (late, _) = sessions
            .issue(from_server("anna", &[Role::Agent]), before, now)
            .await
            .unwrap();
        // Its credentials were checked after the round began.
        let (fresh, _) = sessions
            .issue(from_server("arno", &[Role::Agent]), round, now)
            .await
            .unwrap();
        let due: Vec<Digest> = sessions.due(round).into_iter().map(|d| d.0).collect();
        assert_eq!(due, [digest(&late)]);
        assert!(!due.contains(&digest(&fresh)));
    }

    #[tokio::test]
    async fn a_revoked_token_is_refused_as_such_until_it_would_have_expired() {
        let (sessions, _) = held(None).await;
        let now = Utc::now();
        let (anna, expires_at) = sessions
            .issue(from_server("anna", &[Role::Agent]), sessions.round(), now)
            .await
            .unwrap();
        let (round, _) = sessions.begin_round(Arc::new(acme()));
        sessions
            .settle(
                round,
                vec![(digest(&anna), Verdict::End("gone".into()))],
                now,
            )
            .await;
        assert_eq!(sessions.caller(&anna, now), Err(Refusal::Revoked));
        assert_eq!(sessions.caller(&anna, expires_at), Err(Refusal::Unknown));
        // Forgotten by then.
        issue(&sessions, from_files("bea"), expires_at).await;
        assert!(sessions.lock().revoked.is_empty());
    }

    #[tokio::test]
    async fn restored_sessions_are_held_up_against_the_directory_read() {
        let now = Utc::now();
        let later = now + chrono::Duration::seconds(60);
        let [anna, rita, arno, ended, expired] = std::array::from_fn(|_| random_token());
        let mut revoked = stored(&ended, "arno", &["agent"], later);
        revoked.revoked_at = Some(now);
        let mut unreadable = stored(&random_token(), "anna", &["agent"], later);
        unreadable.digest.truncate(4);
        let rows = vec![
            stored(&anna, "anna", &["agent", "reporter"], later),
            stored(&rita, "rita", &["reporter"], later),
            stored(&arno, "arno", &["agent", "a-role-to-come"], later),
            revoked,
            stored(&expired, "anna", &["agent"], now),
            unreadable,
        ];
        // As the sales instance reads the tenant from the configuration
        // server.
        let sessions = Sessions::new(TTL, Some(Arc::new(acme().filtered_for("svc-sales"))));
        let fake = Arc::new(Fake::default());
        let restored = sessions.hold(fake.clone(), rows, now).await;
        assert_eq!(
            restored,
            Restored {
                live: 2,
                revoked: 1,
                ended: 1
            }
        );
        assert_eq!(
            sessions.caller(&anna, now),
            Ok(caller("anna", &[Role::Agent])),
            "the reporters' group is not read: that role is dropped"
        );
        assert_eq!(
            sessions.caller(&arno, now),
            Ok(caller("arno", &[Role::Agent]))
        );
        assert_eq!(
            sessions.caller(&rita, now),
            Err(Refusal::Revoked),
            "a person this instance does not read cannot be confirmed"
        );
        assert_eq!(sessions.caller(&ended, now), Err(Refusal::Revoked));
        assert_eq!(sessions.caller(&expired, now), Err(Refusal::Unknown));
        assert_eq!(
            fake.changes(),
            [
                Change::Roles(digest(&anna), [Role::Agent].into()),
                Change::Ended(digest(&rita), now),
            ]
        );
        assert!(
            sessions.due(Round(1)).is_empty(),
            "nothing to ask the server"
        );
    }

    #[tokio::test]
    async fn a_restored_session_follows_each_revision() {
        let now = Utc::now();
        let later = now + chrono::Duration::seconds(60);
        let (anna, arno) = (random_token(), random_token());
        let sessions = Sessions::new(TTL, None);
        let fake = Arc::new(Fake::default());
        let rows = vec![
            stored(&anna, "anna", &["agent"], later),
            stored(&arno, "arno", &["agent"], later),
        ];
        let restored = sessions.hold(fake.clone(), rows, now).await;
        assert_eq!(restored.live, 2, "no directory yet: taken as kept");
        assert_eq!(
            sessions.caller(&anna, now),
            Ok(caller("anna", &[Role::Agent]))
        );

        // A revision: anna out of the sales agents, arno now a reporter too.
        let mut directory = acme();
        let agents = directory.access_groups.get_mut("sales-agents").unwrap();
        agents.members.remove("anna");
        let reporters = directory.access_groups.get_mut("reporters").unwrap();
        reporters.members.insert("arno".into());
        let (round, held_up) = sessions.begin_round(Arc::new(directory));
        sessions.settle(round, held_up, now).await;
        assert_eq!(sessions.caller(&anna, now), Err(Refusal::Revoked));
        let both = [Role::Agent, Role::Reporter];
        assert_eq!(sessions.caller(&arno, now), Ok(caller("arno", &both)));
        let mut changes = fake.changes();
        changes.sort_by_key(|c| matches!(c, Change::Roles(..)));
        assert_eq!(
            changes,
            [
                Change::Ended(digest(&anna), now),
                Change::Roles(digest(&arno), both.into()),
            ]
        );

        // The next: arno deleted.
        let mut directory = acme();
        directory.persons.remove("arno");
        let (round, held_up) = sessions.begin_round(Arc::new(directory));
        sessions.settle(round, held_up, now).await;
        assert_eq!(fake.changes()[2..], [Change::Ended(digest(&arno), now)]);
        assert_eq!(sessions.caller(&arno, now), Err(Refusal::Revoked));
    }

    #[tokio::test]
    async fn an_end_the_database_did_not_take_applies_and_is_kept_with_the_next() {
        let (sessions, fake) = held(None).await;
        let now = Utc::now();
        let anna = issue(&sessions, from_server("anna", &[Role::Agent]), now).await;
        let arno = issue(&sessions, from_server("arno", &[Role::Agent]), now).await;
        let (round, _) = sessions.begin_round(Arc::new(acme()));
        fake.failing.store(true, Ordering::Relaxed);
        let gone = vec![(digest(&anna), Verdict::End("gone".into()))];
        sessions.settle(round, gone, now).await;
        assert_eq!(fake.changes(), []);
        assert_eq!(
            sessions.caller(&anna, now),
            Err(Refusal::Revoked),
            "ended all the same"
        );

        fake.failing.store(false, Ordering::Relaxed);
        let gone = vec![(digest(&arno), Verdict::End("gone".into()))];
        sessions.settle(round, gone, now).await;
        assert_eq!(
            fake.changes(),
            [
                Change::Ended(digest(&anna), now),
                Change::Ended(digest(&arno), now)
            ]
        );
        assert!(sessions.lock().unwritten.is_empty());
    }
}
