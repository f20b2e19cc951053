//! `[[onebot]]` entries of `coral.toml`: one per connection to a OneBot V11 implementation.
//!
//! ```toml
//! [[onebot]]                      # forward WebSocket: Coral connects to the implementation
//! transport = "ws"
//! url = "ws://127.0.0.1:3001"     # universal; or api_url + event_url for split /api and /event
//! access_token = "secret"
//!
//! [[onebot]]                      # reverse WebSocket: the implementation connects to Coral
//! transport = "ws-reverse"
//! listen = "127.0.0.1:8080"
//! path = "/onebot/v11/ws"         # default
//!
//! [[onebot]]                      # HTTP: Coral POSTs actions to `url`, the implementation POSTs events to `listen`
//! transport = "http"
//! url = "http://127.0.0.1:5700"
//! listen = "127.0.0.1:5701"
//! secret = "hmac-secret"          # verifies X-Signature on event POSTs
//! ```

use serde::Deserialize;

/// Default per-call timeout, ms.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// Default reverse-WebSocket path.
pub const DEFAULT_REVERSE_PATH: &str = "/onebot/v11/ws";

/// How Coral talks to the implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// Forward WebSocket: Coral is the client.
    Ws,
    /// Reverse WebSocket: Coral is the server.
    WsReverse,
    /// HTTP API (Coral POSTs `/:action`) plus HTTP POST events (the implementation POSTs to Coral).
    Http,
}

/// One `[[onebot]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OneBotConfig {
    /// `ws`, `ws-reverse` or `http`.
    pub transport: Transport,
    /// `ws`: the universal endpoint (`ws://host:port`). `http`: the API root (`http://host:port`).
    pub url: Option<String>,
    /// `ws` split mode: the `/api` endpoint.
    pub api_url: Option<String>,
    /// `ws` split mode: the `/event` endpoint.
    pub event_url: Option<String>,
    /// `ws-reverse`: where Coral listens. `http`: where Coral receives event POSTs.
    pub listen: Option<String>,
    /// `ws-reverse`: the WebSocket path (default `/onebot/v11/ws`). `http`: the event path (default: any).
    pub path: Option<String>,
    /// The shared token: sent as `Authorization: Bearer` by Coral, required from the implementation.
    pub access_token: Option<String>,
    /// `http`: the HMAC-SHA1 secret for `X-Signature` on event POSTs.
    pub secret: Option<String>,
    /// The bot's id, when known in advance (otherwise learned from the connection).
    pub self_id: Option<String>,
    /// Per-call timeout in ms (default 30 000).
    pub timeout_ms: Option<u64>,
    /// Pace outgoing messages of this connection's bot(s), across all plugins, e.g. `"20/min burst 5"`
    /// (default: no pacing). Messages wait their turn; see `send_queue`.
    pub max_send_rate: Option<String>,
    /// Messages that may wait for the governor before sends are refused as busy (default 100).
    pub send_queue: Option<usize>,
    /// `http` without `url` (events only): how long an event POST is held open for plugins to answer with a
    /// quick operation, ms (default 3000).
    pub quick_timeout_ms: Option<u64>,
}

impl OneBotConfig {
    /// Check that the fields this transport needs are there; `index` names the entry in errors.
    pub fn validate(&self, index: usize) -> Result<(), String> {
        let need = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(format!("onebot[{index}]: {what}"))
            }
        };
        match self.transport {
            Transport::Ws => need(
                self.url.is_some() || (self.api_url.is_some() && self.event_url.is_some()),
                "transport \"ws\" needs `url`, or both `api_url` and `event_url`",
            ),
            Transport::WsReverse => need(self.listen.is_some(), "transport \"ws-reverse\" needs `listen`"),
            Transport::Http => need(
                self.url.is_some() || self.listen.is_some(),
                "transport \"http\" needs `url` (the API root) and/or `listen` (for events)",
            ),
        }?;
        need(self.timeout_ms != Some(0), "`timeout_ms` must be at least 1")?;
        need(self.send_queue != Some(0), "`send_queue` must be at least 1")?;
        match &self.max_send_rate {
            Some(rate) => crate::policy::rate::Rate::parse(rate)
                .map(|_| ())
                .map_err(|e| format!("onebot[{index}].max_send_rate: {e}")),
            None => Ok(()),
        }
    }

    /// The per-call timeout.
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS))
    }
}
