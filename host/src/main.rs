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
    /// The running host's config.
    #[command(subcommand)]
    Config(ConfigCommand),
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
    /// List every plugin: state, version, hash, capabilities requested and granted, faults, groups it is off in.
    List {
        #[command(flatten)]
        admin: AdminArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show a plugin's name, version, WIT version, events, commands, requested/granted/effective capabilities and
    /// limits (offline: compiles the file, runs nothing).
    Inspect {
        /// The plugin's name (its file in the plugin folder) or a `.wasm` file.
        plugin: PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Let a plugin run: clear `disable`, lift a quarantine, load it if it is not running.
    Enable {
        /// The plugin's name.
        name: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Unload a plugin and keep it unloaded, across restarts, until `enable`.
    Disable {
        /// The plugin's name.
        name: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Load a plugin's file again now (a fresh instance, even if the file is unchanged).
    Reload {
        /// The plugin's name.
        name: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Lift a running plugin's quarantine at once (its next event gets a fresh instance).
    Unquarantine {
        /// The plugin's name.
        name: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Switch a plugin off in one group: it sees nothing from there (kept across restarts).
    Off {
        /// The plugin's name.
        name: String,
        /// The group.
        #[arg(long)]
        group: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Switch a plugin on again in one group (within its `enabled_in`).
    On {
        /// The plugin's name.
        name: String,
        /// The group.
        #[arg(long)]
        group: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Re-read the running host's config file and apply it (as saving the file does).
    Reload {
        #[command(flatten)]
        admin: AdminArgs,
    },
}

/// How to reach a running host.
#[derive(clap::Args)]
struct AdminArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The admin socket (default: `[host] admin_socket`, else `<data_dir>/coral.sock`).
    #[arg(long)]
    socket: Option<PathBuf>,
}

impl AdminArgs {
    fn path(&self) -> anyhow::Result<PathBuf> {
        match &self.socket {
            Some(path) => Ok(path.clone()),
            None => Ok(coral_host::admin_socket_path(&self.config.load()?)),
        }
    }

    /// Send `request`; print the answer with `show`, or the refusal. Whether it was carried out.
    fn manage(
        &self,
        request: coral_ops::Manage,
        show: impl FnOnce(&serde_json::Value) -> String,
    ) -> anyhow::Result<bool> {
        Ok(match coral_ops::admin::manage(&self.path()?, &request) {
            Ok(answer) => {
                println!("{}", coral_ops::text::escape(&show(&answer)));
                true
            }
            Err(e) => {
                eprintln!("error: {}", coral_ops::text::escape(&e.to_string()));
                false
            }
        })
    }
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
    {
        use tracing_subscriber::layer::SubscriberExt as _;
        use tracing_subscriber::util::SubscriberInitExt as _;
        tracing_subscriber::registry()
            .with(filter)
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(ansi)
                    .with_writer(std::io::stderr),
            )
            // The web console's live log tail.
            .with(coral_host::web::logs::Layer)
            .init();
    }

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
            let data_dir = coral_host::folders::open(&config.host.data_dir, false)?;
            coral_host::cli::audit(
                &data_dir,
                &config.host.data_dir,
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
            let folder = coral_host::folders::open(&dir, true)?;
            match coral_host::scaffold::create(&name, lang, &folder, &dir, sdk.as_deref()) {
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
        Command::Plugin(PluginCommand::List { admin, json }) => {
            match coral_ops::admin::manage(&admin.path()?, &coral_ops::Manage::List) {
                Ok(answer) if json => {
                    println!("{}", serde_json::to_string_pretty(&answer)?);
                    true
                }
                Ok(answer) => {
                    let rows: Vec<coral_ops::PluginRow> =
                        serde_json::from_value(answer).context("the host's plugin list")?;
                    print!("{}", coral_ops::table::render_plugins(&rows));
                    true
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    false
                }
            }
        }
        Command::Plugin(PluginCommand::Enable { name, admin }) => {
            admin.manage(coral_ops::Manage::Enable { plugin: name.clone() }, |a| {
                let lifted = if a["quarantine_lifted"] == true {
                    "; quarantine lifted: its next event gets a fresh instance"
                } else {
                    ""
                };
                format!("{name}: {}{lifted}", a["done"].as_str().unwrap_or("?"))
            })?
        }
        Command::Plugin(PluginCommand::Disable { name, admin }) => admin
            .manage(coral_ops::Manage::Disable { plugin: name.clone() }, |a| {
                format!("{name}: {}", a["done"].as_str().unwrap_or("?"))
            })?,
        Command::Plugin(PluginCommand::Reload { name, admin }) => admin
            .manage(coral_ops::Manage::Reload { plugin: name.clone() }, |a| {
                format!("{name}: {}", a["done"].as_str().unwrap_or("?"))
            })?,
        Command::Plugin(PluginCommand::Unquarantine { name, admin }) => {
            admin.manage(coral_ops::Manage::Unquarantine { plugin: name.clone() }, |a| {
                if a["lifted"] == true {
                    format!("{name}: quarantine lifted; its next event gets a fresh instance")
                } else {
                    format!("{name}: not quarantined; nothing to do")
                }
            })?
        }
        Command::Plugin(PluginCommand::Off { name, group, admin }) => switch(&admin, name, group, false)?,
        Command::Plugin(PluginCommand::On { name, group, admin }) => switch(&admin, name, group, true)?,
        Command::Config(ConfigCommand::Reload { admin }) => admin.manage(coral_ops::Manage::ConfigReload, |a| {
            a.as_str().unwrap_or("?").to_string()
        })?,
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
        Command::Plugin(PluginCommand::Inspect { plugin, config }) => {
            let config = config.load()?;
            let max = config.host.max_plugin_mb << 20;
            // A bare name is the plugin folder's file of that name, read through the folder (never a link); any
            // other argument is a file the operator names.
            let (file, name, bytes) = match plugin.to_str() {
                Some(name) if !plugin.exists() && !name.contains('/') && !name.ends_with(".wasm") => {
                    let bytes = coral_host::folders::plugins(&config, false)
                        .map_err(|e| format!("{e:#}"))
                        .and_then(|dir| dir.read(name, max).map_err(|e| e.to_string()));
                    (
                        config.host.plugin_dir.join(format!("{name}.wasm")),
                        name.to_string(),
                        bytes,
                    )
                }
                _ => {
                    let name = (plugin.file_stem().and_then(|s| s.to_str()).unwrap_or("plugin")).to_string();
                    let bytes = coral_host::folders::read_operator_file(&plugin, max);
                    (plugin, name, bytes)
                }
            };
            runtime.block_on(async {
                anyhow::Ok(coral_host::cli::inspect(&tool_runtime(&config)?, &file, &name, bytes, &config).await)
            })?
        }
    };
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}

/// `coral plugin on|off NAME --group G`.
fn switch(admin: &AdminArgs, plugin: String, group: String, on: bool) -> anyhow::Result<bool> {
    let word = if on { "on" } else { "off" };
    admin.manage(
        coral_ops::Manage::Switch {
            plugin: plugin.clone(),
            group: group.clone(),
            on,
        },
        |a| {
            if a["changed"] == true {
                format!("{plugin}: switched {word} in group {group}")
            } else {
                format!("{plugin}: already {word} in group {group}")
            }
        },
    )
}

/// A runtime for the inspection commands: no bots, no audit; compiles in the worker. It shares the host's
/// compilation cache when the host has made one (a plugin the host already compiled is inspected at once, instead
/// of seconds of compiling a Python component again), and never creates one.
fn tool_runtime(config: &Config) -> anyhow::Result<coral_runtime::Runtime> {
    use coral_runtime::{Runtime, compile};
    let cache = coral_host::folders::cache(config, false)?;
    Ok(Runtime::new(cache, Default::default(), None)?.with_compiler(compile::worker()?, config.host.compile_limits()))
}
