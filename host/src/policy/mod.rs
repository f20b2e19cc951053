//! Capabilities, grants and rate limits: what a plugin may do, where, and how often.
//!
//! Every [`Action`] maps to exactly one [`Capability`] ([`capability_of`], one exhaustive match, no catch-all),
//! plus content capabilities for what its message carries (`at-all`, `local-file`, `media-url`). A plugin may use a
//! capability only if it both requested it (its `metadata`) and the operator granted it (`[plugins.<name>]
//! grants`), within the grant's scope (groups / users), and within its rate limit. Without any grant a plugin may
//! still send replies into the chat of the event it is handling. A refusal is a [`PolicyError`] value; nothing
//! reaches the platform.

pub mod rate;

use crate::adapters::Action;
use crate::api::data;
use crate::runtime::bindings::coral::bot::types::ForwardNode;
use crate::runtime::bindings::{Chat, Segment};
use rate::{Bucket, Rate};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

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
    /// A raw `call-api` of this action.
    CallApi(String),
}

/// Every capability name except `call-api:<action>`.
pub const NAMES: &[&str] = &[
    "send",
    "recall",
    "kick",
    "ban",
    "whole-ban",
    "set-admin",
    "set-group-anonymous",
    "set-card",
    "set-title",
    "set-group-name",
    "leave-group",
    "handle-request",
    "delete-friend",
    "send-like",
    "query",
    "credentials",
    "restart",
    "at-all",
    "local-file",
    "media-url",
    "storage",
    "schedule",
    "http",
];

impl Capability {
    /// Parse a capability name (`kick`, `call-api:get_group_notice`, …).
    pub fn parse(name: &str) -> Result<Capability, String> {
        Ok(match name {
            "send" => Capability::Send,
            "recall" => Capability::Recall,
            "kick" => Capability::Kick,
            "ban" => Capability::Ban,
            "whole-ban" => Capability::WholeBan,
            "set-admin" => Capability::SetAdmin,
            "set-group-anonymous" => Capability::SetGroupAnonymous,
            "set-card" => Capability::SetCard,
            "set-title" => Capability::SetTitle,
            "set-group-name" => Capability::SetGroupName,
            "leave-group" => Capability::LeaveGroup,
            "handle-request" => Capability::HandleRequest,
            "delete-friend" => Capability::DeleteFriend,
            "send-like" => Capability::SendLike,
            "query" => Capability::Query,
            "credentials" => Capability::Credentials,
            "restart" => Capability::Restart,
            "at-all" => Capability::AtAll,
            "local-file" => Capability::LocalFile,
            "media-url" => Capability::MediaUrl,
            "storage" => Capability::Storage,
            "schedule" => Capability::Schedule,
            "http" => Capability::Http,
            other => match other.strip_prefix("call-api:") {
                Some(action) if !action.is_empty() => Capability::CallApi(action.to_string()),
                _ => {
                    return Err(format!(
                        "unknown capability {other:?} (known: {}, call-api:<action>)",
                        NAMES.join(", ")
                    ));
                }
            },
        })
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
        let name = match self {
            Capability::Send => "send",
            Capability::Recall => "recall",
            Capability::Kick => "kick",
            Capability::Ban => "ban",
            Capability::WholeBan => "whole-ban",
            Capability::SetAdmin => "set-admin",
            Capability::SetGroupAnonymous => "set-group-anonymous",
            Capability::SetCard => "set-card",
            Capability::SetTitle => "set-title",
            Capability::SetGroupName => "set-group-name",
            Capability::LeaveGroup => "leave-group",
            Capability::HandleRequest => "handle-request",
            Capability::DeleteFriend => "delete-friend",
            Capability::SendLike => "send-like",
            Capability::Query => "query",
            Capability::Credentials => "credentials",
            Capability::Restart => "restart",
            Capability::AtAll => "at-all",
            Capability::LocalFile => "local-file",
            Capability::MediaUrl => "media-url",
            Capability::Storage => "storage",
            Capability::Schedule => "schedule",
            Capability::Http => "http",
            Capability::CallApi(action) => return write!(f, "call-api:{action}"),
        };
        f.write_str(name)
    }
}

/// Who or where an action is aimed at, for scope checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// The group, if the action is about one.
    pub group: Option<String>,
    /// The user, if the action is about one.
    pub user: Option<String>,
}

impl Target {
    fn group(g: &str) -> Target {
        Target {
            group: Some(g.to_string()),
            user: None,
        }
    }
    fn member(g: &str, u: &str) -> Target {
        Target {
            group: Some(g.to_string()),
            user: Some(u.to_string()),
        }
    }
    fn user(u: &str) -> Target {
        Target {
            group: None,
            user: Some(u.to_string()),
        }
    }
    /// The target of a chat.
    pub fn of_chat(chat: &Chat) -> Target {
        Target::chat(chat)
    }

    fn chat(chat: &Chat) -> Target {
        match chat {
            Chat::Private(u) => Target::user(u),
            Chat::Group(g) => Target::group(g),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.group, &self.user) {
            (Some(g), Some(u)) => write!(f, "group {g} user {u}"),
            (Some(g), None) => write!(f, "group {g}"),
            (None, Some(u)) => write!(f, "user {u}"),
            (None, None) => f.write_str("-"),
        }
    }
}

/// The standard action a name refers to, if it is one of the 38 (+ `delete_friend`), ignoring the OneBot
/// `_async` and `_rate_limited` suffixes.
pub fn standard_capability(name: &str) -> Option<Capability> {
    let base = name
        .strip_suffix("_async")
        .or_else(|| name.strip_suffix("_rate_limited"))
        .unwrap_or(name);
    Some(match base {
        "send_private_msg" | "send_group_msg" | "send_msg" => Capability::Send,
        "delete_msg" => Capability::Recall,
        "get_msg"
        | "get_forward_msg"
        | "get_login_info"
        | "get_stranger_info"
        | "get_friend_list"
        | "get_group_info"
        | "get_group_list"
        | "get_group_member_info"
        | "get_group_member_list"
        | "get_group_honor_info"
        | "get_record"
        | "get_image"
        | "can_send_image"
        | "can_send_record"
        | "get_status"
        | "get_version_info" => Capability::Query,
        "send_like" => Capability::SendLike,
        "set_group_kick" => Capability::Kick,
        "set_group_ban" | "set_group_anonymous_ban" => Capability::Ban,
        "set_group_whole_ban" => Capability::WholeBan,
        "set_group_admin" => Capability::SetAdmin,
        "set_group_anonymous" => Capability::SetGroupAnonymous,
        "set_group_card" => Capability::SetCard,
        "set_group_name" => Capability::SetGroupName,
        "set_group_leave" => Capability::LeaveGroup,
        "set_group_special_title" => Capability::SetTitle,
        "set_friend_add_request" | "set_group_add_request" => Capability::HandleRequest,
        "delete_friend" => Capability::DeleteFriend,
        "get_cookies" | "get_csrf_token" | "get_credentials" => Capability::Credentials,
        "set_restart" | "clean_cache" => Capability::Restart,
        _ => return None,
    })
}

/// The one capability an action needs, and its target. One exhaustive match: a new action must decide here.
pub fn capability_of(action: &Action) -> (Capability, Target) {
    use Action as A;
    match action {
        A::SendPrivateMsg { user_id, .. } => (Capability::Send, Target::user(user_id)),
        A::SendGroupMsg { group_id, .. } => (Capability::Send, Target::group(group_id)),
        A::SendMsg { target, .. } => (Capability::Send, Target::chat(target)),
        A::DeleteMsg { .. } => (Capability::Recall, Target::default()),
        A::GetMsg { .. } | A::GetForwardMsg { .. } => (Capability::Query, Target::default()),
        A::SendLike { user_id, .. } => (Capability::SendLike, Target::user(user_id)),
        A::SetGroupKick { group_id, user_id, .. } => (Capability::Kick, Target::member(group_id, user_id)),
        A::SetGroupBan { group_id, user_id, .. } => (Capability::Ban, Target::member(group_id, user_id)),
        A::SetGroupAnonymousBan { group_id, .. } => (Capability::Ban, Target::group(group_id)),
        A::SetGroupWholeBan { group_id, .. } => (Capability::WholeBan, Target::group(group_id)),
        A::SetGroupAdmin { group_id, user_id, .. } => (Capability::SetAdmin, Target::member(group_id, user_id)),
        A::SetGroupAnonymous { group_id, .. } => (Capability::SetGroupAnonymous, Target::group(group_id)),
        A::SetGroupCard { group_id, user_id, .. } => (Capability::SetCard, Target::member(group_id, user_id)),
        A::SetGroupName { group_id, .. } => (Capability::SetGroupName, Target::group(group_id)),
        A::SetGroupLeave { group_id, .. } => (Capability::LeaveGroup, Target::group(group_id)),
        A::SetGroupSpecialTitle { group_id, user_id, .. } => (Capability::SetTitle, Target::member(group_id, user_id)),
        A::SetFriendAddRequest { .. } | A::SetGroupAddRequest { .. } => (Capability::HandleRequest, Target::default()),
        A::DeleteFriend { user_id } => (Capability::DeleteFriend, Target::user(user_id)),
        A::GetLoginInfo
        | A::GetFriendList
        | A::GetGroupList
        | A::GetRecord { .. }
        | A::GetImage { .. }
        | A::CanSendImage
        | A::CanSendRecord
        | A::GetStatus
        | A::GetVersionInfo => (Capability::Query, Target::default()),
        A::GetStrangerInfo { user_id, .. } => (Capability::Query, Target::user(user_id)),
        A::GetGroupInfo { group_id, .. }
        | A::GetGroupMemberList { group_id }
        | A::GetGroupHonorInfo { group_id, .. } => (Capability::Query, Target::group(group_id)),
        A::GetGroupMemberInfo { group_id, user_id, .. } => (Capability::Query, Target::member(group_id, user_id)),
        A::GetCookies { .. } | A::GetCsrfToken | A::GetCredentials { .. } => {
            (Capability::Credentials, Target::default())
        }
        A::SetRestart { .. } | A::CleanCache => (Capability::Restart, Target::default()),
        A::Raw { action, params } => {
            let target = Target {
                group: opt_id(params, "group_id"),
                user: opt_id(params, "user_id"),
            };
            (Capability::CallApi(action.clone()), target)
        }
    }
}

fn opt_id(params: &serde_json::Value, key: &str) -> Option<String> {
    data::opt_str(params, key).filter(|s| !s.is_empty())
}

/// Content capabilities a message needs: `at-all`, `local-file`, `media-url` (also inside forward nodes).
pub fn content_capabilities(message: &[Segment], out: &mut BTreeSet<Capability>) {
    content_inner(message, out, 0);
}

fn content_inner(message: &[Segment], out: &mut BTreeSet<Capability>, depth: u32) {
    let media = |file: &str, out: &mut BTreeSet<Capability>| {
        let lower = file.trim().to_ascii_lowercase();
        if lower.starts_with("file:")
            || lower.starts_with('/')
            || lower.starts_with('\\')
            || lower.get(1..3) == Some(":\\")
        {
            out.insert(Capability::LocalFile);
        } else if lower.starts_with("http://") || lower.starts_with("https://") {
            out.insert(Capability::MediaUrl);
        }
    };
    for segment in message {
        match segment {
            Segment::At(who) if who.trim() == "all" => {
                out.insert(Capability::AtAll);
            }
            Segment::Image(i) => media(&i.media.file, out),
            Segment::Record(v) => media(&v.media.file, out),
            Segment::Video(m) => media(&m.file, out),
            Segment::Node(ForwardNode::Custom(node)) => {
                // A node carries a whole message: check it too (nesting is bounded).
                if depth >= 4 {
                    out.insert(Capability::LocalFile);
                    continue;
                }
                let inner = serde_json::from_str(&node.content_json)
                    .map(|v| data::message(&v))
                    .unwrap_or_default();
                content_inner(&inner, out, depth + 1);
            }
            _ => {}
        }
    }
}

/// The message an action sends, if any (raw calls: their `message` parameter, in any OneBot form).
fn message_of(action: &Action) -> Option<std::borrow::Cow<'_, [Segment]>> {
    match action {
        Action::SendPrivateMsg { message, .. } | Action::SendGroupMsg { message, .. } => Some(message.into()),
        Action::SendMsg { message, .. } => Some(message.into()),
        Action::Raw { params, .. } => params.get("message").map(|m| data::message(m).into()),
        _ => None,
    }
}

/// Where a grant applies. No lists: everywhere. With lists: group targets need their group listed, user targets
/// (private chats, friends) their user listed, and targets that are neither are outside the scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Allowed groups (`None`: any).
    pub groups: Option<BTreeSet<String>>,
    /// Allowed users (`None`: any).
    pub users: Option<BTreeSet<String>>,
}

impl Scope {
    fn is_open(&self) -> bool {
        self.groups.is_none() && self.users.is_none()
    }

    /// Whether `target` is inside this scope.
    pub fn allows(&self, target: &Target) -> bool {
        if self.is_open() {
            return true;
        }
        match (&target.group, &target.user) {
            (Some(g), _) => self.groups.as_ref().is_some_and(|gs| gs.contains(g)),
            (None, Some(u)) => self.users.as_ref().is_some_and(|us| us.contains(u)),
            (None, None) => false,
        }
    }
}

/// Why a call was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    /// The plugin may not do this (here).
    #[error("permission denied: {reason}")]
    Denied {
        /// The capability it lacked.
        capability: Capability,
        /// Why, for the plugin author and the audit log.
        reason: String,
    },
    /// The plugin used up its rate for this capability.
    #[error("rate limited: `{capability}` allows {rate}; retry in {} ms", retry_after.as_millis())]
    RateLimited {
        /// The capability.
        capability: Capability,
        /// The configured rate, as written.
        rate: String,
        /// Until a token is free.
        retry_after: Duration,
    },
}

/// A plugin's effective permissions: requested ∩ granted, scopes, and live rate-limit buckets.
#[derive(Debug, Default)]
pub struct Policy {
    requested: BTreeSet<Capability>,
    granted: BTreeSet<Capability>,
    default_scope: Scope,
    scopes: HashMap<Capability, Scope>,
    rates: HashMap<Capability, (String, Mutex<Bucket>)>,
    http: std::sync::Arc<crate::services::http::HttpRules>,
}

/// The operator's grant table for one plugin, already parsed.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// Granted capabilities.
    pub grants: BTreeSet<Capability>,
    /// Scope of every grant unless overridden.
    pub scope: Scope,
    /// Per-capability scopes.
    pub scopes: BTreeMap<Capability, Scope>,
    /// Per-capability rates, with the text they were written as.
    pub rates: BTreeMap<Capability, (String, Rate)>,
    /// Where outgoing HTTP may go and its limits (`http`, `http_limits`).
    pub http: crate::services::http::HttpRules,
}

impl Policy {
    /// The policy of a plugin that requested `requested` and was granted `grants`.
    pub fn new(requested: &[String], grants: &Grants) -> Policy {
        let requested: BTreeSet<Capability> = requested.iter().filter_map(|c| Capability::parse(c).ok()).collect();
        let granted = grants.grants.clone();
        let scopes = grants.scopes.iter().map(|(c, s)| (c.clone(), s.clone())).collect();
        let rates = grants
            .rates
            .iter()
            .map(|(c, (text, rate))| (c.clone(), (text.clone(), Mutex::new(Bucket::new(*rate)))))
            .collect();
        Policy {
            requested,
            granted,
            default_scope: grants.scope.clone(),
            scopes,
            rates,
            http: std::sync::Arc::new(grants.http.clone()),
        }
    }

    /// The HTTP allowlist and limits.
    pub fn http(&self) -> &std::sync::Arc<crate::services::http::HttpRules> {
        &self.http
    }

    /// Capabilities the plugin may use (requested and granted).
    pub fn effective(&self) -> BTreeSet<Capability> {
        self.requested.intersection(&self.granted).cloned().collect()
    }

    /// Capabilities requested.
    pub fn requested(&self) -> &BTreeSet<Capability> {
        &self.requested
    }

    /// Capabilities granted.
    pub fn granted(&self) -> &BTreeSet<Capability> {
        &self.granted
    }

    fn scope(&self, capability: &Capability) -> &Scope {
        self.scopes.get(capability).unwrap_or(&self.default_scope)
    }

    fn deny(capability: &Capability, reason: String) -> Result<(), PolicyError> {
        Err(PolicyError::Denied {
            capability: capability.clone(),
            reason,
        })
    }

    /// The capability is granted and requested (anywhere).
    fn held(&self, capability: &Capability) -> Result<(), PolicyError> {
        if !self.granted.contains(capability) {
            return Self::deny(capability, format!("`{capability}` is not granted to this plugin"));
        }
        if !self.requested.contains(capability) {
            return Self::deny(
                capability,
                format!("`{capability}` is granted but the plugin did not request it in its metadata"),
            );
        }
        Ok(())
    }

    fn permit(&self, capability: &Capability, target: &Target) -> Result<(), PolicyError> {
        self.held(capability)?;
        if !self.scope(capability).allows(target) {
            return Self::deny(capability, format!("`{capability}` is not granted for {target}"));
        }
        Ok(())
    }

    /// Decide whether a host service (`storage`, `schedule`, `http`) may be used now: the capability must be
    /// requested and granted (service calls have no group/user target, so scopes do not apply), and its rate
    /// limit (`rate = { storage = "…" }`) is charged.
    pub fn check_service(&self, capability: &Capability) -> Result<(), PolicyError> {
        self.held(capability)?;
        self.charge(capability)
    }

    /// Take one token from the capability's rate bucket, if it has one.
    fn charge(&self, capability: &Capability) -> Result<(), PolicyError> {
        if let Some((text, bucket)) = self.rates.get(capability) {
            let mut bucket = bucket.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(retry_after) = bucket.try_take() {
                return Err(PolicyError::RateLimited {
                    capability: capability.clone(),
                    rate: text.clone(),
                    retry_after,
                });
            }
        }
        Ok(())
    }

    /// Decide whether `action` may go to the platform now. `reply_chat` is the chat of the event being handled
    /// (where a reply may go without any grant). On success returns the action's capability and target; the rate
    /// limit is charged (so an action whose outcome is later unknown still counts).
    /// `message_chat` is where the message an action refers to is, when known (for recalls).
    pub fn check(
        &self,
        action: &Action,
        reply_chat: Option<&Chat>,
        message_chat: Option<&Chat>,
    ) -> Result<(Capability, Target), PolicyError> {
        let (capability, mut target) = capability_of(action);
        if capability == Capability::Recall
            && let Some(chat) = message_chat
        {
            target = Target::chat(chat);
        }
        let is_reply = capability == Capability::Send && reply_chat.is_some_and(|chat| Target::chat(chat) == target);
        if !is_reply {
            self.permit(&capability, &target)?;
        }
        // A raw call of a standard action also needs that action's own capability.
        if let Capability::CallApi(name) = &capability
            && let Some(standard) = standard_capability(name)
        {
            let is_raw_reply = standard == Capability::Send && reply_chat.is_some_and(|c| Target::chat(c) == target);
            if !is_raw_reply {
                self.permit(&standard, &target)?;
            }
        }
        if let Some(message) = message_of(action) {
            let mut needed = BTreeSet::new();
            content_capabilities(&message, &mut needed);
            for content in needed {
                self.permit(&content, &target)?;
            }
        }
        self.charge(&capability)?;
        Ok((capability, target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::bindings::coral::bot::types::Image;
    use crate::runtime::bindings::{Media, SendOptions};

    fn grants(caps: &[&str]) -> Grants {
        Grants {
            grants: caps.iter().map(|c| Capability::parse(c).unwrap()).collect(),
            ..Grants::default()
        }
    }

    fn req(caps: &[&str]) -> Vec<String> {
        caps.iter().map(|c| c.to_string()).collect()
    }

    fn kick(group: &str) -> Action {
        Action::SetGroupKick {
            group_id: group.into(),
            user_id: "42".into(),
            reject_add_request: false,
        }
    }

    fn send(chat: Chat, message: Vec<Segment>) -> Action {
        Action::SendMsg {
            target: chat,
            message,
            options: SendOptions {
                at_sender: None,
                reply_to: None,
            },
        }
    }

    #[test]
    fn names_round_trip() {
        for name in NAMES {
            assert_eq!(Capability::parse(name).unwrap().to_string(), *name);
        }
        assert_eq!(
            Capability::parse("call-api:get_group_notice").unwrap().to_string(),
            "call-api:get_group_notice"
        );
        assert!(Capability::parse("kik").unwrap_err().contains("unknown capability"));
        assert!(Capability::parse("call-api:").is_err());
    }

    #[test]
    fn both_locks_are_needed() {
        let p = Policy::new(&req(&["kick"]), &grants(&[]));
        assert!(matches!(
            p.check(&kick("1"), None, None),
            Err(PolicyError::Denied { .. })
        ));
        let p = Policy::new(&req(&[]), &grants(&["kick"]));
        assert!(matches!(
            p.check(&kick("1"), None, None),
            Err(PolicyError::Denied { .. })
        ));
        let p = Policy::new(&req(&["kick"]), &grants(&["kick"]));
        assert_eq!(p.check(&kick("1"), None, None).unwrap().0, Capability::Kick);
        assert_eq!(p.effective(), [Capability::Kick].into());
    }

    #[test]
    fn without_grants_only_replies_into_the_events_chat() {
        let p = Policy::new(&req(&["send"]), &grants(&[]));
        let here = Chat::Group("100".into());
        let text = vec![Segment::Text("hi".into())];
        assert!(p.check(&send(here.clone(), text.clone()), Some(&here), None).is_ok());
        assert!(
            p.check(&send(Chat::Group("200".into()), text.clone()), Some(&here), None)
                .is_err()
        );
        assert!(
            p.check(&send(Chat::Private("42".into()), text.clone()), Some(&here), None)
                .is_err()
        );
        assert!(
            p.check(&send(here.clone(), text), None, None).is_err(),
            "no event, no reply"
        );
        // Even a reply may not carry @all or a local file without their grants.
        let all = vec![Segment::At("all".into())];
        assert!(p.check(&send(here.clone(), all), Some(&here), None).is_err());
    }

    #[test]
    fn scopes_limit_where_a_grant_applies() {
        let mut g = grants(&["kick", "send"]);
        g.scopes.insert(
            Capability::Kick,
            Scope {
                groups: Some(["1000001".to_string()].into()),
                users: None,
            },
        );
        let p = Policy::new(&req(&["kick", "send"]), &g);
        assert!(p.check(&kick("1000001"), None, None).is_ok());
        let err = p.check(&kick("1000002"), None, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "permission denied: `kick` is not granted for group 1000002 user 42"
        );
        // `send` has the plugin-wide (open) scope.
        assert!(p.check(&send(Chat::Group("5".into()), vec![]), None, None).is_ok());
        // A plugin-wide scope limits every grant, and user targets need the user list.
        let mut g = grants(&["send"]);
        g.scope = Scope {
            groups: Some(["7".to_string()].into()),
            users: None,
        };
        let p = Policy::new(&req(&["send"]), &g);
        assert!(p.check(&send(Chat::Group("7".into()), vec![]), None, None).is_ok());
        assert!(p.check(&send(Chat::Private("7".into()), vec![]), None, None).is_err());
    }

    #[test]
    fn content_needs_its_own_grants() {
        let p = Policy::new(&req(&["send", "media-url"]), &grants(&["send", "media-url"]));
        let chat = Chat::Group("1".into());
        let image = |file: &str| {
            Segment::Image(Image {
                media: Media {
                    file: file.into(),
                    url: None,
                    cache: None,
                    proxy: None,
                    timeout_secs: None,
                },
                flash: false,
            })
        };
        assert!(
            p.check(&send(chat.clone(), vec![image("https://x/y.png")]), None, None)
                .is_ok()
        );
        assert!(
            p.check(&send(chat.clone(), vec![image("base64://AAAA")]), None, None)
                .is_ok()
        );
        let local = p
            .check(&send(chat.clone(), vec![image("file:///etc/passwd")]), None, None)
            .unwrap_err();
        assert!(matches!(
            local,
            PolicyError::Denied {
                capability: Capability::LocalFile,
                ..
            }
        ));
        assert!(
            p.check(&send(chat.clone(), vec![image("/etc/passwd")]), None, None)
                .is_err()
        );
        assert!(
            p.check(&send(chat.clone(), vec![Segment::At("all".into())]), None, None)
                .is_err()
        );
        // Hidden inside a forward node, or in a raw call's CQ string, it is found too.
        let node = Segment::Node(ForwardNode::Custom(
            crate::runtime::bindings::coral::bot::types::CustomNode {
                user_id: "1".into(),
                nickname: "n".into(),
                content_json: r#"[{"type":"at","data":{"qq":"all"}}]"#.into(),
            },
        ));
        assert!(p.check(&send(chat, vec![node]), None, None).is_err());
        let p = Policy::new(
            &req(&["send", "call-api:send_msg"]),
            &grants(&["send", "call-api:send_msg"]),
        );
        let raw = Action::Raw {
            action: "send_msg".into(),
            params: serde_json::json!({"group_id": 1, "message": "hi [CQ:at,qq=all]"}),
        };
        assert!(matches!(
            p.check(&raw, None, None),
            Err(PolicyError::Denied {
                capability: Capability::AtAll,
                ..
            })
        ));
    }

    #[test]
    fn raw_calls_need_call_api_and_the_standard_capability() {
        let raw = |action: &str| Action::Raw {
            action: action.into(),
            params: serde_json::json!({"group_id": 1, "user_id": 2}),
        };
        let p = Policy::new(
            &req(&["call-api:set_group_kick"]),
            &grants(&["call-api:set_group_kick"]),
        );
        assert!(matches!(
            p.check(&raw("set_group_kick"), None, None),
            Err(PolicyError::Denied {
                capability: Capability::Kick,
                ..
            })
        ));
        let p = Policy::new(
            &req(&["call-api:set_group_kick_async", "kick"]),
            &grants(&["call-api:set_group_kick_async", "kick"]),
        );
        assert!(
            p.check(&raw("set_group_kick_async"), None, None).is_ok(),
            "suffixes map to the same capability"
        );
        let p = Policy::new(
            &req(&["call-api:get_group_notice"]),
            &grants(&["call-api:get_group_notice"]),
        );
        assert!(p.check(&raw("get_group_notice"), None, None).is_ok());
        assert!(p.check(&raw(".handle_quick_operation"), None, None).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limits_refuse_immediately_with_retry_after() {
        let mut g = grants(&["kick"]);
        g.rates
            .insert(Capability::Kick, ("3/min".into(), Rate::parse("3/min").unwrap()));
        let p = Policy::new(&req(&["kick"]), &g);
        for _ in 0..3 {
            assert!(p.check(&kick("1"), None, None).is_ok());
        }
        match p.check(&kick("1"), None, None) {
            Err(PolicyError::RateLimited { retry_after, rate, .. }) => {
                assert_eq!(rate, "3/min");
                assert!((19_000..=20_000).contains(&retry_after.as_millis()));
            }
            other => panic!("{other:?}"),
        }
        tokio::time::advance(Duration::from_secs(20)).await;
        assert!(p.check(&kick("1"), None, None).is_ok());
    }

    #[test]
    fn recalls_are_scoped_by_where_the_message_is() {
        let mut g = grants(&["recall"]);
        g.scope = Scope {
            groups: Some(["1".to_string()].into()),
            users: None,
        };
        let p = Policy::new(&req(&["recall"]), &g);
        let recall = Action::DeleteMsg { message_id: "9".into() };
        assert!(p.check(&recall, None, Some(&Chat::Group("1".into()))).is_ok());
        assert!(p.check(&recall, None, Some(&Chat::Group("2".into()))).is_err());
        assert!(
            p.check(&recall, None, None).is_err(),
            "an unknown message is outside a scoped grant"
        );
        let open = Policy::new(&req(&["recall"]), &grants(&["recall"]));
        assert!(open.check(&recall, None, None).is_ok());
    }

    /// Every standard action name the typed functions produce maps to the same capability a raw call of it needs.
    #[test]
    fn typed_and_raw_mappings_agree() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/onebot/api");
        let mut count = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry
                .unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".json")
                .to_string();
            assert!(standard_capability(&name).is_some(), "{name} has no capability");
            count += 1;
        }
        assert_eq!(count, 38);
        assert_eq!(standard_capability("delete_friend"), Some(Capability::DeleteFriend));
        assert_eq!(standard_capability("get_cookies"), Some(Capability::Credentials));
    }
}
