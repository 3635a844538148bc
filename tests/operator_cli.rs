//! The operator's commands, run as the real binary: `check-config`,
//! `config-server --check`, `check-tenant`, `serve`'s start-up and the
//! settings messages, the help. Their output is compared exactly.

mod common;

use common::config_server::DEMO_SECRET;
use common::db::described;
use common::instance::tenant_dir;
use common::process::{Run, instance_file, run};
use common::{TestConfigServer, TestDb};
use std::path::{Path, PathBuf};

/// The `sales` instance's settings in `dir`.
fn sales_file(dir: &Path, listen: &str, url: &str, scope: &str) -> PathBuf {
    instance_file(dir, ("sales", "ixs-sales"), listen, url, scope)
}

fn on_server(server: &TestConfigServer, secret_file: &Path) -> String {
    common::process::on_server(&server.url(), secret_file)
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

const MIGRATIONS: &str = "20261125000001 interactions, 20261125000002 config cache, \
     20261201000001 writer commit, 20261201000002 routing, 20261201000003 instance sessions, \
     20261207000001 feed";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_fails_when_the_configuration_server_refuses_the_log_in() {
    let server = TestConfigServer::spawn().await;
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("ixs-sales.secret");
    std::fs::write(&secret, "not-the-secret\n").unwrap();
    let file = sales_file(
        dir.path(),
        "127.0.0.1:0",
        db.url(),
        &on_server(&server, &secret),
    );
    let checked = run(&["check-config", "--config", &shown(&file)], &[], None, "").await;
    assert_eq!(checked.code, Some(1), "{checked}");
    let url = server.url();
    let db = described(db.url());
    let (file, secret) = (shown(&file), shown(&secret));
    assert_eq!(
        checked.lines(),
        [
            format!("✓ settings: {file} (instance sales, application ixs-sales)"),
            format!("✓ secret: read from {secret}"),
            format!("✓ database: {db} answers"),
            format!("✓ migrations: 6 of 6 to apply, which serve does at start: {MIGRATIONS}"),
            format!("✓ configuration server: {url} answers"),
            format!(
                "✗ log-in: the configuration server refused application 'ixs-sales' (unknown \
                 name, or wrong secret or password): is {secret} the secret of ixs-sales?"
            ),
            "✓ listen: 127.0.0.1 on any free port".to_owned(),
        ],
        "{checked}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_fails_when_the_database_is_unreachable_and_the_port_taken() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = "postgres://postgres@127.0.0.1:1/nowhere";
    let tenant = tenant_dir();
    let file = sales_file(
        dir.path(),
        &addr.to_string(),
        url,
        &format!("directory = \"{}\"", tenant.display()),
    );
    let checked = run(&["check-config", "--config", &shown(&file)], &[], None, "").await;
    assert_eq!(checked.code, Some(1), "{checked}");
    assert_eq!(
        checked.lines(),
        [
            format!(
                "✓ settings: {} (instance sales, application ixs-sales)",
                shown(&file)
            ),
            "✗ database: cannot connect to 127.0.0.1:1/nowhere: error communicating with \
             database: Connection refused (os error 111)"
                .to_owned(),
            format!("✓ tenant files: {}", tenant.display()),
            "✓ scope: person svc-sales (access group sales-routing) serves sales-chat, \
             sales-email"
                .to_owned(),
            "✓ media types: chat, email, workitem".to_owned(),
            "✓ capacity rules: blended, email-only".to_owned(),
            "✓ agents: anna, arno".to_owned(),
            "✓ routing: an agent without a capacity rule may hold 1 chat, 1 email, 1 workitem; no \
             after-work"
                .to_owned(),
            format!("✗ listen: cannot listen on {addr}: Address already in use (os error 98)"),
        ],
        "{checked}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_passes_an_instance_that_can_be_served() {
    let server = TestConfigServer::spawn().await;
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("ixs-sales.secret");
    std::fs::write(&secret, format!("{DEMO_SECRET}\n")).unwrap();
    let file = sales_file(
        dir.path(),
        "127.0.0.1:0",
        db.url(),
        &on_server(&server, &secret),
    );
    let migrated = run(&["migrate", "--config", &shown(&file)], &[], None, "").await;
    assert_eq!(migrated.code, Some(0), "{migrated}");
    let expected = [
        format!(
            "✓ settings: {} (instance sales, application ixs-sales)",
            shown(&file)
        ),
        format!("✓ secret: read from {}", shown(&secret)),
        format!("✓ database: {} answers", described(db.url())),
        "✓ migrations: all 6 applied".to_owned(),
        format!("✓ configuration server: {} answers", server.url()),
        "✓ log-in: application ixs-sales accepted".to_owned(),
        "✓ scope: person svc-sales (access group sales-routing) serves sales-chat, sales-email \
         at revision 1"
            .to_owned(),
        "✓ media types: chat, email, workitem".to_owned(),
        "✓ capacity rules: blended, email-only".to_owned(),
        "✓ agents: anna, arno".to_owned(),
        "✓ routing: an agent without a capacity rule may hold 1 chat, 1 email, 1 workitem; no \
         after-work"
            .to_owned(),
        "✓ listen: 127.0.0.1 on any free port".to_owned(),
    ];
    for args in [
        ["check-config", "--config", &shown(&file)].as_slice(),
        // The earlier form, kept.
        ["check-config", &shown(&file)].as_slice(),
    ] {
        let checked = run(args, &[], None, "").await;
        assert_eq!(checked.code, Some(0), "{args:?}: {checked}");
        assert_eq!(checked.lines(), expected, "{args:?}: {checked}");
    }
    // The secret given in the environment wins over the file's secret_file.
    let from_env = run(
        &["check-config", "--config", &shown(&file)],
        &[("IXS__CONFIG_SERVER__SECRET", DEMO_SECRET)],
        None,
        "",
    )
    .await;
    assert_eq!(from_env.code, Some(0), "{from_env}");
    assert_eq!(
        from_env.lines()[1],
        "✓ secret: read from IXS__CONFIG_SERVER__SECRET",
        "{from_env}"
    );
}

#[tokio::test]
async fn a_settings_problem_is_named_once_with_its_line_or_variable() {
    let dir = tempfile::tempdir().unwrap();
    let file = sales_file(
        dir.path(),
        "127.0.0.1:0",
        "postgres://postgres@127.0.0.1:5432/x",
        "directory = \"config/tenant\"\nsecret_file = \"/etc/ixs/sales.secret\"",
    );
    let text = std::fs::read_to_string(&file).unwrap().replace(
        "create = true",
        "create = true\nacquire_timout = \"5s\"\non_lease_held = \"exot\"\nlease_ttl = \"0s\"",
    );
    std::fs::write(&file, text).unwrap();
    let env = [("IXS__DATABASE__MAX_CONECTIONS", "4")];
    let f = shown(&file);
    let problems = [
        format!(
            "{f}:11: database.acquire_timout: not a setting; did you mean \
             database.acquire_timeout?"
        ),
        format!("{f}:12: database.on_lease_held: must be \"exit\" or \"wait\", not \"exot\""),
        "environment variable IXS__DATABASE__MAX_CONECTIONS: database.max_conections: not a \
         setting; did you mean database.max_connections?"
            .to_owned(),
    ];
    let checked = run(&["check-config", "--config", &f], &env, None, "").await;
    assert_eq!(checked.code, Some(1), "{checked}");
    let expected: Vec<String> = problems
        .iter()
        .map(|p| format!("✗ settings: {p}"))
        .collect();
    assert_eq!(checked.lines(), expected, "{checked}");
    let served = run(&["serve", "--config", &f], &env, None, "").await;
    assert_eq!(served.code, Some(1), "{served}");
    let expected: Vec<String> = problems.iter().map(|p| format!("error: {p}")).collect();
    assert_eq!(
        served.stderr.lines().collect::<Vec<_>>(),
        expected,
        "{served}"
    );

    // Once those are fixed, the value problems show.
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("acquire_timout = \"5s\"\non_lease_held = \"exot\"\n", "");
    std::fs::write(&file, text).unwrap();
    let checked = run(&["check-config", "--config", &f], &[], None, "").await;
    assert_eq!(checked.code, Some(1), "{checked}");
    assert_eq!(
        checked.lines(),
        [format!(
            "✗ settings: {f}:11: database.lease_ttl: must be more than 0"
        )],
        "{checked}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_checks_the_routing_settings_against_the_media_read() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = tenant_dir();
    let file = sales_file(
        dir.path(),
        "127.0.0.1:0",
        "postgres://postgres@127.0.0.1:1/nowhere",
        &format!("directory = \"{}\"", tenant.display()),
    );
    let base = std::fs::read_to_string(&file).unwrap();
    let f = shown(&file);
    let check = async |routing: &str| {
        std::fs::write(&file, format!("{base}\n[routing]\n{routing}\n")).unwrap();
        run(&["check-config", "--config", &f], &[], None, "").await
    };
    // A bad value is a settings problem, at its line; serve says the same.
    let bad = "delivery_timeout = \"0s\"\ndefault_capacity = { email = 1, total = 0 }";
    let checked = check(bad).await;
    assert_eq!(checked.code, Some(1), "{checked}");
    let problems = [
        format!("{f}:16: routing.delivery_timeout: must be 1s to 365days"),
        format!("{f}:17: routing.default_capacity.total: must be at least 1"),
    ];
    let expected: Vec<String> = problems
        .iter()
        .map(|p| format!("✗ settings: {p}"))
        .collect();
    assert_eq!(checked.lines(), expected, "{checked}");
    let served = run(&["serve", "--config", &f], &[], None, "").await;
    assert_eq!(served.code, Some(1), "{served}");
    let expected: Vec<String> = problems.iter().map(|p| format!("error: {p}")).collect();
    assert_eq!(
        served.stderr.lines().collect::<Vec<_>>(),
        expected,
        "{served}"
    );

    // A media the instance does not read is most likely misspelt.
    let routing = |checked: &Run| -> String {
        let line = checked
            .lines()
            .into_iter()
            .find(|l| l.contains(" routing: "));
        line.unwrap_or_else(|| panic!("no routing line: {checked}"))
            .to_owned()
    };
    let checked = check("default_capacity = { emial = 2, chat = 1 }").await;
    assert_eq!(
        routing(&checked),
        "✗ routing: routing.default_capacity names 'emial': not a media type person 'svc-sales' \
         may read (it reads chat, email, workitem)",
        "{checked}"
    );
    let checked = check(
        "default_capacity = { email = 1, chat = 3, total = 3 }\n\
         after_work = { email = \"30s\", chat = \"5s\" }",
    )
    .await;
    assert_eq!(
        routing(&checked),
        "✓ routing: an agent without a capacity rule may hold 3 chat, 1 email, 3 in all; \
         after-work chat 5s, email 30s",
        "{checked}"
    );
}

/// A copy of the example tenant in a scratch folder, with `edits` made:
/// `(file, from, to)`.
fn broken_tenant(edits: &[(&str, &str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(tenant_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    for (file, from, to) in edits {
        let path = dir.path().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.matches(from).count(), 1, "{file}: {from}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }
    dir
}

/// The line (from 1) of `file` where `text` starts.
fn line_of(file: &Path, text: &str) -> usize {
    let whole = std::fs::read_to_string(file).unwrap();
    let at = whole
        .find(text)
        .unwrap_or_else(|| panic!("{text:?} in {file:?}"));
    whole[..at].matches('\n').count() + 1
}

#[tokio::test]
async fn the_configuration_servers_check_reports_every_problem_without_starting() {
    let tenant = broken_tenant(&[
        (
            "sales.toml",
            "[process.sales-chat]\n",
            "[process.sales-chat\n",
        ),
        ("tenant.toml", "total = 4\n", "total = 0\n"),
        (
            "support.toml",
            "order = \"priority desc, submitted_at asc\"\nstrategy = \"fast-answer\"",
            "order = \"prio desc\"\nstrategy = \"fast-answer\"",
        ),
    ]);
    let t = tenant.path().display().to_string();
    let line = |file: &str, text: &str| line_of(&tenant.path().join(file), text);
    let (sales, support, rules) = (
        line("sales.toml", "[process.sales-chat\n"),
        line("support.toml", "order = \"prio desc\""),
        line("tenant.toml", "total = 0"),
    );
    let tenant_problems = [
        format!("✗ tenant: {t}/sales.toml:{sales}:20: invalid table header; expected `.`, `]`"),
        format!(
            "✗ tenant: {t}/support.toml:{support}:10: business process 'support-chat', queue \
             'inbound', view 'all': order: unknown order field 'prio' (allowed: priority, \
             submitted_at, placed_in_queue_at, id)"
        ),
        format!(
            "✗ tenant: {t}/tenant.toml:{rules}:9: capacity rule 'blended': total: must be at least 1"
        ),
    ];
    let checked = run(&["check-tenant", &t], &[], None, "").await;
    assert_eq!(checked.code, Some(1), "{checked}");
    assert_eq!(checked.lines(), tenant_problems, "{checked}");

    let elsewhere = tempfile::tempdir().unwrap();
    let settings = elsewhere.path().join("config-server.toml");
    // Port 1: were it started, it could not listen there.
    std::fs::write(
        &settings,
        format!("[listen]\nhttp = \"127.0.0.1:1\"\n[directory]\npath = \"{t}\"\n"),
    )
    .unwrap();
    let s = shown(&settings);
    let checked = run(&["config-server", "--check", "--config", &s], &[], None, "").await;
    assert_eq!(checked.code, Some(1), "{checked}");
    let mut expected = vec![format!(
        "✓ settings: {s} (tenant files in {t}, listens on 127.0.0.1:1)"
    )];
    expected.extend(tenant_problems.iter().cloned());
    assert_eq!(checked.lines(), expected, "{checked}");

    std::fs::write(
        &settings,
        format!("[directory]\npath = \"{t}\"\nwatch = true\n[tokens]\nttl = \"0s\"\n"),
    )
    .unwrap();
    let checked = run(&["config-server", "--check", "--config", &s], &[], None, "").await;
    assert_eq!(checked.code, Some(1), "{checked}");
    assert_eq!(
        checked.lines(),
        [format!(
            "✗ settings: {s}:3: directory.watch: not a setting; [directory] takes path, \
             poll_interval, history"
        )],
        "{checked}"
    );
}

#[tokio::test]
async fn every_command_takes_its_settings_file_as_config_with_a_help_text() {
    let help = run(&["migrate", "--help"], &[], None, "").await;
    assert_eq!(help.code, Some(0), "{help}");
    assert_eq!(
        help.lines(),
        [
            "Apply the database migrations of an instance (creating its database if \
             database.create says so) and exit",
            "",
            "Usage: ixs migrate [OPTIONS] --config <FILE>",
            "",
            "Options:",
            "      --config <FILE>            The instance's settings file, e.g. \
             /etc/ixs/sales.toml [env: IXS_CONFIG=]",
            "      --log-format <LOG_FORMAT>  Log lines as text or JSON (filter with RUST_LOG, \
             default \"info\") [env: IXS_LOG_FORMAT=] [default: text] [possible values: text, \
             json]",
            "  -h, --help                     Print help",
        ],
        "{help}"
    );
    let both = run(
        &["check-config", "--config", "a.toml", "b.toml"],
        &[],
        None,
        "",
    )
    .await;
    assert_eq!(both.code, Some(2), "{both}");
    assert_eq!(
        both.stderr.lines().next(),
        Some("error: the argument '--config <FILE>' cannot be used with '[FILE]'"),
        "{both}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_stops_the_start_before_the_database_is_created() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let db = TestDb::create().await;
    db.drop_now().await;
    let dir = tempfile::tempdir().unwrap();
    let tenant = tenant_dir();
    let file = sales_file(
        dir.path(),
        &addr.to_string(),
        db.url(),
        &format!("directory = \"{}\"", tenant.display()),
    );
    let served: Run = run(&["serve", "--config", &shown(&file)], &[], None, "").await;
    assert_eq!(served.code, Some(1), "{served}");
    assert_eq!(
        served.stderr.lines().last(),
        Some(
            format!("error: cannot listen on {addr}: Address already in use (os error 98)")
                .as_str()
        ),
        "{served}"
    );
    assert!(!db.exists().await, "no database was created: {served}");
}
