//! The `coral` command line: parse arguments, load the config, start logging, and hand over to `coral_host::run`.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use coral_host::config::Config;
use std::path::PathBuf;

/// Coral: a chat-bot host that runs untrusted plugins as sandboxed WebAssembly components.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the host (the default). Without --config: the console platform, plugins from ./plugins, data in ./data.
    Run(RunArgs),
}

#[derive(clap::Args, Default)]
struct RunArgs {
    /// The config file (coral.toml).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Override `[host] plugin_dir`.
    #[arg(long)]
    plugin_dir: Option<PathBuf>,
    /// Override `[host] data_dir`.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("CORAL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,wasmtime=warn,cranelift=warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();

    let Command::Run(args) = cli.command.unwrap_or(Command::Run(RunArgs::default()));
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::embedded_default(),
    };
    if let Some(dir) = args.plugin_dir {
        config.host.plugin_dir = dir;
    }
    if let Some(dir) = args.data_dir {
        config.host.data_dir = dir;
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let result = runtime.block_on(coral_host::run(config));
    // Do not wait for the blocking stdin reader thread: it may be parked in a read that never returns.
    runtime.shutdown_background();
    result
}
