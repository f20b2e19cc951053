//! Performing a `coral:bot/bot` call: the policy check (`admit`, the one gate every call goes through), the audit
//! log (a privileged call before and after; every refusal), the call to the bot itself (retried for read-only
//! queries), and recording its answer (`complete`) — awaited by the handler, or, for `post-msg`, in a task of
//! its own once the call has started.

use super::Answer;
use crate::state::{PluginShared, PluginState};
use coral_model::bindings::WitError;
use coral_model::wire::json as data;
use coral_model::{Action, ApiError};
use coral_ops::ActionStats;
use coral_ops::audit::{Entry, Outcome};
use coral_policy::{Capability, PolicyError, Target};
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

impl PluginState {
    /// Check the policy, perform the action, convert its `data`; record privileged actions and every refusal.
    pub(super) async fn act<T>(
        &mut self,
        self_id: String,
        action: Action,
        read: impl FnOnce(&Value) -> T,
    ) -> Answer<T> {
        self.count_host_call()?;
        Ok(self.act_counted(self_id, action, read).await?)
    }

    /// [`Self::act`] without counting a host call (a broadcast counts once for all its targets).
    pub(super) async fn act_counted<T>(
        &mut self,
        self_id: String,
        action: Action,
        read: impl FnOnce(&Value) -> T,
    ) -> Result<T, WitError> {
        let (admitted, action) = self.admit(self_id, action)?;
        // Waiting on the platform (and the send governor) is not the plugin's time: its wall clock is paused.
        let result = crate::wall::on_platform(call_with_retry(
            &self.shared,
            &admitted.self_id,
            action,
            &admitted.stats,
        ))
        .await;
        complete(&self.shared, admitted, result, false).map(|data| read(&data))
    }

    /// Check the policy and hand an admitted send to the platform without waiting for its answer (`post-msg`).
    ///
    /// A refusal is returned like [`Self::act`]'s. Once admitted, the action is posted to its bot
    /// ([`coral_model::BotConnection::post`]), whose first step, before this returns, puts the frame in the
    /// connection's outbox (or in the FIFO queue of the bot's send governor): the plugin's posted and sent messages
    /// leave in the order it made them. The answer is recorded like an awaited call's (call log, counters, audit)
    /// wherever it is read; a failure there is logged as a warning and audited. At most
    /// [`crate::state::MAX_POSTS_IN_FLIGHT`] posts per plugin wait for their answer; the next post waits (as
    /// platform time) for one of them. Only sends are posted, and a send is never retried.
    pub(super) async fn post(&mut self, self_id: String, action: Action) -> Answer<()> {
        self.count_host_call()?;
        let (admitted, action) = self.admit(self_id, action)?;
        let permit = match self.shared.posts.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => crate::wall::on_platform(self.shared.posts.clone().acquire_owned())
                .await
                .expect("the posts semaphore is never closed"),
        };
        let bot = self
            .shared
            .bots
            .get(&admitted.self_id)
            .ok_or_else(|| admitted.self_id.clone());
        let shared = self.shared.clone();
        let started = Instant::now();
        let finish = move |result: Result<Value, ApiError>| {
            shared
                .bot_calls
                .record(&admitted.self_id, started.elapsed(), result.is_ok());
            // A failure is logged (and audited) by `complete`: nobody waits for it.
            let _ = complete(&shared, admitted, result, true);
            drop(permit);
        };
        match bot {
            Ok(bot) => {
                let name = action.kind().map_or("action", coral_model::ActionKind::name);
                bot.post(action, coral_model::Done::new(name, finish));
            }
            Err(self_id) => finish(Err(ApiError::BotUnavailable(self_id))),
        }
        Ok(())
    }

    /// The policy's verdict on an action: admitted (with its privileged call already in the audit log), or the
    /// refusal the plugin gets (counted, logged and audited).
    fn admit(&mut self, self_id: String, mut action: Action) -> Result<(Admitted, Action), WitError> {
        let name = action.name().to_string();
        let stats = self.shared.stats.calls.action(&name);
        let policy = self.shared.policy();
        // A free reply goes into the event's chat on the bot that delivered the event, and nowhere else.
        let reply_chat = self
            .reply_chat
            .as_ref()
            .filter(|(bot, _)| *bot == self_id)
            .map(|(_, chat)| chat);
        let verdict = {
            let index = self.shared.messages.lock();
            let messages = index.of_bot(&self_id);
            let context = coral_policy::Context {
                bot: Some(&self_id),
                reply_chat,
                messages: &messages,
            };
            policy
                .check(&mut action, &context)
                .map_err(|refusal| (refusal, refused_target(&action, &messages)))
        };
        let decision = match verdict {
            Ok(decision) => decision,
            Err((refusal, target)) => return Err(self.refused(&self_id, &name, &target, &refusal)),
        };
        let target = &decision.target;
        if tracing::enabled!(target: "coral::api", tracing::Level::TRACE) {
            tracing::trace!(target: "coral::api", plugin = %self.shared.name, bot = self_id, action = name,
                target = %target, "api call body: {}", body_text(&action));
        }
        // A privileged call is in the audit log before its frame leaves; its outcome follows (or `unknown`). Any
        // call that gets through first writes the count of the plugin's coalesced refusals, keeping its order.
        let pending = match &self.shared.audit {
            Some(audit) if decision.is_audited() => {
                Some(audit.begin(self.audit_entry(&self_id, &name, &decision.capabilities(), target)))
            }
            Some(audit) => {
                audit.settle(&self.shared.name);
                None
            }
            None => None,
        };
        let admitted = Admitted {
            self_id,
            name,
            stats,
            decision,
            pending,
            started: Instant::now(),
        };
        Ok((admitted, action))
    }

    /// Count, log and audit a refusal; the error the plugin gets.
    pub(super) fn refused(&self, self_id: &str, name: &str, target: &Target, refusal: &PolicyError) -> WitError {
        let stats = self.shared.stats.calls.action(name);
        let error = WitError::from(refusal);
        let (capability, outcome, counter) = match refusal {
            PolicyError::Denied { capability, .. } => (capability.to_string(), Outcome::Denied, &stats.denied),
            PolicyError::RateLimited { capability, .. } => {
                (capability.to_string(), Outcome::RateLimited, &stats.rate_limited)
            }
            PolicyError::Invalid(_) => ("-".to_string(), Outcome::Invalid, &stats.denied),
            PolicyError::TooLarge(_) => ("-".to_string(), Outcome::TooLarge, &stats.denied),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(target: "coral::api", plugin = %self.shared.name, bot = self_id, action = name,
            target = %target, ms = 0u64, outcome = outcome.as_str(), retcode = error.retcode, "api call: {refusal}");
        self.audit(self_id, name, &capability, target, outcome, Some(&error));
        error
    }

    fn audit_entry(&self, bot: &str, action: &str, capability: &str, target: &Target) -> Entry {
        Entry::new(
            &self.shared.name,
            &self.shared.hash,
            bot,
            action,
            capability,
            &target.to_string(),
        )
    }

    /// Audit a refusal (denied, rate-limited, invalid): one line, or counted into the plugin's run of identical
    /// refusals ([`coral_ops::audit::AuditLog::refuse`]).
    pub(crate) fn audit(
        &self,
        bot: &str,
        action: &str,
        capability: &str,
        target: &Target,
        outcome: Outcome,
        error: Option<&WitError>,
    ) {
        let Some(audit) = &self.shared.audit else { return };
        let (retcode, detail) = error.map_or((0, String::new()), |e| (e.retcode, e.message.clone()));
        audit.refuse(
            &self
                .audit_entry(bot, action, capability, target)
                .outcome(outcome, retcode, detail),
        );
    }

    pub(super) async fn act_unit(&mut self, self_id: String, action: Action) -> Answer<()> {
        self.act(self_id, action, |_| ()).await
    }
}

/// An action the policy admitted, on its way to the platform.
struct Admitted {
    self_id: String,
    name: String,
    stats: std::sync::Arc<ActionStats>,
    decision: coral_policy::Decision,
    /// Its audit entry, for a privileged call (finished with the outcome).
    pending: Option<coral_ops::audit::Pending>,
    started: Instant,
}

/// Record what the platform answered an admitted action (call log, slow-call warning, counters, where a sent
/// message went, the audit outcome); its `data`, or the error the plugin gets. A `posted` call that fails is
/// audited even when the audit log did not begin it (a plain send): nobody else learns of that failure.
fn complete(
    shared: &PluginShared,
    admitted: Admitted,
    result: Result<Value, ApiError>,
    posted: bool,
) -> Result<Value, WitError> {
    let Admitted {
        self_id,
        name,
        stats,
        decision,
        pending,
        started,
    } = admitted;
    let target = &decision.target;
    let took = started.elapsed();
    stats.latency.record(took);
    let retcode = match &result {
        Ok(_) => 0,
        Err(e) => WitError::from(e).retcode,
    };
    let outcome = if result.is_ok() { "ok" } else { "failed" };
    tracing::debug!(target: "coral::api", plugin = %shared.name, bot = self_id, action = name,
        target = %target, ms = took.as_millis() as u64, outcome, retcode, "api call");
    if took >= shared.slow_call {
        tracing::warn!(plugin = %shared.name, bot = self_id, action = name, target = %target,
            ms = took.as_millis() as u64, outcome, "slow platform call (over {} ms)", shared.slow_call.as_millis());
    }
    match result {
        Ok(data) => {
            // Remember where our own messages went: recalls are scoped by it, and quotes may point at it.
            if let Some(chat) = &decision.sent_to {
                let id = data::message_id(&data);
                shared.messages.lock().remember(&self_id, &id, chat);
            }
            if let Some(pending) = pending {
                pending.finish(Outcome::Ok, 0, "");
            }
            stats.ok.fetch_add(1, Ordering::Relaxed);
            Ok(data)
        }
        Err(error) => {
            tracing::debug!(plugin = %shared.name, self_id, action = name, %error, "action failed");
            stats.failed.fetch_add(1, Ordering::Relaxed);
            // Without an answer the outcome is unknown: the platform may still have done it.
            let unknown = matches!(error, ApiError::Timeout { .. } | ApiError::Disconnected { .. });
            let error = WitError::from(&error);
            let outcome = if unknown { Outcome::Unknown } else { Outcome::Failed };
            if posted {
                tracing::warn!(plugin = %shared.name, bot = self_id, action = name, target = %target,
                    retcode = error.retcode, "a posted message failed: {}", error.message);
            }
            match pending {
                Some(pending) => pending.finish(outcome, error.retcode, &error.message),
                None if posted => {
                    if let Some(audit) = &shared.audit {
                        let entry = Entry::new(
                            &shared.name,
                            &shared.hash,
                            &self_id,
                            &name,
                            &decision.capabilities(),
                            &target.to_string(),
                        );
                        audit.refuse(&entry.outcome(outcome, error.retcode, error.message.clone()));
                    }
                }
                None => {}
            }
            Err(error)
        }
    }
}

/// Who a refused action was aimed at, for the audit log and the call log (a recall: where its message is).
fn refused_target(action: &Action, messages: &dyn coral_policy::MessageLookup) -> Target {
    match action {
        Action::DeleteMsg { message_id } => messages
            .chat_of(message_id)
            .map(|chat| Target::of_chat(&chat))
            .unwrap_or_default(),
        other => coral_policy::capability_of(other).1,
    }
}

/// Perform an admitted action; a read-only query (capability `query`) is retried on a transient failure when
/// the plugin has a retry policy. Nothing else is ever retried: a send, kick or ban that timed out may still
/// have happened.
async fn call_with_retry(
    shared: &PluginShared,
    self_id: &str,
    action: Action,
    stats: &ActionStats,
) -> Result<Value, ApiError> {
    let policy = match shared.retry {
        Some(policy) if policy.attempts > 1 && retryable(action.name()) => policy,
        _ => return call_bot(shared, self_id, action).await,
    };
    let mut backoff = Duration::from_millis(policy.backoff_ms);
    for attempt in 1.. {
        let result = call_bot(shared, self_id, action.clone()).await;
        match result {
            Err(error) if attempt < policy.attempts && transient(&error) => {
                stats.retries.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(target: "coral::api", plugin = %shared.name, bot = self_id,
                    action = action.name(), attempt, "retrying in {} ms after: {error}", backoff.as_millis());
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2);
            }
            result => return result,
        }
    }
    unreachable!("the loop returns on its last attempt")
}

/// One call to a bot, counted in its [`coral_ops::BotStats`].
async fn call_bot(shared: &PluginShared, self_id: &str, action: Action) -> Result<Value, ApiError> {
    let started = Instant::now();
    let result = shared.bots.call(self_id, action).await;
    shared.bot_calls.record(self_id, started.elapsed(), result.is_ok());
    result
}

/// Whether an action may be retried: a read-only query (the `query` capability's actions, typed or raw).
pub fn retryable(action: &str) -> bool {
    coral_policy::standard_capability(action) == Some(Capability::Query)
}

/// Whether a failure is worth another attempt: the platform did not answer, was busy, failed, or went away.
pub fn transient(error: &ApiError) -> bool {
    matches!(
        error,
        ApiError::Timeout { .. }
            | ApiError::Busy(_)
            | ApiError::Failed { .. }
            | ApiError::Disconnected { .. }
            | ApiError::BotUnavailable(_)
    )
}

/// A message's body for the trace-level call log (text only; other actions show their parameters).
fn body_text(action: &Action) -> String {
    let text = match action {
        Action::SendMsg { message, .. }
        | Action::SendGroupMsg { message, .. }
        | Action::SendPrivateMsg { message, .. } => coral_model::text::message_line(message),
        Action::Raw { params, .. } => params.to_string(),
        other => format!("{other:?}"),
    };
    coral_model::text::sanitize(&text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use coral_model::bindings::ErrorCode;

    #[test]
    fn platform_failures_keep_their_retcode_and_sends_become_send_failed() {
        let send = ApiError::Failed {
            action: "send_msg".into(),
            retcode: 1200,
            message: "upload".into(),
        };
        let e = WitError::from(&send);
        assert_eq!((e.code, e.retcode), (ErrorCode::SendFailed, 1200));
        let kick = ApiError::Failed {
            action: "set_group_kick".into(),
            retcode: 100,
            message: "x".into(),
        };
        assert_eq!(WitError::from(&kick).code, ErrorCode::OperationFailed);
        let e = WitError::from(&ApiError::Unsupported {
            platform: "console".into(),
            action: "set_group_kick".into(),
        });
        assert_eq!((e.code, e.retcode), (ErrorCode::Unsupported, 1404));
        assert_eq!(
            WitError::from(&ApiError::Timeout {
                action: "x".into(),
                ms: 1
            })
            .retcode,
            202
        );
    }
}
