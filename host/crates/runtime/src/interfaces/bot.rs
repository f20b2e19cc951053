//! `coral:bot/bot`: every platform action a plugin can ask for. Each function builds an [`Action`], sends it to
//! the bot through [`coral_model::Bots`], and reads the answer with [`coral_model::wire::json`]. Failures come back to the
//! plugin as WIT `error` values. Performing an admitted call (policy, audit, retry) is in the `act` submodule.

mod act;

pub use act::{retryable, transient};

use crate::state::PluginState;
use coral_model::bindings::coral::bot::bot::Host;
use coral_model::bindings::{
    BotInfo, Chat, Credentials, ErrorCode, ForwardMessageNode, FriendInfo, GroupInfo, GroupRequestKind, HonorInfo,
    LoginInfo, MemberInfo, MessageInfo, Segment, SendOptions, Status, StrangerInfo, VersionInfo, WitError,
};
use coral_model::wire::json as data;
use coral_model::{Action, HostError};
use coral_policy::Target;
use serde_json::Value;

type Answer<T> = Result<T, HostError>;

/// Most targets one `broadcast` may name.
pub const MAX_BROADCAST_TARGETS: usize = 500;

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

    async fn post_msg(
        &mut self,
        self_id: String,
        target: Chat,
        message: Vec<Segment>,
        options: SendOptions,
    ) -> Answer<()> {
        self.post(
            self_id,
            Action::SendMsg {
                target,
                message,
                options,
            },
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
