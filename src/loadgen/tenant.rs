//! A tenant for a run with many agents: a copy of an existing tenant's
//! files plus one file of agents.

use anyhow::{Context, ensure};
use std::fmt::Write as _;
use std::path::Path;

/// The file added to the copy.
pub const AGENTS_FILE: &str = "bench-agents.toml";

/// Copies the `*.toml` files of the tenant at `from` into `to` (created; it
/// must not hold any), and adds [`AGENTS_FILE`]: a person for each of
/// `names`, with `password`, an agent profile whose capacity rule `bench`
/// allows `capacity` interactions of `media`, skills that every step of the
/// example tenant's strategies admits, in `folder` (the solution's folder,
/// which its instance reads), and an access group giving them the agent
/// role. Returns the path of the file written.
pub fn write_tenant(
    from: &Path,
    to: &Path,
    names: &[String],
    capacity: u32,
    media: &str,
    password: &str,
    folder: &str,
) -> anyhow::Result<std::path::PathBuf> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_tenant_loads_with_its_agents() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/tenant");
        let scratch = tempfile::tempdir().expect("a scratch folder");
        let to = scratch.path().join("tenant");
        let names = vec!["bench-1".to_owned(), "bench-2".to_owned()];
        write_tenant(&example, &to, &names, 5, "email", "demo", "sales").expect("written");
        let report = crate::check::tenant_files(&to);
        assert!(report.passed(), "{report}");
        let again = write_tenant(&example, &to, &names, 5, "email", "demo", "sales");
        assert!(again.is_err(), "a folder that is not empty is refused");
    }
}
