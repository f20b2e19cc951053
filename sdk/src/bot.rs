//! [`Bot`]: one platform account, and every action a plugin can ask of it.
//!
//! Every method is checked by the host against the plugin's grants and rate limits; a refused call returns
//! an [`Error`] (e.g. [`Error::is_denied`]) and nothing reaches the platform.
//!
//! ```no_run
//! use coral_sdk::{get_bot, MessageChain, MessageSegment};
//! let bot = get_bot("123456789");
//! bot.send_private_message("987654321", "Hello, World!").ok();
//! let message = MessageChain::new().text("你好!").push(MessageSegment::at("987654321"));
//! bot.send_group_message("1000001", message).ok();
//! ```

use crate::bindings::coral::bot::bot as api;
use crate::bindings::coral::bot::types::{Chat, GroupRequestKind, MessageEvent};
use crate::error::Result;
use crate::message::MessageChain;
pub use api::{
    BotInfo, Credentials, ForwardMessageNode, FriendInfo, GroupInfo, HonorInfo, LoginInfo, MemberInfo, MessageInfo,
    SendOptions, Status, StrangerInfo, VersionInfo,
};

/// A handle on one bot account, by its id (OneBot `self_id`). Cheap to create and clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bot {
    self_id: String,
}

/// The bot with this id (the seed's `get_bot("123456789")`). Calls fail with
/// [`crate::ErrorCode::BotUnavailable`] while no such bot is connected.
pub fn get_bot(self_id: impl Into<String>) -> Bot {
    Bot {
        self_id: self_id.into(),
    }
}

/// The bots the host knows about right now.
pub fn bots() -> Vec<BotInfo> {
    api::list_bots()
}

/// The seed's `send_action` action types, for code that prefers one entry point.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Recall a message.
    DeleteMessage {
        /// The message.
        message_id: String,
    },
    /// Remove a member from a group.
    KickMember {
        /// The group.
        group_id: String,
        /// The member.
        user_id: String,
        /// Refuse their future join requests.
        reject_add_request: bool,
    },
    /// Mute a member (0 seconds lifts the mute).
    BanMember {
        /// The group.
        group_id: String,
        /// The member.
        user_id: String,
        /// Seconds.
        duration_secs: u32,
    },
    /// Set or unset an administrator.
    SetGroupAdmin {
        /// The group.
        group_id: String,
        /// The member.
        user_id: String,
        /// True to set.
        enable: bool,
    },
    /// Answer a friend request.
    HandleFriendRequest {
        /// The request's flag.
        flag: String,
        /// Accept or refuse.
        approve: bool,
        /// Remark for the new friend.
        remark: String,
    },
    /// Remove a friend.
    DeleteFriend {
        /// The friend.
        user_id: String,
    },
}

impl Bot {
    /// The bot's id.
    pub fn self_id(&self) -> &str {
        &self.self_id
    }

    // ---- messages ----

    /// Send a message to a chat; returns its message id.
    pub fn send_message(&self, target: &Chat, message: impl Into<MessageChain>) -> Result<String> {
        self.send_message_with(
            target,
            message,
            &SendOptions {
                at_sender: None,
                reply_to: None,
            },
        )
    }

    /// Send a message with options (mention a user first, quote a message).
    pub fn send_message_with(
        &self,
        target: &Chat,
        message: impl Into<MessageChain>,
        options: &SendOptions,
    ) -> Result<String> {
        api::send_msg(&self.self_id, target, &message.into().0, options)
    }

    /// Send a private message; returns its message id.
    pub fn send_private_message(&self, user_id: &str, message: impl Into<MessageChain>) -> Result<String> {
        api::send_private_msg(&self.self_id, user_id, &message.into().0)
    }

    /// Send a group message; returns its message id.
    pub fn send_group_message(&self, group_id: &str, message: impl Into<MessageChain>) -> Result<String> {
        api::send_group_msg(&self.self_id, group_id, &message.into().0)
    }

    /// Send one message to many chats (at most 500); returns one result per target, in order (the message id or
    /// that target's error). The host checks each target like [`Bot::send_message`] and paces them through the
    /// bot's send governor, so this may take a while on a rate-limited bot; nothing is retried.
    pub fn broadcast(&self, targets: &[Chat], message: impl Into<MessageChain>) -> Vec<Result<String>> {
        api::broadcast(&self.self_id, targets, &message.into().0)
    }

    /// Send a message without waiting for the platform's answer (`post-msg`): checked now like
    /// [`Bot::send_message`] (a refusal is returned at once, and nothing is sent), then queued in order behind
    /// this plugin's earlier messages; the handler goes on at once. A failure after that is logged, counted and
    /// audited by the host, not returned. Use [`Bot::send_message`] when you need the message id.
    pub fn post_message(&self, target: &Chat, message: impl Into<MessageChain>) -> Result<()> {
        self.post_message_with(
            target,
            message,
            &SendOptions {
                at_sender: None,
                reply_to: None,
            },
        )
    }

    /// [`Bot::post_message`] with options (mention a user first, quote a message).
    pub fn post_message_with(
        &self,
        target: &Chat,
        message: impl Into<MessageChain>,
        options: &SendOptions,
    ) -> Result<()> {
        api::post_msg(&self.self_id, target, &message.into().0, options)
    }

    /// Answer a message in the chat it came from. Posted ([`Bot::post_message`]): the handler does not wait for
    /// the platform; a refusal is still returned. [`Bot::reply_and_wait`] waits and returns the message id.
    pub fn reply(&self, to: &MessageEvent, message: impl Into<MessageChain>) -> Result<()> {
        self.post_message(&to.chat(), message)
    }

    /// Answer a message in the chat it came from and wait for the platform: returns the message id, or the
    /// platform's error.
    pub fn reply_and_wait(&self, to: &MessageEvent, message: impl Into<MessageChain>) -> Result<String> {
        self.send_message(&to.chat(), message)
    }

    /// Answer a message in the chat it came from, mentioning its sender in groups (the seed's `at_sender`).
    /// Posted, like [`Bot::reply`].
    pub fn reply_at_sender(&self, to: &MessageEvent, message: impl Into<MessageChain>) -> Result<()> {
        let at_sender = to.is_group().then(|| to.user_id.clone());
        self.post_message_with(
            &to.chat(),
            message,
            &SendOptions {
                at_sender,
                reply_to: None,
            },
        )
    }

    /// Answer a message quoting it. Posted, like [`Bot::reply`].
    pub fn reply_quote(&self, to: &MessageEvent, message: impl Into<MessageChain>) -> Result<()> {
        let options = SendOptions {
            at_sender: None,
            reply_to: Some(to.message_id.clone()),
        };
        self.post_message_with(&to.chat(), message, &options)
    }

    /// Recall a message (the seed's `delete_message`).
    pub fn delete_message(&self, message_id: &str) -> Result<()> {
        api::delete_msg(&self.self_id, message_id)
    }

    /// Fetch a message by id.
    pub fn get_message(&self, message_id: &str) -> Result<MessageInfo> {
        api::get_msg(&self.self_id, message_id)
    }

    /// Fetch a forwarded-message bundle.
    pub fn get_forward_message(&self, id: &str) -> Result<Vec<ForwardMessageNode>> {
        api::get_forward_msg(&self.self_id, id)
    }

    /// Send profile likes.
    pub fn send_like(&self, user_id: &str, times: u32) -> Result<()> {
        api::send_like(&self.self_id, user_id, times)
    }

    // ---- group management ----

    /// Remove a member from a group (the seed's `kick_member`).
    pub fn kick_member(&self, group_id: &str, user_id: &str, reject_add_request: bool) -> Result<()> {
        api::set_group_kick(&self.self_id, group_id, user_id, reject_add_request)
    }

    /// Mute a member for `duration_secs` seconds (the seed's `ban_member`).
    pub fn ban_member(&self, group_id: &str, user_id: &str, duration_secs: u32) -> Result<()> {
        api::set_group_ban(&self.self_id, group_id, user_id, duration_secs)
    }

    /// Lift a member's mute.
    pub fn unban_member(&self, group_id: &str, user_id: &str) -> Result<()> {
        api::set_group_ban(&self.self_id, group_id, user_id, 0)
    }

    /// Mute an anonymous sender by their flag.
    pub fn ban_anonymous(&self, group_id: &str, flag: &str, duration_secs: u32) -> Result<()> {
        api::set_group_anonymous_ban(&self.self_id, group_id, flag, duration_secs)
    }

    /// Mute or unmute the whole group.
    pub fn set_whole_ban(&self, group_id: &str, enable: bool) -> Result<()> {
        api::set_group_whole_ban(&self.self_id, group_id, enable)
    }

    /// Set or unset an administrator.
    pub fn set_group_admin(&self, group_id: &str, user_id: &str, enable: bool) -> Result<()> {
        api::set_group_admin(&self.self_id, group_id, user_id, enable)
    }

    /// Allow or forbid anonymous messages.
    pub fn set_group_anonymous(&self, group_id: &str, enable: bool) -> Result<()> {
        api::set_group_anonymous(&self.self_id, group_id, enable)
    }

    /// Set a member's group card.
    pub fn set_group_card(&self, group_id: &str, user_id: &str, card: &str) -> Result<()> {
        api::set_group_card(&self.self_id, group_id, user_id, card)
    }

    /// Rename a group.
    pub fn set_group_name(&self, group_id: &str, name: &str) -> Result<()> {
        api::set_group_name(&self.self_id, group_id, name)
    }

    /// Leave (or, as owner with `dismiss`, dismiss) a group.
    pub fn leave_group(&self, group_id: &str, dismiss: bool) -> Result<()> {
        api::set_group_leave(&self.self_id, group_id, dismiss)
    }

    /// Set a member's special title (`duration_secs` -1: forever).
    pub fn set_special_title(&self, group_id: &str, user_id: &str, title: &str, duration_secs: i64) -> Result<()> {
        api::set_group_special_title(&self.self_id, group_id, user_id, title, duration_secs)
    }

    // ---- requests and friends ----

    /// Answer a friend request (the seed's `handle_friend_request`).
    pub fn handle_friend_request(&self, flag: &str, approve: bool, remark: &str) -> Result<()> {
        api::set_friend_add_request(&self.self_id, flag, approve, remark)
    }

    /// Answer a group join request or invitation.
    pub fn handle_group_request(&self, flag: &str, kind: GroupRequestKind, approve: bool, reason: &str) -> Result<()> {
        api::set_group_add_request(&self.self_id, flag, kind, approve, reason)
    }

    /// Remove a friend.
    pub fn delete_friend(&self, user_id: &str) -> Result<()> {
        api::delete_friend(&self.self_id, user_id)
    }

    // ---- queries ----

    /// The account's id and nickname.
    pub fn login_info(&self) -> Result<LoginInfo> {
        api::get_login_info(&self.self_id)
    }
    /// A user's public profile.
    pub fn stranger_info(&self, user_id: &str, no_cache: bool) -> Result<StrangerInfo> {
        api::get_stranger_info(&self.self_id, user_id, no_cache)
    }
    /// The friend list.
    pub fn friend_list(&self) -> Result<Vec<FriendInfo>> {
        api::get_friend_list(&self.self_id)
    }
    /// A group's details.
    pub fn group_info(&self, group_id: &str, no_cache: bool) -> Result<GroupInfo> {
        api::get_group_info(&self.self_id, group_id, no_cache)
    }
    /// The groups the bot is in.
    pub fn group_list(&self) -> Result<Vec<GroupInfo>> {
        api::get_group_list(&self.self_id)
    }
    /// A member's details.
    pub fn member_info(&self, group_id: &str, user_id: &str, no_cache: bool) -> Result<MemberInfo> {
        api::get_group_member_info(&self.self_id, group_id, user_id, no_cache)
    }
    /// All members of a group.
    pub fn member_list(&self, group_id: &str) -> Result<Vec<MemberInfo>> {
        api::get_group_member_list(&self.self_id, group_id)
    }
    /// A group's honors (`talkative`, `performer`, `legend`, `strong_newbie`, `emotion` or `all`).
    pub fn honor_info(&self, group_id: &str, honor_type: &str) -> Result<HonorInfo> {
        api::get_group_honor_info(&self.self_id, group_id, honor_type)
    }
    /// Cookies for a domain (needs the `credentials` grant).
    pub fn cookies(&self, domain: &str) -> Result<String> {
        api::get_cookies(&self.self_id, domain)
    }
    /// The CSRF token (needs the `credentials` grant).
    pub fn csrf_token(&self) -> Result<i64> {
        api::get_csrf_token(&self.self_id)
    }
    /// Cookies and CSRF token (needs the `credentials` grant).
    pub fn credentials(&self, domain: &str) -> Result<Credentials> {
        api::get_credentials(&self.self_id, domain)
    }
    /// Download and convert a voice file; returns the platform-side path.
    pub fn get_record(&self, file: &str, out_format: &str) -> Result<String> {
        api::get_record(&self.self_id, file, out_format)
    }
    /// Download an image; returns the platform-side path.
    pub fn get_image(&self, file: &str) -> Result<String> {
        api::get_image(&self.self_id, file)
    }
    /// Whether images can be sent.
    pub fn can_send_image(&self) -> Result<bool> {
        api::can_send_image(&self.self_id)
    }
    /// Whether voice can be sent.
    pub fn can_send_record(&self) -> Result<bool> {
        api::can_send_record(&self.self_id)
    }
    /// The platform's status.
    pub fn status(&self) -> Result<Status> {
        api::get_status(&self.self_id)
    }
    /// The implementation's version.
    pub fn version_info(&self) -> Result<VersionInfo> {
        api::get_version_info(&self.self_id)
    }
    /// Restart the implementation (needs the `restart` grant).
    pub fn restart(&self, delay_ms: u32) -> Result<()> {
        api::set_restart(&self.self_id, delay_ms)
    }
    /// Clear the implementation's cache (needs the `restart` grant).
    pub fn clean_cache(&self) -> Result<()> {
        api::clean_cache(&self.self_id)
    }

    // ---- generic ----

    /// Call any action with JSON parameters; returns the response `data` as JSON.
    /// Wrap the result in [`crate::ApiResponse::from_result`] for the seed's envelope.
    pub fn call_api(&self, action: &str, params_json: &str) -> Result<String> {
        api::call_api(&self.self_id, action, params_json)
    }

    /// Perform one of the seed's `send_action` actions.
    pub fn send_action(&self, action: &Action) -> Result<()> {
        match action {
            Action::DeleteMessage { message_id } => self.delete_message(message_id),
            Action::KickMember {
                group_id,
                user_id,
                reject_add_request,
            } => self.kick_member(group_id, user_id, *reject_add_request),
            Action::BanMember {
                group_id,
                user_id,
                duration_secs,
            } => self.ban_member(group_id, user_id, *duration_secs),
            Action::SetGroupAdmin {
                group_id,
                user_id,
                enable,
            } => self.set_group_admin(group_id, user_id, *enable),
            Action::HandleFriendRequest { flag, approve, remark } => self.handle_friend_request(flag, *approve, remark),
            Action::DeleteFriend { user_id } => self.delete_friend(user_id),
        }
    }
}
