//! `coral-model`: what every part of Coral shares and nothing else — the Rust types of the WIT contract
//! ([`bindings`], the only `bindgen!`), the actions plugins ask for ([`Action`]), the bots that perform them
//! ([`Bots`], [`BotConnection`], [`ApiError`]), the port adapters deliver events through ([`EventSink`]), the
//! OneBot wire codecs ([`wire`]), text sanitising ([`text`]), token buckets ([`rate`]) and log flood control
//! ([`log_limit`]). It depends on no other Coral crate and does no I/O.

pub mod action;
pub mod bindings;
pub mod bots;
pub mod error;
pub mod log_limit;
pub mod rate;
pub mod sink;
pub mod text;
pub mod wire;

pub use action::{Action, ActionKind, send_segments};
pub use bots::{AdapterCounters, ApiError, ApiFuture, BotConnection, BotEntry, Bots, Done, LinkCounters, run_to_done};
pub use error::HostError;
pub use sink::{EventSink, Finished};

#[cfg(test)]
#[path = "../../../../tests/support/fixtures.rs"]
pub(crate) mod test_fixtures;
