//! Fixture: version 2 of `ping` (answers `pong2 <x>`), for hot-reload tests. Installed as `ping.wasm`.

use coral_sdk::prelude::*;

struct Ping;

impl Plugin for Ping {
    fn metadata() -> Metadata {
        Metadata::new("ping", "0.2.0")
            .description("ping v2")
            .capabilities(["send"])
            .events([EventCategory::Message])
    }
    fn init(_config: Config) -> Result<Self, String> {
        Ok(Ping)
    }
    fn on_message(&mut self, bot: &Bot, msg: &MessageEvent) -> HandlerResult {
        if let Some(rest) = msg.plain_text.strip_prefix("ping ") {
            bot.reply(msg, format!("pong2 {rest}"))?;
        }
        Ok(())
    }
}

export_plugin!(Ping);
