//! Fixture: loops forever on every message event (must be stopped by the host's CPU budget).

use coral_sdk::prelude::*;

struct Spin;

impl Plugin for Spin {
    fn metadata() -> Metadata {
        Metadata::new("spin", "0.1.0")
            .description("loops forever on every message")
            .events([EventCategory::Message])
    }
    fn init(_config: Config) -> Result<Self, String> {
        Ok(Spin)
    }
    fn on_message(&mut self, _bot: &Bot, _msg: &MessageEvent) -> HandlerResult {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

export_plugin!(Spin);
