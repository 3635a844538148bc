//! One path for the scope: the configuration follower proposes a scope, and
//! the API is shown the scope the engine serves, never another.
//!
//! While no engine runs (standby, start, stop) a proposal is in force at
//! once. While the live task runs, it alone makes a proposal the scope in
//! force, at the moment the engine switches to it, so that a request never
//! sees a scope the engine does not serve.

use super::ScopeState;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

#[derive(Debug)]
pub struct ScopeDesk {
    proposed: watch::Sender<Arc<ScopeState>>,
    in_force: watch::Sender<Arc<ScopeState>>,
    /// Whether a live task owns `in_force`. Held across each proposal and
    /// each attach, so that no proposal falls between them.
    attached: Mutex<bool>,
}

impl ScopeDesk {
    pub fn new(initial: ScopeState) -> Self {
        let initial = Arc::new(initial);
        ScopeDesk {
            proposed: watch::Sender::new(initial.clone()),
            in_force: watch::Sender::new(initial),
            attached: Mutex::new(false),
        }
    }

    /// The scope the configuration says, in force or not yet.
    pub fn proposed(&self) -> Arc<ScopeState> {
        self.proposed.borrow().clone()
    }

    /// The scope in force: what the engine serves.
    pub fn in_force(&self) -> Arc<ScopeState> {
        self.in_force.borrow().clone()
    }

    /// Follows the scope in force.
    pub fn subscribe(&self) -> watch::Receiver<Arc<ScopeState>> {
        self.in_force.subscribe()
    }

    /// Proposes `state`: in force at once when no live task runs, else once
    /// the live task has switched the engine to it.
    pub fn propose(&self, state: ScopeState) {
        let state = Arc::new(state);
        let attached = self.attached.lock().unwrap_or_else(|p| p.into_inner());
        self.proposed.send_replace(state.clone());
        if !*attached {
            self.in_force.send_replace(state);
        }
    }

    /// Hands the scope in force to a live task: from now on only it
    /// publishes. The receiver's current value is the proposal to start
    /// with; every later proposal shows as a change.
    pub fn attach(&self) -> watch::Receiver<Arc<ScopeState>> {
        let mut attached = self.attached.lock().unwrap_or_else(|p| p.into_inner());
        *attached = true;
        let mut proposals = self.proposed.subscribe();
        proposals.mark_unchanged();
        proposals
    }

    /// The live task stopped: proposals are in force at once again.
    pub fn detach(&self) {
        let mut attached = self.attached.lock().unwrap_or_else(|p| p.into_inner());
        *attached = false;
        self.in_force.send_replace(self.proposed.borrow().clone());
    }

    /// The live task's engine now serves `state`.
    pub(super) fn publish(&self, state: Arc<ScopeState>) {
        self.in_force.send_replace(state);
    }
}
