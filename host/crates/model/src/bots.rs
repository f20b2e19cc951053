//! The bots an adapter connected: [`BotConnection`] (one account on one platform), how a call fails
//! ([`ApiError`]), what learns the outcome of a posted one ([`Done`]) and the registry by self id ([`Bots`]), with
//! each bot's link counters ([`LinkCounters`]).

use crate::action::Action;
use parking_lot::RwLock;
use serde_json::Value;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::task::{Context, Poll, Waker};

/// Why a platform did not do an action.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// The platform cannot do this at all.
    #[error("`{action}` is not supported on the {platform} platform")]
    Unsupported {
        /// The platform.
        platform: String,
        /// The action name.
        action: String,
    },
    /// An argument is missing or invalid.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// No bot with that id is connected.
    #[error("no bot `{}` is connected", crate::text::escape(.0))]
    BotUnavailable(String),
    /// No answer in time; the outcome is unknown.
    #[error("`{action}` timed out after {ms} ms (it may still have happened)")]
    Timeout {
        /// The action name.
        action: String,
        /// The limit.
        ms: u64,
    },
    /// The host or platform queue is full.
    #[error("busy: {0}")]
    Busy(String),
    /// The platform answered with a failure.
    #[error("platform failed `{action}` with retcode {retcode}: {message}")]
    Failed {
        /// The action name.
        action: String,
        /// The platform's retcode.
        retcode: i32,
        /// The platform's message.
        message: String,
    },
    /// The connection closed before the answer came; the action may or may not have happened.
    #[error("the connection closed while `{action}` was pending (it may still have happened)")]
    Disconnected {
        /// The action name.
        action: String,
    },
    /// The platform's answer could not be understood.
    #[error("unexpected response to `{action}`: {reason}")]
    BadResponse {
        /// The action name.
        action: String,
        /// What was wrong.
        reason: String,
    },
}

/// The future a [`BotConnection`] returns.
pub type ApiFuture = Pin<Box<dyn Future<Output = Result<Value, ApiError>> + Send>>;

/// One connected bot account on some platform.
pub trait BotConnection: Send + Sync {
    /// The platform name (`console`, `onebot`).
    fn platform(&self) -> &str;
    /// Whether the connection is up.
    fn online(&self) -> bool;
    /// Perform an action; on success, the response `data` in OneBot's shape.
    fn call(&self, action: Action) -> ApiFuture;
    /// Perform an action nobody waits for: `done` learns its outcome, wherever that is known. Its first step
    /// (queueing the frame, or a place in the send governor's queue) is taken before this returns, so posted and
    /// awaited actions keep the order they were made in. The default runs [`Self::call`] to its first wait here
    /// and the rest in a task of its own ([`run_to_done`]); an adapter that can hand the outcome over where the
    /// answer is read (a WebSocket's reader) needs no task.
    fn post(&self, action: Action, done: Done) {
        run_to_done(self.call(action), done);
    }
}

/// Run `call` until its first wait, here, and the rest in a task of its own; `done` gets the outcome.
pub fn run_to_done(mut call: ApiFuture, done: Done) {
    // Polled once without a waker: the task polls it again at once, and registers its own.
    match call.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(outcome) => done.finish(outcome),
        Poll::Pending => {
            tokio::spawn(async move { done.finish(call.await) });
        }
    }
}

/// Who learns the outcome of a posted action ([`BotConnection::post`]): called once. Dropped without being
/// called (its connection's state went away without an answer), it is told the connection closed.
pub struct Done {
    action: &'static str,
    report: Option<Report>,
}

/// What a [`Done`] calls with the outcome.
type Report = Box<dyn FnOnce(Result<Value, ApiError>) + Send>;

impl Done {
    /// `report` learns the outcome of `action` (its name, for the error if the answer never comes).
    pub fn new(action: &'static str, report: impl FnOnce(Result<Value, ApiError>) + Send + 'static) -> Done {
        Done {
            action,
            report: Some(Box::new(report)),
        }
    }

    /// Report the outcome.
    pub fn finish(mut self, outcome: Result<Value, ApiError>) {
        if let Some(report) = self.report.take() {
            report(outcome);
        }
    }
}

impl Drop for Done {
    fn drop(&mut self) {
        if let Some(report) = self.report.take() {
            report(Err(ApiError::Disconnected {
                action: self.action.into(),
            }));
        }
    }
}

impl std::fmt::Debug for Done {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Done({})", self.action)
    }
}

/// Counters an adapter keeps for one bot id; they outlive its connections, so its figures survive a reconnect.
#[derive(Debug, Default)]
pub struct LinkCounters {
    /// Times an API channel was (re)established for it (connections after the first are reconnections).
    pub connects: AtomicU64,
    /// Message events delivered again shortly after the first delivery, and dropped.
    pub duplicates: AtomicU64,
}

/// Counters an adapter keeps for all its connections (not one bot's): frames it could not use.
#[derive(Debug, Default)]
pub struct AdapterCounters {
    /// Frames that were neither an event nor a response, or an event that could not be decoded.
    pub malformed: AtomicU64,
    /// Responses whose echo matched no pending call (late, duplicated or made up).
    pub unmatched: AtomicU64,
    /// Message events dropped as duplicate deliveries (all bots).
    pub duplicates: AtomicU64,
}

/// One bot as [`Bots::list`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotEntry {
    /// Its self id.
    pub self_id: String,
    /// Its platform (`onebot`, `console`).
    pub platform: String,
    /// Whether its connection is up.
    pub online: bool,
}

/// The bots currently connected, by self id. Cheap to clone.
#[derive(Clone, Default)]
pub struct Bots {
    inner: Arc<RwLock<BTreeMap<String, Arc<dyn BotConnection>>>>,
    /// Link counters per bot id (kept when a bot goes away).
    links: Arc<RwLock<BTreeMap<String, Arc<LinkCounters>>>>,
}

impl Bots {
    /// Add or replace a bot.
    pub fn insert(&self, self_id: impl Into<String>, bot: Arc<dyn BotConnection>) {
        self.inner.write().insert(self_id.into(), bot);
    }

    /// Remove a bot.
    pub fn remove(&self, self_id: &str) {
        self.inner.write().remove(self_id);
    }

    /// Look a bot up.
    pub fn get(&self, self_id: &str) -> Option<Arc<dyn BotConnection>> {
        self.inner.read().get(self_id).cloned()
    }

    /// Every bot, by self id.
    pub fn list(&self) -> Vec<BotEntry> {
        let bots = self.inner.read();
        bots.iter()
            .map(|(id, b)| BotEntry {
                self_id: id.clone(),
                platform: b.platform().to_string(),
                online: b.online(),
            })
            .collect()
    }

    /// The link counters of a bot id (created on first use).
    pub fn link_counters(&self, self_id: &str) -> Arc<LinkCounters> {
        if let Some(counters) = self.links.read().get(self_id) {
            return counters.clone();
        }
        let mut links = self.links.write();
        links.entry(self_id.to_string()).or_default().clone()
    }

    /// Perform an action on a bot.
    pub async fn call(&self, self_id: &str, action: Action) -> Result<Value, ApiError> {
        let bot = self
            .get(self_id)
            .ok_or_else(|| ApiError::BotUnavailable(self_id.to_string()))?;
        bot.call(action).await
    }
}
