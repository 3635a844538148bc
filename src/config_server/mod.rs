//! The tenant's configuration server (`ixs config-server`).
//!
//! It loads the tenant's directory from its TOML files, reloads it when a
//! file changes or on request (SIGHUP in `main`), and serves each caller
//! only what that caller may read: persons log in with their password,
//! interaction servers with their application's secret, and see the
//! directory as their log-on-as person does. Changes are pushed to watchers
//! as Server-Sent Events, filtered per caller.
//!
//! - [`settings`]: the server's own settings.
//! - [`revisions`]: the directory in force, its recent revisions, reloads.
//! - `poll`: noticing that the files changed.
//! - [`subject`]: who logged in and what it sees.
//! - [`diff`]: what changed between two views of the directory.

pub mod diff;
mod poll;
pub mod revisions;
pub mod settings;
pub mod subject;

pub use diff::{ChangeKind, ObjectChange, ObjectKind, Objects};
pub use revisions::{LoadFailure, ProblemReport, ReloadOutcome, Revision, Trigger};
pub use settings::Settings;
pub use subject::{Identity, Subject};
