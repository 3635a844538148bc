//! The API's OpenAPI 3.1 description, served at `GET /v1/openapi.json`.
//!
//! Each handler carries its own `#[utoipa::path]` (its request body,
//! answers, the roles it allows in `x-roles` and the error codes of its own
//! in `x-error-codes`), and the router registers each route together with
//! it (`utoipa_axum::routes!`), so the document is made from the routes the
//! server has. [`document`] then adds what every operation shares: the
//! bearer token, the error answers every authenticated request or JSON body
//! can get, each status's codes with what they mean, and a line naming the
//! roles.
//!
//! The engine's types that answers carry (the interaction, an agent's
//! state…) are described here, in [`schemas`], not derived in the engine:
//! the engine knows nothing of the API's documentation.

use super::AppState;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, OpenApi as Document, Ref, ResponseBuilder, SecurityRequirement,
};
use utoipa::{ToSchema, openapi};

/// Every error code the API answers, its status and when.
pub const CODES: &[(&str, u16, &str)] = &[
    ("malformed_json", 400, "the body is not JSON"),
    (
        "malformed_request",
        400,
        "the request head is not HTTP/1.1 the server takes",
    ),
    ("invalid_credentials", 401, "a wrong person or password"),
    (
        "unauthorized",
        401,
        "no token, or a token this instance did not issue or that expired",
    ),
    (
        "token_revoked",
        401,
        "a change in the directory ended the session: log in again",
    ),
    (
        "forbidden",
        403,
        "the caller lacks the role, or (an agent) the interaction or workbin is not its own",
    ),
    (
        "out_of_scope",
        403,
        "the process is not one this instance serves",
    ),
    (
        "not_an_agent",
        403,
        "the person is not an agent of this instance",
    ),
    ("not_found", 404, "no such interaction (or route)"),
    ("unknown_queue", 404, "no such queue in the process"),
    ("unknown_workbin", 404, "no such workbin in the process"),
    ("unknown_view", 404, "no such enabled view of the queue"),
    (
        "method_not_allowed",
        405,
        "the path exists, the method does not",
    ),
    (
        "illegal_transition",
        409,
        "not allowed in the interaction's state; `state` says which",
    ),
    (
        "agent_busy",
        409,
        "a log-out while the agent holds offers or interactions",
    ),
    (
        "agent_unavailable",
        409,
        "the agent cannot take the interaction now; the message says why",
    ),
    ("not_logged_in", 409, "readiness before log-in"),
    ("not_pulled", 409, "a pull from a view routed by a strategy"),
    (
        "purged",
        410,
        "the feed was asked to start before entries retention deleted; see \
         `oldest_position` and `resume_after`",
    ),
    (
        "payload_too_large",
        413,
        "the body exceeds `listen.max_body_bytes`",
    ),
    (
        "uri_too_long",
        414,
        "the request target exceeds `listen.max_uri_bytes`",
    ),
    (
        "unsupported_media_type",
        415,
        "the body is not sent as `application/json`",
    ),
    (
        "invalid_field",
        422,
        "a field, query or path parameter is missing, of the wrong type, unknown or out of \
         range; `field` names it",
    ),
    (
        "headers_too_large",
        431,
        "the headers exceed `listen.max_header_bytes` or `listen.max_headers`",
    ),
    (
        "not_stored",
        500,
        "the database refused the change; nothing was changed",
    ),
    (
        "internal",
        500,
        "an unexpected failure (logged, never detailed)",
    ),
    (
        "not_active",
        503,
        "the instance does not hold its database lease (standby, starting, stopping)",
    ),
    (
        "busy",
        503,
        "too many log-ins are being checked at once; retry after `Retry-After`",
    ),
    (
        "commit_pending",
        503,
        "the change is not known to be durable yet: repeat the request to learn its outcome",
    ),
    ("database_unavailable", 503, "the database is unreachable"),
    (
        "config_server_unavailable",
        503,
        "credentials cannot be checked: the configuration server is unreachable",
    ),
    (
        "reloading",
        503,
        "the interaction is being reloaded after a change of it was not stored",
    ),
    (
        "not_applied",
        503,
        "the interaction changed in the database while the request ran; nothing was changed",
    ),
];

/// What every authenticated request can be answered.
const AUTHENTICATED: [&str; 5] = [
    "unauthorized",
    "token_revoked",
    "forbidden",
    "not_active",
    "internal",
];
/// What every request with a JSON body can be answered.
const WITH_BODY: [&str; 4] = [
    "malformed_json",
    "unsupported_media_type",
    "payload_too_large",
    "invalid_field",
];

const DESCRIPTION: &str = "\
The interaction server's HTTP API: media gateways submit interactions, agent desktops \
log in and handle their offers, routing clients pull from their views, reporting reads \
the event feed and the statistics.

Every `/v1` request but `POST /v1/sessions` and this document carries \
`Authorization: Bearer <token>`, a token from `POST /v1/sessions`. Each operation names \
the roles it allows in its description and in `x-roles`; an administrator has them all.

Every failure is JSON `{\"error\": {\"code\", \"message\", \"field\"?, \"state\"?}}` \
(`ErrorBody`). Each operation lists the codes it can answer under its statuses and in \
`x-error-codes`. Any request can also be answered `400 malformed_request`, \
`414 uri_too_long`, `431 headers_too_large` (a request head the server does not take) \
or `405 method_not_allowed`.";

#[derive(OpenApi)]
#[openapi(
    info(title = "ixs", description = DESCRIPTION, license(name = "Apache-2.0")),
    components(schemas(
        ErrorBody,
        schemas::State,
        schemas::EventKind,
        schemas::Offer,
        schemas::Revoked,
        schemas::Resume,
        schemas::JournalEntry,
    )),
    tags(
        (name = "sessions", description = "Logging in to this instance"),
        (name = "interactions", description = "Submitting, finding and changing interactions"),
        (name = "routing", description = "Offers, transfers, workbins, pulls and why routing did what it did"),
        (name = "agents", description = "Agents' log-in, readiness and live stream"),
        (name = "queues", description = "Queues' depth and head"),
        (name = "reporting", description = "The event feed and the live statistics"),
        (name = "instance", description = "The instance: its scope, health, readiness, metrics and this document"),
    )
)]
struct Base;

/// The error answer: `{"error": {"code", "message", …}}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// What went wrong, for programs (the operation's statuses list the codes).
    code: String,
    /// What went wrong, for people; names the offending field.
    message: String,
    /// `invalid_field`: the field, query or path parameter at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    /// `illegal_transition`: the interaction's state.
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<schemas::State>,
    /// `purged`: the oldest position the journal keeps (null when empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    oldest_position: Option<i64>,
    /// `purged`: where to start instead, accepting the loss.
    #[serde(skip_serializing_if = "Option::is_none")]
    resume_after: Option<i64>,
}

/// The whole document: the operations of `routes` completed with what they
/// share.
pub fn document(routes: Document) -> Document {
    let mut doc = Base::openapi().merge_from(routes);
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A token from `POST /v1/sessions`"))
                    .build(),
            ),
        );
    let known: BTreeMap<&str, (u16, &str)> = CODES
        .iter()
        .map(|(code, status, when)| (*code, (*status, *when)))
        .collect();
    for item in doc.paths.paths.values_mut() {
        for operation in operations(item) {
            complete(operation, &known);
        }
    }
    doc
}

fn operations(item: &mut openapi::PathItem) -> impl Iterator<Item = &mut openapi::path::Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// Adds to `operation` the bearer token and the error answers it shares
/// with the others, from its `x-roles` and `x-error-codes`.
fn complete(operation: &mut openapi::path::Operation, known: &BTreeMap<&str, (u16, &str)>) {
    let extensions = operation.extensions.get_or_insert_with(Default::default);
    let roles: Vec<String> = extensions
        .get("x-roles")
        .and_then(Value::as_array)
        .map(|roles| {
            roles
                .iter()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut codes: BTreeSet<String> = extensions
        .get("x-error-codes")
        .and_then(Value::as_array)
        .map(|codes| {
            codes
                .iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let authenticated = !roles.is_empty();
    if authenticated {
        codes.extend(AUTHENTICATED.map(str::to_owned));
    }
    if operation.request_body.is_some() {
        codes.extend(WITH_BODY.map(str::to_owned));
    }
    let mut by_status: BTreeMap<u16, Vec<&str>> = BTreeMap::new();
    for code in &codes {
        let (status, _) = known
            .get(code.as_str())
            .unwrap_or_else(|| panic!("error code '{code}' is not in openapi::CODES"));
        by_status.entry(*status).or_default().push(code);
    }
    extensions.merge(
        openapi::extensions::ExtensionsBuilder::new()
            .add("x-error-codes", json!(codes))
            .build(),
    );
    for (status, codes) in by_status {
        let lines: Vec<String> = codes
            .iter()
            .map(|code| format!("`{code}`: {}", known[code].1))
            .collect();
        let response = ResponseBuilder::new()
            .description(lines.join("; "))
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        operation
            .responses
            .responses
            .insert(status.to_string(), response.into());
    }
    let line = if authenticated {
        operation.security = Some(vec![SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
        format!(
            "Roles: {} (an administrator has them all).",
            roles.join(", ")
        )
    } else {
        operation.security = Some(vec![SecurityRequirement::default()]);
        "No authentication.".to_owned()
    };
    operation.description = Some(match operation.description.take() {
        Some(text) => format!("{text}\n\n{line}"),
        None => line,
    });
}

/// The document as served, made once.
static SERVED: LazyLock<String> = LazyLock::new(|| {
    let doc = document(super::documented().into_openapi());
    serde_json::to_string(&doc).expect("the OpenAPI document serializes")
});

/// The API's OpenAPI 3.1 description (this document).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "instance",
    summary = "This document",
    responses((status = 200, description = "The API's OpenAPI 3.1 description", content_type = "application/json", body = Object)),
    extensions(("x-roles" = json!([])))
)]
pub async fn served(_: axum::extract::State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        SERVED.as_str(),
    )
}

/// The engine's types as the API sends them. Never built: they describe
/// what the engine's own types serialize to (the tests in `tests/openapi.rs`
/// check real answers against them). A field that may be null but is always
/// sent is `required`; one left out when empty is not.
#[allow(dead_code)]
pub mod schemas {
    use chrono::{DateTime, Utc};
    use serde::Serialize;
    use serde_json::Value;
    use std::collections::BTreeMap;
    use utoipa::ToSchema;
    use uuid::Uuid;

    /// Where an interaction is in its life.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum State {
        Queued,
        Routing,
        Offered,
        Handling,
        Parked,
        Stopped,
    }

    /// What a journal entry records.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum EventKind {
        Submitted,
        PlacedInQueue,
        PropertiesChanged,
        ProcessingStopped,
        Pulled,
        Offered,
        Accepted,
        Rejected,
        OfferTimedOut,
        Revoked,
        Transferred,
        PlacedInWorkbin,
        TakenFromWorkbin,
        AgentLoggedIn,
        AgentLoggedOut,
        AgentReady,
        AgentNotReady,
    }

    /// An interaction.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Interaction {
        id: Uuid,
        /// The submitter's own id for it; unique per submitter.
        #[schema(required = true)]
        external_id: Option<String>,
        /// Who submitted it (a gateway or an agent).
        submitted_by: String,
        process: String,
        #[schema(required = true)]
        queue: Option<String>,
        #[schema(required = true)]
        workbin: Option<String>,
        /// Whose workbin it is parked in: an agent, or an agent group.
        #[schema(required = true)]
        owner: Option<String>,
        state: State,
        media_type: String,
        #[serde(rename = "type")]
        kind: String,
        #[schema(required = true)]
        subtype: Option<String>,
        priority: i32,
        /// Attached data: a JSON object.
        properties: BTreeMap<String, Value>,
        /// The agent it is offered to or handled by.
        #[schema(required = true)]
        agent: Option<String>,
        submitted_at: DateTime<Utc>,
        /// Since when it waits in its queue (its original age is kept).
        #[schema(required = true)]
        placed_in_queue_at: Option<DateTime<Utc>>,
        #[schema(required = true)]
        offered_at: Option<DateTime<Utc>>,
        #[schema(required = true)]
        assigned_at: Option<DateTime<Utc>>,
        #[schema(required = true)]
        stopped_at: Option<DateTime<Utc>>,
        #[schema(required = true)]
        stop_reason: Option<String>,
        /// Incremented by every change; 1 after submit.
        version: i64,
    }

    /// One media of an agent.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct MediaState {
        ready: bool,
        /// Why it is not ready.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Until when it is in after-call work.
        #[serde(skip_serializing_if = "Option::is_none")]
        after_work_until: Option<DateTime<Utc>>,
        /// Offers pending and interactions handled, of this media.
        load: u32,
        capacity: u32,
    }

    /// A pending offer: the `offer` event of an agent's stream, and its
    /// state's `offers`.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Offer {
        interaction: Uuid,
        /// When the offer times out.
        deadline: DateTime<Utc>,
    }

    /// An offer or a handled interaction taken from the agent: the
    /// `revoked` event of its stream.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Revoked {
        interaction: Uuid,
        reason: String,
    }

    /// An agent's state.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Agent {
        name: String,
        logged_in: bool,
        /// Whether its desktop's live stream is connected.
        connected: bool,
        /// Per media type it logged in with.
        media: BTreeMap<String, MediaState>,
        load: u32,
        /// What it may hold in all.
        capacity: u32,
        idle_since: DateTime<Utc>,
        /// Offers rejected or timed out in a row.
        missed_in_row: u32,
        offers: Vec<Offer>,
        /// The interactions it handles.
        holding: Vec<Uuid>,
    }

    /// Depth and head of one queue.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct QueueSnapshot {
        process: String,
        queue: String,
        depth: u64,
        /// Seconds the longest-waiting interaction has waited, 0 when empty.
        oldest_age_secs: i64,
        /// The first `limit`, in order `priority desc, submitted_at asc`.
        interactions: Vec<Interaction>,
    }

    /// Why an agent was not chosen.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum Pass {
        NotEligible,
        StepNotReached,
        ReservedForAnother,
        LoggedOut,
        MediaNotLoggedIn,
        NotReady,
        AfterWork,
        NoCapacity,
        Disconnected,
        RejectedRecently,
        NotSelected,
    }

    /// One agent passed over, and why.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Passed {
        agent: String,
        reason: Pass,
        /// The step the reason refers to (1-based), where it refers to one.
        #[serde(skip_serializing_if = "Option::is_none")]
        step: Option<u32>,
    }

    /// One routing decision.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Decision {
        at: DateTime<Utc>,
        process: String,
        queue: String,
        view: String,
        strategy: String,
        /// The step in force (1-based).
        step: u32,
        /// The step's selection (`longest_idle`, `least_busy`…).
        select: String,
        /// The agent offered the interaction; null: it waits.
        #[schema(required = true)]
        chosen: Option<String>,
        /// Agents passed over (up to 64).
        passed: Vec<Passed>,
        /// How many agents were passed over for each reason, all of them.
        counts: BTreeMap<String, u64>,
    }

    /// One journal entry, the data of an event of the feed (its SSE `id` is
    /// `position`).
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct JournalEntry {
        /// Grows in commit order; not consecutive.
        position: i64,
        kind: EventKind,
        /// Null for an agent's own events.
        #[schema(required = true)]
        interaction_id: Option<Uuid>,
        #[schema(required = true)]
        process: Option<String>,
        /// The interaction's queue after the change.
        #[schema(required = true)]
        queue: Option<String>,
        /// The interaction's media type after the change.
        #[schema(required = true)]
        media_type: Option<String>,
        /// The agent involved, where one is.
        #[schema(required = true)]
        agent: Option<String>,
        at: DateTime<Utc>,
        /// The change's details (the submitted interaction, the patch, the
        /// stop reason…).
        data: Value,
    }

    /// The end of a feed that cannot go on: `lagged` (the reader fell too
    /// far behind) or `purged` (retention deleted what it had not read).
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Resume {
        /// Resume after this position (`?after=` or `Last-Event-ID`).
        resume_after: i64,
    }

    /// A queue's figures: now, and over the window.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct QueueStats {
        process: String,
        queue: String,
        /// Now.
        #[serde(skip_serializing_if = "Option::is_none")]
        depth: Option<u64>,
        /// Now, in seconds.
        #[serde(skip_serializing_if = "Option::is_none")]
        oldest_age_secs: Option<i64>,
        entered: u64,
        offered: u64,
        accepted: u64,
        rejected: u64,
        offer_timed_out: u64,
        /// Stopped while still waiting, before an accept.
        abandoned: u64,
        stopped: u64,
        /// From entering the queue to the accept, in seconds.
        #[schema(required = true)]
        wait_avg_secs: Option<f64>,
        #[schema(required = true)]
        wait_p90_secs: Option<f64>,
        service_level_target_secs: u64,
        /// The share of accepts within the target, 0 to 1; null without
        /// accepts.
        #[schema(required = true)]
        service_level: Option<f64>,
    }

    /// An agent's figures: now (absent for an agent this instance no
    /// longer knows), and over the window.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct AgentStats {
        name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        logged_in: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        connected: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        media: Option<BTreeMap<String, MediaState>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        load: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        capacity: Option<u32>,
        /// Offers accepted.
        handled: u64,
        /// Offers rejected or timed out.
        missed: u64,
        logged_in_secs: f64,
        holding_secs: f64,
        /// The share of its logged-in time it held at least one
        /// interaction; null when not logged in.
        #[schema(required = true)]
        occupancy: Option<f64>,
    }

    /// The live statistics over `reporting.window`.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Stats {
        at: DateTime<Utc>,
        window_secs: i64,
        /// The last journal position counted.
        position: i64,
        queues: Vec<QueueStats>,
        agents: Vec<AgentStats>,
    }

    /// Where the scope in force came from.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum ScopeSource {
        Directory,
        ConfigServer,
        Cache,
    }

    /// A business process served.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct ServedProcess {
        name: String,
        queues: Vec<String>,
        workbins: Vec<String>,
    }

    /// What this instance serves and as whom.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Scope {
        instance: String,
        application: String,
        /// The person it logs on as; null: it sees nothing.
        #[schema(required = true)]
        person: Option<String>,
        access_groups: Vec<String>,
        processes: Vec<ServedProcess>,
        /// The configuration revision in force.
        #[schema(required = true)]
        revision: Option<u64>,
        source: ScopeSource,
        /// Why it serves nothing, when it does not.
        #[schema(required = true)]
        problem: Option<String>,
    }

    /// Whether this instance is ready.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Readiness {
        ready: bool,
        /// Which revision it serves and from where, or why it is not ready.
        reason: String,
        instance: String,
        /// How many business processes it serves.
        processes: u64,
        #[schema(required = true)]
        revision: Option<u64>,
        source: ScopeSource,
    }

    /// The process answers.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Alive {
        /// `alive`.
        status: String,
    }

    /// Interactions found, pulled or parked.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Interactions {
        interactions: Vec<Interaction>,
    }

    /// What a workbin holds, oldest first.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Workbin {
        process: String,
        workbin: String,
        interactions: Vec<Interaction>,
    }

    /// One queue's depth and oldest age.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct QueueDepth {
        process: String,
        queue: String,
        depth: u64,
        /// Seconds the longest-waiting interaction has waited, 0 when empty.
        oldest_age_secs: i64,
    }

    /// Every served queue.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Queues {
        queues: Vec<QueueDepth>,
    }

    /// Every agent of this instance.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Agents {
        agents: Vec<Agent>,
    }

    /// An interaction's recent routing decisions, oldest first; while it
    /// waits, the last says why it waits now.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Explanation {
        interaction: Uuid,
        decisions: Vec<Decision>,
    }

    /// Who would get the interaction now, and why the others would not.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct DryRun {
        /// Null: nobody now.
        #[schema(required = true)]
        agent: Option<String>,
        decisions: Vec<Decision>,
    }

    /// A session of this instance.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Session {
        /// For `Authorization: Bearer <token>`.
        token: String,
        expires_at: DateTime<Utc>,
        person: String,
        /// `gateway`, `agent`, `router`, `reporter`, `admin`.
        roles: Vec<String>,
    }

    /// The properties' patch: merged into the properties; `null` deletes a
    /// key.
    #[derive(Serialize, ToSchema)]
    pub struct PropertiesPatch(BTreeMap<String, Value>);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use std::sync::Arc;

    /// Each (method, path template) the server's router answers, read from
    /// axum's description of it (axum has no other way to list its
    /// routes). A route registered by a service rather than per method is
    /// `ANY`. Panics if the description is not what it reads.
    fn routes_of(router: &axum::Router<AppState>) -> BTreeSet<(String, String)> {
        let described = format!("{router:?}");
        // Only the router's own paths, not its fallbacks'.
        let own = described
            .split_once(", fallback_router:")
            .map(|(own, _)| own)
            .expect("axum's description of a router has its fallback_router");
        let (routes, node) = own
            .split_once(", node: Node { paths: {")
            .expect("axum's description of a router has its node's paths");
        let mut paths = BTreeMap::new();
        for entry in node.trim_end_matches(['}', ' ']).split(", RouteId(") {
            let entry = entry.trim_start_matches("RouteId(");
            let (id, path) = entry
                .split_once("): ")
                .unwrap_or_else(|| panic!("a route's path as axum describes it: {entry}"));
            paths.insert(id.to_owned(), path.trim_matches('"').to_owned());
        }
        let mut found = BTreeSet::new();
        let routes = routes
            .split_once("routes: {")
            .expect("axum's description of a router has its routes")
            .1;
        for endpoint in routes.split("RouteId(").skip(1) {
            let (id, endpoint) = endpoint.split_once("): ").expect("a route's endpoint");
            let path = paths
                .get(id)
                .unwrap_or_else(|| panic!("route {id} has no path in {described}"));
            if !endpoint.starts_with("MethodRouter(") {
                found.insert(("ANY".to_owned(), path.clone()));
                continue;
            }
            for method in [
                "get", "delete", "options", "patch", "post", "put", "trace", "connect",
            ] {
                let field = format!("{method}: ");
                let value = endpoint
                    .split_once(&field)
                    .unwrap_or_else(|| panic!("no '{method}' in {endpoint}"))
                    .1;
                if !value.starts_with("None") {
                    found.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        found
    }

    /// Each (method, path template) the document describes.
    fn operations_of(doc: &Document) -> BTreeSet<(String, String)> {
        let value = serde_json::to_value(doc).expect("the document serializes");
        let mut found = BTreeSet::new();
        for (path, item) in value["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("a path item").keys() {
                if method != "parameters" {
                    found.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        found
    }

    fn app() -> axum::Router<AppState> {
        let metrics = Metrics::new("test", Arc::default());
        super::super::app(1024, metrics.http())
    }

    #[test]
    fn every_route_of_the_router_is_in_the_document_and_no_other() {
        let registered = routes_of(&app());
        assert!(
            registered.contains(&("POST".into(), "/v1/interactions".into()))
                && registered.contains(&("GET".into(), "/healthz".into())),
            "the routes as read from the router: {registered:?}"
        );
        let documented = operations_of(&document(super::super::documented().into_openapi()));
        let missing: Vec<_> = registered.difference(&documented).collect();
        assert!(
            missing.is_empty(),
            "routes of the router missing from the OpenAPI document (register them with \
             `routes!` and a `#[utoipa::path]`): {missing:?}"
        );
        let extra: Vec<_> = documented.difference(&registered).collect();
        assert!(
            extra.is_empty(),
            "operations of the OpenAPI document the router does not have: {extra:?}"
        );
    }

    #[test]
    fn the_document_is_openapi_3_1_of_this_version_with_roles_and_errors_everywhere() {
        let doc: Value = serde_json::from_str(&SERVED).expect("the served document is JSON");
        assert!(
            doc["openapi"].as_str().unwrap_or("").starts_with("3.1."),
            "{}",
            doc["openapi"]
        );
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("a path item") {
                let what = format!("{method} {path}");
                assert!(operation["x-roles"].is_array(), "{what}: no x-roles");
                assert!(
                    operation["x-error-codes"].is_array(),
                    "{what}: no x-error-codes"
                );
                let description = operation["description"].as_str().unwrap_or("");
                assert!(
                    description.contains("Roles: ") || description.contains("No authentication"),
                    "{what}: {description}"
                );
                let authenticated = !operation["x-roles"].as_array().unwrap().is_empty();
                if authenticated {
                    assert_eq!(operation["security"], json!([{ "bearer": [] }]), "{what}");
                    assert!(operation["responses"]["401"].is_object(), "{what}");
                }
            }
        }
    }

    /// The roles each operation names are those `access` allows for what
    /// it does (an administrator aside, who may do everything).
    #[test]
    fn the_documented_roles_are_the_ones_access_allows() {
        use super::super::access::{Action, allowance};
        use crate::directory::Role;
        use Action::*;
        let actions: &[(&str, &[Action])] = &[
            ("submit", &[Submit]),
            ("get_interaction", &[Read]),
            ("find", &[Read]),
            ("change_properties", &[ChangeProperties]),
            ("place_in_queue", &[PlaceInQueue]),
            ("stop", &[Stop]),
            ("accept", &[Handle]),
            ("reject", &[Handle]),
            ("transfer", &[Handle, PlaceInQueue]),
            ("offer", &[Pull]),
            ("place_in_workbin", &[PlaceInWorkbin]),
            ("take", &[Handle]),
            ("workbin", &[SeeWorkbins]),
            ("pull", &[Pull]),
            ("explain", &[Explain]),
            ("dry_run", &[DryRun]),
            ("list_agents", &[SeeAgents]),
            ("get_agent", &[Work, SeeAgents]),
            ("login", &[Work]),
            ("ready", &[Work]),
            ("not_ready", &[Work]),
            ("logout", &[Work]),
            ("events", &[Work]),
            ("feed", &[ReadEvents]),
            ("list_queues", &[SeeQueues]),
            ("queue_snapshot", &[SeeQueues]),
            ("get_stats", &[SeeStats]),
            ("stats_stream", &[SeeStats]),
        ];
        let doc: Value = serde_json::from_str(&SERVED).expect("the served document is JSON");
        let mut checked = 0;
        for item in doc["paths"].as_object().expect("paths").values() {
            for operation in item.as_object().expect("a path item").values() {
                let id = operation["operationId"].as_str().expect("an operation id");
                let Some((_, done)) = actions.iter().find(|(op, _)| *op == id) else {
                    continue;
                };
                let named: BTreeSet<&str> = operation["x-roles"]
                    .as_array()
                    .expect("x-roles")
                    .iter()
                    .filter_map(|role| role.as_str()?.split(' ').next())
                    .filter(|role| *role != "admin")
                    .collect();
                let allowed: BTreeSet<&str> =
                    [Role::Gateway, Role::Agent, Role::Router, Role::Reporter]
                        .into_iter()
                        .filter(|role| done.iter().any(|a| allowance(*role, *a).is_some()))
                        .map(Role::as_str)
                        .collect();
                assert_eq!(named, allowed, "{id}");
                checked += 1;
            }
        }
        assert_eq!(checked, actions.len(), "operations checked");
    }

    /// The codes the error policy answers, with their statuses, are the
    /// ones the document names.
    #[test]
    fn the_documented_codes_are_the_ones_the_api_answers() {
        use super::super::ApiError;
        use axum::http::StatusCode;
        let known: BTreeMap<&str, u16> = CODES.iter().map(|(c, s, _)| (*c, *s)).collect();
        let errors = [
            ApiError::MalformedJson(String::new()),
            ApiError::UnsupportedMediaType(String::new()),
            ApiError::field("f", "m"),
            ApiError::PayloadTooLarge { limit: 1 },
            ApiError::NotFound(String::new()),
            ApiError::MethodNotAllowed,
            ApiError::Unauthorized(String::new()),
            ApiError::InvalidCredentials,
            ApiError::TokenRevoked,
            ApiError::Forbidden(String::new()),
            ApiError::UnknownQueue(String::new()),
            ApiError::OutOfScope(String::new()),
            ApiError::Illegal {
                state: crate::engine::State::Queued,
                message: String::new(),
            },
            ApiError::not_active(),
            ApiError::NotStored,
            ApiError::Busy,
            ApiError::Purged {
                after: 0,
                purged_through: 1,
                oldest: None,
            },
            ApiError::Coded(StatusCode::CONFLICT, "agent_busy", String::new()),
            ApiError::Internal(anyhow::anyhow!("x")),
        ];
        for error in errors {
            let response = error.into_response();
            let status = response.status().as_u16();
            let body =
                futures::executor::block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
                    .expect("body");
            let body: Value = serde_json::from_slice(&body).expect("JSON");
            let code = body["error"]["code"].as_str().expect("code");
            assert_eq!(
                known.get(code),
                Some(&status),
                "{code} answered with {status}"
            );
        }
        // Every code the server gives its errors in its source is
        // documented: `Unavailable("code", …)` and `(StatusCode::…, "code"`.
        let sources = [
            include_str!("error.rs"),
            include_str!("auth.rs"),
            include_str!("sessions.rs"),
        ];
        let mut seen = 0;
        for source in sources {
            let pieces: Vec<&str> = source.split('"').collect();
            for pair in pieces.windows(2).step_by(2) {
                let (before, piece) = (pair[0].trim_end(), pair[1]);
                let last = before.rsplit('(').next().unwrap_or("");
                let coded = before.ends_with("Unavailable(")
                    || (last.starts_with("StatusCode::") && last.ends_with(','));
                if coded {
                    seen += 1;
                    assert!(known.contains_key(piece), "'{piece}' is not in CODES");
                }
            }
        }
        assert!(seen > 20, "only {seen} codes found in the sources");
    }
}
