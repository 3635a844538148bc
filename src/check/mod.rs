//! The operator's checks, run without starting anything: `ixs check-config`
//! for an instance, `ixs config-server --check` and `ixs check-tenant` for
//! the configuration server and the tenant's files.
//!
//! Each check is one line, `✓ what: detail` or `✗ what: why`; a check that
//! depends on a failed one is not run. The commands exit non-zero when any
//! check failed.

mod instance;
mod served;
mod tenant;

pub use instance::instance;
pub use tenant::{config_server, tenant_files};

use std::fmt;

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub passed: bool,
    /// What was checked: `settings`, `database`, `log-in`…
    pub what: &'static str,
    pub detail: String,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = if self.passed { '✓' } else { '✗' };
        write!(f, "{mark} {}: {}", self.what, self.detail)
    }
}

/// Every check's outcome, in the order they ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn pass(&mut self, what: &'static str, detail: impl Into<String>) {
        self.checks.push(Check {
            passed: true,
            what,
            detail: detail.into(),
        });
    }

    pub fn fail(&mut self, what: &'static str, detail: impl Into<String>) {
        self.checks.push(Check {
            passed: false,
            what,
            detail: detail.into(),
        });
    }

    /// Records `outcome`; true if it passed.
    fn record(&mut self, what: &'static str, outcome: Result<String, String>) -> bool {
        match outcome {
            Ok(detail) => {
                self.pass(what, detail);
                true
            }
            Err(detail) => {
                self.fail(what, detail);
                false
            }
        }
    }

    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for check in &self.checks {
            writeln!(f, "{check}")?;
        }
        Ok(())
    }
}

/// `a, b, c`.
fn list<'a>(names: impl IntoIterator<Item = &'a String>) -> String {
    names
        .into_iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}
