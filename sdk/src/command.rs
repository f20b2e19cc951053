//! Commands and conversations, done by the host: declare [`Command`]s in [`crate::Plugin::commands`]; the host
//! parses messages with the operator's prefixes, checks who may run each command, where and how often, answers
//! wrong usage itself, and calls [`crate::Plugin::on_command`] with the parsed arguments. [`prompt`] sends a
//! user's next message in a chat to [`crate::Plugin::on_prompt`] (capability `prompt`).
//!
//! ```no_run
//! use coral_sdk::command::{ArgKind, Command};
//! let sign = Command::new("sign")
//!     .alias("签到")
//!     .description("sign in for today")
//!     .optional("note", ArgKind::Rest)
//!     .user_cooldown(10);
//! let mute = Command::new("mute").arg("who", ArgKind::User).arg("minutes", ArgKind::Int).admin_only().group_only();
//! ```

use crate::Chat;
use crate::bindings::coral::bot::command as api;
use crate::error::Result;
pub use api::{
    ArgKind, ArgSpec, ArgValue, CommandSpec, Flow, Invocation, Permission, PromptOutcome, PromptReply, Scope,
};
use std::cell::Cell;

/// A command a plugin declares (a builder over the WIT `command-spec`).
#[derive(Debug, Clone)]
pub struct Command(CommandSpec);

impl Command {
    /// A command typed as `<prefix><name>`: anyone may run it, anywhere, with no arguments and no cooldown.
    pub fn new(name: impl Into<String>) -> Self {
        Command(CommandSpec {
            name: name.into(),
            aliases: Vec::new(),
            args: Vec::new(),
            description: String::new(),
            permission: Permission::Everyone,
            scope: Scope::Both,
            user_cooldown_secs: 0,
            group_cooldown_secs: 0,
        })
    }

    /// Another word for it.
    pub fn alias(mut self, alias: impl Into<String>) -> Self {
        self.0.aliases.push(alias.into());
        self
    }

    /// One line for `help`.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.0.description = description.into();
        self
    }

    /// A required argument.
    pub fn arg(mut self, name: impl Into<String>, kind: ArgKind) -> Self {
        self.0.args.push(ArgSpec {
            name: name.into(),
            kind,
            optional: false,
        });
        self
    }

    /// An optional argument (after the required ones).
    pub fn optional(mut self, name: impl Into<String>, kind: ArgKind) -> Self {
        self.0.args.push(ArgSpec {
            name: name.into(),
            kind,
            optional: true,
        });
        self
    }

    /// Who may run it.
    pub fn permission(mut self, permission: Permission) -> Self {
        self.0.permission = permission;
        self
    }

    /// Only group admins, the owner and superusers.
    pub fn admin_only(self) -> Self {
        self.permission(Permission::GroupAdmin)
    }

    /// Only the operator's superusers.
    pub fn superuser_only(self) -> Self {
        self.permission(Permission::Superuser)
    }

    /// Only in group chats.
    pub fn group_only(mut self) -> Self {
        self.0.scope = Scope::Group;
        self
    }

    /// Only in private chats.
    pub fn private_only(mut self) -> Self {
        self.0.scope = Scope::Private;
        self
    }

    /// Seconds one user waits between two runs in a chat.
    pub fn user_cooldown(mut self, secs: u32) -> Self {
        self.0.user_cooldown_secs = secs;
        self
    }

    /// Seconds a group waits between two runs by anyone.
    pub fn group_cooldown(mut self, secs: u32) -> Self {
        self.0.group_cooldown_secs = secs;
        self
    }

    #[doc(hidden)]
    pub fn into_wit(self) -> CommandSpec {
        self.0
    }
}

/// Reading a parsed command's arguments by position.
pub trait Args {
    /// Argument `i` as text (a `text` or `rest` argument), if given.
    fn text(&self, i: usize) -> Option<&str>;
    /// Argument `i` as a number (an `int` argument), if given.
    fn int(&self, i: usize) -> Option<i64>;
    /// Argument `i` as a user id (a `user` argument), if given.
    fn user(&self, i: usize) -> Option<&str>;
    /// The chat it was run in.
    fn chat(&self) -> Chat;
}

impl Args for Invocation {
    fn text(&self, i: usize) -> Option<&str> {
        match self.args.get(i) {
            Some(Some(ArgValue::Text(t))) => Some(t),
            _ => None,
        }
    }

    fn int(&self, i: usize) -> Option<i64> {
        match self.args.get(i) {
            Some(Some(ArgValue::Int(n))) => Some(*n),
            _ => None,
        }
    }

    fn user(&self, i: usize) -> Option<&str> {
        match self.args.get(i) {
            Some(Some(ArgValue::User(u))) => Some(u),
            _ => None,
        }
    }

    fn chat(&self) -> Chat {
        match &self.message.group_id {
            Some(group) if self.message.message_type == crate::ChatType::Group => Chat::Group(group.clone()),
            _ => Chat::Private(self.message.user_id.clone()),
        }
    }
}

/// Send `user_id`'s next message in `chat` (on bot `self_id`) to [`crate::Plugin::on_prompt`], with `key`, or a
/// timeout after `timeout_secs` (1 to 3600). Needs capability `prompt` (free in the chat of the event being
/// handled). Another plugin already waiting for that user there: error `busy`.
pub fn prompt(self_id: &str, chat: &Chat, user_id: &str, timeout_secs: u32, key: &str) -> Result<()> {
    api::prompt(self_id, chat, user_id, timeout_secs, key)
}

/// Withdraw this plugin's prompt for that user and chat; whether there was one.
pub fn cancel_prompt(self_id: &str, chat: &Chat, user_id: &str) -> bool {
    api::cancel_prompt(self_id, chat, user_id)
}

/// Whether `user_id` is one of the operator's superusers.
pub fn is_superuser(user_id: &str) -> bool {
    api::is_superuser(user_id)
}

thread_local! {
    static STOP: Cell<bool> = const { Cell::new(false) };
}

/// Keep the event being handled from plugins of lower priority (NoneBot's `block`). Call it from any handler.
pub fn stop() {
    STOP.with(|s| s.set(true));
}

#[doc(hidden)]
pub fn take_flow() -> Flow {
    if STOP.with(|s| s.replace(false)) {
        Flow::Stop
    } else {
        Flow::Next
    }
}
