//! Every kind of load error names its file, line, column, object and reason.

use super::*;
use crate::directory::hash_secret;

/// A valid base every case adds one file to.
const BASE: &str = r#"
[tenant]
name = "t"

[folder.f]

[media_type.email]

[capacity_rule.c]
media = { email = 1 }

[person.p1]

[access_group.g1]
members = ["p1"]
"#;

/// Loads BASE plus `text` as `x.toml` (a leading newline is dropped, so that
/// line 1 is the line after `r#"`), and returns the single problem.
fn problem(text: &str) -> Problem {
    let problems = problems(text);
    assert_eq!(problems.len(), 1, "expected one problem, got {problems:#?}");
    problems.into_iter().next().unwrap()
}

fn problems(text: &str) -> Vec<Problem> {
    let text = text.strip_prefix('\n').unwrap_or(text);
    match Directory::from_sources(&[("base.toml", BASE), ("x.toml", text)]) {
        Ok(_) => panic!("x.toml should be refused:\n{text}"),
        Err(LoadError::Invalid { problems }) => problems,
        Err(other) => panic!("unexpected error {other}"),
    }
}

/// Asserts file `x.toml`, the line (and column when given), the object and a
/// part of the reason, both in the fields and in the displayed message.
#[track_caller]
fn assert_problem(
    p: &Problem,
    line: usize,
    column: Option<usize>,
    object: Option<&str>,
    reason: &str,
) {
    let shown = p.to_string();
    assert_eq!(p.file, "x.toml", "{shown}");
    assert_eq!(p.line, Some(line), "{shown}");
    if let Some(column) = column {
        assert_eq!(p.column, Some(column), "{shown}");
    }
    assert_eq!(p.object.as_deref(), object, "{shown}");
    assert!(
        p.reason.contains(reason),
        "{shown}\nshould contain: {reason}"
    );
    assert!(shown.starts_with(&format!("x.toml:{line}:")), "{shown}");
    if let Some(object) = object {
        assert!(shown.contains(&format!(": {object}: ")), "{shown}");
    }
}

const PROCESS: &str = r#"
[process.p.queue.q]
[process.p.queue.q.view.v]
strategy = "s"
[process.p.strategy.s]
step = [{ target = "true", timeout = "30s" }]
on_exhausted = { place_in_queue = "q" }
"#;

#[test]
fn base_and_process_are_valid() {
    let dir = Directory::from_sources(&[("base.toml", BASE), ("x.toml", PROCESS)]).unwrap();
    let view = &dir.processes["p"].queues["q"].views["v"];
    assert_eq!(view.condition, "true");
    assert!(view.enabled);
    assert_eq!(view.order, crate::directory::order::default_order());
    assert_eq!(
        view.dispatch,
        crate::directory::Dispatch::Strategy("s".into())
    );
}

// --- What the TOML parser finds ---------------------------------------------

#[test]
fn syntax_error() {
    let p = problem("[person.p2]\ndescription = \"unterminated\n");
    // The string runs to the end of the line, where the parser gives up.
    assert_problem(&p, 2, Some(28), None, "invalid basic string");
}

#[test]
fn unknown_key() {
    let p = problem(
        r#"
[process.p.queue.q.view.v]
order = "id"
ordre = "id"
"#,
    );
    assert_problem(
        &p,
        3,
        Some(1),
        Some("business process 'p', queue 'q', view 'v'"),
        "unknown field `ordre`",
    );
}

#[test]
fn unknown_key_in_a_table_header() {
    let p = problem("[process.p.queu.q]\n");
    assert_problem(
        &p,
        1,
        Some(12),
        Some("business process 'p'"),
        "unknown field `queu`",
    );
}

#[test]
fn unknown_top_level_table() {
    let p = problem("\n[persons.p2]\n");
    assert_problem(&p, 1, Some(2), None, "unknown field `persons`");
    assert!(
        p.to_string()
            .starts_with("x.toml:1:2: unknown field `persons`"),
        "{p}"
    );
}

#[test]
fn wrong_type() {
    let p = problem("[person.p2]\n\ndescription = 5\n");
    assert_problem(
        &p,
        3,
        Some(15),
        Some("person 'p2'"),
        "description: invalid type: integer `5`",
    );
}

#[test]
fn unknown_enum_value() {
    let p = problem(
        r#"
[process.p.strategy.s]
on_exhausted = { stop = "x" }
step = [
  { target = "true", timeout = "1s" },
  { target = "true", timeout = "1s", select = "fastest" },
]
"#,
    );
    assert_problem(
        &p,
        5,
        Some(47),
        Some("business process 'p', strategy 's', step 2"),
        "select: unknown variant `fastest`",
    );
}

#[test]
fn missing_key() {
    let p = problem("[application.a]\nsecret_hash = \"x\"\n");
    assert_problem(
        &p,
        1,
        Some(1),
        Some("application 'a'"),
        "missing field `kind`",
    );
}

#[test]
fn unknown_permission() {
    let p = problem("[folder.f2]\ngrant = [{ group = \"g1\", permissions = [\"write\"] }]\n");
    assert_problem(&p, 2, None, Some("folder 'f2'"), "unknown variant `write`");
}

#[test]
fn parse_errors_of_several_files_are_all_reported() {
    let err =
        Directory::from_sources(&[("a.toml", "[tenant\n"), ("b.toml", "x = 1\n")]).unwrap_err();
    let files: Vec<&str> = err.problems().iter().map(|p| p.file.as_str()).collect();
    assert_eq!(files, ["a.toml", "b.toml"]);
}

#[test]
fn a_file_that_does_not_parse_hides_nothing_of_the_others() {
    let err = Directory::from_sources(&[
        (
            "a.toml",
            "[tenant]\nname = \"t\"\n[capacity_rule.c]\nmedia = {}\n",
        ),
        ("b.toml", "[process.p\n"),
        // Its reference to a group may be to one of b.toml: not reported.
        (
            "c.toml",
            "[person.p1]\nagent = { skills = { x = 11 } }\n\
             [folder.f]\ngrant = [{ group = \"maybe-in-b\", permissions = [\"read\"] }]\n",
        ),
    ])
    .unwrap_err();
    let shown: Vec<String> = err.problems().iter().map(Problem::to_string).collect();
    assert_eq!(
        shown,
        [
            "a.toml:3:1: capacity rule 'c': allows no media: list at least one under `media`",
            "b.toml:1:11: invalid table header; expected `.`, `]`",
            "c.toml:2:26: person 'p1': agent.skills.x: level 11 is out of range 0..=10",
        ]
    );
}

// --- Names and duplicates ----------------------------------------------------

#[test]
fn invalid_name() {
    let p = problem("[person.\"anna smith\"]\n");
    assert_problem(
        &p,
        1,
        None,
        Some("person 'anna smith'"),
        "invalid name 'anna smith'",
    );
}

#[test]
fn duplicate_object_across_files() {
    let p = problem("[person.p1]\ndescription = \"again\"\n");
    assert_problem(
        &p,
        1,
        None,
        Some("person 'p1'"),
        "is already defined at base.toml:12",
    );
}

#[test]
fn duplicate_tenant() {
    let p = problem("[tenant]\nname = \"other\"\n");
    assert_problem(
        &p,
        1,
        None,
        Some("tenant"),
        "already defined at base.toml:2",
    );
}

#[test]
fn missing_tenant() {
    let err = Directory::from_sources(&[("a.toml", "[person.p]\n")]).unwrap_err();
    let p = &err.problems()[0];
    assert_eq!(p.file, "a.toml");
    assert!(p.reason.contains("no file defines the tenant"), "{p}");
}

#[test]
fn unknown_folder() {
    let p = problem("[media_type.chat]\nfolder = \"nope\"\n");
    assert_problem(
        &p,
        2,
        Some(10),
        Some("media type 'chat'"),
        "folder: folder 'nope' does not exist",
    );
}

// --- Grants ------------------------------------------------------------------

#[test]
fn grant_to_unknown_group_or_person() {
    let ps = problems(
        r#"
[folder.f2]
grant = [
  { group = "nope", permissions = ["read"] },
  { person = "nobody", permissions = ["read"] },
]
"#,
    );
    assert_eq!(ps.len(), 2, "{ps:#?}");
    assert_problem(
        &ps[0],
        3,
        Some(13),
        Some("folder 'f2'"),
        "grant[0].group: access group 'nope' does not exist",
    );
    assert_problem(
        &ps[1],
        4,
        Some(14),
        Some("folder 'f2'"),
        "grant[1].person: person 'nobody' does not exist",
    );
}

#[test]
fn grant_to_both_or_neither() {
    let ps = problems(
        r#"
[process.p]
grant = [
  { group = "g1", person = "p1", permissions = ["read"] },
  { permissions = ["read"] },
]
"#,
    );
    assert_eq!(ps.len(), 2, "{ps:#?}");
    assert_problem(
        &ps[0],
        3,
        Some(3),
        Some("business process 'p'"),
        "grant[0]: names both a group and a person",
    );
    assert_problem(
        &ps[1],
        4,
        Some(3),
        Some("business process 'p'"),
        "grant[1]: names no grantee",
    );
}

#[test]
fn grant_without_permissions() {
    let p = problem("[folder.f2]\ngrant = [{ group = \"g1\", permissions = [] }]\n");
    assert_problem(
        &p,
        2,
        Some(40),
        Some("folder 'f2'"),
        "grant[0].permissions: grants no permission",
    );
}

// --- Persons, groups, applications --------------------------------------------

#[test]
fn password_hash_that_is_not_argon2() {
    let p = problem("[person.p2]\npassword_hash = \"demo\"\n");
    assert_problem(
        &p,
        2,
        Some(17),
        Some("person 'p2'"),
        "password_hash: not a PHC string",
    );
}

#[test]
fn secret_hash_that_is_not_argon2() {
    let text = "[application.a]\nkind = \"interaction-server\"\nsecret_hash = \"$5$rounds=5000$salt$hash\"\n";
    let p = problem(text);
    assert_problem(&p, 3, Some(15), Some("application 'a'"), "secret_hash:");
}

#[test]
fn skill_level_out_of_range() {
    let p = problem("[person.p2]\nagent = { skills = { english = 11 } }\n");
    assert_problem(
        &p,
        2,
        Some(32),
        Some("person 'p2'"),
        "agent.skills.english: level 11 is out of range 0..=10",
    );
    let p = problem("[person.p2]\nagent = { skills = { english = -1 } }\n");
    assert!(p.reason.contains("level -1 is out of range"), "{p}");
}

#[test]
fn invalid_skill_name() {
    let p = problem("[person.p2]\nagent = { skills = { \"sales-de\" = 3 } }\n");
    assert_problem(
        &p,
        2,
        None,
        Some("person 'p2'"),
        "invalid skill name 'sales-de'",
    );
}

#[test]
fn unknown_capacity_rule() {
    let p = problem("[person.p2]\n[person.p2.agent]\ncapacity_rule = \"huge\"\n");
    assert_problem(
        &p,
        3,
        Some(17),
        Some("person 'p2'"),
        "agent.capacity_rule: capacity rule 'huge' does not exist",
    );
}

#[test]
fn unknown_group_member() {
    let p = problem("[access_group.g2]\nmembers = [\"p1\", \"zed\"]\n");
    assert_problem(
        &p,
        2,
        Some(18),
        Some("access group 'g2'"),
        "members[1]: person 'zed' does not exist",
    );
}

#[test]
fn group_member_listed_twice() {
    let p = problem("[access_group.g2]\nmembers = [\"p1\", \"p1\"]\n");
    assert_problem(
        &p,
        2,
        Some(18),
        Some("access group 'g2'"),
        "person 'p1' is listed twice",
    );
}

#[test]
fn unknown_log_on_as() {
    let hash = hash_secret("s");
    let text = format!(
        "[application.a]\nkind = \"interaction-server\"\nsecret_hash = \"{hash}\"\nlog_on_as = \"ghost\"\n"
    );
    let p = problem(&text);
    assert_problem(
        &p,
        4,
        Some(13),
        Some("application 'a'"),
        "log_on_as: person 'ghost' does not exist",
    );
}

// --- Media types and capacity rules --------------------------------------------

#[test]
fn capacity_rule_for_unknown_media() {
    let p = problem("[capacity_rule.c2]\nmedia = { email = 1, fax = 2 }\n");
    assert_problem(
        &p,
        2,
        Some(28),
        Some("capacity rule 'c2'"),
        "media.fax: media type 'fax' does not exist",
    );
}

#[test]
fn capacity_rule_without_media_or_total() {
    let p = problem("[capacity_rule.c2]\ntotal = 3\n");
    assert_problem(&p, 1, None, Some("capacity rule 'c2'"), "allows no media");
    let p = problem("[capacity_rule.c2]\nmedia = { email = 1 }\ntotal = 0\n");
    assert_problem(
        &p,
        3,
        Some(9),
        Some("capacity rule 'c2'"),
        "total: must be at least 1",
    );
}

// --- Views ---------------------------------------------------------------------

#[test]
fn unknown_order_field_points_inside_the_string() {
    let p = problem(
        r#"
[process.p.queue.q.view.all]
order = "priority desc, prio asc"
"#,
    );
    assert_problem(
        &p,
        2,
        Some(25),
        Some("business process 'p', queue 'q', view 'all'"),
        "order: unknown order field 'prio'",
    );
    assert!(p.to_string().starts_with(
        "x.toml:2:25: business process 'p', queue 'q', view 'all': order: unknown order field 'prio'"
    ));
}

#[test]
fn invalid_view_condition_points_inside_the_string() {
    let p = problem("[process.p.queue.q.view.v]\ncondition = \"priority >= and x\"\n");
    assert_problem(
        &p,
        2,
        Some(26),
        Some("business process 'p', queue 'q', view 'v'"),
        "condition: invalid expression",
    );
}

#[test]
fn a_view_condition_cannot_read_the_agent() {
    let p = problem("[process.p.queue.q.view.v]\ncondition = \"agent.skills.x > 1\"\n");
    assert_problem(
        &p,
        2,
        Some(13),
        Some("business process 'p', queue 'q', view 'v'"),
        "cannot read 'agent.skills.x'",
    );
}

#[test]
fn bad_order_direction_and_repeated_field() {
    let p = problem("[process.p.queue.q.view.v]\norder = \"priority down\"\n");
    assert_problem(
        &p,
        2,
        Some(19),
        Some("business process 'p', queue 'q', view 'v'"),
        "unknown order direction 'down'",
    );
    let p = problem("[process.p.queue.q.view.v]\norder = \"id, id desc\"\n");
    assert_problem(
        &p,
        2,
        Some(14),
        Some("business process 'p', queue 'q', view 'v'"),
        "appears twice",
    );
}

#[test]
fn a_views_aging_is_points_per_duration() {
    let text = PROCESS.replacen(
        "strategy = \"s\"\n",
        "strategy = \"s\"\naging = \"1/10s\"\n",
        1,
    );
    let dir = Directory::from_sources(&[("base.toml", BASE), ("x.toml", &text)]).unwrap();
    let aging = dir.processes["p"].queues["q"].views["v"].aging.unwrap();
    assert_eq!((aging.points, aging.per.as_duration().as_secs()), (1, 10));
    // Without the key, none.
    let dir = Directory::from_sources(&[("base.toml", BASE), ("x.toml", PROCESS)]).unwrap();
    assert_eq!(dir.processes["p"].queues["q"].views["v"].aging, None);
}

#[test]
fn bad_aging_names_the_view_and_the_key() {
    for (aging, reason) in [
        (
            "10s",
            "aging: invalid aging '10s': expected <points>/<duration>",
        ),
        (
            "0/10s",
            "aging: invalid aging '0/10s': the points before '/' must be a whole number from 1",
        ),
        (
            "1/0s",
            "aging: invalid aging '1/0s': duration '0s' must be longer than zero",
        ),
        (
            "1/10 s",
            "aging: invalid aging '1/10 s': invalid duration '10 s'",
        ),
    ] {
        let p = problem(&format!(
            "[process.p.queue.q.view.v]\naging = \"{aging}\"\n"
        ));
        assert_problem(
            &p,
            2,
            Some(9),
            Some("business process 'p', queue 'q', view 'v'"),
            reason,
        );
    }
    let p = problem("[process.p.queue.q.view.v]\naging = 1\n");
    assert_problem(
        &p,
        2,
        Some(9),
        Some("business process 'p', queue 'q', view 'v'"),
        "aging: invalid type: integer `1`, expected a string",
    );
}

#[test]
fn empty_condition() {
    let p = problem("[process.p.queue.q.view.v]\ncondition = \" \"\n");
    assert_problem(
        &p,
        2,
        Some(13),
        Some("business process 'p', queue 'q', view 'v'"),
        "condition: is empty",
    );
}

#[test]
fn view_with_unknown_strategy() {
    let p = problem("[process.p.queue.q.view.v]\nstrategy = \"nope\"\n");
    assert_problem(
        &p,
        2,
        Some(12),
        Some("business process 'p', queue 'q', view 'v'"),
        "strategy: strategy 'nope' does not exist in this business process",
    );
}

#[test]
fn strategy_of_another_process_is_unknown() {
    let ps = problems(&format!(
        "{PROCESS}\n[process.p2.queue.q.view.v]\nstrategy = \"s\"\n"
    ));
    assert_eq!(ps.len(), 1, "{ps:#?}");
    assert_problem(
        &ps[0],
        9,
        None,
        Some("business process 'p2', queue 'q', view 'v'"),
        "strategy 's' does not exist",
    );
}

#[test]
fn view_with_strategy_and_pull() {
    let text = PROCESS.replacen("strategy = \"s\"\n", "strategy = \"s\"\npull = true\n", 1);
    let ps = problems(&text);
    assert!(
        ps.iter()
            .any(|p| p.line == Some(2) && p.reason.contains("both `strategy` and `pull = true`")),
        "{ps:#?}"
    );
}

#[test]
fn pull_view_and_snapshot_view() {
    let text = "[process.p.queue.q.view.pulled]\npull = true\n[process.p.queue.q.view.watch]\nenabled = false\n";
    let dir = Directory::from_sources(&[("base.toml", BASE), ("x.toml", text)]).unwrap();
    let views = &dir.processes["p"].queues["q"].views;
    assert_eq!(views["pulled"].dispatch, crate::directory::Dispatch::Pull);
    assert_eq!(
        views["watch"].dispatch,
        crate::directory::Dispatch::SnapshotOnly
    );
    assert!(!views["watch"].enabled);
}

// --- Strategies ----------------------------------------------------------------

#[test]
fn strategy_without_steps() {
    let p = problem("[process.p.strategy.s]\non_exhausted = { stop = \"none\" }\n");
    assert_problem(
        &p,
        1,
        None,
        Some("business process 'p', strategy 's'"),
        "has no step",
    );
}

#[test]
fn bad_timeout() {
    let p = problem(
        r#"
[process.p.strategy.s]
on_exhausted = { stop = "none" }
[[process.p.strategy.s.step]]
target = "true"
timeout = "30 seconds"
"#,
    );
    assert_problem(
        &p,
        5,
        Some(11),
        Some("business process 'p', strategy 's', step 1"),
        "timeout: invalid duration '30 seconds'",
    );
}

#[test]
fn empty_target() {
    let p = problem(
        "[process.p.strategy.s]\non_exhausted = { stop = \"none\" }\nstep = [{ target = \"\", timeout = \"1s\" }]\n",
    );
    assert_problem(
        &p,
        3,
        Some(20),
        Some("business process 'p', strategy 's', step 1"),
        "target: is empty",
    );
}

#[test]
fn on_exhausted_to_unknown_queue() {
    let text = PROCESS.replace("place_in_queue = \"q\"", "place_in_queue = \"overflow\"");
    let p = problem(&text);
    assert_problem(
        &p,
        6,
        Some(35),
        Some("business process 'p', strategy 's'"),
        "on_exhausted.place_in_queue: queue 'overflow' does not exist in this business process",
    );
}

#[test]
fn on_exhausted_with_both_neither_or_no_reason() {
    let both = PROCESS.replace(
        "place_in_queue = \"q\"",
        "place_in_queue = \"q\", stop = \"x\"",
    );
    assert_problem(
        &problem(&both),
        6,
        Some(16),
        Some("business process 'p', strategy 's'"),
        "on_exhausted: has both",
    );
    let neither = PROCESS.replace("place_in_queue = \"q\"", "");
    assert_problem(
        &problem(&neither),
        6,
        Some(16),
        Some("business process 'p', strategy 's'"),
        "on_exhausted: says nothing",
    );
    let no_reason = PROCESS.replace("place_in_queue = \"q\"", "stop = \"\"");
    assert_problem(
        &problem(&no_reason),
        6,
        Some(25),
        Some("business process 'p', strategy 's'"),
        "on_exhausted.stop: needs a reason",
    );
}

// --- Workbins --------------------------------------------------------------------

#[test]
fn workbin_with_unknown_owner() {
    let p = problem("[process.p.workbin.w]\nowner = \"place\"\n");
    assert_problem(
        &p,
        2,
        Some(9),
        Some("business process 'p', workbin 'w'"),
        "owner: unknown variant `place`",
    );
}

// --- All problems at once ----------------------------------------------------------

#[test]
fn every_problem_is_reported_in_line_order() {
    let ps = problems(
        r#"
[access_group.g2]
members = ["ghost"]

[person.p2]
agent = { capacity_rule = "none", skills = { english = 99 } }
"#,
    );
    let lines: Vec<Option<usize>> = ps.iter().map(|p| p.line).collect();
    assert_eq!(lines, [Some(2), Some(5), Some(5)], "{ps:#?}");
    let err = LoadError::Invalid { problems: ps };
    assert_eq!(err.to_string().lines().count(), 3);
}

// --- Files -------------------------------------------------------------------------

/// A scratch directory removed on drop.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("ixs-directory-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.0.join(name), text).unwrap();
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn load_reads_toml_files_in_name_order_and_skips_the_rest() {
    let scratch = Scratch::new("order");
    scratch.write("a.toml", BASE);
    scratch.write("b.toml", "[person.p2]\n");
    scratch.write(".#b.toml", "this is an editor lock file");
    scratch.write("notes.txt", "not configuration");
    std::fs::create_dir(scratch.0.join("old.toml")).unwrap();
    let dir = Directory::load(&scratch.0).unwrap();
    assert!(dir.persons.contains_key("p2"));

    // The later file is the one that defines the duplicate.
    scratch.write("c.toml", "[person.p2]\n");
    let err = Directory::load(&scratch.0).unwrap_err();
    let p = &err.problems()[0];
    assert!(p.file.ends_with("c.toml"), "{p}");
    assert!(p.reason.contains("b.toml:1"), "{p}");
}

#[test]
fn load_of_an_empty_or_missing_directory() {
    let scratch = Scratch::new("empty");
    let err = Directory::load(&scratch.0).unwrap_err();
    assert!(err.to_string().contains("no *.toml file"), "{err}");
    scratch.write("people.toml", "[person.p]\n");
    let err = Directory::load(&scratch.0).unwrap_err();
    let p = &err.problems()[0];
    assert_eq!(
        p.file,
        scratch.0.display().to_string(),
        "the directory lacks the tenant"
    );
    assert!(p.reason.contains("no file defines the tenant"), "{p}");
    let err = Directory::load(&scratch.0.join("missing")).unwrap_err();
    assert!(matches!(err, LoadError::Read { .. }), "{err}");
}

#[test]
fn a_queues_service_level_is_a_duration_sixty_seconds_by_default() {
    let text = PROCESS.replacen(
        "[process.p.queue.q]\n",
        "[process.p.queue.q]\nservice_level = \"20s\"\n",
        1,
    );
    assert_ne!(text, PROCESS, "the fixture has a queue table");
    let dir = Directory::from_sources(&[("base.toml", BASE), ("x.toml", &text)]).unwrap();
    let queue = &dir.processes["p"].queues["q"];
    assert_eq!(queue.service_level().as_secs(), 20);
    let dir = Directory::from_sources(&[("base.toml", BASE), ("x.toml", PROCESS)]).unwrap();
    let queue = &dir.processes["p"].queues["q"];
    assert_eq!(queue.service_level, None);
    assert_eq!(queue.service_level().as_secs(), 60);
}

#[test]
fn a_bad_service_level_names_the_queue_and_the_key() {
    for (value, reason) in [
        (
            "\"soon\"",
            "service_level: invalid duration 'soon': expected e.g. '30s', '5m', '2h' or '1h30m'",
        ),
        (
            "\"0s\"",
            "service_level: duration '0s' must be longer than zero",
        ),
        (
            "60",
            "service_level: invalid type: integer `60`, expected a string",
        ),
    ] {
        let p = problem(&format!("[process.p.queue.q]\nservice_level = {value}\n"));
        assert_problem(
            &p,
            2,
            Some(17),
            Some("business process 'p', queue 'q'"),
            reason,
        );
    }
}
