//! Routing: an agent accepts or rejects its offers, transfers what it
//! handles, parks it in a workbin and takes from one; a routing client
//! pulls from its views and offers to agents; anyone allowed asks why an
//! interaction went where it did, or who would get one now.

use super::access::{Action, Reach};
use super::agents::{own_or_any, query};
use super::auth::Caller;
use super::extract::{InteractionId, JsonBody, MaybeJson, PathParams};
use super::interactions::{
    APPLY_CODES, MAX_NAME, MAX_REASON, SubmitBody, apply, durable, name, optional_name,
};
use super::openapi::schemas;
use super::{ApiError, AppState};
use crate::engine::{Command, EngineError, Interaction};
use crate::live::{Answered, Query};
use crate::store::Store;
use axum::Json;
use axum::extract::{Query as QueryString, State as Extract};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use utoipa::ToSchema;

/// The most a pull takes at once.
const MAX_PULL: usize = 1000;

/// Why an offer is rejected.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    /// 1 to 1024 characters.
    #[serde(default)]
    reason: Option<String>,
}

/// Where to transfer: either `agent`, or `queue` (with `process`
/// optionally).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    /// Offer it to this agent.
    #[serde(default)]
    agent: Option<String>,
    /// Place it in this queue.
    #[serde(default)]
    queue: Option<String>,
    /// The queue's process, when not the interaction's.
    #[serde(default)]
    process: Option<String>,
}

/// Whom to offer it to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferBody {
    agent: String,
}

/// Which workbin to park it in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkbinBody {
    workbin: String,
    /// One of the caller's agent groups, or (a router) any agent or group;
    /// the caller when absent.
    #[serde(default)]
    owner: Option<String>,
}

/// How many to pull.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PullBody {
    /// 1 to 1000.
    #[schema(minimum = 1, maximum = 1000)]
    count: usize,
}

#[utoipa::path(
    post,
    path = "/interactions/{id}/accept",
    tag = "routing",
    summary = "Accept an offer",
    description = "The interaction offered to the caller is now `handling` by it.",
    params(("id" = Uuid, Path, description = "The interaction's id")),
    responses((status = 200, description = "The interaction, handled by the caller", body = schemas::Interaction)),
    extensions(
        ("x-roles" = json!(["agent (offered to it)"])),
        ("x-error-codes" = json!(APPLY_CODES)),
    )
)]
pub async fn accept(
    Extract(shared): Extract<AppState>,
    caller: Caller,
    InteractionId(id): InteractionId,
) -> Result<Json<Interaction>, ApiError> {
    let reach = caller.may(Action::Handle)?;
    let (interaction, _) = apply(&shared, &caller, reach, Command::Accept { id }).await?;
    Ok(Json(interaction))
}

#[utoipa::path(
    post,
    path = "/interactions/{id}/reject",
    tag = "routing",
    summary = "Reject an offer",
    description = "Back to its place in its queue, offered to the next candidate. The body is optional.",
    params(("id" = Uuid, Path, description = "The interaction's id")),
    request_body(content = Option<RejectBody>, description = "Optional"),
    responses((status = 200, description = "The interaction, back in its queue", body = schemas::Interaction)),
    extensions(
        ("x-roles" = json!(["agent (offered to it)"])),
        ("x-error-codes" = json!(APPLY_CODES)),
    )
)]
pub async fn reject(
    Extract(shared): Extract<AppState>,
    caller: Caller,
    InteractionId(id): InteractionId,
    MaybeJson(body): MaybeJson<RejectBody>,
) -> Result<Json<Interaction>, ApiError> {
    let reach = caller.may(Action::Handle)?;
    let reason = optional_name("reason", body.unwrap_or_default().reason, MAX_REASON)?;
    let (interaction, _) = apply(&shared, &caller, reach, Command::Reject { id, reason }).await?;
    Ok(Json(interaction))
}

/// `{"agent"}`: a new offer to that agent, the interaction staying with the
/// caller until it is accepted; `{"queue", "process"?}`: as place in queue.
#[utoipa::path(
    post,
    path = "/interactions/{id}/transfer",
    tag = "routing",
    summary = "Transfer an interaction",
    description = "`{\"agent\"}`: an offer to that agent; the interaction stays with the caller \
        until it is accepted, and stays if it is rejected. `{\"queue\", \"process\"?}`: placed \
        in the queue, keeping its age.",
    params(("id" = Uuid, Path, description = "The interaction's id")),
    request_body = TransferBody,
    responses((status = 200, description = "The interaction, offered or queued", body = schemas::Interaction)),
    extensions(
        ("x-roles" = json!(["agent (its own)", "router (to a queue)"])),
        ("x-error-codes" = json!(APPLY_CODES)),
    )
)]
pub async fn transfer(
    Extract(shared): Extract<AppState>,
    caller: Caller,
    InteractionId(id): InteractionId,
    JsonBody(body): JsonBody<TransferBody>,
) -> Result<Json<Interaction>, ApiError> {
    let command = match (body.agent, body.queue) {
        (Some(agent), None) => {
            if body.process.is_some() {
                return Err(ApiError::field("process", "goes with 'queue', not 'agent'"));
            }
            Command::Transfer {
                id,
                agent: name("agent", agent, MAX_NAME)?,
            }
        }
        (None, Some(queue)) => {
            let process = optional_name("process", body.process, MAX_NAME)?;
            if let Some(process) = &process {
                shared.check_scope(process)?;
            }
            Command::PlaceInQueue {
                id,
                process,
                queue: name("queue", queue, MAX_NAME)?,
            }
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "agent",
                "give either 'agent' or 'queue', not both",
            ));
        }
        (None, None) => return Err(ApiError::field("agent", "give 'agent' or 'queue'")),
    };
    let action = match command {
        Command::Transfer { .. } => Action::Handle,
        _ => Action::PlaceInQueue,
    };
    let reach = caller.may(action)?;
    let (interaction, _) = apply(&shared, &caller, reach, command).await?;
    Ok(Json(interaction))
}

#[utoipa::path(
    post,
    path = "/interactions/{id}/offer",
    tag = "routing",
    summary = "Offer an interaction to an agent",
    description = "Offers a pulled or queued interaction to the agent; `409 agent_unavailable` \
        with the reason when it cannot take it.",
    params(("id" = Uuid, Path, description = "The interaction's id")),
    request_body = OfferBody,
    responses((status = 200, description = "The interaction, offered", body = schemas::Interaction)),
    extensions(
        ("x-roles" = json!(["router"])),
        ("x-error-codes" = json!(APPLY_CODES)),
    )
)]
pub async fn offer(
    Extract(shared): Extract<AppState>,
    caller: Caller,
    InteractionId(id): InteractionId,
    JsonBody(body): JsonBody<OfferBody>,
) -> Result<Json<Interaction>, ApiError> {
    let reach = caller.may(Action::Pull)?;
    let agent = name("agent", body.agent, MAX_NAME)?;
    let (interaction, _) = apply(&shared, &caller, reach, Command::Offer { id, agent }).await?;
    Ok(Json(interaction))
}

#[utoipa::path(
    post,
    path = "/interactions/{id}/place-in-workbin",
    tag = "routing",
    summary = "Park an interaction in a workbin",
    description = "`parked` in the workbin of the caller (or of `owner`: one of its agent \
        groups), not counted against capacity.",
    params(("id" = Uuid, Path, description = "The interaction's id")),
    request_body = WorkbinBody,
    responses((status = 200, description = "The interaction, parked", body = schemas::Interaction)),
    extensions(
        ("x-roles" = json!(["agent (its own)", "router"])),
        ("x-error-codes" = json!(APPLY_CODES)),
    )
)]
pub async fn place_in_workbin(
    Extract(shared): Extract<AppState>,
    caller: Caller,
    InteractionId(id): InteractionId,
    JsonBody(body): JsonBody<WorkbinBody>,
) -> Result<Json<Interaction>, ApiError> {
    let reach = caller.may(Action::PlaceInWorkbin)?;
    let command = Command::PlaceInWorkbin {
        id,
        workbin: name("workbin", body.workbin, MAX_NAME)?,
        owner: optional_name("owner", body.owner, MAX_NAME)?,
    };
    let (interaction, _) = apply(&shared, &caller, reach, command).await?;
    Ok(Json(interaction))
}

#[utoipa::path(
    post,
    path = "/interactions/{id}/take",
    tag = "routing",
    summary = "Take an interaction from a workbin",
    description = "`handling` by the caller, within its capacity.",
    params(("id" = Uuid, Path, description = "The interaction's id")),
    responses((status = 200, description = "The interaction, handled by the caller", body = schemas::Interaction)),
    extensions(
        ("x-roles" = json!(["agent (its workbin or its groups')"])),
        ("x-error-codes" = json!(APPLY_CODES)),
    )
)]
pub async fn take(
    Extract(shared): Extract<AppState>,
    caller: Caller,
    InteractionId(id): InteractionId,
) -> Result<Json<Interaction>, ApiError> {
    caller.may(Action::Handle)?;
    // Taking is always for oneself: the engine checks the workbin is the
    // caller's or one of its groups'.
    let (interaction, _) = apply(&shared, &caller, Reach::Own, Command::Take { id }).await?;
    Ok(Json(interaction))
}

/// `GET /v1/workbins/{process}/{workbin}?owner=`: an agent sees its own
/// workbin and its groups'; routers, reporters and administrators any.
#[utoipa::path(
    get,
    path = "/workbins/{process}/{workbin}",
    tag = "routing",
    summary = "What a workbin holds",
    description = "The interactions parked there, oldest first; an agent sees its own and its groups'.",
    params(
        ("process" = String, Path, description = "The business process"),
        ("workbin" = String, Path, description = "The workbin"),
        ("owner" = Option<String>, Query, description = "Whose: an agent or an agent group (the caller's own for an agent when absent)"),
    ),
    responses((status = 200, description = "The interactions parked", body = schemas::Workbin)),
    extensions(
        ("x-roles" = json!(["agent (its own and its groups')", "router", "reporter"])),
        ("x-error-codes" = json!(["invalid_field", "out_of_scope", "unknown_workbin"])),
    )
)]
pub async fn workbin(
    Extract(shared): Extract<AppState>,
    caller: Caller,
    PathParams((process, workbin)): PathParams<(String, String)>,
    QueryString(params): QueryString<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let reach = caller.may(Action::SeeWorkbins)?;
    shared.check_scope(&process)?;
    let mut owner = None;
    for (key, value) in params {
        match key.as_str() {
            "owner" => owner = Some(name("owner", value, MAX_NAME)?),
            other => return Err(ApiError::field(other, "is not a filter (owner)")),
        }
    }
    let owner = match (owner, reach) {
        (Some(owner), _) => Some(owner),
        (None, Reach::Own) => Some(caller.person.clone()),
        (None, Reach::Any) => None,
    };
    if let Some(owner) = &owner {
        let groups = agent_groups(&shared, &caller.person);
        if !own_or_any(&caller, reach, owner) && !groups.contains(owner) {
            return Err(EngineError::NotYourWorkbin {
                workbin: workbin.clone(),
                owner: owner.clone(),
            }
            .into());
        }
    }
    let request = Query::Workbin {
        process: process.clone(),
        workbin: workbin.clone(),
        owner,
    };
    match query(&shared, request).await? {
        Answered::Interactions(held) => Ok(Json(
            json!({ "process": process, "workbin": workbin, "interactions": held }),
        )),
        _ => Err(ApiError::Internal(anyhow::anyhow!(
            "the workbin query answered otherwise"
        ))),
    }
}

/// The agent groups `person` belongs to, as the routing configuration in
/// force says.
fn agent_groups(shared: &super::Shared, person: &str) -> Vec<String> {
    shared
        .scope()
        .routing
        .agents
        .get(person)
        .map(|profile| profile.groups.iter().cloned().collect())
        .unwrap_or_default()
}

/// `POST /v1/views/{process}/{queue}/{view}/pull` `{"count"}`.
#[utoipa::path(
    post,
    path = "/views/{process}/{queue}/{view}/pull",
    tag = "routing",
    summary = "Pull interactions from a view",
    description = "Up to `count` interactions of a `pull = true` view in its order, now \
        `routing` for the caller until offered, placed or stopped (or `routing.routing_timeout`).",
    params(
        ("process" = String, Path, description = "The business process"),
        ("queue" = String, Path, description = "The queue"),
        ("view" = String, Path, description = "The view (with `pull = true`)"),
    ),
    request_body = PullBody,
    responses((status = 200, description = "The interactions pulled", body = schemas::Interactions)),
    extensions(
        ("x-roles" = json!(["router"])),
        ("x-error-codes" = json!(["out_of_scope", "unknown_queue", "unknown_view", "not_pulled", "commit_pending", "not_applied", "not_stored", "database_unavailable"])),
    )
)]
pub async fn pull(
    Extract(shared): Extract<AppState>,
    caller: Caller,
    PathParams((process, queue, view)): PathParams<(String, String, String)>,
    JsonBody(body): JsonBody<PullBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.may(Action::Pull)?;
    if !(1..=MAX_PULL).contains(&body.count) {
        return Err(ApiError::field(
            "count",
            format!("must be from 1 to {MAX_PULL}"),
        ));
    }
    shared.check_scope(&process)?;
    let (pulled, commit) = shared
        .live()?
        .pull(&process, &queue, &view, body.count)
        .await
        .map_err(|_| ApiError::not_active())?
        .map_err(|refusal| ApiError::from(refusal.error))?;
    durable(&shared, commit).await?;
    Ok(Json(json!({ "interactions": pulled })))
}

/// `GET /v1/interactions/{id}/explain`: its recent routing decisions, and
/// while it waits, why it waits now.
#[utoipa::path(
    get,
    path = "/interactions/{id}/explain",
    tag = "routing",
    summary = "Why an interaction went where it did",
    description = "Its recent routing decisions (view, strategy, step, selection, the agent \
        chosen, each agent passed over with its reason), and while it waits, why it waits now; \
        kept in memory while the interaction is, and after it stops only the last decision, \
        until ten minutes later.",
    params(("id" = Uuid, Path, description = "The interaction's id")),
    responses((status = 200, description = "Its decisions", body = schemas::Explanation)),
    extensions(
        ("x-roles" = json!(["router", "reporter", "agent (its own)"])),
        ("x-error-codes" = json!(["invalid_field", "not_found", "database_unavailable"])),
    )
)]
pub async fn explain(
    Extract(shared): Extract<AppState>,
    caller: Caller,
    InteractionId(id): InteractionId,
) -> Result<Json<serde_json::Value>, ApiError> {
    let reach = caller.may(Action::Explain)?;
    if reach == Reach::Own {
        // An agent asks about what is, or was, offered to or handled by it.
        let stored = shared
            .store
            .get(id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no interaction {id}")))?;
        if stored.agent.as_deref() != Some(caller.person.as_str()) {
            return Err(EngineError::NotYours(id).into());
        }
    }
    match query(&shared, Query::Explain(id)).await? {
        Answered::Decisions(decisions) => {
            Ok(Json(json!({ "interaction": id, "decisions": decisions })))
        }
        _ => Err(ApiError::Internal(anyhow::anyhow!(
            "the explain query answered otherwise"
        ))),
    }
}

/// `POST /v1/route/dry-run` with a submit body: who would get it now, by
/// which step, and why the others would not. Nothing changes.
#[utoipa::path(
    post,
    path = "/route/dry-run",
    tag = "routing",
    summary = "Who would get an interaction now",
    description = "With a submit body: who would get it now, by which step, and why the others \
        would not. Nothing changes.",
    request_body = SubmitBody,
    responses((status = 200, description = "The agent and the decisions", body = schemas::DryRun)),
    extensions(
        ("x-roles" = json!(["router"])),
        ("x-error-codes" = json!(["out_of_scope", "unknown_queue"])),
    )
)]
pub async fn dry_run(
    Extract(shared): Extract<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<SubmitBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.may(Action::DryRun)?;
    let submit = body.validate(&shared, &caller, Reach::Any)?;
    shared.check_scope(&submit.process)?;
    match query(&shared, Query::DryRun(submit)).await? {
        Answered::Decisions(decisions) => {
            let chosen = decisions.iter().find_map(|d| d.chosen.clone());
            Ok(Json(json!({ "agent": chosen, "decisions": decisions })))
        }
        _ => Err(ApiError::Internal(anyhow::anyhow!(
            "the dry-run query answered otherwise"
        ))),
    }
}
