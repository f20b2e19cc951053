//! The OneBot V11 adapter (NapCat, LLOneBot, Lagrange.OneBot, go-cqhttp): all four transports, any number at once.
//!
//! - [`protocol`]: pure — events and action requests as JSON (CQ codes and segments: `coral_model::wire`);
//! - [`link`]: echo-matched API calls (streamed responses too), the response envelope; [`bot`]: the per-bot
//!   connection (liveness, duplicate deliveries, HTTP POST quick operations in `quick`); [`inbound`]: frame handling;
//! - [`ws`]: forward WebSocket client (with reconnect) and reverse WebSocket server;
//! - [`http`]: HTTP API client and HTTP POST event receiver;
//! - [`auth`]: constant-time token and signature checks, and the rate-limited log of refused requests;
//!   [`config`]: `[[onebot]]` entries (a listener open to other machines needs a credential or `insecure = true`).

pub mod auth;
pub mod bot;
pub mod config;
pub mod governor;
pub mod http;
pub mod inbound;
pub mod link;
pub mod protocol;
mod quick;
pub mod ws;

use anyhow::Context as _;
use bot::Registry;
use config::{DEFAULT_REVERSE_PATH, OneBotConfig, Transport};
use coral_model::AdapterCounters;
use coral_model::Bots;
use coral_model::EventSink;
use inbound::Inbound;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// What [`start`] started.
pub struct Started {
    /// Each listener's address as bound (its real port for `:0`), with what it is (`onebot[0].listen`).
    pub listening: Vec<(SocketAddr, String)>,
}

/// Start every `[[onebot]]` entry. Listeners are bound before this returns (so a taken port is a startup error and
/// `listen = "127.0.0.1:0"` works); connections and reconnects then run in background tasks. Events go to `sink`,
/// bots are published in `bots`, frames it cannot use are counted in `stats`.
pub async fn start(
    entries: &[OneBotConfig],
    sink: &Arc<dyn EventSink>,
    bots: &Bots,
    stats: Arc<AdapterCounters>,
) -> anyhow::Result<Started> {
    let dispatcher = sink;
    let registry = Registry::new(bots.clone());
    let mut listening = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let governor = match &entry.max_send_rate {
            Some(text) => {
                let rate = coral_model::rate::Rate::parse(text)
                    .map_err(|e| anyhow::anyhow!("onebot[{index}].max_send_rate: {e}"))?;
                Some(Arc::new(governor::Governor::new(
                    text,
                    rate,
                    entry.send_queue.unwrap_or(governor::DEFAULT_SEND_QUEUE),
                )))
            }
            None => None,
        };
        let inbound = |label: String| {
            Inbound::new(
                dispatcher.clone(),
                registry.clone(),
                stats.clone(),
                label,
                governor.clone(),
                entry.dedup_window(),
            )
        };
        if let Some(listen) = entry.listener()
            && !entry.listener_has_credential()
            && !config::is_loopback(listen)
        {
            // Only reachable with `insecure = true` (config validation refuses it otherwise).
            tracing::warn!(
                "onebot[{index}]: listening on {listen} without `access_token` or `secret` (insecure = true): anyone \
                 who can reach it can act as the bot"
            );
        }
        let bind = |addr: &str| {
            let addr = addr.to_string();
            async move {
                TcpListener::bind(&addr)
                    .await
                    .with_context(|| format!("onebot[{index}]: cannot listen on {addr}"))
            }
        };
        match entry.transport {
            Transport::Ws => {
                let label = format!("onebot[{index}] ws");
                tokio::spawn(ws::run_forward(entry.clone(), inbound(label)));
            }
            Transport::WsReverse => {
                let listener = bind(entry.listen.as_deref().unwrap_or_default()).await?;
                let path = entry.path.clone().unwrap_or_else(|| DEFAULT_REVERSE_PATH.to_string());
                let addr = listener.local_addr()?;
                listening.push((addr, format!("onebot[{index}].listen")));
                // Tests and operators read this line to find the port.
                tracing::info!("onebot[{index}] ws-reverse listening on ws://{addr}{path}");
                let label = format!("onebot[{index}] ws-reverse");
                tokio::spawn(ws::run_reverse(listener, path, entry.clone(), inbound(label)));
            }
            Transport::Http => {
                let listener = match &entry.listen {
                    Some(addr) => {
                        let listener = bind(addr).await?;
                        let path = entry.path.clone().unwrap_or_else(|| "/".into());
                        let addr = listener.local_addr()?;
                        listening.push((addr, format!("onebot[{index}].listen")));
                        tracing::info!("onebot[{index}] http events listening on http://{addr}{path}");
                        Some(listener)
                    }
                    None => None,
                };
                let label = format!("onebot[{index}] http");
                tokio::spawn(http::run(entry.clone(), listener, inbound(label)));
            }
        }
    }
    Ok(Started { listening })
}
