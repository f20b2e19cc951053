//! Test support: build the guest plugins once, and run the real `coral` binary with a temp config.

pub mod coral;
pub mod onebot_peer;
pub mod plugins;
