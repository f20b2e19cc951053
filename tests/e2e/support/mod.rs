//! Test support: build the guest plugins once, and run the real `coral` binary with a temp config.

pub mod browser;
pub mod coral;
/// Where the OneBot fixtures are: the host's own unit-test helper, shared so both resolve them the same way.
#[path = "../../support/fixtures.rs"]
pub mod fixtures;
pub mod onebot_peer;
pub mod plugins;
