//! `warnings`: an administrator writes `warn @user [reason]` (or `warn <user id> [reason]`) in a group; the
//! plugin counts warnings per group member in its storage, and at the configured limit mutes the member and
//! starts their count again. `warnings @user` shows a count, `unwarn @user` clears it. Counts survive restarts.
//!
//! The host does the command work: it parses `@user` or an id, answers wrong usage, and lets only group admins,
//! the owner and the operator's `[host] superusers` warn (no list of admins of its own).
//!
//! Config (`[plugins.warnings.config]`, checked against the schema below): `limit` (warnings before a mute,
//! 1-100, default 3), `mute_secs` (default 600). Grants it asks for: `storage`, `ban`, `send`.

use coral_sdk::command::Args;
use coral_sdk::prelude::*;
use coral_sdk::storage;

struct Warnings {
    limit: i64,
    mute_secs: u32,
}

fn key(group: &str, user: &str) -> String {
    format!("warn:{group}:{user}")
}

impl Warnings {
    fn warn(&self, bot: &Bot, group: &str, user: &str, reason: &str) -> Result<String, Error> {
        let count = storage::increment(&key(group, user), 1)?;
        let reason = if reason.is_empty() {
            String::new()
        } else {
            format!(" ({reason})")
        };
        if count < self.limit {
            return Ok(format!("{user} warned{reason}: {count}/{}", self.limit));
        }
        storage::delete(&key(group, user))?;
        Ok(match bot.ban_member(group, user, self.mute_secs) {
            Ok(()) => format!(
                "{user} warned{reason}: {count}/{}, muted for {} min",
                self.limit,
                self.mute_secs / 60
            ),
            Err(e) => format!(
                "{user} reached {count}/{} warnings{reason} but could not be muted: {}",
                self.limit, e.message
            ),
        })
    }
}

impl Plugin for Warnings {
    fn metadata() -> Metadata {
        Metadata::new("warnings", env!("CARGO_PKG_VERSION"))
            .description("counts warnings per group member and mutes at a limit")
            .capabilities(["storage", "ban", "send"])
            .config_schema(&serde_json::json!({
                "type": "object",
                "properties": {
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100},
                    "mute_secs": {"type": "integer", "minimum": 60, "maximum": 2_592_000}
                },
                "additionalProperties": false
            }))
    }

    fn commands() -> Vec<Command> {
        let who = |c: Command| c.arg("who", ArgKind::User).group_only();
        vec![
            who(Command::new("warn"))
                .optional("reason", ArgKind::Rest)
                .admin_only()
                .description("warn a member (a mute at the limit)"),
            who(Command::new("unwarn"))
                .admin_only()
                .description("clear a member's warnings"),
            who(Command::new("warnings")).description("show a member's warnings"),
        ]
    }

    fn init(config: Config) -> Result<Self, String> {
        Ok(Warnings {
            limit: config.get("limit").unwrap_or(3),
            mute_secs: config.get("mute_secs").unwrap_or(600),
        })
    }

    fn on_command(&mut self, bot: &Bot, cmd: &Invocation) -> HandlerResult {
        let (Some(group), Some(user)) = (cmd.message.group_id.as_deref(), cmd.user(0)) else {
            return Ok(());
        };
        let answer = match cmd.command.as_str() {
            "warn" => self.warn(bot, group, user, cmd.text(1).unwrap_or("")),
            "unwarn" => storage::delete(&key(group, user)).map(|_| format!("{user}'s warnings cleared")),
            _ => storage::get_string(&key(group, user))
                .map(|n| format!("{user} has {}/{} warnings", n.unwrap_or_else(|| "0".into()), self.limit)),
        };
        let text = answer.unwrap_or_else(|e| format!("could not {}: {}", cmd.command, e.message));
        bot.reply(&cmd.message, text)?;
        Ok(())
    }
}

export_plugin!(Warnings);
