//! Wiring of one instance: build (connect, migrate, bind — port 0 allowed),
//! then run until cancelled, then shut down gracefully within the grace
//! period.
//!
//! Several daemons can run in one process: nothing here is global.

mod routing;
pub mod scope;
mod scope_watch;
mod stats;

use crate::api::{self, InDatabase, Limits, Sessions, Shared, Verifier};
use crate::config_client::{ConfigClient, Token};
use crate::directory::Directory;
use crate::engine::{Engine, Served};
use crate::live::{self, ScopeDesk, ScopeState};
use crate::metrics::Metrics;
use crate::settings::{OnLeaseHeld, Settings};
use crate::store::{
    Feed, Fence, LeaseHolder, LeaseOutcome, PgStore, RetentionPolicy, Store, Writer, WriterStats,
    run_retention,
};
use crate::telemetry::error_chain;
use anyhow::Context;
use chrono::{SubsecRound, Utc};
use secrecy::SecretString;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, Span, error, info, info_span, warn};

/// Why an instance stopped other than by being asked to.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(
        "database {database} is {outcome}: another ixs instance is active on it. Stop it, or set \
         database.on_lease_held = \"wait\" to run this one as its hot backup"
    )]
    LeaseHeld {
        database: String,
        outcome: LeaseOutcome,
    },
    #[error("the database lease was lost to another holder; this instance stopped writing")]
    LeaseLost,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Connections of the write pool: the writer's, the lease keeper's, and one
/// for retention.
const WRITE_POOL: u32 = 3;

/// What runs while the lease is held.
struct Held {
    fence: Fence,
    /// Cancelled when the lease is lost or the writer is fenced.
    lost: CancellationToken,
    stop_background: CancellationToken,
    writer: tokio::task::JoinHandle<()>,
}

/// A built instance, bound and connected, not yet serving.
pub struct Daemon {
    settings: Settings,
    listener: Option<TcpListener>,
    addr: SocketAddr,
    /// Pool for the API's reads.
    store: Arc<PgStore>,
    /// Separate pool for the writer, the lease keeper and retention, so that
    /// a burst of reads never makes a commit or a lease renewal wait.
    writes: Arc<PgStore>,
    /// The scope to start with.
    scope: ScopeState,
    /// The configuration server and the application's secret, when the
    /// scope comes from one.
    config_server: Option<(ConfigClient, SecretString, Option<Token>)>,
    /// Checks persons' credentials at log-in.
    verifier: Verifier,
    /// Persons' sessions, kept in the database while the lease is held.
    sessions: Arc<Sessions>,
    span: Span,
}

impl Daemon {
    /// Binds the HTTP listener, then connects to the database (creating it
    /// if the settings say so), applies migrations and loads the scope.
    /// The listener comes first: a port already in use stops the start
    /// before anything is created.
    pub async fn build(settings: Settings) -> anyhow::Result<Daemon> {
        settings.validate()?;
        let span = info_span!("instance", instance = %settings.instance.name);
        async move {
            let database = settings.database.describe();
            let secret = match &settings.config_server.url {
                Some(_) => Some(settings.config_server.secret()?),
                None => None,
            };
            let listener = TcpListener::bind(settings.listen.http)
                .await
                .with_context(|| format!("cannot listen on {}", settings.listen.http))?;
            let addr = listener.local_addr()?;
            let store = open_database(settings.database.max_connections, &settings).await?;
            let writes = PgStore::connect(
                settings.database.connect_options()?,
                WRITE_POOL,
                settings.database.acquire_timeout,
            )
            .await
            .with_context(|| format!("cannot connect to database {database}"))?;
            // The directory sessions restored from the database are held up
            // against: what the instance reads of the tenant.
            let (scope, config_server, verifier, directory) =
                match (&settings.config_server.url, secret) {
                    (Some(url), Some(secret)) => {
                        let client = ConfigClient::new(url, settings.config_server.timeout)?
                            .announcing(&settings.instance.name, &settings.listen.advertised(addr));
                        let initial =
                            scope_watch::initial(&settings, &client, &secret, &writes).await?;
                        let verifier = Verifier::Server(client.clone());
                        (
                            initial.scope,
                            Some((client, secret, initial.token)),
                            verifier,
                            initial.directory.map(Arc::new),
                        )
                    }
                    _ => {
                        let path = settings
                            .config_server
                            .directory
                            .as_deref()
                            .unwrap_or(Path::new("."));
                        let directory = Directory::load(path).with_context(|| {
                            format!("the tenant directory {} is invalid", path.display())
                        })?;
                        let scope = scope::from_directory(&settings, &directory)?;
                        let directory = Arc::new(directory);
                        let verifier = Verifier::directory(directory.clone());
                        (scope, None, verifier, Some(directory))
                    }
                };
            let sessions = Arc::new(Sessions::new(settings.auth.session_ttl, directory));
            info!(
                application = %scope.identity.application,
                person = ?scope.identity.person,
                processes = ?scope.served.processes.keys().collect::<Vec<_>>(),
                revision = ?scope.revision,
                source = %scope.source,
                "scope computed"
            );
            if let Some(reason) = &scope.problem {
                warn!(%reason, "serving nothing");
            }
            info!(%addr, %database, "built");
            Ok(Daemon {
                settings,
                listener: Some(listener),
                addr,
                store: Arc::new(store),
                writes: Arc::new(writes),
                scope,
                config_server,
                verifier,
                sessions,
                span: Span::current(),
            })
        }
        .instrument(span)
        .await
    }

    /// The address the HTTP API listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `cancel` fires, then drains: in-flight requests finish,
    /// the writer flushes, the lease is released — all within the grace
    /// period.
    pub async fn run(self, cancel: CancellationToken) -> Result<(), RunError> {
        let span = self.span.clone();
        self.run_inner(cancel).instrument(span).await
    }

    async fn run_inner(mut self, cancel: CancellationToken) -> Result<(), RunError> {
        let settings = &self.settings;
        let tracker = TaskTracker::new();
        let (live_tx, live_rx) = watch::channel(None);
        let writer_stats = Arc::new(WriterStats::default());
        let desk = Arc::new(ScopeDesk::new(self.scope.clone()));
        let sessions = self.sessions.clone();
        let feed = Feed::new(settings.reporting.feed_buffer);
        let board = Arc::new(crate::stats::Board::default());
        let shared = Arc::new(Shared {
            scope: desk.subscribe(),
            store: (*self.store).clone(),
            live: live_rx,
            limits: Limits {
                max_body_bytes: settings.listen.max_body_bytes,
                commit_timeout: settings.listen.commit_timeout,
                min_priority: settings.routing.min_priority,
                max_priority: settings.routing.max_priority,
                snapshot_default: settings.routing.snapshot_default,
                snapshot_max: settings.routing.snapshot_max,
            },
            feed: feed.clone(),
            metrics: Arc::new(Metrics::new(&settings.instance.name, writer_stats.clone())),
            sessions: sessions.clone(),
            verifier: self.verifier.clone(),
            stats: board.clone(),
        });

        // HTTP serves from the start: /healthz answers while waiting for the
        // lease, and /readyz says why it is not ready.
        let http_stop = CancellationToken::new();
        let listener = self.listener.take().context("the daemon already ran")?;
        let server = crate::http_serve::serve(
            listener,
            api::router(shared),
            settings.listen.connection_limits(),
            http_stop.clone(),
        );
        let mut http = tokio::spawn(server.in_current_span());

        // Follow the configuration server for as long as the instance runs,
        // standby included, so that a backup takes over with a current scope.
        let stop_scope = CancellationToken::new();
        let mut watching = None;
        if let Some((client, secret, token)) = self.config_server.clone() {
            let watcher = scope_watch::ScopeWatcher {
                settings: self.settings.clone(),
                client,
                secret,
                token,
                desk: desk.clone(),
                store: self.writes.clone(),
                sessions,
            };
            watching = Some(tracker.spawn(watcher.run(stop_scope.clone()).in_current_span()));
        }

        let held = self
            .hold(&cancel, &tracker, &live_tx, &desk, writer_stats, &feed)
            .await;
        if let Ok(Some(held)) = &held {
            // The live statistics: the journal of the window, then its
            // tail, for as long as the lease is held.
            tracker.spawn(
                stats::StatsTask {
                    store: self.store.clone(),
                    feed: feed.clone(),
                    board: board.clone(),
                    window: settings.reporting.window,
                }
                .run(held.stop_background.clone())
                .in_current_span(),
            );
        }
        let result = match &held {
            Ok(Some(held)) => {
                info!("serving");
                tokio::select! {
                    _ = cancel.cancelled() => Ok(()),
                    _ = held.lost.cancelled() => Err(RunError::LeaseLost),
                }
            }
            Ok(None) => Ok(()),
            Err(_) => Ok(()),
        };

        // Drain, in order: stop accepting and let in-flight requests finish
        // (they still need the engine and the writer); then let the live
        // task and the writer flush, and a re-check of the sessions under
        // way keep what it decided; then give the lease up.
        let deadline = tokio::time::Instant::now() + settings.shutdown.grace_period;
        // The event feed's streams never end by themselves.
        feed.close();
        http_stop.cancel();
        crate::shutdown::join_http(&mut http, deadline).await;
        live_tx.send_replace(None);
        stop_scope.cancel();
        let result = match held {
            Ok(Some(held)) => {
                held.stop_background.cancel();
                let flushed = tokio::time::timeout_at(deadline, held.writer).await;
                if let Some(watching) = watching {
                    let _ = tokio::time::timeout_at(deadline, watching).await;
                }
                self.sessions.release();
                match flushed {
                    Ok(_) if result.is_ok() => self.release(&held.fence).await,
                    Ok(_) => {}
                    Err(_) => warn!(
                        "the writer did not flush within the grace period; \
                         uncommitted changes were not acknowledged"
                    ),
                }
                result
            }
            Ok(None) => result,
            Err(e) => Err(e),
        };
        crate::shutdown::drain(&tracker, deadline).await;
        info!("stopped");
        result
    }

    /// Takes the lease (or waits for it), recovers the live state, and starts
    /// the engine, writer, lease keeper and retention. `None` if cancelled
    /// before the lease was had.
    async fn hold(
        &self,
        cancel: &CancellationToken,
        tracker: &TaskTracker,
        live_tx: &watch::Sender<Option<live::LiveHandle>>,
        desk: &Arc<ScopeDesk>,
        writer_stats: Arc<WriterStats>,
        feed: &Arc<Feed>,
    ) -> Result<Option<Held>, RunError> {
        let settings = &self.settings;
        let Some(fence) = self.take_lease(cancel).await? else {
            return Ok(None);
        };
        info!(epoch = fence.epoch, "holding the database lease");

        let (writer, writer_handle, undone) = Writer::new(
            self.writes.clone(),
            fence.clone(),
            settings.database.writer_queue,
            settings.database.writer_batch_max,
            writer_stats,
        );
        let writer = writer.with_feed(feed.publisher());
        let lost = CancellationToken::new();
        let writer = {
            let lost = lost.clone();
            tracker.spawn(
                async move {
                    if let Err(e) = writer.run().await {
                        error!(error = %e, "writer stopped");
                        lost.cancel();
                    }
                }
                .in_current_span(),
            )
        };

        // From here on the live task alone puts a proposed scope in force:
        // one proposed while recovering reaches it as a change.
        let proposals = desk.attach();
        let scope = proposals.borrow().clone();
        let recovered = match self
            .recover(scope.served.clone(), scope.routing.clone(), &writer_handle)
            .await
        {
            Ok(engine) => self.restore_sessions(&fence).await.map(|()| engine),
            Err(e) => Err(e),
        };
        let engine = match recovered {
            Ok(engine) => engine,
            Err(e) => {
                desk.detach();
                drop(writer_handle);
                let _ = writer.await;
                self.release(&fence).await;
                return Err(e.into());
            }
        };
        let live = live::spawn(
            live::Start {
                engine,
                scope,
                proposals,
                desk: desk.clone(),
                store: self.store.clone(),
                writer: writer_handle,
                undone,
            },
            settings.database.writer_queue,
            tracker,
            Span::current(),
        );
        live_tx.send_replace(Some(live));

        let stop_background = CancellationToken::new();
        tracker.spawn(
            keep_lease(
                self.writes.clone(),
                fence.clone(),
                settings.database.lease_ttl,
                settings.database.lease_renew,
                stop_background.clone(),
                lost.clone(),
            )
            .in_current_span(),
        );
        tracker.spawn(
            run_retention(
                self.writes.clone(),
                fence.clone(),
                RetentionPolicy {
                    stopped: settings.retention.stopped_interactions,
                    events: settings.retention.events,
                    batch: settings.retention.batch_size,
                    interval: settings.retention.interval,
                },
                stop_background.clone(),
            )
            .in_current_span(),
        );
        Ok(Some(Held {
            fence,
            lost,
            stop_background,
            writer,
        }))
    }

    /// Rebuilds the engine from the database: interactions, and agents
    /// logged in and ready as they were. Offers that were pending go back
    /// to their queues, durably, before anything is served.
    async fn recover(
        &self,
        served: Served,
        routing: Arc<crate::engine::routing::RoutingConfig>,
        writer: &crate::store::WriterHandle,
    ) -> anyhow::Result<Engine> {
        let processes: Vec<String> = served.processes.keys().cloned().collect();
        let recovered = self
            .store
            .load_live(&processes)
            .await
            .context("cannot load the live state")?;
        let agents = self
            .store
            .load_agents()
            .await
            .context("cannot load the agents' state")?;
        let count = recovered.len();
        let now = Utc::now().trunc_subsecs(6);
        let mut engine = Engine::with_routing(served, routing, now);
        engine.restore(recovered, agents, now);
        let changes = engine.take_changes();
        let requeued = changes.rows.len();
        // Durable before anything is served.
        writer
            .send(
                changes.rows,
                changes.events,
                changes.agents,
                (uuid::Uuid::nil(), false),
            )
            .await
            .await
            .map_err(|_| anyhow::anyhow!("the writer stopped during recovery"))?
            .context("cannot persist recovery")?;
        info!(live = count, requeued, "live state recovered");
        Ok(engine)
    }

    /// Takes over the sessions the database keeps, and keeps new ones
    /// there from now on.
    async fn restore_sessions(&self, fence: &Fence) -> anyhow::Result<()> {
        let now = Utc::now();
        let stored = self
            .store
            .load_sessions(now)
            .await
            .context("cannot load the persons' sessions")?;
        let keeper = Arc::new(InDatabase {
            store: (*self.store).clone(),
            fence: fence.clone(),
        });
        let restored = self.sessions.hold(keeper, stored, now).await;
        info!(
            live = restored.live,
            revoked = restored.revoked,
            ended = restored.ended,
            "sessions restored"
        );
        Ok(())
    }

    async fn release(&self, fence: &Fence) {
        match self.writes.release_lease(fence).await {
            Ok(()) => info!(epoch = fence.epoch, "database lease released"),
            Err(e) => {
                warn!(error = %error_chain(&e), "could not release the lease; it expires by itself")
            }
        }
    }

    /// The lease, or `None` if cancelled while waiting for it.
    async fn take_lease(&self, cancel: &CancellationToken) -> Result<Option<Fence>, RunError> {
        let settings = &self.settings.database;
        let holder = LeaseHolder::new(&self.settings.instance.name);
        let mut announced = false;
        loop {
            let outcome = match self.writes.acquire_lease(&holder, settings.lease_ttl).await {
                Ok(outcome) => outcome,
                Err(e) if e.is_transient() => {
                    warn!(error = %error_chain(&e), "cannot reach the database for the lease; retrying");
                    tokio::select! {
                        _ = cancel.cancelled() => return Ok(None),
                        _ = tokio::time::sleep(settings.lease_renew) => continue,
                    }
                }
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context("cannot take the lease")
                        .into());
                }
            };
            match outcome {
                LeaseOutcome::Acquired(fence) => return Ok(Some(fence)),
                held if settings.on_lease_held == OnLeaseHeld::Exit => {
                    return Err(RunError::LeaseHeld {
                        database: settings.describe(),
                        outcome: held,
                    });
                }
                held => {
                    if !announced {
                        info!(lease = %held, "standing by as a backup until the lease is free");
                        announced = true;
                    }
                    tokio::select! {
                        _ = cancel.cancelled() => return Ok(None),
                        _ = tokio::time::sleep(settings.lease_renew) => {}
                    }
                }
            }
        }
    }
}

/// Renews the lease every `renew` until stopped; cancels `lost` if another
/// holder took it.
async fn keep_lease<S: Store>(
    store: Arc<S>,
    fence: Fence,
    ttl: Duration,
    renew: Duration,
    stop: CancellationToken,
    lost: CancellationToken,
) {
    let mut tick = tokio::time::interval(renew);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match store.renew_lease(&fence, ttl).await {
            Ok(true) => {}
            Ok(false) => {
                error!(epoch = fence.epoch, "the database lease was taken over");
                lost.cancel();
                return;
            }
            Err(e) => warn!(error = %error_chain(&e), "cannot renew the lease; retrying"),
        }
    }
}

/// Cancels `cancel` on the first SIGTERM or SIGINT.
pub async fn shutdown_on_signals(cancel: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        error!("cannot install signal handlers; stop this process with SIGKILL");
        return;
    };
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    info!(signal = name, "shutting down");
    cancel.cancel();
}

/// Creates the database if the settings say so, and applies migrations.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    open_database(2, settings).await.map(drop)
}

/// Creates the database if the settings say so, connects a pool of
/// `connections` to it, and applies the migrations.
async fn open_database(connections: u32, settings: &Settings) -> anyhow::Result<PgStore> {
    let options = settings.database.connect_options()?;
    let database = settings.database.describe();
    if settings.database.create
        && PgStore::ensure_database(&options)
            .await
            .with_context(|| format!("cannot create database {database}"))?
    {
        info!(%database, "database created");
    }
    let store = PgStore::connect(options, connections, settings.database.acquire_timeout)
        .await
        .with_context(|| format!("cannot connect to database {database}"))?;
    store
        .migrate()
        .await
        .with_context(|| format!("cannot migrate database {database}"))?;
    Ok(store)
}
