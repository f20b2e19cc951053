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
