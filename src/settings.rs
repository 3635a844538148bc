//! Instance settings: one TOML file per instance, then `IXS__SECTION__KEY`
//! environment variables, validated into one typed struct at start.
//!
//! Nothing here reads the process environment by itself: the caller passes
//! the variables in, so tests build settings without touching it.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sqlx::postgres::PgConnectOptions;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{path}: {source}")]
    Load {
        path: String,
        #[source]
        source: config::ConfigError,
    },
    #[error("setting `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

fn invalid(key: &'static str, reason: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key,
        reason: reason.into(),
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
    pub shutdown: ShutdownSettings,
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigServerSettings {
    /// Folder of the tenant's directory files, read directly.
    pub directory: PathBuf,
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
}

impl Default for RoutingSettings {
    fn default() -> Self {
        RoutingSettings {
            min_priority: 0,
            max_priority: defaults::max_priority(),
            snapshot_default: defaults::snapshot_default(),
            snapshot_max: defaults::snapshot_max(),
        }
    }
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

mod defaults {
    use std::time::Duration;
    pub fn max_body_bytes() -> usize {
        256 * 1024
    }
    pub fn commit_timeout() -> Duration {
        Duration::from_secs(10)
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
    pub fn grace_period() -> Duration {
        Duration::from_secs(10)
    }
}

impl Settings {
    /// Reads `path`, applies `IXS__SECTION__KEY` overrides from `env`, and
    /// validates.
    pub fn load(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, SettingsError> {
        let overrides: HashMap<String, String> = env
            .into_iter()
            .filter(|(key, _)| key.starts_with("IXS__"))
            .collect();
        let shown = path.display().to_string();
        let settings: Settings = config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix("IXS")
                    .prefix_separator("__")
                    .separator("__")
                    .source(Some(overrides)),
            )
            .build()
            .and_then(config::Config::try_deserialize)
            .map_err(|source| SettingsError::Load {
                path: shown,
                source,
            })?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), SettingsError> {
        let name = &self.instance.name;
        if name.is_empty()
            || name.len() > 63
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        {
            return Err(invalid(
                "instance.name",
                "must be 1 to 63 characters of a-z, 0-9, '-' or '_'",
            ));
        }
        if self.instance.application.trim().is_empty() {
            return Err(invalid("instance.application", "must not be empty"));
        }
        self.database.connect_options()?;
        let db = &self.database;
        if !(1..=1000).contains(&db.max_connections) {
            return Err(invalid("database.max_connections", "must be 1 to 1000"));
        }
        if db.max_connections < 2 {
            return Err(invalid(
                "database.max_connections",
                "must be at least 2: the writer and the readers need their own",
            ));
        }
        if !(1..=10_000).contains(&db.writer_batch_max) {
            return Err(invalid("database.writer_batch_max", "must be 1 to 10000"));
        }
        if db.writer_queue == 0 {
            return Err(invalid("database.writer_queue", "must be at least 1"));
        }
        if db.lease_renew.is_zero() || db.lease_renew * 2 > db.lease_ttl {
            return Err(invalid(
                "database.lease_renew",
                "must be more than 0 and at most half of database.lease_ttl",
            ));
        }
        if self.listen.max_body_bytes < 1024 {
            return Err(invalid("listen.max_body_bytes", "must be at least 1024"));
        }
        if self.listen.commit_timeout.is_zero() {
            return Err(invalid("listen.commit_timeout", "must be more than 0"));
        }
        let routing = &self.routing;
        if routing.min_priority > routing.max_priority {
            return Err(invalid(
                "routing.min_priority",
                "must not be above routing.max_priority",
            ));
        }
        if routing.snapshot_default == 0 || routing.snapshot_default > routing.snapshot_max {
            return Err(invalid(
                "routing.snapshot_default",
                "must be 1 to routing.snapshot_max",
            ));
        }
        if !(1..=100_000).contains(&self.retention.batch_size) {
            return Err(invalid("retention.batch_size", "must be 1 to 100000"));
        }
        if self.retention.interval.is_zero() {
            return Err(invalid("retention.interval", "must be more than 0"));
        }
        if self.shutdown.grace_period.is_zero() {
            return Err(invalid("shutdown.grace_period", "must be more than 0"));
        }
        Ok(())
    }
}

impl DatabaseSettings {
    /// Connection options from `url` and `password_file`.
    pub fn connect_options(&self) -> Result<PgConnectOptions, SettingsError> {
        let mut options = PgConnectOptions::from_str(self.url.expose_secret())
            .map_err(|e| invalid("database.url", format!("not a PostgreSQL URL: {e}")))?;
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

    /// `host:port/database`, for logs: never the password.
    pub fn describe(&self) -> String {
        match self.connect_options() {
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

/// Settings for an instance built in code (tests, the demo): everything at
/// its default but what is given.
pub fn for_instance(
    name: &str,
    application: &str,
    http: SocketAddr,
    database_url: &str,
    directory: PathBuf,
) -> Settings {
    Settings {
        instance: InstanceSettings {
            name: name.to_owned(),
            application: application.to_owned(),
        },
        listen: ListenSettings {
            http,
            max_body_bytes: defaults::max_body_bytes(),
            commit_timeout: defaults::commit_timeout(),
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
        config_server: ConfigServerSettings { directory },
        routing: RoutingSettings::default(),
        retention: RetentionSettings::default(),
        shutdown: ShutdownSettings::default(),
    }
}
