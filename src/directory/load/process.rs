//! Checking a business process and everything inside it.

use std::collections::BTreeMap;

use super::build::Builder;
use super::raw::{RawOnExhausted, RawProcess, RawQueue, RawStrategy, RawView};
use super::spans::Path;
use crate::directory::aging::Aging;
use crate::directory::duration::HumanDuration;
use crate::directory::model::{
    BusinessProcess, Dispatch, OnExhausted, Queue, Select, Step, Strategy, View, Workbin,
};
use crate::directory::order::{default_order, parse_order};

impl Builder<'_, '_> {
    /// Builds process `name` defined at `path` of file `file`. Strategies and
    /// queues are referred to only within the same process.
    pub fn process(
        &mut self,
        file: usize,
        path: &Path,
        name: &str,
        raw: RawProcess,
    ) -> BusinessProcess {
        let RawProcess {
            description,
            folder,
            queue,
            strategy,
            workbin,
            grant,
        } = raw;
        let queue_names: Vec<String> = queue.keys().cloned().collect();
        let strategy_names: Vec<String> = strategy.keys().cloned().collect();
        let local = Local {
            queues: &queue_names,
            strategies: &strategy_names,
        };

        let mut queues = BTreeMap::new();
        for (qname, q) in queue {
            let at = path.key("queue").key(&qname);
            self.check_name(file, &at, &qname);
            queues.insert(qname.clone(), self.queue(file, &at, qname, q, &local));
        }
        let mut strategies = BTreeMap::new();
        for (sname, s) in strategy {
            let at = path.key("strategy").key(&sname);
            self.check_name(file, &at, &sname);
            strategies.insert(sname.clone(), self.strategy(file, &at, sname, s, &local));
        }
        let mut workbins = BTreeMap::new();
        for (wname, w) in workbin {
            let at = path.key("workbin").key(&wname);
            self.check_name(file, &at, &wname);
            let workbin = Workbin {
                grants: self.grants(file, &at, &w.grant),
                name: wname.clone(),
                description: w.description,
                owner: w.owner,
            };
            workbins.insert(wname, workbin);
        }
        BusinessProcess {
            folder: self.folder_ref(file, path, folder),
            grants: self.grants(file, path, &grant),
            name: name.to_owned(),
            description,
            queues,
            strategies,
            workbins,
        }
    }

    fn queue(
        &mut self,
        file: usize,
        path: &Path,
        name: String,
        raw: RawQueue,
        local: &Local<'_>,
    ) -> Queue {
        let mut views = BTreeMap::new();
        for (vname, v) in raw.view {
            let at = path.key("view").key(&vname);
            self.check_name(file, &at, &vname);
            views.insert(vname.clone(), self.view(file, &at, vname, v, local));
        }
        let service_level =
            raw.service_level
                .as_deref()
                .and_then(|text| match text.parse::<HumanDuration>() {
                    Ok(target) => Some(target),
                    Err(reason) => {
                        self.report.at(file, &path.key("service_level"), reason);
                        None
                    }
                });
        Queue {
            grants: self.grants(file, path, &raw.grant),
            name,
            description: raw.description,
            views,
            service_level,
        }
    }

    fn view(
        &mut self,
        file: usize,
        path: &Path,
        name: String,
        raw: RawView,
        local: &Local<'_>,
    ) -> View {
        let condition = raw.condition.unwrap_or_else(|| "true".to_owned());
        if condition.trim().is_empty() {
            let reason = "is empty: leave the key out for a view that shows everything";
            self.report.at(file, &path.key("condition"), reason);
        } else {
            self.expression(
                file,
                &path.key("condition"),
                &condition,
                Subject::Interaction,
            );
        }
        let order = match &raw.order {
            None => default_order(),
            Some(text) => match parse_order(text) {
                Ok(order) => order,
                Err(e) => {
                    self.report
                        .inside(file, &path.key("order"), text, e.offset, &e.reason);
                    Vec::new()
                }
            },
        };
        let aging = raw
            .aging
            .as_deref()
            .and_then(|text| match text.parse::<Aging>() {
                Ok(aging) => Some(aging),
                Err(reason) => {
                    self.report.at(file, &path.key("aging"), reason);
                    None
                }
            });
        let dispatch = match (raw.strategy, raw.pull.unwrap_or(false)) {
            (Some(_), true) => {
                let reason = "has both `strategy` and `pull = true`: \
                              either ixs routes the view or a routing client pulls from it";
                self.report.at(file, path, reason);
                Dispatch::SnapshotOnly
            }
            (Some(strategy), false) => {
                if !local.strategies.contains(&strategy) {
                    let reason =
                        format!("strategy '{strategy}' does not exist in this business process");
                    self.report.at(file, &path.key("strategy"), reason);
                }
                Dispatch::Strategy(strategy)
            }
            (None, true) => Dispatch::Pull,
            (None, false) => Dispatch::SnapshotOnly,
        };
        View {
            grants: self.grants(file, path, &raw.grant),
            name,
            description: raw.description,
            condition,
            order,
            aging,
            enabled: raw.enabled.unwrap_or(true),
            dispatch,
        }
    }

    /// Reports an expression that does not parse, pointing inside it, or
    /// one that reads what its place cannot know: a view condition is about
    /// the interaction alone, so it may not name `agent.*`.
    fn expression(&mut self, file: usize, path: &Path, text: &str, subject: Subject) {
        match crate::expr::parse(text) {
            Err(e) => {
                let offset = byte_offset(text, e.line, e.column);
                self.report.inside(
                    file,
                    path,
                    text,
                    offset,
                    &format!("invalid expression: {}", e.message),
                );
            }
            Ok(expr) if subject == Subject::Interaction => {
                if let Some(agent_path) = expr
                    .paths()
                    .find(|p| p.first().is_some_and(|s| s == "agent"))
                {
                    let reason = format!(
                        "a view condition is about the interaction and cannot read '{}'",
                        agent_path.join(".")
                    );
                    self.report.at(file, path, reason);
                }
            }
            Ok(_) => {}
        }
    }

    fn strategy(
        &mut self,
        file: usize,
        path: &Path,
        name: String,
        raw: RawStrategy,
        local: &Local<'_>,
    ) -> Strategy {
        if raw.step.is_empty() {
            self.report.at(
                file,
                path,
                "has no step: add at least one [[…step]] with a target",
            );
        }
        let mut steps = Vec::with_capacity(raw.step.len());
        for (i, step) in raw.step.into_iter().enumerate() {
            let at = path.key("step").index(i);
            if step.target.trim().is_empty() {
                self.report.at(file, &at.key("target"), "is empty");
            } else {
                self.expression(file, &at.key("target"), &step.target, Subject::Agent);
            }
            let timeout = match step.timeout.parse::<HumanDuration>() {
                Ok(timeout) => timeout,
                Err(reason) => {
                    self.report.at(file, &at.key("timeout"), reason);
                    HumanDuration::from_secs(1)
                }
            };
            steps.push(Step {
                target: step.target,
                select: step.select.unwrap_or(Select::LongestIdle),
                timeout,
            });
        }
        let on_exhausted =
            self.on_exhausted(file, &path.key("on_exhausted"), raw.on_exhausted, local);
        Strategy {
            grants: self.grants(file, path, &raw.grant),
            name,
            description: raw.description,
            steps,
            on_exhausted,
        }
    }

    fn on_exhausted(
        &mut self,
        file: usize,
        path: &Path,
        raw: RawOnExhausted,
        local: &Local<'_>,
    ) -> OnExhausted {
        match (raw.place_in_queue, raw.stop) {
            (Some(queue), None) => {
                if !local.queues.contains(&queue) {
                    let reason = format!("queue '{queue}' does not exist in this business process");
                    self.report.at(file, &path.key("place_in_queue"), reason);
                }
                OnExhausted::PlaceInQueue(queue)
            }
            (None, Some(reason)) => {
                if reason.trim().is_empty() {
                    self.report.at(file, &path.key("stop"), "needs a reason");
                }
                OnExhausted::Stop(reason)
            }
            (Some(_), Some(_)) => {
                self.report.at(
                    file,
                    path,
                    "has both `place_in_queue` and `stop`: choose one",
                );
                OnExhausted::Stop(String::new())
            }
            (None, None) => {
                let reason =
                    "says nothing: use { place_in_queue = \"<queue>\" } or { stop = \"<reason>\" }";
                self.report.at(file, path, reason);
                OnExhausted::Stop(String::new())
            }
        }
    }
}

/// The names a process's children may refer to.
struct Local<'a> {
    queues: &'a [String],
    strategies: &'a [String],
}

/// What an expression is evaluated against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    /// A view condition: the interaction.
    Interaction,
    /// A strategy target: the agent (and the interaction).
    Agent,
}

/// The byte offset of 1-based `line` and character `column` in `text`.
fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return offset
                + l.char_indices()
                    .nth(column.saturating_sub(1))
                    .map_or(l.len(), |(at, _)| at);
        }
        offset += l.len();
    }
    text.len()
}
