//! Instance settings: one TOML file per instance, then `IXS__SECTION__KEY`
//! environment variables, validated into one typed struct at start.
//!
//! Nothing here reads the process environment by itself: the caller passes
//! the variables in, so tests build settings without touching it.

pub(crate) mod layered;
#[cfg(test)]
mod tests;

pub use layered::Layers;

use crate::http_serve::ConnectionLimits;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sqlx::postgres::PgConnectOptions;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// Why settings cannot be used: every problem found, each once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SettingsError {
    pub problems: Vec<Problem>,
}

impl SettingsError {
    /// `problems` in the order an operator reads them: the file's from top
    /// to bottom, then those of the file as a whole, then the environment's.
    pub fn new(mut problems: Vec<Problem>) -> SettingsError {
        problems.sort_by_key(|p| match &p.origin {
            Origin::File {
                line: Some(line), ..
            } => (0, *line, String::new()),
            Origin::File { line: None, .. } => (1, 0, String::new()),
            Origin::Env(var) => (2, 0, var.clone()),
            Origin::Code => (3, 0, String::new()),
        });
        SettingsError { problems }
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// Where a setting was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The settings file, at this line when the key is written in it.
    File { path: String, line: Option<usize> },
    /// An `IXS__…` environment variable.
    Env(String),
    /// Settings built in code.
    Code,
}

/// One thing wrong with the settings, displayed as
/// `file:line: key: reason` or `environment variable IXS__…: key: reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub origin: Origin,
    /// The key's full name (`database.lease_ttl`); empty for a problem of
    /// the whole file.
    pub key: String,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::File {
                path,
                line: Some(line),
            } => write!(f, "{path}:{line}: ")?,
            Origin::File { path, line: None } => write!(f, "{path}: ")?,
            Origin::Env(var) => write!(f, "environment variable {var}: ")?,
            Origin::Code => f.write_str("setting ")?,
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.reason)
    }
}

/// One problem with `key`, in settings built in code or read from a file
/// the caller locates.
pub(crate) fn invalid(key: &'static str, reason: impl Into<String>) -> SettingsError {
    SettingsError {
        problems: vec![Problem {
            origin: Origin::Code,
            key: key.to_owned(),
            reason: reason.into(),
        }],
    }
}

/// The problems validation finds, by key.
#[derive(Debug, Default)]
pub(crate) struct Findings(Vec<(String, String)>);

impl Findings {
    /// Records `reason` about `key` unless `ok`.
    pub fn check(&mut self, ok: bool, key: impl Into<String>, reason: impl Into<String>) {
        if !ok {
            self.push(key, reason);
        }
    }

    /// Records `reason` about `key`: the key's full name, which may end in
    /// one entry of a table (`routing.after_work.email`).
    pub fn push(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.0.push((key.into(), reason.into()));
    }

    /// The findings located by `layers`, or as settings built in code.
    pub fn into_result(self, layers: Option<&Layers>) -> Result<(), SettingsError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let problems = self
            .0
            .into_iter()
            .map(|(key, reason)| match layers {
                Some(layers) => layers.problem(&key, reason),
                None => Problem {
                    origin: Origin::Code,
                    key,
                    reason,
                },
            })
            .collect();
        Err(SettingsError::new(problems))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub instance: InstanceSettings,
    pub listen: ListenSettings,
    pub database: DatabaseSettings,
    pub config_server: ConfigServerSettings,
    #[serde(default)]
    pub routing: RoutingSettings,
    #[serde(default)]
    pub retention: RetentionSettings,
    #[serde(default)]
    pub reporting: ReportingSettings,
    #[serde(default)]
    pub shutdown: ShutdownSettings,
    #[serde(default)]
    pub auth: AuthSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// How long a person's token from `POST /v1/sessions` is valid.
    #[serde(default = "defaults::session_ttl", with = "humantime_serde")]
    pub session_ttl: Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            session_ttl: defaults::session_ttl(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceSettings {
    /// The solution this instance serves (`sales`); names it in logs and in
    /// its database lease.
    pub name: String,
    /// The Application object it logs in as.
    pub application: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenSettings {
    /// Address of the HTTP API; port 0 picks a free one.
    pub http: SocketAddr,
    /// Largest request body accepted, in bytes.
    #[serde(default = "defaults::max_body_bytes")]
    pub max_body_bytes: usize,
    /// How long a request may wait for its change to be committed before it
    /// is answered 503 (the change may still commit; retry with the same
    /// external id).
    #[serde(default = "defaults::commit_timeout", with = "humantime_serde")]
    pub commit_timeout: Duration,
    /// How long a client has to send a request's head (request line and
    /// headers), from when the server waits for one: at the connection's
    /// start and after each answer. A connection that sends nothing is
    /// closed after it too.
    #[serde(default = "defaults::header_read_timeout", with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// HTTP connections served at once; further ones wait to be accepted.
    #[serde(default = "defaults::http_max_connections")]
    pub max_connections: usize,
    /// Longest request target (path and query), in bytes; longer is `414`.
    #[serde(default = "defaults::max_uri_bytes")]
    pub max_uri_bytes: usize,
    /// Largest header section of a request, in bytes; larger is `431`.
    #[serde(default = "defaults::max_header_bytes")]
    pub max_header_bytes: usize,
    /// Most headers in a request; more is `431`.
    #[serde(default = "defaults::max_headers")]
    pub max_headers: usize,
    /// The base URL other programs reach this instance's API on, told to
    /// the configuration server at log-in (e.g. `http://10.0.0.5:7201`);
    /// by default `http://` and the bound address.
    #[serde(default)]
    pub advertise: Option<String>,
}

impl ListenSettings {
    /// The address told to the configuration server: `advertise`, or the
    /// address the listener was bound to.
    pub fn advertised(&self, bound: SocketAddr) -> String {
        self.advertise
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
    }

    pub fn connection_limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: self.header_read_timeout,
            max_connections: self.max_connections,
            max_uri_bytes: self.max_uri_bytes,
            max_header_bytes: self.max_header_bytes,
            max_headers: self.max_headers,
        }
    }
}

/// Checks the `listen` keys that bound connections and request heads; the
/// instance and the configuration server share them.
pub(crate) fn check_connection_limits(limits: &ConnectionLimits, found: &mut Findings) {
    found.check(
        !limits.header_read_timeout.is_zero(),
        "listen.header_read_timeout",
        "must be more than 0",
    );
    found.check(
        (1..=1_000_000).contains(&limits.max_connections),
        "listen.max_connections",
        "must be 1 to 1000000",
    );
    found.check(
        (256..=ConnectionLimits::MAX_URI_BYTES).contains(&limits.max_uri_bytes),
        "listen.max_uri_bytes",
        format!(
            "must be 256 to {} (the HTTP parser's own limit)",
            ConnectionLimits::MAX_URI_BYTES
        ),
    );
    found.check(
        (1024..=ConnectionLimits::MAX_HEADER_BYTES).contains(&limits.max_header_bytes),
        "listen.max_header_bytes",
        format!("must be 1024 to {}", ConnectionLimits::MAX_HEADER_BYTES),
    );
    found.check(
        (1..=ConnectionLimits::MAX_HEADERS).contains(&limits.max_headers),
        "listen.max_headers",
        format!("must be 1 to {}", ConnectionLimits::MAX_HEADERS),
    );
}

/// What a second instance does when the database's lease is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnLeaseHeld {
    /// Exit with a message naming the holder.
    #[default]
    Exit,
    /// Wait as a hot backup and take over when the lease expires.
    Wait,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://user@host:port/database`; may carry a password, and is
    /// never logged.
    pub url: SecretString,
    /// A file holding the password, overriding the one in `url`.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Create the database if it does not exist.
    #[serde(default)]
    pub create: bool,
    #[serde(default = "defaults::max_connections")]
    pub max_connections: u32,
    #[serde(default = "defaults::acquire_timeout", with = "humantime_serde")]
    pub acquire_timeout: Duration,
    /// Most changes in one commit.
    #[serde(default = "defaults::writer_batch_max")]
    pub writer_batch_max: usize,
    /// Changes waiting for the writer before the engine waits too.
    #[serde(default = "defaults::writer_queue")]
    pub writer_queue: usize,
    #[serde(default = "defaults::lease_ttl", with = "humantime_serde")]
    pub lease_ttl: Duration,
    #[serde(default = "defaults::lease_renew", with = "humantime_serde")]
    pub lease_renew: Duration,
    #[serde(default)]
    pub on_lease_held: OnLeaseHeld,
}

/// Where the instance's identity and scope come from: the tenant's
/// configuration server (`url`, the normal case), or the tenant's directory
/// files read directly (`directory`, for a single machine without one).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigServerSettings {
    /// The configuration server, e.g. `http://127.0.0.1:7200`.
    #[serde(default)]
    pub url: Option<String>,
    /// The application's secret (prefer `secret_file` or the environment
    /// variable `IXS__CONFIG_SERVER__SECRET`); never logged.
    #[serde(default)]
    pub secret: Option<SecretString>,
    /// A file holding the application's secret.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// How long to wait for the configuration server to answer.
    #[serde(default = "defaults::config_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// How long the watch stream may stay silent before it is taken for
    /// dead, dropped and opened again: the configuration server sends a
    /// keep-alive every 15 s, so the default is three of them missed.
    #[serde(default = "defaults::watch_idle_timeout", with = "humantime_serde")]
    pub watch_idle_timeout: Duration,
    /// Folder of the tenant's directory files, read directly instead of
    /// asking a configuration server.
    #[serde(default)]
    pub directory: Option<PathBuf>,
}

impl ConfigServerSettings {
    /// The application's secret, from `secret` or `secret_file`.
    pub fn secret(&self) -> Result<SecretString, SettingsError> {
        match (&self.secret, &self.secret_file) {
            (Some(secret), _) => Ok(secret.clone()),
            (None, Some(file)) => read_secret_file(file)
                .map_err(|reason| invalid("config_server.secret_file", reason)),
            (None, None) => Err(invalid("config_server.secret", SECRET_REQUIRED)),
        }
    }
}

const SECRET_REQUIRED: &str = "the application's secret is required with config_server.url: set \
     secret_file, or IXS__CONFIG_SERVER__SECRET";

/// The secret in `file`, without its final line break; why not, in the
/// operator's words.
pub fn read_secret_file(file: &Path) -> Result<SecretString, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let secret = text.trim_end_matches(['\r', '\n']);
    if secret.is_empty() {
        return Err(format!("{} is empty", file.display()));
    }
    Ok(SecretString::from(secret.to_owned()))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingSettings {
    /// Lowest and highest priority an interaction may have.
    #[serde(default)]
    pub min_priority: i32,
    #[serde(default = "defaults::max_priority")]
    pub max_priority: i32,
    /// Interactions a queue snapshot lists when the request does not say.
    #[serde(default = "defaults::snapshot_default")]
    pub snapshot_default: usize,
    /// The most a queue snapshot lists.
    #[serde(default = "defaults::snapshot_max")]
    pub snapshot_max: usize,
    /// An offer the agent neither accepts nor rejects within this is
    /// revoked, and counts as missed.
    #[serde(default = "defaults::delivery_timeout", with = "humantime_serde")]
    pub delivery_timeout: Duration,
    /// Offers rejected or timed out in a row before the agent is set not
    /// ready; 0: never.
    #[serde(default = "defaults::missed_offers_limit")]
    pub missed_offers_limit: u32,
    /// Per media: how long after finishing an interaction the agent is
    /// offered no new one of that media; a media not listed has none.
    #[serde(default, deserialize_with = "durations_by_media")]
    pub after_work: BTreeMap<String, Duration>,
    /// How long an agent's live stream may be gone before the agent is set
    /// not ready.
    #[serde(default = "defaults::desktop_grace", with = "humantime_serde")]
    pub desktop_grace: Duration,
    /// A handled interaction its agent makes no request on for this long
    /// goes back to its queue.
    #[serde(default = "defaults::handling_timeout", with = "humantime_serde")]
    pub handling_timeout: Duration,
    /// An interaction a routing client pulled and did not offer, place or
    /// stop within this goes back to its queue.
    #[serde(default = "defaults::routing_timeout", with = "humantime_serde")]
    pub routing_timeout: Duration,
    /// What an agent whose person names no capacity rule may hold; absent:
    /// one interaction of each media type the instance may read.
    #[serde(default)]
    pub default_capacity: Option<CapacitySetting>,
}

impl Default for RoutingSettings {
    fn default() -> Self {
        RoutingSettings {
            min_priority: 0,
            max_priority: defaults::max_priority(),
            snapshot_default: defaults::snapshot_default(),
            snapshot_max: defaults::snapshot_max(),
            delivery_timeout: defaults::delivery_timeout(),
            missed_offers_limit: defaults::missed_offers_limit(),
            after_work: BTreeMap::new(),
            desktop_grace: defaults::desktop_grace(),
            handling_timeout: defaults::handling_timeout(),
            routing_timeout: defaults::routing_timeout(),
            default_capacity: None,
        }
    }
}

impl RoutingSettings {
    /// The longest a routing timer may be set to.
    pub const MAX_TIMER: Duration = Duration::from_secs(365 * 24 * 3600);

    fn check(&self, found: &mut Findings) {
        found.check(
            self.min_priority <= self.max_priority,
            "routing.min_priority",
            format!(
                "must not be above routing.max_priority ({})",
                self.max_priority
            ),
        );
        found.check(
            self.snapshot_default > 0 && self.snapshot_default <= self.snapshot_max,
            "routing.snapshot_default",
            format!("must be 1 to routing.snapshot_max ({})", self.snapshot_max),
        );
        for (key, timer) in [
            ("routing.delivery_timeout", self.delivery_timeout),
            ("routing.desktop_grace", self.desktop_grace),
            ("routing.handling_timeout", self.handling_timeout),
            ("routing.routing_timeout", self.routing_timeout),
        ] {
            found.check(
                (Duration::from_secs(1)..=Self::MAX_TIMER).contains(&timer),
                key,
                "must be 1s to 365days",
            );
        }
        for (media, after_work) in &self.after_work {
            found.check(
                *after_work <= Self::MAX_TIMER,
                format!("routing.after_work.{media}"),
                "must be at most 365days",
            );
        }
        if let Some(capacity) = &self.default_capacity {
            found.check(
                !capacity.media.is_empty(),
                "routing.default_capacity",
                "allows no media: list at least one, e.g. { email = 1, chat = 2 }",
            );
            found.check(
                capacity.total != Some(0),
                "routing.default_capacity.total",
                "must be at least 1",
            );
        }
    }
}

/// A capacity rule written in the settings, `{ email = 1, chat = 3, total =
/// 3 }`: how many interactions of each media an agent may hold at once (a
/// media not listed is never offered), and `total`, when given, a cap on
/// their sum. `total` is therefore no media's name here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapacitySetting {
    pub media: BTreeMap<String, u32>,
    pub total: Option<u32>,
}

impl<'de> Deserialize<'de> for CapacitySetting {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut media = BTreeMap::<String, u32>::deserialize(deserializer)?;
        let total = media.remove("total");
        Ok(CapacitySetting { media, total })
    }
}

/// A table of media → duration, each written as the other durations are.
fn durations_by_media<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, Duration>, D::Error> {
    let table = BTreeMap::<String, humantime_serde::Serde<Duration>>::deserialize(deserializer)?;
    Ok(table
        .into_iter()
        .map(|(media, duration)| (media, duration.into_inner()))
        .collect())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    #[serde(default = "defaults::keep", with = "humantime_serde")]
    pub stopped_interactions: Duration,
    #[serde(default = "defaults::keep", with = "humantime_serde")]
    pub events: Duration,
    #[serde(default = "defaults::retention_batch")]
    pub batch_size: i64,
    #[serde(default = "defaults::retention_interval", with = "humantime_serde")]
    pub interval: Duration,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            stopped_interactions: defaults::keep(),
            events: defaults::keep(),
            batch_size: defaults::retention_batch(),
            interval: defaults::retention_interval(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportingSettings {
    /// Journal entries the event feed's live tail holds for its readers; a
    /// reader further behind is disconnected, told where to resume.
    #[serde(default = "defaults::feed_buffer")]
    pub feed_buffer: usize,
    /// How far back the live statistics (`GET /v1/stats`) count: entries of
    /// the journal older than this fall out of them.
    #[serde(default = "defaults::stats_window", with = "humantime_serde")]
    pub window: Duration,
}

impl Default for ReportingSettings {
    fn default() -> Self {
        ReportingSettings {
            feed_buffer: defaults::feed_buffer(),
            window: defaults::stats_window(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownSettings {
    /// How long in-flight requests and the writer get to finish on SIGTERM.
    #[serde(default = "defaults::grace_period", with = "humantime_serde")]
    pub grace_period: Duration,
}

impl Default for ShutdownSettings {
    fn default() -> Self {
        ShutdownSettings {
            grace_period: defaults::grace_period(),
        }
    }
}

pub(crate) mod defaults {
    use std::time::Duration;
    pub fn max_body_bytes() -> usize {
        256 * 1024
    }
    pub fn commit_timeout() -> Duration {
        Duration::from_secs(10)
    }
    // The `listen` keys bounding connections and request heads, for the
    // configuration server too.
    pub fn header_read_timeout() -> Duration {
        Duration::from_secs(10)
    }
    pub fn http_max_connections() -> usize {
        4096
    }
    pub fn max_uri_bytes() -> usize {
        8 * 1024
    }
    pub fn max_header_bytes() -> usize {
        16 * 1024
    }
    pub fn max_headers() -> usize {
        100
    }
    pub fn max_connections() -> u32 {
        8
    }
    pub fn acquire_timeout() -> Duration {
        Duration::from_secs(5)
    }
    pub fn writer_batch_max() -> usize {
        500
    }
    pub fn writer_queue() -> usize {
        10_000
    }
    pub fn lease_ttl() -> Duration {
        Duration::from_secs(10)
    }
    pub fn lease_renew() -> Duration {
        Duration::from_secs(3)
    }
    pub fn max_priority() -> i32 {
        100
    }
    pub fn snapshot_default() -> usize {
        500
    }
    pub fn snapshot_max() -> usize {
        10_000
    }
    pub fn keep() -> Duration {
        Duration::from_secs(30 * 24 * 3600)
    }
    pub fn retention_batch() -> i64 {
        1_000
    }
    pub fn retention_interval() -> Duration {
        Duration::from_secs(60)
    }
    pub fn feed_buffer() -> usize {
        4096
    }
    pub fn stats_window() -> Duration {
        Duration::from_secs(15 * 60)
    }
    pub fn grace_period() -> Duration {
        Duration::from_secs(10)
    }
    pub fn session_ttl() -> Duration {
        Duration::from_secs(8 * 3600)
    }
    pub fn config_timeout() -> Duration {
        Duration::from_secs(5)
    }
    pub fn watch_idle_timeout() -> Duration {
        Duration::from_secs(45)
    }
    pub fn delivery_timeout() -> Duration {
        Duration::from_secs(30)
    }
    pub fn missed_offers_limit() -> u32 {
        3
    }
    pub fn desktop_grace() -> Duration {
        Duration::from_secs(30)
    }
    pub fn handling_timeout() -> Duration {
        Duration::from_secs(180 * 60)
    }
    pub fn routing_timeout() -> Duration {
        Duration::from_secs(720 * 60)
    }
}

/// Keys of which one given in the environment sets the file's other aside.
const EXCLUSIVE: &[(&str, &str)] = &[
    ("config_server.secret", "config_server.secret_file"),
    ("config_server.url", "config_server.directory"),
];

impl Settings {
    /// Reads `path`, applies `IXS__SECTION__KEY` overrides from `env`, and
    /// validates; every problem names its file and line, or its variable.
    pub fn load(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, SettingsError> {
        Settings::load_with_layers(path, env).map(|(settings, _)| settings)
    }

    /// Like [`load`](Self::load), with where each key came from.
    pub fn load_with_layers(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Settings, Layers), SettingsError> {
        let (settings, layers) = layered::load::<Settings>(path, env, EXCLUSIVE)?;
        settings.findings().into_result(Some(&layers))?;
        Ok((settings, layers))
    }

    /// Checks the values; reads no file.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.findings().into_result(None)
    }

    fn findings(&self) -> Findings {
        let mut found = Findings::default();
        let name = &self.instance.name;
        found.check(
            crate::naming::valid_instance_name(name),
            "instance.name",
            crate::naming::INSTANCE_NAME_RULE,
        );
        found.check(
            !self.instance.application.trim().is_empty(),
            "instance.application",
            "must not be empty",
        );
        if let Err(reason) = self.database.url_options() {
            found.push("database.url", reason);
        }
        let config_server = &self.config_server;
        match (&config_server.url, &config_server.directory) {
            (Some(url), None) => {
                found.check(
                    url.starts_with("http://") || url.starts_with("https://"),
                    "config_server.url",
                    "must start with http:// or https://",
                );
                if config_server.secret.is_some() && config_server.secret_file.is_some() {
                    found.push(
                        "config_server.secret_file",
                        "give either config_server.secret or config_server.secret_file, not both",
                    );
                }
                if config_server.secret.is_none() && config_server.secret_file.is_none() {
                    found.push("config_server.secret", SECRET_REQUIRED);
                }
            }
            (None, Some(_)) => {}
            (Some(_), Some(_)) => found.push(
                "config_server.directory",
                "give either config_server.url (a configuration server) or \
                 config_server.directory (files read directly), not both",
            ),
            (None, None) => found.push(
                "config_server.url",
                "required: the configuration server's address (or config_server.directory to \
                 read the tenant's files directly)",
            ),
        }
        found.check(
            !config_server.timeout.is_zero(),
            "config_server.timeout",
            "must be more than 0",
        );
        found.check(
            config_server.watch_idle_timeout >= Duration::from_secs(20),
            "config_server.watch_idle_timeout",
            "must be at least 20s (the configuration server sends a keep-alive every 15 s)",
        );
        let db = &self.database;
        found.check(
            (2..=1000).contains(&db.max_connections),
            "database.max_connections",
            "must be 2 to 1000: the writer and the readers need their own",
        );
        found.check(
            (1..=10_000).contains(&db.writer_batch_max),
            "database.writer_batch_max",
            "must be 1 to 10000",
        );
        found.check(
            db.writer_queue > 0,
            "database.writer_queue",
            "must be at least 1",
        );
        if db.lease_ttl.is_zero() {
            found.push("database.lease_ttl", "must be more than 0");
        } else if db.lease_renew.is_zero() || db.lease_renew * 2 > db.lease_ttl {
            found.push(
                "database.lease_renew",
                format!(
                    "must be more than 0 and at most half of database.lease_ttl ({})",
                    humantime::format_duration(db.lease_ttl)
                ),
            );
        }
        found.check(
            self.listen.max_body_bytes >= 1024,
            "listen.max_body_bytes",
            "must be at least 1024",
        );
        found.check(
            !self.listen.commit_timeout.is_zero(),
            "listen.commit_timeout",
            "must be more than 0",
        );
        check_connection_limits(&self.listen.connection_limits(), &mut found);
        if let Some(advertise) = &self.listen.advertise {
            found.check(
                crate::naming::valid_base_url(advertise),
                "listen.advertise",
                format!(
                    "{}, e.g. \"http://10.0.0.5:7201\"",
                    crate::naming::BASE_URL_RULE
                ),
            );
        }
        self.routing.check(&mut found);
        found.check(
            (1..=100_000).contains(&self.retention.batch_size),
            "retention.batch_size",
            "must be 1 to 100000",
        );
        found.check(
            !self.retention.interval.is_zero(),
            "retention.interval",
            "must be more than 0",
        );
        found.check(
            (16..=1_048_576).contains(&self.reporting.feed_buffer),
            "reporting.feed_buffer",
            "must be 16 to 1048576",
        );
        found.check(
            (Duration::from_secs(60)..=Duration::from_secs(24 * 3600))
                .contains(&self.reporting.window),
            "reporting.window",
            "must be 1m to 24h",
        );
        found.check(
            !self.auth.session_ttl.is_zero(),
            "auth.session_ttl",
            "must be more than 0",
        );
        found.check(
            !self.shutdown.grace_period.is_zero(),
            "shutdown.grace_period",
            "must be more than 0",
        );
        found
    }
}

impl DatabaseSettings {
    /// Connection options from `url` and `password_file`.
    pub fn connect_options(&self) -> Result<PgConnectOptions, SettingsError> {
        let mut options = self
            .url_options()
            .map_err(|reason| invalid("database.url", reason))?;
        if let Some(file) = &self.password_file {
            let password = std::fs::read_to_string(file).map_err(|e| {
                invalid(
                    "database.password_file",
                    format!("cannot read {}: {e}", file.display()),
                )
            })?;
            options = options.password(password.trim_end_matches(['\r', '\n']));
        }
        Ok(options)
    }

    /// Connection options from `url` alone.
    fn url_options(&self) -> Result<PgConnectOptions, String> {
        let url = self.url.expose_secret();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err("must start with postgres:// or postgresql://".to_owned());
        }
        PgConnectOptions::from_str(url).map_err(|e| format!("not a PostgreSQL URL: {e}"))
    }

    /// `host:port/database`, for logs: never the password (nor is its file
    /// read for this).
    pub fn describe(&self) -> String {
        match self.url_options() {
            Ok(o) => format!(
                "{}:{}/{}",
                o.get_host(),
                o.get_port(),
                o.get_database().unwrap_or("")
            ),
            Err(_) => "<invalid url>".to_owned(),
        }
    }
}

/// Where an instance built in code gets its scope.
#[derive(Debug, Clone)]
pub enum ScopeFrom {
    /// A configuration server at this URL, with the application's secret.
    Server { url: String, secret: String },
    /// The tenant's files in this folder.
    Directory(PathBuf),
}

/// Settings for an instance built in code (tests, the demo): everything at
/// its default but what is given.
pub fn for_instance(
    name: &str,
    application: &str,
    http: SocketAddr,
    database_url: &str,
    scope: ScopeFrom,
) -> Settings {
    let config_server = match scope {
        ScopeFrom::Server { url, secret } => ConfigServerSettings {
            url: Some(url),
            secret: Some(SecretString::from(secret)),
            secret_file: None,
            timeout: defaults::config_timeout(),
            watch_idle_timeout: defaults::watch_idle_timeout(),
            directory: None,
        },
        ScopeFrom::Directory(directory) => ConfigServerSettings {
            url: None,
            secret: None,
            secret_file: None,
            timeout: defaults::config_timeout(),
            watch_idle_timeout: defaults::watch_idle_timeout(),
            directory: Some(directory),
        },
    };
    Settings {
        instance: InstanceSettings {
            name: name.to_owned(),
            application: application.to_owned(),
        },
        listen: ListenSettings {
            http,
            max_body_bytes: defaults::max_body_bytes(),
            commit_timeout: defaults::commit_timeout(),
            header_read_timeout: defaults::header_read_timeout(),
            max_connections: defaults::http_max_connections(),
            max_uri_bytes: defaults::max_uri_bytes(),
            max_header_bytes: defaults::max_header_bytes(),
            max_headers: defaults::max_headers(),
            advertise: None,
        },
        database: DatabaseSettings {
            url: SecretString::from(database_url.to_owned()),
            password_file: None,
            create: true,
            max_connections: defaults::max_connections(),
            acquire_timeout: defaults::acquire_timeout(),
            writer_batch_max: defaults::writer_batch_max(),
            writer_queue: defaults::writer_queue(),
            lease_ttl: defaults::lease_ttl(),
            lease_renew: defaults::lease_renew(),
            on_lease_held: OnLeaseHeld::Exit,
        },
        config_server,
        routing: RoutingSettings::default(),
        retention: RetentionSettings::default(),
        reporting: ReportingSettings::default(),
        shutdown: ShutdownSettings::default(),
        auth: AuthSettings::default(),
    }
}
