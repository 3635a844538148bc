//! The real `ixs serve` binary, started from a TOML file as systemd would,
//! for what needs a process of its own: kill -9, SIGTERM, restart.

use super::answer::Answer;
use super::db::TestDb;
use super::instance::{Solution, http_client, tenant_dir};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Writes the settings file of `solution` on `db` into `dir`: port 0, a
/// short lease so that a restart after kill -9 takes over within seconds,
/// and standing by while the dead holder's lease runs out.
pub fn write_config(dir: &Path, solution: Solution, db: &TestDb) -> PathBuf {
    let path = dir.join(format!("{}.toml", solution.name()));
    let text = format!(
        r#"[instance]
name = "{name}"
application = "{application}"

[listen]
http = "127.0.0.1:0"

[database]
url = "{url}"
create = true
lease_ttl = "2s"
lease_renew = "500ms"
on_lease_held = "wait"

[config_server]
directory = "{directory}"

[shutdown]
grace_period = "10s"
"#,
        name = solution.name(),
        application = solution.application(),
        url = db.url(),
        directory = tenant_dir().display(),
    );
    std::fs::write(&path, text).expect("write the settings file");
    path
}

/// The settings file `<name>.toml` in `dir` of the instance `name` running
/// as `application`: listening on `listen`, on the database `url` (created
/// if missing), its scope from `scope` (`url = "…"` and `secret_file =
/// "…"`, or `directory = "…"`).
pub fn instance_file(
    dir: &Path,
    (name, application): (&str, &str),
    listen: &str,
    url: &str,
    scope: &str,
) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        "[instance]\nname = \"{name}\"\napplication = \"{application}\"\n\n[listen]\nhttp = \
         \"{listen}\"\n\n[database]\nurl = \"{url}\"\ncreate = true\n\n[config_server]\n{scope}\n"
    );
    std::fs::write(&path, text).expect("write the settings file");
    path
}

/// The `[config_server]` lines of an instance following the server at
/// `url` with the secret in `secret_file`.
pub fn on_server(url: &str, secret_file: &Path) -> String {
    format!(
        "url = \"{url}\"\nsecret_file = \"{}\"",
        secret_file.display()
    )
}

/// A running `ixs serve`.
pub struct ServeProcess {
    child: Child,
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    log: Arc<Mutex<Vec<String>>>,
}

impl ServeProcess {
    /// Starts `ixs --log-format json serve --config <config>` and waits for
    /// the address it logs once built (it listens on port 0).
    pub fn start(config: &Path) -> ServeProcess {
        let config = config.to_str().expect("a UTF-8 path");
        ServeProcess::launch(&["serve", "--config", config], &[], None)
    }

    /// Starts `ixs --log-format json <args>` in `dir` (or the current
    /// folder) with the `IXS__…` overrides `env` and no others, and waits for
    /// the address it logs once built.
    pub fn launch(args: &[&str], env: &[(&str, &str)], dir: Option<&Path>) -> ServeProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ixs"));
        command
            .args(["--log-format", "json"])
            .args(args)
            .env("RUST_LOG", "info,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        // Settings come from the file and `env` alone.
        for (key, _) in std::env::vars() {
            if key.starts_with("IXS__") || key == "IXS_CONFIG" {
                command.env_remove(key);
            }
        }
        command.envs(env.iter().copied());
        let mut child = command.spawn().expect("start the ixs binary");
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = mpsc::channel();
        {
            let log = log.clone();
            // Drains stderr for the process's whole life, so that it never
            // blocks on a full pipe.
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(addr) = built_addr(&line) {
                        let _ = addr_tx.send(addr);
                    }
                    log.lock().expect("log lock").push(line);
                }
            });
        }
        let addr = match addr_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "ixs serve logged no 'built' line with its address within 30 s:\n{}",
                    log.lock().expect("log lock").join("\n")
                );
            }
        };
        ServeProcess {
            child,
            addr,
            client: http_client(),
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The process's log so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log lock").join("\n")
    }

    /// Polls `/readyz` until 200, within `limit`, then logs in as `admin`.
    pub async fn wait_ready(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(response) = self.client.get(self.url("/readyz")).send().await {
                if response.status() == 200 {
                    self.log_in_as_admin().await;
                    return;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "ixs serve exited ({status}) before it was ready:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "ixs serve not ready within {limit:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Makes every later request of `client` carry the token of `admin`.
    async fn log_in_as_admin(&mut self) {
        let response = self
            .client
            .post(self.url("/v1/sessions"))
            .json(&serde_json::json!({ "person": super::instance::ADMIN, "password": super::instance::PASSWORD }))
            .send()
            .await
            .expect("log in");
        let answer = Answer::from_response(response).await.expect("log in");
        assert_eq!(answer.status, 201, "log in: {answer}");
        let token = answer.body["token"].as_str().expect("token");
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {token}").parse().expect("header value"),
        );
        self.client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .default_headers(headers)
            .build()
            .expect("HTTP client");
    }

    pub async fn get(&self, path: &str) -> Answer {
        Answer::of(self.client.get(self.url(path)), format!("GET {path}")).await
    }

    /// SIGKILL: no drain, no lease release, nothing flushed.
    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL ixs serve");
        self.child.wait().expect("reap ixs serve");
    }

    /// SIGTERM, then waits (at most `limit`) for the exit.
    pub async fn terminate(&mut self, limit: Duration) -> ExitStatus {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid");
        // SAFETY: kill(2) on our own child, which has not been reaped yet.
        let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(sent, 0, "SIGTERM to ixs serve failed");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for ixs serve") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "ixs serve did not exit within {limit:?} of SIGTERM:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The address in the JSON log line `built`, if `line` is that line.
fn built_addr(line: &str) -> Option<SocketAddr> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = value.get("fields")?;
    if fields.get("message")?.as_str()? != "built" {
        return None;
    }
    fields.get("addr")?.as_str()?.parse().ok()
}

/// How a run of the `ixs` binary ended and what it printed.
#[derive(Debug)]
pub struct Run {
    /// The exit code; `None` if a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Standard output's lines.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `ixs <args>` to its end (at most 60 s) in `dir` (or the current
/// folder), with the `IXS__…` overrides `env` and no others, `stdin` on its
/// standard input.
pub async fn run(args: &[&str], env: &[(&str, &str)], dir: Option<&Path>, stdin: &str) -> Run {
    use tokio::io::AsyncWriteExt;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ixs"));
    command
        .args(args)
        .env("RUST_LOG", "info,sqlx=warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    for (key, _) in std::env::vars() {
        if key.starts_with("IXS") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().copied());
    let mut child = command.spawn().expect("start the ixs binary");
    let mut input = child.stdin.take().expect("stdin is piped");
    input
        .write_all(stdin.as_bytes())
        .await
        .expect("write to ixs's standard input");
    drop(input);
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("ixs {args:?} did not end within 60 s"))
        .expect("wait for the ixs binary");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The example tenant started exactly as its systemd units start it —
/// `ixs config-server --config config/config-server.toml` and `ixs serve
/// --config config/{sales,support}.toml`, from the repository's folder —
/// with only the addresses (port 0) and the databases (fresh ones)
/// overridden through the environment, as an operator would.
pub struct ExampleTenant {
    pub config: ServeProcess,
    pub sales: ServeProcess,
    pub support: ServeProcess,
    /// Dropped with the tenant.
    pub databases: (TestDb, TestDb),
}

impl ExampleTenant {
    pub async fn launch() -> ExampleTenant {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let any_port = ("IXS__LISTEN__HTTP", "127.0.0.1:0");
        let config = ServeProcess::launch(
            &["config-server", "--config", "config/config-server.toml"],
            &[any_port],
            Some(root),
        );
        let config_url = format!("http://{}", config.addr);
        let (sales_db, support_db) = (TestDb::create().await, TestDb::create().await);
        let start = |file: &str, db: &TestDb| {
            ServeProcess::launch(
                &["serve", "--config", file],
                &[
                    any_port,
                    ("IXS__DATABASE__URL", db.url()),
                    ("IXS__CONFIG_SERVER__URL", &config_url),
                ],
                Some(root),
            )
        };
        let mut sales = start("config/sales.toml", &sales_db);
        let mut support = start("config/support.toml", &support_db);
        sales.wait_ready(Duration::from_secs(30)).await;
        support.wait_ready(Duration::from_secs(30)).await;
        ExampleTenant {
            config,
            sales,
            support,
            databases: (sales_db, support_db),
        }
    }
}
