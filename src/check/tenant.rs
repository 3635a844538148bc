//! `ixs config-server --check` and `ixs check-tenant`: the configuration
//! server's settings and the tenant's files, loaded as the server would load
//! them, every problem of every file reported at once.

use super::Report;
use crate::config_server::Settings;
use crate::directory::Directory;
use std::path::Path;

/// Checks the configuration server's settings in `path` (with the
/// `IXS__…` variables of `env` over it) and the tenant's files they name.
pub fn config_server(path: &Path, env: impl IntoIterator<Item = (String, String)>) -> Report {
    let mut report = Report::default();
    match Settings::load(path, env) {
        Ok(settings) => {
            report.pass(
                "settings",
                format!(
                    "{} (tenant files in {}, listens on {})",
                    path.display(),
                    settings.directory.path.display(),
                    settings.listen.http
                ),
            );
            tenant(&mut report, &settings.directory.path);
        }
        Err(error) => {
            for problem in error.problems {
                report.fail("settings", problem.to_string());
            }
        }
    }
    report
}

/// Checks the tenant's files in `dir`.
pub fn tenant_files(dir: &Path) -> Report {
    let mut report = Report::default();
    tenant(&mut report, dir);
    report
}

fn tenant(report: &mut Report, dir: &Path) {
    match Directory::load(dir) {
        Ok(directory) => {
            let count = |n: usize, one: &str, many: &str| {
                format!("{n} {}", if n == 1 { one } else { many })
            };
            report.pass(
                "tenant",
                format!(
                    "{}: tenant {} with {}, {}, {}, {}",
                    dir.display(),
                    directory.tenant.name,
                    count(
                        directory.processes.len(),
                        "business process",
                        "business processes"
                    ),
                    count(directory.persons.len(), "person", "persons"),
                    count(
                        directory.access_groups.len(),
                        "access group",
                        "access groups"
                    ),
                    count(directory.applications.len(), "application", "applications"),
                ),
            );
        }
        Err(error) => {
            let problems = error.problems();
            if problems.is_empty() {
                report.fail("tenant", error.to_string());
            }
            for problem in problems {
                report.fail("tenant", problem.to_string());
            }
        }
    }
}
