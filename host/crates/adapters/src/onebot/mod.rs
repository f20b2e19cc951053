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

pub use entries::{Adapters, Applied, Change, StartError, Stop};
