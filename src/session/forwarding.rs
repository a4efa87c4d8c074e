//! Work that belongs to another node of the fleet.
//!
//! - A new session is placed on the least loaded node with room: this node
//!   starts it or asks the chosen node to, and the next in line when that one
//!   filled up meanwhile or does not answer ([`place_or_create`]).
//! - A call on a session another live node runs goes to that node
//!   ([`to_owner`]).
//! - A sign-out ends the sign-in's WebSockets on every node ([`Logins`]).
//!
//! The caller's own credentials go along, so the other node applies the same
//! rules; its answer comes back as it was given. How a call reaches another
//! node is behind [`Peers`] (HTTP in `api::forward`), and what this node does
//! itself behind [`Local`] (the [`Manager`]), so the order of attempts is
//! tested without sockets.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::manager::{Caller, CreateRequest, Manager, SessionError, SessionView};
use super::placement::NodeInfo;
use crate::model::ids::{NodeId, SessionId};
use crate::store::cache::{Cache, Received};
use crate::store::Store;
use crate::sync::Locked;

/// The method of a call for another node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Post,
    Put,
    Delete,
}

/// A call for another node: `verb path` with an optional JSON body, on behalf
/// of the caller whose `Authorization` header this is, sent by node `by`.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    pub verb: Verb,
    pub path: String,
    pub body: Option<serde_json::Value>,
    pub authorization: &'a str,
    pub by: &'a str,
}

/// Another node's answer, kept as it came to be passed back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub retry_after: Option<String>,
    pub body: Vec<u8>,
}

impl Answer {
    /// A `no-room` answer: the node filled up since its last heartbeat.
    pub fn is_no_room(&self) -> bool {
        self.status == 503
            && serde_json::from_slice::<serde_json::Value>(&self.body)
                .ok()
                .and_then(|v| v["type"].as_str().map(|t| t.ends_with("/no-room")))
                .unwrap_or(false)
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A node that gave no answer.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the node at {base} did not answer: {reason}")]
pub struct Unreachable {
    /// The node's address, as its heartbeat gives it.
    pub base: String,
    pub reason: String,
}

/// Sends calls to other nodes.
pub trait Peers: Send + Sync {
    /// Sends `call` to the node at `base` (`http://host:port`).
    fn send(&self, base: &str, call: Call<'_>) -> impl Future<Output = Result<Answer, Unreachable>> + Send;
}

/// What this node does itself while it places or passes on a call.
pub trait Local: Send + Sync {
    /// A started session as this node shows it.
    type View: Send;
    /// This node's id.
    fn node(&self) -> &NodeId;
    /// The nodes that could run `req`, best first.
    fn place(&self, req: &CreateRequest) -> impl Future<Output = Result<Vec<NodeInfo>, SessionError>> + Send;
    /// Starts the session here.
    fn create(
        &self,
        caller: &Caller,
        req: CreateRequest,
    ) -> impl Future<Output = Result<Self::View, SessionError>> + Send;
    /// The address of the live node that runs session `id`, when not this one.
    fn owner_elsewhere(
        &self,
        caller: &Caller,
        id: &SessionId,
    ) -> impl Future<Output = Result<Option<String>, SessionError>> + Send;
    /// Counts a session started elsewhere on this node's decision.
    fn count_forwarded(&self);
}

impl Local for Arc<Manager> {
    type View = SessionView;

    fn node(&self) -> &NodeId {
        Manager::node(self)
    }

    async fn place(&self, req: &CreateRequest) -> Result<Vec<NodeInfo>, SessionError> {
        Manager::place(self, req).await
    }

    async fn create(&self, caller: &Caller, req: CreateRequest) -> Result<SessionView, SessionError> {
        // Boxed: a session start is a deep future.
        Box::pin(Manager::create(self, caller, req)).await
    }

    async fn owner_elsewhere(&self, caller: &Caller, id: &SessionId) -> Result<Option<String>, SessionError> {
        Manager::owner_elsewhere(self, caller, id).await
    }

    fn count_forwarded(&self) {
        self.placements.forwarded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Where a new session started.
#[derive(Debug)]
pub enum Placed<V> {
    Here(V),
    /// Another node's answer to the creation, whatever it says.
    There(Answer),
}

/// Why a call that may involve another node failed.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The last node asked had no room either; its answer.
    #[error("another node refused")]
    Refused(Answer),
    #[error(transparent)]
    Unreachable(#[from] Unreachable),
}

/// Starts a session for `caller`: here when the call cannot be passed on
/// (`authorization` is `None`: no credentials, or another node already sent
/// it), otherwise on the first of the placed nodes that takes it.
pub async fn place_or_create<L: Local>(
    local: &L,
    peers: &impl Peers,
    caller: &Caller,
    req: CreateRequest,
    authorization: Option<&str>,
) -> Result<Placed<L::View>, ForwardError> {
    let Some(authorization) = authorization else {
        return Ok(Placed::Here(local.create(caller, req).await?));
    };
    let mut last = None;
    for node in local.place(&req).await? {
        if node.node == *local.node() {
            match local.create(caller, req.clone()).await {
                Ok(view) => return Ok(Placed::Here(view)),
                Err(e @ SessionError::NoRoom(_)) => last = Some(ForwardError::Session(e)),
                Err(e) => return Err(e.into()),
            }
            continue;
        }
        let call = Call {
            verb: Verb::Post,
            path: "/api/v1/sessions".into(),
            body: serde_json::to_value(&req).ok(),
            authorization,
            by: local.node().as_str(),
        };
        // Boxed: this future already holds a session start.
        match Box::pin(peers.send(&node.address, call)).await {
            Ok(answer) if answer.is_no_room() => last = Some(ForwardError::Refused(answer)),
            Ok(answer) => {
                if answer.is_success() {
                    local.count_forwarded();
                    tracing::info!(node = %node.node, user = %caller.user_id, game = %req.game, "session placed on another node");
                }
                return Ok(Placed::There(answer));
            }
            Err(e) => last = Some(e.into()),
        }
    }
    Err(last.unwrap_or_else(|| SessionError::Unavailable("no node could be asked".into()).into()))
}

/// Passes a call on session `id` to the live node that runs it: `None` when
/// this node should answer it (it runs the session, the session is not
/// running anywhere, or the call cannot be passed on).
pub async fn to_owner(
    local: &impl Local,
    peers: &impl Peers,
    caller: &Caller,
    id: &SessionId,
    call: Option<Call<'_>>,
) -> Result<Option<Answer>, ForwardError> {
    let Some(call) = call else {
        return Ok(None);
    };
    match local.owner_elsewhere(caller, id).await? {
        Some(base) => Ok(Some(peers.send(&base, call).await?)),
        None => Ok(None),
    }
}

/// Sign-ins revoked on some node, by `sid`.
const REVOKED_CHANNEL: &str = "logins-revoked";

/// Sign-ins with open WebSockets, to close them on revocation here and on
/// every other node.
#[derive(Default)]
pub struct Logins {
    open: Mutex<HashMap<String, watch::Sender<bool>>>,
}

impl Logins {
    /// Resolves (true) when `sid` is revoked.
    pub fn watch(&self, sid: &str) -> watch::Receiver<bool> {
        let mut open = self.open.locked();
        open.retain(|_, tx| tx.receiver_count() > 0);
        open.entry(sid.to_string()).or_insert_with(|| watch::channel(false).0).subscribe()
    }

    pub fn revoke(&self, sid: &str) {
        if let Some(tx) = self.open.locked().remove(sid) {
            let _ = tx.send(true);
        }
    }

    fn open_sids(&self) -> Vec<String> {
        self.open.locked().keys().cloned().collect()
    }

    /// Ends this sign-in here and tells every other node through the cache.
    pub async fn revoke_everywhere(&self, cache: &Cache, sid: &str) {
        self.revoke(sid);
        if let Err(e) = cache.publish(REVOKED_CHANNEL, sid).await {
            // The other nodes' database check on reconnect, or the socket's
            // own next sign-in check, is what is left; say so.
            tracing::warn!(error = %e, "sign-out not announced to other nodes");
        }
    }

    /// Closes this node's sockets of sign-ins revoked on any node. After a
    /// gap in the cache's messages every open sign-in is checked in the database.
    pub async fn follow(self: Arc<Self>, cache: Cache, store: Store) {
        let mut sub = match cache.subscribe(REVOKED_CHANNEL).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "not following sign-outs of other nodes");
                return;
            }
        };
        // Held no longer: the subscription ends when the service's cache goes.
        drop(cache);
        while let Some(received) = sub.recv().await {
            match received {
                Received::Message(sid) => self.revoke(&sid),
                Received::Reconnected | Received::Lagged(_) => {
                    for sid in self.open_sids() {
                        if let Ok(Some(l)) = store.login_session(&sid).await {
                            if l.revoked_at.is_some() {
                                self.revoke(&sid);
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::auth::Role;

    /// This node: `room` says whether it can start a session.
    struct Here {
        id: NodeId,
        nodes: Vec<NodeInfo>,
        room: bool,
        owner: Option<String>,
        created: AtomicUsize,
        forwarded: AtomicUsize,
    }

    fn node(id: &str) -> NodeInfo {
        serde_json::from_value(serde_json::json!({
            "node": id,
            "address": format!("http://{id}"),
            "budget": {"total": {"cpu_cores": 8, "memory_mb": 8192}, "used": {"cpu_cores": 0, "memory_mb": 0}},
        }))
        .expect("a heartbeat")
    }

    fn here(order: &[&str], room: bool) -> Here {
        Here {
            id: NodeId::from("a"),
            nodes: order.iter().map(|n| node(n)).collect(),
            room,
            owner: None,
            created: AtomicUsize::new(0),
            forwarded: AtomicUsize::new(0),
        }
    }

    impl Local for Here {
        type View = &'static str;

        fn node(&self) -> &NodeId {
            &self.id
        }
        async fn place(&self, _: &CreateRequest) -> Result<Vec<NodeInfo>, SessionError> {
            Ok(self.nodes.clone())
        }
        async fn create(&self, _: &Caller, _: CreateRequest) -> Result<&'static str, SessionError> {
            self.created.fetch_add(1, Ordering::Relaxed);
            if self.room {
                Ok("started here")
            } else {
                Err(SessionError::NoRoom(crate::session::budget::NoRoom("full".into())))
            }
        }
        async fn owner_elsewhere(&self, _: &Caller, _: &SessionId) -> Result<Option<String>, SessionError> {
            Ok(self.owner.clone())
        }
        fn count_forwarded(&self) {
            self.forwarded.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Other nodes: what each answers (`None`: unreachable), and who was asked.
    struct Others {
        answers: HashMap<String, Option<Answer>>,
        asked: Mutex<Vec<(String, String, Verb, String)>>,
    }

    fn answer(status: u16, kind: &str) -> Answer {
        Answer {
            status,
            content_type: Some("application/json".into()),
            retry_after: None,
            body: serde_json::to_vec(&serde_json::json!({"type": format!("https://playcast.dev/problems/{kind}")}))
                .unwrap(),
        }
    }

    fn others(answers: &[(&str, Option<Answer>)]) -> Others {
        Others {
            answers: answers.iter().map(|(n, a)| (format!("http://{n}"), a.clone())).collect(),
            asked: Mutex::new(Vec::new()),
        }
    }

    impl Peers for Others {
        async fn send(&self, base: &str, call: Call<'_>) -> Result<Answer, Unreachable> {
            self.asked.locked().push((
                base.to_string(),
                call.authorization.to_string(),
                call.verb,
                call.by.to_string(),
            ));
            self.answers
                .get(base)
                .cloned()
                .flatten()
                .ok_or_else(|| Unreachable { base: base.to_string(), reason: "refused".into() })
        }
    }

    fn caller() -> Caller {
        Caller { user_id: "u".into(), role: Role::Player }
    }

    fn request() -> CreateRequest {
        serde_json::from_value(serde_json::json!({"game": "g"})).unwrap()
    }

    fn block<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    #[test]
    fn without_credentials_the_session_starts_here_unplaced() {
        let local = here(&["b"], true);
        let peers = others(&[]);
        let placed = block(place_or_create(&local, &peers, &caller(), request(), None)).unwrap();
        assert!(matches!(placed, Placed::Here(_)));
        assert!(peers.asked.locked().is_empty());
    }

    #[test]
    fn full_and_silent_nodes_are_skipped_in_placement_order() {
        let local = here(&["b", "a", "c", "d"], false);
        let peers = others(&[("b", None), ("c", Some(answer(503, "no-room"))), ("d", Some(answer(201, "created")))]);
        let placed = block(place_or_create(&local, &peers, &caller(), request(), Some("Bearer t"))).unwrap();
        let Placed::There(answer) = placed else { panic!("placed here") };
        assert_eq!(answer.status, 201);
        assert_eq!(local.created.load(Ordering::Relaxed), 1, "this node tried once, in its turn");
        assert_eq!(local.forwarded.load(Ordering::Relaxed), 1);
        let asked: Vec<_> = peers.asked.locked().iter().map(|(b, ..)| b.clone()).collect();
        assert_eq!(asked, ["http://b", "http://c", "http://d"]);
        assert!(peers
            .asked
            .locked()
            .iter()
            .all(|(_, auth, verb, by)| auth == "Bearer t" && *verb == Verb::Post && by == "a"));
    }

    #[test]
    fn another_nodes_refusal_other_than_no_room_is_its_answer() {
        let local = here(&["b", "c"], true);
        let peers = others(&[("b", Some(answer(422, "invalid-request"))), ("c", Some(answer(201, "created")))]);
        let placed = block(place_or_create(&local, &peers, &caller(), request(), Some("Bearer t"))).unwrap();
        assert!(matches!(placed, Placed::There(Answer { status: 422, .. })));
        assert_eq!(local.forwarded.load(Ordering::Relaxed), 0, "only a success counts");
        assert_eq!(peers.asked.locked().len(), 1);
    }

    #[test]
    fn when_every_node_fails_the_last_reason_is_given() {
        let peers = others(&[("b", None), ("c", Some(answer(503, "no-room")))]);
        let err =
            block(place_or_create(&here(&["b", "c"], true), &peers, &caller(), request(), Some("t"))).unwrap_err();
        assert!(matches!(err, ForwardError::Refused(Answer { status: 503, .. })), "{err:?}");
        let err =
            block(place_or_create(&here(&["c", "b"], true), &peers, &caller(), request(), Some("t"))).unwrap_err();
        assert!(
            matches!(err, ForwardError::Unreachable(Unreachable { ref base, .. }) if base == "http://b"),
            "{err:?}"
        );
        let err = block(place_or_create(&here(&["a"], false), &peers, &caller(), request(), Some("t"))).unwrap_err();
        assert!(matches!(err, ForwardError::Session(SessionError::NoRoom(_))), "{err:?}");
        let err = block(place_or_create(&here(&[], true), &peers, &caller(), request(), Some("t"))).unwrap_err();
        assert!(matches!(err, ForwardError::Session(SessionError::Unavailable(_))), "{err:?}");
    }

    #[test]
    fn a_call_goes_to_the_owner_only_when_it_is_another_node() {
        let call = || {
            Some(Call {
                verb: Verb::Delete,
                path: "/api/v1/sessions/s".into(),
                body: None,
                authorization: "t",
                by: "a",
            })
        };
        let peers = others(&[("b", Some(answer(200, "ok")))]);
        let sid = SessionId::new();
        let mine = here(&[], true);
        assert_eq!(block(to_owner(&mine, &peers, &caller(), &sid, call())).unwrap(), None);
        let theirs = Here { owner: Some("http://b".into()), ..here(&[], true) };
        assert_eq!(block(to_owner(&theirs, &peers, &caller(), &sid, None)).unwrap(), None);
        let passed = block(to_owner(&theirs, &peers, &caller(), &sid, call())).unwrap();
        assert_eq!(passed.map(|a| a.status), Some(200));
        assert_eq!(peers.asked.locked()[0].2, Verb::Delete);
    }

    #[test]
    fn a_revoked_sign_in_closes_its_watchers() {
        let logins = Logins::default();
        let w = logins.watch("sid");
        let other = logins.watch("other");
        logins.revoke("sid");
        assert!(*w.borrow());
        assert!(!*other.borrow());
    }
}
