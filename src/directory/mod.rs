//! The tenant's directory: configuration objects, permissions, scope.
//!
//! Everything here is pure: no I/O except [`Directory::load`] reading files,
//! no clock, no global state. The config server holds the full directory and
//! hands each caller [`Directory::filtered_for`] that caller; an interaction
//! server's scope is [`Directory::scope_for_application`].
//!
//! - [`model`]: the objects (persons, access groups, applications, business
//!   processes with their queues, views, strategies and workbins, media
//!   types, capacity rules, folders).
//! - [`acl`]: permissions and the rule that decides them ([`Directory::can`]).
//! - `scope` and `filter`: what one application serves, what one person sees.
//! - `password`: argon2 hashes of passwords and application secrets.
//! - `load`: the TOML files and their checks.

pub mod acl;
pub mod aging;
pub mod duration;
mod filter;
mod load;
pub mod model;
pub mod order;
mod password;
mod scope;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use acl::{Grant, Grantee, ObjectRef, Permission, Principal};
pub use aging::Aging;
pub use duration::HumanDuration;
/// Where keys are in a TOML file, for the settings files' messages too.
pub(crate) use load::spans;
pub use load::{LoadError, Problem};
pub use model::{
    AccessGroup, AgentProfile, Application, ApplicationKind, BusinessProcess, CapacityRule,
    Directory, Dispatch, Folder, MediaType, OnExhausted, Person, Queue, Role, SecretHash, Select,
    Step, Strategy, Tenant, View, Workbin, WorkbinOwner,
};
pub use order::{Direction, OrderField, OrderKey};
pub use password::{check_secret_hash, hash_secret, verify_secret};
pub use scope::{Scope, ScopeError};
