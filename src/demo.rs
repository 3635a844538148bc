//! `ixs demo`: the example tenant on one machine in one command — its
//! configuration server and the instances `sales` and `support`, each on its
//! own database of one PostgreSQL server, until Ctrl-C.

use crate::config_server::{self, ConfigServer};
use crate::daemon::{self, Daemon};
use crate::settings;
use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The PostgreSQL server; each instance gets its own database on it
    /// (`ixs_demo_sales`, `ixs_demo_support`), created if missing.
    #[arg(
        long,
        env = "IXS_DEMO_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub database_url: String,
    /// The start of the instances' database names: `<prefix>sales` and
    /// `<prefix>support` (letters, digits and `_`).
    #[arg(long, default_value = "ixs_demo_")]
    pub database_prefix: String,
    /// The tenant's directory files.
    #[arg(long, default_value = "config/tenant")]
    pub tenant: PathBuf,
    /// Address the instances listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port of the configuration server; `sales` listens on the next one and
    /// `support` on the one after.
    #[arg(long, default_value_t = 7200)]
    pub port: u16,
}

/// The demo tenant's application secret (see `config/tenant/README.md`).
const DEMO_SECRET: &str = "demo-secret";

/// Everyone who logs in to the demo tenant (`config/tenant/people.toml`).
const PEOPLE: &str = "people: gateway, agents anna and arno (sales), bea and bob (support), \
                      reporter rita, admin; every password is 'demo'";

/// The demo's instances: name, application, port offset.
/// Offset 0 is the configuration server's port.
const SOLUTIONS: [(&str, &str, u16); 2] =
    [("sales", "ixs-sales", 1), ("support", "ixs-support", 2)];

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let server = PgConnectOptions::from_str(&args.database_url)
        .context("--database-url is not a PostgreSQL URL")?;
    anyhow::ensure!(
        !args.database_prefix.is_empty()
            && args
                .database_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "--database-prefix {:?}: letters, digits and '_' only",
        args.database_prefix
    );
    let cancel = CancellationToken::new();
    tokio::spawn(daemon::shutdown_on_signals(cancel.clone()));

    let mut config = config_server::Settings::for_directory(&args.tenant);
    config.listen.http = SocketAddr::new(args.host, args.port);
    let config_server = ConfigServer::build(config)
        .await
        .context("cannot start the configuration server")?;
    let config_url = format!("http://{}", config_server.local_addr());
    let config_task = {
        let cancel = cancel.clone();
        let span = tracing::info_span!("demo", part = "config-server");
        tokio::spawn(async move { config_server.run(cancel).await }.instrument(span))
    };

    let mut daemons = Vec::new();
    for (name, application, offset) in SOLUTIONS {
        let database = format!("{}{name}", args.database_prefix);
        let url = url_with_database(&args.database_url, &server, &database);
        let settings = settings::for_instance(
            name,
            application,
            SocketAddr::new(args.host, args.port + offset),
            &url,
            settings::ScopeFrom::Server {
                url: config_url.clone(),
                secret: DEMO_SECRET.to_owned(),
            },
        );
        let daemon = Daemon::build(settings)
            .await
            .with_context(|| format!("cannot start instance {name}"))?;
        daemons.push((name, database, daemon));
    }

    println!("ixs demo: tenant 'acme' from {}", args.tenant.display());
    println!("  config   {config_url}  (edit the tenant's files: changes apply live)");
    for (name, database, daemon) in &daemons {
        println!(
            "  {name:<8} http://{}  (database {database})",
            daemon.local_addr()
        );
    }
    println!("  {PEOPLE}");
    println!(
        "  log in: curl -s -X POST http://{}/v1/sessions -H 'Content-Type: application/json' \\
         -d '{{\"person\":\"gateway\",\"password\":\"demo\"}}'",
        daemons[0].2.local_addr()
    );
    println!("Ctrl-C stops everything.");

    let mut tasks = Vec::new();
    for (name, _, daemon) in daemons {
        let cancel = cancel.clone();
        let span = tracing::info_span!("demo", solution = name);
        tasks.push(tokio::spawn(
            async move { (name, daemon.run(cancel).await) }.instrument(span),
        ));
    }
    let mut failed = None;
    for task in tasks {
        let (name, result) = task.await.context("an instance task failed")?;
        if let Err(e) = result {
            // One instance failing does not stop the other.
            eprintln!("instance {name} stopped: {e}");
            failed.get_or_insert(name);
        }
    }
    cancel.cancel();
    if let Err(e) = config_task
        .await
        .context("the configuration server task failed")?
    {
        eprintln!("the configuration server stopped: {e:#}");
    }
    match failed {
        Some(name) => anyhow::bail!("instance {name} stopped with an error"),
        None => Ok(()),
    }
}

/// `url` with its database replaced by `database`: user, password, host,
/// port and parameters kept.
fn url_with_database(url: &str, server: &PgConnectOptions, database: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_path(&format!("/{database}"));
            parsed.to_string()
        }
        Err(_) => format!(
            "postgres://{}@{}:{}/{database}",
            server.get_username(),
            server.get_host(),
            server.get_port()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_databases_keep_the_servers_credentials_and_parameters() {
        let cases = [
            (
                "postgres://postgres@127.0.0.1:5432/postgres",
                "postgres://postgres@127.0.0.1:5432/ixs_demo_sales",
            ),
            (
                "postgres://ixs:s%40cret@db.example:6432",
                "postgres://ixs:s%40cret@db.example:6432/ixs_demo_sales",
            ),
            (
                "postgres://ixs:pw@db.example/postgres?sslmode=require",
                "postgres://ixs:pw@db.example/ixs_demo_sales?sslmode=require",
            ),
        ];
        for (url, expected) in cases {
            let server: PgConnectOptions = url.parse().unwrap();
            assert_eq!(
                url_with_database(url, &server, "ixs_demo_sales"),
                expected,
                "{url}"
            );
        }
    }

    #[test]
    fn the_demo_names_everyone_who_can_log_in() {
        let tenant = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/tenant");
        let directory = crate::directory::Directory::load(&tenant).unwrap();
        let named: Vec<&str> = PEOPLE
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
            .collect();
        for person in directory.persons.values() {
            if person.password_hash.is_some() {
                assert!(named.contains(&person.name.as_str()), "{}", person.name);
            }
        }
    }

    #[test]
    fn every_part_of_the_demo_has_its_own_port() {
        let mut offsets: Vec<u16> = SOLUTIONS.iter().map(|(_, _, o)| *o).collect();
        offsets.push(0);
        offsets.sort_unstable();
        offsets.dedup();
        assert_eq!(offsets.len(), SOLUTIONS.len() + 1);
    }

    #[test]
    fn database_is_replaced_in_the_url() {
        let url = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable";
        let server = PgConnectOptions::from_str(url).unwrap();
        assert_eq!(
            url_with_database(url, &server, "ixs_demo_sales"),
            "postgres://postgres@127.0.0.1:5432/ixs_demo_sales?sslmode=disable"
        );
        let bare = "postgres://postgres@127.0.0.1:5432";
        let server = PgConnectOptions::from_str(bare).unwrap();
        assert_eq!(
            url_with_database(bare, &server, "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
    }
}
