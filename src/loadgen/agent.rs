//! A simulated agent: logs in, holds its live stream open, and accepts,
//! holds and stops every interaction offered to it.

use super::answer::{Events, log_in, open_events, send};
use super::{Plan, Run};
use anyhow::{Context, ensure};
use futures::{StreamExt, TryStreamExt};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Agents logging in at the same time: each log-in is a password check
/// (argon2) on the instance.
const LOG_INS_AT_ONCE: usize = 8;

/// An agent logged in, ready, its live stream open.
pub(super) struct Agent {
    name: String,
    http: reqwest::Client,
    token: String,
    events: Events,
}

/// Logs every agent of `plan` in and makes it ready.
pub(super) async fn log_in_all(base: &str, plan: &Plan) -> anyhow::Result<Vec<Agent>> {
    futures::stream::iter(plan.agents.iter())
        .map(|name| async move {
            Agent::start(base, plan, name)
                .await
                .with_context(|| format!("agent {name:?}"))
        })
        .buffered(LOG_INS_AT_ONCE)
        .try_collect()
        .await
}

impl Agent {
    /// Log-in to the instance, log-in as an agent with the plan's media,
    /// the live stream (whose first event is the agent's state), ready.
    async fn start(base: &str, plan: &Plan, name: &str) -> anyhow::Result<Agent> {
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        let token = log_in(&http, base, name, &plan.password).await?;
        let post = |path: &str, body: serde_json::Value| {
            http.post(format!("{base}{path}"))
                .header(reqwest::header::AUTHORIZATION, &token)
                .json(&body)
        };
        let login = send(post(
            "/v1/agents/me/login",
            serde_json::json!({ "media": [plan.media] }),
        ))
        .await
        .map_err(|(_, detail)| anyhow::anyhow!(detail))?;
        ensure!(login.status.is_success(), login.refused("agent log-in").1);

        let url = format!("{base}/v1/agents/me/events");
        let mut events = open_events(&http, &url, &token, "live stream").await?;
        let first = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .context("live stream: no state within 10 s")?
            .context("live stream: closed at once")??;
        ensure!(
            first.event == "state",
            "live stream: first event {:?}, not state",
            first.event
        );

        let ready = send(post("/v1/agents/me/ready", serde_json::json!({})))
            .await
            .map_err(|(_, detail)| anyhow::anyhow!(detail))?;
        ensure!(ready.status.is_success(), ready.refused("ready").1);
        Ok(Agent {
            name: name.to_owned(),
            http,
            token,
            events,
        })
    }

    /// Takes offers until `stop`, then finishes what it holds and logs out.
    pub(super) async fn serve(mut self, run: Arc<Run>, stop: CancellationToken) {
        let handling = TaskTracker::new();
        let me = Arc::new(Desk {
            http: self.http.clone(),
            token: self.token.clone(),
        });
        loop {
            let event = tokio::select! {
                _ = stop.cancelled() => break,
                event = self.events.next() => event,
            };
            let event = match event {
                Some(Ok(event)) => event,
                Some(Err(e)) => {
                    run.tally
                        .error("stream".into(), format!("agent {}: {e}", self.name));
                    break;
                }
                None => {
                    run.tally.error(
                        "stream".into(),
                        format!("agent {}: the live stream closed", self.name),
                    );
                    break;
                }
            };
            let arrived = Instant::now();
            match event.event.as_str() {
                "offer" => {
                    let (run, me) = (run.clone(), me.clone());
                    handling.spawn(async move { me.handle(&run, &event.data, arrived).await });
                }
                "revoked" => run.tally.revoked(),
                _ => {}
            }
        }
        handling.close();
        handling.wait().await;
        drop(self.events);
        // Leave the instance as it was found; whatever it still holds (an
        // offer that arrived after the end) goes back to its queue.
        let logout = self
            .http
            .post(run.url("/v1/agents/me/logout"))
            .header(reqwest::header::AUTHORIZATION, &self.token)
            .json(&serde_json::json!({ "force": true }));
        match send(logout).await {
            Ok(answer) if answer.status.is_success() => {}
            Ok(answer) => {
                let (kind, detail) = answer.refused("log-out");
                run.tally.error(kind, detail);
            }
            Err((kind, detail)) => run.tally.error(kind, format!("log-out: {detail}")),
        }
    }
}

/// What an agent's handling tasks share.
struct Desk {
    http: reqwest::Client,
    token: String,
}

impl Desk {
    /// One offer: accept, hold, stop.
    async fn handle(&self, run: &Run, data: &str, arrived: Instant) {
        let offer: serde_json::Value = match serde_json::from_str(data) {
            Ok(offer) => offer,
            Err(e) => {
                run.tally
                    .error("stream".into(), format!("offer is not JSON ({e}): {data}"));
                return;
            }
        };
        let interaction = &offer["interaction"];
        let Some(id) = interaction["id"].as_str() else {
            run.tally
                .error("stream".into(), format!("offer without an id: {data}"));
            return;
        };
        let external_id = interaction["external_id"].as_str().unwrap_or_default();
        run.tally
            .offered(Some(external_id), arrived, queue_wait(interaction));

        let accept = self.post(run, &format!("/v1/interactions/{id}/accept"), None);
        match send(accept).await {
            Ok(answer) if answer.status.is_success() => run.tally.accepted(arrived),
            Ok(answer) => return self.failed(run, external_id, answer.refused("accept")),
            Err((kind, detail)) => {
                return self.failed(run, external_id, (kind, format!("accept: {detail}")));
            }
        }

        let hold = run.plan.hold.sample();
        if !hold.is_zero() {
            tokio::time::sleep(hold).await;
        }

        let body = serde_json::json!({ "reason": "answered" });
        let stop = self.post(run, &format!("/v1/interactions/{id}/stop"), Some(body));
        match send(stop).await {
            Ok(answer) if answer.status.is_success() => run.tally.completed(external_id),
            Ok(answer) => self.failed(run, external_id, answer.refused("stop")),
            Err((kind, detail)) => self.failed(run, external_id, (kind, format!("stop: {detail}"))),
        }
    }

    fn post(
        &self,
        run: &Run,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> reqwest::RequestBuilder {
        let request = self
            .http
            .post(run.url(path))
            .header(reqwest::header::AUTHORIZATION, &self.token)
            .timeout(Duration::from_secs(30));
        match body {
            Some(body) => request.json(&body),
            None => request,
        }
    }

    fn failed(&self, run: &Run, external_id: &str, (kind, detail): (String, String)) {
        run.tally.lost(external_id);
        run.tally.error(kind, detail);
    }
}

/// How long the interaction waited in its queue before this offer, by the
/// server's own timestamps.
fn queue_wait(interaction: &serde_json::Value) -> Option<Duration> {
    let time = |field: &str| {
        interaction[field]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    };
    let queued = time("placed_in_queue_at").or_else(|| time("submitted_at"))?;
    let offered = time("offered_at")?;
    (offered - queued).to_std().ok()
}
