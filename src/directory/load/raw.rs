//! The shape of a configuration file, exactly as written: names are table
//! keys, references are plain strings, nothing is checked beyond types and
//! unknown keys. `build` turns these into the model.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::directory::model::{ApplicationKind, Role, Select, WorkbinOwner};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub tenant: Option<RawTenant>,
    #[serde(default)]
    pub folder: BTreeMap<String, RawFolder>,
    #[serde(default)]
    pub media_type: BTreeMap<String, RawMediaType>,
    #[serde(default)]
    pub capacity_rule: BTreeMap<String, RawCapacityRule>,
    #[serde(default)]
    pub person: BTreeMap<String, RawPerson>,
    #[serde(default)]
    pub access_group: BTreeMap<String, RawAccessGroup>,
    #[serde(default)]
    pub application: BTreeMap<String, RawApplication>,
    #[serde(default)]
    pub process: BTreeMap<String, RawProcess>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTenant {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub grant: Vec<RawGrant>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFolder {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub grant: Vec<RawGrant>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMediaType {
    #[serde(default)]
    pub description: String,
    pub folder: Option<String>,
    #[serde(default)]
    pub grant: Vec<RawGrant>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCapacityRule {
    #[serde(default)]
    pub description: String,
    pub folder: Option<String>,
    #[serde(default)]
    pub media: BTreeMap<String, u32>,
    pub total: Option<u32>,
    #[serde(default)]
    pub grant: Vec<RawGrant>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPerson {
    #[serde(default)]
    pub description: String,
    pub folder: Option<String>,
    pub password_hash: Option<String>,
    pub agent: Option<RawAgent>,
    #[serde(default)]
    pub grant: Vec<RawGrant>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAgent {
    /// Levels are read wide so that an out-of-range level gets a precise
    /// message rather than a type error.
    #[serde(default)]
    pub skills: BTreeMap<String, i64>,
    pub capacity_rule: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccessGroup {
    #[serde(default)]
    pub description: String,
    pub folder: Option<String>,
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(default)]
    pub roles: Vec<Role>,
    #[serde(default)]
    pub grant: Vec<RawGrant>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApplication {
    #[serde(default)]
    pub description: String,
    pub folder: Option<String>,
    pub kind: ApplicationKind,
    pub secret_hash: String,
    pub log_on_as: Option<String>,
    #[serde(default)]
    pub grant: Vec<RawGrant>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProcess {
    #[serde(default)]
    pub description: String,
    pub folder: Option<String>,
    #[serde(default)]
    pub queue: BTreeMap<String, RawQueue>,
    #[serde(default)]
    pub strategy: BTreeMap<String, RawStrategy>,
    #[serde(default)]
    pub workbin: BTreeMap<String, RawWorkbin>,
    #[serde(default)]
    pub grant: Vec<RawGrant>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawQueue {
    #[serde(default)]
    pub description: String,
    /// The service-level target, a duration (`60s`, `2m`).
    pub service_level: Option<String>,
    #[serde(default)]
    pub view: BTreeMap<String, RawView>,
    #[serde(default)]
    pub grant: Vec<RawGrant>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawView {
    #[serde(default)]
    pub description: String,
    pub condition: Option<String>,
    pub order: Option<String>,
    pub aging: Option<String>,
    pub enabled: Option<bool>,
    pub strategy: Option<String>,
    pub pull: Option<bool>,
    #[serde(default)]
    pub grant: Vec<RawGrant>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStrategy {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub step: Vec<RawStep>,
    pub on_exhausted: RawOnExhausted,
    #[serde(default)]
    pub grant: Vec<RawGrant>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    pub target: String,
    pub select: Option<Select>,
    pub timeout: String,
}

/// Both keys optional so that "neither" and "both" get their own message.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOnExhausted {
    pub place_in_queue: Option<String>,
    pub stop: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorkbin {
    #[serde(default)]
    pub description: String,
    pub owner: WorkbinOwner,
    #[serde(default)]
    pub grant: Vec<RawGrant>,
}

/// Exactly one of `group` and `person`, checked by `build`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGrant {
    pub group: Option<String>,
    pub person: Option<String>,
    pub permissions: Vec<RawPermission>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawPermission {
    Read,
    Change,
    Execute,
    Delete,
    ReadPermissions,
    ChangePermissions,
    /// Shorthand for all six.
    All,
}
