//! Config-server settings: one TOML file, then `IXS__SECTION__KEY`
//! environment variables, validated into one typed struct at start.
//!
//! As for the instance settings, nothing here reads the process environment:
//! the caller passes the variables in.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::http_serve::ConnectionLimits;
pub use crate::settings::SettingsError;
/// The defaults of the `listen` keys an instance has too.
use crate::settings::defaults as shared;
use crate::settings::{Findings, Layers, check_connection_limits};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub listen: ListenSettings,
    pub directory: DirectorySettings,
    #[serde(default)]
    pub tokens: TokenSettings,
    #[serde(default)]
    pub shutdown: ShutdownSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenSettings {
    /// Address of the HTTP API; port 0 picks a free one.
    #[serde(default = "defaults::http")]
    pub http: SocketAddr,
    /// Largest request body accepted, in bytes.
    #[serde(default = "defaults::max_body_bytes")]
    pub max_body_bytes: usize,
    /// How long a client has to send a request's head, from when the
    /// server waits for one; an idle connection is closed after it too.
    #[serde(default = "shared::header_read_timeout", with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// HTTP connections served at once (watch streams included); further
    /// ones wait to be accepted.
    #[serde(default = "shared::http_max_connections")]
    pub max_connections: usize,
    /// Longest request target (path and query), in bytes; longer is `414`.
    #[serde(default = "shared::max_uri_bytes")]
    pub max_uri_bytes: usize,
    /// Largest header section of a request, in bytes; larger is `431`.
    #[serde(default = "shared::max_header_bytes")]
    pub max_header_bytes: usize,
    /// Most headers in a request; more is `431`.
    #[serde(default = "shared::max_headers")]
    pub max_headers: usize,
}

impl Default for ListenSettings {
    fn default() -> Self {
        ListenSettings::on(defaults::http())
    }
}

impl ListenSettings {
    /// Listening on `http`, every other key at its default.
    fn on(http: SocketAddr) -> ListenSettings {
        ListenSettings {
            http,
            max_body_bytes: defaults::max_body_bytes(),
            header_read_timeout: shared::header_read_timeout(),
            max_connections: shared::http_max_connections(),
            max_uri_bytes: shared::max_uri_bytes(),
            max_header_bytes: shared::max_header_bytes(),
            max_headers: shared::max_headers(),
        }
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectorySettings {
    /// Folder of the tenant's `*.toml` files.
    pub path: PathBuf,
    /// How often the files are checked for changes (names, sizes,
    /// modification times and contents).
    #[serde(default = "defaults::poll_interval", with = "humantime_serde")]
    pub poll_interval: Duration,
    /// How many recent revisions are kept, so that a watcher can resume
    /// after a disconnection without refetching everything.
    #[serde(default = "defaults::history")]
    pub history: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    /// How long a bearer token stays valid after login.
    #[serde(default = "defaults::ttl", with = "humantime_serde")]
    pub ttl: Duration,
}

impl Default for TokenSettings {
    fn default() -> Self {
        TokenSettings {
            ttl: defaults::ttl(),
        }
    }
}

/// The same `[shutdown]` section as an instance's.
pub use crate::settings::ShutdownSettings;

mod defaults {
    use std::net::SocketAddr;
    use std::time::Duration;

    pub fn http() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 7200))
    }
    pub fn max_body_bytes() -> usize {
        64 * 1024
    }
    pub fn poll_interval() -> Duration {
        Duration::from_millis(250)
    }
    pub fn history() -> usize {
        256
    }
    pub fn ttl() -> Duration {
        Duration::from_secs(8 * 3600)
    }
}

impl Settings {
    /// Reads `path`, applies `IXS__SECTION__KEY` overrides from `env`, and
    /// validates; every problem names its file and line, or its variable.
    pub fn load(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, SettingsError> {
        let (settings, layers): (Settings, Layers) =
            crate::settings::layered::load(path, env, &[])?;
        settings.findings().into_result(Some(&layers))?;
        Ok(settings)
    }

    /// Settings built in code (tests, the demo): the tenant files in
    /// `directory`, a free port on the loopback interface, every other key
    /// at its default.
    pub fn for_directory(directory: impl Into<PathBuf>) -> Settings {
        Settings {
            listen: ListenSettings::on(SocketAddr::from(([127, 0, 0, 1], 0))),
            directory: DirectorySettings {
                path: directory.into(),
                poll_interval: defaults::poll_interval(),
                history: defaults::history(),
            },
            tokens: TokenSettings::default(),
            shutdown: ShutdownSettings::default(),
        }
    }

    /// Checks the values; reads no file.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.findings().into_result(None)
    }

    fn findings(&self) -> Findings {
        let mut found = Findings::default();
        found.check(
            self.listen.max_body_bytes >= 1024,
            "listen.max_body_bytes",
            "must be at least 1024",
        );
        check_connection_limits(&self.listen.connection_limits(), &mut found);
        found.check(
            !self.directory.path.as_os_str().is_empty(),
            "directory.path",
            "must not be empty",
        );
        found.check(
            self.directory.poll_interval >= Duration::from_millis(10),
            "directory.poll_interval",
            "must be at least 10ms",
        );
        found.check(
            (1..=100_000).contains(&self.directory.history),
            "directory.history",
            "must be 1 to 100000",
        );
        found.check(
            self.tokens.ttl >= Duration::from_secs(1),
            "tokens.ttl",
            "must be at least 1s",
        );
        found.check(
            !self.shutdown.grace_period.is_zero(),
            "shutdown.grace_period",
            "must be more than 0",
        );
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/config-server.toml")
    }

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config-server.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_example_file_loads() {
        let settings = Settings::load(&example(), []).unwrap();
        assert_eq!(settings.listen.http, "127.0.0.1:7200".parse().unwrap());
        assert_eq!(settings.directory.path, Path::new("config/tenant"));
        assert_eq!(settings.directory.poll_interval, Duration::from_millis(250));
        assert_eq!(settings.tokens.ttl, Duration::from_secs(8 * 3600));
        assert_eq!(settings.shutdown.grace_period, Duration::from_secs(10));
    }

    #[test]
    fn defaults_fill_what_is_left_out() {
        let (_dir, path) = file("[directory]\npath = \"/etc/ixs/tenant\"\n");
        let settings = Settings::load(&path, []).unwrap();
        assert_eq!(settings.listen.http, defaults::http());
        assert_eq!(settings.listen.max_body_bytes, 64 * 1024);
        assert_eq!(settings.directory.history, 256);
        assert_eq!(settings.tokens.ttl, Duration::from_secs(8 * 3600));
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
        let (_dir, path) = file("[directory]\npath = \"/etc/ixs/tenant\"\n");
        let vars = env(&[
            ("IXS__DIRECTORY__PATH", "/srv/tenant"),
            ("IXS__DIRECTORY__POLL_INTERVAL", "1s"),
            ("IXS__LISTEN__HTTP", "0.0.0.0:9200"),
            ("IXS__TOKENS__TTL", "30m"),
            ("UNRELATED", "x"),
        ]);
        let settings = Settings::load(&path, vars).unwrap();
        assert_eq!(settings.directory.path, Path::new("/srv/tenant"));
        assert_eq!(settings.directory.poll_interval, Duration::from_secs(1));
        assert_eq!(settings.listen.http, "0.0.0.0:9200".parse().unwrap());
        assert_eq!(settings.tokens.ttl, Duration::from_secs(1800));
    }

    #[test]
    fn an_unknown_key_is_named() {
        let (_dir, path) = file("[directory]\npath = \"t\"\nwatch = true\n");
        let error = Settings::load(&path, []).unwrap_err().to_string();
        assert!(error.contains("watch"), "{error}");
        let (_dir, path) = file("[directory]\npath = \"t\"\n[tokenz]\nttl = \"1h\"\n");
        let error = Settings::load(&path, []).unwrap_err().to_string();
        assert!(error.contains("tokenz"), "{error}");
    }

    #[test]
    fn the_directory_is_required() {
        let (_dir, path) = file("[listen]\nhttp = \"127.0.0.1:0\"\n");
        let error = Settings::load(&path, []).unwrap_err().to_string();
        assert!(error.contains("directory"), "{error}");
    }

    #[test]
    fn validation_names_the_setting() {
        let cases = [
            ("[tokens]\nttl = \"0s\"\n", "tokens.ttl"),
            ("[listen]\nmax_body_bytes = 10\n", "listen.max_body_bytes"),
            (
                "[listen]\nheader_read_timeout = \"0s\"\n",
                "listen.header_read_timeout",
            ),
            ("[listen]\nmax_connections = 0\n", "listen.max_connections"),
            ("[listen]\nmax_uri_bytes = 10\n", "listen.max_uri_bytes"),
            ("[listen]\nmax_headers = 5000\n", "listen.max_headers"),
            (
                "[shutdown]\ngrace_period = \"0s\"\n",
                "shutdown.grace_period",
            ),
        ];
        for (extra, key) in cases {
            let (_dir, path) = file(&format!("[directory]\npath = \"t\"\n{extra}"));
            let error = Settings::load(&path, []).unwrap_err().to_string();
            assert!(error.contains(key), "{key}: {error}");
        }
        let (_dir, path) = file("[directory]\npath = \"t\"\npoll_interval = \"1ms\"\n");
        let error = Settings::load(&path, []).unwrap_err().to_string();
        assert!(error.contains("directory.poll_interval"), "{error}");
    }
}
