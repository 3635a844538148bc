//! The tenant's configuration server (`ixs config-server`).
//!
//! It loads the tenant's directory from its TOML files, reloads it when a
//! file changes or on request (SIGHUP in `main`), and serves each caller
//! only what that caller may read: persons log in with their password,
//! interaction servers with their application's secret, and see the
//! directory as their log-on-as person does. Changes are pushed to watchers
//! as Server-Sent Events, filtered per caller.
//!
//! - [`settings`]: the server's own settings.
//! - [`revisions`]: the directory in force, its recent revisions, reloads.
//! - `poll`: noticing that the files changed.
//! - `sessions`: bearer tokens, expiry and revocation.
//! - [`subject`]: who logged in and what it sees.
//! - [`diff`]: what changed between two views of the directory.
//! - `http`: the API (its module documentation is the HTTP contract).
//!
//! Build, then run: [`ConfigServer::build`] loads the directory and binds
//! (port 0 allowed); [`ConfigServer::run`] serves until cancelled. Nothing is
//! global, so several config servers can run in one process.

pub mod diff;
mod http;
pub mod instances;
mod poll;
pub mod revisions;
mod sessions;
pub mod settings;
pub mod subject;

pub use diff::{ChangeKind, ObjectChange, ObjectKind, Objects};
pub use revisions::{LoadFailure, ProblemReport, ReloadOutcome, Revision, Trigger};
pub use settings::Settings;
pub use subject::{Identity, Subject};

use revisions::Revisions;
use sessions::Sessions;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, Span, info, info_span};

/// Longest pause between two sweeps of expired and revoked sessions.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// A built config server: directory loaded, listener bound, not yet serving.
pub struct ConfigServer {
    settings: Settings,
    listener: TcpListener,
    addr: SocketAddr,
    handle: ConfigServerHandle,
}

/// What the process wiring and tests hold on a config server: reloads and
/// the revision in force.
#[derive(Clone)]
pub struct ConfigServerHandle {
    revisions: Arc<Revisions>,
    sessions: Arc<Sessions>,
    /// Every log line of this server is inside it.
    span: Span,
}

impl ConfigServer {
    /// Loads the tenant's directory (revision 1) and binds the HTTP listener.
    /// A directory that does not load is an error naming every problem.
    pub async fn build(settings: Settings) -> anyhow::Result<ConfigServer> {
        settings.validate()?;
        let path = &settings.directory.path;
        let revisions = Revisions::load(path, settings.directory.history)
            .await
            .with_context(|| format!("cannot load the tenant directory {}", path.display()))?;
        let tenant = revisions.current().directory.tenant.name.clone();
        let span = info_span!("config_server", tenant = %tenant);
        let listener = TcpListener::bind(settings.listen.http)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen.http))?;
        let addr = listener.local_addr()?;
        span.in_scope(|| info!(%addr, directory = %path.display(), revision = 1, "built"));
        Ok(ConfigServer {
            handle: ConfigServerHandle {
                revisions: Arc::new(revisions),
                sessions: Arc::new(Sessions::new(settings.tokens.ttl)),
                span,
            },
            settings,
            listener,
            addr,
        })
    }

    /// The address the HTTP API listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn handle(&self) -> ConfigServerHandle {
        self.handle.clone()
    }

    /// Serves until `cancel` fires, then drains within the grace period:
    /// watch streams end, in-flight requests finish, the file poll stops.
    pub async fn run(self, cancel: CancellationToken) -> anyhow::Result<()> {
        let span = self.handle.span.clone();
        self.run_inner(cancel).instrument(span).await
    }

    async fn run_inner(self, cancel: CancellationToken) -> anyhow::Result<()> {
        let ConfigServer {
            settings,
            listener,
            addr,
            handle,
        } = self;
        let tracker = TaskTracker::new();
        tracker.spawn(
            poll::poll_files(
                handle.revisions.clone(),
                settings.directory.poll_interval,
                cancel.clone(),
            )
            .in_current_span(),
        );
        tracker.spawn(
            sweep_sessions(
                handle.revisions.clone(),
                handle.sessions.clone(),
                settings.tokens.ttl.min(SWEEP_EVERY),
                cancel.clone(),
            )
            .in_current_span(),
        );
        let checks = std::thread::available_parallelism().map_or(2, |n| n.get());
        let shared = Arc::new(http::Shared {
            revisions: handle.revisions.clone(),
            sessions: handle.sessions.clone(),
            instances: Default::default(),
            max_body_bytes: settings.listen.max_body_bytes,
            logins: Semaphore::new(checks),
            stop: cancel.clone(),
            span: Span::current(),
        });
        let server = crate::http_serve::serve(
            listener,
            http::router(shared),
            settings.listen.connection_limits(),
            cancel.clone(),
        );
        let mut server = tokio::spawn(server.in_current_span());
        info!(%addr, "serving");

        let outcome = tokio::select! {
            // The server ends on `cancel` too: a stop that was asked for
            // must win over the server's own end.
            biased;
            _ = cancel.cancelled() => Ok(()),
            ended = &mut server => match ended {
                Ok(()) if cancel.is_cancelled() => Ok(()),
                Ok(()) => Err(anyhow::anyhow!("the HTTP server stopped unexpectedly")),
                Err(e) => Err(anyhow::Error::new(e).context("the HTTP server task failed")),
            },
        };
        cancel.cancel();
        let deadline = tokio::time::Instant::now() + settings.shutdown.grace_period;
        // A server that ended on its own was awaited above already.
        if !server.is_finished() {
            crate::shutdown::join_http(&mut server, deadline).await;
        }
        crate::shutdown::drain(&tracker, deadline).await;
        info!("stopped");
        outcome
    }
}

impl ConfigServerHandle {
    /// Reloads the directory now, as a file change or SIGHUP would.
    pub async fn reload_now(&self) -> ReloadOutcome {
        self.reload(Trigger::Request).await
    }

    /// Reloads the directory, logging `trigger` as the reason.
    pub async fn reload(&self, trigger: Trigger) -> ReloadOutcome {
        self.revisions
            .reload(trigger)
            .instrument(self.span.clone())
            .await
    }

    /// The revision in force.
    pub fn current(&self) -> Arc<Revision> {
        self.revisions.current()
    }

    /// The last refused load, until a load is accepted.
    pub fn last_error(&self) -> Option<Arc<LoadFailure>> {
        self.revisions.last_error()
    }
}

/// Forgets expired and revoked sessions at least every `every` and after
/// each new revision, until `stop`.
async fn sweep_sessions(
    revisions: Arc<Revisions>,
    sessions: Arc<Sessions>,
    every: Duration,
    stop: CancellationToken,
) {
    let mut follow = revisions.subscribe();
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
            changed = follow.changed() => if changed.is_err() { return },
        }
        let current = revisions.current();
        let forgotten = sessions.sweep(&current.directory, tokio::time::Instant::now());
        if forgotten > 0 {
            info!(
                ended = forgotten,
                open = sessions.open(),
                revision = current.number,
                "sessions expired or revoked"
            );
        }
    }
}
