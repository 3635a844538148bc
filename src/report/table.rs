//! The text table of `ixs stats`.

use super::InstanceReport;
use serde_json::Value;
use std::fmt::Write;

/// One block per instance: a heading line, then its queues and its agents,
/// or why it is down.
pub fn render(reports: &[InstanceReport]) -> String {
    let mut out = String::new();
    if reports.is_empty() {
        out.push_str("no instance is listed to this person\n");
    }
    for report in reports {
        let follows = match report.connected {
            Some(true) => ", following the configuration server",
            Some(false) => ", not following the configuration server",
            None => "",
        };
        let stats = match &report.stats {
            Ok(stats) => stats,
            Err(why) => {
                let _ = writeln!(
                    out,
                    "{} {}{follows}: DOWN ({why})\n",
                    report.instance, report.address
                );
                continue;
            }
        };
        let window = stats["window_secs"].as_i64().unwrap_or_default() / 60;
        let _ = writeln!(
            out,
            "{} {}{follows}: up, last {window} min",
            report.instance, report.address
        );
        let _ = writeln!(
            out,
            "  {:<28} {:>6} {:>8} {:>7} {:>7} {:>8} {:>9} {:>7} {:>8} {:>6}",
            "queue",
            "depth",
            "oldest",
            "entered",
            "offered",
            "accepted",
            "abandoned",
            "stopped",
            "wait avg",
            "SL"
        );
        for queue in stats["queues"].as_array().into_iter().flatten() {
            let name = format!("{}/{}", text(&queue["process"]), text(&queue["queue"]));
            let _ = writeln!(
                out,
                "  {:<28} {:>6} {:>7}s {:>7} {:>7} {:>8} {:>9} {:>7} {:>8} {:>6}",
                name,
                count(&queue["depth"]),
                count(&queue["oldest_age_secs"]),
                count(&queue["entered"]),
                count(&queue["offered"]),
                count(&queue["accepted"]),
                count(&queue["abandoned"]),
                count(&queue["stopped"]),
                seconds(&queue["wait_avg_secs"]),
                share(&queue["service_level"]),
            );
        }
        let _ = writeln!(
            out,
            "  {:<16} {:<24} {:>9} {:>7} {:>6} {:>9}",
            "agent", "ready", "load", "handled", "missed", "occupancy"
        );
        for agent in stats["agents"].as_array().into_iter().flatten() {
            let ready: Vec<&str> = agent["media"]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(_, m)| m["ready"] == true)
                .map(|(media, _)| media.as_str())
                .collect();
            let ready = match (agent["logged_in"].as_bool(), ready.is_empty()) {
                (Some(false), _) => "logged out".to_owned(),
                (_, true) => "not ready".to_owned(),
                (_, false) => ready.join(","),
            };
            let load = format!("{}/{}", count(&agent["load"]), count(&agent["capacity"]));
            let _ = writeln!(
                out,
                "  {:<16} {:<24} {:>9} {:>7} {:>6} {:>9}",
                text(&agent["name"]),
                ready,
                load,
                count(&agent["handled"]),
                count(&agent["missed"]),
                share(&agent["occupancy"]),
            );
        }
        out.push('\n');
    }
    out
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("?")
}

fn count(value: &Value) -> String {
    value
        .as_u64()
        .map_or_else(|| "-".to_owned(), |n| n.to_string())
}

fn seconds(value: &Value) -> String {
    value
        .as_f64()
        .map_or_else(|| "-".to_owned(), |s| format!("{s:.1}s"))
}

fn share(value: &Value) -> String {
    value
        .as_f64()
        .map_or_else(|| "-".to_owned(), |s| format!("{:.0}%", s * 100.0))
}
