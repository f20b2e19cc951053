//! `moderation`: keyword moderation for groups. A group message containing a blocked word is recalled, its
//! sender is muted (longer for each repeat offence), and the group is told why.
//!
//! Config (`[plugins.moderation.config]`): `words` (blocked words, case-insensitive; default `["spam", "广告"]`),
//! `ban_secs` (first mute, default 600; doubles per strike, capped at 30 days), `warn` (announce, default true).
//! Grants it asks for: `send`, `recall`, `ban`. Where the platform cannot recall or mute (the console), the
//! warning says so instead of failing.

use coral_sdk::prelude::*;
use std::collections::HashMap;

const MAX_BAN_SECS: u32 = 30 * 24 * 3600;

struct Moderation {
    words: Vec<String>,
    ban_secs: u32,
    warn: bool,
    /// Offences per (group, user) since the plugin started.
    strikes: HashMap<(String, String), u32>,
}

impl Moderation {
    fn blocked_word(&self, text: &str) -> Option<&str> {
        let lower = text.to_lowercase();
        self.words
            .iter()
            .find(|w| lower.contains(w.as_str()))
            .map(String::as_str)
    }
}

fn outcome(what: &str, result: &Result<(), Error>) -> Option<String> {
    result
        .as_ref()
        .err()
        .map(|e| format!("could not {what}: {}", e.message))
}

impl Plugin for Moderation {
    fn metadata() -> Metadata {
        Metadata::new("moderation", env!("CARGO_PKG_VERSION"))
            .description("recalls group messages with blocked words and mutes their senders")
            .capabilities(["send", "recall", "ban"])
            .events([EventCategory::Message])
    }

    fn init(config: Config) -> Result<Self, String> {
        let words: Vec<String> = config
            .get("words")
            .unwrap_or_else(|| vec!["spam".into(), "广告".into()]);
        Ok(Moderation {
            words: words
                .into_iter()
                .map(|w| w.to_lowercase())
                .filter(|w| !w.is_empty())
                .collect(),
            ban_secs: config.get("ban_secs").unwrap_or(600),
            warn: config.get("warn").unwrap_or(true),
            strikes: HashMap::new(),
        })
    }

    fn on_message(&mut self, bot: &Bot, msg: &MessageEvent) -> HandlerResult {
        let Some(group) = msg.group_id.clone() else {
            return Ok(());
        };
        if msg.self_sent {
            return Ok(());
        }
        let Some(word) = self.blocked_word(&msg.plain_text).map(str::to_string) else {
            return Ok(());
        };

        let strikes = self.strikes.entry((group.clone(), msg.user_id.clone())).or_insert(0);
        *strikes += 1;
        let duration = self
            .ban_secs
            .saturating_mul(1 << (*strikes - 1).min(16))
            .min(MAX_BAN_SECS);
        let strikes = *strikes;

        let recalled = bot.delete_message(&msg.message_id);
        let banned = bot.ban_member(&group, &msg.user_id, duration);
        log::info(format!(
            "blocked word {word:?} from {} in {group} (strike {strikes}): recall {:?}, ban {}s {:?}",
            msg.user_id,
            recalled.as_ref().map_err(|e| e.code),
            duration,
            banned.as_ref().map_err(|e| e.code)
        ));

        if self.warn {
            let mut text = format!(
                " 请注意言辞: blocked word (strike {strikes}, mute {} min)",
                duration / 60
            );
            let failures: Vec<String> = [outcome("recall", &recalled), outcome("mute", &banned)]
                .into_iter()
                .flatten()
                .collect();
            if !failures.is_empty() {
                text.push_str(&format!(" [{}]", failures.join("; ")));
            }
            let warning = MessageChain::new()
                .push(MessageSegment::at(msg.user_id.clone()))
                .text(text);
            bot.send_group_message(&group, warning)?;
        }
        Ok(())
    }
}

export_plugin!(Moderation);
