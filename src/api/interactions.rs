//! Interactions: submit, get, find, change properties, place in queue, stop.

use super::access::{Action, Reach};
use super::auth::Caller;
use super::extract::{InteractionId, JsonBody};
use super::openapi::schemas;
use super::{ApiError, AppState, Shared};
use crate::directory::Role;
use crate::engine::{
    Command, EngineError, Interaction, MAX_PROPERTIES_BYTES, Properties, State, Submit, json_size,
};
use crate::live::{Committed, Refusal, ScopeState};
use crate::store::{CommitError, FindFilter, Store};
use axum::Json;
use axum::extract::{Query, State as Extract};
use axum::http::StatusCode;
use serde::Deserialize;
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

pub(super) const MAX_NAME: usize = 128;
const MAX_EXTERNAL_ID: usize = 255;
pub(super) const MAX_REASON: usize = 1024;
const MAX_PROPERTY_KEY: usize = 128;
const FIND_DEFAULT: i64 = 100;
const FIND_MAX: i64 = 1000;

/// What a change to an interaction (through the engine) can be refused
/// with, besides what every request can.
pub(super) const APPLY_CODES: [&str; 12] = [
    "invalid_field",
    "not_found",
    "out_of_scope",
    "unknown_queue",
    "illegal_transition",
    "agent_unavailable",
    "reloading",
    "commit_pending",
    "not_applied",
    "not_stored",
    "database_unavailable",
    "unknown_workbin",
];

/// An interaction to submit. Names are 1 to 128 characters.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitBody {
    /// The business process (one this instance serves).
    process: String,
    /// The queue; optional for an agent's own submission.
    #[serde(default)]
    queue: Option<String>,
    media_type: String,
    /// `inbound` when absent.
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    subtype: Option<String>,
    /// From `routing.min_priority` to `routing.max_priority` (0 to 100 by
    /// default); 0 when absent.
    #[serde(default)]
    priority: Option<i64>,
    /// The submitter's own id for it (1 to 255 characters), unique per
    /// submitter: a repeated one answers the original.
    #[serde(default)]
    external_id: Option<String>,
    /// Attached data: a JSON object of at most 64 KiB, without U+0000.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    properties: Option<Properties>,
    /// Whose hands it starts in: the caller itself (an agent), or, for an
    /// administrator, any agent.
    #[serde(default)]
    agent: Option<String>,
}

/// Where to place an interaction.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceInQueueBody {
    queue: String,
    /// Another process than the interaction's (one this instance serves).
    #[serde(default)]
    process: Option<String>,
}

/// Why an interaction is stopped.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StopBody {
    /// 1 to 1024 characters.
    reason: String,
}

/// A required, non-blank name of at most `max` characters.
pub(super) fn name(field: &str, value: String, max: usize) -> Result<String, ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::field(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(ApiError::field(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::field(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value)
}

pub(super) fn optional_name(
    field: &str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    value.map(|v| name(field, v, max)).transpose()
}

fn properties(field: &str, value: Properties) -> Result<Properties, ApiError> {
    for (key, inner) in &value {
        if key.is_empty() || key.chars().count() > MAX_PROPERTY_KEY {
            return Err(ApiError::field(
                format!("{field}.{key}"),
                format!("property names must be 1 to {MAX_PROPERTY_KEY} characters"),
            ));
        }
        no_nul(
            &format!("{field}.{}", key.replace('\0', "\\u0000")),
            key,
            inner,
        )?;
    }
    if json_size(&value) > MAX_PROPERTIES_BYTES {
        return Err(ApiError::field(
            field,
            format!("must be at most {MAX_PROPERTIES_BYTES} bytes of JSON"),
        ));
    }
    Ok(value)
}

/// The database cannot store U+0000 in text or JSON: refuse it in keys and
/// string values at any depth, naming where.
fn no_nul(path: &str, key: &str, value: &serde_json::Value) -> Result<(), ApiError> {
    use serde_json::Value;
    if key.contains('\0') {
        return Err(ApiError::field(
            path,
            "must not contain the character U+0000",
        ));
    }
    match value {
        Value::String(text) if text.contains('\0') => Err(ApiError::field(
            path,
            "must not contain the character U+0000",
        )),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| no_nul(&format!("{path}[{i}]"), "", item)),
        Value::Object(map) => map
            .iter()
            .try_for_each(|(k, v)| no_nul(&format!("{path}.{}", k.replace('\0', "\\u0000")), k, v)),
        _ => Ok(()),
    }
}

impl SubmitBody {
    /// The submission `caller` makes, with `reach`: the submitter is the
    /// caller; one that may submit only as an agent submits into its own
    /// hands; only an administrator submits into another's.
    pub(super) fn validate(
        self,
        shared: &Shared,
        caller: &Caller,
        reach: Reach,
    ) -> Result<Submit, ApiError> {
        let agent = optional_name("agent", self.agent.clone(), MAX_NAME)?;
        let agent = match agent {
            Some(agent) if agent == caller.person && caller.has(Role::Agent) => Some(agent),
            Some(agent) if caller.has(Role::Admin) => Some(agent),
            Some(agent) => {
                return Err(ApiError::Forbidden(format!(
                    "'{}' cannot submit into the hands of '{agent}'",
                    caller.person
                )));
            }
            // Submitting into her own hands: she must be an agent here.
            None if reach == Reach::Own => {
                let scope = shared.scope();
                if !scope.served.agents.contains(&caller.person) {
                    return Err(ApiError::Forbidden(format!(
                        "'{}' is not an agent of this instance ('{}'): only its own agents \
                         submit into their own hands",
                        caller.person, scope.identity.instance
                    )));
                }
                Some(caller.person.clone())
            }
            None => None,
        };
        let limits = &shared.limits;
        let priority = match self.priority {
            None => limits.min_priority.max(0).min(limits.max_priority),
            Some(p) if (limits.min_priority as i64..=limits.max_priority as i64).contains(&p) => {
                p as i32
            }
            Some(_) => {
                return Err(ApiError::field(
                    "priority",
                    format!(
                        "must be between {} and {}",
                        limits.min_priority, limits.max_priority
                    ),
                ));
            }
        };
        Ok(Submit {
            process: name("process", self.process, MAX_NAME)?,
            queue: optional_name("queue", self.queue, MAX_NAME)?,
            media_type: name("media_type", self.media_type, MAX_NAME)?,
            kind: optional_name("type", self.kind, MAX_NAME)?.unwrap_or_else(|| "inbound".into()),
            subtype: optional_name("subtype", self.subtype, MAX_NAME)?,
            priority,
            external_id: optional_name("external_id", self.external_id, MAX_EXTERNAL_ID)?,
            properties: properties("properties", self.properties.unwrap_or_default())?,
            submitted_by: caller.person.clone(),
            agent,
        })
    }
}

/// Applies `command` for `caller` and answers once it is durable. With
/// [`Reach::Own`] the engine applies it only to an interaction offered to or
/// handled by the caller, in the same step as the change.
pub(super) async fn apply(
    shared: &Shared,
    caller: &Caller,
    reach: Reach,
    command: Command,
) -> Result<(Interaction, bool), ApiError> {
    let live = shared.live()?;
    let id = command.target();
    let submit = id.is_none();
    let guard = (reach == Reach::Own).then(|| caller.person.clone());
    let outcome = live
        .apply(command, guard)
        .await
        .map_err(|_| ApiError::not_active())?;
    let (applied, commit) = match outcome {
        Ok(applied) => applied,
        Err(Refusal {
            error: EngineError::NotLive(_),
            scope,
        }) => return Err(explain_not_live(shared, id, &scope).await),
        Err(refusal) => return Err(refusal.error.into()),
    };
    match tokio::time::timeout(shared.limits.commit_timeout, commit).await {
        Ok(Ok(Ok(()))) => Ok((applied.interaction, applied.created)),
        Ok(Ok(Err(CommitError::Duplicate))) if !submit => {
            // A request on an interaction whose submission the database
            // turned away: it never existed.
            Err(ApiError::NotFound(format!(
                "no interaction {}",
                applied.interaction.id
            )))
        }
        Ok(Ok(Err(CommitError::Duplicate))) => {
            // The submitter used this external id before the engine's
            // memory: the database kept the original, which is the answer
            // (the writer has the engine forget the one turned away).
            let turned_away = &applied.interaction;
            let external_id = turned_away.external_id.as_deref().ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!(
                    "a duplicate of no submit with an external id"
                ))
            })?;
            let original = shared
                .store
                .by_external_id(&turned_away.submitted_by, external_id)
                .await?
                .ok_or_else(|| {
                    ApiError::Internal(anyhow::anyhow!("the original of a duplicate is gone"))
                })?;
            shared.check_scope(&original.process)?;
            Ok((original, false))
        }
        Ok(Ok(Err(other))) => Err(other.into()),
        Ok(Err(_)) => Err(ApiError::not_active()),
        Err(_) => Err(ApiError::Unavailable(
            "commit_pending",
            "the change was accepted but is not yet durable; repeat the request (with the same \
             external_id for a submit) to learn its outcome"
                .into(),
        )),
    }
}

/// Waits until a change is durable, within the commit timeout.
pub(super) async fn durable(shared: &Shared, commit: Committed) -> Result<(), ApiError> {
    match tokio::time::timeout(shared.limits.commit_timeout, commit).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(error))) => Err(error.into()),
        Ok(Err(_)) => Err(ApiError::not_active()),
        Err(_) => Err(ApiError::Unavailable(
            "commit_pending",
            "the change was accepted but is not yet durable; look at the state again to learn \
             its outcome"
                .into(),
        )),
    }
}

/// Why an interaction the engine does not hold cannot be acted on: it does
/// not exist, belongs to a process the engine did not serve when it
/// answered (`scope`), or was stopped long ago.
async fn explain_not_live(shared: &Shared, id: Option<Uuid>, scope: &ScopeState) -> ApiError {
    let Some(id) = id else {
        return ApiError::Internal(anyhow::anyhow!("submit reported an unknown interaction"));
    };
    match shared.store.get(id).await {
        Ok(None) => ApiError::NotFound(format!("no interaction {id}")),
        Ok(Some(found)) if !scope.served.serves(&found.process) => {
            ApiError::OutOfScope(found.process.into())
        }
        Ok(Some(found)) if found.state == State::Stopped => ApiError::Illegal {
            state: State::Stopped,
            message: format!("interaction {id} is stopped"),
        },
        Ok(Some(found)) => ApiError::Internal(anyhow::anyhow!(
            "interaction {id} is {} in the database but not in the live set",
            found.state
        )),
        Err(error) => error.into(),
    }
}

#[utoipa::path(
    post,
    path = "/interactions",
    tag = "interactions",
    summary = "Submit an interaction",
    description = "Submits an interaction into a queue of a business process. The submitter is \
        the caller; a repeated `external_id` of the same submitter answers the original (200). \
        An agent's submission starts in its own hands (`handling`), `queue` optional; only an \
        administrator names another `agent`.",
    request_body = SubmitBody,
    responses(
        (status = 201, description = "Submitted: the interaction", body = schemas::Interaction),
        (status = 200, description = "The original interaction of this submitter with this `external_id`", body = schemas::Interaction),
    ),
    extensions(
        ("x-roles" = json!(["gateway", "agent"])),
        ("x-error-codes" = json!(APPLY_CODES)),
    )
)]
pub async fn submit(
    Extract(shared): Extract<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<SubmitBody>,
) -> Result<(StatusCode, Json<Interaction>), ApiError> {
    let reach = caller.may(Action::Submit)?;
    let submit = body.validate(&shared, &caller, reach)?;
    shared.check_scope(&submit.process)?;
    let (interaction, created) = apply(&shared, &caller, reach, Command::Submit(submit)).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(interaction)))
}

#[utoipa::path(
    get,
    path = "/interactions/{id}",
    operation_id = "get_interaction",
    tag = "interactions",
    summary = "Get an interaction",
    params(("id" = Uuid, Path, description = "The interaction's id")),
    responses((status = 200, description = "The interaction", body = schemas::Interaction)),
    extensions(
        ("x-roles" = json!(["gateway", "agent (its own)", "router", "reporter"])),
        ("x-error-codes" = json!(["invalid_field", "not_found", "out_of_scope", "database_unavailable"])),
    )
)]
pub async fn get_one(
    Extract(shared): Extract<AppState>,
    caller: Caller,
    InteractionId(id): InteractionId,
) -> Result<Json<Interaction>, ApiError> {
    let reach = caller.may(Action::Read)?;
    let interaction = shared
        .store
        .get(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no interaction {id}")))?;
    shared.check_scope(&interaction.process)?;
    if reach == Reach::Own && interaction.agent.as_deref() != Some(caller.person.as_str()) {
        return Err(EngineError::NotYours(id).into());
    }
    Ok(Json(interaction))
}

#[utoipa::path(
    get,
    path = "/interactions",
    tag = "interactions",
    summary = "Find interactions",
    description = "Interactions of the processes served, oldest first; an agent sees only its own.",
    params(
        ("process" = Option<String>, Query, description = "Only this process (403 `out_of_scope` when it is not served)"),
        ("queue" = Option<String>, Query, description = "Only this queue"),
        ("state" = Option<schemas::State>, Query, description = "Only in this state"),
        ("external_id" = Option<String>, Query, description = "Only with this external id"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "At most this many (default 100)"),
    ),
    responses((status = 200, description = "The interactions found", body = schemas::Interactions)),
    extensions(
        ("x-roles" = json!(["gateway", "agent (its own)", "router", "reporter"])),
        ("x-error-codes" = json!(["invalid_field", "out_of_scope", "database_unavailable"])),
    )
)]
pub async fn find(
    Extract(shared): Extract<AppState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let reach = caller.may(Action::Read)?;
    let mut filter = FindFilter {
        limit: FIND_DEFAULT,
        agent: (reach == Reach::Own).then(|| caller.person.clone()),
        ..FindFilter::default()
    };
    for (key, value) in params {
        match key.as_str() {
            "process" => {
                shared.check_scope(&value)?;
                filter.processes = vec![value];
            }
            "queue" => filter.queue = Some(name("queue", value, MAX_NAME)?),
            "external_id" => {
                filter.external_id = Some(name("external_id", value, MAX_EXTERNAL_ID)?)
            }
            "state" => {
                filter.state = Some(State::parse(&value).ok_or_else(|| {
                    ApiError::field(
                        "state",
                        format!(
                            "'{value}' is not a state (one of {})",
                            State::ALL.map(State::as_str).join(", ")
                        ),
                    )
                })?)
            }
            "limit" => {
                filter.limit = value
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=FIND_MAX).contains(n))
                    .ok_or_else(|| {
                        ApiError::field("limit", format!("must be a number from 1 to {FIND_MAX}"))
                    })?
            }
            other => {
                return Err(ApiError::field(
                    other,
                    "is not a filter (process, queue, state, external_id, limit)",
                ));
            }
        }
    }
    if filter.processes.is_empty() {
        filter.processes = shared.scope().served.processes.keys().cloned().collect();
    }
    let found = shared.store.find(&filter).await?;
    Ok(Json(serde_json::json!({ "interactions": found })))
}

#[utoipa::path(
    patch,
    path = "/interactions/{id}/properties",
    tag = "interactions",
    summary = "Change an interaction's properties",
    description = "Merges the object into the interaction's properties; `null` deletes a key. \
        The properties stay at most 64 KiB of JSON.",
    params(("id" = Uuid, Path, description = "The interaction's id")),
    request_body = schemas::PropertiesPatch,
    responses((status = 200, description = "The interaction, changed", body = schemas::Interaction)),
    extensions(
        ("x-roles" = json!(["gateway", "agent (its own)", "router"])),
        ("x-error-codes" = json!(APPLY_CODES)),
    )
)]
pub async fn change_properties(
    Extract(shared): Extract<AppState>,
    caller: Caller,
    InteractionId(id): InteractionId,
    JsonBody(patch): JsonBody<Properties>,
) -> Result<Json<Interaction>, ApiError> {
    let reach = caller.may(Action::ChangeProperties)?;
    let patch = properties("properties", patch)?;
    let command = Command::ChangeProperties { id, patch };
    let (interaction, _) = apply(&shared, &caller, reach, command).await?;
    Ok(Json(interaction))
}

#[utoipa::path(
    post,
    path = "/interactions/{id}/place-in-queue",
    tag = "interactions",
    summary = "Place an interaction in a queue",
    description = "Places it in the queue (of its own process unless `process` is given), \
        keeping its original age.",
    params(("id" = Uuid, Path, description = "The interaction's id")),
    request_body = PlaceInQueueBody,
    responses((status = 200, description = "The interaction, queued", body = schemas::Interaction)),
    extensions(
        ("x-roles" = json!(["agent (its own)", "router"])),
        ("x-error-codes" = json!(APPLY_CODES)),
    )
)]
pub async fn place_in_queue(
    Extract(shared): Extract<AppState>,
    caller: Caller,
    InteractionId(id): InteractionId,
    JsonBody(body): JsonBody<PlaceInQueueBody>,
) -> Result<Json<Interaction>, ApiError> {
    let reach = caller.may(Action::PlaceInQueue)?;
    let queue = name("queue", body.queue, MAX_NAME)?;
    let process = optional_name("process", body.process, MAX_NAME)?;
    if let Some(process) = &process {
        shared.check_scope(process)?;
    }
    let command = Command::PlaceInQueue { id, process, queue };
    let (interaction, _) = apply(&shared, &caller, reach, command).await?;
    Ok(Json(interaction))
}

#[utoipa::path(
    post,
    path = "/interactions/{id}/stop",
    tag = "interactions",
    summary = "Stop an interaction",
    params(("id" = Uuid, Path, description = "The interaction's id")),
    request_body = StopBody,
    responses((status = 200, description = "The interaction, stopped", body = schemas::Interaction)),
    extensions(
        ("x-roles" = json!(["gateway", "agent (its own)", "router"])),
        ("x-error-codes" = json!(APPLY_CODES)),
    )
)]
pub async fn stop(
    Extract(shared): Extract<AppState>,
    caller: Caller,
    InteractionId(id): InteractionId,
    JsonBody(body): JsonBody<StopBody>,
) -> Result<Json<Interaction>, ApiError> {
    let reach = caller.may(Action::Stop)?;
    let reason = name("reason", body.reason, MAX_REASON)?;
    let (interaction, _) = apply(&shared, &caller, reach, Command::Stop { id, reason }).await?;
    Ok(Json(interaction))
}
