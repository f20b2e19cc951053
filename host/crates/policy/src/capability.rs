//! The capabilities and their one name table ([`Capability`], [`names`]), and which capability each action needs
//! ([`capability_of_kind`], [`capability_of`]) and what it touches (its [`Target`], for scopes).

use crate::request;
use crate::scope::{Target, escape};
use coral_model::wire::json as data;
use coral_model::{Action, ActionKind};
use std::fmt;

/// A kind of action, in chat terms.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    /// Send messages (`send_private_msg`, `send_group_msg`, `send_msg`).
    Send,
    /// Recall messages (`delete_msg`).
    Recall,
    /// Remove group members (`set_group_kick`).
    Kick,
    /// Mute members (`set_group_ban`, `set_group_anonymous_ban`).
    Ban,
    /// Mute a whole group (`set_group_whole_ban`).
    WholeBan,
    /// Set or unset administrators (`set_group_admin`).
    SetAdmin,
    /// Allow or forbid anonymous messages (`set_group_anonymous`).
    SetGroupAnonymous,
    /// Set member cards (`set_group_card`).
    SetCard,
    /// Set special titles (`set_group_special_title`).
    SetTitle,
    /// Rename groups (`set_group_name`).
    SetGroupName,
    /// Leave or dismiss groups (`set_group_leave`).
    LeaveGroup,
    /// Answer friend and group requests (`set_friend_add_request`, `set_group_add_request`).
    HandleRequest,
    /// Remove friends (`delete_friend`).
    DeleteFriend,
    /// Send profile likes (`send_like`).
    SendLike,
    /// Read-only information (`get_*` except credentials, `can_send_*`).
    Query,
    /// The account's web credentials (`get_cookies`, `get_csrf_token`, `get_credentials`).
    Credentials,
    /// Restart the implementation or clear its cache (`set_restart`, `clean_cache`).
    Restart,
    /// Mention everyone (`at` segment with `all`).
    AtAll,
    /// Send local files (`file://` or absolute paths in media segments).
    LocalFile,
    /// Send media the platform downloads from a URL (`http(s)://` in media segments).
    MediaUrl,
    /// The plugin's own key-value store (`coral:bot/storage`).
    Storage,
    /// Timers: callbacks after a delay, every interval or on a cron schedule (`coral:bot/schedule`).
    Schedule,
    /// Outgoing HTTP to the hosts listed under the plugin's `http` allowlist (`wasi:http`, `coral:bot/http`).
    Http,
    /// Take a user's next message in a chat (`coral:bot/command.prompt`), within its scope.
    Prompt,
    /// A raw `call-api` of this action.
    CallApi(String),
}

/// Every capability except `call-api:<action>`, with its name: the one table of capability names.
const TABLE: &[(&str, Capability)] = &[
    ("send", Capability::Send),
    ("recall", Capability::Recall),
    ("kick", Capability::Kick),
    ("ban", Capability::Ban),
    ("whole-ban", Capability::WholeBan),
    ("set-admin", Capability::SetAdmin),
    ("set-group-anonymous", Capability::SetGroupAnonymous),
    ("set-card", Capability::SetCard),
    ("set-title", Capability::SetTitle),
    ("set-group-name", Capability::SetGroupName),
    ("leave-group", Capability::LeaveGroup),
    ("handle-request", Capability::HandleRequest),
    ("delete-friend", Capability::DeleteFriend),
    ("send-like", Capability::SendLike),
    ("query", Capability::Query),
    ("credentials", Capability::Credentials),
    ("restart", Capability::Restart),
    ("at-all", Capability::AtAll),
    ("local-file", Capability::LocalFile),
    ("media-url", Capability::MediaUrl),
    ("storage", Capability::Storage),
    ("schedule", Capability::Schedule),
    ("http", Capability::Http),
    ("prompt", Capability::Prompt),
];

/// Every capability name except `call-api:<action>`.
pub fn names() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|(name, _)| *name)
}

impl Capability {
    /// Parse a capability name (`kick`, `call-api:get_group_notice`, …).
    pub fn parse(name: &str) -> Result<Capability, String> {
        if let Some((_, capability)) = TABLE.iter().find(|(n, _)| *n == name) {
            return Ok(capability.clone());
        }
        match name.strip_prefix("call-api:") {
            // Granted under the name raw calls are checked under (`x_async` is `x`).
            Some(action) if !action.is_empty() => match request::normalise_name(action) {
                Ok(action) => Ok(Capability::CallApi(action)),
                Err(e) => Err(format!("{name:?}: {e}")),
            },
            _ => Err(format!(
                "unknown capability {name:?} (known: {}, call-api:<action>)",
                names().collect::<Vec<_>>().join(", ")
            )),
        }
    }

    /// Whether using it is recorded in the audit log (everything but plain sending and reading).
    pub fn is_privileged(&self) -> bool {
        !matches!(
            self,
            Capability::Send | Capability::Query | Capability::Storage | Capability::Schedule
        )
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Capability::CallApi(action) => write!(f, "call-api:{}", escape(action)),
            // Every other capability is in TABLE (the round-trip test parses and prints each name).
            fixed => match TABLE.iter().find(|(_, c)| c == fixed) {
                Some((name, _)) => f.write_str(name),
                None => write!(f, "{fixed:?}"),
            },
        }
    }
}

/// The standard action a name refers to, if it is one of the 38 (+ `delete_friend`), after normalising it the way
/// raw calls are ([`request::normalise_name`]: case, leading dots, `_async` / `_rate_limited` suffixes).
pub fn standard_kind(name: &str) -> Option<ActionKind> {
    ActionKind::from_name(&request::normalise_name(name).ok()?)
}

/// The capability of a standard action named `name` in any spelling ([`standard_kind`]).
pub fn standard_capability(name: &str) -> Option<Capability> {
    standard_kind(name).map(capability_of_kind)
}

/// The capability each standard action needs: the one table. Exhaustive: a new action must decide here.
pub fn capability_of_kind(kind: ActionKind) -> Capability {
    use ActionKind as K;
    match kind {
        K::SendPrivateMsg | K::SendGroupMsg | K::SendMsg => Capability::Send,
        K::DeleteMsg => Capability::Recall,
        K::GetMsg
        | K::GetForwardMsg
        | K::GetLoginInfo
        | K::GetStrangerInfo
        | K::GetFriendList
        | K::GetGroupInfo
        | K::GetGroupList
        | K::GetGroupMemberInfo
        | K::GetGroupMemberList
        | K::GetGroupHonorInfo
        | K::GetRecord
        | K::GetImage
        | K::CanSendImage
        | K::CanSendRecord
        | K::GetStatus
        | K::GetVersionInfo => Capability::Query,
        K::SendLike => Capability::SendLike,
        K::SetGroupKick => Capability::Kick,
        K::SetGroupBan | K::SetGroupAnonymousBan => Capability::Ban,
        K::SetGroupWholeBan => Capability::WholeBan,
        K::SetGroupAdmin => Capability::SetAdmin,
        K::SetGroupAnonymous => Capability::SetGroupAnonymous,
        K::SetGroupCard => Capability::SetCard,
        K::SetGroupName => Capability::SetGroupName,
        K::SetGroupLeave => Capability::LeaveGroup,
        K::SetGroupSpecialTitle => Capability::SetTitle,
        K::SetFriendAddRequest | K::SetGroupAddRequest => Capability::HandleRequest,
        K::DeleteFriend => Capability::DeleteFriend,
        K::GetCookies | K::GetCsrfToken | K::GetCredentials => Capability::Credentials,
        K::SetRestart | K::CleanCache => Capability::Restart,
    }
}

/// The one capability an action needs ([`capability_of_kind`]; a raw call's is `call-api:<name>`), and its target.
pub fn capability_of(action: &Action) -> (Capability, Target) {
    let capability = match action.kind() {
        Some(kind) => capability_of_kind(kind),
        None => Capability::CallApi(action.name().to_string()),
    };
    (capability, target_of(action))
}

/// What an action touches (for scopes). Exhaustive: a new action must decide here.
fn target_of(action: &Action) -> Target {
    use Action as A;
    match action {
        A::SendPrivateMsg { user_id, .. } | A::SendLike { user_id, .. } | A::DeleteFriend { user_id } => {
            Target::user(user_id)
        }
        A::GetStrangerInfo { user_id, .. } => Target::user(user_id),
        A::SendGroupMsg { group_id, .. }
        | A::SetGroupAnonymousBan { group_id, .. }
        | A::SetGroupWholeBan { group_id, .. }
        | A::SetGroupAnonymous { group_id, .. }
        | A::SetGroupName { group_id, .. }
        | A::SetGroupLeave { group_id, .. }
        | A::GetGroupInfo { group_id, .. }
        | A::GetGroupMemberList { group_id }
        | A::GetGroupHonorInfo { group_id, .. } => Target::group(group_id),
        A::SendMsg { target, .. } => Target::chat(target),
        A::SetGroupKick { group_id, user_id, .. }
        | A::SetGroupBan { group_id, user_id, .. }
        | A::SetGroupAdmin { group_id, user_id, .. }
        | A::SetGroupCard { group_id, user_id, .. }
        | A::SetGroupSpecialTitle { group_id, user_id, .. }
        | A::GetGroupMemberInfo { group_id, user_id, .. } => Target::member(group_id, user_id),
        A::DeleteMsg { .. }
        | A::GetMsg { .. }
        | A::GetForwardMsg { .. }
        | A::SetFriendAddRequest { .. }
        | A::SetGroupAddRequest { .. }
        | A::GetLoginInfo
        | A::GetFriendList
        | A::GetGroupList
        | A::GetRecord { .. }
        | A::GetImage { .. }
        | A::CanSendImage
        | A::CanSendRecord
        | A::GetStatus
        | A::GetVersionInfo
        | A::GetCookies { .. }
        | A::GetCsrfToken
        | A::GetCredentials { .. }
        | A::SetRestart { .. }
        | A::CleanCache => Target::default(),
        A::Raw { params, .. } => Target {
            group: opt_id(params, "group_id"),
            user: opt_id(params, "user_id"),
        },
    }
}

fn opt_id(params: &serde_json::Value, key: &str) -> Option<String> {
    data::opt_str(params, key).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests;
