use super::*;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(name)
}

/// `text` as the file `instance.toml` of a scratch folder.
fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("instance.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The problems of loading `text` with `env`, as displayed, the file's
/// folder left out.
fn problems(text: &str, env: &[(&str, &str)]) -> Vec<String> {
    let (dir, path) = file(text);
    let error = Settings::load(&path, vars(env)).unwrap_err();
    let folder = format!("{}/", dir.path().display());
    error
        .problems
        .iter()
        .map(|p| p.to_string().replace(&folder, ""))
        .collect()
}

const MINIMAL: &str = r#"[instance]
name = "sales"
application = "ixs-sales"
[listen]
http = "127.0.0.1:7201"
[database]
url = "postgres://postgres@127.0.0.1:5432/ixs_sales"
[config_server]
directory = "config/tenant"
"#;

/// MINIMAL on a configuration server, its secret in a file.
const ON_A_SERVER: &str = r#"[instance]
name = "sales"
application = "ixs-sales"
[listen]
http = "127.0.0.1:7201"
[database]
url = "postgres://postgres@127.0.0.1:5432/ixs_sales"
[config_server]
url = "http://127.0.0.1:7200"
secret_file = "/etc/ixs/sales.secret"
"#;

#[test]
fn the_example_files_load() {
    for name in ["sales.toml", "support.toml"] {
        let settings = Settings::load(&example(name), []).unwrap();
        assert_eq!(format!("{}.toml", settings.instance.name), name);
    }
}

#[test]
fn defaults_fill_what_is_left_out() {
    let (_dir, path) = file(MINIMAL);
    let settings = Settings::load(&path, []).unwrap();
    assert_eq!(settings.database.max_connections, 8);
    assert_eq!(settings.shutdown.grace_period, Duration::from_secs(10));
    assert_eq!(settings.routing.max_priority, 100);
    assert_eq!(settings.database.on_lease_held, OnLeaseHeld::Exit);
    assert_eq!(
        settings.listen.connection_limits(),
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 4096,
            max_uri_bytes: 8192,
            max_header_bytes: 16384,
            max_headers: 100,
        }
    );
}

#[test]
fn environment_overrides_the_file() {
    let (_dir, path) = file(MINIMAL);
    let env = vars(&[
        ("IXS__DATABASE__URL", "postgres://u@db:6543/other"),
        ("IXS__LISTEN__HTTP", "0.0.0.0:9000"),
        ("IXS__DATABASE__MAX_CONNECTIONS", "20"),
        ("IXS__DATABASE__CREATE", "true"),
        ("IXS__SHUTDOWN__GRACE_PERIOD", "3s"),
        ("IXS__INSTANCE__APPLICATION", "1234"),
        ("UNRELATED", "x"),
    ]);
    let settings = Settings::load(&path, env).unwrap();
    assert_eq!(settings.database.describe(), "db:6543/other");
    assert_eq!(settings.listen.http, "0.0.0.0:9000".parse().unwrap());
    assert_eq!(settings.database.max_connections, 20);
    assert!(settings.database.create);
    assert_eq!(settings.shutdown.grace_period, Duration::from_secs(3));
    // A number where a string is wanted is that string.
    assert_eq!(settings.instance.application, "1234");
}

#[test]
fn the_environments_secret_wins_over_the_files_secret_file() {
    let (_dir, path) = file(ON_A_SERVER);
    let env = vars(&[("IXS__CONFIG_SERVER__SECRET", "from-the-environment")]);
    let settings = Settings::load(&path, env).unwrap();
    assert_eq!(settings.config_server.secret_file, None);
    assert_eq!(
        settings.config_server.secret().unwrap().expose_secret(),
        "from-the-environment"
    );
    // And a secret file given in the environment wins over the file's secret.
    let text = ON_A_SERVER.replace(
        "secret_file = \"/etc/ixs/sales.secret\"",
        "secret = \"in-the-file\"",
    );
    let (dir, path) = file(&text);
    let secret = dir.path().join("sales.secret");
    std::fs::write(&secret, "from-a-file\n").unwrap();
    let env = vars(&[("IXS__CONFIG_SERVER__SECRET_FILE", secret.to_str().unwrap())]);
    let settings = Settings::load(&path, env).unwrap();
    assert!(settings.config_server.secret.is_none());
    assert_eq!(
        settings.config_server.secret().unwrap().expose_secret(),
        "from-a-file"
    );
}

#[test]
fn the_environments_server_wins_over_the_files_directory() {
    let (_dir, path) = file(MINIMAL);
    let env = vars(&[
        ("IXS__CONFIG_SERVER__URL", "http://10.0.0.1:7200"),
        ("IXS__CONFIG_SERVER__SECRET", "s"),
    ]);
    let settings = Settings::load(&path, env).unwrap();
    assert_eq!(settings.config_server.directory, None);
    assert_eq!(
        settings.config_server.url.as_deref(),
        Some("http://10.0.0.1:7200")
    );
}

#[test]
fn the_file_alone_must_not_give_both() {
    let text = ON_A_SERVER.replace(
        "secret_file = \"/etc/ixs/sales.secret\"",
        "secret_file = \"/etc/ixs/sales.secret\"\nsecret = \"s\"",
    );
    assert_eq!(
        problems(&text, &[]),
        [
            "instance.toml:10: config_server.secret_file: give either config_server.secret or \
          config_server.secret_file, not both"
        ]
    );
}

#[test]
fn an_unknown_key_is_named_once_with_its_line() {
    let text = MINIMAL.replace("url = \"postgres", "max_conections = 20\nurl = \"postgres");
    assert_eq!(
        problems(&text, &[]),
        [
            "instance.toml:7: database.max_conections: not a setting; did you mean \
          database.max_connections?"
        ]
    );
    assert_eq!(
        problems(&format!("{MINIMAL}[retention]\nkeep_forever = true\n"), &[]),
        [
            "instance.toml:11: retention.keep_forever: not a setting; [retention] takes \
          stopped_interactions, events, batch_size, interval"
        ]
    );
    assert_eq!(
        problems(&format!("{MINIMAL}[tokenz]\nttl = \"1h\"\n"), &[]),
        [
            "instance.toml:10: tokenz: not a section; the sections are instance, listen, \
          database, config_server, routing, retention, reporting, shutdown, auth"
        ]
    );
}

#[test]
fn an_unknown_variable_is_blamed_on_the_variable() {
    assert_eq!(
        problems(MINIMAL, &[("IXS__DATABASE__MAX_CONECTIONS", "20")]),
        [
            "environment variable IXS__DATABASE__MAX_CONECTIONS: database.max_conections: not a \
          setting; did you mean database.max_connections?"
        ]
    );
    assert_eq!(
        problems(MINIMAL, &[("IXS__DATABASE", "x")]),
        [
            "environment variable IXS__DATABASE: not a setting: name it IXS__<SECTION>__<KEY>, \
          e.g. IXS__DATABASE__URL"
        ]
    );
}

#[test]
fn allowed_values_are_listed_in_plain_words() {
    let text = MINIMAL.replace(
        "url = \"postgres",
        "on_lease_held = \"exot\"\nurl = \"postgres",
    );
    assert_eq!(
        problems(&text, &[]),
        ["instance.toml:7: database.on_lease_held: must be \"exit\" or \"wait\", not \"exot\""]
    );
    assert_eq!(
        problems(&MINIMAL.replace("127.0.0.1:7201", "not-an-address"), &[]),
        ["instance.toml:5: listen.http: must be an address and port such as \"127.0.0.1:7201\""]
    );
    assert_eq!(
        problems(MINIMAL, &[("IXS__DATABASE__MAX_CONNECTIONS", "many")]),
        [
            "environment variable IXS__DATABASE__MAX_CONNECTIONS: database.max_connections: must \
          be a whole number from 0 to 4294967295"
        ]
    );
    assert_eq!(
        problems(
            &format!("{MINIMAL}[auth]\nsession_ttl = \"8 bananas\"\n"),
            &[]
        ),
        [
            "instance.toml:11: auth.session_ttl: must be a duration such as \"10s\", \"5m\", \
          \"8h\" or \"30days\""
        ]
    );
    assert_eq!(
        problems(
            &format!("{MINIMAL}[routing]\nmin_priority = \"low\"\n"),
            &[]
        ),
        [
            "instance.toml:11: routing.min_priority: must be an integer from -2147483648 to \
          2147483647"
        ]
    );
}

#[test]
fn every_problem_is_reported_in_one_pass() {
    // Read top to bottom, then the environment.
    let text = MINIMAL
        .replace(
            "http = \"127.0.0.1:7201\"",
            "http = \"127.0.0.1:7201\"\nmax_connections = \"many\"",
        )
        .replace("url = \"postgres", "create = \"yes\"\nurl = \"postgres");
    assert_eq!(
        problems(&text, &[("IXS__ROUTING__MAX_PRIORTY", "5")]),
        [
            "instance.toml:6: listen.max_connections: must be a whole number (0 or more)",
            "instance.toml:8: database.create: must be true or false",
            "environment variable IXS__ROUTING__MAX_PRIORTY: routing.max_priorty: not a \
             setting; did you mean routing.max_priority?",
        ]
    );
    let text = format!("{MINIMAL}[shutdown]\ngrace_period = \"0s\"\n[retention]\nbatch_size = 0\n");
    assert_eq!(
        problems(&text, &[]),
        [
            "instance.toml:11: shutdown.grace_period: must be more than 0",
            "instance.toml:13: retention.batch_size: must be 1 to 100000",
        ]
    );
    let text = format!("{MINIMAL}[reporting]\nfeed_buffer = 8\n");
    assert_eq!(
        problems(&text, &[]),
        ["instance.toml:11: reporting.feed_buffer: must be 16 to 1048576"]
    );
    let text = format!("{MINIMAL}[reporting]\nwindow = \"10s\"\n");
    assert_eq!(
        problems(&text, &[]),
        ["instance.toml:11: reporting.window: must be 1m to 24h"]
    );
}

#[test]
fn a_key_is_blamed_for_its_own_value() {
    let text = MINIMAL.replace("url = \"postgres", "lease_ttl = \"0s\"\nurl = \"postgres");
    assert_eq!(
        problems(&text, &[]),
        ["instance.toml:7: database.lease_ttl: must be more than 0"]
    );
    let text = MINIMAL.replace("url = \"postgres", "lease_ttl = \"4s\"\nurl = \"postgres");
    // lease_renew is left at its default: the file has no line for it.
    assert_eq!(
        problems(&text, &[]),
        [
            "instance.toml: database.lease_renew: must be more than 0 and at most half of \
          database.lease_ttl (4s)"
        ]
    );
}

#[test]
fn a_missing_key_says_where_it_may_be_given() {
    let text = MINIMAL.replace("name = \"sales\"\n", "");
    assert_eq!(
        problems(&text, &[]),
        ["instance.toml: instance.name: required (in the file, or as IXS__INSTANCE__NAME)"]
    );
}

#[test]
fn a_syntax_error_has_its_line() {
    assert_eq!(
        problems(&MINIMAL.replace("[database]", "[database"), &[]),
        ["instance.toml:6: not valid TOML: invalid table header; expected `.`, `]`"]
    );
}

#[test]
fn validation_names_the_setting() {
    let (_dir, path) = file(&MINIMAL.replace(
        "http = \"127.0.0.1:7201\"",
        "http = \"0.0.0.0:7201\"\nadvertise = \"http://10.0.0.5:7201\"",
    ));
    let settings = Settings::load(&path, []).unwrap();
    let bound = "0.0.0.0:7201".parse().unwrap();
    assert_eq!(settings.listen.advertised(bound), "http://10.0.0.5:7201");
    let (_dir, path) = file(MINIMAL);
    let settings = Settings::load(&path, []).unwrap();
    let bound = "127.0.0.1:40123".parse().unwrap();
    assert_eq!(settings.listen.advertised(bound), "http://127.0.0.1:40123");

    let cases = [
        ("name = \"sales\"", "name = \"Sales Team\"", "instance.name"),
        (
            "url = \"postgres://postgres@127.0.0.1:5432/ixs_sales\"",
            "url = \"mysql://x\"",
            "database.url",
        ),
    ];
    for (from, to, key) in cases {
        let (_dir, path) = file(&MINIMAL.replace(from, to));
        let error = Settings::load(&path, []).unwrap_err().to_string();
        assert!(error.contains(key), "{key}: {error}");
    }
    for (listen, key) in [
        ("header_read_timeout = \"0s\"", "listen.header_read_timeout"),
        ("max_connections = 0", "listen.max_connections"),
        ("max_uri_bytes = 70000", "listen.max_uri_bytes"),
        ("max_header_bytes = 100", "listen.max_header_bytes"),
        ("max_headers = 0", "listen.max_headers"),
        ("advertise = \"10.0.0.5:7201\"", "listen.advertise"),
        ("advertise = \"ftp://10.0.0.5\"", "listen.advertise"),
    ] {
        let text = MINIMAL.replace(
            "http = \"127.0.0.1:7201\"",
            &format!("http = \"127.0.0.1:7201\"\n{listen}"),
        );
        let (_dir, path) = file(&text);
        let error = Settings::load(&path, []).unwrap_err().to_string();
        assert!(error.contains(key), "{key}: {error}");
    }
    assert_eq!(
        problems(
            &format!("{MINIMAL}\n[routing]\nmin_priority = 5\nmax_priority = 1\n"),
            &[]
        ),
        ["instance.toml:12: routing.min_priority: must not be above routing.max_priority (1)"]
    );
}

#[test]
fn the_database_password_is_never_described() {
    let (_dir, path) = file(&MINIMAL.replace("postgres@", "postgres:s3cret@"));
    let settings = Settings::load(&path, []).unwrap();
    assert!(!settings.database.describe().contains("s3cret"));
    assert!(!format!("{settings:?}").contains("s3cret"));
}

#[test]
fn secrets_are_never_part_of_a_message() {
    let text = ON_A_SERVER.replace(
        "secret_file = \"/etc/ixs/sales.secret\"",
        "secret = [\"s3cret\"]",
    );
    let found = problems(&text, &[]);
    assert_eq!(
        found,
        ["instance.toml:10: config_server.secret: must be a string in quotes"]
    );
    let found = problems(MINIMAL, &[("IXS__DATABASE__URL", "s3cret")]);
    assert_eq!(
        found,
        [
            "environment variable IXS__DATABASE__URL: database.url: must start with postgres:// \
          or postgresql://"
        ]
    );
}

#[test]
fn routing_timers_and_capacity_default_to_the_routers_own() {
    let (_dir, path) = file(MINIMAL);
    let routing = Settings::load(&path, []).unwrap().routing;
    assert_eq!(routing.delivery_timeout, Duration::from_secs(30));
    assert_eq!(routing.missed_offers_limit, 3);
    assert!(routing.after_work.is_empty());
    assert_eq!(routing.desktop_grace, Duration::from_secs(30));
    assert_eq!(routing.handling_timeout, Duration::from_secs(180 * 60));
    assert_eq!(routing.routing_timeout, Duration::from_secs(720 * 60));
    assert_eq!(routing.default_capacity, None);
}

#[test]
fn routing_timers_after_work_and_default_capacity_are_read() {
    let text = format!(
        "{MINIMAL}[routing]\ndelivery_timeout = \"20s\"\nmissed_offers_limit = 0\n\
         after_work = {{ email = \"30s\", chat = \"5s\" }}\ndesktop_grace = \"1m\"\n\
         handling_timeout = \"2h\"\nrouting_timeout = \"10m\"\n\
         default_capacity = {{ email = 1, chat = 3, total = 3 }}\n"
    );
    let (_dir, path) = file(&text);
    let routing = Settings::load(&path, []).unwrap().routing;
    assert_eq!(routing.delivery_timeout, Duration::from_secs(20));
    assert_eq!(routing.missed_offers_limit, 0);
    assert_eq!(
        routing.after_work,
        BTreeMap::from([
            ("chat".to_owned(), Duration::from_secs(5)),
            ("email".to_owned(), Duration::from_secs(30)),
        ])
    );
    assert_eq!(routing.desktop_grace, Duration::from_secs(60));
    assert_eq!(routing.handling_timeout, Duration::from_secs(7200));
    assert_eq!(routing.routing_timeout, Duration::from_secs(600));
    assert_eq!(
        routing.default_capacity,
        Some(CapacitySetting {
            media: BTreeMap::from([("chat".to_owned(), 3), ("email".to_owned(), 1)]),
            total: Some(3),
        })
    );
    // Each entry of the tables can come from the environment as well.
    let env = vars(&[
        ("IXS__ROUTING__AFTER_WORK__WORKITEM", "2m"),
        ("IXS__ROUTING__DEFAULT_CAPACITY__EMAIL", "2"),
        ("IXS__ROUTING__MISSED_OFFERS_LIMIT", "5"),
    ]);
    let routing = Settings::load(&path, env).unwrap().routing;
    assert_eq!(routing.after_work["workitem"], Duration::from_secs(120));
    assert_eq!(routing.after_work["email"], Duration::from_secs(30));
    assert_eq!(routing.default_capacity.unwrap().media["email"], 2);
    assert_eq!(routing.missed_offers_limit, 5);
}

#[test]
fn a_bad_routing_value_is_named_with_its_line() {
    let routing = |keys: &str| problems(&format!("{MINIMAL}[routing]\n{keys}\n"), &[]);
    assert_eq!(
        routing("delivery_timeout = \"500ms\""),
        ["instance.toml:11: routing.delivery_timeout: must be 1s to 365days"]
    );
    assert_eq!(
        routing("desktop_grace = \"0s\"\nhandling_timeout = \"0s\"\nrouting_timeout = \"400days\""),
        [
            "instance.toml:11: routing.desktop_grace: must be 1s to 365days",
            "instance.toml:12: routing.handling_timeout: must be 1s to 365days",
            "instance.toml:13: routing.routing_timeout: must be 1s to 365days",
        ]
    );
    assert_eq!(
        routing("delivery_timeout = \"-5s\""),
        [
            "instance.toml:11: routing.delivery_timeout: must be a duration such as \"10s\", \
             \"5m\", \"8h\" or \"30days\""
        ]
    );
    assert_eq!(
        routing("missed_offers_limit = -1"),
        [
            "instance.toml:11: routing.missed_offers_limit: must be a whole number from 0 to \
             4294967295"
        ]
    );
    // One entry of a table is blamed on its own line.
    assert_eq!(
        routing("[routing.after_work]\nemail = \"30s\"\nchat = \"soon\""),
        [
            "instance.toml:13: routing.after_work.chat: must be a duration such as \"10s\", \
             \"5m\", \"8h\" or \"30days\""
        ]
    );
    assert_eq!(
        routing("after_work = { email = \"400days\" }"),
        ["instance.toml:11: routing.after_work.email: must be at most 365days"]
    );
    assert_eq!(
        routing("after_work = \"30s\""),
        ["instance.toml:11: routing.after_work: must be a table"]
    );
}

#[test]
fn a_bad_default_capacity_is_named_with_its_line() {
    let routing = |keys: &str| problems(&format!("{MINIMAL}[routing]\n{keys}\n"), &[]);
    assert_eq!(
        routing("default_capacity = { email = -1 }"),
        [
            "instance.toml:11: routing.default_capacity.email: must be a whole number from 0 to \
             4294967295"
        ]
    );
    assert_eq!(
        routing("default_capacity = { email = 1, total = 0 }"),
        ["instance.toml:11: routing.default_capacity.total: must be at least 1"]
    );
    assert_eq!(
        routing("default_capacity = { total = 2 }"),
        [
            "instance.toml:11: routing.default_capacity: allows no media: list at least one, \
             e.g. { email = 1, chat = 2 }"
        ]
    );
    assert_eq!(
        routing("default_capacity = 1"),
        ["instance.toml:11: routing.default_capacity: must be a table"]
    );
    assert_eq!(
        problems(
            MINIMAL,
            &[
                ("IXS__ROUTING__DEFAULT_CAPACITY__EMAIL", "1"),
                ("IXS__ROUTING__DEFAULT_CAPACITY__TOTAL", "0"),
            ]
        ),
        [
            "environment variable IXS__ROUTING__DEFAULT_CAPACITY__TOTAL: \
             routing.default_capacity.total: must be at least 1"
        ]
    );
}
