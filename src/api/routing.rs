//! Routing: an agent accepts or rejects its offers, transfers what it
//! handles, parks it in a workbin and takes from one; a routing client
//! pulls from its views and offers to agents; anyone allowed asks why an
//! interaction went where it did, or who would get one now.

use super::access::{Action, Reach};
use super::agents::{own_or_any, query};
use super::auth::Caller;
use super::extract::{InteractionId, JsonBody, MaybeJson, PathParams};
use super::interactions::{MAX_NAME, MAX_REASON, SubmitBody, apply, durable, name, optional_name};
use super::{ApiError, AppState};
use crate::engine::{Command, EngineError, Interaction};
use crate::live::{Answered, Query};
use crate::store::Store;
use axum::Json;
use axum::extract::{Query as QueryString, State as Extract};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;

/// The most a pull takes at once.
const MAX_PULL: usize = 1000;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    #[serde(default)]
    agent: Option<String>,
    #[serde(default)]
    queue: Option<String>,
    #[serde(default)]
    process: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferBody {
    agent: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkbinBody {
    workbin: String,
    #[serde(default)]
    owner: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullBody {
    count: usize,
}

pub async fn accept(
    Extract(shared): Extract<AppState>,
    caller: Caller,
    InteractionId(id): InteractionId,
) -> Result<Json<Interaction>, ApiError> {
    let reach = caller.may(Action::Handle)?;
    let (interaction, _) = apply(&shared, &caller, reach, Command::Accept { id }).await?;
    Ok(Json(interaction))
}

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
