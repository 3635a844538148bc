//! The README's "Adding a third solution to a running tenant", followed
//! literally on a running tenant: its files are the README's own blocks,
//! the secret and hashes come from the commands it gives, the instance is
//! the real binary started from the settings file it describes, and the
//! end is a successful submit, with `sales` and `support` serving on,
//! unrestarted. Then each way of following it wrong is caught by
//! `check-config`.

mod common;

use common::config_server::TestConfigServer;
use common::process::{ServeProcess, run};
use common::{Tenant, TestDb, eventually};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The guide's fenced blocks, in order.
struct Guide {
    blocks: Vec<String>,
}

impl Guide {
    fn read() -> Guide {
        let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
        let start = readme
            .find("## Adding a third solution to a running tenant")
            .expect("the guide in the README");
        let section = &readme[start..];
        let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
        let mut blocks = Vec::new();
        let mut current: Option<String> = None;
        for line in section.lines() {
            // The guide's blocks are indented under its numbered steps.
            let line = line.strip_prefix("   ").unwrap_or(line);
            if line.starts_with("```") {
                match current.take() {
                    Some(block) => blocks.push(block),
                    None => current = Some(String::new()),
                }
            } else if let Some(block) = &mut current {
                block.push_str(line);
                block.push('\n');
            }
        }
        Guide { blocks }
    }

    /// The one block holding `text`.
    fn block(&self, text: &str) -> &str {
        let found: Vec<&String> = self.blocks.iter().filter(|b| b.contains(text)).collect();
        assert_eq!(found.len(), 1, "one block of the guide holds {text:?}");
        found[0]
    }
}

/// Where the guide's `/etc/ixs/…` is on this machine.
struct Machine {
    dir: tempfile::TempDir,
}

impl Machine {
    fn path(&self, guide_path: &str) -> PathBuf {
        let rest = guide_path
            .strip_prefix("/etc/ixs/")
            .unwrap_or_else(|| panic!("{guide_path} is not under /etc/ixs"));
        self.dir.path().join(rest)
    }
}

/// Step 1: `head -c 32 /dev/urandom | base64 > FILE`, then
/// `ixs hash-password < FILE`. The secret's hash.
async fn make_secret(guide: &Guide, machine: &Machine) -> (PathBuf, String) {
    let commands = guide.block("ixs hash-password < /etc/ixs/collections.secret");
    assert!(
        commands.starts_with("head -c 32 /dev/urandom | base64 > /etc/ixs/collections.secret\n"),
        "{commands}"
    );
    let path = machine.path("/etc/ixs/collections.secret");
    let random: [u8; 32] = rand::random();
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(random);
    std::fs::write(&path, format!("{encoded}\n")).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    (path, hash(&text).await)
}

/// `ixs hash-password` of what is on its standard input.
async fn hash(input: &str) -> String {
    let hashed = run(&["hash-password"], &[], None, input).await;
    assert_eq!(hashed.code, Some(0), "{hashed}");
    hashed.stdout.trim_end().to_owned()
}

const CORAS_PASSWORD: &str = "cora's own password";

/// Step 2's new file, the hashes put in.
async fn collections_file(guide: &Guide, secret_hash: &str) -> String {
    let cora = hash(CORAS_PASSWORD).await;
    let file = guide
        .block("[folder.collections]")
        .replace("<the application's secret_hash>", secret_hash)
        .replace("<cora's password_hash>", &cora);
    assert!(!file.contains('<'), "every <…> of the guide is filled in");
    file
}

/// Step 2's entry, added to the `grant` of `[folder.shared]`.
fn grant_shared(guide: &Guide, server: &TestConfigServer) {
    let entry = guide
        .blocks
        .iter()
        .find(|b| b.trim() == "{ group = \"collections-routing\", permissions = [\"read\"] },")
        .expect("the grant of step 2");
    let tenant = server.read("tenant.toml");
    let folder = tenant.find("[folder.shared]").expect("[folder.shared]");
    let grant = folder + tenant[folder..].find("grant = [\n").expect("its grant") + 10;
    let edited = format!("{}{entry}{}", &tenant[..grant], &tenant[grant..]);
    server.write("tenant.toml", &edited);
}

/// Step 3: `config/sales.toml` with the guide's keys, this machine's values
/// for its address, database, configuration server and folder.
fn settings_file(
    guide: &Guide,
    machine: &Machine,
    database: &str,
    server: &str,
    keep_sales_secret: bool,
) -> PathBuf {
    let keys: toml::Table = guide.block("name = \"collections\"").parse().unwrap();
    let sales = std::fs::read_to_string(Path::new(ROOT).join("config/sales.toml")).unwrap();
    let mut copy: toml_edit::DocumentMut = sales.parse().unwrap();
    for (section, table) in &keys {
        for (key, value) in table.as_table().expect("a section") {
            let value = value.as_str().expect("a string").to_owned();
            let value = match (section.as_str(), key.as_str()) {
                ("listen", "http") => "127.0.0.1:0".to_owned(),
                ("database", "url") => database.to_owned(),
                ("config_server", "url") => server.to_owned(),
                ("config_server", "secret_file") if keep_sales_secret => continue,
                _ if value.starts_with("/etc/ixs/") => machine.path(&value).display().to_string(),
                _ => value,
            };
            copy[section.as_str()][key.as_str()] = toml_edit::value(value);
        }
    }
    let name = if keep_sales_secret {
        "/etc/ixs/collections-copied.toml"
    } else {
        "/etc/ixs/collections.toml"
    };
    let path = machine.path(name);
    std::fs::write(&path, copy.to_string()).unwrap();
    path
}

/// Waits until the configuration server serves a revision newer than
/// `after` in which `holds`; its number.
async fn loaded(
    server: &TestConfigServer,
    after: u64,
    holds: impl Fn(&ixs::directory::Directory) -> bool,
) -> u64 {
    eventually(Duration::from_secs(10), "the change to load", || async {
        let current = server.handle().current();
        (current.number > after && holds(&current.directory)).then_some(current.number)
    })
    .await
}

fn has_collections(directory: &ixs::directory::Directory) -> bool {
    directory.applications.contains_key("ixs-collections")
}

fn shared_granted(directory: &ixs::directory::Directory) -> bool {
    directory.folders["shared"].grants.iter().any(|g| {
        matches!(&g.to, ixs::directory::Grantee::Group(group) if group == "collections-routing")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guide_followed_literally_serves_a_third_solution_beside_the_others() {
    let tenant = Tenant::start().await;
    let before = [
        tenant.sales.served_processes().await,
        tenant.support.served_processes().await,
    ];
    let guide = Guide::read();
    let machine = Machine {
        dir: tempfile::tempdir().unwrap(),
    };
    let server = &tenant.server;

    let (secret, secret_hash) = make_secret(&guide, &machine).await;
    let start = server.handle().current().number;
    server.write(
        "collections.toml",
        &collections_file(&guide, &secret_hash).await,
    );
    let first = loaded(server, start, has_collections).await;
    grant_shared(&guide, server);
    let revision = loaded(server, first, shared_granted).await;

    let db = TestDb::create().await;
    db.drop_now().await;
    let file = settings_file(&guide, &machine, db.url(), &server.url(), false);
    let checked = run(
        &["check-config", "--config", file.to_str().unwrap()],
        &[],
        None,
        "",
    )
    .await;
    assert_eq!(checked.code, Some(0), "{checked}");
    let described = common::db::described(db.url());
    assert_eq!(
        checked.lines(),
        [
            format!(
                "✓ settings: {} (instance collections, application ixs-collections)",
                file.display()
            ),
            format!("✓ secret: read from {}", secret.display()),
            format!(
                "✓ database: {described} does not exist yet: serve creates it (database.create \
                 = true)"
            ),
            "✓ migrations: 4 to apply, which serve does at start".to_owned(),
            format!("✓ configuration server: {} answers", server.url()),
            "✓ log-in: application ixs-collections accepted".to_owned(),
            format!(
                "✓ scope: person svc-collections (access group collections-routing) serves \
                 collections-chat, collections-email at revision {revision}"
            ),
            "✓ media types: chat, email, workitem".to_owned(),
            "✓ capacity rules: blended, email-only".to_owned(),
            "✓ agents: cora".to_owned(),
            "✓ listen: 127.0.0.1 on any free port".to_owned(),
        ],
        "{checked}"
    );

    // systemctl enable --now ixs@collections: ixs serve --config FILE.
    let mut collections = ServeProcess::start(&file);
    collections.wait_ready(Duration::from_secs(30)).await;
    let scope = collections.get("/v1/scope").await;
    assert_eq!(
        (
            &scope.body["processes"][0]["name"],
            &scope.body["processes"][1]["name"]
        ),
        (&json!("collections-chat"), &json!("collections-email")),
        "{scope}"
    );
    let http = reqwest::Client::new();
    let log_in = |person: &str, password: &str| {
        let request = http
            .post(collections.url("/v1/sessions"))
            .json(&json!({ "person": person, "password": password }));
        common::Answer::of(request, format!("log in {person}"))
    };
    let submit = |token: String, body: serde_json::Value| {
        let request = http
            .post(collections.url("/v1/interactions"))
            .bearer_auth(token)
            .json(&body);
        common::Answer::of(request, "submit")
    };
    let gateway = log_in("gateway", "demo").await;
    assert_eq!(gateway.status, 201, "{gateway}");
    let mail = json!({"process": "collections-email", "queue": "inbound",
        "media_type": "email", "external_id": "reminder-1"});
    let submitted = submit(gateway.body["token"].as_str().unwrap().into(), mail.clone()).await;
    assert_eq!(submitted.status, 201, "{submitted}");
    assert_eq!(submitted.body["state"], "queued", "{submitted}");
    // Its agent is known: her own submission starts in her hands.
    let cora = log_in("cora", CORAS_PASSWORD).await;
    assert_eq!(cora.status, 201, "{cora}");
    let mut own = mail;
    own["external_id"] = json!("call-note-1");
    let taken = submit(cora.body["token"].as_str().unwrap().into(), own).await;
    assert_eq!(
        (taken.status, &taken.body["state"], &taken.body["agent"]),
        (201, &json!("handling"), &json!("cora")),
        "{taken}"
    );

    // sales and support went on serving what they served, unrestarted.
    let after = [
        tenant.sales.served_processes().await,
        tenant.support.served_processes().await,
    ];
    assert_eq!(after, before);
    for instance in tenant.instances() {
        assert!(!instance.is_finished());
        let email = instance.solution.email();
        instance.submit_ok(&common::gateway(email, "inbound")).await;
    }
    let status = collections.terminate(Duration::from_secs(15)).await;
    assert!(status.success(), "{status}:\n{}", collections.log());
}

/// The lines of `ixs check-config` run in the repository's folder.
async fn check(file: &Path) -> (Option<i32>, Vec<String>) {
    let checked = run(
        &["check-config", "--config", file.to_str().unwrap()],
        &[],
        Some(Path::new(ROOT)),
        "",
    )
    .await;
    let lines = checked.lines().iter().map(|l| l.to_string()).collect();
    (checked.code, lines)
}

/// `lines` that failed.
fn failed(lines: &[String]) -> Vec<&str> {
    lines
        .iter()
        .filter(|l| l.starts_with('✗'))
        .map(String::as_str)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_catches_each_step_of_the_guide_left_out() {
    let server = TestConfigServer::spawn().await;
    let guide = Guide::read();
    let machine = Machine {
        dir: tempfile::tempdir().unwrap(),
    };
    let (_, secret_hash) = make_secret(&guide, &machine).await;
    let db = TestDb::create().await;
    let file = settings_file(&guide, &machine, db.url(), &server.url(), false);

    // The shared folder's grant left out: no media type, no capacity rule.
    let full = collections_file(&guide, &secret_hash).await;
    let start = server.handle().current().number;
    server.write("collections.toml", &full);
    let revision = loaded(&server, start, has_collections).await;
    let (code, lines) = check(&file).await;
    assert_eq!(code, Some(1), "{lines:#?}");
    assert_eq!(
        failed(&lines),
        [
            "✗ media types: person 'svc-collections' may read none: every submit would be \
             refused as of an unknown media type; grant its access group read on the media \
             types, or on their folder",
            "✗ capacity rules: person 'svc-collections' may read none: agents would be offered \
             interactions under no rule of the tenant's; grant its access group read on the \
             capacity rules, or on their folder",
        ],
        "{lines:#?}"
    );

    // The sales secret_file kept in the copy: the log-in is refused.
    let copied = settings_file(&guide, &machine, db.url(), &server.url(), true);
    let (code, lines) = check(&copied).await;
    assert_eq!(code, Some(1), "{lines:#?}");
    assert_eq!(
        failed(&lines),
        [
            "✗ log-in: the configuration server refused application 'ixs-collections' (unknown \
          name, or wrong secret or password): is config/secrets/ixs-sales.secret the secret of \
          ixs-collections?"
        ],
        "{lines:#?}"
    );

    // The agent outside the folder its instance reads: no agent known.
    grant_shared(&guide, &server);
    let granted = loaded(&server, revision, shared_granted).await;
    let outside = full.replacen(
        "[person.cora]\ndescription = \"Cora, collections\"\nfolder = \"collections\"\n",
        "[person.cora]\ndescription = \"Cora, collections\"\n",
        1,
    );
    assert_ne!(outside, full);
    server.write("collections.toml", &outside);
    loaded(&server, granted, |d| d.persons["cora"].folder.is_none()).await;
    let (code, lines) = check(&file).await;
    assert_eq!(code, Some(1), "{lines:#?}");
    assert_eq!(
        failed(&lines),
        [
            "✗ agents: person 'svc-collections' may read none: no agent could submit here or be \
          routed to; grant its access group read on the agents, or on their folder"
        ],
        "{lines:#?}"
    );
}
