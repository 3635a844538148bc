//! A scenario computed by hand, with the time set by hand: a 15-minute
//! window ending at 10:20, so from 10:05.

use super::*;
use crate::engine::{Event, EventData};
use serde_json::{Value, json};
use std::time::Duration as StdDuration;

fn t(minutes: i64, seconds: i64) -> At {
    "2026-12-07T10:00:00Z".parse::<At>().unwrap()
        + Duration::minutes(minutes)
        + Duration::seconds(seconds)
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

/// Builds the journal, positions in order.
#[derive(Default)]
struct Journal(Vec<JournalEntry>);

impl Journal {
    fn push(
        &mut self,
        at: At,
        kind: EventKind,
        interaction: Option<Uuid>,
        agent: Option<&str>,
        data: Value,
    ) {
        let position = self.0.len() as i64 + 1;
        self.0.push(JournalEntry {
            position,
            event: Event {
                kind,
                interaction_id: interaction,
                process: interaction.map(|_| "p".into()),
                queue: interaction.map(|_| "q".into()),
                media_type: interaction.map(|_| "email".into()),
                agent: agent.map(Into::into),
                at,
                data: EventData::of(&data),
            },
        });
    }

    fn of(&mut self, at: At, kind: EventKind, agent: &str) {
        self.push(at, kind, None, Some(agent), json!({}));
    }

    fn submitted(&mut self, at: At, n: u128) {
        self.push(
            at,
            EventKind::Submitted,
            Some(id(n)),
            None,
            json!({ "state": "queued" }),
        );
    }

    fn offered(&mut self, at: At, n: u128, agent: &str) {
        self.push(at, EventKind::Offered, Some(id(n)), Some(agent), json!({}));
    }

    fn accepted(&mut self, at: At, n: u128, agent: &str, since: At) {
        self.push(
            at,
            EventKind::Accepted,
            Some(id(n)),
            Some(agent),
            json!({ "transferred_from": null, "placed_in_queue_at": since }),
        );
    }

    fn stopped(&mut self, at: At, n: u128, agent: Option<&str>, from: &str) {
        self.push(
            at,
            EventKind::ProcessingStopped,
            Some(id(n)),
            agent,
            json!({ "reason": "done", "from": from }),
        );
    }
}

/// anna logs in before the window and takes X (1) before it too; A (2), B
/// (3), C (4) and D (5) arrive in it; arno logs in and out within it.
fn scenario() -> Journal {
    let mut j = Journal::default();
    j.of(t(0, 0), EventKind::AgentLoggedIn, "anna");
    j.submitted(t(1, 0), 1);
    j.offered(t(1, 30), 1, "anna");
    j.accepted(t(2, 0), 1, "anna", t(1, 0));
    j.of(t(6, 0), EventKind::AgentLoggedIn, "arno");
    j.submitted(t(6, 0), 2);
    j.submitted(t(6, 0), 3);
    j.offered(t(6, 30), 2, "anna");
    j.push(
        t(7, 0),
        EventKind::Rejected,
        Some(id(2)),
        Some("anna"),
        json!({ "reason": null, "queue": "q" }),
    );
    j.offered(t(7, 0), 2, "arno");
    j.push(
        t(7, 30),
        EventKind::OfferTimedOut,
        Some(id(2)),
        Some("arno"),
        json!({ "transfer": false, "queue": "q" }),
    );
    j.offered(t(8, 0), 2, "arno");
    // Waited 2 minutes: from 10:06, not from the rejection or the timeout.
    j.accepted(t(8, 0), 2, "arno", t(6, 0));
    j.stopped(t(9, 0), 1, Some("anna"), "handling");
    j.offered(t(10, 0), 3, "anna");
    j.accepted(t(10, 0), 3, "anna", t(6, 0));
    j.submitted(t(11, 0), 4);
    j.stopped(t(12, 0), 4, None, "queued");
    j.submitted(t(13, 0), 5);
    j.offered(t(13, 0), 5, "arno");
    j.accepted(t(13, 10), 5, "arno", t(13, 0));
    j.stopped(t(15, 0), 2, Some("arno"), "handling");
    j.stopped(t(16, 0), 5, Some("arno"), "handling");
    j.of(t(18, 0), EventKind::AgentLoggedOut, "arno");
    j
}

fn live() -> Live {
    Live {
        queues: [
            (("p".into(), "q".into()), StdDuration::from_secs(180)),
            (("p".into(), "quiet".into()), StdDuration::from_secs(60)),
        ]
        .into(),
        // anna holds B; bea logged in before the window and holds Z (9)
        // since then, with nothing of hers in the journal.
        agents: [
            ("anna".to_owned(), vec![id(3)]),
            ("bea".to_owned(), vec![id(9)]),
        ]
        .into(),
    }
}

fn window(journal: &Journal, from: At) -> Window {
    let mut window = Window::new(StdDuration::from_secs(15 * 60));
    for entry in journal.0.iter().filter(|entry| entry.event.at >= from) {
        window.apply(entry);
    }
    window
}

fn close(actual: Option<f64>, expected: f64) {
    let actual = actual.expect("a figure");
    assert!(
        (actual - expected).abs() < 1e-9,
        "{actual} is not {expected}"
    );
}

#[test]
fn the_figures_of_the_window_are_those_computed_by_hand() {
    let journal = scenario();
    let mut window = window(&journal, t(0, 0));
    let snapshot = window.snapshot(t(20, 0), &live());
    assert_eq!(snapshot.window_secs, 900);
    assert_eq!(snapshot.position, journal.0.len() as i64);

    let q = &snapshot.queues[0];
    assert_eq!((q.process.as_str(), q.queue.as_str()), ("p", "q"));
    // A, B, C, D; X entered before the window.
    assert_eq!(q.entered, 4);
    // A three times, B, D.
    assert_eq!(q.offered, 5);
    assert_eq!((q.accepted, q.rejected, q.offer_timed_out), (3, 1, 1));
    // C alone was stopped while waiting; X, A and D after being handled.
    assert_eq!((q.abandoned, q.stopped), (1, 4));
    // Waits: D 10 s, A 120 s, B 240 s.
    close(q.wait_avg_secs, 370.0 / 3.0);
    close(q.wait_p90_secs, 240.0);
    assert_eq!(q.service_level_target_secs, 180);
    close(q.service_level, 2.0 / 3.0);

    let quiet = &snapshot.queues[1];
    assert_eq!(quiet.queue, "quiet");
    assert_eq!(
        (quiet.entered, quiet.accepted, quiet.stopped),
        (0, 0, 0),
        "a queue with nothing in the window"
    );
    assert_eq!((quiet.wait_avg_secs, quiet.service_level), (None, None));

    let names: Vec<&str> = snapshot.agents.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["anna", "arno", "bea"]);
    let [anna, arno, bea] = &snapshot.agents[..] else {
        unreachable!()
    };
    // anna: B accepted in the window, X before it; A rejected.
    assert_eq!((anna.handled, anna.missed), (1, 1));
    // Logged in the whole window (900 s); held X 10:05–10:09 and B from
    // 10:10 on: 240 + 600 s.
    close(Some(anna.logged_in_secs), 900.0);
    close(Some(anna.holding_secs), 840.0);
    close(anna.occupancy, 840.0 / 900.0);
    // arno: A and D; the timeout of A.
    assert_eq!((arno.handled, arno.missed), (2, 1));
    // Logged in 10:06–10:18 (720 s); held A 10:08–10:15 and D
    // 10:13:10–10:16, together 10:08–10:16 (480 s).
    close(Some(arno.logged_in_secs), 720.0);
    close(Some(arno.holding_secs), 480.0);
    close(arno.occupancy, 480.0 / 720.0);
    // bea: logged in and holding all along, as the engine says.
    assert_eq!((bea.handled, bea.missed), (0, 0));
    close(bea.occupancy, 1.0);
}

#[test]
fn the_window_rolls_and_forgets_what_fell_out() {
    let journal = scenario();
    let mut window = window(&journal, t(0, 0));
    // From 10:15 to 10:30.
    let snapshot = window.snapshot(t(30, 0), &live());
    let q = &snapshot.queues[0];
    assert_eq!((q.entered, q.offered, q.accepted), (0, 0, 0));
    // A at 10:15 and D at 10:16.
    assert_eq!((q.stopped, q.abandoned), (2, 0));
    assert_eq!(q.wait_avg_secs, None);
    let [anna, arno, _] = &snapshot.agents[..] else {
        panic!("{:?}", snapshot.agents)
    };
    assert_eq!((anna.handled, anna.missed), (0, 0));
    // Still holding B.
    close(anna.occupancy, 1.0);
    // Logged in 10:15–10:18, holding D 10:15–10:16.
    close(Some(arno.logged_in_secs), 180.0);
    close(arno.occupancy, 60.0 / 180.0);
    // Pruned: nothing of the queue before 10:15 is kept.
    assert!(window.queues[&("p".to_owned(), "q".to_owned())].len() == 2);
}

#[test]
fn the_journal_of_the_window_alone_gives_the_same_figures() {
    // What a restart at 10:20 reads: the entries from 10:05 on.
    let journal = scenario();
    let whole = window(&journal, t(0, 0)).snapshot(t(20, 0), &live());
    let replayed = window(&journal, t(5, 0)).snapshot(t(20, 0), &live());
    assert_eq!(replayed, whole);
}

#[test]
fn an_entry_applied_twice_counts_once() {
    let journal = scenario();
    let mut window = window(&journal, t(0, 0));
    let before = window.snapshot(t(20, 0), &live());
    for entry in &journal.0 {
        window.apply(entry);
    }
    assert_eq!(window.snapshot(t(20, 0), &live()), before);
}

#[test]
fn a_transfer_counts_for_the_agents_not_the_queue() {
    let mut j = Journal::default();
    j.of(t(6, 0), EventKind::AgentLoggedIn, "anna");
    j.of(t(6, 0), EventKind::AgentLoggedIn, "arno");
    j.submitted(t(6, 0), 1);
    j.offered(t(6, 0), 1, "anna");
    j.accepted(t(7, 0), 1, "anna", t(6, 0));
    j.push(
        t(8, 0),
        EventKind::Transferred,
        Some(id(1)),
        Some("anna"),
        json!({ "from": "anna", "to": "arno" }),
    );
    j.push(
        t(9, 0),
        EventKind::Accepted,
        Some(id(1)),
        Some("arno"),
        json!({ "transferred_from": "anna", "placed_in_queue_at": t(6, 0) }),
    );
    let mut window = window(&j, t(0, 0));
    let live = Live {
        queues: [(("p".into(), "q".into()), StdDuration::from_secs(60))].into(),
        agents: [
            ("anna".to_owned(), vec![]),
            ("arno".to_owned(), vec![id(1)]),
        ]
        .into(),
    };
    let snapshot = window.snapshot(t(20, 0), &live);
    let q = &snapshot.queues[0];
    assert_eq!((q.offered, q.accepted), (1, 1));
    close(q.wait_avg_secs, 60.0);
    close(q.service_level, 1.0);
    let [anna, arno] = &snapshot.agents[..] else {
        unreachable!()
    };
    assert_eq!((anna.handled, arno.handled), (1, 1));
    // anna held it 10:07–10:09 of 10:06–10:20; arno from 10:09.
    close(Some(anna.holding_secs), 120.0);
    close(Some(arno.holding_secs), 660.0);
}
