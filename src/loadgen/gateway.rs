//! The gateways: submits in an open loop (Poisson arrivals at a rate) or a
//! closed loop (clients submitting as fast as they are answered).

use super::answer::send;
use super::{Arrivals, Run, exponential};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::task::TaskTracker;

/// Submits until the count or the duration is reached; returns once every
/// submit is answered.
pub(super) async fn submit_all(run: Arc<Run>, token: String) -> anyhow::Result<()> {
    let tasks = TaskTracker::new();
    match run.plan.arrivals {
        Arrivals::Clients(clients) => {
            for _ in 0..clients {
                // One keep-alive connection per client.
                let http = client(1)?;
                let (run, token) = (run.clone(), token.clone());
                tasks.spawn(async move {
                    while let Some(n) = run.claim() {
                        submit(&run, &http, &token, n, Instant::now()).await;
                    }
                });
            }
        }
        Arrivals::Rate(rate) => {
            // As many connections as the submits in flight need.
            let http = client(usize::MAX)?;
            let mut due = Instant::now();
            loop {
                // Claimed when due, so that none is sent after the duration.
                tokio::time::sleep_until(due.into()).await;
                let Some(n) = run.claim() else { break };
                let (run, http, token) = (run.clone(), http.clone(), token.clone());
                tasks.spawn(async move { submit(&run, &http, &token, n, due).await });
                due += Duration::from_secs_f64(exponential() / rate);
            }
        }
    }
    tasks.close();
    tasks.wait().await;
    Ok(())
}

fn client(idle_per_host: usize) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(idle_per_host)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
}

/// Submit number `n`, sent (or due) at `sent`.
async fn submit(run: &Run, http: &reqwest::Client, token: &str, n: u64, sent: Instant) {
    let plan = &run.plan;
    let external_id = format!("bench-{}-{n}", run.run_id);
    let body = serde_json::json!({
        "process": plan.process,
        "queue": plan.queue,
        "media_type": plan.media,
        "priority": n % 10,
        "external_id": external_id,
        "properties": {
            "subject": "Order 4711 arrived damaged",
            "segment": "gold",
            "language": "en",
            "customer_id": match plan.returning_customers {
                0 => format!("c-{}-{n}", run.run_id),
                customers => format!("c-{}", n % customers),
            },
            "order": n,
        },
    });
    run.tally.sending(&external_id, sent);
    let request = http
        .post(run.url("/v1/interactions"))
        .header(reqwest::header::AUTHORIZATION, token)
        .json(&body);
    match send(request).await {
        Ok(answer) if answer.status == reqwest::StatusCode::CREATED => {
            run.tally.submitted(sent);
        }
        Ok(answer) => {
            run.tally.not_submitted(&external_id);
            let (kind, detail) = answer.refused("submit");
            run.tally.error(kind, detail);
        }
        Err((kind, detail)) => {
            run.tally.not_submitted(&external_id);
            run.tally.error(kind, format!("submit: {detail}"));
        }
    }
}
