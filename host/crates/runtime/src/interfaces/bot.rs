//! `coral:bot/bot`: every platform action a plugin can ask for. Each function builds an [`Action`], sends it to
//! the bot through [`coral_model::Bots`], and reads the answer with [`coral_model::wire::json`]. Failures come back to the
//! plugin as WIT `error` values.

use crate::state::{PluginShared, PluginState};
use coral_model::bindings::coral::bot::bot::Host;
use coral_model::bindings::{
    BotInfo, Chat, Credentials, ErrorCode, ForwardMessageNode, FriendInfo, GroupInfo, GroupRequestKind, HonorInfo,
    LoginInfo, MemberInfo, MessageInfo, Segment, SendOptions, Status, StrangerInfo, VersionInfo, WitError,
};
use coral_model::wire::json as data;
use coral_model::{Action, ApiError, HostError};
use coral_ops::ActionStats;
use coral_ops::audit::{Entry, Outcome};
use coral_policy::{Capability, PolicyError, Target};
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

type Answer<T> = Result<T, HostError>;

/// Most targets one `broadcast` may name.
pub const MAX_BROADCAST_TARGETS: usize = 500;

impl PluginState {
    /// Check the policy, perform the action, convert its `data`; record privileged actions and every refusal.
    async fn act<T>(&mut self, self_id: String, action: Action, read: impl FnOnce(&Value) -> T) -> Answer<T> {
        self.count_host_call()?;
        Ok(self.act_counted(self_id, action, read).await?)
    }

    /// [`Self::act`] without counting a host call (a broadcast counts once for all its targets).
    async fn act_counted<T>(
        &mut self,
        self_id: String,
        mut action: Action,
        read: impl FnOnce(&Value) -> T,
    ) -> Result<T, WitError> {
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
        let started = Instant::now();
        // Waiting on the platform (and the send governor) is not the plugin's time: its wall clock is paused.
        let result = crate::wall::on_platform(call_with_retry(&self.shared, &self_id, action, &stats)).await;
        let took = started.elapsed();
        stats.latency.record(took);
        let retcode = match &result {
            Ok(_) => 0,
            Err(e) => WitError::from(e).retcode,
        };
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        tracing::debug!(target: "coral::api", plugin = %self.shared.name, bot = self_id, action = name,
            target = %target, ms = took.as_millis() as u64, outcome, retcode, "api call");
        if took >= self.shared.slow_call {
            tracing::warn!(plugin = %self.shared.name, bot = self_id, action = name, target = %target,
                ms = took.as_millis() as u64, outcome, "slow platform call (over {} ms)", self.shared.slow_call.as_millis());
        }
        match result {
            Ok(data) => {
                // Remember where our own messages went: recalls are scoped by it, and quotes may point at it.
                if let Some(chat) = &decision.sent_to {
                    let id = data::message_id(&data);
                    self.shared.messages.lock().remember(&self_id, &id, chat);
                }
                if let Some(pending) = pending {
                    pending.finish(Outcome::Ok, 0, "");
                }
                stats.ok.fetch_add(1, Ordering::Relaxed);
                Ok(read(&data))
            }
            Err(error) => {
                tracing::debug!(plugin = %self.shared.name, self_id, action = name, %error, "action failed");
                stats.failed.fetch_add(1, Ordering::Relaxed);
                // Without an answer the outcome is unknown: the platform may still have done it.
                let unknown = matches!(error, ApiError::Timeout { .. } | ApiError::Disconnected { .. });
                let error = WitError::from(&error);
                if let Some(pending) = pending {
                    let outcome = if unknown { Outcome::Unknown } else { Outcome::Failed };
                    pending.finish(outcome, error.retcode, &error.message);
                }
                Err(error)
            }
        }
    }

    /// Count, log and audit a refusal; the error the plugin gets.
    fn refused(&self, self_id: &str, name: &str, target: &Target, refusal: &PolicyError) -> WitError {
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

    async fn act_unit(&mut self, self_id: String, action: Action) -> Answer<()> {
        self.act(self_id, action, |_| ()).await
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

impl Host for PluginState {
    async fn list_bots(&mut self) -> wasmtime::Result<Vec<BotInfo>> {
        self.count_host_call()?;
        Ok(self
            .shared
            .bots
            .list()
            .into_iter()
            .map(|bot| BotInfo {
                self_id: bot.self_id,
                platform: bot.platform,
                online: bot.online,
            })
            .collect())
    }

    async fn send_private_msg(&mut self, self_id: String, user_id: String, message: Vec<Segment>) -> Answer<String> {
        self.act(self_id, Action::SendPrivateMsg { user_id, message }, data::message_id)
            .await
    }

    async fn send_group_msg(&mut self, self_id: String, group_id: String, message: Vec<Segment>) -> Answer<String> {
        self.act(self_id, Action::SendGroupMsg { group_id, message }, data::message_id)
            .await
    }

    async fn send_msg(
        &mut self,
        self_id: String,
        target: Chat,
        message: Vec<Segment>,
        options: SendOptions,
    ) -> Answer<String> {
        self.act(
            self_id,
            Action::SendMsg {
                target,
                message,
                options,
            },
            data::message_id,
        )
        .await
    }

    async fn broadcast(
        &mut self,
        self_id: String,
        targets: Vec<Chat>,
        message: Vec<Segment>,
    ) -> wasmtime::Result<Vec<Result<String, WitError>>> {
        // One host call for the whole list: the list itself is bounded.
        self.count_host_call()?;
        if targets.len() > MAX_BROADCAST_TARGETS {
            let error = WitError::new(
                ErrorCode::InvalidArgument,
                format!(
                    "broadcast takes at most {MAX_BROADCAST_TARGETS} targets, not {}; nothing was sent",
                    targets.len()
                ),
            );
            return Ok(vec![error; targets.len()].into_iter().map(Err).collect());
        }
        let mut results = Vec::with_capacity(targets.len());
        // In order, one at a time: each is checked like a send and waits its turn at the bot's send governor.
        for target in targets {
            let action = Action::SendMsg {
                target,
                message: message.clone(),
                options: SendOptions {
                    at_sender: None,
                    reply_to: None,
                },
            };
            results.push(self.act_counted(self_id.clone(), action, data::message_id).await);
        }
        Ok(results)
    }

    async fn delete_msg(&mut self, self_id: String, message_id: String) -> Answer<()> {
        self.act_unit(self_id, Action::DeleteMsg { message_id }).await
    }

    async fn get_msg(&mut self, self_id: String, message_id: String) -> Answer<MessageInfo> {
        self.act(self_id, Action::GetMsg { message_id }, data::message_info)
            .await
    }

    async fn get_forward_msg(&mut self, self_id: String, id: String) -> Answer<Vec<ForwardMessageNode>> {
        self.act(self_id, Action::GetForwardMsg { id }, data::forward_nodes)
            .await
    }

    async fn send_like(&mut self, self_id: String, user_id: String, times: u32) -> Answer<()> {
        self.act_unit(self_id, Action::SendLike { user_id, times }).await
    }

    async fn set_group_kick(
        &mut self,
        self_id: String,
        group_id: String,
        user_id: String,
        reject_add_request: bool,
    ) -> Answer<()> {
        self.act_unit(
            self_id,
            Action::SetGroupKick {
                group_id,
                user_id,
                reject_add_request,
            },
        )
        .await
    }

    async fn set_group_ban(
        &mut self,
        self_id: String,
        group_id: String,
        user_id: String,
        duration_secs: u32,
    ) -> Answer<()> {
        self.act_unit(
            self_id,
            Action::SetGroupBan {
                group_id,
                user_id,
                duration_secs,
            },
        )
        .await
    }

    async fn set_group_anonymous_ban(
        &mut self,
        self_id: String,
        group_id: String,
        flag: String,
        duration_secs: u32,
    ) -> Answer<()> {
        self.act_unit(
            self_id,
            Action::SetGroupAnonymousBan {
                group_id,
                flag,
                duration_secs,
            },
        )
        .await
    }

    async fn set_group_whole_ban(&mut self, self_id: String, group_id: String, enable: bool) -> Answer<()> {
        self.act_unit(self_id, Action::SetGroupWholeBan { group_id, enable })
            .await
    }

    async fn set_group_admin(
        &mut self,
        self_id: String,
        group_id: String,
        user_id: String,
        enable: bool,
    ) -> Answer<()> {
        self.act_unit(
            self_id,
            Action::SetGroupAdmin {
                group_id,
                user_id,
                enable,
            },
        )
        .await
    }

    async fn set_group_anonymous(&mut self, self_id: String, group_id: String, enable: bool) -> Answer<()> {
        self.act_unit(self_id, Action::SetGroupAnonymous { group_id, enable })
            .await
    }

    async fn set_group_card(&mut self, self_id: String, group_id: String, user_id: String, card: String) -> Answer<()> {
        self.act_unit(
            self_id,
            Action::SetGroupCard {
                group_id,
                user_id,
                card,
            },
        )
        .await
    }

    async fn set_group_name(&mut self, self_id: String, group_id: String, name: String) -> Answer<()> {
        self.act_unit(self_id, Action::SetGroupName { group_id, name }).await
    }

    async fn set_group_leave(&mut self, self_id: String, group_id: String, is_dismiss: bool) -> Answer<()> {
        self.act_unit(self_id, Action::SetGroupLeave { group_id, is_dismiss })
            .await
    }

    async fn set_group_special_title(
        &mut self,
        self_id: String,
        group_id: String,
        user_id: String,
        title: String,
        duration_secs: i64,
    ) -> Answer<()> {
        self.act_unit(
            self_id,
            Action::SetGroupSpecialTitle {
                group_id,
                user_id,
                title,
                duration_secs,
            },
        )
        .await
    }

    async fn set_friend_add_request(
        &mut self,
        self_id: String,
        flag: String,
        approve: bool,
        remark: String,
    ) -> Answer<()> {
        self.act_unit(self_id, Action::SetFriendAddRequest { flag, approve, remark })
            .await
    }

    async fn set_group_add_request(
        &mut self,
        self_id: String,
        flag: String,
        kind: GroupRequestKind,
        approve: bool,
        reason: String,
    ) -> Answer<()> {
        self.act_unit(
            self_id,
            Action::SetGroupAddRequest {
                flag,
                kind,
                approve,
                reason,
            },
        )
        .await
    }

    async fn delete_friend(&mut self, self_id: String, user_id: String) -> Answer<()> {
        self.act_unit(self_id, Action::DeleteFriend { user_id }).await
    }

    async fn get_login_info(&mut self, self_id: String) -> Answer<LoginInfo> {
        self.act(self_id, Action::GetLoginInfo, data::login_info).await
    }

    async fn get_stranger_info(&mut self, self_id: String, user_id: String, no_cache: bool) -> Answer<StrangerInfo> {
        self.act(
            self_id,
            Action::GetStrangerInfo { user_id, no_cache },
            data::stranger_info,
        )
        .await
    }

    async fn get_friend_list(&mut self, self_id: String) -> Answer<Vec<FriendInfo>> {
        self.act(self_id, Action::GetFriendList, data::friend_list).await
    }

    async fn get_group_info(&mut self, self_id: String, group_id: String, no_cache: bool) -> Answer<GroupInfo> {
        self.act(self_id, Action::GetGroupInfo { group_id, no_cache }, data::group_info)
            .await
    }

    async fn get_group_list(&mut self, self_id: String) -> Answer<Vec<GroupInfo>> {
        self.act(self_id, Action::GetGroupList, data::group_list).await
    }

    async fn get_group_member_info(
        &mut self,
        self_id: String,
        group_id: String,
        user_id: String,
        no_cache: bool,
    ) -> Answer<MemberInfo> {
        self.act(
            self_id,
            Action::GetGroupMemberInfo {
                group_id,
                user_id,
                no_cache,
            },
            data::member_info,
        )
        .await
    }

    async fn get_group_member_list(&mut self, self_id: String, group_id: String) -> Answer<Vec<MemberInfo>> {
        self.act(self_id, Action::GetGroupMemberList { group_id }, data::member_list)
            .await
    }

    async fn get_group_honor_info(
        &mut self,
        self_id: String,
        group_id: String,
        honor_type: String,
    ) -> Answer<HonorInfo> {
        self.act(
            self_id,
            Action::GetGroupHonorInfo { group_id, honor_type },
            data::honor_info,
        )
        .await
    }

    async fn get_cookies(&mut self, self_id: String, domain: String) -> Answer<String> {
        self.act(self_id, Action::GetCookies { domain }, |v| data::id(v, "cookies"))
            .await
    }

    async fn get_csrf_token(&mut self, self_id: String) -> Answer<i64> {
        self.act(self_id, Action::GetCsrfToken, |v| data::int(v, "token")).await
    }

    async fn get_credentials(&mut self, self_id: String, domain: String) -> Answer<Credentials> {
        self.act(self_id, Action::GetCredentials { domain }, data::credentials)
            .await
    }

    async fn get_record(&mut self, self_id: String, file: String, out_format: String) -> Answer<String> {
        self.act(self_id, Action::GetRecord { file, out_format }, |v| data::id(v, "file"))
            .await
    }

    async fn get_image(&mut self, self_id: String, file: String) -> Answer<String> {
        self.act(self_id, Action::GetImage { file }, |v| data::id(v, "file"))
            .await
    }

    async fn can_send_image(&mut self, self_id: String) -> Answer<bool> {
        self.act(self_id, Action::CanSendImage, |v| data::flag(v, "yes", false))
            .await
    }

    async fn can_send_record(&mut self, self_id: String) -> Answer<bool> {
        self.act(self_id, Action::CanSendRecord, |v| data::flag(v, "yes", false))
            .await
    }

    async fn get_status(&mut self, self_id: String) -> Answer<Status> {
        self.act(self_id, Action::GetStatus, data::status).await
    }

    async fn get_version_info(&mut self, self_id: String) -> Answer<VersionInfo> {
        self.act(self_id, Action::GetVersionInfo, data::version_info).await
    }

    async fn set_restart(&mut self, self_id: String, delay_ms: u32) -> Answer<()> {
        self.act_unit(self_id, Action::SetRestart { delay_ms }).await
    }

    async fn clean_cache(&mut self, self_id: String) -> Answer<()> {
        self.act_unit(self_id, Action::CleanCache).await
    }

    async fn call_api(&mut self, self_id: String, action: String, params_json: String) -> Answer<String> {
        // Too long, or with more structure than any admissible call: refused before it is parsed.
        if let Err(refusal) = self.shared.policy().sizes().check_params_text(&params_json) {
            self.count_host_call()?;
            let name = coral_model::text::bounded(&action, 64);
            return Err(HostError::from(self.refused(
                &self_id,
                &name,
                &Target::default(),
                &refusal,
            )));
        }
        let params: Value = match serde_json::from_str(if params_json.trim().is_empty() {
            "{}"
        } else {
            &params_json
        }) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => {
                return Err(HostError::new(
                    ErrorCode::InvalidArgument,
                    "params-json must be a JSON object",
                ));
            }
            Err(e) => {
                return Err(HostError::new(ErrorCode::InvalidArgument, format!("params-json: {e}")));
            }
        };
        if action.is_empty() {
            return Err(HostError::new(ErrorCode::InvalidArgument, "action must not be empty"));
        }
        self.act(self_id, Action::Raw { action, params }, Value::to_string)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
