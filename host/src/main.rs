//! The `coral` command line: parse arguments, load the config, start logging, and hand over to the library
//! (`coral_host::run`, or the operator commands in `coral_host::cli`).

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
    /// Validate the config and every plugin in the plugin folder (non-zero exit on any problem).
    Check(ConfigArgs),
    /// Show the audit log: privileged actions, denials and rate limits.
    Audit(AuditArgs),
    /// Show the running host's figures: per plugin events, handler time, calls, denials, faults; per bot state.
    Status(StatusArgs),
    /// Plugin tools.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Scheduled jobs of a running host.
    #[command(subcommand)]
    Job(JobCommand),
    /// Compile one component from stdin to native code on stdout, under these limits (run by the host itself).
    #[command(hide = true, name = "compile-worker")]
    CompileWorker {
        /// Memory limit, MiB.
        #[arg(long)]
        memory_mb: u64,
        /// CPU time limit, s.
        #[arg(long)]
        cpu_secs: u64,
    },
    /// Create a plugin project (code, WIT, build script, a test) that builds and loads as generated.
    New {
        /// The plugin's name (lowercase letters, digits, `-`).
        name: String,
        /// The language.
        #[arg(long, value_enum, default_value = "rust")]
        lang: coral_host::scaffold::Lang,
        /// Where to create the project folder (default: here).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The `coral-sdk` to depend on, a path (Rust; default: a copy of the one this coral was built with, in
        /// the project's `coral-sdk/`).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum JobCommand {
    /// Make a plugin's scheduled job due now (to test a schedule without waiting); it fires like any due job.
    Run {
        /// The plugin that added the job.
        plugin: String,
        /// The job's name (as the plugin's `list-jobs` shows it).
        name: String,
        #[command(flatten)]
        config: ConfigArgs,
        /// The admin socket (default: `[host] admin_socket`, else `<data_dir>/coral.sock`).
        #[arg(long)]
        socket: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Show a plugin's name, version, WIT version, events, requested/granted/effective capabilities and limits.
    Inspect {
        /// The `.wasm` file.
        file: PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Lift a running plugin's quarantine at once (its next event gets a fresh instance).
    Enable {
        /// The plugin's name.
        name: String,
        #[command(flatten)]
        config: ConfigArgs,
        /// The admin socket (default: `[host] admin_socket`, else `<data_dir>/coral.sock`).
        #[arg(long)]
        socket: Option<PathBuf>,
    },
}

#[derive(clap::Args, Default)]
struct ConfigArgs {
    /// The config file (coral.toml); without it, the embedded default.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Override `[host] plugin_dir`.
    #[arg(long)]
    plugin_dir: Option<PathBuf>,
    /// Override `[host] data_dir`.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Override `[host] cache_dir` (compiled plugins).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
}

#[derive(clap::Args, Default)]
struct RunArgs {
    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(clap::Args)]
struct AuditArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Only this plugin.
    #[arg(long)]
    plugin: Option<String>,
    /// Only this action, capability or outcome (e.g. `set_group_ban`, `ban`, `denied`).
    #[arg(long)]
    action: Option<String>,
    /// At most this many (the newest).
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

#[derive(clap::Args)]
struct StatusArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// The admin socket (default: `[host] admin_socket`, else `<data_dir>/coral.sock`).
    #[arg(long)]
    socket: Option<PathBuf>,
}

impl ConfigArgs {
    fn load(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::embedded_default(),
        };
        if let Some(dir) = &self.plugin_dir {
            config.host.plugin_dir = dir.clone();
        }
        if let Some(dir) = &self.data_dir {
            config.host.data_dir = dir.clone();
        }
        if let Some(dir) = &self.cache_dir {
            config.host.cache_dir = Some(dir.clone());
        }
        Ok(config)
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::CompileWorker { memory_mb, cpu_secs }) = cli.command {
        // No runtime, no logging: compile, answer, exit.
        std::process::exit(coral_runtime::compile::worker_main(memory_mb, cpu_secs));
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("CORAL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,wasmtime=warn,cranelift=warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();

    let command = cli.command.unwrap_or(Command::Run(RunArgs::default()));
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let ok = match command {
        Command::Run(args) => {
            let config = args.config.load()?;
            let result = runtime.block_on(coral_host::run(config, args.config.config.clone()));
            // Do not wait for the blocking stdin reader thread: it may be parked in a read that never returns.
            runtime.shutdown_background();
            return result;
        }
        Command::Audit(args) => {
            let config = args.config.load()?;
            coral_host::cli::audit(
                &config.host.data_dir.join("audit.jsonl"),
                args.plugin.as_deref(),
                args.action.as_deref(),
                args.limit,
            )
        }
        Command::Status(args) => {
            let config = args.config.load()?;
            let path = args.socket.unwrap_or_else(|| coral_host::admin_socket_path(&config));
            match coral_ops::admin::query(&path) {
                Ok(snapshot) if args.json => {
                    println!("{}", serde_json::to_string_pretty(&snapshot)?);
                    true
                }
                Ok(snapshot) => {
                    print!("{}", coral_ops::table::render(&snapshot));
                    true
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    false
                }
            }
        }
        Command::Check(args) => match args.load() {
            Ok(config) => runtime
                .block_on(async { anyhow::Ok(coral_host::cli::check(&tool_runtime(&config)?, &config).await) })?,
            Err(e) => {
                println!("error: {e:#}");
                false
            }
        },
        Command::CompileWorker { .. } => unreachable!("handled before the runtime starts"),
        Command::New { name, lang, dir, sdk } => {
            match coral_host::scaffold::create(&name, lang, &dir, sdk.as_deref()) {
                Ok(files) => {
                    for file in &files {
                        println!("created {}", file.display());
                    }
                    println!(
                        "next: {}/build.sh && cp {name}.wasm <plugin folder>",
                        dir.join(&name).display()
                    );
                    true
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    false
                }
            }
        }
        Command::Plugin(PluginCommand::Enable { name, config, socket }) => {
            let config = config.load()?;
            let path = socket.unwrap_or_else(|| coral_host::admin_socket_path(&config));
            match coral_ops::admin::enable(&path, &name) {
                Ok(true) => {
                    println!("{name}: quarantine lifted; its next event gets a fresh instance");
                    true
                }
                Ok(false) => {
                    println!("{name}: not quarantined (or not running); nothing to do");
                    true
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    false
                }
            }
        }
        Command::Job(JobCommand::Run {
            plugin,
            name,
            config,
            socket,
        }) => {
            let config = config.load()?;
            let path = socket.unwrap_or_else(|| coral_host::admin_socket_path(&config));
            let shown = (coral_ops::text::escape(&plugin), coral_ops::text::escape(&name));
            match coral_ops::admin::run_job(&path, &plugin, &name) {
                Ok(true) => {
                    println!("{}: job `{}` is due now", shown.0, shown.1);
                    true
                }
                Ok(false) => {
                    println!(
                        "{}: no job `{}` (the plugin's list-jobs shows its jobs)",
                        shown.0, shown.1
                    );
                    false
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    false
                }
            }
        }
        Command::Plugin(PluginCommand::Inspect { file, config }) => {
            let config = config.load()?;
            runtime.block_on(async {
                anyhow::Ok(coral_host::cli::inspect(&tool_runtime(&config)?, &file, &config).await)
            })?
        }
    };
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}

/// A runtime for the inspection commands: no bots, no audit, no compilation cache; compiles in the worker.
fn tool_runtime(config: &Config) -> anyhow::Result<coral_runtime::Runtime> {
    use coral_runtime::{Runtime, compile};
    Ok(Runtime::new(None, Default::default(), None)?.with_compiler(compile::worker()?, config.host.compile_limits()))
}
