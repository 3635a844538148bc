//! The PostgreSQL store. Plain SQL that PostgreSQL-compatible distributed
//! engines also run: no advisory locks, no LISTEN/NOTIFY.

use super::{
    Batch, Claim, Fence, JournalEntry, LeaseHolder, LeaseOutcome, Outcome, Purged, Resolved, Store,
    StoreError,
};
use crate::backoff::Backoff;
use crate::engine::{AgentRecord, Event, EventData, EventKind, Interaction, Name, State};
use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::types::Json;
use sqlx::{ConnectOptions, Connection, Executor, FromRow, PgConnection};

use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

/// Filters of `find`; `None` matches everything.
#[derive(Debug, Default, Clone)]
pub struct FindFilter {
    /// Restricts to these processes (the instance's scope).
    pub processes: Vec<String>,
    pub queue: Option<String>,
    pub state: Option<State>,
    pub external_id: Option<String>,
    /// Only those offered to or handled by this agent.
    pub agent: Option<String>,
    pub limit: i64,
}

#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
}

/// The columns of `interactions`, in the order of `Row` and of the commit's
/// arrays: one list for every statement that names them (`concat!` makes
/// each statement a constant).
macro_rules! columns {
    () => {
        "id, external_id, submitted_by, process, queue, workbin, state, media_type, type, \
         subtype, priority, properties, agent, submitted_at, placed_in_queue_at, offered_at, \
         assigned_at, stopped_at, stop_reason, version, owner"
    };
}

/// The columns of `interaction_events`, in the order of `EventRow`.
macro_rules! event_columns {
    () => {
        "id, interaction_id, kind, process, queue, media_type, agent, at, data"
    };
}

#[derive(FromRow)]
struct Row {
    id: Uuid,
    external_id: Option<String>,
    submitted_by: String,
    process: String,
    queue: Option<String>,
    workbin: Option<String>,
    state: String,
    media_type: String,
    #[sqlx(rename = "type")]
    kind: String,
    subtype: Option<String>,
    priority: i32,
    properties: serde_json::Value,
    agent: Option<String>,
    submitted_at: DateTime<Utc>,
    placed_in_queue_at: Option<DateTime<Utc>>,
    offered_at: Option<DateTime<Utc>>,
    assigned_at: Option<DateTime<Utc>>,
    stopped_at: Option<DateTime<Utc>>,
    stop_reason: Option<String>,
    version: i64,
    owner: Option<String>,
}

impl TryFrom<Row> for Interaction {
    type Error = StoreError;
    fn try_from(row: Row) -> Result<Self, StoreError> {
        let state = State::parse(&row.state).ok_or_else(|| {
            StoreError::Other(sqlx::Error::Decode(
                format!("unknown interaction state '{}'", row.state).into(),
            ))
        })?;
        let properties = match row.properties {
            serde_json::Value::Object(map) => map,
            _ => Default::default(),
        };
        Ok(Interaction {
            id: row.id,
            external_id: row.external_id.map(Name::from),
            submitted_by: row.submitted_by.into(),
            process: row.process.into(),
            queue: row.queue.map(Name::from),
            workbin: row.workbin.map(Name::from),
            owner: row.owner.map(Name::from),
            state,
            media_type: row.media_type.into(),
            kind: row.kind.into(),
            subtype: row.subtype.map(Name::from),
            priority: row.priority,
            properties,
            agent: row.agent.map(Name::from),
            submitted_at: row.submitted_at,
            placed_in_queue_at: row.placed_in_queue_at,
            offered_at: row.offered_at,
            assigned_at: row.assigned_at,
            stopped_at: row.stopped_at,
            stop_reason: row.stop_reason.map(Name::from),
            version: row.version,
        })
    }
}

fn rows_to_interactions(rows: Vec<Row>) -> Result<Vec<Interaction>, StoreError> {
    rows.into_iter().map(Interaction::try_from).collect()
}

impl PgStore {
    /// Connects a pool of at most `max_connections`.
    pub async fn connect(
        options: PgConnectOptions,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            // No ping before every use: it doubles the round trips of a
            // lookup; a broken connection fails the call, which is retried
            // (writer) or answered 503 (reads).
            .test_before_acquire(false)
            .acquire_timeout(acquire_timeout)
            .connect_with(options.disable_statement_logging())
            .await?;
        Ok(PgStore { pool })
    }

    /// A store over an existing pool.
    pub fn from_pool(pool: PgPool) -> Self {
        PgStore { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies the migrations in `migrations/`. Without the advisory lock
    /// sqlx would take by default; if a second instance migrates the same
    /// database at the same moment, one of them fails and tries again, a few
    /// times: the other may still be half-way through when it does.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        const ATTEMPTS: u32 = 5;
        let mut migrator = sqlx::migrate!();
        migrator.set_locking(false);
        let mut attempt = 1;
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
        loop {
            match migrator.run(&self.pool).await {
                Err(_) if attempt < ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(backoff.next_wait()).await;
                }
                done => return done,
            }
        }
    }

    /// Creates the database `options` names if it does not exist yet, by
    /// connecting to the server's `postgres` database.
    pub async fn ensure_database(options: &PgConnectOptions) -> Result<bool, sqlx::Error> {
        let name = options.get_database().unwrap_or("postgres").to_owned();
        let mut admin = PgConnection::connect_with(&options.clone().database("postgres")).await?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(&name)
                .fetch_one(&mut admin)
                .await?;
        if !exists {
            let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
            if let Err(error) = admin.execute(sql.as_str()).await {
                // Another process may have created it in the meantime.
                let raced = error
                    .as_database_error()
                    .and_then(|e| e.code())
                    .is_some_and(|c| c == "42P04" || c == "23505");
                if !raced {
                    return Err(error);
                }
            }
        }
        admin.close().await?;
        Ok(!exists)
    }

    /// Interactions matching `filter`, oldest first.
    pub async fn find(&self, filter: &FindFilter) -> Result<Vec<Interaction>, StoreError> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM interactions
             WHERE process = ANY($1)
               AND ($2::text IS NULL OR queue = $2)
               AND ($3::text IS NULL OR state = $3)
               AND ($4::text IS NULL OR external_id = $4)
               AND ($6::text IS NULL OR agent = $6)
             ORDER BY submitted_at, id
             LIMIT $5"
        );
        let rows: Vec<Row> = sqlx::query_as(sql)
            .bind(&filter.processes)
            .bind(&filter.queue)
            .bind(filter.state.map(State::as_str))
            .bind(&filter.external_id)
            .bind(filter.limit)
            .bind(&filter.agent)
            .fetch_all(&self.pool)
            .await?;
        rows_to_interactions(rows)
    }

    /// The interaction a submitter already submitted under `external_id`.
    pub async fn by_external_id(
        &self,
        submitted_by: &str,
        external_id: &str,
    ) -> Result<Option<Interaction>, StoreError> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM interactions WHERE submitted_by = $1 AND external_id = $2"
        );
        let row: Option<Row> = sqlx::query_as(sql)
            .bind(submitted_by)
            .bind(external_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(Interaction::try_from).transpose()
    }

    /// At most `limit` journal entries after `after` that pass `filter`,
    /// oldest first, with retention's mark read in the same statement (so
    /// in the same snapshot): a reader whose position is below the mark
    /// has lost entries, whatever the page holds.
    pub async fn read_feed(
        &self,
        after: i64,
        filter: &FeedFilter,
        limit: i64,
    ) -> Result<FeedPage, StoreError> {
        /// The mark, and an entry unless the page is empty (the left join's
        /// one row of nulls).
        #[derive(FromRow)]
        struct Marked {
            purged_through: i64,
            id: Option<i64>,
            interaction_id: Option<Uuid>,
            kind: Option<String>,
            process: Option<String>,
            queue: Option<String>,
            media_type: Option<String>,
            agent: Option<String>,
            at: Option<DateTime<Utc>>,
            data: Option<Json<Box<RawValue>>>,
        }
        let kinds: Option<Vec<&str>> = filter
            .kinds
            .as_ref()
            .map(|kinds| kinds.iter().map(|k| k.as_str()).collect());
        let sql = concat!(
            "SELECT r.purged_through, e.* FROM journal_retention r LEFT JOIN LATERAL (
                 SELECT ",
            event_columns!(),
            " FROM interaction_events
                 WHERE id > $1
                   AND ($2::text[] IS NULL OR process = ANY($2))
                   AND ($3::text[] IS NULL OR queue = ANY($3))
                   AND ($4::text[] IS NULL OR agent = ANY($4))
                   AND ($5::text[] IS NULL OR kind = ANY($5))
                 ORDER BY id LIMIT $6) e ON true
             WHERE r.id = 1
             ORDER BY e.id"
        );
        let rows: Vec<Marked> = sqlx::query_as(sql)
            .bind(after)
            .bind(&filter.processes)
            .bind(&filter.queues)
            .bind(&filter.agents)
            .bind(kinds)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let purged_through = rows.first().map_or(0, |r| r.purged_through);
        let entries = rows
            .into_iter()
            .filter_map(|r| {
                Some(EventRow {
                    id: r.id?,
                    interaction_id: r.interaction_id,
                    kind: r.kind?,
                    process: r.process,
                    queue: r.queue,
                    media_type: r.media_type,
                    agent: r.agent,
                    at: r.at?,
                    data: r.data?,
                })
            })
            .map(JournalEntry::try_from)
            .collect::<Result<_, _>>()?;
        Ok(FeedPage {
            purged_through,
            entries,
        })
    }

    /// The position of the oldest journal entry kept, if any.
    pub async fn oldest_position(&self) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT min(id) FROM interaction_events")
            .fetch_one(&self.pool)
            .await?)
    }

    /// The position of the newest journal entry (0 when there is none).
    pub async fn newest_position(&self) -> Result<i64, StoreError> {
        let newest: Option<i64> = sqlx::query_scalar("SELECT max(id) FROM interaction_events")
            .fetch_one(&self.pool)
            .await?;
        Ok(newest.unwrap_or(0))
    }

    /// The position just before the first journal entry at or after
    /// `since`, found by bisecting positions (primary-key lookups, a few
    /// dozen at most) rather than scanning the journal by time, which has
    /// no index: entries' times follow their positions, up to the engine's
    /// clock stepping back, which may leave out an entry or two near the
    /// start.
    pub async fn position_before(&self, since: DateTime<Utc>) -> Result<i64, StoreError> {
        let (low, high): (Option<i64>, Option<i64>) =
            sqlx::query_as("SELECT min(id), max(id) FROM interaction_events")
                .fetch_one(&self.pool)
                .await?;
        let (Some(mut low), Some(mut high)) = (low, high) else {
            return Ok(0);
        };
        // The first entry at or after `since` lies in [low, high + 1].
        high += 1;
        while low < high {
            let middle = low + (high - low) / 2;
            let found: Option<(i64, DateTime<Utc>)> = sqlx::query_as(
                "SELECT id, at FROM interaction_events WHERE id >= $1 ORDER BY id LIMIT 1",
            )
            .bind(middle)
            .fetch_optional(&self.pool)
            .await?;
            match found {
                // Nothing in [middle, high).
                None => high = middle,
                Some((id, _)) if id >= high => high = middle,
                Some((id, at)) if at < since => low = id + 1,
                Some((id, _)) => high = id,
            }
        }
        Ok(low - 1)
    }

    /// Journal entries after `after` at or after `since`, oldest first, at
    /// most `limit`.
    pub async fn read_journal_since(
        &self,
        after: i64,
        since: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<JournalEntry>, StoreError> {
        let rows: Vec<EventRow> = sqlx::query_as(concat!(
            "SELECT ",
            event_columns!(),
            " FROM interaction_events WHERE id > $1 AND at >= $2 ORDER BY id LIMIT $3"
        ))
        .bind(after)
        .bind(since)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(JournalEntry::try_from).collect()
    }

    /// Keeps the last configuration snapshot of `application`.
    pub async fn save_config_cache(
        &self,
        application: &str,
        revision: u64,
        whoami: &serde_json::Value,
        snapshot: &serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO config_cache (id, application, revision, whoami, snapshot, saved_at)
             VALUES (1, $1, $2, $3, $4, now())
             ON CONFLICT (id) DO UPDATE SET application = EXCLUDED.application,
                 revision = EXCLUDED.revision, whoami = EXCLUDED.whoami,
                 snapshot = EXCLUDED.snapshot, saved_at = EXCLUDED.saved_at",
        )
        .bind(application)
        .bind(i64::try_from(revision).unwrap_or(i64::MAX))
        .bind(whoami)
        .bind(snapshot)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The last configuration snapshot kept for `application`:
    /// `(revision, whoami, snapshot, saved_at)`.
    pub async fn load_config_cache(
        &self,
        application: &str,
    ) -> Result<Option<(i64, serde_json::Value, serde_json::Value, DateTime<Utc>)>, StoreError>
    {
        Ok(sqlx::query_as(
            "SELECT revision, whoami, snapshot, saved_at FROM config_cache
             WHERE id = 1 AND application = $1",
        )
        .bind(application)
        .fetch_optional(&self.pool)
        .await?)
    }
}

#[derive(FromRow)]
struct EventRow {
    id: i64,
    interaction_id: Option<Uuid>,
    kind: String,
    process: Option<String>,
    queue: Option<String>,
    media_type: Option<String>,
    agent: Option<String>,
    at: DateTime<Utc>,
    data: Json<Box<RawValue>>,
}

impl TryFrom<EventRow> for JournalEntry {
    type Error = StoreError;
    fn try_from(row: EventRow) -> Result<Self, StoreError> {
        let kind = EventKind::parse(&row.kind).ok_or_else(|| {
            StoreError::Other(sqlx::Error::Decode(
                format!("unknown event kind '{}'", row.kind).into(),
            ))
        })?;
        Ok(JournalEntry {
            position: row.id,
            event: Event {
                kind,
                interaction_id: row.interaction_id,
                process: row.process.map(Name::from),
                queue: row.queue.map(Name::from),
                media_type: row.media_type.map(Name::from),
                agent: row.agent.map(Name::from),
                at: row.at,
                data: EventData::from_raw(row.data.0),
            },
        })
    }
}

/// Filters of the reporting feed; `None` matches everything, a list any
/// of its values.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FeedFilter {
    pub processes: Option<Vec<String>>,
    pub queues: Option<Vec<String>>,
    pub agents: Option<Vec<String>>,
    pub kinds: Option<Vec<EventKind>>,
}

impl FeedFilter {
    /// Whether `event` passes the filter.
    pub fn matches(&self, event: &Event) -> bool {
        fn any(values: &Option<Vec<String>>, value: &Option<Name>) -> bool {
            values.as_ref().is_none_or(|values| {
                value
                    .as_ref()
                    .is_some_and(|v| values.iter().any(|w| w == v))
            })
        }
        any(&self.processes, &event.process)
            && any(&self.queues, &event.queue)
            && any(&self.agents, &event.agent)
            && self
                .kinds
                .as_ref()
                .is_none_or(|kinds| kinds.contains(&event.kind))
    }
}

/// A page of the journal read for the feed, and how far retention had
/// deleted it when the page was read (in the same snapshot).
#[derive(Debug, Clone, PartialEq)]
pub struct FeedPage {
    pub purged_through: i64,
    pub entries: Vec<JournalEntry>,
}

/// Checks inside `tx` that `fence` still holds, and keeps the lease row from
/// being taken over until the transaction ends.
async fn check_fence(tx: &mut PgConnection, fence: &Fence) -> Result<(), StoreError> {
    let held: Option<i64> = sqlx::query_scalar(
        "SELECT epoch FROM instance_lease WHERE id = 1 AND holder = $1 AND epoch = $2 FOR SHARE",
    )
    .bind(&fence.holder)
    .bind(fence.epoch)
    .fetch_optional(&mut *tx)
    .await?;
    match held {
        Some(_) => Ok(()),
        None => Err(StoreError::Fenced(fence.epoch)),
    }
}

/// Commits a batch as one statement, so one round trip and one WAL flush:
/// the claim of the batch's sequence number on the lease row, which is also
/// the fence (nothing else is written unless the claim succeeds, so neither
/// a former holder nor a copy of a batch that already committed applies
/// anything); the new interactions (one whose submitter
/// already used its external id is turned away by the unique index); the
/// changed ones (only where the database holds an older version); the
/// journal entries of what was written; and, when something was not
/// written, the batch's outcome, kept for a writer whose answer was lost.
const COMMIT: &str = concat!(
    "
WITH claim AS (
    UPDATE instance_lease SET seq = $29, batch = $30
    WHERE id = 1 AND holder = $22 AND epoch = $23 AND seq = $29 - 1
    RETURNING seq
),
batch AS (
    SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
        $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::int4[],
        $12::jsonb[], $13::text[], $14::timestamptz[], $15::timestamptz[],
        $16::timestamptz[], $17::timestamptz[], $18::timestamptz[], $19::text[],
        $20::int8[], $31::text[], $21::bool[])
        AS b(",
    columns!(),
    ", created)
    WHERE EXISTS (SELECT 1 FROM claim)
),
created AS (
    INSERT INTO interactions (",
    columns!(),
    ")
    SELECT ",
    columns!(),
    "
    FROM batch WHERE created
    ON CONFLICT DO NOTHING
    RETURNING id
),
changed AS (
    UPDATE interactions AS i SET
        process = b.process, queue = b.queue, workbin = b.workbin, state = b.state,
        priority = b.priority, properties = b.properties, agent = b.agent,
        placed_in_queue_at = b.placed_in_queue_at, offered_at = b.offered_at,
        assigned_at = b.assigned_at, stopped_at = b.stopped_at,
        stop_reason = b.stop_reason, version = b.version, owner = b.owner
    FROM batch AS b
    WHERE NOT b.created AND i.id = b.id AND i.version < b.version
    RETURNING i.id
),
journal AS (
    INSERT INTO interaction_events
        (interaction_id, kind, process, at, data, agent, queue, media_type)
    SELECT e.interaction_id, e.kind, e.process, e.at, e.data, e.agent, e.queue, e.media_type
    FROM UNNEST($24::uuid[], $25::text[], $26::text[], $27::timestamptz[], $28::jsonb[],
            $32::text[], $35::text[], $36::text[])
        WITH ORDINALITY AS e(interaction_id, kind, process, at, data, agent, queue,
            media_type, n)
    WHERE EXISTS (SELECT 1 FROM claim)
      AND (e.interaction_id IS NULL
           OR e.interaction_id IN (SELECT id FROM created)
           OR e.interaction_id IN (SELECT id FROM changed))
    ORDER BY e.n
    RETURNING id
),
agents AS (
    INSERT INTO agent_states (name, state, updated_at)
    SELECT a.name, a.state, now()
    FROM UNNEST($33::text[], $34::jsonb[]) AS a(name, state)
    WHERE EXISTS (SELECT 1 FROM claim)
    ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state, updated_at = EXCLUDED.updated_at
),
outcome AS (
    INSERT INTO writer_outcomes (seq, turned_away, not_applied)
    SELECT claim.seq,
        ARRAY(SELECT id FROM batch WHERE created EXCEPT SELECT id FROM created),
        ARRAY(SELECT id FROM batch WHERE NOT created EXCEPT SELECT id FROM changed)
    FROM claim
    WHERE (SELECT count(*) FROM created) + (SELECT count(*) FROM changed)
        < (SELECT count(*) FROM batch)
)
SELECT EXISTS (SELECT 1 FROM instance_lease WHERE id = 1 AND holder = $22 AND epoch = $23)
           AS held,
       EXISTS (SELECT 1 FROM claim) AS claimed,
       ARRAY(SELECT id FROM created) AS created,
       ARRAY(SELECT id FROM changed) AS changed,
       ARRAY(SELECT id FROM journal ORDER BY id) AS positions"
);

async fn commit_batch(
    pool: &PgPool,
    fence: &Fence,
    seq: i64,
    batch_id: Uuid,
    batch: &Batch<'_>,
) -> Result<Claim, StoreError> {
    let rows = &batch.rows;
    let n = rows.len();
    let mut id = Vec::with_capacity(n);
    let mut external_id = Vec::with_capacity(n);
    let mut submitted_by = Vec::with_capacity(n);
    let mut process = Vec::with_capacity(n);
    let mut queue = Vec::with_capacity(n);
    let mut workbin = Vec::with_capacity(n);
    let mut state = Vec::with_capacity(n);
    let mut media_type = Vec::with_capacity(n);
    let mut kind = Vec::with_capacity(n);
    let mut subtype = Vec::with_capacity(n);
    let mut priority = Vec::with_capacity(n);
    let mut properties = Vec::with_capacity(n);
    let mut agent = Vec::with_capacity(n);
    let mut submitted_at = Vec::with_capacity(n);
    let mut placed_in_queue_at = Vec::with_capacity(n);
    let mut offered_at = Vec::with_capacity(n);
    let mut assigned_at = Vec::with_capacity(n);
    let mut stopped_at = Vec::with_capacity(n);
    let mut stop_reason = Vec::with_capacity(n);
    let mut version = Vec::with_capacity(n);
    let mut owner = Vec::with_capacity(n);
    let mut created = Vec::with_capacity(n);
    for &row in rows {
        id.push(row.id);
        external_id.push(row.external_id.as_deref());
        submitted_by.push(row.submitted_by.as_str());
        process.push(row.process.as_str());
        queue.push(row.queue.as_deref());
        workbin.push(row.workbin.as_deref());
        state.push(row.state.as_str());
        media_type.push(row.media_type.as_str());
        kind.push(row.kind.as_str());
        subtype.push(row.subtype.as_deref());
        priority.push(row.priority);
        properties.push(Json(&row.properties));
        agent.push(row.agent.as_deref());
        submitted_at.push(row.submitted_at);
        placed_in_queue_at.push(row.placed_in_queue_at);
        offered_at.push(row.offered_at);
        assigned_at.push(row.assigned_at);
        stopped_at.push(row.stopped_at);
        stop_reason.push(row.stop_reason.as_deref());
        version.push(row.version);
        owner.push(row.owner.as_deref());
        created.push(batch.created.contains(&row.id));
    }
    let events = &batch.events;
    let event_interaction: Vec<Option<Uuid>> = events.iter().map(|e| e.interaction_id).collect();
    let event_kind: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let event_process: Vec<Option<&str>> = events.iter().map(|e| e.process.as_deref()).collect();
    let event_agent: Vec<Option<&str>> = events.iter().map(|e| e.agent.as_deref()).collect();
    let event_queue: Vec<Option<&str>> = events.iter().map(|e| e.queue.as_deref()).collect();
    let event_media: Vec<Option<&str>> = events.iter().map(|e| e.media_type.as_deref()).collect();
    let agent_name: Vec<&str> = batch.agents.iter().map(|a| a.name.as_str()).collect();
    let agent_state: Vec<Json<&AgentRecord>> = batch.agents.iter().map(|a| Json(*a)).collect();
    let event_at: Vec<DateTime<Utc>> = events.iter().map(|e| e.at).collect();
    let event_data: Vec<Json<&RawValue>> = events.iter().map(|e| Json(e.data.as_raw())).collect();
    type Answer = (bool, bool, Vec<Uuid>, Vec<Uuid>, Vec<i64>);
    // Not a prepared statement kept on the connection: PostgreSQL would
    // settle on a generic plan, which cannot see how many rows the arrays
    // hold and, once the table is deep, updates by scanning all of it (a
    // commit took time in proportion to the interactions stored). Planned
    // with each batch's arrays, it finds them by their primary key.
    let (held, claimed, written_new, written_changed, positions): Answer = sqlx::query_as(COMMIT)
        .persistent(false)
        .bind(id)
        .bind(external_id)
        .bind(submitted_by)
        .bind(process)
        .bind(queue)
        .bind(workbin)
        .bind(state)
        .bind(media_type)
        .bind(kind)
        .bind(subtype)
        .bind(priority)
        .bind(properties)
        .bind(agent)
        .bind(submitted_at)
        .bind(placed_in_queue_at)
        .bind(offered_at)
        .bind(assigned_at)
        .bind(stopped_at)
        .bind(stop_reason)
        .bind(version)
        .bind(created)
        .bind(&fence.holder)
        .bind(fence.epoch)
        .bind(event_interaction)
        .bind(event_kind)
        .bind(event_process)
        .bind(event_at)
        .bind(event_data)
        .bind(seq)
        .bind(batch_id)
        .bind(owner)
        .bind(event_agent)
        .bind(agent_name)
        .bind(agent_state)
        .bind(event_queue)
        .bind(event_media)
        .fetch_one(pool)
        .await?;
    if !held {
        return Err(StoreError::Fenced(fence.epoch));
    }
    if !claimed {
        return Ok(Claim::Taken);
    }
    Ok(Claim::Committed(
        outcome(batch, &written_new, &written_changed),
        positions,
    ))
}

/// What of `batch` was not written, from the ids that were.
fn outcome(batch: &Batch<'_>, created: &[Uuid], changed: &[Uuid]) -> Outcome {
    let mut outcome = Outcome::default();
    if created.len() + changed.len() == batch.rows.len() {
        return outcome;
    }
    let created: HashSet<&Uuid> = created.iter().collect();
    let changed: HashSet<&Uuid> = changed.iter().collect();
    for row in &batch.rows {
        if batch.created.contains(&row.id) {
            if !created.contains(&row.id) {
                outcome.turned_away.push(row.id);
            }
        } else if !changed.contains(&row.id) {
            outcome.not_applied.push(row.id);
        }
    }
    outcome
}

impl Store for PgStore {
    async fn commit(
        &self,
        fence: &Fence,
        seq: i64,
        batch_id: Uuid,
        batch: &Batch<'_>,
    ) -> Result<Claim, StoreError> {
        commit_batch(&self.pool, fence, seq, batch_id, batch).await
    }

    async fn last_commit(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT seq FROM instance_lease WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn resolve(
        &self,
        fence: &Fence,
        seq: i64,
        batch_id: Uuid,
    ) -> Result<Resolved, StoreError> {
        let mut tx = self.pool.begin().await?;
        check_fence(&mut tx, fence).await?;
        type Found = (i64, Option<Uuid>, Option<Vec<Uuid>>, Option<Vec<Uuid>>);
        let (last, batch, turned_away, not_applied): Found = sqlx::query_as(
            "SELECT w.seq, w.batch, o.turned_away, o.not_applied
             FROM instance_lease w LEFT JOIN writer_outcomes o ON o.seq = $1
             WHERE w.id = 1",
        )
        .bind(seq)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(if last < seq {
            Resolved::Free
        } else if last == seq && batch == Some(batch_id) {
            Resolved::Committed(Outcome {
                turned_away: turned_away.unwrap_or_default(),
                not_applied: not_applied.unwrap_or_default(),
            })
        } else {
            Resolved::Other
        })
    }

    async fn load_live(&self, processes: &[String]) -> Result<Vec<Interaction>, StoreError> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM interactions WHERE state <> 'stopped' AND process = ANY($1)"
        );
        let rows: Vec<Row> = sqlx::query_as(sql)
            .bind(processes)
            .fetch_all(&self.pool)
            .await?;
        rows_to_interactions(rows)
    }

    async fn read_journal(&self, after: i64, limit: i64) -> Result<Vec<JournalEntry>, StoreError> {
        let rows: Vec<EventRow> = sqlx::query_as(concat!(
            "SELECT ",
            event_columns!(),
            " FROM interaction_events WHERE id > $1 ORDER BY id LIMIT $2"
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(JournalEntry::try_from).collect()
    }

    async fn purge(
        &self,
        fence: &Fence,
        stopped_before: DateTime<Utc>,
        events_before: DateTime<Utc>,
        batch: i64,
    ) -> Result<Purged, StoreError> {
        let mut tx = self.pool.begin().await?;
        check_fence(&mut tx, fence).await?;
        let interactions = sqlx::query(
            "DELETE FROM interactions WHERE id IN (
                 SELECT id FROM interactions
                 WHERE stopped_at IS NOT NULL AND stopped_at < $1
                 ORDER BY stopped_at LIMIT $2)",
        )
        .bind(stopped_before)
        .bind(batch)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // A prefix of the journal, up to the first entry not old enough,
        // and the mark of how far it is gone, together: the feed tells a
        // reader below the mark that it lost entries, and never skips one
        // in its middle.
        let events: i64 = sqlx::query_scalar(
            "WITH head AS (
                 SELECT id, at FROM interaction_events ORDER BY id LIMIT $2
             ),
             gone AS (
                 DELETE FROM interaction_events WHERE id IN (
                     SELECT id FROM head WHERE id < COALESCE(
                         (SELECT min(id) FROM head WHERE at >= $1), 9223372036854775807))
                 RETURNING id
             ),
             mark AS (
                 UPDATE journal_retention
                 SET purged_through = GREATEST(purged_through, (SELECT max(id) FROM gone))
                 WHERE id = 1 AND EXISTS (SELECT 1 FROM gone)
             )
             SELECT count(*) FROM gone",
        )
        .bind(events_before)
        .bind(batch)
        .fetch_one(&mut *tx)
        .await?;
        let events = events as u64;
        // Ended sessions are kept until they would have expired, so that
        // their token is refused as revoked; then nothing needs them.
        let sessions = sqlx::query(
            "DELETE FROM instance_sessions WHERE digest IN (
                 SELECT digest FROM instance_sessions WHERE expires_at < now() LIMIT $1)",
        )
        .bind(batch)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // Outcomes are read only right after a lost answer: a few thousand
        // batches back is plenty.
        sqlx::query(
            "DELETE FROM writer_outcomes WHERE seq < (SELECT seq FROM instance_lease) - 10000",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Purged {
            interactions,
            events,
            sessions,
        })
    }

    async fn acquire_lease(
        &self,
        holder: &LeaseHolder,
        ttl: Duration,
    ) -> Result<LeaseOutcome, StoreError> {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        loop {
            let epoch: Option<i64> = sqlx::query_scalar(
                "UPDATE instance_lease
                 SET holder = $1, instance = $2, epoch = epoch + 1,
                     expires_at = now() + make_interval(secs => $3::float8 / 1000)
                 WHERE id = 1 AND (holder IS NULL OR expires_at < now())
                 RETURNING epoch",
            )
            .bind(&holder.id)
            .bind(&holder.instance)
            .bind(ttl_ms as f64)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(epoch) = epoch {
                return Ok(LeaseOutcome::Acquired(Fence {
                    holder: holder.id.clone(),
                    epoch,
                }));
            }
            // Only while it is still held: a lease released meanwhile has
            // `-infinity` for its expiry, which has no date to read, and is
            // free to take at once.
            let held: Option<(Option<String>, String, DateTime<Utc>)> = sqlx::query_as(
                "SELECT instance, holder, expires_at FROM instance_lease
                 WHERE id = 1 AND holder IS NOT NULL AND expires_at >= now()",
            )
            .fetch_optional(&self.pool)
            .await?;
            if let Some((instance, current, expires_at)) = held {
                return Ok(LeaseOutcome::Held {
                    instance: instance.unwrap_or_default(),
                    holder: current,
                    expires_at,
                });
            }
        }
    }

    async fn renew_lease(&self, fence: &Fence, ttl: Duration) -> Result<bool, StoreError> {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let renewed = sqlx::query(
            "UPDATE instance_lease
             SET expires_at = now() + make_interval(secs => $3::float8 / 1000)
             WHERE id = 1 AND holder = $1 AND epoch = $2",
        )
        .bind(&fence.holder)
        .bind(fence.epoch)
        .bind(ttl_ms as f64)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(renewed == 1)
    }

    async fn release_lease(&self, fence: &Fence) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE instance_lease SET holder = NULL, expires_at = '-infinity'
             WHERE id = 1 AND holder = $1 AND epoch = $2",
        )
        .bind(&fence.holder)
        .bind(fence.epoch)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn load_agents(&self) -> Result<Vec<AgentRecord>, StoreError> {
        let rows: Vec<(Json<AgentRecord>,)> =
            sqlx::query_as("SELECT state FROM agent_states ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(state,)| state.0).collect())
    }

    async fn get(&self, id: Uuid) -> Result<Option<Interaction>, StoreError> {
        let sql = concat!("SELECT ", columns!(), " FROM interactions WHERE id = $1");
        let row: Option<Row> = sqlx::query_as(sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(Interaction::try_from).transpose()
    }
}
