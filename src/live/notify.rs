//! Telling agents' desktops what concerns them, once it is committed.
//!
//! One task beside the live task takes, in the order the engine made them,
//! the notices of each change with the receiver of its commit; it waits for
//! each commit in turn (the writer answers in order, so this adds no wait)
//! and then hands the notices to the agents' open streams. A stream that
//! cannot keep up (its buffer is full) is closed: its desktop reconnects and
//! starts again from its state, rather than slowing anyone down.

use super::Committed;
use crate::engine::{AgentView, Interaction, Notice};
use crate::store::CommitError;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use tokio::sync::{mpsc, oneshot};

/// How many notices a stream may have waiting before it is closed.
const STREAM_BUFFER: usize = 256;

/// One item of an agent's live stream.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    /// The agent's state when the stream opened, then after each change.
    State(AgentView),
    Offer {
        interaction: Interaction,
        deadline: DateTime<Utc>,
    },
    Revoked {
        id: uuid::Uuid,
        reason: String,
    },
    /// An interaction the agent holds changed.
    Interaction(Interaction),
}

/// An open live stream.
pub struct Subscription {
    /// Numbers the stream among the agent's, to say which one ended.
    pub stream: u64,
    pub items: mpsc::Receiver<StreamItem>,
}

enum Message {
    Deliver {
        committed: Committed,
        notices: Vec<Notice>,
        forward: oneshot::Sender<Result<(), CommitError>>,
    },
    Subscribe {
        agent: String,
        hello: Vec<StreamItem>,
        committed: Committed,
        tx: mpsc::Sender<StreamItem>,
    },
}

pub(super) struct Notifier {
    tx: mpsc::UnboundedSender<Message>,
}

impl Notifier {
    pub(super) fn spawn() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(rx));
        Notifier { tx }
    }

    /// Tells `notices` once `committed` resolves; the returned receiver
    /// resolves with the same answer right after.
    pub(super) async fn deliver(&self, committed: Committed, notices: Vec<Notice>) -> Committed {
        let (forward, rx) = oneshot::channel();
        let _ = self.tx.send(Message::Deliver {
            committed,
            notices,
            forward,
        });
        rx
    }

    /// Opens stream `stream` of `agent`: once `committed` resolves it is
    /// told `view` and the offers pending, then every later notice.
    pub(super) async fn subscribe(
        &self,
        agent: &str,
        stream: u64,
        view: AgentView,
        offers: Vec<(Interaction, DateTime<Utc>)>,
        committed: Committed,
    ) -> Subscription {
        let (tx, items) = mpsc::channel(STREAM_BUFFER);
        let mut hello = vec![StreamItem::State(view)];
        hello.extend(
            offers
                .into_iter()
                .map(|(interaction, deadline)| StreamItem::Offer {
                    interaction,
                    deadline,
                }),
        );
        let _ = self.tx.send(Message::Subscribe {
            agent: agent.to_owned(),
            hello,
            committed,
            tx,
        });
        Subscription { stream, items }
    }
}

async fn run(mut rx: mpsc::UnboundedReceiver<Message>) {
    let mut streams: BTreeMap<String, Vec<mpsc::Sender<StreamItem>>> = BTreeMap::new();
    while let Some(message) = rx.recv().await {
        match message {
            Message::Deliver {
                committed,
                notices,
                forward,
            } => {
                let answer = committed.await.unwrap_or(Err(CommitError::Stopped));
                if answer.is_ok() {
                    for notice in notices {
                        let Some(open) = streams.get_mut(notice.agent()) else {
                            continue;
                        };
                        let item = item(notice);
                        open.retain(|tx| tx.try_send(item.clone()).is_ok());
                        open.retain(|tx| !tx.is_closed());
                    }
                    streams.retain(|_, open| !open.is_empty());
                }
                let _ = forward.send(answer);
            }
            Message::Subscribe {
                agent,
                hello,
                committed,
                tx,
            } => {
                let _ = committed.await;
                if hello.into_iter().all(|item| tx.try_send(item).is_ok()) {
                    streams.entry(agent).or_default().push(tx);
                }
            }
        }
    }
}

fn item(notice: Notice) -> StreamItem {
    match notice {
        Notice::Offer {
            interaction,
            deadline,
            ..
        } => StreamItem::Offer {
            interaction,
            deadline,
        },
        Notice::Revoked { id, reason, .. } => StreamItem::Revoked { id, reason },
        Notice::State { state, .. } => StreamItem::State(state),
        Notice::Interaction { interaction, .. } => StreamItem::Interaction(interaction),
    }
}
