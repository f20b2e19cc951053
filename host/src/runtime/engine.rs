//! The one wasmtime [`Engine`]: component model, epoch interruption, on-disk compilation cache, and the epoch
//! ticker thread.

use anyhow::Context as _;
use std::path::Path;
use std::time::Duration;
use wasmtime::{Cache, CacheConfig, Config, Engine};

/// How often the epoch advances. Each tick a running plugin yields to the async executor (so one plugin cannot
/// starve the others) and its CPU budget is checked; a budget is therefore measured in whole ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Wasm stack size per instance.
const MAX_WASM_STACK: usize = 512 * 1024;

/// Build the engine; compiled components are cached under `cache_dir` (keyed by content and engine settings).
pub fn build_engine(cache_dir: Option<&Path>) -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.max_wasm_stack(MAX_WASM_STACK);
    if let Some(dir) = cache_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating cache dir {}", dir.display()))?;
        let dir = std::path::absolute(dir).with_context(|| format!("resolving {}", dir.display()))?;
        let mut cache_config = CacheConfig::new();
        cache_config.with_directory(dir);
        let cache = Cache::new(cache_config)
            .map_err(anyhow::Error::from)
            .context("setting up the compilation cache")?;
        config.cache(Some(cache));
    }
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
