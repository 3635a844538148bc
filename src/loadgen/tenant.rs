//! A tenant for a run with many agents: a copy of an existing tenant's
//! files plus one file of agents, and a queue for a deep backlog.

use anyhow::{Context, ensure};
use std::fmt::Write as _;
use std::path::Path;

/// The file added to the copy.
pub const AGENTS_FILE: &str = "bench-agents.toml";

/// The queue added to the process of the run, which no agent of the run is
/// eligible for: what is submitted there stays queued (`--queue backlog`
/// loads a deep queue beside the one the agents work).
pub const BACKLOG_QUEUE: &str = "backlog";

/// What [`write_tenant`] writes.
#[derive(Debug, Clone)]
pub struct TenantPlan<'a> {
    /// The agents' names.
    pub names: &'a [String],
    /// How many interactions of `media` each may hold at once.
    pub capacity: u32,
    pub media: &'a str,
    pub password: &'a str,
    /// The solution's folder, which its instance reads.
    pub folder: &'a str,
    /// The business process that gets the [`BACKLOG_QUEUE`].
    pub process: &'a str,
}

/// Copies the `*.toml` files of the tenant at `from` into `to` (created; it
/// must not hold any), and adds [`AGENTS_FILE`]: a person for each of
/// `names`, with `password`, an agent profile whose capacity rule `bench`
/// allows `capacity` interactions of `media`, skills that every step of the
/// example tenant's strategies admits, in `folder` (the solution's folder,
/// which its instance reads), and an access group giving them the agent
/// role; and the queue [`BACKLOG_QUEUE`] to the file of `process`. Returns
/// the path of the agents' file.
pub fn write_tenant(
    from: &Path,
    to: &Path,
    plan: &TenantPlan,
) -> anyhow::Result<std::path::PathBuf> {
    let TenantPlan {
        names,
        capacity,
        media,
        password,
        folder,
        process,
    } = plan.clone();
    ensure!(capacity > 0, "the capacity must be at least 1");
    ensure!(!names.is_empty(), "no agents to write");
    std::fs::create_dir_all(to).with_context(|| format!("create {}", to.display()))?;
    let not_empty = std::fs::read_dir(to)?.next().is_some();
    ensure!(!not_empty, "{} is not empty", to.display());
    let mut copied = 0;
    for entry in std::fs::read_dir(from).with_context(|| format!("read {}", from.display()))? {
        let path = entry?.path();
        if path.is_file() && path.extension().is_some_and(|ext| ext == "toml") {
            let name = path.file_name().context("a file name")?;
            std::fs::copy(&path, to.join(name))
                .with_context(|| format!("copy {}", path.display()))?;
            copied += 1;
        }
    }
    ensure!(copied > 0, "{} holds no *.toml files", from.display());
    add_backlog(to, process)?;

    // One hash for all: they share the password, and these are persons for
    // a load test; the instance still checks it at every log-in.
    let hash = crate::directory::hash_secret(password);
    let mut text = format!(
        "# Agents for `ixs bench`: {} persons with the same password, each\n\
         # holding at most {capacity} {media} interaction(s) at once.\n\n\
         [capacity_rule.bench]\n\
         description = \"Load test agents\"\n\
         folder = \"{folder}\"\n\
         media = {{ {media} = {capacity} }}\n\n\
         [access_group.bench-agents]\n\
         description = \"Load test agents\"\n\
         folder = \"{folder}\"\n\
         members = [{}]\n\
         roles = [\"agent\"]\n",
        names.len(),
        names
            .iter()
            .map(|name| format!("\"{name}\""))
            .collect::<Vec<_>>()
            .join(", "),
    );
    for name in names {
        write!(
            text,
            "\n[person.{name}]\n\
             folder = \"{folder}\"\n\
             password_hash = \"{hash}\"\n\
             agent = {{ capacity_rule = \"bench\", skills = {{ english = 9, billing = 8, french = 5 }} }}\n"
        )?;
    }
    let file = to.join(AGENTS_FILE);
    std::fs::write(&file, text).with_context(|| format!("write {}", file.display()))?;
    Ok(file)
}

/// Appends the queue [`BACKLOG_QUEUE`], its view and its strategy to the
/// file of the copy that defines `process`.
fn add_backlog(to: &Path, process: &str) -> anyhow::Result<()> {
    let header = format!("[process.{process}]");
    for entry in std::fs::read_dir(to)? {
        let path = entry?.path();
        let text = std::fs::read_to_string(&path)?;
        if !text.lines().any(|line| line.trim() == header) {
            continue;
        }
        let backlog = format!(
            "\n# Added by `ixs bench --write-tenant`: a queue no agent of the load\n\
             # test is eligible for, to hold a deep backlog while they work.\n\
             [process.{process}.queue.{BACKLOG_QUEUE}]\n\
             description = \"A deep backlog for load tests\"\n\n\
             [process.{process}.queue.{BACKLOG_QUEUE}.view.all]\n\
             condition = \"true\"\n\
             order = \"priority desc, submitted_at asc\"\n\
             strategy = \"bench-backlog\"\n\n\
             [process.{process}.strategy.bench-backlog]\n\
             description = \"Only agents skilled for the backlog, whom the load test has not\"\n\
             step = [\n    {{ target = \"agent.skills.backlog >= 1\", select = \"longest_idle\", timeout = \"24h\" }},\n]\n\
             on_exhausted = {{ stop = \"backlog expired\" }}\n"
        );
        std::fs::write(&path, text + &backlog)
            .with_context(|| format!("write {}", path.display()))?;
        return Ok(());
    }
    anyhow::bail!(
        "no file of {} defines the process {process:?}",
        to.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_tenant_loads_with_its_agents() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/tenant");
        let scratch = tempfile::tempdir().expect("a scratch folder");
        let to = scratch.path().join("tenant");
        let names = vec!["bench-1".to_owned(), "bench-2".to_owned()];
        let plan = TenantPlan {
            names: &names,
            capacity: 5,
            media: "email",
            password: "demo",
            folder: "sales",
            process: "sales-email",
        };
        write_tenant(&example, &to, &plan).expect("written");
        let report = crate::check::tenant_files(&to);
        assert!(report.passed(), "{report}");
        let sales = std::fs::read_to_string(to.join("sales.toml")).expect("sales.toml");
        assert!(
            sales.contains("[process.sales-email.queue.backlog.view.all]"),
            "{sales}"
        );
        let again = write_tenant(&example, &to, &plan);
        assert!(again.is_err(), "a folder that is not empty is refused");
    }
}
