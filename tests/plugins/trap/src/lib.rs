//! Fixture: traps (panics) on every message event.

use coral_sdk::prelude::*;

struct Trap;

impl Plugin for Trap {
    fn metadata() -> Metadata {
        Metadata::new("trap", "0.1.0")
            .description("panics on every message")
            .events([EventCategory::Message])
    }
    fn init(_config: Config) -> Result<Self, String> {
        Ok(Trap)
    }
    fn on_message(&mut self, _bot: &Bot, msg: &MessageEvent) -> HandlerResult {
        panic!("trap fixture: refusing {:?}", msg.plain_text);
    }
}

export_plugin!(Trap);
