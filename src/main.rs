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
    /// Print the live statistics of every interaction server of the tenant
    /// (with --config-server) or of one (with --url): queues and agents;
    /// an instance that does not answer is shown as down. Exits non-zero
    /// if any is down.
    Stats(ixs::report::StatsArgs),
    /// Print the argon2 hash of a password or secret read from standard input,
    /// for the tenant's directory files.
    HashPassword,
    /// Load-test a running instance over HTTP: gateways submit, simulated
    /// agents take the offers from their live streams, accept, hold and
    /// stop them; report rates, latencies, errors and the writer's batches.
    Bench(Box<BenchArgs>),
}

/// `ixs bench`.
#[derive(Debug, clap::Args)]
struct BenchArgs {
    /// The instance (a loopback address unless --remote).
    #[arg(long, env = "IXS_BENCH_URL", default_value = "http://127.0.0.1:7201")]
    url: String,
    /// Allow a URL that is not a loopback address.
    #[arg(long)]
    remote: bool,
    /// The person the gateways log in as.
    #[arg(long, default_value = "gateway")]
    gateway: String,
    /// The password of the gateway and of every agent.
    #[arg(
        long,
        env = "IXS_BENCH_PASSWORD",
        default_value = "demo",
        hide_default_value = true
    )]
    password: String,
    /// The business process the gateways submit to.
    #[arg(long, default_value = "sales-email")]
    process: String,
    /// Its queue they submit to.
    #[arg(long, default_value = "inbound")]
    queue: String,
    /// The media type of the submits; the agents log in with it.
    #[arg(long, default_value = "email")]
    media: String,
    /// Open loop: submits per second, Poisson arrivals.
    #[arg(long, conflicts_with = "clients", required_unless_present_any = ["clients", "write_tenant"])]
    rate: Option<f64>,
    /// Closed loop: clients submitting as fast as they are answered.
    #[arg(long)]
    clients: Option<usize>,
    /// Simulated agents, named by --agent-pattern.
    #[arg(long, default_value_t = 0)]
    agents: usize,
    /// Their names: {n} is 1, 2, … up to --agents.
    #[arg(long, default_value = "bench-{n}")]
    agent_pattern: String,
    /// The agents by name instead (comma-separated), e.g. anna,arno.
    #[arg(long, value_delimiter = ',', conflicts_with = "agents")]
    agent_names: Vec<String>,
    /// How long an agent holds an interaction between accept and stop.
    #[arg(long, default_value = "0ms", value_parser = humantime::parse_duration)]
    hold: std::time::Duration,
    /// Exponentially distributed holds of this mean instead.
    #[arg(long, value_name = "MEAN", conflicts_with = "hold", value_parser = humantime::parse_duration)]
    hold_exp: Option<std::time::Duration>,
    /// How long to submit (10s when neither this nor --count is given).
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<std::time::Duration>,
    /// How many interactions to submit.
    #[arg(long)]
    count: Option<u64>,
    /// After the last submit, how long to wait for the agents to finish.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    drain: std::time::Duration,
    /// Print the report as JSON (and no progress line).
    #[arg(long)]
    json: bool,
    /// Each submit's customer is one of N who come back (0: every
    /// interaction a new customer's).
    #[arg(long, value_name = "N", default_value_t = 0)]
    returning_customers: u64,
    /// A person (role reporter, e.g. rita) who reads the event feed during
    /// the run: the report says how far behind the changes it read them.
    #[arg(long, value_name = "PERSON")]
    feed_reader: Option<String>,
    /// Write a tenant for --agents agents into DIR instead of running: a copy
    /// of --tenant-from plus their persons, with --password, and exit.
    #[arg(long, value_name = "DIR")]
    write_tenant: Option<PathBuf>,
    /// The tenant --write-tenant copies.
    #[arg(long, value_name = "DIR", default_value = "config/tenant")]
    tenant_from: PathBuf,
    /// With --write-tenant: how many interactions of --media each agent may
    /// hold at once.
    #[arg(long, default_value_t = 5)]
    capacity: u32,
    /// With --write-tenant: the folder of the agents, which the instance
    /// reads.
    #[arg(long, default_value = "sales")]
    folder: String,
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
        Verb::Bench(args) => return bench(*args).await,
        Verb::Stats(args) => {
            let reports = ixs::report::gather(&args).await?;
            if args.json {
                let listed: Vec<serde_json::Value> = reports
                    .iter()
                    .map(|r| match &r.stats {
                        Ok(stats) => serde_json::json!({
                            "instance": r.instance, "address": r.address,
                            "connected": r.connected, "stats": stats,
                        }),
                        Err(why) => serde_json::json!({
                            "instance": r.instance, "address": r.address,
                            "connected": r.connected, "down": why,
                        }),
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(listed));
            } else {
                print!("{}", ixs::report::render(&reports));
            }
            if reports.iter().any(|r| r.stats.is_err()) {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    use ixs::loadgen::{Arrivals, Hold, Plan};
    let agents = if args.agent_names.is_empty() {
        ixs::loadgen::names_from_pattern(&args.agent_pattern, args.agents)?
    } else {
        args.agent_names
    };
    if let Some(dir) = &args.write_tenant {
        let file = ixs::loadgen::write_tenant(
            &args.tenant_from,
            dir,
            &ixs::loadgen::TenantPlan {
                names: &agents,
                capacity: args.capacity,
                media: &args.media,
                password: &args.password,
                folder: &args.folder,
                process: &args.process,
            },
        )?;
        println!(
            "{}: {} agents ({} to {}), each holding up to {} {} at once",
            file.display(),
            agents.len(),
            agents.first().map_or("", String::as_str),
            agents.last().map_or("", String::as_str),
            args.capacity,
            args.media
        );
        return Ok(ExitCode::SUCCESS);
    }
    let arrivals = match (args.rate, args.clients) {
        (Some(rate), _) => Arrivals::Rate(rate),
        (None, Some(clients)) => Arrivals::Clients(clients),
        (None, None) => anyhow::bail!("--rate or --clients"),
    };
    let duration = match (args.duration, args.count) {
        (None, None) => Some(std::time::Duration::from_secs(10)),
        (duration, _) => duration,
    };
    let report = ixs::loadgen::run(Plan {
        url: args.url,
        allow_remote: args.remote,
        gateway: args.gateway,
        password: args.password,
        process: args.process,
        queue: args.queue,
        media: args.media,
        arrivals,
        agents,
        hold: match args.hold_exp {
            Some(mean) => Hold::Exponential(mean),
            None => Hold::Fixed(args.hold),
        },
        duration,
        count: args.count,
        drain: args.drain,
        progress: !args.json,
        feed_reader: args.feed_reader,
        returning_customers: args.returning_customers,
    })
    .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    let unfinished = report.agents > 0 && report.completed < report.submitted;
    Ok(if report.errors.total > 0 || unfinished {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
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
