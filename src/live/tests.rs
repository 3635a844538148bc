//! The live task over the in-memory store: no read of the store ever holds
//! up a command, and the scope in force is always the engine's.

use super::*;
use crate::engine::routing::{AgentProfile, Capacity, RoutingConfig};
use crate::engine::{Properties, Served, ServedProcess, State, Submit};
use crate::store::fake::FakeStore;
use serde_json::json;

fn served(processes: &[&str]) -> Served {
    Served {
        processes: processes
            .iter()
            .map(|p| {
                (
                    p.to_string(),
                    ServedProcess {
                        queues: ["inbound".to_owned()].into(),
                        workbins: Default::default(),
                    },
                )
            })
            .collect(),
        media_types: ["email".to_owned()].into(),
        agents: Default::default(),
    }
}

fn scope(processes: &[&str]) -> ScopeState {
    ScopeState {
        identity: Identity {
            instance: "sales".into(),
            application: "ixs-sales".into(),
            person: Some("svc-sales".into()),
            access_groups: Vec::new(),
        },
        served: served(processes),
        routing: Default::default(),
        revision: Some(1),
        source: ScopeSource::ConfigServer,
        problem: None,
    }
}

fn submit(process: &str) -> Command {
    Command::Submit(Submit {
        external_id: None,
        submitted_by: "gateway".into(),
        process: process.into(),
        queue: Some("inbound".into()),
        media_type: "email".into(),
        kind: "inbound".into(),
        subtype: None,
        priority: 1,
        properties: Properties::new(),
        agent: None,
    })
}

fn patch(id: Uuid, key: &str) -> Command {
    Command::ChangeProperties {
        id,
        patch: json!({ key: true }).as_object().cloned().unwrap(),
    }
}

struct Running {
    live: LiveHandle,
    desk: Arc<ScopeDesk>,
    tracker: tokio_util::task::TaskTracker,
}

/// The live task and a writer over `store`, serving `processes`, with
/// `before` run between the desk's attach and the task's start (as a
/// proposal arriving while the daemon recovers would be).
async fn start(
    store: Arc<FakeStore>,
    processes: &[&str],
    before: impl FnOnce(&ScopeDesk),
) -> Running {
    start_in(store, scope(processes), before).await
}

/// Like [`start`], in the scope `initial`, routed as it says.
async fn start_in(
    store: Arc<FakeStore>,
    initial: ScopeState,
    before: impl FnOnce(&ScopeDesk),
) -> Running {
    let desk = Arc::new(ScopeDesk::new(initial));
    let proposals = desk.attach();
    // The engine is recovered for the scope proposed when the desk was
    // attached; a proposal made meanwhile must reach the live task as a
    // change.
    let initial = proposals.borrow().clone();
    before(&desk);
    let (writer, handle, undone) = store.writer();
    let tracker = tokio_util::task::TaskTracker::new();
    tracker.spawn(writer.run());
    let live = spawn(
        Start {
            engine: Engine::with_routing(
                initial.served.clone(),
                initial.routing.clone(),
                Utc::now(),
            ),
            scope: initial,
            proposals,
            desk: desk.clone(),
            store: store.clone(),
            writer: handle,
            undone,
        },
        100,
        &tracker,
        tracing::Span::none(),
    );
    drop(store);
    Running {
        live,
        desk,
        tracker,
    }
}

impl Running {
    /// Applies `command` and waits for its commit.
    async fn apply(&self, command: Command) -> Result<Result<Applied, CommitError>, EngineError> {
        match self.live.apply(command, None).await.expect("live task") {
            Ok((applied, committed)) => Ok(committed.await.expect("writer").map(|()| applied)),
            Err(refusal) => Err(refusal.error),
        }
    }

    async fn applied(&self, command: Command) -> Applied {
        self.apply(command).await.unwrap().unwrap()
    }

    /// Waits until the scope in force serves `process` (or stops serving it).
    async fn until_in_force(&self, process: &str, served: bool) {
        let mut in_force = self.desk.subscribe();
        in_force
            .wait_for(|s| s.served.serves(process) == served)
            .await
            .unwrap();
    }

    async fn stop(self) {
        drop(self.live);
        self.tracker.close();
        self.tracker.wait().await;
    }
}

#[tokio::test]
async fn a_joining_process_is_loaded_beside_the_engine() {
    let store = Arc::new(FakeStore::default());
    let running = start(store.clone(), &["sales-email", "support-email"], |_| {}).await;
    let waiting = running.applied(submit("support-email")).await.interaction;

    // support-email leaves, then comes back while the store is slow to read.
    running.desk.propose(scope(&["sales-email"]));
    running.until_in_force("support-email", false).await;
    store.hold_reads();
    running
        .desk
        .propose(scope(&["sales-email", "support-email"]));

    // Every other command goes on meanwhile; the joining process is not
    // served until its interactions are known.
    let other = running.applied(submit("sales-email")).await;
    assert_eq!(other.interaction.state, State::Queued);
    assert_eq!(
        running.apply(patch(waiting.id, "early")).await.unwrap_err(),
        EngineError::NotLive(waiting.id)
    );
    assert!(!running.desk.in_force().served.serves("support-email"));

    store.open_reads();
    running.until_in_force("support-email", true).await;
    let changed = running.applied(patch(waiting.id, "later")).await;
    assert_eq!(changed.interaction.version, waiting.version + 1);
    assert_eq!(
        changed.interaction.properties.get("later"),
        Some(&json!(true))
    );
    running.stop().await;
}

#[tokio::test]
async fn a_change_the_store_refuses_is_taken_back_without_blocking() {
    let store = Arc::new(FakeStore::default());
    let running = start(store.clone(), &["sales-email"], |_| {}).await;
    let stored = running.applied(submit("sales-email")).await.interaction;

    store.with(|s| {
        s.refuse.insert(stored.id);
    });
    store.hold_reads();
    assert_eq!(
        running.apply(patch(stored.id, "refused")).await.unwrap(),
        Err(CommitError::Refused)
    );
    // Set aside until the store's version is back; the rest goes on.
    assert_eq!(
        running
            .apply(patch(stored.id, "meanwhile"))
            .await
            .unwrap_err(),
        EngineError::Reloading(stored.id)
    );
    running.applied(submit("sales-email")).await;

    store.with(|s| {
        s.refuse.clear();
    });
    store.open_reads();
    let changed = loop {
        match running.apply(patch(stored.id, "after")).await {
            Err(EngineError::Reloading(_)) => tokio::task::yield_now().await,
            other => break other.unwrap().unwrap(),
        }
    };
    // Built on what the store holds: the refused change is not there.
    assert_eq!(changed.interaction.version, stored.version + 1);
    assert!(!changed.interaction.properties.contains_key("refused"));
    let on_disk = store.read(|s| s.rows[&stored.id].clone());
    assert_eq!(on_disk, changed.interaction);
    running.stop().await;
}

#[tokio::test]
async fn a_scope_proposed_while_recovering_is_put_in_force_by_the_engine() {
    let store = Arc::new(FakeStore::default());
    // The configuration moves support-email in between the daemon's attach
    // and the live task's start.
    let running = start(store, &["sales-email"], |desk| {
        desk.propose(scope(&["sales-email", "support-email"]));
    })
    .await;
    // The engine was recovered for the scope before the move, and the scope
    // in force says so until the engine has switched.
    assert!(running.desk.proposed().served.serves("support-email"));
    assert!(!running.desk.in_force().served.serves("support-email"));
    running.until_in_force("support-email", true).await;
    // Shown in force only once the engine serves it.
    let applied = running.applied(submit("support-email")).await;
    assert_eq!(applied.interaction.process, "support-email");
    running.stop().await;
}

#[tokio::test]
async fn a_process_leaving_answers_with_the_scope_the_engine_had() {
    let store = Arc::new(FakeStore::default());
    let running = start(store, &["sales-email", "support-email"], |_| {}).await;
    let stored = running.applied(submit("support-email")).await.interaction;
    running.desk.propose(scope(&["sales-email"]));
    running.until_in_force("support-email", false).await;
    let refusal = running
        .live
        .apply(patch(stored.id, "x"), None)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(refusal.error, EngineError::NotLive(stored.id));
    assert!(!refusal.scope.served.serves("support-email"));
    running.stop().await;
}

#[tokio::test]
async fn an_unchanged_revision_does_not_restart_a_joining_load() {
    let store = Arc::new(FakeStore::default());
    let running = start(store.clone(), &["sales-email"], |_| {}).await;
    store.hold_reads();
    running
        .desk
        .propose(scope(&["sales-email", "support-email"]));
    // Let the live task start the load, then the same scope again, as a
    // revision that changed nothing here proposes it.
    running.applied(submit("sales-email")).await;
    running
        .desk
        .propose(scope(&["sales-email", "support-email"]));
    running.applied(submit("sales-email")).await;
    store.open_reads();
    running.until_in_force("support-email", true).await;
    assert_eq!(
        store.read(|s| s.reads),
        1,
        "one load of the joining process"
    );
    running.stop().await;
}

/// `sales-email`, with anna an agent of it who may hold one e-mail.
fn with_anna() -> ScopeState {
    let mut state = scope(&["sales-email"]);
    state.served.agents = ["anna".to_owned()].into();
    let anna = AgentProfile {
        name: "anna".into(),
        capacity: Capacity {
            media: [("email".to_owned(), 1)].into(),
            total: None,
        },
        ..AgentProfile::default()
    };
    state.routing = Arc::new(RoutingConfig {
        agents: [("anna".to_owned(), anna)].into(),
        ..RoutingConfig::default()
    });
    state
}

impl Running {
    async fn agent(&self, name: &str) -> AgentView {
        match self.live.query(Query::Agent(name.into())).await.unwrap() {
            Ok(Answered::Agent(view)) => view,
            other => panic!("the agent query answered {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_desktop_gone_before_its_stream_started_leaves_its_agent_disconnected() {
    let store = Arc::new(FakeStore::default());
    let running = start_in(store, with_anna(), |_| {}).await;
    // The request for the stream went away (its client gave up) before the
    // live task answered it: nobody will ever end that stream.
    let (reply, gone) = oneshot::channel();
    drop(gone);
    let request = Request::Connect {
        agent: "anna".into(),
        reply,
    };
    running.live.tx.send(request).await.unwrap();
    assert!(!running.agent("anna").await.connected);

    // A stream that did start, and ended, leaves her disconnected too.
    let subscription = running.live.connect("anna").await.unwrap().unwrap();
    assert!(running.agent("anna").await.connected);
    running.live.disconnect("anna", subscription.stream);
    assert!(!running.agent("anna").await.connected);
    running.stop().await;
}
