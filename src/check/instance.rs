//! `ixs check-config`: an instance's settings, its secret, its database, its
//! configuration server and the scope it yields, and its listen address.
//! Nothing is created, migrated or bound for longer than the check.

use super::{Report, served::served};
use crate::config_client::{ClientError, ConfigClient};
use crate::daemon::scope::from_snapshot;
use crate::directory::Directory;
use crate::live::ScopeSource;
use crate::settings::{Layers, Origin, Settings};
use crate::telemetry::error_chain;
use secrecy::SecretString;
use sqlx::{Connection, PgConnection};
use std::collections::BTreeMap;
use std::path::Path;

/// Checks the instance whose settings are in `path`, with the `IXS__…`
/// variables of `env` over it.
pub async fn instance(path: &Path, env: impl IntoIterator<Item = (String, String)>) -> Report {
    let mut report = Report::default();
    let (settings, layers) = match Settings::load_with_layers(path, env) {
        Ok(loaded) => loaded,
        Err(error) => {
            for problem in error.problems {
                report.fail("settings", problem.to_string());
            }
            return report;
        }
    };
    report.pass(
        "settings",
        format!(
            "{} (instance {}, application {})",
            path.display(),
            settings.instance.name,
            settings.instance.application
        ),
    );
    let secret = match &settings.config_server.url {
        Some(_) => {
            let secret = settings.config_server.secret();
            let from = secret_source(&settings, &layers);
            match secret {
                Ok(secret) => {
                    report.pass("secret", format!("read from {from}"));
                    Some((secret, from))
                }
                Err(error) => {
                    report.fail("secret", error.problems[0].reason.clone());
                    None
                }
            }
        }
        None => None,
    };
    database(&mut report, &settings).await;
    match (
        &settings.config_server.url,
        &settings.config_server.directory,
    ) {
        (Some(url), _) => {
            if let Some((secret, from)) = secret {
                server(&mut report, &settings, url, &secret, &from).await;
            }
        }
        (None, Some(directory)) => files(&mut report, &settings, directory),
        (None, None) => {}
    }
    listen(&mut report, &settings);
    report
}

/// Where the application's secret is read from, as the operator gave it.
fn secret_source(settings: &Settings, layers: &Layers) -> String {
    let key = match &settings.config_server.secret_file {
        Some(file) => return file.display().to_string(),
        None => "config_server.secret",
    };
    match layers.origin(key) {
        Origin::Env(var) => var,
        Origin::File {
            path,
            line: Some(line),
        } => format!("{key} at {path}:{line}"),
        _ => key.to_owned(),
    }
}

async fn database(report: &mut Report, settings: &Settings) {
    let database = &settings.database;
    let described = database.describe();
    let options = match database.connect_options() {
        Ok(options) => options,
        Err(error) => {
            report.fail("database", error.to_string());
            return;
        }
    };
    let wait = database.acquire_timeout;
    let connection = match tokio::time::timeout(wait, PgConnection::connect_with(&options)).await {
        Err(_) => Err(format!(
            "{described} did not answer within {} (database.acquire_timeout)",
            humantime::format_duration(wait)
        )),
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(error)) if is_missing_database(&error) => {
            let known = known_migrations().len();
            if database.create {
                report.pass(
                    "database",
                    format!(
                        "{described} does not exist yet: serve creates it \
                             (database.create = true)"
                    ),
                );
                report.pass(
                    "migrations",
                    format!("{known} to apply, which serve does at start"),
                );
            } else {
                report.fail(
                    "database",
                    format!(
                        "{described} does not exist: create it, or set database.create = \
                             true"
                    ),
                );
            }
            return;
        }
        Ok(Err(error)) => Err(format!(
            "cannot connect to {described}: {}",
            error_chain(&error)
        )),
    };
    let mut connection = match connection {
        Ok(connection) => connection,
        Err(reason) => {
            report.fail("database", reason);
            return;
        }
    };
    report.pass("database", format!("{described} answers"));
    let outcome = migrations(&mut connection).await;
    report.record("migrations", outcome);
    let _ = connection.close().await;
}

fn is_missing_database(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "3D000")
}

/// The migrations this build applies: version and description.
fn known_migrations() -> BTreeMap<i64, String> {
    sqlx::migrate!()
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| (m.version, m.description.to_string()))
        .collect()
}

/// Which migrations the database lacks, or why it cannot be migrated.
async fn migrations(connection: &mut PgConnection) -> Result<String, String> {
    let known = known_migrations();
    let applied: Vec<(i64, bool)> =
        match sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut *connection)
            .await
        {
            Ok(rows) => rows,
            // No migration table: nothing applied yet.
            Err(error)
                if error
                    .as_database_error()
                    .and_then(|e| e.code())
                    .is_some_and(|code| code == "42P01") =>
            {
                Vec::new()
            }
            Err(error) => {
                return Err(format!(
                    "cannot read the applied migrations: {}",
                    error_chain(&error)
                ));
            }
        };
    if let Some((version, _)) = applied.iter().find(|(v, _)| !known.contains_key(v)) {
        return Err(format!(
            "the database has migration {version}, which this ixs does not know: a newer ixs \
             migrated it"
        ));
    }
    if let Some((version, _)) = applied.iter().find(|(_, success)| !success) {
        return Err(format!(
            "migration {version} failed when it was applied: repair the database first"
        ));
    }
    let pending: Vec<String> = known
        .iter()
        .filter(|(version, _)| !applied.iter().any(|(v, _)| v == *version))
        .map(|(version, description)| format!("{version} {description}"))
        .collect();
    Ok(if pending.is_empty() {
        format!("all {} applied", known.len())
    } else {
        format!(
            "{} of {} to apply, which serve does at start: {}",
            pending.len(),
            known.len(),
            pending.join(", ")
        )
    })
}

/// The configuration server: reachable, the log-in accepted, the scope it
/// yields and whether it can be served.
async fn server(
    report: &mut Report,
    settings: &Settings,
    url: &str,
    secret: &SecretString,
    secret_from: &str,
) {
    let client = match ConfigClient::new(url, settings.config_server.timeout) {
        Ok(client) => client,
        Err(error) => {
            report.fail("configuration server", error_chain(&error));
            return;
        }
    };
    let answers = client.healthz().await.map(|()| format!("{url} answers"));
    if !report.record(
        "configuration server",
        answers.map_err(|e| unreachable(url, &e)),
    ) {
        return;
    }
    let application = &settings.instance.application;
    let token = match client.login_application(application, secret).await {
        Ok(token) => token,
        Err(ClientError::Refused(reason)) => {
            report.fail(
                "log-in",
                format!(
                    "the configuration server refused application '{application}' ({reason}): \
                     is {secret_from} the secret of {application}?"
                ),
            );
            return;
        }
        Err(error) => {
            report.fail("log-in", unreachable(url, &error));
            return;
        }
    };
    report.pass("log-in", format!("application {application} accepted"));
    let read = async {
        let whoami = client.whoami(&token).await?;
        let snapshot = client.objects(&token).await?;
        Ok::<_, ClientError>((whoami, snapshot))
    };
    let (whoami, snapshot) = match read.await {
        Ok(read) => read,
        Err(error) => {
            report.fail("scope", unreachable(url, &error));
            return;
        }
    };
    match from_snapshot(settings, &whoami, &snapshot, ScopeSource::ConfigServer) {
        Ok(state) => served(report, &state, &snapshot.directory, &settings.routing),
        Err(error) => report.fail("scope", format!("{error:#}")),
    }
}

fn unreachable(url: &str, error: &ClientError) -> String {
    match error {
        ClientError::Unreachable(cause) => {
            format!("{url} does not answer: {}", error_chain(cause))
        }
        other => format!("{url}: {}", error_chain(other)),
    }
}

/// The tenant's files read directly, and the scope they yield.
fn files(report: &mut Report, settings: &Settings, path: &Path) {
    let directory = match Directory::load(path) {
        Ok(directory) => directory,
        Err(error) => {
            let problems = error.problems();
            if problems.is_empty() {
                report.fail("tenant files", error.to_string());
            }
            for problem in problems {
                report.fail("tenant files", problem.to_string());
            }
            return;
        }
    };
    report.pass("tenant files", path.display().to_string());
    let application = &settings.instance.application;
    let state = match crate::daemon::scope::from_directory(settings, &directory) {
        Ok(state) => state,
        Err(error) => {
            report.fail("scope", format!("{error:#}"));
            return;
        }
    };
    let visible = match directory
        .applications
        .get(application)
        .and_then(|a| a.log_on_as.as_deref())
    {
        Some(person) => directory.filtered_for(person),
        None => Directory::empty(&directory.tenant.name),
    };
    served(report, &state, &visible, &settings.routing);
}

/// The listen address is free (unless it is port 0, any free port).
fn listen(report: &mut Report, settings: &Settings) {
    let addr = settings.listen.http;
    if addr.port() == 0 {
        report.pass("listen", format!("{} on any free port", addr.ip()));
        return;
    }
    let outcome = std::net::TcpListener::bind(addr)
        .map(|_| format!("{addr} is free"))
        .map_err(|e| format!("cannot listen on {addr}: {e}"));
    report.record("listen", outcome);
}
