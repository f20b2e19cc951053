//! Capabilities, grants and rate limits: what a plugin may do, where, and how often.
//!
//! Every [`Action`] maps to exactly one [`Capability`] ([`capability_of`], one exhaustive match, no catch-all),
//! plus content capabilities for what its message carries (`at-all`, `local-file`, `media-url`). A plugin may use a
//! capability only if it both requested it (its `metadata`) and the operator granted it (`[plugins.<name>]
//! grants`), within the grant's scope (groups / users), and within its rate limit. Without any grant a plugin may
//! still send replies into the chat of the event it is handling. A refusal is a [`PolicyError`] value; nothing
//! reaches the platform.
//!
//! [`Policy::check`] is the one place every path decides in: typed calls, raw `call-api` calls, quick operations,
//! broadcasts and timers all arrive as an [`Action`], become [`request::Request`]s (typed twin, targets from
//! facts, content judged on the wire form by [`content`]) and are granted, scoped and charged here.

pub mod content;
pub mod http;
pub mod messages;
pub mod request;
pub mod size;

#[cfg(test)]
#[path = "../../../../tests/support/fixtures.rs"]
pub(crate) mod test_fixtures;

use coral_model::bindings::{Chat, ErrorCode, WitError};
use coral_model::rate::{Bucket, Rate};
use coral_model::wire::json as data;
use coral_model::{Action, ActionKind};
pub use messages::MessageIndex;
use parking_lot::Mutex;
pub use request::{MessageLookup, NoMessages, Request};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
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

/// Plugin-controlled text as it may appear in a reason, a log line or the audit log.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    coral_model::text::escape(text)
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.group, &self.user) {
            (Some(g), Some(u)) => write!(f, "group {} user {}", escape(g), escape(u)),
            (Some(g), None) => write!(f, "group {}", escape(g)),
            (None, Some(u)) => write!(f, "user {}", escape(u)),
            (None, None) => f.write_str("-"),
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

/// Where a grant applies. No lists: everywhere. With lists, each names what may be touched:
/// - a group target (a group chat, a whole-group action) needs its group listed;
/// - a user target (a private chat, a friend) needs its user listed;
/// - a member target (kick, ban, card of someone in a group) needs its group listed (when groups are listed) **and**
///   its user listed (when users are listed);
/// - a target that is neither is outside every scope with lists.
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
        let listed = |list: &Option<BTreeSet<String>>, id: &String| list.as_ref().is_some_and(|l| l.contains(id));
        let within = |list: &Option<BTreeSet<String>>, id: &String| list.as_ref().is_none_or(|l| l.contains(id));
        match (&target.group, &target.user) {
            (Some(g), Some(u)) => within(&self.groups, g) && within(&self.users, u),
            (Some(g), None) => listed(&self.groups, g),
            (None, Some(u)) => listed(&self.users, u),
            (None, None) => false,
        }
    }
}

/// A setting in the operator's config that cannot be read; the config names it by `key`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct SettingError {
    /// The offending key (`plugins.f.http[1]`).
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
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
    /// The call cannot be judged as given (an ambiguous target, a malformed name); nothing was sent.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// The call carries more than the plugin's size limits allow ([`size::SizeLimits`]); nothing was sent.
    #[error("too large: {0}")]
    TooLarge(String),
}

/// A refusal as the WIT `error` the plugin receives (a rate limit carries its `retry-after-ms`).
impl From<&PolicyError> for WitError {
    fn from(error: &PolicyError) -> Self {
        match error {
            PolicyError::Denied { .. } => WitError::new(ErrorCode::PermissionDenied, error.to_string()),
            PolicyError::RateLimited { retry_after, .. } => WitError {
                retry_after_ms: Some(retry_after.as_millis() as u64),
                ..WitError::new(ErrorCode::RateLimited, error.to_string())
            },
            PolicyError::Invalid(_) => WitError::new(ErrorCode::InvalidArgument, error.to_string()),
            PolicyError::TooLarge(_) => WitError::new(ErrorCode::TooLarge, error.to_string()),
        }
    }
}

/// A plugin's effective permissions: requested ∩ granted, scopes, and live rate-limit buckets.
#[derive(Debug, Default)]
pub struct Policy {
    requested: BTreeSet<Capability>,
    granted: BTreeSet<Capability>,
    default_scope: Scope,
    scopes: HashMap<Capability, Scope>,
    rates: HashMap<Capability, (String, Mutex<Bucket>)>,
    http: std::sync::Arc<http::HttpRules>,
    sizes: size::SizeLimits,
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
    pub http: http::HttpRules,
    /// How much one call may carry (`sizes`).
    pub sizes: size::SizeLimits,
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
            sizes: grants.sizes,
        }
    }

    /// How much one call may carry.
    pub fn sizes(&self) -> &size::SizeLimits {
        &self.sizes
    }

    /// The HTTP allowlist and limits.
    pub fn http(&self) -> &std::sync::Arc<http::HttpRules> {
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
        self.charge_all(std::iter::once((capability, 1)))
    }

    /// Take `count` tokens from the bucket of every capability listed (that has a rate; counts of one capability
    /// add up), all or none: if any bucket is short nothing is taken and the refusal names that capability. A count
    /// over a bucket's burst is refused outright (it could never be admitted).
    fn charge_all<'c>(&self, capabilities: impl Iterator<Item = (&'c Capability, u32)>) -> Result<(), PolicyError> {
        if self.rates.is_empty() {
            return Ok(());
        }
        let mut buckets: Vec<(&Capability, u32, &String, &Mutex<Bucket>)> = Vec::new();
        for (capability, count) in capabilities {
            let Some((text, bucket)) = self.rates.get(capability) else {
                continue;
            };
            match buckets.iter_mut().find(|(c, ..)| *c == capability) {
                Some((_, n, ..)) => *n = n.saturating_add(count),
                None => buckets.push((capability, count, text, bucket)),
            }
        }
        // One fixed order (the capabilities' own), so two checks of one plugin never wait on each other's locks.
        buckets.sort_by(|a, b| a.0.cmp(b.0));
        let mut guards: Vec<_> = buckets.iter().map(|(c, n, t, b)| (*c, *n, *t, b.lock())).collect();
        for (capability, count, text, bucket) in guards.iter_mut() {
            if *count > bucket.burst() {
                return Err(PolicyError::Denied {
                    capability: (*capability).clone(),
                    reason: format!("{count} at once is more than `{capability}` allows ({text})"),
                });
            }
            if let Err(retry_after) = bucket.check_n(*count) {
                return Err(PolicyError::RateLimited {
                    capability: (*capability).clone(),
                    rate: (*text).clone(),
                    retry_after,
                });
            }
        }
        for (_, count, _, bucket) in guards.iter_mut() {
            bucket.take_n(*count);
        }
        Ok(())
    }

    /// Decide whether `action` may go to the platform now, on every path (typed call, raw call, quick operation,
    /// broadcast, timer). A raw call's CQ-string messages are first replaced in place by the arrays Coral parsed
    /// (what is judged is what is sent). On success every capability it used has been charged once: the typed
    /// capability, the `call-api:<name>` grant of a raw call, and each content capability (`at-all`,
    /// `local-file`, `media-url`), so an action whose outcome is later unknown still counts.
    pub fn check(&self, action: &mut Action, context: &Context<'_>) -> Result<Decision, PolicyError> {
        // Sizes first: before a CQ string is parsed or a segment turned into JSON.
        self.sizes.check(action)?;
        let (requests, call_api) = match action {
            Action::Raw { action: name, params } => {
                let normalised = request::normalise_name(name)?;
                coral_model::wire::segment::normalise_message_params(params, 0);
                let requests = request::raw(&normalised, params, context.messages)?;
                (requests, Some(Capability::CallApi(normalised)))
            }
            typed => (vec![request::typed(typed, context.messages)?], None),
        };
        // A typed send to the bot's own account is almost always a reply to one of its own messages (go-cqhttp and
        // NapCat report those): answering would loop. A plugin that means it says so with `call-api`.
        if call_api.is_none()
            && let (Some(bot), Some(Chat::Private(user))) = (context.bot, &requests[0].chat)
            && user == bot
        {
            return Err(PolicyError::Invalid(format!(
                "user {} is this bot itself (a reply to its own message would loop); to message the bot's own \
                 account on purpose, use call-api",
                escape(user)
            )));
        }
        let mut content = BTreeSet::new();
        for request in &requests {
            let is_reply = request.reply
                && request.capability == Capability::Send
                && same_chat(request.chat.as_ref(), context.reply_chat);
            if !is_reply && Some(&request.capability) != call_api.as_ref() {
                for target in &request.targets {
                    self.permit(&request.capability, target)?;
                }
            }
            for needed in &request.content.needs {
                for target in &request.targets {
                    self.permit(needed, target)?;
                }
                content.insert(needed.clone());
            }
            for id in &request.content.refs {
                let seen = context.messages.chat_of(id);
                if !same_chat(seen.as_ref(), request.chat.as_ref()) {
                    let place = request
                        .chat
                        .as_ref()
                        .map_or("-".to_string(), |c| Target::of_chat(c).to_string());
                    return Err(PolicyError::Denied {
                        capability: request.capability.clone(),
                        reason: format!(
                            "message {} was not seen in {place}: a reply or forward may only point at a message \
                             from the chat it is sent to",
                            escape(id)
                        ),
                    });
                }
            }
        }
        if let Some(call_api) = &call_api {
            // The operator's `call-api:<name>` grant, scoped like any grant. It adds to the typed capability.
            for request in &requests {
                for target in &request.targets {
                    self.permit(call_api, target)?;
                }
            }
        }
        // Every capability used: the typed ones once per target (a batch kick of ten is ten kicks), the raw grant
        // and the content ones once.
        if !self.rates.is_empty() {
            let used = requests
                .iter()
                .filter(|r| Some(&r.capability) != call_api.as_ref())
                .map(|r| (&r.capability, u32::try_from(r.targets.len().max(1)).unwrap_or(u32::MAX)))
                .chain(call_api.iter().map(|c| (c, 1)))
                .chain(content.iter().map(|c| (c, 1)));
            self.charge_all(used)?;
        }
        let first = requests.into_iter().next().expect("at least one request");
        let is_send = first.capability == Capability::Send;
        Ok(Decision {
            target: first.targets.into_iter().next().unwrap_or_default(),
            capability: first.capability,
            content,
            call_api,
            sent_to: first.chat.filter(|_| is_send),
        })
    }
}

/// Whether two chats are known and the same.
fn same_chat(a: Option<&Chat>, b: Option<&Chat>) -> bool {
    match (a, b) {
        (Some(Chat::Group(a)), Some(Chat::Group(b))) | (Some(Chat::Private(a)), Some(Chat::Private(b))) => a == b,
        _ => false,
    }
}

/// What the policy knows about the call besides the action: where a free reply may go, and where messages are.
pub struct Context<'a> {
    /// The bot the call goes to (its self id), when known.
    pub bot: Option<&'a str>,
    /// The chat of the event being handled, when the call goes to the bot that delivered it.
    pub reply_chat: Option<&'a Chat>,
    /// The messages the plugin saw or sent on that bot.
    pub messages: &'a dyn MessageLookup,
}

impl<'a> Context<'a> {
    /// No event, no known messages (a timer, a test).
    pub fn none() -> Context<'static> {
        Context {
            bot: None,
            reply_chat: None,
            messages: &NoMessages,
        }
    }

    /// A reply context with no known messages.
    pub fn reply(chat: &'a Chat) -> Context<'a> {
        Context {
            bot: None,
            reply_chat: Some(chat),
            messages: &NoMessages,
        }
    }
}

/// An admitted call: what it was charged and audited as.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The typed capability (or `call-api:<name>` for an action with no typed twin).
    pub capability: Capability,
    /// Its (first) target.
    pub target: Target,
    /// The content capabilities it used.
    pub content: BTreeSet<Capability>,
    /// The `call-api:<name>` grant it used, for a raw call.
    pub call_api: Option<Capability>,
    /// Where the message goes, for a send.
    pub sent_to: Option<Chat>,
}

impl Decision {
    /// Whether the call is recorded in the audit log: a privileged capability, a raw call, or content that needs
    /// its own grant.
    pub fn is_audited(&self) -> bool {
        self.capability.is_privileged() || self.call_api.is_some() || !self.content.is_empty()
    }

    /// Every capability it used, for the audit log (`send+at-all`, `call-api:x+kick`).
    pub fn capabilities(&self) -> String {
        let mut names: Vec<String> = self.call_api.iter().map(ToString::to_string).collect();
        if self.call_api.as_ref() != Some(&self.capability) {
            names.push(self.capability.to_string());
        }
        names.extend(self.content.iter().map(ToString::to_string));
        names.join("+")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coral_model::bindings::coral::bot::types::{CustomNode, ForwardNode, Image, OtherSegment};
    use coral_model::bindings::{Media, Segment, SendOptions};
    use serde_json::json;
    use std::collections::HashMap;

    fn grants(caps: &[&str]) -> Grants {
        Grants {
            grants: caps.iter().map(|c| Capability::parse(c).unwrap()).collect(),
            ..Grants::default()
        }
    }

    fn req(caps: &[&str]) -> Vec<String> {
        caps.iter().map(|c| c.to_string()).collect()
    }

    fn policy(caps: &[&str]) -> Policy {
        Policy::new(&req(caps), &grants(caps))
    }

    fn kick(group: &str) -> Action {
        Action::SetGroupKick {
            group_id: group.into(),
            user_id: "42".into(),
            reject_add_request: false,
        }
    }

    fn send(chat: Chat, message: Vec<Segment>) -> Action {
        send_with(chat, message, None, None)
    }

    fn send_with(chat: Chat, message: Vec<Segment>, at: Option<&str>, reply_to: Option<&str>) -> Action {
        Action::SendMsg {
            target: chat,
            message,
            options: SendOptions {
                at_sender: at.map(Into::into),
                reply_to: reply_to.map(Into::into),
            },
        }
    }

    fn raw(action: &str, params: serde_json::Value) -> Action {
        Action::Raw {
            action: action.into(),
            params,
        }
    }

    /// Messages known in chats (as the index of one bot would say).
    struct Known(HashMap<&'static str, Chat>);

    impl MessageLookup for Known {
        fn chat_of(&self, id: &str) -> Option<Chat> {
            self.0.get(id).cloned()
        }
    }

    fn check(p: &Policy, action: &Action) -> Result<Decision, PolicyError> {
        p.check(&mut action.clone(), &Context::none())
    }

    fn check_in(p: &Policy, action: &Action, here: &Chat) -> Result<Decision, PolicyError> {
        p.check(&mut action.clone(), &Context::reply(here))
    }

    fn denied(result: Result<Decision, PolicyError>) -> Capability {
        match result {
            Err(PolicyError::Denied { capability, .. }) => capability,
            other => panic!("expected a denial, got {other:?}"),
        }
    }

    fn image(file: &str) -> Segment {
        Segment::Image(Image {
            media: Media {
                file: file.into(),
                url: None,
                cache: None,
                proxy: None,
                timeout_secs: None,
            },
            flash: false,
            sub_type: None,
            summary: None,
            file_size: None,
            filename: None,
        })
    }

    fn other(kind: &str, data: serde_json::Value) -> Segment {
        Segment::Other(OtherSegment {
            kind: kind.into(),
            data_json: data.to_string(),
        })
    }

    #[test]
    fn names_round_trip() {
        for name in names() {
            assert_eq!(Capability::parse(name).unwrap().to_string(), *name);
        }
        assert_eq!(
            Capability::parse("call-api:get_group_notice").unwrap().to_string(),
            "call-api:get_group_notice"
        );
        // Granted under the normalised name.
        assert_eq!(
            Capability::parse("call-api:Set_Group_Kick_Async").unwrap(),
            Capability::CallApi("set_group_kick".into())
        );
        assert!(Capability::parse("kik").unwrap_err().contains("unknown capability"));
        assert!(Capability::parse("call-api:").is_err());
        assert!(Capability::parse("call-api:a\nb").is_err());
    }

    #[test]
    fn both_locks_are_needed() {
        let p = Policy::new(&req(&["kick"]), &grants(&[]));
        assert_eq!(denied(check(&p, &kick("1"))), Capability::Kick);
        let p = Policy::new(&req(&[]), &grants(&["kick"]));
        assert_eq!(denied(check(&p, &kick("1"))), Capability::Kick);
        let p = policy(&["kick"]);
        assert_eq!(check(&p, &kick("1")).unwrap().capability, Capability::Kick);
        assert_eq!(p.effective(), [Capability::Kick].into());
    }

    #[test]
    fn without_grants_only_replies_into_the_events_chat() {
        let p = Policy::new(&req(&["send"]), &grants(&[]));
        let here = Chat::Group("100".into());
        let text = vec![Segment::Text("hi".into())];
        assert!(check_in(&p, &send(here.clone(), text.clone()), &here).is_ok());
        assert!(check_in(&p, &send(Chat::Group("200".into()), text.clone()), &here).is_err());
        assert!(check_in(&p, &send(Chat::Private("42".into()), text.clone()), &here).is_err());
        assert!(check(&p, &send(here.clone(), text)).is_err(), "no event, no reply");
        // Even a reply may not carry @all or a local file without their grants, in any form.
        let all = vec![Segment::At("all".into())];
        assert_eq!(denied(check_in(&p, &send(here.clone(), all), &here)), Capability::AtAll);
        let via_options = send_with(here.clone(), vec![Segment::Text("hi".into())], Some("all"), None);
        assert_eq!(denied(check_in(&p, &via_options, &here)), Capability::AtAll);
        let via_options = send_with(here.clone(), vec![], Some(" ALL "), None);
        assert_eq!(denied(check_in(&p, &via_options, &here)), Capability::AtAll);
        for (kind, data, needs) in [
            ("at", json!({"qq": "all"}), Capability::AtAll),
            ("AT", json!({"qq": "ALL"}), Capability::AtAll),
            ("image", json!({"file": "/etc/passwd"}), Capability::LocalFile),
            ("file", json!({"file": "C:/x"}), Capability::LocalFile),
            ("video", json!({"file": "file:///x"}), Capability::LocalFile),
            (
                "record",
                json!({"file": "http://169.254.169.254/x"}),
                Capability::MediaUrl,
            ),
            ("mface", json!({"url": "https://x/y.gif"}), Capability::MediaUrl),
        ] {
            let message = vec![other(kind, data)];
            assert_eq!(
                denied(check_in(&p, &send(here.clone(), message), &here)),
                needs,
                "{kind}"
            );
        }
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
        assert!(check(&p, &kick("1000001")).is_ok());
        let err = check(&p, &kick("1000002")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "permission denied: `kick` is not granted for group 1000002 user 42"
        );
        // `send` has the plugin-wide (open) scope.
        assert!(check(&p, &send(Chat::Group("5".into()), vec![])).is_ok());
        // A plugin-wide scope limits every grant, and user targets need the user list.
        let mut g = grants(&["send"]);
        g.scope = Scope {
            groups: Some(["7".to_string()].into()),
            users: None,
        };
        let p = Policy::new(&req(&["send"]), &g);
        assert!(check(&p, &send(Chat::Group("7".into()), vec![])).is_ok());
        assert!(check(&p, &send(Chat::Private("7".into()), vec![])).is_err());
    }

    #[test]
    fn a_users_scope_restricts_who_may_be_touched_even_in_a_listed_group() {
        let mut g = grants(&["kick", "send"]);
        g.scope = Scope {
            groups: Some(["1".to_string()].into()),
            users: Some(["42".to_string()].into()),
        };
        let p = Policy::new(&req(&["kick", "send"]), &g);
        assert!(check(&p, &kick("1")).is_ok(), "42 in group 1");
        let other_user = Action::SetGroupKick {
            group_id: "1".into(),
            user_id: "43".into(),
            reject_add_request: false,
        };
        assert_eq!(denied(check(&p, &other_user)), Capability::Kick);
        assert!(check(&p, &send(Chat::Private("42".into()), vec![])).is_ok());
        assert!(check(&p, &send(Chat::Private("43".into()), vec![])).is_err());
        // A raw kick is judged the same way.
        let p = Policy::new(
            &req(&["kick", "call-api:set_group_kick"]),
            &Grants {
                grants: [Capability::Kick, Capability::CallApi("set_group_kick".into())].into(),
                scope: g.scope.clone(),
                ..Grants::default()
            },
        );
        assert!(check(&p, &raw("set_group_kick", json!({"group_id": 1, "user_id": 42}))).is_ok());
        assert!(check(&p, &raw("set_group_kick", json!({"group_id": 1, "user_id": 43}))).is_err());
    }

    #[test]
    fn content_needs_its_own_grants() {
        let p = policy(&["send", "media-url"]);
        let chat = Chat::Group("1".into());
        assert!(check(&p, &send(chat.clone(), vec![image("https://x/y.png")])).is_ok());
        assert!(check(&p, &send(chat.clone(), vec![image("base64://AAAA")])).is_ok());
        assert_eq!(
            denied(check(&p, &send(chat.clone(), vec![image("file:///etc/passwd")]))),
            Capability::LocalFile
        );
        for path in ["/etc/passwd", "C:/x", "c:\\x", "../x", "~/x", "FILE:///x"] {
            assert!(check(&p, &send(chat.clone(), vec![image(path)])).is_err(), "{path}");
        }
        assert!(check(&p, &send(chat.clone(), vec![Segment::At("all".into())])).is_err());
        // Hidden inside a forward node, or in a raw call's CQ string, it is found too.
        let node = Segment::Node(ForwardNode::Custom(CustomNode {
            user_id: "1".into(),
            nickname: "n".into(),
            content_json: r#"[{"type":"at","data":{"qq":"all"}}]"#.into(),
        }));
        assert!(check(&p, &send(chat.clone(), vec![node])).is_err());
        let p = policy(&["send", "call-api:send_msg"]);
        let at_all = raw("send_msg", json!({"group_id": 1, "message": "hi [CQ:at,qq=all]"}));
        assert_eq!(denied(check(&p, &at_all)), Capability::AtAll);
        // The lenient form is sent as the text Coral parsed it as: nothing for the implementation to re-parse.
        let mut lenient = raw("send_msg", json!({"group_id": 1, "message": "[CQ:at,qq=all,a=[]"}));
        assert!(p.check(&mut lenient, &Context::none()).is_ok());
        let Action::Raw { params, .. } = &lenient else {
            unreachable!()
        };
        assert_eq!(
            params["message"],
            json!([{"type": "text", "data": {"text": "[CQ:at,qq=all,a=[]"}}])
        );
    }

    /// go-cqhttp reads an `at` it cannot parse as 0 and MiraiGo's `NewAt(0)` is @all; Lagrange's `Mention(0)` is
    /// @all and a missing `qq` defaults to "0". Only one account's number is a plain mention.
    #[test]
    fn a_mention_of_account_zero_or_of_no_account_is_an_at_all() {
        let p = Policy::new(&req(&["send"]), &grants(&[]));
        let here = Chat::Group("100".into());
        for who in ["0", "00", "", " 42", "+0", "-1", "alice"] {
            let typed = send(here.clone(), vec![Segment::At(who.into())]);
            assert_eq!(denied(check_in(&p, &typed, &here)), Capability::AtAll, "{who:?}");
            let via_options = send_with(here.clone(), vec![Segment::Text("x".into())], Some(who), None);
            assert_eq!(denied(check_in(&p, &via_options, &here)), Capability::AtAll, "{who:?}");
        }
        for data in [
            json!({"qq": "0"}),
            json!({"qq": 0}),
            json!({}),
            json!({"qq": ""}),
            json!({"qq": "", "target": "0"}),
            json!({"name": "x"}),
        ] {
            let message = vec![other("at", data.clone())];
            assert_eq!(
                denied(check_in(&p, &send(here.clone(), message), &here)),
                Capability::AtAll,
                "{data}"
            );
        }
        let p = Policy::new(
            &req(&["send", "call-api:send_group_msg"]),
            &grants(&["call-api:send_group_msg"]),
        );
        let cq = raw("send_group_msg", json!({"group_id": 100, "message": "hi [CQ:at,qq=0]"}));
        assert_eq!(denied(check_in(&p, &cq, &here)), Capability::AtAll);
        // One account is a plain mention, by number or string, with a display name.
        let p = Policy::new(&req(&["send"]), &grants(&[]));
        for message in [
            vec![Segment::At("42".into())],
            vec![other("at", json!({"qq": "42", "name": "Alice"}))],
            vec![other("at", json!({"qq": 42}))],
        ] {
            assert!(check_in(&p, &send(here.clone(), message), &here).is_ok());
        }
    }

    /// NapCat fetches `http:host` (the URL parser adds the slashes); go-cqhttp decodes `%2F` in what starts with
    /// `file` before reading it.
    #[test]
    fn urls_without_slashes_and_percent_encoded_paths_are_judged_as_what_they_reach() {
        let p = policy(&["send"]);
        let chat = Chat::Group("1".into());
        for (file, needs) in [
            ("http:169.254.169.254", Capability::MediaUrl),
            ("https:internal.lan:8080?x=1", Capability::MediaUrl),
            ("HTTP:10.0.0.1", Capability::MediaUrl),
            ("file%2F..%2F..%2Fdevice.json", Capability::LocalFile),
            ("x%5C..%5Csecret", Capability::LocalFile),
            ("%2Fetc%2Fpasswd", Capability::LocalFile),
        ] {
            assert_eq!(
                denied(check(&p, &send(chat.clone(), vec![image(file)]))),
                needs,
                "{file}"
            );
        }
        for inline in ["cat.jpg", "abc.image", "base64:AAAA", "100%.png"] {
            assert!(check(&p, &send(chat.clone(), vec![image(inline)])).is_ok(), "{inline}");
        }
    }

    /// A call's parameters that also look like a segment (`type` and `data`) are judged as a segment *and* as
    /// parameters; a node-shaped one still has its `message` string replaced by an array.
    #[test]
    fn parameters_shaped_like_a_segment_are_still_parameters() {
        let p = policy(&["send", "call-api:send_group_msg", "call-api:upload_group_file"]);
        let at_all = raw(
            "send_group_msg",
            json!({"type": "text", "data": {}, "group_id": 1, "message": "[CQ:at,qq=all]"}),
        );
        assert_eq!(denied(check(&p, &at_all)), Capability::AtAll);
        let upload = raw(
            "upload_group_file",
            json!({"type": "text", "data": {}, "group_id": 1, "file": "/etc/passwd", "name": "x"}),
        );
        assert_eq!(denied(check(&p, &upload)), Capability::LocalFile);
        let mut node_shaped = raw(
            "send_group_msg",
            json!({"type": "node", "data": {"content": "x"}, "group_id": 1, "message": "[CQ:at,qq=all,a=[]"}),
        );
        assert!(p.check(&mut node_shaped, &Context::none()).is_ok());
        let Action::Raw { params, .. } = &node_shaped else {
            unreachable!()
        };
        assert!(params["message"].is_array(), "{params}");
        assert!(params["data"]["content"].is_array(), "{params}");
    }

    /// Every message string Coral judged is replaced, however deep: a string left as written would be parsed by the
    /// implementation's own (lenient) CQ parser. `[CQ:image,file=file:///etc/passwd,a=[]` is text to Coral and an
    /// image of a local file to NapCat's regex.
    #[test]
    fn every_judged_message_string_is_replaced_however_deep() {
        let p = policy(&["send", "call-api:send_group_forward_msg"]);
        let mut content = json!("[CQ:image,file=file:///etc/passwd,a=[]");
        for _ in 0..4 {
            content = json!({"type": "node", "data": {"user_id": "1", "nickname": "n", "content": content}});
        }
        let mut deep = raw("send_group_forward_msg", json!({"group_id": 1, "messages": content}));
        assert!(
            p.check(&mut deep, &Context::none()).is_ok(),
            "four levels are within the judge's depth"
        );
        {
            let Action::Raw { params, .. } = &deep else {
                unreachable!()
            };
            fn strings_left(v: &serde_json::Value) -> bool {
                match v {
                    serde_json::Value::Object(m) => m
                        .iter()
                        .any(|(k, v)| (k == "content" || k == "messages") && v.is_string() || strings_left(v)),
                    serde_json::Value::Array(items) => items.iter().any(strings_left),
                    _ => false,
                }
            }
            assert!(!strings_left(params), "a message string went out as written: {params}");
        }
    }

    #[test]
    fn content_is_charged_and_listed_when_used() {
        let mut g = grants(&["send", "at-all"]);
        g.rates
            .insert(Capability::AtAll, ("1/hour".into(), Rate::parse("1/hour").unwrap()));
        let p = Policy::new(&req(&["send", "at-all"]), &g);
        let all = send(Chat::Group("1".into()), vec![Segment::At("all".into())]);
        let decision = check(&p, &all).unwrap();
        assert!(decision.is_audited());
        assert_eq!(decision.capabilities(), "send+at-all");
        assert!(matches!(check(&p, &all), Err(PolicyError::RateLimited { .. })));
        // A plain send is not limited by the @all rate.
        assert!(check(&p, &send(Chat::Group("1".into()), vec![Segment::Text("x".into())])).is_ok());
    }

    #[test]
    fn raw_calls_need_call_api_and_the_standard_capability_under_every_alias() {
        let params = json!({"group_id": 1, "user_id": 2});
        let p = policy(&["call-api:set_group_kick"]);
        for alias in [
            "set_group_kick",
            "SET_GROUP_KICK",
            ".set_group_kick",
            "set_group_kick_async",
            "set_group_kick_rate_limited_async",
        ] {
            assert_eq!(
                denied(check(&p, &raw(alias, params.clone()))),
                Capability::Kick,
                "{alias}"
            );
        }
        let p = policy(&["call-api:set_group_kick_async", "kick"]);
        assert!(check(&p, &raw("set_group_kick_async", params.clone())).is_ok());
        assert!(
            check(&p, &raw("Set_Group_Kick", params.clone())).is_ok(),
            "one grant for every alias"
        );
        let p = policy(&["call-api:get_group_notice"]);
        assert!(check(&p, &raw("get_group_notice", params.clone())).is_ok());
        assert!(check(&p, &raw(".handle_quick_operation", params.clone())).is_err());
        // Extensions that send, kick or touch files need the typed capability too.
        for (action, params, needs) in [
            (
                "send_group_forward_msg",
                json!({"group_id": 1, "messages": []}),
                Capability::Send,
            ),
            (
                "upload_group_file",
                json!({"group_id": 1, "file": "x", "name": "x"}),
                Capability::Send,
            ),
            (
                "set_group_kick_members",
                json!({"group_id": 1, "user_id": [2, 3]}),
                Capability::Kick,
            ),
        ] {
            let p = policy(&[&format!("call-api:{action}")]);
            assert_eq!(denied(check(&p, &raw(action, params))), needs, "{action}");
        }
        let p = policy(&["call-api:upload_group_file", "send"]);
        let upload = raw(
            "upload_group_file",
            json!({"group_id": 1, "file": "/etc/passwd", "name": "x"}),
        );
        assert_eq!(denied(check(&p, &upload)), Capability::LocalFile);
        // Bad names are refused as invalid, before anything else.
        assert!(matches!(
            check(&p, &raw("kick\n\u{1b}[31m", json!({}))),
            Err(PolicyError::Invalid(_))
        ));
    }

    /// Extensions that send, exit, hand out the session or write files, under the names the implementations use.
    #[test]
    fn extensions_under_their_real_names_need_their_typed_capability() {
        for (action, params, needs) in [
            (
                "_send_group_notice",
                json!({"group_id": 1, "content": "pinned for everyone"}),
                Capability::Send,
            ),
            (
                "send_group_ai_record",
                json!({"group_id": 1, "character": "c", "text": "hi"}),
                Capability::Send,
            ),
            (
                "send_msg_with_group",
                json!({"message_id": 7, "target_group_id": 2}),
                Capability::Send,
            ),
            (
                "send_msg_with_group_seq",
                json!({"source_group_id": 2, "source_seq": 5, "target_group_id": 2}),
                Capability::Send,
            ),
            (
                ".join_group_emoji_chain",
                json!({"group_id": 1, "message_id": 7, "emoji_id": 1}),
                Capability::Send,
            ),
            (
                "send_guild_channel_msg",
                json!({"guild_id": 1, "channel_id": 2, "message": "hi"}),
                Capability::Send,
            ),
            (
                "send_online_file",
                json!({"user_id": 5, "file_path": "x.txt"}),
                Capability::Send,
            ),
            (
                "send_flash_msg",
                json!({"fileset_id": "f", "group_id": 2}),
                Capability::Send,
            ),
            ("bot_exit", json!({}), Capability::Restart),
            (
                "llonebot_debug",
                json!({"method": "x", "args": []}),
                Capability::Restart,
            ),
            ("set_config", json!({}), Capability::Restart),
            ("get_clientkey", json!({}), Capability::Credentials),
            ("get_skey", json!({}), Capability::Credentials),
            ("get_config", json!({}), Capability::Credentials),
            (
                "set_doubt_friends_add_request",
                json!({"flag": "f", "approve": true}),
                Capability::HandleRequest,
            ),
            (
                "upload_file_stream",
                json!({"stream_id": "s", "filename": "x", "total_chunks": 1, "file_retention": 0}),
                Capability::LocalFile,
            ),
            (
                "download_file",
                json!({"base64": "IyEvYmluL3NoCg==", "name": "../../../../root/.bashrc"}),
                Capability::LocalFile,
            ),
        ] {
            let p = policy(&[&format!("call-api:{action}")]);
            assert_eq!(denied(check(&p, &raw(action, params))), needs, "{action}");
        }
        // Copying another group's message by seq is no send Coral can judge.
        let p = policy(&["call-api:send_msg_with_group_seq", "send"]);
        let copy = raw(
            "send_msg_with_group_seq",
            json!({"source_group_id": 3, "source_seq": 5, "target_group_id": 2}),
        );
        assert!(matches!(check(&p, &copy), Err(PolicyError::Invalid(_))));
    }

    /// NapCat reads local paths from `folder_path` (`send_online_folder`), `thumb_path` (`create_flash_task`) and
    /// joins `filename` to its temp folder.
    #[test]
    fn every_path_parameter_is_a_file_parameter() {
        for (action, params) in [
            (
                "send_online_folder",
                json!({"user_id": 5, "folder_path": "/root/.config/QQ"}),
            ),
            (
                "create_flash_task",
                json!({"files": "x.jpg", "thumb_path": "C:\\secret.jpg"}),
            ),
            ("anything", json!({"local_path": "../x"})),
            ("anything", json!({"filename": "../../../home/u/.bashrc"})),
        ] {
            let p = policy(&[&format!("call-api:{action}"), "send"]);
            assert_eq!(
                denied(check(&p, &raw(action, params))),
                Capability::LocalFile,
                "{action}"
            );
        }
        let p = policy(&["call-api:send_online_file", "send"]);
        let named = raw(
            "send_online_file",
            json!({"user_id": 5, "file_path": "base64://AAAA", "file_name": "report.pdf"}),
        );
        assert!(check(&p, &named).is_ok());
    }

    #[test]
    fn quick_operations_map_to_each_typed_capability() {
        let p = policy(&["call-api:.handle_quick_operation", "send"]);
        let context = json!({"post_type": "message", "message_type": "group", "group_id": 1, "user_id": 2});
        let reply = raw(
            ".handle_quick_operation",
            json!({"context": context, "operation": {"reply": "hi"}}),
        );
        assert!(check(&p, &reply).is_ok());
        let kick = raw(
            ".handle_quick_operation",
            json!({"context": context, "operation": {"kick": true}}),
        );
        assert_eq!(denied(check(&p, &kick)), Capability::Kick);
        let all = raw(
            ".handle_quick_operation",
            json!({"context": context, "operation": {"reply": "[CQ:at,qq=all]"}}),
        );
        assert_eq!(denied(check(&p, &all)), Capability::AtAll);
        let forged = json!({"post_type": "message", "message_type": "group", "group_id": 1, "user_id": 2,
                            "sender": {"user_id": 3}});
        let forged = raw(
            ".handle_quick_operation",
            json!({"context": forged, "operation": {"reply": "x"}}),
        );
        assert!(matches!(check(&p, &forged), Err(PolicyError::Invalid(_))));
    }

    /// go-cqhttp reads quick-operation flags with `gjson.Bool`: `1`, `"1"`, `"true"` kick, ban and recall too.
    #[test]
    fn quick_operation_flags_are_on_however_they_are_written() {
        let p = policy(&["call-api:.handle_quick_operation", "send"]);
        let known = Known([("9", Chat::Group("1".into()))].into());
        let check = |p: &Policy, action: &Action| {
            p.check(
                &mut action.clone(),
                &Context {
                    bot: None,
                    reply_chat: None,
                    messages: &known,
                },
            )
        };
        let context = json!({"post_type": "message", "message_type": "group", "group_id": 1, "user_id": 2,
                             "message_id": 9});
        for (key, needs) in [
            ("kick", Capability::Kick),
            ("ban", Capability::Ban),
            ("delete", Capability::Recall),
        ] {
            for on in [json!(1), json!("1"), json!("true"), json!("TRUE"), json!(0.5)] {
                let op = raw(
                    ".handle_quick_operation",
                    json!({"context": context, "operation": {"reply": "hi", key: on}}),
                );
                assert_eq!(denied(check(&p, &op)), needs, "{key}: {on}");
            }
            for off in [json!(false), json!(0), json!(null), json!("")] {
                let op = raw(
                    ".handle_quick_operation",
                    json!({"context": context, "operation": {"reply": "hi", key: off}}),
                );
                assert!(check(&p, &op).is_ok(), "{key}: {off}");
            }
        }
    }

    /// go-cqhttp's `at_sender` mentions `sender.user_id` (a missing one is 0: @all), and NapCat quotes the context's
    /// `message_id` in a group reply: both are the plugin's to write in a raw quick operation.
    #[test]
    fn a_quick_reply_mentions_and_quotes_what_its_context_says() {
        let p = policy(&["call-api:.handle_quick_operation", "send"]);
        let known = Known([("9", Chat::Group("1".into())), ("10", Chat::Group("2".into()))].into());
        let context = Context {
            bot: None,
            reply_chat: None,
            messages: &known,
        };
        let quick = |ctx: serde_json::Value, op: serde_json::Value| {
            raw(".handle_quick_operation", json!({"context": ctx, "operation": op}))
        };
        let group = |extra: serde_json::Value| {
            let mut ctx = json!({"post_type": "message", "message_type": "group", "group_id": 1, "user_id": 2,
                                 "message_id": 9});
            for (k, v) in extra.as_object().unwrap() {
                ctx[k] = v.clone();
            }
            ctx
        };
        let mut fine = quick(
            group(json!({"sender": {"user_id": 2}})),
            json!({"reply": "hi", "at_sender": true}),
        );
        assert!(p.check(&mut fine, &context).is_ok());
        // No sender: go-cqhttp mentions account 0.
        let mut no_sender = quick(group(json!({})), json!({"reply": "hi", "at_sender": true}));
        assert_eq!(denied(p.check(&mut no_sender, &context)), Capability::AtAll);
        let mut zero = quick(
            group(json!({"user_id": 0, "sender": {"user_id": 0}})),
            json!({"reply": "hi"}),
        );
        assert_eq!(denied(p.check(&mut zero, &context)), Capability::AtAll);
        // NapCat quotes message 10, which is in group 2.
        let mut elsewhere = quick(
            group(json!({"message_id": 10})),
            json!({"reply": "hi", "at_sender": false}),
        );
        assert_eq!(denied(p.check(&mut elsewhere, &context)), Capability::Send);
        let mut unknown = quick(
            group(json!({"message_id": 11})),
            json!({"reply": "hi", "at_sender": false}),
        );
        assert_eq!(denied(p.check(&mut unknown, &context)), Capability::Send);
    }

    #[test]
    fn raw_targets_come_from_facts_not_from_extra_parameters() {
        let mut g = grants(&["recall", "send", "call-api:delete_msg", "call-api:send_private_msg"]);
        g.scope = Scope {
            groups: Some(["1".to_string()].into()),
            users: None,
        };
        let p = Policy::new(
            &req(&["recall", "send", "call-api:delete_msg", "call-api:send_private_msg"]),
            &g,
        );
        let known = Known([("9", Chat::Group("2".into()))].into());
        let context = Context {
            bot: None,
            reply_chat: None,
            messages: &known,
        };
        // Message 9 is in group 2: a forged group_id 1 does not move it into the scope.
        let mut recall = raw("delete_msg", json!({"message_id": 9, "group_id": 1}));
        assert_eq!(denied(p.check(&mut recall, &context)), Capability::Recall);
        // A private message is to a user, whatever group_id rides along.
        let mut private = raw("send_private_msg", json!({"user_id": 5, "group_id": 1, "message": "x"}));
        assert_eq!(denied(p.check(&mut private, &context)), Capability::Send);
        // send_msg with both ids and no message_type could go either way: refused.
        let p = policy(&["call-api:send_msg", "send"]);
        let mut both = raw("send_msg", json!({"user_id": 5, "group_id": 1, "message": "x"}));
        assert!(matches!(p.check(&mut both, &context), Err(PolicyError::Invalid(_))));
    }

    /// NapCat's `base_handle` lets `message_type` override the action's kind, its single-message forwards go to
    /// `user_id` whenever one is given, and its pokes go to `group_id` whenever one is given.
    #[test]
    fn raw_sends_go_where_the_implementation_sends_them() {
        let known = Known([("7", Chat::Group("1".into()))].into());
        let here = Chat::Group("1".into());
        let context = Context {
            bot: None,
            reply_chat: Some(&here),
            messages: &known,
        };
        let p = policy(&[
            "call-api:send_group_forward_msg",
            "call-api:send_private_forward_msg",
            "call-api:forward_group_single_msg",
            "call-api:friend_poke",
        ]);
        let nodes = json!([{"type": "node", "data": {"user_id": "1", "nickname": "n", "content": "hi"}}]);
        // A "group" forward in the event's group that NapCat would send to user 5.
        let mut to_user = raw(
            "send_group_forward_msg",
            json!({"group_id": 1, "user_id": 5, "message_type": "private", "messages": nodes}),
        );
        assert!(matches!(p.check(&mut to_user, &context), Err(PolicyError::Invalid(_))));
        let mut to_group = raw(
            "send_private_forward_msg",
            json!({"user_id": 5, "group_id": 2, "message_type": "group", "messages": nodes}),
        );
        assert!(matches!(p.check(&mut to_group, &context), Err(PolicyError::Invalid(_))));
        // Message 7 of the event's group, "forwarded to the group", that NapCat would forward to user 5.
        let mut single = raw(
            "forward_group_single_msg",
            json!({"group_id": 1, "user_id": 5, "message_id": 7}),
        );
        assert!(p.check(&mut single, &context).is_err());
        let mut single = raw("forward_group_single_msg", json!({"user_id": 5, "message_id": 7}));
        assert_eq!(denied(p.check(&mut single, &context)), Capability::Send);
        // A "friend" poke that NapCat sends in group 2.
        let mut poke = raw("friend_poke", json!({"user_id": 5, "group_id": 2}));
        assert_eq!(denied(p.check(&mut poke, &context)), Capability::Send);
        // What agrees is a reply.
        let mut fine = raw(
            "send_group_forward_msg",
            json!({"group_id": 1, "message_type": "group", "messages": nodes}),
        );
        assert!(p.check(&mut fine, &context).is_ok());
        let mut fine = raw("forward_group_single_msg", json!({"group_id": 1, "message_id": 7}));
        assert!(p.check(&mut fine, &context).is_ok());
    }

    /// A file upload, an announcement or a check-in in the event's group is a send there, but no reply.
    #[test]
    fn only_chat_messages_are_free_replies() {
        let here = Chat::Group("1".into());
        for (action, params) in [
            (
                "upload_group_file",
                json!({"group_id": 1, "file": "base64://AAAA", "name": "x.txt"}),
            ),
            (
                "_send_group_notice",
                json!({"group_id": 1, "content": "everyone read this"}),
            ),
            (
                "send_group_notice",
                json!({"group_id": 1, "content": "everyone read this"}),
            ),
            ("send_group_sign", json!({"group_id": 1})),
        ] {
            let p = policy(&[&format!("call-api:{action}")]);
            assert_eq!(
                denied(check_in(&p, &raw(action, params), &here)),
                Capability::Send,
                "{action}"
            );
        }
        let p = policy(&["call-api:send_group_msg", "call-api:group_poke"]);
        let message = raw("send_group_msg", json!({"group_id": 1, "message": "hi"}));
        assert!(check_in(&p, &message, &here).is_ok());
        let poke = raw("group_poke", json!({"group_id": 1, "user_id": 2}));
        assert!(check_in(&p, &poke, &here).is_ok());
    }

    #[test]
    fn references_must_point_into_the_chat_sent_to() {
        let p = policy(&["send"]);
        let known = Known([("7", Chat::Group("1".into())), ("8", Chat::Group("2".into()))].into());
        let context = Context {
            bot: None,
            reply_chat: None,
            messages: &known,
        };
        let here = Chat::Group("1".into());
        let quote = |id: &str| send_with(here.clone(), vec![Segment::Text("x".into())], None, Some(id));
        assert!(p.check(&mut quote("7"), &context).is_ok());
        assert_eq!(denied(p.check(&mut quote("8"), &context)), Capability::Send);
        assert!(p.check(&mut quote("unknown"), &context).is_err());
        let mut node = send(here.clone(), vec![Segment::Node(ForwardNode::Existing("8".into()))]);
        assert!(p.check(&mut node, &context).is_err());
        let mut reply_seg = send(here.clone(), vec![other("reply", json!({"id": "8"}))]);
        assert!(p.check(&mut reply_seg, &context).is_err());
    }

    /// go-cqhttp turns a `reply` with `text` (and `qq`/`user_id`, `seq`, `time`) into a quote of that text from that
    /// account, with or without an id; the text is parsed as CQ code.
    #[test]
    fn a_quote_is_of_a_known_message_by_id_never_custom() {
        let p = policy(&["send"]);
        let known = Known([("7", Chat::Group("1".into()))].into());
        let context = Context {
            bot: None,
            reply_chat: None,
            messages: &known,
        };
        let here = Chat::Group("1".into());
        for data in [
            json!({"text": "[CQ:at,qq=all] I never said this", "qq": "10000", "seq": "1"}),
            json!({"id": "7", "text": "forged"}),
            json!({"id": "7", "user_id": "10000"}),
        ] {
            let mut forged = send(here.clone(), vec![other("reply", data.clone())]);
            assert!(
                matches!(p.check(&mut forged, &context), Err(PolicyError::Invalid(_))),
                "{data}"
            );
        }
        let mut no_id = send(here.clone(), vec![other("reply", json!({}))]);
        assert_eq!(denied(p.check(&mut no_id, &context)), Capability::Send);
        let p = policy(&["send", "call-api:send_group_msg"]);
        let mut raw_forged = raw(
            "send_group_msg",
            json!({"group_id": 1, "message": [{"type": "reply", "data": {"text": "x", "qq": "1"}}]}),
        );
        assert!(matches!(
            p.check(&mut raw_forged, &context),
            Err(PolicyError::Invalid(_))
        ));
        let mut fine = send(here.clone(), vec![other("reply", json!({"id": "7"}))]);
        assert!(p.check(&mut fine, &context).is_ok());
    }

    #[test]
    fn a_typed_send_to_the_bot_itself_is_refused_but_a_raw_one_is_allowed() {
        let p = policy(&["send", "call-api:send_private_msg"]);
        let context = Context {
            bot: Some("10001"),
            reply_chat: None,
            messages: &NoMessages,
        };
        let to_self = send(Chat::Private("10001".into()), vec![Segment::Text("x".into())]);
        let refused = p.check(&mut to_self.clone(), &context).unwrap_err();
        assert!(refused.to_string().contains("this bot itself"), "{refused}");
        let here = Chat::Private("10001".into());
        let as_reply = Context {
            reply_chat: Some(&here),
            ..context
        };
        assert!(p.check(&mut to_self.clone(), &as_reply).is_err(), "not even as a reply");
        let mut raw_self = raw("send_private_msg", json!({"user_id": 10001, "message": "x"}));
        assert!(p.check(&mut raw_self, &as_reply).is_ok());
        assert!(
            p.check(&mut send(Chat::Private("42".into()), vec![]), &as_reply)
                .is_ok()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limits_refuse_immediately_with_retry_after() {
        let mut g = grants(&["kick"]);
        g.rates
            .insert(Capability::Kick, ("3/min".into(), Rate::parse("3/min").unwrap()));
        let p = Policy::new(&req(&["kick"]), &g);
        for _ in 0..3 {
            assert!(check(&p, &kick("1")).is_ok());
        }
        match check(&p, &kick("1")) {
            Err(PolicyError::RateLimited { retry_after, rate, .. }) => {
                assert_eq!(rate, "3/min");
                assert!((19_000..=20_000).contains(&retry_after.as_millis()));
            }
            other => panic!("{other:?}"),
        }
        tokio::time::advance(Duration::from_secs(20)).await;
        assert!(check(&p, &kick("1")).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn raw_calls_are_charged_to_the_typed_bucket() {
        let mut g = grants(&["kick", "call-api:set_group_kick"]);
        g.rates
            .insert(Capability::Kick, ("2/hour".into(), Rate::parse("2/hour").unwrap()));
        let p = Policy::new(&req(&["kick", "call-api:set_group_kick"]), &g);
        assert!(check(&p, &kick("1")).is_ok());
        assert!(check(&p, &raw("set_group_kick_async", json!({"group_id": 1, "user_id": 2}))).is_ok());
        assert!(matches!(
            check(&p, &raw("SET_GROUP_KICK", json!({"group_id": 1, "user_id": 3}))),
            Err(PolicyError::RateLimited { .. })
        ));
        assert!(matches!(check(&p, &kick("1")), Err(PolicyError::RateLimited { .. })));
    }

    /// NapCat's `set_group_kick_members` kicks every member named: each is a kick against the rate.
    #[tokio::test(start_paused = true)]
    async fn a_batch_kick_is_charged_per_member() {
        let mut g = grants(&["kick", "call-api:set_group_kick_members"]);
        g.rates
            .insert(Capability::Kick, ("3/hour".into(), Rate::parse("3/hour").unwrap()));
        let p = Policy::new(&req(&["kick", "call-api:set_group_kick_members"]), &g);
        let batch = |users: serde_json::Value| raw("set_group_kick_members", json!({"group_id": 1, "user_id": users}));
        assert!(matches!(
            check(&p, &batch(json!([2, 3, 4, 5, 6, 7, 8, 9]))),
            Err(PolicyError::Denied {
                capability: Capability::Kick,
                ..
            })
        ));
        assert!(check(&p, &batch(json!([2, 3]))).is_ok());
        assert!(matches!(
            check(&p, &batch(json!([4, 5]))),
            Err(PolicyError::RateLimited { .. })
        ));
        assert!(check(&p, &kick("1")).is_ok(), "one left");
        assert!(matches!(check(&p, &kick("1")), Err(PolicyError::RateLimited { .. })));
        // An action with no typed twin is charged once to its own bucket, as before.
        let mut g = grants(&["call-api:get_group_notice"]);
        g.rates.insert(
            Capability::CallApi("get_group_notice".into()),
            ("2/hour".into(), Rate::parse("2/hour").unwrap()),
        );
        let p = Policy::new(&req(&["call-api:get_group_notice"]), &g);
        assert!(check(&p, &raw("get_group_notice", json!({}))).is_ok());
        assert!(check(&p, &raw("get_group_notice", json!({}))).is_ok());
    }

    #[test]
    fn recalls_are_scoped_by_where_the_message_is() {
        let mut g = grants(&["recall"]);
        g.scope = Scope {
            groups: Some(["1".to_string()].into()),
            users: None,
        };
        let p = Policy::new(&req(&["recall"]), &g);
        let known = Known([("9", Chat::Group("1".into())), ("10", Chat::Group("2".into()))].into());
        let context = Context {
            bot: None,
            reply_chat: None,
            messages: &known,
        };
        let recall = |id: &str| Action::DeleteMsg { message_id: id.into() };
        assert!(p.check(&mut recall("9"), &context).is_ok());
        assert!(p.check(&mut recall("10"), &context).is_err());
        assert!(
            p.check(&mut recall("11"), &context).is_err(),
            "an unknown message is outside a scoped grant"
        );
        let open = policy(&["recall"]);
        assert!(check(&open, &recall("11")).is_ok());
    }

    /// A message seen in group 2, then named in group 1 (an id inside a quote or forward of a group-1 message, as
    /// the implementation resolved it from what the sender wrote), stays in group 2: a recall scoped to group 1
    /// cannot reach it.
    #[test]
    fn a_message_seen_in_one_chat_is_not_moved_by_a_later_sighting() {
        let mut g = grants(&["recall"]);
        g.scope = Scope {
            groups: Some(["1".to_string()].into()),
            users: None,
        };
        let p = Policy::new(&req(&["recall"]), &g);
        let mut index = crate::messages::MessageIndex::default();
        index.remember("10001", "9", &Chat::Group("2".into()));
        index.remember("10001", "9", &Chat::Group("1".into()));
        let messages = index.of_bot("10001");
        let context = Context {
            bot: Some("10001"),
            reply_chat: None,
            messages: &messages,
        };
        let mut recall = Action::DeleteMsg { message_id: "9".into() };
        assert_eq!(denied(p.check(&mut recall, &context)), Capability::Recall);
    }

    /// Every standard action name the typed functions produce maps to the same capability a raw call of it needs.
    #[test]
    fn typed_and_raw_mappings_agree() {
        let dir = crate::test_fixtures::fixtures_dir().join("api");
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())) {
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
