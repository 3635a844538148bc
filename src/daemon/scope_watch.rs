//! Keeps the instance's scope in step with the configuration server: logs in
//! as the application, follows the watch stream with reconnect and backoff,
//! applies every new revision live, and keeps the last snapshot in the
//! instance's database for starts while the server is down.

use super::scope::{from_snapshot, nothing};
use crate::api::Sessions;
use crate::backoff::Backoff;
use crate::config_client::{ClientError, ConfigClient, Snapshot, Token, WatchEvent, Whoami};
use crate::directory::Directory;
use crate::live::{ScopeDesk, ScopeSource, ScopeState};
use crate::settings::Settings;
use crate::store::PgStore;
use crate::telemetry::error_chain;
use anyhow::Context;
use futures::StreamExt;
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often a refused application tries again, in case its secret is
/// restored in the tenant's files.
const REFUSED_RETRY: Duration = Duration::from_secs(5);

pub struct ScopeWatcher {
    pub settings: Settings,
    pub client: ConfigClient,
    pub secret: SecretString,
    /// The session `initial` opened, if any: the watcher starts with it
    /// rather than logging in again.
    pub token: Option<Token>,
    /// Where the scope each revision yields is proposed.
    pub desk: Arc<ScopeDesk>,
    pub store: Arc<PgStore>,
    /// Persons' sessions, re-checked after each revision against it.
    pub sessions: Arc<Sessions>,
}

enum Fetch {
    Refused(String),
    Unreachable(String),
}

impl From<ClientError> for Fetch {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Refused(reason) => Fetch::Refused(reason),
            other => Fetch::Unreachable(error_chain(&other)),
        }
    }
}

/// Where an instance starts from: its scope, the session `initial` opened
/// on the configuration server, and the directory the snapshot holds.
pub struct Initial {
    pub scope: ScopeState,
    pub token: Option<Token>,
    /// What the instance reads of the tenant; `None` when refused.
    pub directory: Option<Directory>,
}

/// The scope to start with: from the server if it answers in time (with the
/// session it opened), else from the cache in the database. Fails only when
/// neither has one.
pub async fn initial(
    settings: &Settings,
    client: &ConfigClient,
    secret: &SecretString,
    store: &PgStore,
) -> anyhow::Result<Initial> {
    let application = &settings.instance.application;
    let unreachable = match fetch(settings, client, secret).await {
        Ok((scope, token, (whoami, snapshot))) => {
            save_cache(store, application, &whoami, &snapshot).await;
            return Ok(Initial {
                scope,
                token: Some(token),
                directory: Some(snapshot.directory),
            });
        }
        Err(Fetch::Refused(reason)) => {
            let reason =
                format!("the configuration server refused application '{application}': {reason}");
            error!(%reason, "serving nothing until it is accepted");
            return Ok(Initial {
                scope: nothing(settings, ScopeSource::ConfigServer, reason),
                token: None,
                directory: None,
            });
        }
        Err(Fetch::Unreachable(reason)) => reason,
    };
    let cached = store
        .load_config_cache(application)
        .await
        .context("cannot read the cached configuration")?;
    let Some((revision, whoami, snapshot, saved_at)) = cached else {
        anyhow::bail!(
            "the configuration server is unreachable ({unreachable}) and this instance's \
             database holds no cached configuration yet: start the configuration server"
        );
    };
    let whoami: Whoami =
        serde_json::from_value(whoami).context("the cached identity is unreadable")?;
    let snapshot: Snapshot =
        serde_json::from_value(snapshot).context("the cached configuration is unreadable")?;
    warn!(revision, %saved_at, error = %unreachable,
        "the configuration server is unreachable; starting from the cached revision");
    Ok(Initial {
        scope: from_snapshot(settings, &whoami, &snapshot, ScopeSource::Cache)?,
        token: None,
        directory: Some(snapshot.directory),
    })
}

/// Logs in and reads identity and objects.
async fn fetch(
    settings: &Settings,
    client: &ConfigClient,
    secret: &SecretString,
) -> Result<(ScopeState, Token, (Whoami, Snapshot)), Fetch> {
    let token = client
        .login_application(&settings.instance.application, secret)
        .await?;
    let (state, raw) = read(settings, client, &token).await?;
    Ok((state, token, raw))
}

async fn read(
    settings: &Settings,
    client: &ConfigClient,
    token: &Token,
) -> Result<(ScopeState, (Whoami, Snapshot)), Fetch> {
    let whoami = client.whoami(token).await?;
    let snapshot = client.objects(token).await?;
    let state = from_snapshot(settings, &whoami, &snapshot, ScopeSource::ConfigServer)
        .map_err(|e| Fetch::Unreachable(format!("{e:#}")))?;
    Ok((state, (whoami, snapshot)))
}

impl ScopeWatcher {
    /// Follows the configuration server until cancelled.
    pub async fn run(self, cancel: CancellationToken) {
        let mut backoff = Backoff::new(MIN_BACKOFF, MAX_BACKOFF);
        let mut token = self.token.clone();
        loop {
            if cancel.is_cancelled() {
                return;
            }
            let current = match token.clone() {
                Some(token) => token,
                None => match self
                    .client
                    .login_application(&self.settings.instance.application, &self.secret)
                    .await
                {
                    Ok(t) => {
                        token = Some(t.clone());
                        t
                    }
                    Err(e) => {
                        let wait = self.failed(e.into(), &mut backoff).await;
                        if sleep_or_cancel(wait, &cancel).await {
                            return;
                        }
                        continue;
                    }
                },
            };
            if let Err(e) = self.refresh(&current).await {
                if self
                    .wait_to_retry(e, &mut token, &mut backoff, &cancel)
                    .await
                {
                    return;
                }
                continue;
            }
            let after = self.desk.proposed().revision.unwrap_or(0);
            let idle = self.settings.config_server.watch_idle_timeout;
            let stream = match self.client.watch(&current, after, idle).await {
                Ok(stream) => stream,
                Err(e) => {
                    if self
                        .wait_to_retry(e.into(), &mut token, &mut backoff, &cancel)
                        .await
                    {
                        return;
                    }
                    continue;
                }
            };
            backoff.reset();
            let mut stream = std::pin::pin!(stream);
            loop {
                let event = tokio::select! {
                    _ = cancel.cancelled() => return,
                    event = stream.next() => event,
                };
                match event {
                    Some(Ok(WatchEvent::Revision(_) | WatchEvent::Reset(_))) => {
                        if let Err(e) = self.refresh(&current).await {
                            if matches!(e, Fetch::Refused(_)) {
                                token = None;
                                break;
                            }
                            let wait = self.failed(e, &mut backoff).await;
                            if sleep_or_cancel(wait, &cancel).await {
                                return;
                            }
                            break;
                        }
                    }
                    Some(Ok(WatchEvent::Object { .. })) => {}
                    Some(Ok(WatchEvent::Revoked(reason))) => {
                        warn!(%reason, "the configuration server ended this instance's session");
                        token = None;
                        break;
                    }
                    Some(Err(e)) => {
                        warn!(error = %error_chain(&e), "the watch stream broke; reconnecting");
                        // Until a fresh read succeeds, the revision in force
                        // is no longer known to be the server's latest.
                        self.mark_cached(&error_chain(&e));
                        break;
                    }
                    None => break,
                }
            }
        }
    }

    /// After a call made with `token` failed: a refused token (not the
    /// application: e.g. the server restarted) is dropped so that the next
    /// round logs in again, soon; any other failure is recorded. Waits before
    /// the next try; true if cancelled meanwhile.
    async fn wait_to_retry(
        &self,
        failure: Fetch,
        token: &mut Option<Token>,
        backoff: &mut Backoff,
        cancel: &CancellationToken,
    ) -> bool {
        let wait = match failure {
            Fetch::Refused(_) => {
                *token = None;
                backoff.next_wait()
            }
            other => self.failed(other, backoff).await,
        };
        sleep_or_cancel(wait, cancel).await
    }

    /// Reads identity and objects and applies them if they changed.
    async fn refresh(&self, token: &Token) -> Result<(), Fetch> {
        let (state, (whoami, snapshot)) = read(&self.settings, &self.client, token).await?;
        let changed = {
            let current = self.desk.proposed();
            current.served != state.served
                || current.identity != state.identity
                || current.source != state.source
                || current.problem != state.problem
        };
        let revision = state.revision.unwrap_or(0);
        if changed {
            match &state.problem {
                // Why it serves nothing, as /readyz says it.
                Some(reason) => warn!(revision, %reason, "serving nothing"),
                None => info!(
                    revision,
                    processes = ?state.served.processes.keys().collect::<Vec<_>>(),
                    "configuration revision applied"
                ),
            }
        }
        self.desk.propose(state);
        self.sessions
            .recheck(&self.client, Arc::new(snapshot.directory.clone()))
            .await;
        save_cache(
            &self.store,
            &self.settings.instance.application,
            &whoami,
            &snapshot,
        )
        .await;
        Ok(())
    }

    /// Records a failure: a refusal empties the scope and says why; an
    /// unreachable server keeps the scope in force and marks it cached.
    /// Returns how long to wait before trying again.
    async fn failed(&self, failure: Fetch, backoff: &mut Backoff) -> Duration {
        match failure {
            Fetch::Refused(reason) => {
                let reason = format!(
                    "the configuration server refused application '{}': {reason}",
                    self.settings.instance.application
                );
                let already = self.desk.proposed().problem.as_deref() == Some(reason.as_str());
                if !already {
                    error!(%reason, "serving nothing until it is accepted");
                    let state = nothing(&self.settings, ScopeSource::ConfigServer, reason);
                    self.desk.propose(state);
                }
                REFUSED_RETRY
            }
            Fetch::Unreachable(reason) => {
                self.mark_cached(&reason);
                backoff.next_wait()
            }
        }
    }

    /// The configuration server cannot be followed now: the scope in force
    /// stays, marked as the cached revision.
    fn mark_cached(&self, reason: &str) {
        let current = self.desk.proposed();
        if current.source == ScopeSource::ConfigServer && current.problem.is_none() {
            warn!(error = %reason, revision = ?current.revision,
                "the configuration server is unreachable; keeping the revision in force");
            let mut cached = (*current).clone();
            cached.source = ScopeSource::Cache;
            self.desk.propose(cached);
        }
    }
}

/// Keeps the snapshot in the instance's database for a start while the
/// configuration server is down. Failing to is logged, not fatal.
async fn save_cache(store: &PgStore, application: &str, whoami: &Whoami, snapshot: &Snapshot) {
    let saved = store
        .save_config_cache(
            application,
            snapshot.revision,
            &serde_json::to_value(whoami).unwrap_or_default(),
            &serde_json::to_value(snapshot).unwrap_or_default(),
        )
        .await;
    if let Err(e) = saved {
        warn!(error = %error_chain(&e), "cannot cache the configuration");
    }
}

/// Sleeps `wait`; true if cancelled meanwhile.
async fn sleep_or_cancel(wait: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => true,
        _ = tokio::time::sleep(wait) => false,
    }
}
