//! `POST /v1/sessions`: a person logs in to this instance with the
//! credentials the configuration server knows, and gets a token for it.
//! Only the instance holding its database lease issues tokens: one standing
//! by answers 503 `not_active`, as it does to every other request.

use super::extract::JsonBody;
use super::openapi::schemas;
use super::tokens::IssueError;
use super::{ApiError, AppState};
use crate::store::StoreError;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::info;

/// A person's credentials.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogIn {
    /// 1 to 128 characters.
    person: String,
    /// 1 to 1024 characters.
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

#[utoipa::path(
    post,
    path = "/sessions",
    tag = "sessions",
    summary = "Log in",
    description = "A person logs in with the credentials the configuration server knows, and \
        gets a token of this instance. Only the instance holding its database lease issues \
        tokens.",
    request_body = LogIn,
    responses((status = 201, description = "The session", body = schemas::Session)),
    extensions(
        ("x-roles" = json!([])),
        ("x-error-codes" = json!(["invalid_credentials", "not_active", "busy", "config_server_unavailable", "database_unavailable", "internal"])),
    )
)]
pub async fn log_in(
    State(shared): State<AppState>,
    JsonBody(body): JsonBody<LogIn>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if body.person.is_empty() || body.person.len() > 128 {
        return Err(ApiError::field("person", "must be 1 to 128 characters"));
    }
    let password = body.password.expose_secret();
    if password.is_empty() || password.len() > 1024 {
        return Err(ApiError::field("password", "must be 1 to 1024 characters"));
    }
    // Not worth checking credentials for a token that cannot be issued.
    if !shared.sessions.is_kept() {
        return Err(ApiError::not_active());
    }
    // Taken before the check: a re-check that begins while it runs covers
    // the new session too.
    let since = shared.sessions.round();
    let verified = shared
        .verifier
        .verify(&body.person, password)
        .await?
        .ok_or_else(|| ApiError::InvalidCredentials)?;
    let roles: Vec<&str> = verified.caller.roles.iter().map(|r| r.as_str()).collect();
    let roles_json = json!(roles);
    let person = verified.caller.person.clone();
    // Kept in the database before the token is handed out.
    let (token, expires_at) = shared
        .sessions
        .issue(verified, since, Utc::now())
        .await
        .map_err(|e| match e {
            IssueError::NotActive
            | IssueError::Store(StoreError::Fenced(_) | StoreError::FencedUnknown(_)) => {
                ApiError::not_active()
            }
            IssueError::Store(e) => e.into(),
        })?;
    info!(person = %person, roles = %roles_json, "logged in");
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "token": token,
            "expires_at": expires_at,
            "person": person,
            "roles": roles_json,
        })),
    ))
}
