//! A fresh PostgreSQL database per test, dropped when the test ends, and a
//! sweep of the leftovers of crashed runs.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The server tests create their databases on.
pub const DEFAULT_SERVER_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Databases of the suite are named `ixs_test_<unix-seconds>_<8 hex>`.
const PREFIX: &str = "ixs_test_";
/// Leftovers older than this are dropped at harness start. Younger ones may
/// belong to a test running in another process right now.
const SWEEP_AFTER_SECS: u64 = 3600;

/// The PostgreSQL server of the suite: `IXS_TEST_DATABASE_URL`, or the local
/// default.
pub fn server_url() -> String {
    std::env::var("IXS_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_SERVER_URL.to_owned())
}

/// One database of its own, dropped (`WITH (FORCE)`) when the last owner
/// drops it.
#[derive(Debug)]
pub struct TestDb {
    name: String,
    url: String,
    server: String,
}

impl TestDb {
    /// Creates a fresh database, after sweeping stale ones. Panics with the
    /// fix when PostgreSQL is not reachable: a suite that cannot reach its
    /// database must fail, never skip.
    pub async fn create() -> TestDb {
        let server = server_url();
        let mut admin = connect_admin(&server).await;
        sweep(&mut admin).await;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock before 1970")
            .as_secs();
        let name = format!("{PREFIX}{now}_{:08x}", rand::random::<u32>());
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let _ = admin.close().await;
        TestDb {
            url: with_database(&server, &name),
            name,
            server,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL of this database, for an instance's settings.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drops the database now, `WITH (FORCE)` (closing every connection to
    /// it), as an operator throwing an instance's database away would. An
    /// instance started on it again with `database.create` re-creates it
    /// empty.
    pub async fn drop_now(&self) {
        let mut admin = connect_admin(&self.server).await;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        ))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("cannot drop test database {}: {e}", self.name));
        let _ = admin.close().await;
    }

    /// Whether the database exists.
    pub async fn exists(&self) -> bool {
        let mut admin = connect_admin(&self.server).await;
        let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
            .bind(&self.name)
            .fetch_optional(&mut admin)
            .await
            .expect("look the database up");
        let _ = admin.close().await;
        found.is_some()
    }

    /// A small pool of its own on this database, for assertions.
    pub async fn pool(&self) -> PgPool {
        let options = PgConnectOptions::from_str(&self.url)
            .expect("test database URL")
            .disable_statement_logging();
        PgPoolOptions::new()
            .max_connections(3)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to test database {}: {e}", self.name))
    }
}

impl Drop for TestDb {
    /// Drops the database on a thread of its own with its own runtime: this
    /// may run inside (or after) the test's runtime, which cannot be blocked
    /// on from here.
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime for dropping the test database");
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&server).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut admin)
                    .await?;
                admin.close().await
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!(
                "could not drop test database {}: {e}; the next run sweeps it after an hour",
                self.name
            ),
            Err(_) => eprintln!("dropping test database {} panicked", self.name),
        }
    }
}

async fn connect_admin(server: &str) -> PgConnection {
    let options = match PgConnectOptions::from_str(server) {
        Ok(options) => options,
        Err(e) => panic!("IXS_TEST_DATABASE_URL is not a PostgreSQL URL: {e}"),
    };
    let options = options.disable_statement_logging();
    // Host, port and database only: the URL may hold a password.
    let shown = format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("")
    );
    match tokio::time::timeout(Duration::from_secs(10), options.connect()).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(e)) => panic!("{}", unreachable_message(&shown, &e.to_string())),
        Err(_) => panic!("{}", unreachable_message(&shown, "timed out after 10 s")),
    }
}

fn unreachable_message(server: &str, cause: &str) -> String {
    format!(
        "PostgreSQL is not reachable at {server} ({cause}): start it with \
         `pg_ctlcluster --skip-systemctl-redirect 15 main start`, or set \
         IXS_TEST_DATABASE_URL to a server where user may CREATE DATABASE"
    )
}

/// Drops `ixs_test_*` databases whose stamp is more than an hour old. Two
/// processes may sweep at once: failures are ignored, the next sweep retries.
async fn sweep(admin: &mut PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'ixs\\_test\\_%'")
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for name in names {
        if is_stale(&name, now) {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut *admin)
                .await;
        }
    }
}

/// Whether `name` is a suite database stamped more than an hour before `now`.
pub fn is_stale(name: &str, now: u64) -> bool {
    let Some(rest) = name.strip_prefix(PREFIX) else {
        return false;
    };
    let Some((stamp, suffix)) = rest.split_once('_') else {
        return false;
    };
    let well_formed = suffix.len() == 8 && suffix.chars().all(|c| c.is_ascii_hexdigit());
    match stamp.parse::<u64>() {
        Ok(stamp) if well_formed => now.saturating_sub(stamp) > SWEEP_AFTER_SECS,
        _ => false,
    }
}

/// `url` with its database replaced by `database` (query string kept).
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let after_scheme = base.find("://").map_or(0, |at| at + 3);
    match base[after_scheme..].find('/') {
        Some(slash) => format!("{}/{database}{query}", &base[..after_scheme + slash]),
        None => format!("{base}/{database}{query}"),
    }
}

/// `host:port/database` of `url`, as an instance describes its database.
pub fn described(url: &str) -> String {
    ixs::settings::for_instance(
        "x",
        "x",
        "127.0.0.1:0".parse().expect("socket address"),
        url,
        ixs::settings::ScopeFrom::Directory(std::path::PathBuf::new()),
    )
    .database
    .describe()
}
