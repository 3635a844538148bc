//! A settings file and the environment over it: one TOML file, then the
//! `IXS__SECTION__KEY` variables the caller passes in, deserialized into a
//! settings struct. Every problem is reported once, with where it came
//! from — the file and line, or the variable — and the key's full name.
//!
//! The environment wins over the file: a variable replaces the file's value
//! of its key, and for keys that exclude each other (`secret` and
//! `secret_file`), a variable for one sets the file's other aside.

use super::{Origin, Problem, SettingsError};
use crate::directory::spans::{Path as KeyPath, SpanTree, line_col};
use crate::serde_words::{Complaint, Dialect, classify};
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The prefix of the variables that override settings.
const PREFIX: &str = "IXS__";

/// Where each key of the settings came from.
#[derive(Debug, Clone)]
pub struct Layers {
    /// The file as it was named.
    file: String,
    text: String,
    spans: SpanTree,
    /// Dotted keys set by a variable, with the variable's name.
    from_env: BTreeMap<String, String>,
}

impl Layers {
    /// Where `key` (dotted, `database.lease_ttl`) was given: the variable
    /// that set it, the line of the file that holds it, or the file itself
    /// for a key it leaves to its default.
    pub fn origin(&self, key: &str) -> Origin {
        if let Some(var) = self.from_env.get(key) {
            return Origin::Env(var.clone());
        }
        let path = key
            .split('.')
            .filter(|s| !s.is_empty())
            .fold(KeyPath::root(), |path, seg| path.key(seg));
        let line = self
            .spans
            .find(&path)
            .map(|span| line_col(&self.text, span.start).0);
        Origin::File {
            path: self.file.clone(),
            line,
        }
    }

    /// `reason` about `key`, located.
    pub fn problem(&self, key: &str, reason: impl Into<String>) -> Problem {
        Problem {
            origin: self.origin(key),
            key: key.to_owned(),
            reason: reason.into(),
        }
    }
}

/// `T` from the TOML file `path` with the `IXS__…` variables of `env` (and
/// no others) over it; `exclusive` lists pairs of keys of which the
/// environment's one sets the file's other aside.
pub fn load<T: DeserializeOwned>(
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
    exclusive: &[(&str, &str)],
) -> Result<(T, Layers), SettingsError> {
    let file = path.display().to_string();
    let whole_file = |reason: String| SettingsError {
        problems: vec![Problem {
            origin: Origin::File {
                path: file.clone(),
                line: None,
            },
            key: String::new(),
            reason,
        }],
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| whole_file(format!("cannot read the settings file: {e}")))?;
    let mut table: toml::Table = toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|span| line_col(&text, span.start).0);
        let message: Vec<&str> = e.message().lines().map(str::trim).collect();
        SettingsError {
            problems: vec![Problem {
                origin: Origin::File {
                    path: file.clone(),
                    line,
                },
                key: String::new(),
                reason: format!("not valid TOML: {}", message.join("; ")),
            }],
        }
    })?;
    let mut layers = Layers {
        spans: SpanTree::parse(&text).unwrap_or_else(SpanTree::empty),
        file: file.clone(),
        text,
        from_env: BTreeMap::new(),
    };
    let mut problems = Vec::new();
    // Variables read as a number or `true`/`false`, with the text they
    // were: given as that text after all if their key wants a string.
    let mut guessed = BTreeMap::new();
    let variables: BTreeMap<String, String> = env
        .into_iter()
        .filter(|(name, _)| name.starts_with(PREFIX))
        .collect();
    for (var, value) in variables {
        let keys: Vec<String> = var[PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        if keys.len() < 2 || keys.iter().any(String::is_empty) {
            problems.push(Problem {
                origin: Origin::Env(var.clone()),
                key: String::new(),
                reason: "not a setting: name it IXS__<SECTION>__<KEY>, e.g. IXS__DATABASE__URL"
                    .to_owned(),
            });
            continue;
        }
        let (typed, is_guess) = env_value(&value);
        let dotted = keys.join(".");
        if set(&mut table, &keys, typed).is_err() {
            problems.push(Problem {
                origin: Origin::Env(var.clone()),
                key: dotted,
                reason: format!("'{}' is not a section", keys[..keys.len() - 1].join(".")),
            });
            continue;
        }
        if is_guess {
            guessed.insert(dotted.clone(), value);
        }
        layers.from_env.insert(dotted, var);
    }
    for (a, b) in exclusive {
        for (given, other) in [(a, b), (b, a)] {
            if layers.from_env.contains_key(*given) && !layers.from_env.contains_key(*other) {
                remove(&mut table, other);
            }
        }
    }
    match deserialize(table, &layers, guessed) {
        Ok(value) if problems.is_empty() => Ok((value, layers)),
        Ok(_) => Err(SettingsError::new(problems)),
        Err(more) => {
            problems.extend(more.problems);
            Err(SettingsError::new(problems))
        }
    }
}

/// Deserializes `table`, collecting every problem: a key found wrong is
/// reported and taken out, and deserializing starts again without it, until
/// nothing more can be found.
fn deserialize<T: DeserializeOwned>(
    mut table: toml::Table,
    layers: &Layers,
    mut guessed: BTreeMap<String, String>,
) -> Result<T, SettingsError> {
    let mut problems = Vec::new();
    // Keys taken out for a wrong value: their absence is no second problem.
    let mut taken_out = BTreeSet::new();
    // Each round takes one key out or gives one guess up: it ends.
    loop {
        let error =
            match serde_path_to_error::deserialize::<_, T>(toml::Value::Table(table.clone())) {
                Ok(value) if problems.is_empty() => return Ok(value),
                Ok(_) => break,
                Err(error) => error,
            };
        let keys: Vec<String> = error
            .path()
            .iter()
            .map(|segment| match segment {
                serde_path_to_error::Segment::Map { key } => key.clone(),
                other => other.to_string(),
            })
            .collect();
        let dotted = keys.join(".");
        match classify(error.inner().message(), Dialect::Toml) {
            Complaint::UnknownField { field, expected } => {
                let section = keys[..keys.len().saturating_sub(1)].join(".");
                problems.push(layers.problem(&dotted, unknown_key(&section, &field, &expected)));
                if !remove(&mut table, &dotted) {
                    break;
                }
            }
            Complaint::MissingField(field) => {
                let key = if dotted.is_empty() {
                    field
                } else {
                    format!("{dotted}.{field}")
                };
                if !taken_out.contains(&key) {
                    let var = format!("{PREFIX}{}", key.replace('.', "__").to_ascii_uppercase());
                    problems
                        .push(layers.problem(&key, format!("required (in the file, or as {var})")));
                }
                break;
            }
            Complaint::Value(reason) => {
                if let Some(text) = guessed.remove(&dotted) {
                    if set(&mut table, &keys, toml::Value::String(text)).is_ok() {
                        continue;
                    }
                }
                problems.push(layers.problem(&dotted, reason));
                taken_out.insert(dotted.clone());
                if !remove(&mut table, &dotted) {
                    break;
                }
            }
        }
    }
    Err(SettingsError::new(problems))
}

/// Why `field` of `section` is not a setting, with the one it most likely
/// stands for, or else the keys that are.
fn unknown_key(section: &str, field: &str, expected: &[String]) -> String {
    let likely = expected
        .iter()
        .map(|name| (strsim::jaro_winkler(field, name), name))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name);
    let full = |name: &str| {
        if section.is_empty() {
            name.to_owned()
        } else {
            format!("{section}.{name}")
        }
    };
    match likely {
        Some(name) => format!("not a setting; did you mean {}?", full(name)),
        None if section.is_empty() => {
            format!("not a section; the sections are {}", expected.join(", "))
        }
        None => format!("not a setting; [{section}] takes {}", expected.join(", ")),
    }
}

/// A variable's value: a number or `true`/`false` as such (a guess, undone
/// if the key wants a string), anything else as a string.
fn env_value(raw: &str) -> (toml::Value, bool) {
    let typed = format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|v| {
            matches!(
                v,
                toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_)
            )
        });
    match typed {
        Some(value) => (value, true),
        None => (toml::Value::String(raw.to_owned()), false),
    }
}

/// Sets `keys` to `value`, making the tables on the way; `Err` if a key on
/// the way holds something else than a table.
fn set(table: &mut toml::Table, keys: &[String], value: toml::Value) -> Result<(), ()> {
    let (last, sections) = keys.split_last().ok_or(())?;
    let mut node = table;
    for key in sections {
        let entry = node
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match entry {
            toml::Value::Table(inner) => node = inner,
            _ => return Err(()),
        }
    }
    node.insert(last.clone(), value);
    Ok(())
}

/// Removes the dotted `key`; false if it was not there.
fn remove(table: &mut toml::Table, key: &str) -> bool {
    let keys: Vec<&str> = key.split('.').collect();
    let Some((last, sections)) = keys.split_last() else {
        return false;
    };
    let mut node = table;
    for section in sections {
        match node.get_mut(*section) {
            Some(toml::Value::Table(inner)) => node = inner,
            _ => return false,
        }
    }
    node.remove(*last).is_some()
}
