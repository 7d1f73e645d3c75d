//! Change detection by content hash per URI, the subscriber table, and the task that sends
//! `notifications/resources/updated` / `list_changed` after each swap.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hasher};
use std::sync::{PoisonError, Weak};
use std::time::Duration;

use rmcp::model::ResourceUpdatedNotificationParam;
use rmcp::service::{Peer, RoleServer, SubscriptionSink};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{ResourceView, Shared, Viewer};

/// A session on the legacy protocol (`resources/subscribe`), keyed by its session id.
pub(crate) struct Session {
    pub(crate) peer: Peer<RoleServer>,
    pub(crate) uris: HashSet<String>,
}

/// A `subscriptions/listen` stream (protocol 2026-07-28).
pub(crate) struct Stream {
    pub(crate) sink: SubscriptionSink,
    pub(crate) uris: HashSet<String>,
    pub(crate) list_changed: bool,
}

#[derive(Default)]
pub(crate) struct Subscribers {
    pub(crate) sessions: HashMap<String, Session>,
    pub(crate) streams: HashMap<u64, Stream>,
}

impl Subscribers {
    /// Drops sessions whose transport has closed, so the table never outgrows the live ones.
    pub(crate) fn prune(&mut self) {
        self.sessions
            .retain(|_, session| !session.peer.is_transport_closed());
    }

    /// Registers (or refreshes) a session without subscribing it to a URI.
    pub(crate) fn touch_session(&mut self, key: String, peer: &Peer<RoleServer>) {
        self.prune();
        self.sessions
            .entry(key)
            .and_modify(|session| session.peer = peer.clone())
            .or_insert_with(|| Session {
                peer: peer.clone(),
                uris: HashSet::new(),
            });
    }

    pub(crate) fn subscribe(&mut self, key: String, peer: &Peer<RoleServer>, uri: String) {
        self.prune();
        let session = self.sessions.entry(key).or_insert_with(|| Session {
            peer: peer.clone(),
            uris: HashSet::new(),
        });
        session.peer = peer.clone();
        session.uris.insert(uri);
    }

    pub(crate) fn unsubscribe(&mut self, key: &str, uri: &str) {
        if let Some(session) = self.sessions.get_mut(key) {
            session.uris.remove(uri);
        }
    }
}

/// Removes a `listen` stream from the table when its future ends or is dropped.
pub(crate) struct StreamRegistration<T> {
    pub(crate) shared: Weak<Shared<T>>,
    pub(crate) id: u64,
}

impl<T> Drop for StreamRegistration<T> {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.subscribers().streams.remove(&self.id);
        }
    }
}

/// The content hashes of the snapshot last compared.
#[derive(Default)]
pub(crate) struct Tracked {
    pub(crate) generation: u64,
    pub(crate) hashes: HashMap<String, u64>,
}

/// What changed between the tracked snapshot and the current one.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Changes {
    pub(crate) updated: Vec<String>,
    pub(crate) list_changed: bool,
}

fn hash_contents<T: 'static>(view: &dyn ResourceView<T>, data: &T, uri: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    match view.read(data, uri, Viewer::Server) {
        Ok(contents) => match serde_json::to_vec(&contents) {
            Ok(bytes) => hasher.write(&bytes),
            Err(error) => hasher.write(error.to_string().as_bytes()),
        },
        Err(error) => hasher.write(error.to_string().as_bytes()),
    }
    hasher.finish()
}

/// Compares the current snapshot with the tracked one and records it as tracked.
pub(crate) fn detect_changes<T: 'static>(shared: &Shared<T>) -> Changes {
    let mut changes = Changes::default();
    let mut tracked = shared
        .tracked
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(snapshot) = shared.cache.try_snapshot()
        && snapshot.generation() != tracked.generation
    {
        let view = shared.view.as_ref();
        let hashes: HashMap<String, u64> = view
            .resources(snapshot.data(), Viewer::Server)
            .into_iter()
            .map(|resource| {
                let hash = hash_contents(view, snapshot.data(), &resource.uri);
                (resource.uri, hash)
            })
            .collect();
        if tracked.generation != 0 {
            for (uri, old) in &tracked.hashes {
                if hashes.get(uri) != Some(old) {
                    changes.updated.push(uri.clone());
                }
            }
        }
        changes.list_changed = tracked.hashes.len() != hashes.len()
            || hashes.keys().any(|uri| !tracked.hashes.contains_key(uri));
        tracked.generation = snapshot.generation();
        tracked.hashes = hashes;
    }
    changes.updated.sort_unstable();
    changes
}

enum Target {
    Session(String, Peer<RoleServer>),
    Stream(u64, SubscriptionSink),
}

enum Message {
    Updated(String),
    ListChanged,
}

enum Failed {
    Session(String),
    Stream(u64),
}

/// Sends `messages` to one subscriber one after the other, so that it hears of changes in the
/// order they were found (the health resource last); stops at the first that fails.
async fn send_in_order(
    target: Target,
    messages: Vec<Message>,
    timeout: Duration,
) -> Option<Failed> {
    for message in messages {
        if let Some(failed) = send(&target, message, timeout).await {
            return Some(failed);
        }
    }
    None
}

async fn send(target: &Target, message: Message, timeout: Duration) -> Option<Failed> {
    let (sent, failed) = match target {
        Target::Session(key, peer) => {
            let sent = match message {
                Message::Updated(uri) => {
                    let send =
                        peer.notify_resource_updated(ResourceUpdatedNotificationParam::new(uri));
                    tokio::time::timeout(timeout, send).await.map(|r| r.is_ok())
                }
                Message::ListChanged => {
                    tokio::time::timeout(timeout, peer.notify_resource_list_changed())
                        .await
                        .map(|r| r.is_ok())
                }
            };
            (sent, Failed::Session(key.clone()))
        }
        Target::Stream(id, sink) => {
            let sent = match message {
                Message::Updated(uri) => {
                    tokio::time::timeout(timeout, sink.notify_resource_updated(uri))
                        .await
                        .map(|r| r.is_ok())
                }
                Message::ListChanged => {
                    tokio::time::timeout(timeout, sink.notify_resource_list_changed())
                        .await
                        .map(|r| r.is_ok())
                }
            };
            (sent, Failed::Stream(*id))
        }
    };
    (sent != Ok(true)).then_some(failed)
}

/// Sends the notifications for `changes` and drops the subscribers that could not be reached,
/// in a debug-level `cache.notify` span (shown in development, filtered out in production).
async fn dispatch<T>(weak: &Weak<Shared<T>>, changes: Changes, health: Option<String>) {
    use tracing::Instrument as _;
    let span = tracing::debug_span!(
        "cache.notify",
        cache.updated = changes.updated.len(),
        cache.list_changed = changes.list_changed,
        cache.notifications = tracing::field::Empty,
        cache.failed = tracing::field::Empty,
    );
    dispatch_in_span(weak, changes, health)
        .instrument(span)
        .await;
}

async fn dispatch_in_span<T>(weak: &Weak<Shared<T>>, changes: Changes, health: Option<String>) {
    let Some(shared) = weak.upgrade() else { return };
    let timeout = shared.send_timeout;
    // Each subscriber's messages in the order they are to arrive; subscribers are sent to
    // concurrently.
    let mut session_queues: HashMap<String, (Peer<RoleServer>, Vec<Message>)> = HashMap::new();
    let mut stream_queues: HashMap<u64, (SubscriptionSink, Vec<Message>)> = HashMap::new();
    {
        let mut subscribers = shared.subscribers();
        subscribers.prune();
        let updated = changes.updated.iter().chain(health.iter());
        for uri in updated {
            for (key, session) in &subscribers.sessions {
                if session.uris.contains(uri) {
                    session_queues
                        .entry(key.clone())
                        .or_insert_with(|| (session.peer.clone(), Vec::new()))
                        .1
                        .push(Message::Updated(uri.clone()));
                }
            }
            for (id, stream) in &subscribers.streams {
                if stream.uris.contains(uri) {
                    stream_queues
                        .entry(*id)
                        .or_insert_with(|| (stream.sink.clone(), Vec::new()))
                        .1
                        .push(Message::Updated(uri.clone()));
                }
            }
        }
        if changes.list_changed && shared.list_changed {
            for (key, session) in &subscribers.sessions {
                session_queues
                    .entry(key.clone())
                    .or_insert_with(|| (session.peer.clone(), Vec::new()))
                    .1
                    .push(Message::ListChanged);
            }
            for (id, stream) in &subscribers.streams {
                if stream.list_changed {
                    stream_queues
                        .entry(*id)
                        .or_insert_with(|| (stream.sink.clone(), Vec::new()))
                        .1
                        .push(Message::ListChanged);
                }
            }
        }
    }
    // Do not keep the component alive while waiting on sessions.
    drop(shared);
    let mut sent = 0;
    let mut jobs = JoinSet::new();
    for (key, (peer, messages)) in session_queues {
        sent += messages.len();
        jobs.spawn(send_in_order(Target::Session(key, peer), messages, timeout));
    }
    for (id, (sink, messages)) in stream_queues {
        sent += messages.len();
        jobs.spawn(send_in_order(Target::Stream(id, sink), messages, timeout));
    }
    let mut failed = Vec::new();
    while let Some(outcome) = jobs.join_next().await {
        if let Ok(Some(failure)) = outcome {
            failed.push(failure);
        }
    }
    let span = tracing::Span::current();
    span.record("cache.notifications", sent);
    span.record("cache.failed", failed.len());
    tracing::debug!(
        notifications = sent,
        failed = failed.len(),
        updated = changes.updated.len(),
        list_changed = changes.list_changed,
        "cache resource notifications sent"
    );
    if failed.is_empty() {
        return;
    }
    let Some(shared) = weak.upgrade() else { return };
    let mut subscribers = shared.subscribers();
    for failure in failed {
        match failure {
            Failed::Session(key) => {
                subscribers.sessions.remove(&key);
            }
            Failed::Stream(id) => {
                subscribers.streams.remove(&id);
            }
        }
    }
}

/// The change-watching task: after each refresh attempt, detect and notify. Ends when the
/// component is dropped (`stop`) or the cache is gone.
pub(crate) async fn run<T>(
    weak: Weak<Shared<T>>,
    mut changes: watch::Receiver<u64>,
    stop: CancellationToken,
) where
    T: Send + Sync + 'static,
{
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            outcome = changes.changed() => {
                if outcome.is_err() {
                    return;
                }
            }
        }
        let (detected, health) = {
            let Some(shared) = weak.upgrade() else { return };
            (detect_changes(&shared), shared.health_uri.clone())
        };
        tokio::select! {
            () = stop.cancelled() => return,
            () = dispatch(&weak, detected, health) => {}
        }
    }
}
