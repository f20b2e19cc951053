//! `coral:bot/log`: plugin log lines into the host log, tagged `plugin=<name>`, within the plugin's log budget
//! (shared with its stdout and stderr).

use crate::state::PluginState;
use coral_model::bindings::coral::bot::log::{Host, Level};

impl Host for PluginState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            Level::Trace => tracing::Level::TRACE,
            Level::Debug => tracing::Level::DEBUG,
            Level::Info => tracing::Level::INFO,
            Level::Warn => tracing::Level::WARN,
            Level::Error => tracing::Level::ERROR,
        };
        self.count_host_call()?;
        self.shared.log(level, &message);
        Ok(())
    }
}
