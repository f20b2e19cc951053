//! The one `bindgen!` over `../wit`: Rust types for the `coral:bot` world, used as the host's event and message
//! model too (they are already platform-neutral).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use coral::bot::bot::{
    BotInfo, Credentials, ForwardMessageNode, FriendInfo, GroupInfo, HonorInfo, HonorMember, LoginInfo, MemberInfo,
    MessageInfo, SendOptions, Status, StrangerInfo, Talkative, VersionInfo,
};
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
