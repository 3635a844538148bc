//! The directory in force and the recent revisions before it.
//!
//! Every accepted load of the tenant's files that differs from the directory
//! in force becomes a new revision, numbered 1, 2, … from start. A load that
//! fails is refused: its problems are logged and kept as the last error, and
//! the revision in force stays. Reloads are serialised, so revisions never
//! interleave whatever triggers them (the file poll, SIGHUP, a test).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;
use tracing::{error, info};

use super::poll::Fingerprint;
use crate::directory::{Directory, LoadError};

/// One accepted load of the directory.
#[derive(Debug)]
pub struct Revision {
    pub number: u64,
    pub directory: Arc<Directory>,
    pub loaded_at: DateTime<Utc>,
}

/// A refused load: when, and everything that was wrong.
#[derive(Debug, Clone, Serialize)]
pub struct LoadFailure {
    pub at: DateTime<Utc>,
    pub problems: Vec<ProblemReport>,
}

/// One problem of a refused load, as the status endpoint shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProblemReport {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub object: Option<String>,
    pub reason: String,
}

impl LoadFailure {
    fn from_error(error: &LoadError) -> LoadFailure {
        let problems = match error {
            LoadError::Read { path, source } => vec![ProblemReport {
                file: path.display().to_string(),
                line: None,
                column: None,
                object: None,
                reason: format!("cannot read: {source}"),
            }],
            LoadError::Invalid { problems } => problems
                .iter()
                .map(|p| ProblemReport {
                    file: p.file.clone(),
                    line: p.line,
                    column: p.column,
                    object: p.object.clone(),
                    reason: p.reason.clone(),
                })
                .collect(),
        };
        LoadFailure {
            at: Utc::now(),
            problems,
        }
    }
}

/// What a reload did.
#[derive(Debug, Clone)]
pub enum ReloadOutcome {
    /// The files changed and loaded: a new revision is in force.
    Loaded(Arc<Revision>),
    /// The files load to the directory already in force: no new revision.
    Unchanged(Arc<Revision>),
    /// The files do not load; the revision in force stays.
    Refused(Arc<LoadFailure>),
}

/// What set off a reload, for the logs.
#[derive(Debug, Clone, Copy)]
pub enum Trigger {
    FileChange,
    Signal,
    Request,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::FileChange => "file change",
            Trigger::Signal => "signal",
            Trigger::Request => "request",
        }
    }
}

#[derive(Debug)]
struct History {
    /// Oldest first; never empty; numbers are consecutive.
    revisions: VecDeque<Arc<Revision>>,
    last_error: Option<Arc<LoadFailure>>,
}

#[derive(Debug)]
pub struct Revisions {
    path: PathBuf,
    capacity: usize,
    history: Mutex<History>,
    /// Held for the whole of a reload; holds the fingerprint of the files as
    /// they were last loaded, accepted or not.
    reloading: tokio::sync::Mutex<Fingerprint>,
    /// The number of the revision in force.
    current: watch::Sender<u64>,
}

impl Revisions {
    /// Loads revision 1 from `path`, keeping the last `capacity` revisions
    /// from then on.
    pub async fn load(path: &Path, capacity: usize) -> Result<Revisions, LoadError> {
        let (fingerprint, loaded) = read(path.to_path_buf()).await;
        let directory = loaded?;
        let first = Arc::new(Revision {
            number: 1,
            directory: Arc::new(directory),
            loaded_at: Utc::now(),
        });
        Ok(Revisions {
            path: path.to_path_buf(),
            capacity: capacity.max(1),
            history: Mutex::new(History {
                revisions: VecDeque::from([first]),
                last_error: None,
            }),
            reloading: tokio::sync::Mutex::new(fingerprint),
            current: watch::channel(1).0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The revision in force.
    pub fn current(&self) -> Arc<Revision> {
        let history = self.lock();
        history
            .revisions
            .back()
            .expect("the history always holds the revision in force")
            .clone()
    }

    /// Revision `number`, if it is still in the history.
    pub fn get(&self, number: u64) -> Option<Arc<Revision>> {
        let history = self.lock();
        let oldest = history.revisions.front()?.number;
        let index = usize::try_from(number.checked_sub(oldest)?).ok()?;
        history.revisions.get(index).cloned()
    }

    /// The last refused load, until a load is accepted.
    pub fn last_error(&self) -> Option<Arc<LoadFailure>> {
        self.lock().last_error.clone()
    }

    /// Follows the number of the revision in force.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.current.subscribe()
    }

    /// Whether the files differ from those last loaded.
    pub async fn files_changed(&self, now: &Fingerprint) -> bool {
        *self.reloading.lock().await != *now
    }

    /// Loads the files and, if they differ from the directory in force,
    /// makes them a new revision.
    pub async fn reload(&self, trigger: Trigger) -> ReloadOutcome {
        let mut last_loaded = self.reloading.lock().await;
        let (fingerprint, loaded) = read(self.path.clone()).await;
        *last_loaded = fingerprint;
        let outcome = self.apply(loaded);
        let trigger = trigger.as_str();
        match &outcome {
            ReloadOutcome::Loaded(revision) => {
                info!(trigger, revision = revision.number, "new revision in force");
            }
            ReloadOutcome::Unchanged(revision) => {
                info!(
                    trigger,
                    revision = revision.number,
                    "directory reloaded without change"
                );
            }
            ReloadOutcome::Refused(failure) => {
                let revision = self.current().number;
                for p in &failure.problems {
                    error!(
                        trigger,
                        file = %p.file,
                        line = p.line,
                        column = p.column,
                        object = p.object.as_deref(),
                        reason = %p.reason,
                        "directory problem"
                    );
                }
                error!(
                    trigger,
                    revision,
                    problems = failure.problems.len(),
                    "directory refused; the revision in force stays"
                );
            }
        }
        outcome
    }

    fn apply(&self, loaded: Result<Directory, LoadError>) -> ReloadOutcome {
        let mut history = self.lock();
        let directory = match loaded {
            Ok(directory) => directory,
            Err(e) => {
                let failure = Arc::new(LoadFailure::from_error(&e));
                history.last_error = Some(failure.clone());
                return ReloadOutcome::Refused(failure);
            }
        };
        history.last_error = None;
        let current = history.revisions.back().expect("never empty").clone();
        if *current.directory == directory {
            return ReloadOutcome::Unchanged(current);
        }
        let revision = Arc::new(Revision {
            number: current.number + 1,
            directory: Arc::new(directory),
            loaded_at: Utc::now(),
        });
        history.revisions.push_back(revision.clone());
        while history.revisions.len() > self.capacity {
            history.revisions.pop_front();
        }
        self.current.send_replace(revision.number);
        ReloadOutcome::Loaded(revision)
    }

    fn lock(&self) -> MutexGuard<'_, History> {
        // Every change under the lock is completed before it is released.
        self.history.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Reads the files' fingerprint, then loads them, off the runtime's threads.
/// The fingerprint is taken first: a change made during the load shows as a
/// change at the next poll.
async fn read(path: PathBuf) -> (Fingerprint, Result<Directory, LoadError>) {
    let task = tokio::task::spawn_blocking(move || {
        let fingerprint = Fingerprint::read(&path);
        (fingerprint, Directory::load(&path))
    });
    match task.await {
        Ok(read) => read,
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant_copy() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/tenant");
        for entry in std::fs::read_dir(example).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
        dir
    }

    fn edit(dir: &Path, file: &str, from: &str, to: &str) {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} has no {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }

    #[tokio::test]
    async fn revisions_count_accepted_changes_only() {
        let dir = tenant_copy();
        let revisions = Revisions::load(dir.path(), 256).await.unwrap();
        assert_eq!(revisions.current().number, 1);
        let mut follow = revisions.subscribe();

        let outcome = revisions.reload(Trigger::Request).await;
        assert!(matches!(outcome, ReloadOutcome::Unchanged(r) if r.number == 1));

        edit(dir.path(), "sales.toml", "Sales chats", "Chats");
        let outcome = revisions.reload(Trigger::Request).await;
        assert!(matches!(outcome, ReloadOutcome::Loaded(r) if r.number == 2));
        assert!(follow.has_changed().unwrap());
        assert_eq!(*follow.borrow_and_update(), 2);
        assert_eq!(revisions.get(1).unwrap().number, 1);
        assert_eq!(revisions.get(2).unwrap().number, 2);
        assert!(revisions.get(3).is_none());
    }

    #[tokio::test]
    async fn a_refused_load_keeps_the_revision_in_force() {
        let dir = tenant_copy();
        let revisions = Revisions::load(dir.path(), 256).await.unwrap();
        edit(
            dir.path(),
            "sales.toml",
            "order = \"priority desc, submitted_at asc\"\nstrategy = \"fast-answer\"",
            "order = \"prio desc, submitted_at asc\"\nstrategy = \"fast-answer\"",
        );
        let ReloadOutcome::Refused(failure) = revisions.reload(Trigger::Signal).await else {
            panic!("an invalid order must be refused");
        };
        let problem = &failure.problems[0];
        assert!(problem.file.ends_with("sales.toml"), "{problem:?}");
        assert!(problem.line.is_some() && problem.column.is_some());
        assert!(problem.object.as_deref().unwrap().contains("sales-chat"));
        assert!(problem.reason.contains("prio"), "{problem:?}");
        assert_eq!(revisions.current().number, 1);
        assert!(revisions.last_error().is_some());

        edit(dir.path(), "sales.toml", "prio desc", "priority desc");
        let outcome = revisions.reload(Trigger::FileChange).await;
        assert!(matches!(outcome, ReloadOutcome::Unchanged(r) if r.number == 1));
        assert!(revisions.last_error().is_none());
    }

    #[tokio::test]
    async fn the_history_is_bounded() {
        let dir = tenant_copy();
        let revisions = Revisions::load(dir.path(), 3).await.unwrap();
        for n in 0..4 {
            let from = if n == 0 {
                "Sales chats from the web shop".to_owned()
            } else {
                format!("chats {}", n - 1)
            };
            edit(dir.path(), "sales.toml", &from, &format!("chats {n}"));
            revisions.reload(Trigger::Request).await;
        }
        assert_eq!(revisions.current().number, 5);
        assert!(revisions.get(2).is_none());
        assert_eq!(revisions.get(3).unwrap().number, 3);
        assert_eq!(revisions.get(5).unwrap().number, 5);
    }

    #[tokio::test]
    async fn a_missing_directory_is_a_read_error() {
        let dir = tenant_copy();
        let revisions = Revisions::load(dir.path(), 3).await.unwrap();
        let path = dir.path().to_path_buf();
        drop(dir);
        let ReloadOutcome::Refused(failure) = revisions.reload(Trigger::Signal).await else {
            panic!("a missing directory must be refused");
        };
        assert_eq!(failure.problems[0].file, path.display().to_string());
        assert_eq!(revisions.current().number, 1);
    }
}
