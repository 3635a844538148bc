//! What a caller may read: who it is, the objects it may read, the state of
//! the server's directory; and the unauthenticated liveness probe.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::extract::Caller;
use super::{AppState, HttpError};
use crate::config_server::subject::Subject;
use chrono::Utc;

/// `GET /v1/whoami`
pub async fn whoami(caller: Caller) -> Json<Value> {
    let identity = caller.session.subject.identity(&caller.revision.directory);
    Json(json!({
        "application": identity.application,
        "person": identity.person,
        "access_groups": identity.access_groups,
        "roles": identity.roles,
        "revision": caller.revision.number,
    }))
}

/// `GET /v1/objects`: the directory as the caller may read it.
pub async fn objects(State(shared): State<AppState>, caller: Caller) -> Json<Value> {
    if let Subject::Application(name) = &caller.session.subject {
        shared
            .instances
            .saw(name, caller.revision.number, Utc::now());
    }
    let visible = caller.session.subject.visible(&caller.revision.directory);
    Json(json!({
        "revision": caller.revision.number,
        "directory": visible,
    }))
}

/// `GET /v1/status`: the revision in force and the last refused load.
pub async fn status(State(shared): State<AppState>, _caller: Caller) -> Json<Value> {
    let current = shared.revisions.current();
    Json(json!({
        "revision": current.number,
        "loaded_at": current.loaded_at,
        "last_error": shared.revisions.last_error().as_deref(),
    }))
}

/// `GET /v1/instances`: the interaction servers whose application the
/// caller may read, each with its solution, address, the revision it has
/// and whether it follows this server now.
pub async fn instances(State(shared): State<AppState>, caller: Caller) -> Json<Value> {
    let visible = caller.session.subject.visible(&caller.revision.directory);
    let listed = shared
        .instances
        .list(|application| visible.applications.contains_key(application));
    Json(json!({ "instances": listed }))
}

/// `GET /healthz`: the process answers.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "alive" }))
}

pub async fn not_found() -> HttpError {
    HttpError::NotFound("no such route".into())
}

pub async fn method_not_allowed() -> HttpError {
    HttpError::MethodNotAllowed
}
