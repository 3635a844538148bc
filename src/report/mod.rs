//! `ixs stats`: the live statistics of every interaction server of the
//! tenant in one table. With `--config-server`, it logs in there as a
//! person, reads the instances that person may see (`GET /v1/instances`),
//! logs in to each with the same credentials and reads `GET /v1/stats`;
//! with `--url`, one instance. An instance that cannot be asked is shown
//! as down, with why, never as zeros.

mod table;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::time::Duration;

pub use table::render;

#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// The tenant's configuration server, e.g. http://127.0.0.1:7200: every
    /// interaction server it lists to the person is asked.
    #[arg(long, value_name = "URL", required_unless_present = "url")]
    pub config_server: Option<String>,
    /// One interaction server instead, e.g. http://127.0.0.1:7201.
    #[arg(long, value_name = "URL", conflicts_with = "config_server")]
    pub url: Option<String>,
    /// The person to log in as, a reporter (the same credentials work on
    /// every instance).
    #[arg(long, env = "IXS_PERSON")]
    pub person: String,
    /// Her password (better given in IXS_PASSWORD than on the command line).
    #[arg(long, env = "IXS_PASSWORD", hide_env_values = true)]
    pub password: String,
    /// Print what each instance answered as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// What one instance answered.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceReport {
    /// Its name (solution), as the configuration server lists it, or the
    /// URL asked.
    pub instance: String,
    pub address: String,
    /// Whether it follows the configuration server, as that server says.
    pub connected: Option<bool>,
    /// Its `GET /v1/stats`, or why it could not be read.
    pub stats: Result<Value, String>,
}

/// How long one request may take before the instance is shown as down.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Asks every instance the arguments name.
pub async fn gather(args: &StatsArgs) -> anyhow::Result<Vec<InstanceReport>> {
    let http = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .context("cannot make an HTTP client")?;
    let listed = match (&args.config_server, &args.url) {
        (_, Some(url)) => vec![(url.clone(), url.trim_end_matches('/').to_owned(), None)],
        (Some(server), None) => instances(&http, server, args).await?,
        (None, None) => bail!("give --config-server or --url"),
    };
    let mut reports = Vec::with_capacity(listed.len());
    for (instance, address, connected) in listed {
        let stats = stats_of(&http, &address, args).await;
        reports.push(InstanceReport {
            instance,
            address,
            connected,
            stats,
        });
    }
    Ok(reports)
}

/// The instances the configuration server lists to the person.
async fn instances(
    http: &reqwest::Client,
    server: &str,
    args: &StatsArgs,
) -> anyhow::Result<Vec<(String, String, Option<bool>)>> {
    let server = server.trim_end_matches('/');
    let token = log_in(http, &format!("{server}/v1/login"), args)
        .await
        .map_err(|why| anyhow::anyhow!("the configuration server {server}: {why}"))?;
    let listed: Value = http
        .get(format!("{server}/v1/instances"))
        .bearer_auth(token)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .with_context(|| format!("cannot read the instances of {server}"))?
        .json()
        .await
        .with_context(|| format!("the instances of {server} are not JSON"))?;
    let list = listed["instances"]
        .as_array()
        .with_context(|| format!("{server} listed no instances: {listed}"))?;
    Ok(list
        .iter()
        .map(|i| {
            let text = |key: &str| i[key].as_str().unwrap_or_default().to_owned();
            (text("instance"), text("address"), i["connected"].as_bool())
        })
        .collect())
}

/// Logs the person in at `url` (a configuration server's `/v1/login` or an
/// instance's `/v1/sessions`): the token, or why not.
async fn log_in(http: &reqwest::Client, url: &str, args: &StatsArgs) -> Result<String, String> {
    let answer = http
        .post(url)
        .json(&json!({ "person": args.person, "password": args.password }))
        .send()
        .await
        .map_err(|e| format!("unreachable ({e})"))?;
    let status = answer.status();
    let body: Value = answer.json().await.unwrap_or_default();
    match body["token"].as_str() {
        Some(token) if status.is_success() => Ok(token.to_owned()),
        _ => Err(format!(
            "log-in refused: {status} {}",
            body["error"]["code"]
        )),
    }
}

async fn stats_of(
    http: &reqwest::Client,
    address: &str,
    args: &StatsArgs,
) -> Result<Value, String> {
    let token = log_in(http, &format!("{address}/v1/sessions"), args).await?;
    let answer = http
        .get(format!("{address}/v1/stats"))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| format!("unreachable ({e})"))?;
    let status = answer.status();
    let body: Value = answer.json().await.map_err(|e| format!("not JSON ({e})"))?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("{status} {}", body["error"]["code"]))
    }
}
