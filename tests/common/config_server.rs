//! The tenant's configuration server inside the test process, on a scratch
//! copy of the example tenant that the test edits. It can be stopped and
//! started again on the same address, as an operator restarting it would,
//! so that the instances following it find it where they left it.

use super::answer::Answer;
use super::instance::{ADMIN, PASSWORD, http_client, tenant_dir};
use ixs::config_server::{ConfigServer, ConfigServerHandle, Settings};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Every demo application's secret.
pub const DEMO_SECRET: &str = "demo-secret";

/// `sales-chat` as `config/tenant/sales.toml` defines it: in the folder
/// `sales`, which `sales-routing` (and so `ixs-sales`) reads.
pub const SALES_CHAT_IN_SALES: &str = "[process.sales-chat]\n\
     description = \"Sales chats from the web shop\"\n\
     folder = \"sales\"\n\
     grant = [{ group = \"gateways\", permissions = [\"read\", \"execute\"] }]\n";

/// `sales-chat` moved to the support solution: out of the folder `sales`,
/// read by `support-routing` (and so `ixs-support`) through a grant of its
/// own.
pub const SALES_CHAT_FOR_SUPPORT: &str = "[process.sales-chat]\n\
     description = \"Sales chats from the web shop\"\n\
     grant = [\n    \
     { group = \"gateways\", permissions = [\"read\", \"execute\"] },\n    \
     { group = \"support-routing\", permissions = [\"read\"] },\n]\n";

struct Running {
    handle: ConfigServerHandle,
    cancel: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

/// A configuration server on its own copy of the example tenant.
pub struct TestConfigServer {
    addr: SocketAddr,
    /// The settings it runs with; `listen.http` is its address once bound.
    settings: Settings,
    dir: tempfile::TempDir,
    running: Option<Running>,
    http: reqwest::Client,
    /// The administrator's token on the running server, for `/v1/status`.
    admin: Mutex<Option<String>>,
}

impl TestConfigServer {
    /// A server on a copy of the example tenant with the default settings
    /// (the files are polled every 250 ms, as an operator gets them).
    pub async fn spawn() -> TestConfigServer {
        TestConfigServer::spawn_with(|_| {}).await
    }

    /// Like [`spawn`](Self::spawn), with settings overrides.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> TestConfigServer {
        let dir = tempfile::tempdir().expect("scratch folder for the tenant");
        for entry in std::fs::read_dir(tenant_dir()).expect("the example tenant") {
            let path = entry.expect("a tenant file").path();
            if path.is_file() {
                std::fs::copy(&path, dir.path().join(path.file_name().expect("a name")))
                    .expect("copy a tenant file");
            }
        }
        let mut settings = Settings::for_directory(dir.path());
        settings.shutdown.grace_period = Duration::from_secs(5);
        adjust(&mut settings);
        let server = ConfigServer::build(settings.clone())
            .await
            .unwrap_or_else(|e| panic!("cannot build the configuration server: {e:#}"));
        let addr = server.local_addr();
        settings.listen.http = addr;
        let mut this = TestConfigServer {
            addr,
            settings,
            dir,
            running: None,
            http: http_client(),
            admin: Mutex::new(None),
        };
        this.run(server);
        this
    }

    fn run(&mut self, server: ConfigServer) {
        let cancel = CancellationToken::new();
        let handle = server.handle();
        let task = tokio::spawn(server.run(cancel.clone()));
        self.running = Some(Running {
            handle,
            cancel,
            task,
        });
    }

    /// `http://<address>`, for an instance's settings.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The folder of its tenant files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The handle of the running server (reloads, revision in force).
    pub fn handle(&self) -> &ConfigServerHandle {
        &self
            .running
            .as_ref()
            .expect("the configuration server is stopped")
            .handle
    }

    /// Stops the server (its watch streams end, its sessions are gone) and
    /// waits for it, at most 15 s. What its run returned is only printed:
    /// `a_config_server_asked_to_stop_reports_a_clean_stop` checks it.
    pub async fn stop(&mut self) {
        if let Err(e) = self.stop_outcome().await {
            eprintln!("the configuration server stopped with an error: {e:#}");
        }
    }

    /// Stops the server like [`stop`](Self::stop); what its run returned.
    pub async fn stop_outcome(&mut self) -> anyhow::Result<()> {
        let running = self
            .running
            .take()
            .expect("the configuration server is already stopped");
        running.cancel.cancel();
        *self.admin.lock().expect("admin token") = None;
        tokio::time::timeout(Duration::from_secs(15), running.task)
            .await
            .expect("the configuration server stops within 15 s")
            .expect("the configuration server's task panicked")
    }

    /// Starts it again on the same address, from the files as they are now.
    /// Binding the port again is retried for a while: it is free, but a
    /// socket of the previous run may still be closing.
    pub async fn start(&mut self) {
        assert!(
            self.running.is_none(),
            "the configuration server is running"
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let server = loop {
            match ConfigServer::build(self.settings.clone()).await {
                Ok(server) => break server,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    eprintln!("configuration server not restarted yet: {e:#}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot restart the configuration server: {e:#}"),
            }
        };
        assert_eq!(server.local_addr(), self.addr, "restarted on its address");
        self.run(server);
    }

    // ---- The tenant's files ----

    pub fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.file(file))
            .unwrap_or_else(|e| panic!("read tenant file {file}: {e}"))
    }

    pub fn write(&self, file: &str, text: &str) {
        std::fs::write(self.file(file), text)
            .unwrap_or_else(|e| panic!("write tenant file {file}: {e}"));
    }

    /// Replaces the one occurrence of `from` in tenant file `file` by `to`.
    #[track_caller]
    pub fn edit(&self, file: &str, from: &str, to: &str) {
        let text = self.read(file);
        assert_eq!(
            text.matches(from).count(),
            1,
            "{file} must hold {from:?} exactly once"
        );
        self.write(file, &text.replacen(from, to, 1));
    }

    /// Moves `sales-chat` from `sales-routing` to `support-routing`.
    pub fn move_sales_chat_to_support(&self) {
        self.edit("sales.toml", SALES_CHAT_IN_SALES, SALES_CHAT_FOR_SUPPORT);
    }

    /// Gives `sales-chat` back to `sales-routing`.
    pub fn move_sales_chat_back(&self) {
        self.edit("sales.toml", SALES_CHAT_FOR_SUPPORT, SALES_CHAT_IN_SALES);
    }

    // ---- Its HTTP API ----

    async fn admin_token(&self) -> String {
        if let Some(token) = self.admin.lock().expect("admin token").clone() {
            return token;
        }
        let response = self
            .http
            .post(format!("{}/v1/login", self.url()))
            .json(&json!({ "person": ADMIN, "password": PASSWORD }))
            .send()
            .await
            .expect("log in to the configuration server");
        let answer = Answer::from_response(response)
            .await
            .expect("log in to the configuration server");
        assert_eq!(answer.status, 201, "log in as {ADMIN}: {answer}");
        let token = answer.body["token"].as_str().expect("token").to_owned();
        *self.admin.lock().expect("admin token") = Some(token.clone());
        token
    }

    /// `GET path` as `person` (password `demo`), logged in for this request.
    pub async fn get_as(&self, person: &str, path: &str) -> Answer {
        let login = self
            .http
            .post(format!("{}/v1/login", self.url()))
            .json(&json!({ "person": person, "password": PASSWORD }));
        let login = Answer::of(login, format!("log in {person}")).await;
        assert_eq!(login.status, 201, "log in {person}: {login}");
        let token = login.body["token"].as_str().expect("token");
        let request = self
            .http
            .get(format!("{}{path}", self.url()))
            .bearer_auth(token);
        Answer::of(request, format!("GET {path} as {person}")).await
    }

    /// `GET /v1/status`: `{"revision", "loaded_at", "last_error"}`.
    pub async fn status(&self) -> Value {
        let token = self.admin_token().await;
        let response = self
            .http
            .get(format!("{}/v1/status", self.url()))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET /v1/status");
        let answer = Answer::from_response(response)
            .await
            .expect("GET /v1/status");
        assert_eq!(answer.status, 200, "GET /v1/status: {answer}");
        answer.body
    }
}

impl Drop for TestConfigServer {
    fn drop(&mut self) {
        if let Some(running) = &self.running {
            running.cancel.cancel();
        }
    }
}
