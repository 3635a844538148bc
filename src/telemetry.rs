//! Logging set-up and helpers shared by every module that logs.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the process's log subscriber: `RUST_LOG`-style `filter`
/// (default `info`), text or JSON lines on stderr; colours only when stderr
/// is a terminal, so that a journal or a file gets plain text.
pub fn init(filter: Option<&str>, json: bool) {
    let filter = EnvFilter::try_new(filter.unwrap_or("info,sqlx=warn"))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// An error with its causes, for logs.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        // Some errors repeat their cause in their own message.
        let said = cause.to_string();
        if !text.ends_with(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}
