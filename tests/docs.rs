//! What the README and the deployment files say, checked against what the
//! code and the binary do.

mod common;

use common::TestConfigServer;
use common::process::run;
use futures::StreamExt;
use ixs::directory::Directory;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn readme() -> String {
    std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap()
}

/// The README's paragraph that starts with `start`.
fn paragraph(text: &str, start: &str) -> String {
    let from = text.find(start).unwrap_or_else(|| panic!("{start:?}"));
    let rest = &text[from..];
    rest[..rest.find("\n\n").unwrap_or(rest.len())].to_owned()
}

#[test]
fn the_readme_names_every_demo_person_who_logs_in() {
    let people = paragraph(&readme(), "The demo tenant's people:");
    let tenant = Directory::load(&Path::new(ROOT).join("config/tenant")).unwrap();
    for person in tenant.persons.values() {
        if person.password_hash.is_some() {
            let name = format!("`{}`", person.name);
            assert!(people.contains(&name), "{name} in: {people}");
        }
    }
}

#[test]
fn the_readme_documents_every_state_the_api_takes() {
    let readme = readme();
    for state in ixs::engine::State::ALL {
        let row = format!("| `{}` |", state.as_str());
        assert!(readme.contains(&row), "the README's states lack {row}");
    }
}

#[test]
fn the_example_settings_use_the_demos_ports_and_databases_of_their_own() {
    let demo_port = 7200;
    for (file, port, database) in [
        ("config-server.toml", demo_port, None),
        ("sales.toml", demo_port + 1, Some("ixs_sales")),
        ("support.toml", demo_port + 2, Some("ixs_support")),
    ] {
        let text = std::fs::read_to_string(Path::new(ROOT).join("config").join(file)).unwrap();
        let table: toml::Table = text.parse().unwrap();
        let listen = table["listen"]["http"].as_str().unwrap();
        assert_eq!(listen, format!("127.0.0.1:{port}"), "{file}");
        if let Some(database) = database {
            let url = table["database"]["url"].as_str().unwrap();
            assert!(url.ends_with(&format!("/{database}")), "{file}: {url}");
            assert!(!url.contains("ixs_demo_"), "{file}: {url}");
        }
    }
    let said = paragraph(
        &readme(),
        "`config/config-server.toml`, `config/sales.toml`",
    );
    assert!(said.contains("(7200, 7201,\n7202)"), "{said}");
    assert!(said.contains("(`ixs_sales`, `ixs_support`)"), "{said}");
}

#[tokio::test]
async fn the_readmes_settings_messages_are_those_the_binary_prints() {
    let readme = readme();
    let from = readme.find("with every problem found, each once").unwrap();
    let block = &readme[from..];
    let block = &block[block.find("```\n").unwrap() + 4..];
    let lines: Vec<&str> = block[..block.find("```").unwrap()].lines().collect();

    // The mistakes the lines describe, made in a copy of config/sales.toml.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("config")).unwrap();
    let sales = std::fs::read_to_string(Path::new(ROOT).join("config/sales.toml")).unwrap();
    let broken = sales
        .replacen("max_connections = 8", "max_conections = 8", 1)
        .replacen("on_lease_held = \"exit\"", "on_lease_held = \"exot\"", 1);
    std::fs::write(dir.path().join("config/sales.toml"), broken).unwrap();
    let served = run(
        &["serve", "--config", "config/sales.toml"],
        &[("IXS__LISTEN__HTTP", "nope")],
        Some(dir.path()),
        "",
    )
    .await;
    assert_eq!(served.code, Some(1), "{served}");
    let printed: Vec<String> = lines.iter().map(|l| format!("error: {l}")).collect();
    assert_eq!(
        served.stderr.lines().collect::<Vec<_>>(),
        printed,
        "{served}"
    );
}

/// Both units, with `/usr/local/bin/ixs` where this build's binary is.
fn units_for_this_build(dir: &Path) -> Vec<PathBuf> {
    let mut units = Vec::new();
    for (file, name) in [
        ("ixs-config-server.service", "ixs-config-server.service"),
        ("ixs@.service", "ixs@sales.service"),
    ] {
        let text =
            std::fs::read_to_string(Path::new(ROOT).join("deploy/systemd").join(file)).unwrap();
        assert!(text.contains("/usr/local/bin/ixs "), "{file}");
        let path = dir.join(name);
        let text = text.replace(
            "/usr/local/bin/ixs ",
            &format!("{} ", env!("CARGO_BIN_EXE_ixs")),
        );
        std::fs::write(&path, text).unwrap();
        units.push(path);
    }
    units
}

#[test]
fn the_systemd_units_pass_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    let units = units_for_this_build(dir.path());
    let verified = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .args(&units)
        .output()
        .unwrap_or_else(|e| {
            panic!("systemd-analyze is needed (Debian: apt-get install systemd): {e}")
        });
    assert!(
        verified.status.success() && verified.stderr.is_empty(),
        "{}\n{}",
        verified.status,
        String::from_utf8_lossy(&verified.stderr)
    );
    // The user they run as is one the README creates.
    let readme = readme();
    for unit in &units {
        let text = std::fs::read_to_string(unit).unwrap();
        assert!(text.contains("\nUser=ixs\nGroup=ixs\n"), "{unit:?}");
    }
    assert!(
        readme.contains("useradd --system --user-group"),
        "the README creates ixs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configuration_servers_api_answers_as_documented() {
    let server = TestConfigServer::spawn().await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", server.url());

    let health = http.get(url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    let status = http.get(url("/v1/status")).send().await.unwrap();
    assert_eq!(status.status(), 401);
    let refused: serde_json::Value = status.json().await.unwrap();
    assert_eq!(refused["error"]["code"], "missing_token");

    let login = http
        .post(url("/v1/login"))
        .json(&json!({"application": "ixs-sales", "secret": "demo-secret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 201);
    let login: serde_json::Value = login.json().await.unwrap();
    let mut keys: Vec<&String> = login.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["expires_at", "revision", "token"]);
    let token = login["token"].as_str().unwrap();
    let get = |path: &str| http.get(url(path)).bearer_auth(token).send();

    let who: serde_json::Value = get("/v1/whoami").await.unwrap().json().await.unwrap();
    assert_eq!(who["person"], "svc-sales");
    let objects: serde_json::Value = get("/v1/objects").await.unwrap().json().await.unwrap();
    assert_eq!(objects["revision"], 1);
    assert!(objects["directory"]["processes"]["sales-email"].is_object());
    assert!(objects["directory"]["processes"]["support-email"].is_null());
    let status: serde_json::Value = get("/v1/status").await.unwrap().json().await.unwrap();
    assert_eq!(status["revision"], 1);
    assert!(status["last_error"].is_null());
    assert!(status["loaded_at"].is_string());

    // Without `after`, the stream starts with a reset.
    let watch = get("/v1/watch").await.unwrap();
    assert_eq!(watch.status(), 200);
    let mut stream = watch.bytes_stream();
    let first = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("the watch stream sends at once")
        .expect("an event")
        .unwrap();
    let first = String::from_utf8_lossy(&first);
    assert!(first.starts_with("event: reset\n"), "{first}");
}
