//! Instance settings: one TOML file per instance, then `IXS__SECTION__KEY`
//! environment variables, validated into one typed struct at start.
//!
//! Nothing here reads the process environment by itself: the caller passes
//! the variables in, so tests build settings without touching it.

use crate::http_serve::ConnectionLimits;
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

pub(crate) fn invalid(key: &'static str, reason: impl Into<String>) -> SettingsError {
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
}

impl ListenSettings {
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
pub(crate) fn validate_connection_limits(limits: &ConnectionLimits) -> Result<(), SettingsError> {
    if limits.header_read_timeout.is_zero() {
        return Err(invalid("listen.header_read_timeout", "must be more than 0"));
    }
    if !(1..=1_000_000).contains(&limits.max_connections) {
        return Err(invalid("listen.max_connections", "must be 1 to 1000000"));
    }
    if !(256..=ConnectionLimits::MAX_URI_BYTES).contains(&limits.max_uri_bytes) {
        return Err(invalid(
            "listen.max_uri_bytes",
            format!(
                "must be 256 to {} (the HTTP parser's own limit)",
                ConnectionLimits::MAX_URI_BYTES
            ),
        ));
    }
    if !(1024..=ConnectionLimits::MAX_HEADER_BYTES).contains(&limits.max_header_bytes) {
        return Err(invalid(
            "listen.max_header_bytes",
            format!("must be 1024 to {}", ConnectionLimits::MAX_HEADER_BYTES),
        ));
    }
    if !(1..=ConnectionLimits::MAX_HEADERS).contains(&limits.max_headers) {
        return Err(invalid(
            "listen.max_headers",
            format!("must be 1 to {}", ConnectionLimits::MAX_HEADERS),
        ));
    }
    Ok(())
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
            (Some(secret), None) => Ok(secret.clone()),
            (None, Some(file)) => std::fs::read_to_string(file)
                .map(|s| SecretString::from(s.trim_end_matches(['\r', '\n']).to_owned()))
                .map_err(|e| {
                    invalid(
                        "config_server.secret_file",
                        format!("cannot read {}: {e}", file.display()),
                    )
                }),
            (Some(_), Some(_)) => Err(invalid(
                "config_server.secret",
                "give either secret or secret_file, not both",
            )),
            (None, None) => Err(invalid(
                "config_server.secret",
                "the application's secret is required with config_server.url: set \
                 secret_file, or IXS__CONFIG_SERVER__SECRET",
            )),
        }
    }
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
}

/// `T` from the TOML file `path`, with the `IXS__SECTION__KEY` variables of
/// `env` (and no others) overriding its keys.
pub fn layered<T: serde::de::DeserializeOwned>(
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<T, config::ConfigError> {
    let overrides: HashMap<String, String> = env
        .into_iter()
        .filter(|(key, _)| key.starts_with("IXS__"))
        .collect();
    config::Config::builder()
        .add_source(config::File::from(path).format(config::FileFormat::Toml))
        .add_source(
            config::Environment::with_prefix("IXS")
                .prefix_separator("__")
                .separator("__")
                .source(Some(overrides)),
        )
        .build()
        .and_then(config::Config::try_deserialize)
}

impl Settings {
    /// Reads `path`, applies `IXS__SECTION__KEY` overrides from `env`, and
    /// validates.
    pub fn load(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, SettingsError> {
        let settings: Settings = layered(path, env).map_err(|source| SettingsError::Load {
            path: path.display().to_string(),
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
        let config_server = &self.config_server;
        match (&config_server.url, &config_server.directory) {
            (Some(url), None) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(invalid(
                        "config_server.url",
                        "must start with http:// or https://",
                    ));
                }
                config_server.secret()?;
            }
            (None, Some(_)) => {}
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "config_server.url",
                    "give either url (a configuration server) or directory (files read \
                     directly), not both",
                ));
            }
            (None, None) => {
                return Err(invalid(
                    "config_server.url",
                    "required: the configuration server's address (or `directory` to read \
                     the tenant's files directly)",
                ));
            }
        }
        if config_server.timeout.is_zero() {
            return Err(invalid("config_server.timeout", "must be more than 0"));
        }
        if config_server.watch_idle_timeout < Duration::from_secs(20) {
            return Err(invalid(
                "config_server.watch_idle_timeout",
                "must be at least 20s (the configuration server sends a keep-alive every 15 s)",
            ));
        }
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
        validate_connection_limits(&self.listen.connection_limits())?;
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
        if self.auth.session_ttl.is_zero() {
            return Err(invalid("auth.session_ttl", "must be more than 0"));
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
        let mut options = self.url_options()?;
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
    fn url_options(&self) -> Result<PgConnectOptions, SettingsError> {
        let url = self.url.expose_secret();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(invalid(
                "database.url",
                "must start with postgres:// or postgresql://",
            ));
        }
        PgConnectOptions::from_str(url)
            .map_err(|e| invalid("database.url", format!("not a PostgreSQL URL: {e}")))
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
        shutdown: ShutdownSettings::default(),
        auth: AuthSettings::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn example(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("config")
            .join(name)
    }

    fn file(text: &str) -> (tempfile_dir::Dir, PathBuf) {
        let dir = tempfile_dir::Dir::new();
        let path = dir.path.join("instance.toml");
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .unwrap();
        (dir, path)
    }

    /// A scratch folder removed on drop.
    mod tempfile_dir {
        pub struct Dir {
            pub path: std::path::PathBuf,
        }
        impl Dir {
            pub fn new() -> Self {
                let path =
                    std::env::temp_dir().join(format!("ixs-settings-{}", uuid::Uuid::now_v7()));
                std::fs::create_dir_all(&path).unwrap();
                Dir { path }
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.path);
            }
        }
    }

    const MINIMAL: &str = r#"
[instance]
name = "sales"
application = "ixs-sales"
[listen]
http = "127.0.0.1:7201"
[database]
url = "postgres://postgres@127.0.0.1:5432/ixs_sales"
[config_server]
directory = "config/tenant"
"#;

    #[test]
    fn the_example_files_load() {
        for name in ["sales.toml", "support.toml"] {
            let settings = Settings::load(&example(name), []).unwrap();
            assert_eq!(format!("{}.toml", settings.instance.name), name);
        }
    }

    #[test]
    fn defaults_fill_what_is_left_out() {
        let (_dir, path) = file(MINIMAL);
        let settings = Settings::load(&path, []).unwrap();
        assert_eq!(settings.database.max_connections, 8);
        assert_eq!(settings.shutdown.grace_period, Duration::from_secs(10));
        assert_eq!(settings.routing.max_priority, 100);
        assert_eq!(settings.database.on_lease_held, OnLeaseHeld::Exit);
        assert_eq!(
            settings.listen.connection_limits(),
            ConnectionLimits {
                header_read_timeout: Duration::from_secs(10),
                max_connections: 4096,
                max_uri_bytes: 8192,
                max_header_bytes: 16384,
                max_headers: 100,
            }
        );
    }

    #[test]
    fn environment_overrides_the_file() {
        let (_dir, path) = file(MINIMAL);
        let env = [
            (
                "IXS__DATABASE__URL".to_owned(),
                "postgres://u@db:6543/other".to_owned(),
            ),
            ("IXS__LISTEN__HTTP".to_owned(), "0.0.0.0:9000".to_owned()),
            ("IXS__DATABASE__MAX_CONNECTIONS".to_owned(), "20".to_owned()),
            ("IXS__SHUTDOWN__GRACE_PERIOD".to_owned(), "3s".to_owned()),
            ("UNRELATED".to_owned(), "x".to_owned()),
        ];
        let settings = Settings::load(&path, env).unwrap();
        assert_eq!(settings.database.describe(), "db:6543/other");
        assert_eq!(settings.listen.http, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(settings.database.max_connections, 20);
        assert_eq!(settings.shutdown.grace_period, Duration::from_secs(3));
    }

    #[test]
    fn an_unknown_key_is_named() {
        let (_dir, path) = file(&format!("{MINIMAL}\n[retention]\nkeep_forever = true\n"));
        let error = Settings::load(&path, []).unwrap_err().to_string();
        assert!(error.contains("keep_forever"), "{error}");
    }

    #[test]
    fn a_bad_value_is_named() {
        let (_dir, path) = file(&MINIMAL.replace("127.0.0.1:7201", "not-an-address"));
        let error = Settings::load(&path, []).unwrap_err().to_string();
        assert!(error.contains("http"), "{error}");
        let env = [(
            "IXS__DATABASE__MAX_CONNECTIONS".to_owned(),
            "many".to_owned(),
        )];
        let (_dir, path) = file(MINIMAL);
        let error = Settings::load(&path, env).unwrap_err().to_string();
        assert!(error.contains("max_connections"), "{error}");
    }

    #[test]
    fn validation_names_the_setting() {
        let cases = [
            ("name = \"sales\"", "name = \"Sales Team\"", "instance.name"),
            (
                "url = \"postgres://postgres@127.0.0.1:5432/ixs_sales\"",
                "url = \"mysql://x\"",
                "database.url",
            ),
        ];
        for (from, to, key) in cases {
            let (_dir, path) = file(&MINIMAL.replace(from, to));
            let error = Settings::load(&path, []).unwrap_err().to_string();
            assert!(error.contains(key), "{key}: {error}");
        }
        for (listen, key) in [
            ("header_read_timeout = \"0s\"", "listen.header_read_timeout"),
            ("max_connections = 0", "listen.max_connections"),
            ("max_uri_bytes = 70000", "listen.max_uri_bytes"),
            ("max_header_bytes = 100", "listen.max_header_bytes"),
            ("max_headers = 0", "listen.max_headers"),
        ] {
            let text = MINIMAL.replace(
                "http = \"127.0.0.1:7201\"",
                &format!("http = \"127.0.0.1:7201\"\n{listen}"),
            );
            let (_dir, path) = file(&text);
            let error = Settings::load(&path, []).unwrap_err().to_string();
            assert!(error.contains(key), "{key}: {error}");
        }
        let (_dir, path) = file(&format!(
            "{MINIMAL}\n[routing]\nmin_priority = 5\nmax_priority = 1\n"
        ));
        let error = Settings::load(&path, []).unwrap_err().to_string();
        assert!(error.contains("routing.min_priority"), "{error}");
    }

    #[test]
    fn the_database_password_is_never_described() {
        let (_dir, path) = file(&MINIMAL.replace("postgres@", "postgres:s3cret@"));
        let settings = Settings::load(&path, []).unwrap();
        assert!(!settings.database.describe().contains("s3cret"));
        assert!(!format!("{settings:?}").contains("s3cret"));
    }
}
