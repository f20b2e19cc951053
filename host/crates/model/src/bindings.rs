//! The `bindgen!`s: Rust types for the current `coral:bot` world (`../wit`), used as the host's event and message
//! model too (they are already platform-neutral), and for the frozen 0.1.0 world plugins may still be built against.

wasmtime::component::bindgen!({
    path: "../../../wit",
    world: "plugin",
    imports: { default: async | trappable },
    exports: { default: async },
    // A host function that answers `result<T, error>` returns `Result<T, HostError>`: `?` works on a refusal
    // (a value the plugin receives) and on a trap alike.
    trappable_error_type: { "coral:bot/types.error" => crate::error::HostError },
});

/// The frozen `coral:bot@0.2.0` world (`wit/v0.2.0`). Its imports are the current ones unchanged (0.3.0 only added
/// the `command` interface), so the host registers the current implementation under the 0.2.0 names (wasmtime
/// checks each function's types structurally at instantiation); only its exports differ, and this gives their
/// bindings, over the current types.
pub mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../../../wit/v0.2.0",
        world: "plugin",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "coral:bot/types": crate::bindings::coral::bot::types,
            "coral:bot/bot": crate::bindings::coral::bot::bot,
            "coral:bot/log": crate::bindings::coral::bot::log,
            "coral:bot/storage": crate::bindings::coral::bot::storage,
            "coral:bot/schedule": crate::bindings::coral::bot::schedule,
            "coral:bot/http": crate::bindings::coral::bot::http,
        },
    });
}

/// The frozen `coral:bot@0.1.0` contract (`wit/v0.1.0`), for plugins built before 0.2.0: the host serves its
/// imports through the runtime.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../../../wit/v0.1.0",
        world: "plugin",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

pub use coral::bot::bot::{
    BotInfo, Credentials, ForwardMessageNode, FriendInfo, GroupInfo, HonorInfo, HonorMember, LoginInfo, MemberInfo,
    MessageInfo, SendOptions, Status, StrangerInfo, Talkative, VersionInfo,
};
pub use coral::bot::command::{ArgKind, ArgSpec, ArgValue, Permission, PromptOutcome, Scope as CommandScope};
pub use coral::bot::types::{
    Chat, ChatType, Error as WitError, ErrorCode, EventCategory, EventKind, GroupRequestKind, Media, MessageEvent,
    Role, Segment, Sender,
};

impl Event {
    /// The category this event belongs to (for the plugin's `events` filter).
    pub fn category(&self) -> EventCategory {
        match self.kind {
            EventKind::Message(_) => EventCategory::Message,
            EventKind::Notice(_) => EventCategory::Notice,
            EventKind::Request(_) => EventCategory::Request,
            EventKind::Meta(_) => EventCategory::Meta,
            EventKind::Other(_) => EventCategory::Other,
            EventKind::Timer(_) => EventCategory::Timer,
        }
    }
}

/// Where an event happened, for the operator's visibility rules: its group (none for a private chat or a friend
/// notice) and the user it is from (the sender, requester, or the member a notice is about).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place<'a> {
    /// The group.
    pub group: Option<std::borrow::Cow<'a, str>>,
    /// The user.
    pub user: Option<std::borrow::Cow<'a, str>>,
}

impl Event {
    /// Where this event happened; none for events that belong to no chat (meta events, timers). An event Coral
    /// has no typed case for is placed by the `group_id` / `user_id` of its JSON, so an unknown kind of event
    /// from a hidden group is hidden too.
    pub fn place(&self) -> Option<Place<'_>> {
        use coral::bot::types::{NoticeEvent as N, RequestEvent as R};
        use std::borrow::Cow::{self, Borrowed};
        fn both<'a>(group: &'a str, user: &'a str) -> (Option<Cow<'a, str>>, Option<Cow<'a, str>>) {
            (Some(Borrowed(group)), Some(Borrowed(user)))
        }
        let (group, user) = match &self.kind {
            EventKind::Message(m) => (
                match (&m.message_type, &m.group_id) {
                    (ChatType::Group, Some(group)) => Some(Borrowed(group.as_str())),
                    _ => None,
                },
                Some(Borrowed(m.user_id.as_str())),
            ),
            EventKind::Notice(n) => match n {
                N::GroupUpload(x) => both(&x.group_id, &x.user_id),
                N::GroupAdmin(x) => both(&x.group_id, &x.user_id),
                N::GroupDecrease(x) | N::GroupIncrease(x) => both(&x.group_id, &x.user_id),
                N::GroupBan(x) => both(&x.group_id, &x.user_id),
                N::FriendAdd(user) => (None, Some(Borrowed(user.as_str()))),
                N::GroupRecall(x) => both(&x.group_id, &x.user_id),
                N::FriendRecall(x) => (None, Some(Borrowed(x.user_id.as_str()))),
                N::Poke(x) => (x.group_id.as_deref().map(Borrowed), Some(Borrowed(x.user_id.as_str()))),
                N::LuckyKing(x) => both(&x.group_id, &x.user_id),
                N::Honor(x) => both(&x.group_id, &x.user_id),
                N::Other(x) => return Some(place_of_json(&x.json)),
            },
            EventKind::Request(r) => match r {
                R::Friend(x) => (None, Some(Borrowed(x.user_id.as_str()))),
                R::Group(x) => both(&x.group_id, &x.user_id),
                R::Other(json) => return Some(place_of_json(json)),
            },
            EventKind::Other(json) => {
                let place = place_of_json(json);
                return (place.group.is_some() || place.user.is_some()).then_some(place);
            }
            EventKind::Meta(_) | EventKind::Timer(_) => return None,
        };
        Some(Place { group, user })
    }
}

/// The `group_id` and `user_id` of an event's JSON (numbers or strings).
fn place_of_json(json: &str) -> Place<'static> {
    let value: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    let id = |key: &str| match &value[key] {
        serde_json::Value::Number(n) => Some(std::borrow::Cow::Owned(n.to_string())),
        serde_json::Value::String(s) if !s.is_empty() => Some(std::borrow::Cow::Owned(s.clone())),
        _ => None,
    };
    Place {
        group: id("group_id"),
        user: id("user_id"),
    }
}
