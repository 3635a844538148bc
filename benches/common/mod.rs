//! What the benchmarks share: a scratch database and CPU accounting from
//! `/proc`.

use anyhow::Context;
use sqlx::{Connection, Executor, PgConnection};

/// A database of its own on the benchmark's server, dropped at the end.
pub struct Scratch {
    server: String,
    name: String,
    pub url: String,
}

impl Scratch {
    /// Creates a database named `prefix` and a fresh id, after dropping
    /// idle leftovers of runs that died before their clean-up.
    pub async fn create(server: &str, prefix: &str) -> anyhow::Result<Scratch> {
        let mut admin = PgConnection::connect(server)
            .await
            .with_context(|| format!("cannot connect to {}", redact(server)))?;
        // Leftovers of runs that died before their clean-up, and idle.
        let leftovers: Vec<String> = sqlx::query_scalar(
            "SELECT datname FROM pg_database d WHERE starts_with(datname, $1)
             AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)",
        )
        .bind(prefix)
        .fetch_all(&mut admin)
        .await?;
        for name in leftovers {
            eprintln!("dropping leftover database {name}");
            admin
                .execute(format!("DROP DATABASE IF EXISTS \"{name}\"").as_str())
                .await?;
        }
        let name = format!("{prefix}{}", uuid::Uuid::now_v7().simple());
        admin
            .execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await?;
        admin.close().await?;
        let mut url = reqwest::Url::parse(server).context("the database URL is not a URL")?;
        url.set_path(&format!("/{name}"));
        Ok(Scratch {
            server: server.to_owned(),
            name,
            url: url.to_string(),
        })
    }

    pub async fn drop_database(self) {
        let dropped = async {
            let mut admin = PgConnection::connect(&self.server).await?;
            admin
                .execute(format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name).as_str())
                .await?;
            admin.close().await
        };
        if let Err(e) = dropped.await {
            eprintln!("could not drop database {}: {e}", self.name);
        }
    }
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => "<database url>".to_owned(),
    }
}

/// Clock ticks per second (`getconf CLK_TCK`).
pub fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process, in clock ticks (0 if unreadable).
pub fn process_ticks(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // Fields after the command name, which may hold spaces: state is the
    // first, utime the 12th and stime the 13th.
    let Some((_, rest)) = stat.rsplit_once(") ") else {
        return 0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// Every `postgres` process on this machine (the server and its backends).
pub fn postgres_ticks() -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == "postgres")
        })
        .map(process_ticks)
        .sum()
}
