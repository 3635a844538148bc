//! Loading a tenant's directory from its TOML files.
//!
//! [`Directory::load`] reads every `*.toml` file directly in one directory
//! (not in subdirectories; names starting with `.` are skipped, as editors
//! leave lock and swap files there), in name order, and merges them: each
//! object is defined in exactly one file, and may refer to objects defined in
//! any file. `config/tenant/README.md` describes the format.
//!
//! Nothing is half-loaded: either every file parses and every check passes,
//! or the load fails with every problem found, each naming its file, line,
//! column, object and reason.

mod build;
mod process;
mod raw;
pub(crate) mod spans;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path as FsPath, PathBuf};

use super::model::Directory;
use raw::RawFile;
use spans::{Path, SpanTree, line_col};

/// Why a directory could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file or the directory itself could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The files were read but are not a valid directory.
    #[error("{}", render(problems))]
    Invalid { problems: Vec<Problem> },
}

impl LoadError {
    /// The problems of an invalid directory, in file and line order.
    pub fn problems(&self) -> &[Problem] {
        match self {
            LoadError::Read { .. } => &[],
            LoadError::Invalid { problems } => problems,
        }
    }
}

fn render(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(Problem::to_string).collect();
    lines.join("\n")
}

/// One thing wrong with the configuration, displayed as
/// `file:line:column: object: reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file as it was named to the loader (`config/tenant/sales.toml`).
    pub file: String,
    /// From 1, when known.
    pub line: Option<usize>,
    /// From 1, in characters, when known.
    pub column: Option<usize>,
    /// The object at fault as an operator names it, e.g.
    /// `business process 'sales-email', queue 'inbound', view 'all'`.
    pub object: Option<String>,
    /// What is wrong, starting with the key at fault when there is one.
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if let Some(object) = &self.object {
            write!(f, "{object}: ")?;
        }
        f.write_str(&self.reason)
    }
}

impl Directory {
    /// Loads the tenant from the `*.toml` files of `dir` (see the module
    /// documentation).
    pub fn load(dir: &FsPath) -> Result<Directory, LoadError> {
        let read_error = |path: &FsPath| {
            let path = path.to_path_buf();
            move |source| LoadError::Read { path, source }
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(read_error(dir))? {
            let path = entry.map_err(read_error(dir))?.path();
            let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if file_name.ends_with(".toml") && !file_name.starts_with('.') && path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();
        if paths.is_empty() {
            return Err(LoadError::Invalid {
                problems: vec![Problem {
                    file: dir.display().to_string(),
                    line: None,
                    column: None,
                    object: None,
                    reason: "no *.toml file in this directory".to_owned(),
                }],
            });
        }
        let mut sources = Vec::with_capacity(paths.len());
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(read_error(&path))?;
            sources.push((path.display().to_string(), text));
        }
        load_sources(sources, &dir.display().to_string())
    }

    /// Loads the tenant from `(file name, TOML text)` pairs, as if they were
    /// files of one directory in this order. The names are only used in
    /// error messages.
    pub fn from_sources(sources: &[(&str, &str)]) -> Result<Directory, LoadError> {
        let origin = sources.first().map_or("", |(name, _)| *name);
        load_sources(
            sources
                .iter()
                .map(|(name, text)| (name.to_string(), text.to_string()))
                .collect(),
            origin,
        )
    }
}

/// One configuration file and where its keys are.
struct Source {
    name: String,
    text: String,
    tree: SpanTree,
}

impl Source {
    /// A problem at byte `offset` (when known) in object `path`.
    fn problem(&self, offset: Option<usize>, path: &Path, reason: &str) -> Problem {
        let (line, column) = match offset {
            Some(offset) => {
                let (line, column) = line_col(&self.text, offset);
                (Some(line), Some(column))
            }
            None => (None, None),
        };
        let (object, field) = path.describe();
        let reason = if field.is_empty() {
            reason.to_owned()
        } else {
            format!("{field}: {reason}")
        };
        Problem {
            file: self.name.clone(),
            line,
            column,
            object,
            reason,
        }
    }
}

/// Parses and checks `sources`; `origin` names them as a whole (the
/// directory) in problems that belong to no single file. A file that does
/// not parse hides nothing of the others: they are checked too, as far as
/// they can be without it.
fn load_sources(sources: Vec<(String, String)>, origin: &str) -> Result<Directory, LoadError> {
    let order: Vec<String> = sources.iter().map(|(name, _)| name.clone()).collect();
    let mut parsed = Vec::with_capacity(sources.len());
    let mut problems = Vec::new();
    for (name, text) in sources {
        let tree = SpanTree::parse(&text);
        let source = Source {
            name,
            tree: tree.unwrap_or_else(SpanTree::empty),
            text,
        };
        match toml::from_str::<RawFile>(&source.text) {
            Ok(raw) => parsed.push((source, raw)),
            Err(error) => problems.push(parse_problem(&source, &error)),
        }
    }
    // With a file missing, references to its objects would be false alarms:
    // the others are checked for what they get wrong by themselves.
    let complete = problems.is_empty();
    let (sources, raws): (Vec<Source>, Vec<RawFile>) = parsed.into_iter().unzip();
    match build::build(&sources, raws, origin, complete) {
        Ok(directory) if complete => return Ok(directory),
        Ok(_) => {}
        Err(found) => problems.extend(found),
    }
    // In file order; the problems of no single file last.
    problems.sort_by_key(|p| {
        order
            .iter()
            .position(|name| *name == p.file)
            .unwrap_or(order.len())
    });
    Err(LoadError::Invalid { problems })
}

/// A problem the TOML parser found: syntax, a type, an unknown or missing
/// key.
fn parse_problem(source: &Source, error: &toml::de::Error) -> Problem {
    let offset = error.span().map(|span| span.start);
    let path = offset.map_or_else(Path::root, |offset| source.tree.path_at(offset));
    let message: Vec<&str> = error
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let message = message.join("; ");
    // An unknown key is named by the message itself; the key path below it
    // (`queu.q` in `[process.p.queu.q]`) would only repeat it.
    let path = if message.starts_with("unknown field") {
        path.object_only()
    } else {
        path
    };
    source.problem(offset, &path, &message)
}
