//! Views served to routing clients (`pull = true`): which of a queue's
//! waiting interactions a pull takes, in the view's order.

use super::views::sort_key;
use super::{Dispatch, Live, Router, Subject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Why a pull was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PullError {
    #[error("queue '{queue}' of business process '{process}' has no enabled view '{view}'")]
    UnknownView {
        process: String,
        queue: String,
        view: String,
    },
    #[error("view '{0}' is routed by a strategy, not pulled by routing clients")]
    NotPulled(String),
}

impl Router {
    /// The first `count` of `waiting` (the queue's queued interactions) that
    /// the pull view `(process, queue, view)` holds, in its order. A pull
    /// reads the whole queue: pull views keep no index of their own.
    pub fn pull(
        &self,
        (process, queue, view): (&str, &str, &str),
        waiting: impl Iterator<Item = Uuid>,
        live: &Live,
        count: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, PullError> {
        let def = self
            .config
            .views
            .iter()
            .find(|v| v.process == process && v.queue == queue && v.name == view)
            .ok_or_else(|| PullError::UnknownView {
                process: process.to_owned(),
                queue: queue.to_owned(),
                view: view.to_owned(),
            })?;
        if !matches!(def.dispatch, Dispatch::Pull) {
            return Err(PullError::NotPulled(view.to_owned()));
        }
        let mut held: Vec<_> = waiting
            .filter_map(|id| live.get(&id))
            .filter(|interaction| def.condition.eval(&Subject { interaction, now }))
            .map(|interaction| (sort_key(def, interaction), interaction.id))
            .collect();
        if held.len() > count {
            held.select_nth_unstable_by(count, |a, b| a.0.cmp(&b.0));
            held.truncate(count);
        }
        held.sort_by_key(|held| held.0);
        Ok(held.into_iter().map(|(_, id)| id).collect())
    }
}
