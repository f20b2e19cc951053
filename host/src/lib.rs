//! `coral-host`: the `coral` binary's library — it wires the crates together (docs/architecture.md).
//!
//! - [`config`]: `coral.toml` (strict: unknown keys are errors); the one place a plugin's start spec is built.
//! - [`folders`]: the plugin, data and cache folders, opened once as handles; nothing else reaches a file by path.
//! - [`run`]: the host — admin socket, audit log, runtime, plugins, timers, OneBot adapters, console, web
//!   console — until the console's input ends (with neither OneBot nor the web console) or Ctrl-C.
//! - [`reload`]: hot reload of plugins and config, and the operator's requests (`coral plugin …`, `coral config
//!   reload`, which also applies `[[onebot]]` entries); [`cli`]: `coral check`, `plugin inspect|list|…`,
//!   `status`, …; [`scaffold`]: `coral new`; [`endpoints`]: Coral's own endpoints no plugin may reach;
//!   [`web`]: the local web console (axum, server-rendered pages).
//!
//! The parts live in their own crates: `coral-model` (shared types, wire codecs), `coral-policy` (permissions),
//! `coral-adapters` (platforms), `coral-runtime` (plugins), `coral-services` (storage, jobs), `coral-ops`
//! (counters, status, metrics, audit). `main.rs` is only the command line.

pub mod cli;
pub mod config;
pub mod endpoints;
pub mod folders;
pub mod reload;
pub mod scaffold;
#[cfg(test)]
#[path = "../../tests/support/fixtures.rs"]
pub(crate) mod test_fixtures;
pub mod web;

use anyhow::Context as _;
use config::Config;
use coral_model::Bots;
use coral_runtime::Runtime;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

/// What the admin socket and the metrics endpoint read and act on: the runtime's figures, and the reloader for
/// the operator's requests.
struct HostControl {
    status: coral_runtime::status::Status,
    reloader: Arc<reload::Reloader>,
}

impl coral_ops::Control for HostControl {
    fn snapshot(&self) -> coral_ops::Snapshot {
        self.status.snapshot()
    }

    fn lift_quarantine(&self, name: &str) -> bool {
        self.status.lift_quarantine(name)
    }

    fn run_job<'a>(&'a self, plugin: &'a str, job: &'a str) -> coral_ops::JobRun<'a> {
        self.status.run_job(plugin, job)
    }

    fn manage(&self, request: coral_ops::Manage) -> coral_ops::ManageRun<'_> {
        Box::pin(self.reloader.manage(request))
    }
}

/// Where the `coral status` socket is: `[host] admin_socket`, else `<data_dir>/coral.sock`.
pub fn admin_socket_path(config: &Config) -> PathBuf {
    config
        .host
        .admin_socket
        .clone()
        .unwrap_or_else(|| config.host.data_dir.join("coral.sock"))
}

/// Capability names, comma-separated.
pub fn names(caps: &BTreeSet<coral_policy::Capability>) -> String {
    caps.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

/// Run the host until the console's input ends (when the console is on) or Ctrl-C. `config_path` is watched for
/// changes when given.
pub async fn run(config: Config, config_path: Option<PathBuf>) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let bots = Bots::default();
    // Each folder is opened once; everything after works relative to these handles.
    let data_dir = folders::data(&config)?;
    // First, so a second host on the same data folder stops here; the socket file goes when this returns.
    let mut admin = folders::admin_socket(&config, &data_dir)?;
    let audit = coral_ops::audit::AuditLog::open_in(data_dir.clone(), folders::AUDIT_LOG, config.host.audit_rotation())
        .inspect_err(|e| tracing::error!("refusing to start: {e}"))
        .with_context(|| format!("opening the audit log in {}", config.host.data_dir.display()))?;
    let audit = Arc::new(audit);
    // Coalesced refusals are written once their second is over, even when the plugin goes quiet.
    audit.start_flusher().context("starting the audit log's flush thread")?;
    let plugins = folders::plugins(&config, true)?;
    let cache_dir = folders::cache(&config, true)?;
    let services = coral_services::Services::open(&data_dir)?;
    let runtime = Runtime::new(cache_dir, bots.clone(), Some(audit.clone()))?
        .with_services(services.clone())
        .with_compiler(coral_runtime::compile::worker()?, config.host.compile_limits());
    // Before any plugin runs: the listeners and OneBot endpoints no plugin request may reach.
    let own = runtime.own_endpoints().clone();
    own.add(crate::endpoints::coral_endpoints(&config).iter().cloned());
    runtime.hub().set_settings(config.host.command_settings());
    runtime.hub().visibility.set_rules(config.visibility());
    runtime
        .hub()
        .visibility
        .open_switches(data_dir.clone(), folders::SWITCHES)
        .map_err(|e| anyhow::anyhow!("reading the per-group switches: {e}"))?;
    let dispatcher = runtime.dispatcher();
    let prompt_timeouts = tokio::spawn(dispatcher.clone().run_prompt_timeouts());
    let onebot_counters = Arc::new(coral_model::AdapterCounters::default());
    // Hot reload and the operator's requests.
    let reloader = reload::Reloader::with_audit(
        runtime.clone(),
        dispatcher.clone(),
        config.clone(),
        config_path,
        plugins.clone(),
        Some(audit.clone()),
    );
    let status = coral_runtime::status::Status {
        dispatcher: dispatcher.clone(),
        bots: bots.clone(),
        bot_calls: runtime.bot_calls().clone(),
        // Always listed: a config reload may add `[[onebot]]` entries to a host started without any.
        adapters: vec![(
            coral_adapters::onebot::protocol::PLATFORM.to_string(),
            onebot_counters.clone(),
        )],
        services: Some(services.clone()),
        started,
    };
    let sources: coral_ops::Sources = Arc::new(HostControl {
        status,
        reloader: reloader.clone(),
    });
    admin.serve(sources.clone())?;
    tracing::info!("admin socket (coral status): {}", admin.path().display());
    if config.metrics.enabled {
        let listener = tokio::net::TcpListener::bind(&config.metrics.listen)
            .await
            .with_context(|| format!("metrics: cannot listen on {}", config.metrics.listen))?;
        let addr = listener.local_addr()?;
        own.add([coral_policy::http::rules::CoralEndpoint::bound(
            addr,
            "the metrics listener [metrics].listen",
        )]);
        // Tests and operators read this line to find the port.
        tracing::info!("metrics listening on http://{addr}/metrics");
        coral_ops::metrics::serve(listener, sources.clone());
    }
    // Hot reload: keep the watcher alive for the life of the host.
    let _watcher = if config.host.watch {
        let debounce = std::time::Duration::from_millis(config.host.reload_debounce_ms);
        match reload::watch(reloader.clone(), debounce) {
            Ok(watcher) => Some(watcher),
            Err(e) => {
                tracing::warn!(
                    "cannot watch {} for changes ({e}); hot reload is off",
                    config.host.plugin_dir.display()
                );
                None
            }
        }
    } else {
        None
    };
    // Watching starts before the first load, so no change between the two is missed (a file that is already
    // loaded is recognised by its hash and not loaded twice).
    let loaded = reloader.load_all().await;
    // Timers start once the plugins are in, so jobs missed while the host was down reach them at once.
    // A missed job fires at once: the console's bot is registered first so the plugin can answer there.
    // The console platform runs for stdin, the web console's chat page, or both; what its bot prints goes to
    // stdout and to the chat page's transcript.
    let transcript = Arc::new(web::Transcript::default());
    let console = (config.console.enabled || config.web.enabled).then(|| {
        let stdout: Option<Box<dyn std::io::Write + Send>> = config
            .console
            .enabled
            .then(|| Box::new(std::io::stdout()) as Box<dyn std::io::Write + Send>);
        let out: coral_adapters::console::Output = if config.web.enabled {
            Arc::new(parking_lot::Mutex::new(web::TranscriptWriter::new(
                transcript.clone(),
                stdout,
            )))
        } else {
            Arc::new(parking_lot::Mutex::new(std::io::stdout()))
        };
        let hub = runtime.hub().clone();
        coral_adapters::console::Console::register(out, &bots)
            .with_superuser_hook(Arc::new(move |user: &str, on: bool| hub.set_superuser(user, on)))
    });
    let timers = tokio::spawn(coral_runtime::timers::run(
        &services,
        &dispatcher,
        runtime.timer_rates().clone(),
    ));

    let sink: Arc<dyn coral_model::EventSink> = Arc::new(dispatcher.clone());
    // The `[[onebot]]` entries: all must start; a config reload then adds, changes or removes them live.
    let adapters = Arc::new(coral_adapters::onebot::Adapters::new(
        sink.clone(),
        bots.clone(),
        onebot_counters,
    ));
    let applied = adapters.apply(&config.onebot).await;
    if let Some(error) = applied.errors().next() {
        let error = anyhow::anyhow!("{error}");
        adapters.stop_all().await;
        return Err(error);
    }
    own.add(reload::onebot_endpoints(&applied));
    reloader.set_adapters(adapters.clone());

    if config.web.enabled {
        let listener = tokio::net::TcpListener::bind(&config.web.listen)
            .await
            .with_context(|| format!("web console: cannot listen on {}", config.web.listen))?;
        let addr = listener.local_addr()?;
        own.add([coral_policy::http::rules::CoralEndpoint::bound(
            addr,
            "the web console [web].listen",
        )]);
        let (token, made_up) = match &config.web.token {
            Some(token) => (token.clone(), false),
            None => (web::random_token(), true),
        };
        let parts = web::Parts {
            reloader: reloader.clone(),
            sources: sources.clone(),
            data_dir: data_dir.clone(),
            chat: console.as_ref().map(|c| web::Chat {
                typist: c.typist(),
                sink: sink.clone(),
                transcript: transcript.clone(),
            }),
            token: token.clone(),
        };
        web::serve(listener, parts).context("starting the web console")?;
        // Tests and operators read this line to find the port (and, with a made-up token, the way in).
        if made_up {
            tracing::info!("web console on http://{addr}/?token={token}");
        } else {
            tracing::info!("web console on http://{addr}/ (log in with [web] token)");
        }
    }
    // Last: every plugin loaded, every connection and listener started.
    let list: Vec<String> = loaded.iter().map(|(n, v)| format!("{n} {v}")).collect();
    tracing::info!("coral ready: {} plugin(s) [{}]", loaded.len(), list.join(", "));
    let console = console.filter(|_| config.console.enabled);
    if let Some(console) = console {
        if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            eprintln!(
                "Coral console: type a message (try `ping hello`); `:help` for console commands, Ctrl-D to quit."
            );
        }
        let input = tokio::io::BufReader::new(tokio::io::stdin());
        tokio::select! {
            result = console.run(&config.console, input, sink.clone()) => {
                result.context("reading the console")?;
                if !config.onebot.is_empty() || config.web.enabled {
                    tracing::info!("console input ended; still serving OneBot and the web console until Ctrl-C");
                    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
                }
            }
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupted"),
        }
    } else {
        tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
        tracing::info!("interrupted");
    }
    // Let each plugin finish what is queued, then stop.
    timers.abort();
    prompt_timeouts.abort();
    dispatcher.shutdown().await;
    // Counts of refusals still open are written (the runtime may outlive this function in a task).
    audit.flush();
    Ok(())
}

#[cfg(test)]
mod tests {
    /// `coral-ops` escapes what it prints with its own copy of the model's rules (the crate graph lets the two
    /// leaves share no code): both must agree on every kind of character they treat.
    #[test]
    fn the_operator_view_escapes_text_exactly_as_the_model_does() {
        let samples = [
            "plain",
            "普通 text",
            "line\nbreak\r\ttab",
            "ansi \u{1b}[31mred\u{1b}[0m",
            "back\\slash",
            "bidi \u{202e}desrever\u{202c} \u{2066}iso\u{2069}",
            "nul \u{0} del \u{7f} c1 \u{85}",
            "",
        ];
        for sample in samples {
            assert_eq!(
                coral_model::text::escape(sample),
                coral_ops::text::escape(sample),
                "{sample:?}"
            );
            for max in [0, 1, 3, 5, 8] {
                let (mut a, mut b) = (sample.to_string(), sample.to_string());
                coral_model::text::cut(&mut a, max);
                coral_ops::text::cut(&mut b, max);
                assert_eq!(a, b, "{sample:?} cut at {max}");
            }
        }
    }

    /// The same for the calendar: `coral status` prints quarantine ends with `coral_ops`'s copy of the civil-date
    /// conversion the scheduler's cron uses.
    #[test]
    fn the_operator_view_and_the_scheduler_agree_on_every_date() {
        for days in (-800_000..800_000)
            .step_by(37)
            .chain([0, 59, 60, 365, 10_957, 11_016, 19_723])
        {
            assert_eq!(
                coral_ops::text::civil_from_days(days),
                coral_services::cron::civil_from_days(days),
                "day {days}"
            );
        }
        assert_eq!(coral_ops::text::civil_from_days(19_723), (2024, 1, 1));
    }
}
