//! An HTTP answer: status, JSON body and the raw text, with accessors for
//! the API's error shape `{"error": {"code", "message", "field"?, "state"?}}`.

use serde_json::Value;
use std::fmt;

#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// The body as JSON; `Null` when it is not JSON.
    pub body: Value,
    pub text: String,
}

impl Answer {
    pub async fn from_response(response: reqwest::Response) -> reqwest::Result<Answer> {
        let status = response.status().as_u16();
        let text = response.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Answer { status, body, text })
    }

    /// Sends `request` and reads its answer; panics naming `what` if either
    /// fails.
    pub async fn of(request: reqwest::RequestBuilder, what: impl fmt::Display) -> Answer {
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        Answer::from_response(response)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"))
    }

    pub fn code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }

    pub fn field(&self) -> Option<&str> {
        self.body["error"]["field"].as_str()
    }

    pub fn state(&self) -> Option<&str> {
        self.body["error"]["state"].as_str()
    }

    pub fn id(&self) -> &str {
        self.body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {self}"))
    }

    /// Asserts an API error: status, code, and that the body tells nothing
    /// of the internals.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self}");
        assert_eq!(self.code(), Some(code), "{self}");
        assert!(
            self.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "an error needs a message: {self}"
        );
        self.assert_no_internals();
    }

    /// Asserts a 422 naming `field`.
    #[track_caller]
    pub fn assert_invalid_field(&self, field: &str) {
        self.assert_error(422, "invalid_field");
        assert_eq!(self.field(), Some(field), "{self}");
    }

    /// No SQL, driver or stack detail reaches a client.
    #[track_caller]
    pub fn assert_no_internals(&self) {
        let lower = self.text.to_lowercase();
        for leak in [
            "sqlx",
            "select ",
            "insert ",
            "update ",
            "violates",
            "postgres",
            "sqlstate",
            "panicked",
            "src/",
            "backtrace",
        ] {
            assert!(!lower.contains(leak), "'{leak}' leaked to a client: {self}");
        }
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {} {}", self.status, self.text)
    }
}
