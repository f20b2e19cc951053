//! `coral-sdk`: write Coral chat-bot plugins in Rust.
//!
//! A Coral plugin is a WebAssembly component that the `coral` host loads from its plugin folder and runs in a
//! sandbox. This crate wraps the `coral:bot` WIT world (in `../wit`) in an API that reads like the original Coral
//! document: [`get_bot`], [`Bot::send_message`] with a [`MessageChain`] of [`MessageSegment`]s, typed actions such
//! as [`Bot::kick_member`], and the raw [`Bot::call_api`].
//!
//! # Layout
//! - [`plugin`]: the [`Plugin`] trait, [`Metadata`], [`Config`] and the [`export_plugin!`] macro.
//! - [`command`]: commands the host parses for the plugin ([`command::Command`]), prompts, [`command::stop`].
//! - [`message`]: [`MessageChain`], [`MessageSegment`] and helpers on received messages.
//! - [`bot`]: [`Bot`], [`get_bot`], [`bots`] and every platform action.
//! - [`error`]: [`Error`], [`ErrorCode`] and the `{status, retcode, data, message}` envelope.
//! - [`log`]: writing to the host's log.
//! - [`storage`]: the plugin's key-value store (capability `storage`).
//! - [`schedule`]: timers and cron jobs (capability `schedule`), delivered to [`Plugin::on_timer`].
//! - [`http`]: outgoing HTTP through the host (`fetch`, `get`, `post_json`), for plugins granted `http`.
//!
//! # Example
//! ```no_run
//! use coral_sdk::prelude::*;
//!
//! struct Ping;
//!
//! impl Plugin for Ping {
//!     fn metadata() -> Metadata {
//!         Metadata::new("ping", "0.1.0")
//!             .description("answers `ping <x>` with `pong <x>`")
//!             .capabilities(["send"])
//!             .events([EventCategory::Message])
//!     }
//!     fn init(_config: Config) -> Result<Self, String> {
//!         Ok(Ping)
//!     }
//!     fn on_message(&mut self, bot: &Bot, msg: &MessageEvent) -> HandlerResult {
//!         if let Some(rest) = msg.plain_text.strip_prefix("ping ") {
//!             bot.reply(msg, format!("pong {rest}"))?;
//!         }
//!         Ok(())
//!     }
//! }
//!
//! export_plugin!(Ping);
//! ```
#![warn(missing_docs)]

/// The raw bindings generated from the WIT world. Prefer the wrappers in this crate; these are here for
/// anything they do not cover.
#[doc(hidden)]
#[allow(missing_docs, unsafe_code)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_plugin_world",
        default_bindings_module: "coral_sdk::bindings",
    });
}

pub mod bot;
pub mod command;
pub mod error;
pub mod http;
pub mod log;
pub mod message;
pub mod plugin;
pub mod schedule;
pub mod storage;

// We enumerate re-exports explicitly: some generated names are shadowed by friendlier wrappers.
pub use bindings::coral::bot::bot::{
    BotInfo, Credentials, ForwardMessageNode, FriendInfo, GroupInfo, HonorInfo, HonorMember, LoginInfo, MemberInfo,
    MessageInfo, SendOptions, Status, StrangerInfo, Talkative, VersionInfo,
};
pub use bindings::coral::bot::types::{
    AnonymousSender, Chat, ChatType, Contact, ContactKind, CustomMusic, CustomNode, Event, EventCategory, EventKind,
    ForwardNode, FriendRecall, FriendRequest, GroupAdmin, GroupBan, GroupFile, GroupRecall, GroupRequest,
    GroupRequestKind, GroupUpload, Heartbeat, HonorNotice, Image, Lifecycle, Location, LuckyKing, Media, MemberChange,
    MessageEvent, MetaEvent, Music, MusicRef, NoticeEvent, OtherNotice, OtherSegment, Poke, PokeNotice, RequestEvent,
    Role, Segment, SegmentExtra, Sender, Share, TimerEvent, Voice,
};
pub use bot::{Action, Bot, bots, get_bot};
pub use command::{Command, Invocation, PromptReply};
pub use error::{ApiResponse, Error, ErrorCode, Result};
pub use message::{MessageChain, MessageSegment};
pub use plugin::{Config, HandlerResult, Metadata, Plugin, event_time};

/// Everything a plugin usually needs: `use coral_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Action, ApiResponse, Bot, Chat, ChatType, Command, Config, Error, ErrorCode, Event, EventCategory, EventKind,
        HandlerResult, Invocation, MessageChain, MessageEvent, MessageSegment, MetaEvent, Metadata, NoticeEvent,
        Plugin, PromptReply, RequestEvent, Role, Segment, TimerEvent, bots, command, command::ArgKind, command::Args,
        event_time, export_plugin, get_bot, log, schedule, storage,
    };
}
