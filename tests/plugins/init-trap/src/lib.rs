//! Fixture: a plugin whose `init` traps; loading (or reloading onto) it must be refused.

use coral_sdk::prelude::*;

struct InitTrap;

impl Plugin for InitTrap {
    fn metadata() -> Metadata {
        Metadata::new("ping", "9.9.9")
            .description("traps in init")
            .events([EventCategory::Message])
    }
    fn init(_config: Config) -> Result<Self, String> {
        panic!("init-trap fixture: refusing to start");
    }
}

export_plugin!(InitTrap);
