//! `POST /v1/login`: an application's secret or a person's password for a
//! bearer token.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;
use tracing::{info, warn};

use super::extract::JsonBody;
use super::{AppState, HttpError};
use crate::config_server::instances::Announcement;
use crate::config_server::subject::Subject;
use crate::directory::SecretHash;
use crate::naming;

/// Longest name accepted (the directory's own limit).
const MAX_NAME: usize = 128;
/// Longest secret or password accepted, in bytes.
const MAX_SECRET: usize = 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[serde(default)]
    application: Option<String>,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    person: Option<String>,
    #[serde(default)]
    password: Option<String>,
    /// An interaction server's solution and address, with `application`.
    #[serde(default)]
    instance: Option<InstanceField>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceField {
    name: String,
    address: String,
}

impl InstanceField {
    fn announcement(self) -> Result<Announcement, HttpError> {
        let InstanceField { name, address } = self;
        if !naming::valid_instance_name(&name) {
            return Err(HttpError::field(
                "instance.name",
                naming::INSTANCE_NAME_RULE,
            ));
        }
        if !naming::valid_base_url(&address) {
            return Err(HttpError::field("instance.address", naming::BASE_URL_RULE));
        }
        Ok(Announcement {
            instance: name,
            address: address.trim_end_matches('/').to_owned(),
        })
    }
}

impl LoginRequest {
    /// Who wants to log in, with what, and what an interaction server
    /// announces of itself.
    fn credentials(self) -> Result<(Subject, String, Option<Announcement>), HttpError> {
        let announced = match (self.instance, &self.application) {
            (Some(instance), Some(_)) => Some(instance.announcement()?),
            (Some(_), None) => {
                return Err(HttpError::field(
                    "instance",
                    "only an application announces an instance",
                ));
            }
            (None, _) => None,
        };
        let (subject, given, key, stray) = match (self.application, self.person) {
            (Some(_), Some(_)) => {
                return Err(HttpError::field(
                    "person",
                    "give either 'application' and 'secret', or 'person' and 'password'",
                ));
            }
            (None, None) => {
                return Err(HttpError::field(
                    "application",
                    "is required (or 'person' with 'password')",
                ));
            }
            (Some(app), None) => (
                Subject::Application(app),
                self.secret,
                "secret",
                self.password.map(|_| "password"),
            ),
            (None, Some(person)) => (
                Subject::Person(person),
                self.password,
                "password",
                self.secret.map(|_| "secret"),
            ),
        };
        if let Some(stray) = stray {
            return Err(HttpError::field(
                stray,
                format!("does not go with '{}'; use '{key}'", subject.kind()),
            ));
        }
        let given = given.ok_or_else(|| HttpError::field(key, "is required"))?;
        if subject.name().is_empty() || subject.name().len() > MAX_NAME {
            return Err(HttpError::field(
                subject.kind(),
                format!("must be 1 to {MAX_NAME} characters"),
            ));
        }
        if given.len() > MAX_SECRET {
            return Err(HttpError::field(
                key,
                format!("must be at most {MAX_SECRET} bytes"),
            ));
        }
        Ok((subject, given, announced))
    }
}

/// `201 Created` with the session's token, as an instance's log-in answers.
pub async fn login(
    State(shared): State<AppState>,
    JsonBody(request): JsonBody<LoginRequest>,
) -> Result<(StatusCode, Json<Value>), HttpError> {
    let (subject, given, announced) = request.credentials()?;
    // Each check costs tens of milliseconds and ~19 MiB: bound how many run
    // at once, and keep them off the runtime's threads.
    let _permit = shared
        .logins
        .acquire()
        .await
        .map_err(|e| HttpError::Internal(e.into()))?;
    let revision = shared.revisions.current();
    let directory = revision.directory.clone();
    let checked = subject.clone();
    let verified: Option<SecretHash> = tokio::task::spawn_blocking(move || match &checked {
        Subject::Application(name) => directory
            .verify_application(name, &given)
            .and_then(|a| a.secret_hash.clone()),
        Subject::Person(name) => directory
            .verify_person(name, &given)
            .and_then(|p| p.password_hash.clone()),
    })
    .await
    .map_err(|e| HttpError::Internal(e.into()))?;
    let Some(credential) = verified else {
        warn!(
            kind = subject.kind(),
            name = subject.name(),
            "login refused"
        );
        return Err(HttpError::InvalidCredentials);
    };
    let issued = shared
        .sessions
        .issue(subject.clone(), &credential, Instant::now());
    if let (Subject::Application(name), Some(announced)) = (&subject, announced) {
        info!(application = %name, instance = %announced.instance,
            address = %announced.address, "interaction server announced");
        shared
            .instances
            .announce(name, announced, revision.number, Utc::now());
    }
    info!(
        kind = subject.kind(),
        name = subject.name(),
        revision = revision.number,
        "logged in"
    );
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "token": issued.token,
            "expires_at": issued.session.expires_at,
            "revision": revision.number,
        })),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Credentials = (Subject, String, Option<Announcement>);

    fn request(body: Value) -> Result<Credentials, HttpError> {
        serde_json::from_value::<LoginRequest>(body)
            .unwrap()
            .credentials()
    }

    fn field(result: Result<Credentials, HttpError>) -> String {
        match result {
            Err(HttpError::InvalidField { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn an_application_or_a_person() {
        let (subject, secret, announced) =
            request(json!({"application": "ixs-sales", "secret": "s"})).unwrap();
        assert_eq!(subject, Subject::Application("ixs-sales".into()));
        assert_eq!(secret, "s");
        assert_eq!(announced, None);
        let (subject, _, _) = request(json!({"person": "anna", "password": "p"})).unwrap();
        assert_eq!(subject, Subject::Person("anna".into()));
    }

    #[test]
    fn mixed_or_missing_credentials_name_the_field() {
        assert_eq!(field(request(json!({}))), "application");
        assert_eq!(field(request(json!({"application": "a"}))), "secret");
        assert_eq!(field(request(json!({"person": "p"}))), "password");
        assert_eq!(
            field(request(
                json!({"application": "a", "person": "p", "secret": "s"})
            )),
            "person"
        );
        assert_eq!(
            field(request(json!({"application": "a", "password": "s"}))),
            "password"
        );
        assert_eq!(
            field(request(
                json!({"person": "p", "password": "s", "secret": "s"})
            )),
            "secret"
        );
        let long = "x".repeat(MAX_SECRET + 1);
        assert_eq!(
            field(request(json!({"person": "p", "password": long}))),
            "password"
        );
        assert_eq!(
            field(request(json!({"person": "", "password": "p"}))),
            "person"
        );
    }

    #[test]
    fn an_application_announces_its_instance_and_a_bad_one_names_the_field() {
        let (_, _, announced) = request(json!({
            "application": "ixs-sales", "secret": "s",
            "instance": {"name": "sales", "address": "http://10.0.0.5:7201/"}
        }))
        .unwrap();
        assert_eq!(
            announced,
            Some(Announcement {
                instance: "sales".into(),
                address: "http://10.0.0.5:7201".into(),
            })
        );
        let with = |instance: Value| {
            field(request(
                json!({"application": "a", "secret": "s", "instance": instance}),
            ))
        };
        assert_eq!(
            with(json!({"name": "Sales!", "address": "http://h:1"})),
            "instance.name"
        );
        assert_eq!(
            with(json!({"name": "sales", "address": "ftp://h:1"})),
            "instance.address"
        );
        assert_eq!(
            with(json!({"name": "sales", "address": "not a url"})),
            "instance.address"
        );
        assert_eq!(
            with(json!({"name": "sales", "address": "http://u:pw@h:1"})),
            "instance.address"
        );
        assert_eq!(
            with(json!({"name": "sales", "address": format!("http://{}", "h".repeat(300))})),
            "instance.address"
        );
        assert_eq!(
            field(request(json!({
                "person": "p", "password": "s",
                "instance": {"name": "sales", "address": "http://h:1"}
            }))),
            "instance"
        );
    }
}
