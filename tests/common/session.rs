//! One person's session on an instance, in the test process or not, and
//! the requests it makes as that person: the API's typed helpers shared by
//! the routing, feed and statistics tests.

use super::instance::{PASSWORD, TestInstance, http_client};
use super::{Answer, LiveStream};
use reqwest::Method;
use serde_json::{Value, json};

/// One person's session on an instance, in the test process or not: the
/// requests it makes as that person.
#[derive(Clone)]
pub struct Session {
    pub person: String,
    pub base: String,
    pub client: reqwest::Client,
    pub token: String,
}

impl Session {
    /// Logs `person` in on the instance at `base` (`http://host:port`).
    pub async fn at(base: String, person: &str) -> Session {
        let client = http_client();
        let request = client
            .post(format!("{base}/v1/sessions"))
            .json(&json!({ "person": person, "password": PASSWORD }));
        let answer = Answer::of(request, format!("log in {person}")).await;
        assert_eq!(answer.status, 201, "log in {person}: {answer}");
        Session {
            person: person.to_owned(),
            base,
            client,
            token: answer.body["token"].as_str().expect("token").to_owned(),
        }
    }

    pub async fn on(instance: &TestInstance, person: &str) -> Session {
        Session::at(format!("http://{}", instance.addr), person).await
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Answer {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        Answer::of(request, format!("{} {method} {path}", self.person)).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(&body)).await
    }

    /// A POST without a body.
    pub async fn post_bare(&self, path: &str) -> Answer {
        self.call(Method::POST, path, None).await
    }

    pub async fn submit(&self, body: Value) -> String {
        let answer = self.post("/v1/interactions", body).await;
        assert_eq!(answer.status, 201, "submit: {answer}");
        answer.id().to_owned()
    }

    /// `GET /v1/interactions/{id}`, asserted 200.
    pub async fn interaction(&self, id: &str) -> Value {
        let answer = self.get(&format!("/v1/interactions/{id}")).await;
        assert_eq!(answer.status, 200, "{answer}");
        answer.body
    }

    /// `POST /v1/interactions/{id}/{action}` with `body` (none: bare).
    pub async fn act(&self, id: &str, action: &str, body: Option<Value>) -> Answer {
        let path = format!("/v1/interactions/{id}/{action}");
        self.call(Method::POST, &path, body.as_ref()).await
    }

    // ---- As an agent ----

    pub async fn login(&self, media: &[&str]) -> Value {
        let answer = self
            .post("/v1/agents/me/login", json!({ "media": media }))
            .await;
        assert_eq!(answer.status, 200, "{answer}");
        answer.body
    }

    pub async fn ready(&self) -> Value {
        let answer = self.post("/v1/agents/me/ready", json!({})).await;
        assert_eq!(answer.status, 200, "{answer}");
        answer.body
    }

    pub async fn not_ready(&self, reason: &str) -> Value {
        let answer = self
            .post("/v1/agents/me/not-ready", json!({ "reason": reason }))
            .await;
        assert_eq!(answer.status, 200, "{answer}");
        answer.body
    }

    /// `GET /v1/agents/me`, asserted 200.
    pub async fn me(&self) -> Value {
        let answer = self.get("/v1/agents/me").await;
        assert_eq!(answer.status, 200, "{answer}");
        answer.body
    }

    pub async fn stream(&self) -> LiveStream {
        LiveStream::open(&format!("{}/v1/agents/me/events", self.base), &self.token).await
    }

    /// Logged in with `media`, its live stream open, ready: the stream,
    /// past the state change that ready made.
    pub async fn at_work(&self, media: &[&str]) -> LiveStream {
        self.login(media).await;
        let mut stream = self.stream().await;
        self.ready().await;
        let state = stream.next_of("state", &[]).await;
        assert_eq!(state["name"], self.person.as_str(), "{state}");
        for m in media {
            assert_eq!(state["media"][m]["ready"], true, "{state}");
        }
        stream
    }

    /// Accepts `id`, asserted 200 and handling by this agent.
    pub async fn accept(&self, id: &str) -> Value {
        let answer = self.act(id, "accept", None).await;
        assert_eq!(answer.status, 200, "accept: {answer}");
        assert_eq!(answer.body["state"], "handling", "{answer}");
        assert_eq!(answer.body["agent"], self.person.as_str(), "{answer}");
        answer.body
    }
}
