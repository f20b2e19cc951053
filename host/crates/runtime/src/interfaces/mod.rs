//! The API surface: host implementations of the WIT imports, one file per interface.
//!
//! - [`bot`] (`coral:bot/bot`): every platform action (turned into an [`coral_model::Action`]);
//! - [`http`] (`coral:bot/http` and `wasi:http`): outgoing HTTP through one checked sender;
//! - [`log`] (`coral:bot/log`);
//! - [`storage`] (`coral:bot/storage`) and [`schedule`] (`coral:bot/schedule`), sharing [`services`];
//! - [`command`] (`coral:bot/command`): prompts and the superuser question;
//! - [`crate::timers`] turns due jobs into `timer` events;
//! - `coral:bot/types` has no functions;
//! - [`v0_1`]: the same imports for plugins built against `coral:bot@0.1.0`.
//!
//! A refused or failed action is returned to the plugin as a WIT `error` value; only host bugs trap.

pub mod bot;
pub mod command;
pub mod http;
pub mod log;
pub mod schedule;
pub mod services;
pub mod storage;
pub mod v0_1;

use crate::state::PluginState;
use coral_model::bindings::coral::bot::types;

impl types::Host for PluginState {
    fn convert_error(&mut self, error: coral_model::HostError) -> wasmtime::Result<types::Error> {
        error.into_wit()
    }
}
