//! Tool and prompt list changes for `subscriptions/listen` (protocol 2026-07-28): the tools
//! `test_trigger_tool_change` and `test_trigger_prompt_change` announce a change, and every open
//! listen stream that asked for that kind of change gets its `notifications/*/list_changed`.
//!
//! A 2026-07-28 request has no session, so the announcement cannot go through a session's peer:
//! [`ListChanges`] broadcasts it to the listen streams of every session of the fixture server.
//! rmcp's [`SubscriptionSink`] tags each notification with the stream's subscription id and
//! drops the kinds the stream did not ask for.
//!
//! [`SubscriptionSink`]: rmcp::service::SubscriptionSink

use std::sync::Arc;

use rmcp::model::{CallToolResult, ContentBlock, SubscriptionFilter, Tool};
use rmcp::object;
use rmcp::service::{RequestContext, SubscriptionContext, SubscriptionSendError};
use rmcp::{ErrorData, RoleServer};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use super::{ConformanceServer, is_stateless_request, resources};

/// Tool that announces a tool list change.
const TRIGGER_TOOL_CHANGE: &str = "test_trigger_tool_change";
/// Tool that announces a prompt list change.
const TRIGGER_PROMPT_CHANGE: &str = "test_trigger_prompt_change";

/// Changes buffered for a listen stream that has fallen behind; past that it is sent both
/// kinds of notification (it may have missed either).
const BUFFER: usize = 16;

/// A list that changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ListChange {
    /// `tools/list` may answer differently.
    Tools,
    /// `prompts/list` may answer differently.
    Prompts,
}

/// The announcements of list changes, shared by every session of a fixture server.
#[derive(Debug)]
pub(super) struct ListChanges {
    sender: broadcast::Sender<ListChange>,
}

impl ListChanges {
    pub(super) fn new() -> Self {
        Self {
            sender: broadcast::channel(BUFFER).0,
        }
    }

    /// A receiver of the changes announced from now on.
    pub(super) fn subscribe(&self) -> broadcast::Receiver<ListChange> {
        self.sender.subscribe()
    }

    /// Announces `change`; returns how many listen streams were open to hear it.
    fn announce(&self, change: ListChange) -> usize {
        self.sender.send(change).unwrap_or(0)
    }
}

/// The trigger tools.
pub(super) fn tools() -> Vec<Tool> {
    let no_arguments = || Arc::new(object!({ "type": "object", "properties": {} }));
    vec![
        Tool::new(
            TRIGGER_TOOL_CHANGE,
            "Announces a tool list change to every open subscriptions/listen stream that asked \
             for toolsListChanged",
            no_arguments(),
        ),
        Tool::new(
            TRIGGER_PROMPT_CHANGE,
            "Announces a prompt list change to every open subscriptions/listen stream that asked \
             for promptsListChanged",
            no_arguments(),
        ),
    ]
}

/// The change a trigger tool announces, if `name` is one.
pub(super) fn trigger(name: &str) -> Option<ListChange> {
    match name {
        TRIGGER_TOOL_CHANGE => Some(ListChange::Tools),
        TRIGGER_PROMPT_CHANGE => Some(ListChange::Prompts),
        _ => None,
    }
}

/// Runs a trigger tool: announces `change` to the listen streams and, for a 2025-11-25 caller,
/// also to its own session (which has no listen stream but may have a standalone SSE stream).
pub(super) async fn announce(
    server: &ConformanceServer,
    change: ListChange,
    context: &RequestContext<RoleServer>,
) -> CallToolResult {
    let streams = server.shared.changes.announce(change);
    if !is_stateless_request(context) {
        let sent = match change {
            ListChange::Tools => context.peer.notify_tool_list_changed().await,
            ListChange::Prompts => context.peer.notify_prompt_list_changed().await,
        };
        if let Err(error) = sent {
            tracing::debug!(%error, "list-changed notification to the session not delivered");
        }
    }
    let list = match change {
        ListChange::Tools => "tool",
        ListChange::Prompts => "prompt",
    };
    CallToolResult::success(vec![ContentBlock::text(format!(
        "Announced a {list} list change to {streams} open subscriptions/listen stream(s)"
    ))])
}

/// What the fixture accepts of a `subscriptions/listen` filter: tool and prompt list changes,
/// and updates of resources that exist (its resources never change, so none arrive). rmcp
/// narrows this further to what was requested and what the capabilities advertise.
pub(super) fn accepted_filter(requested: &SubscriptionFilter) -> SubscriptionFilter {
    let mut accepted = SubscriptionFilter::builder()
        .tools_list_changed()
        .prompts_list_changed();
    let uris: Vec<&String> = requested
        .resource_subscriptions
        .iter()
        .flatten()
        .filter(|uri| resources::ensure_exists(uri).is_ok())
        .collect();
    if !uris.is_empty() {
        accepted = accepted.resource_subscriptions(uris);
    }
    accepted.build()
}

/// Serves one listen stream: forwards every announced change the stream accepted until the
/// client cancels it or the stream closes.
pub(super) async fn listen(
    context: SubscriptionContext,
    mut changes: broadcast::Receiver<ListChange>,
) -> Result<(), ErrorData> {
    let sink = context.sink().clone();
    loop {
        let missed: &[ListChange] = tokio::select! {
            () = context.cancelled() => return Ok(()),
            change = changes.recv() => match change {
                Ok(ListChange::Tools) => &[ListChange::Tools],
                Ok(ListChange::Prompts) => &[ListChange::Prompts],
                Err(RecvError::Lagged(_)) => &[ListChange::Tools, ListChange::Prompts],
                Err(RecvError::Closed) => return Ok(()),
            },
        };
        for change in missed {
            let sent = match change {
                ListChange::Tools => sink.notify_tool_list_changed().await,
                ListChange::Prompts => sink.notify_prompt_list_changed().await,
            };
            match sent {
                // Not asked for on this stream: the sink keeps it off, as the filter says.
                Ok(()) | Err(SubscriptionSendError::NotificationNotAccepted(_)) => {}
                Err(error) => {
                    tracing::debug!(%error, "listen stream closed");
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_keeps_list_changes_and_existing_resources() {
        let requested = SubscriptionFilter::builder()
            .tools_list_changed()
            .resource_subscriptions(["test://static-text", "test://nothing-here"])
            .build();
        let accepted = accepted_filter(&requested);
        assert_eq!(accepted.tools_list_changed, Some(true));
        assert_eq!(accepted.prompts_list_changed, Some(true));
        assert_eq!(
            accepted.resource_subscriptions,
            Some(vec!["test://static-text".to_owned()])
        );
        assert_eq!(
            accepted_filter(&SubscriptionFilter::new()).resource_subscriptions,
            None
        );
    }

    #[test]
    fn announcements_reach_every_receiver() {
        let changes = ListChanges::new();
        assert_eq!(changes.announce(ListChange::Tools), 0, "nobody listening");
        let mut first = changes.subscribe();
        let mut second = changes.subscribe();
        assert_eq!(changes.announce(ListChange::Prompts), 2);
        assert_eq!(first.try_recv().unwrap(), ListChange::Prompts);
        assert_eq!(second.try_recv().unwrap(), ListChange::Prompts);
    }

    #[test]
    fn only_the_trigger_tools_trigger() {
        assert_eq!(trigger(TRIGGER_TOOL_CHANGE), Some(ListChange::Tools));
        assert_eq!(trigger(TRIGGER_PROMPT_CHANGE), Some(ListChange::Prompts));
        assert_eq!(trigger("test_simple_text"), None);
        assert!(tools().iter().all(|tool| trigger(&tool.name).is_some()));
    }
}
