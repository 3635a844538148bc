//! The `ixs` command line: the server, its operator tools, and the demo.

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use ixs::config_server::{ConfigServer, ConfigServerHandle, Trigger};
use ixs::daemon::Daemon;
use ixs::settings::Settings;
use std::path::PathBuf;
use std::process::ExitCode;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// mimalloc rather than glibc's allocator: under load, glibc's arena locks
/// and chunk consolidation took about a third of the instance's CPU time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "ixs", version, about = "Interaction routing server")]
struct Cli {
    /// Log lines as text or JSON (filter with RUST_LOG, default "info").
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "IXS_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Verb,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Verb {
    /// Run one instance until SIGTERM or SIGINT.
    Serve {
        /// The instance's settings file, e.g. /etc/ixs/sales.toml.
        #[arg(long, env = "IXS_CONFIG")]
        config: PathBuf,
    },
    /// Run the tenant's configuration server until SIGTERM or SIGINT;
    /// SIGHUP reloads the tenant's directory.
    ConfigServer {
        /// The config server's settings file, e.g. /etc/ixs/config-server.toml.
        #[arg(long, env = "IXS_CONFIG")]
        config: PathBuf,
    },
    /// Validate a settings file (and the scope it yields) without starting.
    CheckConfig {
        /// The settings file to check.
        file: PathBuf,
    },
    /// Apply the database migrations of an instance and exit.
    Migrate {
        #[arg(long, env = "IXS_CONFIG")]
        config: PathBuf,
    },
    /// Run the example tenant on this machine: instances `sales` and
    /// `support`, each on its own database.
    Demo(ixs::demo::DemoArgs),
    /// Print the argon2 hash of a password or secret read from standard input,
    /// for the tenant's directory files.
    HashPassword,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = std::env::var("RUST_LOG").ok();
    ixs::telemetry::init(filter.as_deref(), matches!(cli.log_format, LogFormat::Json));
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(path: &std::path::Path) -> anyhow::Result<Settings> {
    Ok(Settings::load(path, std::env::vars())?)
}

async fn run(verb: Verb) -> anyhow::Result<()> {
    match verb {
        Verb::Serve { config } => {
            let settings = load(&config)?;
            let cancel = CancellationToken::new();
            tokio::spawn(ixs::daemon::shutdown_on_signals(cancel.clone()));
            let daemon = Daemon::build(settings).await?;
            daemon.run(cancel).await?;
            Ok(())
        }
        Verb::ConfigServer { config } => {
            let settings = ixs::config_server::Settings::load(&config, std::env::vars())?;
            // Installed before the directory loads: SIGHUP's default action
            // would end the process.
            let hangups = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
            let cancel = CancellationToken::new();
            tokio::spawn(ixs::daemon::shutdown_on_signals(cancel.clone()));
            let server = ConfigServer::build(settings).await?;
            tokio::spawn(reload_on_hangup(hangups, server.handle(), cancel.clone()));
            server.run(cancel).await
        }
        Verb::CheckConfig { file } => {
            let settings = load(&file)?;
            let report = ixs::daemon::check(&settings).await?;
            println!("{}: ok", file.display());
            println!("{report}");
            Ok(())
        }
        Verb::Migrate { config } => {
            let settings = load(&config)?;
            ixs::daemon::migrate(&settings).await?;
            println!("{}: database migrated", settings.database.describe());
            Ok(())
        }
        Verb::Demo(args) => ixs::demo::run(args).await,
        Verb::HashPassword => {
            let mut plain = String::new();
            std::io::stdin()
                .read_line(&mut plain)
                .context("cannot read standard input")?;
            let plain = plain.trim_end_matches(['\r', '\n']);
            anyhow::ensure!(
                !plain.is_empty(),
                "nothing to hash: standard input was empty"
            );
            println!("{}", ixs::directory::hash_secret(plain));
            Ok(())
        }
    }
}

/// Reloads the tenant's directory on every SIGHUP, until `cancel`.
async fn reload_on_hangup(
    mut hangups: Signal,
    server: ConfigServerHandle,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            received = hangups.recv() => if received.is_none() { return },
        }
        tracing::info!(signal = "SIGHUP", "reloading the tenant directory");
        server.reload(Trigger::Signal).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_takes_a_config_file() {
        let cli = Cli::try_parse_from(["ixs", "serve", "--config", "config/sales.toml"]).unwrap();
        assert!(
            matches!(cli.command, Verb::Serve { config } if config == std::path::Path::new("config/sales.toml"))
        );
    }

    #[test]
    fn config_server_takes_a_config_file() {
        let cli = Cli::try_parse_from([
            "ixs",
            "config-server",
            "--config",
            "config/config-server.toml",
        ])
        .unwrap();
        assert!(
            matches!(cli.command, Verb::ConfigServer { config } if config == std::path::Path::new("config/config-server.toml"))
        );
    }
}
