//! The `ixs` command line: the server, its operator tools, and the demo.

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use ixs::config_server::{ConfigServer, ConfigServerHandle, Trigger};
use ixs::daemon::Daemon;
use ixs::settings::{Settings, SettingsError};
use std::path::PathBuf;
use std::process::ExitCode;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

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
        #[command(flatten)]
        config: InstanceConfig,
    },
    /// Run the tenant's configuration server until SIGTERM or SIGINT;
    /// SIGHUP reloads the tenant's directory.
    ConfigServer {
        /// The configuration server's settings file, e.g.
        /// /etc/ixs/config-server.toml.
        #[arg(long, env = "IXS_CONFIG", value_name = "FILE")]
        config: PathBuf,
        /// Check the settings and the tenant's files, report every problem,
        /// and exit (non-zero if any) without starting.
        #[arg(long)]
        check: bool,
    },
    /// Check an instance's settings, its secret, its database, its
    /// configuration server and the scope it yields, and its listen address,
    /// without starting; exit non-zero if any check fails.
    CheckConfig {
        /// The instance's settings file, e.g. /etc/ixs/sales.toml.
        #[arg(
            long,
            env = "IXS_CONFIG",
            value_name = "FILE",
            required_unless_present = "file",
            conflicts_with = "file"
        )]
        config: Option<PathBuf>,
        /// The settings file given without --config, as earlier versions
        /// took it.
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Check the tenant's directory files as the configuration server would
    /// load them, report every problem, and exit (non-zero if any).
    CheckTenant {
        /// The folder of the tenant's files, e.g. /etc/ixs/tenant.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Apply the database migrations of an instance (creating its database
    /// if database.create says so) and exit.
    Migrate {
        #[command(flatten)]
        config: InstanceConfig,
    },
    /// Run the example tenant on this machine: instances `sales` and
    /// `support`, each on its own database.
    Demo(ixs::demo::DemoArgs),
    /// Print the argon2 hash of a password or secret read from standard input,
    /// for the tenant's directory files.
    HashPassword,
}

/// The `--config` of the commands that act on one instance.
#[derive(Debug, clap::Args)]
struct InstanceConfig {
    /// The instance's settings file, e.g. /etc/ixs/sales.toml.
    #[arg(long, env = "IXS_CONFIG", value_name = "FILE")]
    config: PathBuf,
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
        Ok(code) => code,
        Err(e) => {
            match e.downcast_ref::<SettingsError>() {
                // Each problem on a line of its own.
                Some(settings) => {
                    for problem in &settings.problems {
                        eprintln!("error: {problem}");
                    }
                }
                None => eprintln!("error: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

fn load(path: &std::path::Path) -> anyhow::Result<Settings> {
    Ok(Settings::load(path, std::env::vars())?)
}

/// Prints `report`; success only if every check passed.
fn reported(report: ixs::check::Report) -> ExitCode {
    print!("{report}");
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn run(verb: Verb) -> anyhow::Result<ExitCode> {
    match verb {
        Verb::Serve { config } => {
            let settings = load(&config.config)?;
            let cancel = CancellationToken::new();
            let span = tracing::info_span!("instance", instance = %settings.instance.name);
            tokio::spawn(ixs::daemon::shutdown_on_signals(cancel.clone()).instrument(span));
            let daemon = Daemon::build(settings).await?;
            daemon.run(cancel).await?;
        }
        Verb::ConfigServer {
            config,
            check: true,
        } => {
            return Ok(reported(ixs::check::config_server(
                &config,
                std::env::vars(),
            )));
        }
        Verb::ConfigServer {
            config,
            check: false,
        } => {
            let settings = ixs::config_server::Settings::load(&config, std::env::vars())?;
            // Installed before the directory loads: SIGHUP's default action
            // would end the process.
            let hangups = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
            let cancel = CancellationToken::new();
            tokio::spawn(ixs::daemon::shutdown_on_signals(cancel.clone()));
            let server = ConfigServer::build(settings).await?;
            tokio::spawn(reload_on_hangup(hangups, server.handle(), cancel.clone()));
            server.run(cancel).await?;
        }
        Verb::CheckConfig { config, file } => {
            let path = config
                .or(file)
                .context("give the settings file: ixs check-config --config FILE")?;
            return Ok(reported(
                ixs::check::instance(&path, std::env::vars()).await,
            ));
        }
        Verb::CheckTenant { dir } => return Ok(reported(ixs::check::tenant_files(&dir))),
        Verb::Migrate { config } => {
            let settings = load(&config.config)?;
            ixs::daemon::migrate(&settings).await?;
            println!("{}: database migrated", settings.database.describe());
        }
        Verb::Demo(args) => ixs::demo::run(args).await?,
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
        }
    }
    Ok(ExitCode::SUCCESS)
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
    fn every_option_and_command_has_a_help_text() {
        let cli = Cli::command();
        let mut missing: Vec<String> = cli
            .get_arguments()
            .filter(|arg| arg.get_help().is_none())
            .map(|arg| arg.get_id().to_string())
            .collect();
        for command in cli.get_subcommands() {
            if command.get_about().is_none() {
                missing.push(command.get_name().to_owned());
            }
            for arg in command.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if arg.get_help().is_none() && !builtin {
                    missing.push(format!("{} {}", command.get_name(), arg.get_id()));
                }
            }
        }
        assert!(missing.is_empty(), "without a help text: {missing:?}");
    }

    fn config_of(args: &[&str]) -> PathBuf {
        match Cli::try_parse_from(args).unwrap().command {
            Verb::Serve { config } | Verb::Migrate { config } => config.config,
            Verb::ConfigServer { config, .. } => config,
            Verb::CheckConfig { config, file } => config.or(file).unwrap(),
            other => panic!("no settings file: {other:?}"),
        }
    }

    #[test]
    fn every_command_on_a_settings_file_takes_it_as_config() {
        let file = std::path::Path::new("config/sales.toml");
        for verb in ["serve", "migrate", "check-config"] {
            assert_eq!(
                config_of(&["ixs", verb, "--config", "config/sales.toml"]),
                file
            );
        }
        assert_eq!(
            config_of(&["ixs", "config-server", "--config", "config/sales.toml"]),
            file
        );
        // check-config's earlier form.
        assert_eq!(
            config_of(&["ixs", "check-config", "config/sales.toml"]),
            file
        );
        assert!(matches!(
            Cli::try_parse_from(["ixs", "config-server", "--check", "--config", "c.toml"])
                .unwrap()
                .command,
            Verb::ConfigServer { check: true, .. }
        ));
    }
}
