//! The OneBot V11 adapter (NapCat, LLOneBot, Lagrange.OneBot, go-cqhttp): all four transports, any number at once.
//!
//! - [`protocol`]: pure — events and action requests as JSON (CQ codes and segments: `coral_model::wire`);
//! - [`link`]: echo-matched API calls (streamed responses too), the response envelope; [`bot`]: the per-bot
//!   connection (liveness, duplicate deliveries, HTTP POST quick operations in `quick`); [`inbound`]: frame handling;
//! - [`ws`]: forward WebSocket client (with reconnect) and reverse WebSocket server;
//! - [`http`]: HTTP API client and HTTP POST event receiver;
//! - [`auth`]: constant-time token and signature checks, and the rate-limited log of refused requests;
//!   [`config`]: `[[onebot]]` entries (a listener open to other machines needs a credential or `insecure = true`);
//! - [`entries`]: the running entries ([`Adapters`]): a new list (a config reload) starts, keeps or stops them.

pub mod auth;
pub mod bot;
pub mod config;
pub mod entries;
pub mod governor;
pub mod http;
pub mod inbound;
pub mod link;
pub mod protocol;
mod quick;
pub mod ws;

use config::OneBotConfig;
use coral_model::AdapterCounters;
use coral_model::Bots;
use coral_model::EventSink;
pub use entries::{Adapters, Applied, Change, StartError, Stop};
use std::net::SocketAddr;
use std::sync::Arc;

/// What [`start`] started.
pub struct Started {
    /// Each listener's address as bound (its real port for `:0`), with what it is (`onebot[0].listen`).
    pub listening: Vec<(SocketAddr, String)>,
}

/// Start every `[[onebot]]` entry, to run until the process ends (for entries a reload can change, use
/// [`Adapters`]). Listeners are bound before this returns (so a taken port is a startup error and
/// `listen = "127.0.0.1:0"` works); connections and reconnects then run in background tasks. Events go to `sink`,
/// bots are published in `bots`, frames it cannot use are counted in `stats`. If any entry cannot start, none runs.
pub async fn start(
    entries: &[OneBotConfig],
    sink: &Arc<dyn EventSink>,
    bots: &Bots,
    stats: Arc<AdapterCounters>,
) -> anyhow::Result<Started> {
    let adapters = Adapters::new(sink.clone(), bots.clone(), stats);
    let mut applied = adapters.apply(entries).await;
    let failed = applied.entries.drain(..).find_map(|change| match change {
        Change::Failed { error, .. } => Some(error),
        _ => None,
    });
    if let Some(error) = failed {
        adapters.stop_all().await;
        return Err(error.into());
    }
    // Nothing stops these entries: they run as long as the process.
    std::mem::forget(adapters);
    Ok(Started {
        listening: applied.listening,
    })
}
