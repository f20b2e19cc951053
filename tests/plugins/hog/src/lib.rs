//! Fixture: allocates without bound on every message event (must hit the host's memory cap).

use coral_sdk::prelude::*;

struct Hog;

impl Plugin for Hog {
    fn metadata() -> Metadata {
        Metadata::new("hog", "0.1.0")
            .description("allocates without bound on every message")
            .events([EventCategory::Message])
    }
    fn init(_config: Config) -> Result<Self, String> {
        Ok(Hog)
    }
    fn on_message(&mut self, _bot: &Bot, _msg: &MessageEvent) -> HandlerResult {
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        loop {
            // Touch every page so the memory is really committed.
            chunks.push(std::hint::black_box(vec![0xA5u8; 1 << 20]));
        }
    }
}

export_plugin!(Hog);
