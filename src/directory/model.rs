//! The tenant's configuration objects.
//!
//! Every object carries its own name and its ACL (`grants`). Collections are
//! keyed by name and ordered, so two equal directories serialise to the same
//! JSON. The loader guarantees that every reference (a group member, a
//! `log_on_as`, a strategy named by a view…) resolves; a directory that was
//! filtered for a caller, or built by hand, may hold references to objects
//! that are not there, and every function of this module tolerates that.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::acl::Grant;
use super::aging::Aging;
use super::duration::HumanDuration;
use super::order::OrderKey;

/// The whole configuration of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directory {
    pub tenant: Tenant,
    #[serde(default)]
    pub folders: BTreeMap<String, Folder>,
    #[serde(default)]
    pub media_types: BTreeMap<String, MediaType>,
    #[serde(default)]
    pub capacity_rules: BTreeMap<String, CapacityRule>,
    #[serde(default)]
    pub persons: BTreeMap<String, Person>,
    #[serde(default)]
    pub access_groups: BTreeMap<String, AccessGroup>,
    #[serde(default)]
    pub applications: BTreeMap<String, Application>,
    #[serde(default)]
    pub processes: BTreeMap<String, BusinessProcess>,
}

/// The tenant itself; its grants propagate to every object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub grants: Vec<Grant>,
}

/// A named container for top-level objects; its grants propagate to the
/// objects in it (and, for a business process, to the process's children).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Folder {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub grants: Vec<Grant>,
}

/// A kind of interaction: `email`, `chat`, `workitem`…
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaType {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub folder: Option<String>,
    #[serde(default)]
    pub grants: Vec<Grant>,
}

/// How many interactions of each media an agent may hold at once.
///
/// A media type that is not listed may not be offered at all. `total`, when
/// present, caps the sum across media.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapacityRule {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub folder: Option<String>,
    pub media: BTreeMap<String, u32>,
    #[serde(default)]
    pub total: Option<u32>,
    #[serde(default)]
    pub grants: Vec<Grant>,
}

/// A login: an operator, an agent, or the identity a server runs as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub folder: Option<String>,
    /// Argon2 PHC string. `None`: the person cannot log in (or the hash was
    /// stripped before the directory left the config server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<SecretHash>,
    /// Present when the person can work as an agent.
    #[serde(default)]
    pub agent: Option<AgentProfile>,
    #[serde(default)]
    pub grants: Vec<Grant>,
}

/// What routing needs to know about an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentProfile {
    /// Skill name → level, `0..=10`.
    #[serde(default)]
    pub skills: BTreeMap<String, u8>,
    /// Name of a [`CapacityRule`]; without one the interaction server applies
    /// its own default.
    #[serde(default)]
    pub capacity_rule: Option<String>,
}

/// A named set of persons; membership confers ixs roles and is what grants
/// usually name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessGroup {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub folder: Option<String>,
    #[serde(default)]
    pub members: BTreeSet<String>,
    #[serde(default)]
    pub roles: BTreeSet<Role>,
    #[serde(default)]
    pub grants: Vec<Grant>,
}

/// What a member of an access group may do on an interaction server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Submit interactions, change their properties, stop them.
    Gateway,
    /// Handle the interactions offered to it, use its own workbins.
    Agent,
    /// Pull interactions from `pull` views.
    Router,
    /// Read the event feed and statistics.
    Reporter,
    /// Everything.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Gateway => "gateway",
            Role::Agent => "agent",
            Role::Router => "router",
            Role::Reporter => "reporter",
            Role::Admin => "admin",
        }
    }

    /// The role named `name`, as [`Role::as_str`] names it.
    pub fn parse(name: &str) -> Option<Role> {
        [
            Role::Gateway,
            Role::Agent,
            Role::Router,
            Role::Reporter,
            Role::Admin,
        ]
        .into_iter()
        .find(|role| role.as_str() == name)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A server identity. Its scope is what its `log_on_as` person may read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub folder: Option<String>,
    pub kind: ApplicationKind,
    /// Argon2 PHC string of the application's secret; `None` once stripped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_hash: Option<SecretHash>,
    /// Without it the application runs as nobody and sees nothing.
    #[serde(default)]
    pub log_on_as: Option<String>,
    #[serde(default)]
    pub grants: Vec<Grant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApplicationKind {
    /// `ixs serve`.
    InteractionServer,
}

/// A unit of work: its queues, the strategies that route them, its workbins.
/// Every child inherits the process's grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessProcess {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub folder: Option<String>,
    #[serde(default)]
    pub queues: BTreeMap<String, Queue>,
    #[serde(default)]
    pub strategies: BTreeMap<String, Strategy>,
    #[serde(default)]
    pub workbins: BTreeMap<String, Workbin>,
    #[serde(default)]
    pub grants: Vec<Grant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queue {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub views: BTreeMap<String, View>,
    /// The wait within which an accept counts as answered in time, for the
    /// queue's service level in the live statistics; `None`: the default
    /// ([`Queue::DEFAULT_SERVICE_LEVEL`]). Left out of the JSON when
    /// `None`, so that a directory without it serialises as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_level: Option<HumanDuration>,
    #[serde(default)]
    pub grants: Vec<Grant>,
}

impl Queue {
    /// The service-level target of a queue that names none: 60 seconds.
    pub const DEFAULT_SERVICE_LEVEL: std::time::Duration = std::time::Duration::from_secs(60);

    /// Its service-level target.
    pub fn service_level(&self) -> std::time::Duration {
        self.service_level
            .map_or(Self::DEFAULT_SERVICE_LEVEL, HumanDuration::as_duration)
    }
}

/// An ordered, filtered window on a queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Expression source; the expression module parses and checks it.
    pub condition: String,
    pub order: Vec<OrderKey>,
    /// Priority gained by waiting; `None`: priority stays as submitted.
    /// Left out of the JSON when `None`, so that a directory without aging
    /// serialises as it did before aging existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aging: Option<Aging>,
    pub enabled: bool,
    pub dispatch: Dispatch,
    #[serde(default)]
    pub grants: Vec<Grant>,
}

/// Who takes interactions out of a view.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dispatch {
    /// ixs routes them with the named strategy of the same process.
    Strategy(String),
    /// An external routing client pulls them.
    Pull,
    /// Nobody: the view exists for snapshots and statistics only.
    SnapshotOnly,
}

/// Ordered steps tried one after the other, each with a wider target or a
/// different selection, then what to do when all of them timed out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Strategy {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub steps: Vec<Step>,
    pub on_exhausted: OnExhausted,
    #[serde(default)]
    pub grants: Vec<Grant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Agent expression source; the expression module parses and checks it.
    pub target: String,
    pub select: Select,
    /// How long this step waits for an agent before the next one starts.
    pub timeout: HumanDuration,
}

/// How one agent is chosen among those a step targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Select {
    LongestIdle,
    LeastBusy,
    RoundRobin,
    LastAgent,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnExhausted {
    /// Place the interaction in this queue of the same process.
    PlaceInQueue(String),
    /// Stop processing with this reason.
    Stop(String),
}

/// Where agents park interactions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workbin {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub owner: WorkbinOwner,
    #[serde(default)]
    pub grants: Vec<Grant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkbinOwner {
    /// One workbin per agent.
    Agent,
    /// One workbin shared by an access group of agents.
    AgentGroup,
}

/// An argon2 PHC string. Its `Debug` output is redacted so that a logged
/// directory never carries it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretHash(String);

impl SecretHash {
    pub fn new(phc: impl Into<String>) -> Self {
        SecretHash(phc.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(<redacted>)")
    }
}

impl Directory {
    /// An empty directory for a tenant: no objects, no grants.
    pub fn empty(tenant: &str) -> Directory {
        Directory {
            tenant: Tenant {
                name: tenant.to_owned(),
                description: String::new(),
                grants: Vec::new(),
            },
            folders: BTreeMap::new(),
            media_types: BTreeMap::new(),
            capacity_rules: BTreeMap::new(),
            persons: BTreeMap::new(),
            access_groups: BTreeMap::new(),
            applications: BTreeMap::new(),
            processes: BTreeMap::new(),
        }
    }

    /// The access groups `person` is a member of.
    pub fn groups_of(&self, person: &str) -> BTreeSet<&str> {
        self.access_groups
            .values()
            .filter(|g| g.members.contains(person))
            .map(|g| g.name.as_str())
            .collect()
    }

    /// The ixs roles `person` holds through its access groups.
    pub fn roles_of(&self, person: &str) -> BTreeSet<Role> {
        self.access_groups
            .values()
            .filter(|g| g.members.contains(person))
            .flat_map(|g| g.roles.iter().copied())
            .collect()
    }
}
