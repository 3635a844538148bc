//! The instance's sessions: a bearer token of its own for each person who
//! logged in. A token is 32 random bytes in hex, kept only as its SHA-256
//! digest; it expires, and belongs to the instance that issued it.
//!
//! When the configuration server checked the password, the session keeps
//! the person's own token on that server (a secret, in memory only), and
//! after each new revision the instance asks the server again who she is
//! ([`Sessions::recheck`]):
//! - the server refuses her token (her password changed, she was deleted,
//!   or the server restarted and forgot its sessions): the session ends,
//!   and its token is refused as revoked;
//! - her roles changed: the session takes the new ones; with none left, it
//!   ends;
//! - the server does not answer: the sessions stay as they are until it
//!   answers again.
//!
//! In file mode the tenant's files do not change while the instance runs,
//! so there is nothing to re-check.

use super::auth::Caller;
use crate::config_client::{ClientError, ConfigClient, Token, Whoami};
use crate::directory::Role;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use rand::RngCore;
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tracing::{info, warn};

/// How many sessions are re-checked at once, so that a revision does not
/// flood the configuration server.
const RECHECKS_AT_ONCE: usize = 8;

type Digest = [u8; 32];

fn digest(token: &str) -> Digest {
    Sha256::digest(token.as_bytes()).into()
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
}

impl Table {
    fn forget_expired(&mut self, now: DateTime<Utc>) {
        self.live.retain(|_, s| s.expires_at > now);
        self.revoked.retain(|_, expires_at| *expires_at > now);
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

/// A session to re-check: its digest, its person and her token.
type Due = (Digest, String, Token);

/// The instance's sessions; one per instance, never shared with another.
#[derive(Debug)]
pub struct Sessions {
    ttl: Duration,
    table: Mutex<Table>,
}

impl Sessions {
    pub fn new(ttl: Duration) -> Self {
        Sessions {
            ttl,
            table: Mutex::new(Table::default()),
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

    /// A new token for `verified`, whose credentials began to be checked at
    /// `since`, and when it expires.
    pub fn issue(
        &self,
        verified: Verified,
        since: Round,
        now: DateTime<Utc>,
    ) -> (String, DateTime<Utc>) {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = hex::encode(bytes);
        let mut expires_at = now + chrono::Duration::from_std(self.ttl).unwrap_or_default();
        if let Some(until) = verified.until {
            expires_at = expires_at.min(until);
        }
        let session = Session {
            caller: verified.caller,
            expires_at,
            recheck: verified.recheck,
            checked: since,
        };
        let mut table = self.lock();
        table.forget_expired(now);
        table.live.insert(digest(&token), session);
        (token, expires_at)
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
            _ => Err(Refusal::Unknown),
        }
    }

    /// Asks the configuration server again who each session's person is,
    /// a few at a time, and ends or narrows the sessions accordingly. Called
    /// after each new revision is in force.
    pub async fn recheck(&self, client: &ConfigClient) {
        let round = self.begin_round();
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
            self.settle(round, verdicts, Utc::now());
            if !answered {
                warn!(
                    "the configuration server does not answer; the sessions stay as they are \
                     until it does"
                );
                return;
            }
        }
    }

    fn begin_round(&self) -> Round {
        let mut table = self.lock();
        table.round = Round(table.round.0 + 1);
        table.round
    }

    /// The sessions `round` has not confirmed yet and can re-check.
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

    /// Applies what the configuration server said of each session.
    fn settle(&self, round: Round, verdicts: Vec<(Digest, Verdict)>, now: DateTime<Utc>) {
        let mut table = self.lock();
        table.forget_expired(now);
        for (digest, verdict) in verdicts {
            // Gone meanwhile: expired.
            let Some(session) = table.live.get_mut(&digest) else {
                continue;
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
                    table.live.remove(&digest);
                    table.revoked.insert(digest, expires_at);
                }
                Verdict::Unanswered => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

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

    #[test]
    fn tokens_are_random_and_expire() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let now = Utc::now();
        let (a, expires) = sessions.issue(from_files("anna"), sessions.round(), now);
        let (b, _) = sessions.issue(from_files("anna"), sessions.round(), now);
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

    #[test]
    fn one_instance_does_not_know_another_s_tokens() {
        let (sales, support) = (
            Sessions::new(Duration::from_secs(60)),
            Sessions::new(Duration::from_secs(60)),
        );
        let (token, _) = sales.issue(from_files("anna"), sales.round(), Utc::now());
        assert_eq!(support.caller(&token, Utc::now()), Err(Refusal::Unknown));
    }

    #[test]
    fn a_session_does_not_outlive_the_configuration_server_s_token() {
        let sessions = Sessions::new(Duration::from_secs(3600));
        let now = Utc::now();
        let until = now + chrono::Duration::seconds(60);
        let verified = Verified {
            until: Some(until),
            ..from_server("anna", &[Role::Agent])
        };
        let (_, expires_at) = sessions.issue(verified, sessions.round(), now);
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
    fn a_recheck_narrows_ends_or_keeps_each_session() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let now = Utc::now();
        let start = sessions.round();
        let both = [Role::Agent, Role::Reporter];
        let (anna, _) = sessions.issue(from_server("anna", &both), start, now);
        let (arno, _) = sessions.issue(from_server("arno", &[Role::Agent]), start, now);
        let (rita, _) = sessions.issue(from_server("rita", &[Role::Reporter]), start, now);
        let (bea, _) = sessions.issue(from_files("bea"), start, now);

        let round = sessions.begin_round();
        let mut due: Vec<String> = sessions.due(round).into_iter().map(|d| d.1).collect();
        due.sort();
        assert_eq!(
            due,
            ["anna", "arno", "rita"],
            "file-mode sessions are not due"
        );
        sessions.settle(
            round,
            vec![
                (digest(&anna), Verdict::Keep([Role::Agent].into())),
                (digest(&arno), Verdict::End("revoked".into())),
                (digest(&rita), Verdict::Unanswered),
            ],
            now,
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

    #[test]
    fn a_log_in_checked_before_a_round_began_is_rechecked_in_it() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let now = Utc::now();
        let before = sessions.round();
        let round = sessions.begin_round();
        // Its credentials were checked against the revision before.
        let (late, _) = sessions.issue(from_server("anna", &[Role::Agent]), before, now);
        // Its credentials were checked after the round began.
        let (fresh, _) = sessions.issue(from_server("arno", &[Role::Agent]), round, now);
        let due: Vec<Digest> = sessions.due(round).into_iter().map(|d| d.0).collect();
        assert_eq!(due, [digest(&late)]);
        assert!(!due.contains(&digest(&fresh)));
    }

    #[test]
    fn a_revoked_token_is_refused_as_such_until_it_would_have_expired() {
        let ttl = Duration::from_secs(60);
        let sessions = Sessions::new(ttl);
        let now = Utc::now();
        let (anna, expires_at) =
            sessions.issue(from_server("anna", &[Role::Agent]), sessions.round(), now);
        let round = sessions.begin_round();
        sessions.settle(
            round,
            vec![(digest(&anna), Verdict::End("gone".into()))],
            now,
        );
        assert_eq!(sessions.caller(&anna, now), Err(Refusal::Revoked));
        assert_eq!(sessions.caller(&anna, expires_at), Err(Refusal::Unknown));
        // Forgotten by then.
        sessions.issue(from_files("bea"), sessions.round(), expires_at);
        assert!(sessions.lock().revoked.is_empty());
    }
}
