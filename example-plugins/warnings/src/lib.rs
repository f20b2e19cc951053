//! `warnings`: an administrator writes `warn @user [reason]` (or `warn <user id> [reason]`) in a group; the
//! plugin counts warnings per group member in its storage, and at the configured limit mutes the member and
//! starts their count again. `warnings @user` shows a count, `unwarn @user` clears it. Counts survive restarts.
//!
//! Config (`[plugins.warnings.config]`, checked against the schema below): `limit` (warnings before a mute,
//! 1-100, default 3), `mute_secs` (default 600), `admins` (user ids who may warn besides group admins and
//! owners, default none). Grants it asks for: `storage`, `ban`, `send`.

use coral_sdk::prelude::*;
use coral_sdk::storage;

struct Warnings {
    limit: i64,
    mute_secs: u32,
    admins: Vec<String>,
}

/// The member a command is about: the first @-mention, else the first word (without a leading `@`).
fn target(msg: &MessageEvent, rest: &str) -> Option<String> {
    let mentioned = msg.message.iter().find_map(|s| match s {
        Segment::At(who) if who != "all" => Some(who.clone()),
        _ => None,
    });
    mentioned.or_else(|| {
        rest.split_whitespace()
            .next()
            .map(|w| w.trim_start_matches('@').to_string())
            .filter(|w| !w.is_empty())
    })
}

fn key(group: &str, user: &str) -> String {
    format!("warn:{group}:{user}")
}

impl Warnings {
    fn is_admin(&self, msg: &MessageEvent) -> bool {
        matches!(msg.sender.role, Some(Role::Admin | Role::Owner)) || self.admins.contains(&msg.user_id)
    }

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
            .events([EventCategory::Message])
            .config_schema(&serde_json::json!({
                "type": "object",
                "properties": {
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100},
                    "mute_secs": {"type": "integer", "minimum": 60, "maximum": 2_592_000},
                    "admins": {"type": "array", "items": {"type": ["string", "integer"]}}
                },
                "additionalProperties": false
            }))
    }

    fn init(config: Config) -> Result<Self, String> {
        let admins: Vec<serde_json::Value> = config.get("admins").unwrap_or_default();
        Ok(Warnings {
            limit: config.get("limit").unwrap_or(3),
            mute_secs: config.get("mute_secs").unwrap_or(600),
            admins: admins
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect(),
        })
    }

    fn on_message(&mut self, bot: &Bot, msg: &MessageEvent) -> HandlerResult {
        let Some(group) = msg.group_id.clone() else {
            return Ok(());
        };
        let text = msg.plain_text.trim();
        let (command, rest) = text.split_once(' ').unwrap_or((text, ""));
        if !matches!(command, "warn" | "warnings" | "unwarn") {
            return Ok(());
        }
        let Some(user) = target(msg, rest) else {
            bot.reply(msg, format!("usage: {command} @user"))?;
            return Ok(());
        };
        if command != "warnings" && !self.is_admin(msg) {
            bot.reply(msg, "only group administrators can do that")?;
            return Ok(());
        }
        let answer = match command {
            "warn" => {
                let reason = rest.split_once(' ').map_or("", |(_, r)| r.trim());
                self.warn(bot, &group, &user, reason)
            }
            "unwarn" => storage::delete(&key(&group, &user)).map(|_| format!("{user}'s warnings cleared")),
            _ => storage::get_string(&key(&group, &user))
                .map(|n| format!("{user} has {}/{} warnings", n.unwrap_or_else(|| "0".into()), self.limit)),
        };
        let text = answer.unwrap_or_else(|e| format!("could not {command}: {}", e.message));
        bot.reply(msg, text)?;
        Ok(())
    }
}

export_plugin!(Warnings);
