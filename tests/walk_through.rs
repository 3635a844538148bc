//! The README's walk-through, its routing to an agent included, run by bash
//! exactly as written against the example tenant started as its units
//! start it (see `tests/units.rs`). Only the instances' addresses are
//! changed (they listen on port 0 here), and the second terminal's stream
//! runs in the background with its output kept in a file.

mod common;

use common::process::ExampleTenant;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

const README: &str = include_str!("../README.md");

/// The shell blocks of the README after the heading `heading`, in order,
/// up to the next heading of the same level or a higher one.
fn blocks_after(heading: &str) -> Vec<String> {
    let from = README
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("no heading {heading:?} in the README"));
    let level = heading.split(' ').next().unwrap().len();
    let rest = &README[from + heading.len() + 2..];
    // A heading of this level or a higher one ends it (a shell comment has
    // one `#`, a section at least two).
    let end = (2..=level)
        .filter_map(|hashes| rest.find(&format!("\n{} ", "#".repeat(hashes))))
        .min()
        .unwrap_or(rest.len());
    rest[..end]
        .split("```sh\n")
        .skip(1)
        .map(|block| block[..block.find("```").expect("a closed block")].to_owned())
        .collect()
}

/// How long the whole walk-through may take before it is taken as hung.
const PATIENCE: Duration = Duration::from_secs(120);

/// Runs `script` with bash in `dir`; its standard output, asserting that it
/// succeeded within [`PATIENCE`].
async fn bash(script: &str, dir: &Path) -> String {
    let run = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(PATIENCE, run)
        .await
        .unwrap_or_else(|_| panic!("the walk-through did not end within {PATIENCE:?}"))
        .expect("run bash");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    assert!(
        output.status.success(),
        "{}\n--- script ---\n{script}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        output.status
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readmes_walk_through_runs_as_written() {
    let tenant = ExampleTenant::launch().await;
    let sales = format!("http://{}", tenant.sales.addr);
    let support = format!("http://{}", tenant.support.addr);
    let here = |text: &str| {
        text.replace("http://127.0.0.1:7201", &sales)
            .replace("http://127.0.0.1:7202", &support)
    };

    let first = blocks_after("## A walk-through");
    let routing = blocks_after("### Routing to an agent");
    assert_eq!(
        routing.len(),
        3,
        "log-in, her stream, the routing: {routing:?}"
    );
    let (login, stream, rest) = (&routing[0], &routing[1], &routing[2]);
    assert!(
        stream.contains("ANNA=<the token printed above>"),
        "the second terminal is told to paste the token: {stream}"
    );
    // The second terminal: her token is already set, and its stream goes to
    // a file in the background, until the script ends.
    let stream = stream
        .lines()
        .filter(|line| !line.starts_with("ANNA="))
        .map(|line| {
            if line.starts_with("curl -N ") {
                format!("{line} > stream.txt 2> /dev/null &\nSTREAM=$!\ntrap 'kill $STREAM 2> /dev/null || true' EXIT")
            } else {
                line.to_owned()
            }
        })
        .map(|line| line + "\n")
        .collect::<String>();
    // The second terminal's stream is open (it starts with her state)
    // before the first terminal goes on.
    let opened = until("^event: state");
    let script = [
        marked(&here(&first[0])),
        "echo; echo '=== Routing'\n".to_owned(),
        marked(&here(login)),
        here(&stream),
        opened,
        marked(&here(rest)),
        // The second terminal has shown the offer by the end.
        until("^event: offer"),
    ]
    .concat();
    let scratch = tempfile::tempdir().expect("a scratch folder");
    let out = bash(&script, scratch.path()).await;
    let shown = std::fs::read_to_string(scratch.path().join("stream.txt")).expect("the stream");
    let part = |comment: &str| -> Vec<Value> {
        let from = out
            .find(&format!("=== {comment}"))
            .unwrap_or_else(|| panic!("no part {comment:?} in:\n{out}"));
        let text = &out[from..];
        let text = &text[text.find('\n').map_or(text.len(), |i| i + 1)..];
        let text = &text[..text.find("\n=== ").unwrap_or(text.len())];
        serde_json::Deserializer::from_str(text.trim())
            .into_iter::<Value>()
            .map(|value| value.unwrap_or_else(|e| panic!("{comment}: {e} in {text}")))
            .collect()
    };

    // The first part's refusals are the ones it announces.
    let codes = |comment: &str| -> Vec<Value> {
        part(comment)
            .iter()
            .map(|answer| answer["error"]["code"].clone())
            .collect()
    };
    assert_eq!(codes("Stopping it twice"), [json!("illegal_transition")]);
    assert_eq!(
        codes("The support instance refuses"),
        [json!("out_of_scope")]
    );
    assert_eq!(codes("... and the sales token"), [json!("unauthorized")]);

    // She logged in, not ready; the token printed is a string.
    let routing = &out[out.find("=== Routing").expect("the routing part")..];
    assert!(!routing.contains(r#""error""#), "refused: {routing}");
    let accepted = part("She accepts it");
    assert_eq!(accepted.len(), 2, "{accepted:?}");
    assert_eq!(accepted[0]["state"], "handling", "{}", accepted[0]);
    assert_eq!(accepted[0]["agent"], "anna", "{}", accepted[0]);
    let id = accepted[0]["id"].as_str().expect("its id").to_owned();
    assert_eq!(accepted[1]["media"]["email"]["load"], 1, "{}", accepted[1]);
    let stopped = part("She is done with it");
    assert_eq!(stopped[0]["state"], "stopped", "{}", stopped[0]);

    // Her desktop was offered the e-mail, with a deadline, before she
    // accepted it.
    let offer = shown
        .split("\n\n")
        .find(|event| event.starts_with("event: offer"))
        .unwrap_or_else(|| panic!("no offer on her stream:\n{shown}"));
    let data: Value = serde_json::from_str(
        offer
            .lines()
            .find_map(|line| line.strip_prefix("data: "))
            .expect("its data"),
    )
    .expect("JSON data");
    assert_eq!(data["interaction"]["id"], id.as_str(), "{data}");
    assert!(data["deadline"].is_string(), "{data}");

    // Why it went to her, and who would get the next one from c-42.
    let explained = part("Why it went to her");
    let decisions = explained[0]["decisions"].as_array().expect("decisions");
    assert_eq!(
        decisions.last().expect("a decision")["chosen"],
        "anna",
        "{}",
        explained[0]
    );
    let dry_run = part("her, by step 1 of skilled-first");
    assert_eq!(dry_run[0]["agent"], "anna", "{}", dry_run[0]);
    let decision = &dry_run[0]["decisions"][0];
    assert_eq!(decision["chosen"], "anna", "{}", dry_run[0]);
    assert_eq!(decision["step"], 1, "{}", dry_run[0]);
    assert_eq!(decision["strategy"], "skilled-first", "{}", dry_run[0]);
    assert_eq!(decision["select"], "last_agent", "{}", dry_run[0]);
    drop(tenant);
}

/// `block` with a line before the output of each commented step saying
/// which it is: `=== <the comment>`.
fn marked(block: &str) -> String {
    block
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(comment) => format!("{line}\necho; echo '=== {}'\n", comment.replace('\'', "")),
            None => format!("{line}\n"),
        })
        .collect()
}

/// Bash lines that wait (ten seconds at most) until the second terminal's
/// stream shows a line matching `pattern`, and fail if it does not.
fn until(pattern: &str) -> String {
    format!(
        "for _ in $(seq 1 200); do grep -q '{pattern}' stream.txt 2>/dev/null && break; \
         sleep 0.05; done\ngrep -q '{pattern}' stream.txt\n"
    )
}
