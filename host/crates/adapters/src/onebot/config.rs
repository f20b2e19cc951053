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
//! access_token = "secret"         # required from clients before the upgrade
//!
//! [[onebot]]                      # HTTP: Coral POSTs actions to `url`, the implementation POSTs events to `listen`
//! transport = "http"
//! url = "http://127.0.0.1:5700"
//! listen = "127.0.0.1:5701"
//! secret = "hmac-secret"          # verifies X-Signature on event POSTs
//! access_token = "secret"         # sent to `url`; also required on every event POST
//! dedup_secs = 60                 # any entry: drop a message delivered again within 60 s (0: off)
//! ```
//!
//! A listener on anything but loopback must have a credential (`access_token`; for `http` also `secret`), unless
//! the entry says `insecure = true`.

use serde::Deserialize;

/// Default per-call timeout, ms.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// Default window for dropping duplicate message deliveries, seconds.
pub const DEFAULT_DEDUP_SECS: u64 = 60;
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

/// One `[[onebot]]` entry. Two entries are the same entry when every field is equal (a reload keeps it running).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
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
    /// Drop a message event delivered again (same bot, `post_type` and `message_id`, and the same sender, chat and
    /// content) within this many seconds of its first delivery, e.g. by both a WebSocket and an HTTP POST, or
    /// replayed after a reconnect (default 60; 0: this entry's deliveries are never dropped). The last
    /// 4096 messages of each bot are remembered, whichever entry delivered them.
    pub dedup_secs: Option<u64>,
    /// Allow a listener reachable from other machines (not loopback) without `access_token` or `secret`.
    /// Default false: such an entry is refused at start-up.
    #[serde(default)]
    pub insecure: bool,
}

/// Whether a `listen` address only accepts connections from this machine: `127.0.0.0/8`, `::1` (also written
/// as `::ffff:127.x.x.x`) or `localhost`. Anything else, including host names and what does not parse, is not.
pub fn is_loopback(listen: &str) -> bool {
    let host = match listen.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => return false,
    };
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
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
        self.check_listener_is_protected(index)?;
        need(self.timeout_ms != Some(0), "`timeout_ms` must be at least 1")?;
        need(self.send_queue != Some(0), "`send_queue` must be at least 1")?;
        match &self.max_send_rate {
            Some(rate) => coral_model::rate::Rate::parse(rate)
                .map(|_| ())
                .map_err(|e| format!("onebot[{index}].max_send_rate: {e}")),
            None => Ok(()),
        }
    }

    /// Where this entry listens, if it does (`ws-reverse`, and `http` with `listen`).
    pub fn listener(&self) -> Option<&str> {
        match self.transport {
            Transport::Ws => None,
            Transport::WsReverse | Transport::Http => self.listen.as_deref(),
        }
    }

    /// Whether a credential guards the listener: `access_token`, or for `http` also `secret`.
    pub fn listener_has_credential(&self) -> bool {
        self.access_token.is_some() || (self.transport == Transport::Http && self.secret.is_some())
    }

    /// A listener reachable from other machines needs a credential, or `insecure = true`.
    fn check_listener_is_protected(&self, index: usize) -> Result<(), String> {
        let Some(listen) = self.listener() else {
            return Ok(());
        };
        if self.insecure || self.listener_has_credential() || is_loopback(listen) {
            return Ok(());
        }
        let (missing, fix) = match self.transport {
            Transport::Http => (
                "neither `access_token` nor `secret`",
                "set `access_token` and/or `secret`",
            ),
            _ => ("no `access_token`", "set `access_token`"),
        };
        Err(format!(
            "onebot[{index}]: listen = \"{listen}\" accepts connections from other machines, but the entry has \
             {missing}, so anyone who can reach it could act as the bot; {fix}, or listen on 127.0.0.1, or set \
             `insecure = true` on this entry to allow it anyway"
        ))
    }

    /// The per-call timeout.
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS))
    }

    /// The window for dropping duplicate message deliveries (zero: off).
    pub fn dedup_window(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.dedup_secs.unwrap_or(DEFAULT_DEDUP_SECS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(toml_text: &str) -> OneBotConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn loopback_addresses() {
        for addr in [
            "127.0.0.1:8080",
            "127.3.2.1:1",
            "[::1]:8080",
            "localhost:80",
            "LOCALHOST:0",
            "[::ffff:127.0.0.1]:9",
        ] {
            assert!(is_loopback(addr), "{addr}");
        }
        for addr in [
            "0.0.0.0:8080",
            "[::]:8080",
            "192.168.1.2:80",
            "example.com:80",
            "127.0.0.1",
            "localhost:",
            "",
        ] {
            assert!(!is_loopback(addr), "{addr}");
        }
    }

    #[test]
    fn an_open_listener_without_a_credential_needs_insecure() {
        let err = entry("transport = \"ws-reverse\"\nlisten = \"0.0.0.0:8080\"\n")
            .validate(2)
            .unwrap_err();
        assert!(
            err.contains("onebot[2]") && err.contains("0.0.0.0:8080") && err.contains("insecure = true"),
            "{err}"
        );
        let err = entry("transport = \"http\"\nlisten = \"[::]:5701\"\n")
            .validate(0)
            .unwrap_err();
        assert!(err.contains("`secret`") && err.contains("insecure"), "{err}");
        // `secret` only protects HTTP POSTs; a reverse WebSocket needs the token.
        let err = entry("transport = \"ws-reverse\"\nlisten = \"0.0.0.0:1\"\nsecret = \"s\"\n").validate(0);
        assert!(err.is_err());
        for ok in [
            "transport = \"ws-reverse\"\nlisten = \"0.0.0.0:8080\"\ninsecure = true\n",
            "transport = \"ws-reverse\"\nlisten = \"0.0.0.0:8080\"\naccess_token = \"t\"\n",
            "transport = \"ws-reverse\"\nlisten = \"127.0.0.1:8080\"\n",
            "transport = \"http\"\nlisten = \"0.0.0.0:5701\"\nsecret = \"s\"\n",
            "transport = \"http\"\nlisten = \"0.0.0.0:5701\"\naccess_token = \"t\"\n",
            "transport = \"http\"\nurl = \"http://10.0.0.2:5700\"\n",
            "transport = \"ws\"\nurl = \"ws://10.0.0.2:3001\"\n",
        ] {
            assert_eq!(entry(ok).validate(0), Ok(()), "{ok}");
        }
    }
}
