//! Kovi reference bot for the load benchmark (`host/benches/onebot_load.rs`, `CORAL_LOAD_PEER=kovi`): Kovi's OneBot
//! V11 driver (forward WebSocket, a client of the harness on `/api` and `/event`) with the echo plugin mounted.
//!
//! Run in a folder holding `kovi.conf.toml` (the harness writes it): its `[config]` table is Kovi's own, its
//! `[server]` table the driver's. Without the file Kovi would ask for it interactively.

use kovi::tokio;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let driver = kovi_onebot::OneBotDriver::new(kovi_onebot::load_local_conf()?);
    let bot = kovi::build_bot!(driver; kovi_echo);
    bot.run().await;
    Ok(())
}
