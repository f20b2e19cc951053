//! `ping`: answers `ping <x>` with `pong <x>`, in private chats and groups. Needs only the default `send` grant.

use coral_sdk::prelude::*;

struct Ping;

impl Plugin for Ping {
    fn metadata() -> Metadata {
        Metadata::new("ping", env!("CARGO_PKG_VERSION"))
            .description("answers `ping <x>` with `pong <x>`")
            .capabilities(["send"])
            .events([EventCategory::Message])
    }

    fn init(_config: Config) -> Result<Self, String> {
        Ok(Ping)
    }

    fn on_message(&mut self, bot: &Bot, msg: &MessageEvent) -> HandlerResult {
        let text = msg.plain_text.as_str();
        let rest = if text == "ping" {
            Some("")
        } else {
            text.strip_prefix("ping ")
        };
        if let Some(rest) = rest {
            let reply = if rest.is_empty() {
                "pong".to_string()
            } else {
                format!("pong {rest}")
            };
            bot.reply(msg, reply)?;
        }
        Ok(())
    }
}

export_plugin!(Ping);
