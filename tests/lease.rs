//! Two `serve` on one database are never both active: the second exits or
//! stands by, takes over when the first is gone, and a holder whose lease
//! was taken writes nothing more.

mod common;

use common::instance::{ADMIN, PASSWORD};
use common::{
    Solution, TestDb, TestInstance, eventually, gateway, spawn_instance, start_on, tweak,
};
use ixs::daemon::RunError;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_exits_naming_the_holder() {
    let first = spawn_instance(Solution::Sales).await;
    let kept = first.submit_ok(&gateway("sales-email", "inbound")).await;
    let lease = first.lease().await;
    assert_eq!(lease.1.as_deref(), Some("sales"));
    assert!(lease.0.is_some());

    let mut second = first.start_sibling(|_| {}).await;
    let error = second
        .join()
        .await
        .expect_err("a second instance must not run on a held database");
    let message = error.to_string();
    assert!(
        matches!(error, RunError::LeaseHeld { .. }),
        "not a lease error: {message}"
    );
    assert!(
        message.contains("instance 'sales'"),
        "names the holder: {message}"
    );
    assert!(
        message.contains(first.db.name()),
        "names the database: {message}"
    );

    assert_eq!(first.lease().await, lease, "the lease is untouched");
    assert_eq!(first.readyz().await.status, 200);
    assert_eq!(first.get(kept["id"].as_str().unwrap()).await.body, kept);
    first.submit_ok(&gateway("sales-chat", "inbound")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_started_together_never_both_serve() {
    let db = Arc::new(TestDb::create().await);
    let (one, two) = tokio::join!(
        start_on(db.clone(), Solution::Sales, |_| {}),
        start_on(db.clone(), Solution::Sales, |_| {})
    );
    let (one_ref, two_ref) = (&one, &two);
    eventually(
        Duration::from_secs(15),
        "one of them to give up",
        || async move { (one_ref.is_finished() || two_ref.is_finished()).then_some(()) },
    )
    .await;
    let (mut loser, winner) = if one.is_finished() {
        (one, two)
    } else {
        (two, one)
    };
    let error = loser.join().await.expect_err("the loser must not run");
    assert!(matches!(error, RunError::LeaseHeld { .. }), "{error}");
    winner.wait_ready().await;
    assert_eq!(winner.lease().await.1.as_deref(), Some("sales"));
    winner.submit_ok(&gateway("sales-email", "inbound")).await;
    assert!(
        loser.try_get("/readyz").await.is_err(),
        "the loser stopped serving"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_instance_stands_by_then_takes_over() {
    let first = spawn_instance(Solution::Sales).await;
    let kept = first.submit_ok(&gateway("sales-email", "inbound")).await;
    let kept_id = kept["id"].as_str().unwrap().to_owned();
    let lease = first.lease().await;

    let mut standby = first.start_sibling(tweak::wait_for_lease).await;
    assert_eq!(standby.token, "", "a standby issues no token");
    let watched = &standby;
    eventually(
        Duration::from_secs(10),
        "the standby to answer",
        || async move {
            let health = watched.try_get("/healthz").await.ok()?;
            (health.status == 200).then_some(())
        },
    )
    .await;
    standby
        .log_in(ADMIN, PASSWORD)
        .await
        .assert_error(503, "not_active");
    // A token the holder issued: the standby cannot tell it, and says it
    // is not active rather than that the token is unknown.
    standby.token = first.token.clone();
    // Over ten of its attempts at the lease, it never becomes ready.
    let window = tokio::time::Instant::now() + Duration::from_secs(1);
    while tokio::time::Instant::now() < window {
        let ready = standby.readyz().await;
        assert_eq!(
            ready.status, 503,
            "the standby is ready while the first runs: {ready}"
        );
        assert_eq!(ready.body["ready"], false);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = standby.submit(&gateway("sales-email", "inbound")).await;
    refused.assert_error(503, "not_active");
    standby
        .queue("sales-email", "inbound")
        .await
        .assert_error(503, "not_active");
    standby
        .stop(&kept_id, "from the standby")
        .await
        .assert_error(503, "not_active");
    assert_eq!(first.counts().await, (1, 1), "the standby wrote nothing");
    assert_eq!(first.lease().await, lease);
    assert_eq!(first.readyz().await.status, 200);

    first.shutdown().await.expect("the first stops cleanly");
    standby.wait_ready().await;
    let taken = standby.lease().await;
    assert_eq!(taken.1.as_deref(), Some("sales"));
    assert!(taken.0.is_some() && taken.0 != lease.0, "a new holder");
    assert_eq!(taken.2, lease.2 + 1, "the next epoch");

    // It serves what the first acknowledged, and the first's session goes
    // on with it.
    assert_eq!(standby.get(&kept_id).await.body, kept);
    assert_eq!(
        standby.queue_order("sales-email", "inbound").await,
        (1, vec![kept_id.clone()])
    );
    let stopped = standby.stop(&kept_id, "handled by the backup").await;
    assert_eq!(stopped.status, 200, "{stopped}");
    standby.submit_ok(&gateway("sales-chat", "inbound")).await;
    assert_eq!(standby.counts().await, (2, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_stops_cleanly_without_touching_the_lease() {
    let first = spawn_instance(Solution::Sales).await;
    let lease = first.lease().await;
    let standby = first.start_sibling(tweak::wait_for_lease).await;
    let watched = &standby;
    eventually(
        Duration::from_secs(10),
        "the standby to answer",
        || async move {
            let ready = watched.try_get("/readyz").await.ok()?;
            (ready.status == 503).then_some(())
        },
    )
    .await;
    standby.shutdown().await.expect("a standby stops cleanly");
    assert_eq!(first.lease().await, lease, "the holder keeps its lease");
    assert_eq!(first.readyz().await.status, 200);
    first.submit_ok(&gateway("sales-email", "inbound")).await;
}

/// Rows of `instance_sessions`.
async fn sessions_kept(instance: &TestInstance) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM instance_sessions")
        .fetch_one(&instance.pool)
        .await
        .expect("count the sessions")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stolen_lease_fences_every_later_write() {
    let mut sales = common::spawn_instance_with(Solution::Sales, tweak::renew_rarely).await;
    let kept = sales.submit_ok(&gateway("sales-email", "inbound")).await;
    let before = sales.counts().await;
    assert_eq!(before, (1, 1));

    sqlx::query("UPDATE instance_lease SET epoch = epoch + 1, holder = 'thief'")
        .execute(&sales.pool)
        .await
        .unwrap();
    let stolen = sales.lease().await;
    let sessions = sessions_kept(&sales).await;

    // A log-in is fenced as the writer is: no token is handed out, and no
    // session kept.
    sales
        .log_in("anna", PASSWORD)
        .await
        .assert_error(503, "not_active");
    assert_eq!(sessions_kept(&sales).await, sessions);

    // The writer finds out at its next commit: the submit is refused, not
    // acknowledged. (The lease keeper renews only every 30 s here, so the
    // request reaches a running instance.)
    let answer = sales.submit(&gateway("sales-email", "inbound")).await;
    answer.assert_error(503, "not_active");

    let result = sales.join().await;
    assert!(
        matches!(result, Err(RunError::LeaseLost)),
        "run must end with the lost lease: {result:?}"
    );
    assert!(result.unwrap_err().to_string().contains("lease was lost"));
    assert_eq!(
        sales.counts().await,
        before,
        "nothing written after the steal"
    );
    assert_eq!(
        sales.lease().await,
        stolen,
        "the thief's lease is not released"
    );
    let state: String = sqlx::query_scalar("SELECT state FROM interactions")
        .fetch_one(&sales.pool)
        .await
        .unwrap();
    assert_eq!(state, "queued");
    assert_eq!(kept["state"], "queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_stolen_while_idle_stops_the_instance() {
    let mut sales = common::spawn_instance_with(Solution::Sales, tweak::renew_often).await;
    sales.submit_ok(&gateway("sales-email", "inbound")).await;
    sqlx::query("UPDATE instance_lease SET epoch = epoch + 1, holder = 'thief'")
        .execute(&sales.pool)
        .await
        .unwrap();
    // No request needed: the lease keeper notices at its next renewal.
    let result = sales.join().await;
    assert!(matches!(result, Err(RunError::LeaseLost)), "{result:?}");
    assert_eq!(sales.counts().await, (1, 1));
    assert_eq!(sales.lease().await.0.as_deref(), Some("thief"));
    assert!(
        sales.try_get("/readyz").await.is_err(),
        "a fenced instance stops serving"
    );
}
