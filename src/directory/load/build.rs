//! From parsed files to a checked [`Directory`]: merging, names, references,
//! ranges.

use std::collections::{BTreeMap, BTreeSet};

use super::raw::{RawFile, RawGrant, RawPermission};
use super::spans::{Path, line_col};
use super::{Problem, Source};
use crate::directory::acl::{Grant, Grantee, Permission};
use crate::directory::model::{
    AccessGroup, AgentProfile, Application, CapacityRule, Directory, Folder, MediaType, Person,
    SecretHash, Tenant,
};
use crate::directory::password::check_secret_hash;

/// The highest skill level.
const MAX_SKILL_LEVEL: i64 = 10;
/// The longest object name.
const MAX_NAME_LEN: usize = 128;

/// Collects problems, each located in its file.
pub(super) struct Report<'s> {
    sources: &'s [Source],
    /// (file index, byte offset, problem), sorted before they are returned.
    problems: Vec<(usize, usize, Problem)>,
}

impl<'s> Report<'s> {
    fn new(sources: &'s [Source]) -> Self {
        Report {
            sources,
            problems: Vec::new(),
        }
    }

    /// A problem with the value at `path` of file `file`.
    pub fn at(&mut self, file: usize, path: &Path, reason: impl AsRef<str>) {
        let source = &self.sources[file];
        let offset = source.tree.locate(path).map(|span| span.start);
        self.push(file, offset, path, reason.as_ref());
    }

    /// A problem `inner` bytes into the string value `value` at `path`: the
    /// column then points inside the string when it is written plainly.
    pub fn inside(&mut self, file: usize, path: &Path, value: &str, inner: usize, reason: &str) {
        let source = &self.sources[file];
        let offset = source.tree.locate(path).map(|span| {
            let written = &source.text[span.clone()];
            let plain = written.len() == value.len() + 2
                && written.get(1..written.len() - 1) == Some(value);
            if plain {
                span.start + 1 + inner
            } else {
                span.start
            }
        });
        self.push(file, offset, path, reason);
    }

    fn push(&mut self, file: usize, offset: Option<usize>, path: &Path, reason: &str) {
        let problem = self.sources[file].problem(offset, path, reason);
        self.problems.push((file, offset.unwrap_or(0), problem));
    }

    /// `file:line` of the value at `path`, for "already defined at …".
    fn location(&self, file: usize, path: &Path) -> String {
        let source = &self.sources[file];
        match source.tree.locate(path) {
            Some(span) => format!("{}:{}", source.name, line_col(&source.text, span.start).0),
            None => source.name.clone(),
        }
    }

    fn into_problems(mut self) -> Vec<Problem> {
        self.problems
            .sort_by_key(|(file, offset, _)| (*file, *offset));
        self.problems.into_iter().map(|(_, _, p)| p).collect()
    }
}

/// The names defined anywhere, for reference checks.
pub(super) struct Names {
    pub folders: BTreeSet<String>,
    pub media_types: BTreeSet<String>,
    pub capacity_rules: BTreeSet<String>,
    pub persons: BTreeSet<String>,
    pub groups: BTreeSet<String>,
    /// False when a file could not be read as TOML: a name missing here may
    /// be defined there, so no reference is reported as missing.
    pub complete: bool,
}

impl Names {
    /// Whether `name` is known to be missing from `defined`.
    fn lacks(&self, defined: &BTreeSet<String>, name: &str) -> bool {
        self.complete && !defined.contains(name)
    }
}

/// Checks `raws` (one per source, same order) and builds the directory.
/// `complete` is false when other files of the directory could not be
/// parsed: then only what these files get wrong by themselves is reported.
pub(super) fn build(
    sources: &[Source],
    raws: Vec<RawFile>,
    origin: &str,
    complete: bool,
) -> Result<Directory, Vec<Problem>> {
    let mut report = Report::new(sources);
    let raws = drop_duplicates(&mut report, raws);
    let names = Names {
        folders: raws.iter().flat_map(|r| r.folder.keys().cloned()).collect(),
        media_types: raws
            .iter()
            .flat_map(|r| r.media_type.keys().cloned())
            .collect(),
        capacity_rules: raws
            .iter()
            .flat_map(|r| r.capacity_rule.keys().cloned())
            .collect(),
        persons: raws.iter().flat_map(|r| r.person.keys().cloned()).collect(),
        groups: raws
            .iter()
            .flat_map(|r| r.access_group.keys().cloned())
            .collect(),
        complete,
    };
    let mut b = Builder {
        report,
        names: &names,
    };
    let mut tenant = None;
    let mut dir = Directory::empty("");
    for (file, raw) in raws.into_iter().enumerate() {
        if let Some(t) = raw.tenant {
            let path = Path::root().key("tenant");
            b.check_name(file, &path.key("name"), &t.name);
            tenant = Some(Tenant {
                grants: b.grants(file, &path, &t.grant),
                name: t.name,
                description: t.description,
            });
        }
        b.folders(file, raw.folder, &mut dir);
        b.media_types(file, raw.media_type, &mut dir);
        b.capacity_rules(file, raw.capacity_rule, &mut dir);
        b.persons(file, raw.person, &mut dir);
        b.access_groups(file, raw.access_group, &mut dir);
        b.applications(file, raw.application, &mut dir);
        for (name, process) in raw.process {
            let path = Path::root().key("process").key(&name);
            b.check_name(file, &path, &name);
            let process = b.process(file, &path, &name, process);
            dir.processes.insert(name, process);
        }
    }
    let mut problems = b.report.into_problems();
    match tenant {
        Some(tenant) => dir.tenant = tenant,
        None if !complete => {}
        None => problems.push(Problem {
            file: origin.to_owned(),
            line: None,
            column: None,
            object: None,
            reason: "no file defines the tenant: add a [tenant] table with its name".to_owned(),
        }),
    }
    if problems.is_empty() {
        Ok(dir)
    } else {
        Err(problems)
    }
}

/// Reports every object defined a second time (in a later file) and removes
/// it, so that the rest of the checks see each name once.
fn drop_duplicates(report: &mut Report<'_>, mut raws: Vec<RawFile>) -> Vec<RawFile> {
    fn dedup<T>(
        report: &mut Report<'_>,
        raws: &mut [RawFile],
        kind: &str,
        label: &str,
        map: impl Fn(&mut RawFile) -> &mut BTreeMap<String, T>,
    ) {
        let mut first: BTreeMap<String, usize> = BTreeMap::new();
        for (file, raw) in raws.iter_mut().enumerate() {
            let names: Vec<String> = map(raw).keys().cloned().collect();
            for name in names {
                let path = Path::root().key(kind).key(&name);
                if let Some(&earlier) = first.get(&name) {
                    let there = report.location(earlier, &path);
                    report.at(
                        file,
                        &path,
                        format!("{label} '{name}' is already defined at {there}"),
                    );
                    map(raw).remove(&name);
                } else {
                    first.insert(name, file);
                }
            }
        }
    }
    dedup(report, &mut raws, "folder", "folder", |r| &mut r.folder);
    dedup(report, &mut raws, "media_type", "media type", |r| {
        &mut r.media_type
    });
    dedup(report, &mut raws, "capacity_rule", "capacity rule", |r| {
        &mut r.capacity_rule
    });
    dedup(report, &mut raws, "person", "person", |r| &mut r.person);
    dedup(report, &mut raws, "access_group", "access group", |r| {
        &mut r.access_group
    });
    dedup(report, &mut raws, "application", "application", |r| {
        &mut r.application
    });
    dedup(report, &mut raws, "process", "business process", |r| {
        &mut r.process
    });

    let mut tenant_file = None;
    for (file, raw) in raws.iter_mut().enumerate() {
        if raw.tenant.is_none() {
            continue;
        }
        let path = Path::root().key("tenant");
        match tenant_file {
            None => tenant_file = Some(file),
            Some(earlier) => {
                let there = report.location(earlier, &path);
                report.at(
                    file,
                    &path,
                    format!("the tenant is already defined at {there}"),
                );
                raw.tenant = None;
            }
        }
    }
    raws
}

pub(super) struct Builder<'s, 'n> {
    pub report: Report<'s>,
    pub names: &'n Names,
}

impl Builder<'_, '_> {
    /// Object names: what operators type in URLs, expressions and commands.
    pub fn check_name(&mut self, file: usize, path: &Path, name: &str) {
        let first_ok = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
        if !first_ok || !rest_ok || name.len() > MAX_NAME_LEN {
            self.report.at(
                file,
                path,
                format!(
                    "invalid name '{name}': use letters, digits, '.', '_', '-' and '@', \
                     starting with a letter or digit, at most {MAX_NAME_LEN} characters"
                ),
            );
        }
    }

    /// `folder = "…"` of a top-level object.
    pub fn folder_ref(
        &mut self,
        file: usize,
        path: &Path,
        folder: Option<String>,
    ) -> Option<String> {
        let folder = folder?;
        if self.names.lacks(&self.names.folders, &folder) {
            self.report.at(
                file,
                &path.key("folder"),
                format!("folder '{folder}' does not exist"),
            );
        }
        Some(folder)
    }

    /// The `grant` entries of the object at `path`.
    pub fn grants(&mut self, file: usize, path: &Path, raw: &[RawGrant]) -> Vec<Grant> {
        let mut grants = Vec::with_capacity(raw.len());
        for (i, g) in raw.iter().enumerate() {
            let at = path.key("grant").index(i);
            let to = match (&g.group, &g.person) {
                (Some(group), None) => {
                    if self.names.lacks(&self.names.groups, group) {
                        let reason = format!("access group '{group}' does not exist");
                        self.report.at(file, &at.key("group"), reason);
                    }
                    Grantee::Group(group.clone())
                }
                (None, Some(person)) => {
                    if self.names.lacks(&self.names.persons, person) {
                        let reason = format!("person '{person}' does not exist");
                        self.report.at(file, &at.key("person"), reason);
                    }
                    Grantee::Person(person.clone())
                }
                (Some(_), Some(_)) => {
                    let reason = "names both a group and a person: write one grant for each";
                    self.report.at(file, &at, reason);
                    continue;
                }
                (None, None) => {
                    self.report.at(
                        file,
                        &at,
                        "names no grantee: add `group = \"…\"` or `person = \"…\"`",
                    );
                    continue;
                }
            };
            if g.permissions.is_empty() {
                self.report
                    .at(file, &at.key("permissions"), "grants no permission");
            }
            let permissions = g
                .permissions
                .iter()
                .flat_map(|p| match p {
                    RawPermission::Read => vec![Permission::Read],
                    RawPermission::Change => vec![Permission::Change],
                    RawPermission::Execute => vec![Permission::Execute],
                    RawPermission::Delete => vec![Permission::Delete],
                    RawPermission::ReadPermissions => vec![Permission::ReadPermissions],
                    RawPermission::ChangePermissions => vec![Permission::ChangePermissions],
                    RawPermission::All => Permission::ALL.to_vec(),
                })
                .collect();
            grants.push(Grant { to, permissions });
        }
        grants
    }

    fn secret_hash(&mut self, file: usize, path: &Path, phc: String) -> SecretHash {
        if let Err(reason) = check_secret_hash(&phc) {
            self.report.at(file, path, reason);
        }
        SecretHash::new(phc)
    }

    fn folders(
        &mut self,
        file: usize,
        raw: BTreeMap<String, super::raw::RawFolder>,
        dir: &mut Directory,
    ) {
        for (name, f) in raw {
            let path = Path::root().key("folder").key(&name);
            self.check_name(file, &path, &name);
            let folder = Folder {
                grants: self.grants(file, &path, &f.grant),
                name: name.clone(),
                description: f.description,
            };
            dir.folders.insert(name, folder);
        }
    }

    fn media_types(
        &mut self,
        file: usize,
        raw: BTreeMap<String, super::raw::RawMediaType>,
        dir: &mut Directory,
    ) {
        for (name, m) in raw {
            let path = Path::root().key("media_type").key(&name);
            self.check_name(file, &path, &name);
            let media_type = MediaType {
                folder: self.folder_ref(file, &path, m.folder),
                grants: self.grants(file, &path, &m.grant),
                name: name.clone(),
                description: m.description,
            };
            dir.media_types.insert(name, media_type);
        }
    }

    fn capacity_rules(
        &mut self,
        file: usize,
        raw: BTreeMap<String, super::raw::RawCapacityRule>,
        dir: &mut Directory,
    ) {
        for (name, c) in raw {
            let path = Path::root().key("capacity_rule").key(&name);
            self.check_name(file, &path, &name);
            if c.media.is_empty() {
                self.report.at(
                    file,
                    &path,
                    "allows no media: list at least one under `media`",
                );
            }
            for media in c.media.keys() {
                if self.names.lacks(&self.names.media_types, media) {
                    let reason = format!("media type '{media}' does not exist");
                    self.report.at(file, &path.key("media").key(media), reason);
                }
            }
            if c.total == Some(0) {
                self.report
                    .at(file, &path.key("total"), "must be at least 1");
            }
            let rule = CapacityRule {
                folder: self.folder_ref(file, &path, c.folder),
                grants: self.grants(file, &path, &c.grant),
                name: name.clone(),
                description: c.description,
                media: c.media,
                total: c.total,
            };
            dir.capacity_rules.insert(name, rule);
        }
    }

    fn persons(
        &mut self,
        file: usize,
        raw: BTreeMap<String, super::raw::RawPerson>,
        dir: &mut Directory,
    ) {
        for (name, p) in raw {
            let path = Path::root().key("person").key(&name);
            self.check_name(file, &path, &name);
            let password_hash = p
                .password_hash
                .map(|phc| self.secret_hash(file, &path.key("password_hash"), phc));
            let agent = p.agent.map(|agent| {
                let mut skills = BTreeMap::new();
                for (skill, level) in agent.skills {
                    let at = path.key("agent").key("skills").key(&skill);
                    if !is_identifier(&skill) {
                        let reason = format!(
                            "invalid skill name '{skill}': use letters, digits and '_', \
                             not starting with a digit"
                        );
                        self.report.at(file, &at, reason);
                    }
                    match u8::try_from(level) {
                        Ok(level) if i64::from(level) <= MAX_SKILL_LEVEL => {
                            skills.insert(skill, level);
                        }
                        _ => {
                            let reason =
                                format!("level {level} is out of range 0..={MAX_SKILL_LEVEL}");
                            self.report.at(file, &at, reason);
                        }
                    }
                }
                if let Some(rule) = &agent.capacity_rule {
                    if self.names.lacks(&self.names.capacity_rules, rule) {
                        let reason = format!("capacity rule '{rule}' does not exist");
                        self.report
                            .at(file, &path.key("agent").key("capacity_rule"), reason);
                    }
                }
                AgentProfile {
                    skills,
                    capacity_rule: agent.capacity_rule,
                }
            });
            let person = Person {
                folder: self.folder_ref(file, &path, p.folder),
                grants: self.grants(file, &path, &p.grant),
                name: name.clone(),
                description: p.description,
                password_hash,
                agent,
            };
            dir.persons.insert(name, person);
        }
    }

    fn access_groups(
        &mut self,
        file: usize,
        raw: BTreeMap<String, super::raw::RawAccessGroup>,
        dir: &mut Directory,
    ) {
        for (name, g) in raw {
            let path = Path::root().key("access_group").key(&name);
            self.check_name(file, &path, &name);
            let mut members = BTreeSet::new();
            for (i, member) in g.members.into_iter().enumerate() {
                let at = path.key("members").index(i);
                if self.names.lacks(&self.names.persons, &member) {
                    self.report
                        .at(file, &at, format!("person '{member}' does not exist"));
                } else if members.contains(&member) {
                    self.report
                        .at(file, &at, format!("person '{member}' is listed twice"));
                }
                members.insert(member);
            }
            let group = AccessGroup {
                folder: self.folder_ref(file, &path, g.folder),
                grants: self.grants(file, &path, &g.grant),
                name: name.clone(),
                description: g.description,
                members,
                roles: g.roles.into_iter().collect(),
            };
            dir.access_groups.insert(name, group);
        }
    }

    fn applications(
        &mut self,
        file: usize,
        raw: BTreeMap<String, super::raw::RawApplication>,
        dir: &mut Directory,
    ) {
        for (name, a) in raw {
            let path = Path::root().key("application").key(&name);
            self.check_name(file, &path, &name);
            if let Some(person) = &a.log_on_as {
                if self.names.lacks(&self.names.persons, person) {
                    let reason = format!("person '{person}' does not exist");
                    self.report.at(file, &path.key("log_on_as"), reason);
                }
            }
            let application = Application {
                folder: self.folder_ref(file, &path, a.folder),
                grants: self.grants(file, &path, &a.grant),
                secret_hash: Some(self.secret_hash(file, &path.key("secret_hash"), a.secret_hash)),
                name: name.clone(),
                description: a.description,
                kind: a.kind,
                log_on_as: a.log_on_as,
            };
            dir.applications.insert(name, application);
        }
    }
}

/// Skill names appear in agent expressions (`agent.skills.billing`).
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
