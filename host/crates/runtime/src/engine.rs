//! The one wasmtime [`Engine`] configuration (component model, epoch interruption, stack size), shared by the host
//! and its compile worker so the worker's code loads in the host, and the epoch ticker thread.

use anyhow::Context as _;
use std::time::Duration;
use wasmtime::{Config, Engine};

/// How often the epoch advances. Each tick a running plugin yields to the async executor (so one plugin cannot
/// starve the others) and its CPU budget is checked; a budget is therefore measured in whole ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Wasm stack size per instance.
const MAX_WASM_STACK: usize = 512 * 1024;

/// Build the engine. Compiled code is cached by [`super::compile`], not by wasmtime.
pub fn build_engine() -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.max_wasm_stack(MAX_WASM_STACK);
    Engine::new(&config)
        .map_err(anyhow::Error::from)
        .context("creating the wasmtime engine")
}

/// Advance the engine's epoch every [`EPOCH_TICK`] until the engine is dropped. A plain thread: it must keep
/// ticking even when every tokio worker is busy running guest code.
pub fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("coral-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch thread");
}
