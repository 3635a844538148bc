//! Agents: log-in with media, ready and not ready, log-out, their state,
//! and their desktop's live stream of offers and changes.
//!
//! `/v1/agents/me/…` acts on the caller, who must be an agent of this
//! instance; `/v1/agents/{name}/…` acts on another agent, for an
//! administrator.

use super::access::{Action, Reach};
use super::auth::Caller;
use super::extract::{JsonBody, MaybeJson, PathParams};
use super::interactions::{MAX_NAME, MAX_REASON, durable, name};
use super::openapi::schemas;
use super::{ApiError, AppState, Shared};
use crate::directory::Role;
use crate::engine::AgentView;
use crate::live::{AgentCommand, Answered, LiveHandle, Query, StreamItem};
use axum::Json;
use axum::extract::State as Extract;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use serde_json::json;
use std::convert::Infallible;
use utoipa::ToSchema;

/// Who may act on an agent's state.
const AGENT_ROLES: [&str; 2] = ["agent (`me`, itself)", "admin (any agent)"];
/// What acting on an agent's state can be refused with, besides what every
/// request can.
const AGENT_CODES: [&str; 8] = [
    "not_an_agent",
    "not_logged_in",
    "agent_busy",
    "invalid_field",
    "commit_pending",
    "not_applied",
    "not_stored",
    "database_unavailable",
];

/// The agent a request under `/v1/agents/{name}` acts on: the caller itself
/// for `me` (it must hold the agent role), another agent for an
/// administrator.
fn acting_on(caller: &Caller, name: &str) -> Result<String, ApiError> {
    caller.may(Action::Work)?;
    if name == "me" || name == caller.person {
        if !caller.roles.contains(&Role::Agent) && !caller.roles.contains(&Role::Admin) {
            return Err(ApiError::Forbidden(format!(
                "'{}' needs the role agent for this request",
                caller.person
            )));
        }
        return Ok(caller.person.clone());
    }
    if caller.has(Role::Admin) {
        return Ok(name.to_owned());
    }
    Err(ApiError::Forbidden(format!(
        "'{}' may act only on its own agent state (/v1/agents/me)",
        caller.person
    )))
}

/// The media to log in with.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// At least one media type.
    media: Vec<String>,
}

/// The media to be ready for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadyBody {
    /// All of its media when absent.
    #[serde(default)]
    media: Option<Vec<String>>,
}

/// The media not to be ready for, and why.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotReadyBody {
    /// All of its media when absent.
    #[serde(default)]
    media: Option<Vec<String>>,
    /// 1 to 1024 characters.
    reason: String,
}

/// How to log out.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogoutBody {
    /// Place what it holds back in its queues, keeping their age.
    #[serde(default)]
    force: bool,
}

fn media_list(media: Vec<String>) -> Result<Vec<String>, ApiError> {
    if media.is_empty() {
        return Err(ApiError::field(
            "media",
            "must name at least one media type",
        ));
    }
    let mut checked = Vec::with_capacity(media.len());
    for (n, m) in media.into_iter().enumerate() {
        let m = name(&format!("media[{n}]"), m, MAX_NAME)?;
        if !checked.contains(&m) {
            checked.push(m);
        }
    }
    Ok(checked)
}

async fn command(
    shared: &Shared,
    agent: &str,
    command: AgentCommand,
) -> Result<Json<AgentView>, ApiError> {
    let live = shared.live()?;
    let (view, commit) = live
        .agent(agent, command)
        .await
        .map_err(|_| ApiError::not_active())?
        .map_err(|refusal| ApiError::from(refusal.error))?;
    durable(shared, commit).await?;
    Ok(Json(view))
}

#[utoipa::path(
    post,
    path = "/agents/{name}/login",
    tag = "agents",
    summary = "Log an agent in",
    description = "Logged in with those media, not ready; its capacity from its person's \
        capacity rule (or `routing.default_capacity`).",
    params(("name" = String, Path, description = "`me` for the caller, or (an administrator) another agent's name")),
    request_body = LoginBody,
    responses((status = 200, description = "The agent's state", body = schemas::Agent)),
    extensions(
        ("x-roles" = json!(AGENT_ROLES)),
        ("x-error-codes" = json!(AGENT_CODES)),
    )
)]
pub async fn login(
    Extract(shared): Extract<AppState>,
    caller: Caller,
    PathParams(who): PathParams<String>,
    JsonBody(body): JsonBody<LoginBody>,
) -> Result<Json<AgentView>, ApiError> {
    let agent = acting_on(&caller, &who)?;
    let media = media_list(body.media)?;
    command(&shared, &agent, AgentCommand::Login { media }).await
}

#[utoipa::path(
    post,
    path = "/agents/{name}/ready",
    tag = "agents",
    summary = "Set an agent ready",
    description = "Ready for those media, all of its media when the body or `media` is absent.",
    params(("name" = String, Path, description = "`me` for the caller, or (an administrator) another agent's name")),
    request_body(content = Option<ReadyBody>, description = "Optional"),
    responses((status = 200, description = "The agent's state", body = schemas::Agent)),
    extensions(
        ("x-roles" = json!(AGENT_ROLES)),
        ("x-error-codes" = json!(AGENT_CODES)),
    )
)]
pub async fn ready(
    Extract(shared): Extract<AppState>,
    caller: Caller,
    PathParams(who): PathParams<String>,
    MaybeJson(body): MaybeJson<ReadyBody>,
) -> Result<Json<AgentView>, ApiError> {
    let agent = acting_on(&caller, &who)?;
    let media = body
        .and_then(|body| body.media)
        .map(media_list)
        .transpose()?;
    let command_ = AgentCommand::Ready {
        media,
        ready: true,
        reason: None,
    };
    command(&shared, &agent, command_).await
}

#[utoipa::path(
    post,
    path = "/agents/{name}/not-ready",
    tag = "agents",
    summary = "Set an agent not ready",
    description = "Not ready for those media (all of its media when `media` is absent), with the reason.",
    params(("name" = String, Path, description = "`me` for the caller, or (an administrator) another agent's name")),
    request_body = NotReadyBody,
    responses((status = 200, description = "The agent's state", body = schemas::Agent)),
    extensions(
        ("x-roles" = json!(AGENT_ROLES)),
        ("x-error-codes" = json!(AGENT_CODES)),
    )
)]
pub async fn not_ready(
    Extract(shared): Extract<AppState>,
    caller: Caller,
    PathParams(who): PathParams<String>,
    JsonBody(body): JsonBody<NotReadyBody>,
) -> Result<Json<AgentView>, ApiError> {
    let agent = acting_on(&caller, &who)?;
    let media = body.media.map(media_list).transpose()?;
    let reason = name("reason", body.reason, MAX_REASON)?;
    let command_ = AgentCommand::Ready {
        media,
        ready: false,
        reason: Some(reason),
    };
    command(&shared, &agent, command_).await
}

#[utoipa::path(
    post,
    path = "/agents/{name}/logout",
    tag = "agents",
    summary = "Log an agent out",
    description = "`409 agent_busy` while it holds offers or interactions, unless `force`, \
        which places them back in their queues keeping their age. The body is optional.",
    params(("name" = String, Path, description = "`me` for the caller, or (an administrator) another agent's name")),
    request_body(content = Option<LogoutBody>, description = "Optional"),
    responses((status = 200, description = "The agent's state", body = schemas::Agent)),
    extensions(
        ("x-roles" = json!(AGENT_ROLES)),
        ("x-error-codes" = json!(AGENT_CODES)),
    )
)]
pub async fn logout(
    Extract(shared): Extract<AppState>,
    caller: Caller,
    PathParams(who): PathParams<String>,
    MaybeJson(body): MaybeJson<LogoutBody>,
) -> Result<Json<AgentView>, ApiError> {
    let agent = acting_on(&caller, &who)?;
    let force = body.is_some_and(|body| body.force);
    command(&shared, &agent, AgentCommand::Logout { force }).await
}

#[utoipa::path(
    get,
    path = "/agents/{name}",
    operation_id = "get_agent",
    tag = "agents",
    summary = "An agent's state",
    params(("name" = String, Path, description = "`me` for the caller, or (an administrator) another agent's name")),
    responses((status = 200, description = "The agent's state", body = schemas::Agent)),
    extensions(
        ("x-roles" = json!(["agent (`me`)", "router", "reporter"])),
        ("x-error-codes" = json!(["not_an_agent"])),
    )
)]
pub async fn get_one(
    Extract(shared): Extract<AppState>,
    caller: Caller,
    PathParams(who): PathParams<String>,
) -> Result<Json<AgentView>, ApiError> {
    let agent = match acting_on(&caller, &who) {
        Ok(agent) => agent,
        // Supervisors see any agent.
        Err(refused) => match caller.may(Action::SeeAgents) {
            Ok(_) => who,
            Err(_) => return Err(refused),
        },
    };
    match query(&shared, Query::Agent(agent)).await? {
        Answered::Agent(view) => Ok(Json(view)),
        _ => Err(ApiError::Internal(anyhow::anyhow!(
            "the agent query answered otherwise"
        ))),
    }
}

#[utoipa::path(
    get,
    path = "/agents",
    operation_id = "list_agents",
    tag = "agents",
    summary = "Every agent of this instance",
    responses((status = 200, description = "Every agent's state", body = schemas::Agents)),
    extensions(("x-roles" = json!(["router", "reporter"])))
)]
pub async fn list(
    Extract(shared): Extract<AppState>,
    caller: Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.may(Action::SeeAgents)?;
    match query(&shared, Query::Agents).await? {
        Answered::Agents(views) => Ok(Json(json!({ "agents": views }))),
        _ => Err(ApiError::Internal(anyhow::anyhow!(
            "the agents query answered otherwise"
        ))),
    }
}

pub(super) async fn query(shared: &Shared, query: Query) -> Result<Answered, ApiError> {
    shared
        .live()?
        .query(query)
        .await
        .map_err(|_| ApiError::not_active())?
        .map_err(|refusal| ApiError::from(refusal.error))
}

/// Tells the live task when a stream ends, however it ends.
struct Connected {
    live: LiveHandle,
    agent: String,
    stream: u64,
}

impl Drop for Connected {
    fn drop(&mut self) {
        self.live.disconnect(&self.agent, self.stream);
    }
}

fn sse(item: StreamItem) -> Event {
    let (name, data) = match item {
        StreamItem::State(view) => ("state", json!(view)),
        StreamItem::Offer {
            interaction,
            deadline,
        } => (
            "offer",
            json!({ "interaction": interaction, "deadline": deadline }),
        ),
        StreamItem::Revoked { id, reason } => {
            ("revoked", json!({ "interaction": id, "reason": reason }))
        }
        StreamItem::Interaction(interaction) => ("interaction", json!(interaction)),
    };
    Event::default().event(name).data(data.to_string())
}

/// `GET /v1/agents/me/events`: the agent's live stream. Offers go only to
/// agents whose stream is open; when the last one closes, the agent has
/// `routing.desktop_grace` to come back before it is set not ready.
#[utoipa::path(
    get,
    path = "/agents/{name}/events",
    tag = "agents",
    summary = "An agent desktop's live stream",
    description = "Server-Sent Events: `state` (an `Agent`, first, then on each change of its \
        own), `offer` (an `Offer`), `revoked` (a `Revoked`), `interaction` (an `Interaction`: a \
        change to one it holds); a comment every 15 s. Offers go only to agents with an open \
        stream; one gone for `routing.desktop_grace` is set not ready (`disconnected`).",
    params(("name" = String, Path, description = "`me` for the caller, or (an administrator) another agent's name")),
    responses((status = 200, description = "The stream of events", content_type = "text/event-stream", body = String)),
    extensions(
        ("x-roles" = json!(AGENT_ROLES)),
        ("x-error-codes" = json!(["not_an_agent", "not_logged_in"])),
        ("x-sse-events" = json!({
            "state": {"$ref": "#/components/schemas/Agent"},
            "offer": {"$ref": "#/components/schemas/Offer"},
            "revoked": {"$ref": "#/components/schemas/Revoked"},
            "interaction": {"$ref": "#/components/schemas/Interaction"}
        })),
    )
)]
pub async fn events(
    Extract(shared): Extract<AppState>,
    caller: Caller,
    PathParams(who): PathParams<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let agent = acting_on(&caller, &who)?;
    let live = shared.live()?;
    let subscription = live
        .connect(&agent)
        .await
        .map_err(|_| ApiError::not_active())?
        .map_err(|refusal| ApiError::from(refusal.error))?;
    let guard = Connected {
        live,
        agent,
        stream: subscription.stream,
    };
    let stream = futures::stream::unfold(
        (subscription.items, guard),
        |(mut items, guard)| async move {
            let item = items.recv().await?;
            Some((Ok(sse(item)), (items, guard)))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(super::sse::KEEP_ALIVE)))
}

/// Whether `caller` may see `agent`'s own things (its workbin): itself, or
/// with a reach beyond its own.
pub(super) fn own_or_any(caller: &Caller, reach: Reach, owner: &str) -> bool {
    reach == Reach::Any || caller.person == owner
}
