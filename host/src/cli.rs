//! The operator's commands besides `run`: `coral plugin inspect`, `coral check`, `coral audit`. Each prints
//! plain text for a terminal and returns whether everything was in order.

use crate::config::{Config, PluginLimits};
use cap_std::fs as cap_fs;
use coral_ops::audit::Outcome;
use coral_ops::audit::{AuditLog, Record};
use coral_policy::{Capability, Policy};
use coral_runtime::{Compiled, Runtime};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

fn list<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
    if items.is_empty() {
        "(none)".into()
    } else {
        items.join(", ")
    }
}

fn limits_line(l: &PluginLimits) -> String {
    format!(
        "memory {} MiB, CPU {} ms/event, wall {} ms/event, queue {}, host calls {}/event, instances {}",
        l.memory_bytes >> 20,
        l.cpu_budget.as_millis(),
        l.call_timeout.as_millis(),
        l.queue_len,
        l.max_host_calls,
        l.instances
    )
}

fn scope_text(s: &coral_policy::Scope) -> String {
    match (&s.groups, &s.users) {
        (None, None) => "anywhere".into(),
        (g, u) => {
            let mut parts = Vec::new();
            if let Some(g) = g {
                parts.push(format!("groups {}", list(g)));
            }
            if let Some(u) = u {
                parts.push(format!("users {}", list(u)));
            }
            parts.join("; ")
        }
    }
}

/// What `describe` found: the text, the problems, and the plugin's command words (for clash checks).
pub struct Described {
    /// The report.
    pub text: String,
    /// What is wrong.
    pub problems: Vec<String>,
    /// Its command words (names and aliases), sorted.
    pub words: Vec<String>,
}

/// Everything about one plugin (its file's `bytes`; the file is shown as `path`) under one config, as text; `Err`
/// when it cannot be loaded.
pub async fn describe(
    runtime: &Runtime,
    bytes: Vec<u8>,
    path: &Path,
    name: &str,
    config: &Config,
) -> Result<Described, String> {
    let limits = config.limits(name);
    let compiled: Compiled = runtime.compile(bytes).await.map_err(|e| e.to_string())?;
    let (metadata, commands) = runtime.describe(&compiled, limits).await.map_err(|e| e.to_string())?;
    let spec = config.start_spec(name).map_err(|e| e.to_string())?;
    let policy = Policy::new(&metadata.capabilities, &spec.grants);
    let mut problems = Vec::new();
    for requested in &metadata.capabilities {
        if let Err(e) = Capability::parse(requested) {
            problems.push(format!("{name}: the plugin requests {e}"));
        }
    }
    let violations = coral_runtime::config_violations(metadata.config_schema.as_deref(), &spec.config_json);
    for v in &violations {
        problems.push(format!(
            "{name}: [plugins.{name}.config] does not match the plugin's schema: {v}"
        ));
    }
    let unrequested: BTreeSet<_> = policy.granted().difference(policy.requested()).collect();
    if !unrequested.is_empty() {
        problems.push(format!(
            "{name}: granted but never requested by the plugin (has no effect): {}",
            list(&unrequested)
        ));
    }
    let events = if metadata.events.is_empty() {
        "all".to_string()
    } else {
        list(metadata.events.iter().map(|e| {
            use coral_model::bindings::EventCategory as C;
            match e {
                C::Message => "message",
                C::Notice => "notice",
                C::Request => "request",
                C::Meta => "meta",
                C::Other => "other",
                C::Timer => "timer",
            }
        }))
    };
    let mut out = String::new();
    let _ = writeln!(out, "plugin:       {name} ({})", path.display());
    let _ = writeln!(out, "name:         {}", metadata.name);
    let _ = writeln!(out, "version:      {}", metadata.version);
    let _ = writeln!(out, "description:  {}", metadata.description);
    let _ = writeln!(out, "file hash:    {}", compiled.hash);
    let _ = writeln!(out, "WIT:          {}", compiled.wit_version);
    let _ = writeln!(out, "events:       {events}");
    let settings = config.host.command_settings();
    let shown_prefix = settings.shown_prefix();
    for spec in commands.specs() {
        let _ = writeln!(
            out,
            "command:      {} — {}",
            coral_runtime::commands::parse::usage(shown_prefix, spec),
            spec.description
        );
    }
    let _ = writeln!(out, "requested:    {}", list(policy.requested()));
    let _ = writeln!(out, "granted:      {}", list(policy.granted()));
    let _ = writeln!(out, "effective:    {}", list(policy.effective()));
    let _ = writeln!(
        out,
        "without grants it may still reply into the chat of the event it handles"
    );
    let _ = writeln!(out, "scope:        {}", scope_text(&spec.grants.scope));
    for (cap, scope) in &spec.grants.scopes {
        let _ = writeln!(out, "scope {cap}: {}", scope_text(scope));
    }
    for (cap, (text, _)) in &spec.grants.rates {
        let _ = writeln!(out, "rate {cap}:  {text}");
    }
    let _ = writeln!(out, "limits:       {}", limits_line(&limits));
    for (cap, detail) in [
        (
            Capability::Storage,
            format!(
                "quota {} keys, {} MiB; keys ≤ {} B, values ≤ {} KiB, list ≤ {} keys",
                limits.storage.max_keys,
                limits.storage.max_bytes >> 20,
                coral_services::storage::MAX_KEY_BYTES,
                coral_services::storage::MAX_VALUE_BYTES >> 10,
                coral_services::storage::MAX_LIST
            ),
        ),
        (
            Capability::Schedule,
            format!(
                "≤ {} jobs, repeating ≥ every {} s, names ≤ {} B, payload ≤ {} KiB",
                coral_services::jobs::MAX_JOBS,
                coral_services::jobs::MIN_INTERVAL_SECS,
                coral_services::jobs::MAX_NAME_BYTES,
                coral_services::jobs::MAX_PAYLOAD_BYTES >> 10
            ),
        ),
    ] {
        let state = match (policy.requested().contains(&cap), policy.granted().contains(&cap)) {
            (true, true) => "granted",
            (true, false) => "requested, not granted",
            (false, true) => "granted, not requested",
            (false, false) => "not used",
        };
        let _ = writeln!(out, "{:<14}{state} ({detail})", format!("{cap}:"));
    }
    let schema_state = match (&metadata.config_schema, violations.len()) {
        (None, _) => "not schema-checked (the plugin declares no config schema)".to_string(),
        (Some(_), 0) => "schema-checked: matches".to_string(),
        (Some(_), n) => format!("schema-checked: {n} problem(s); the plugin will not load"),
    };
    let _ = writeln!(out, "config:       {schema_state}");
    for line in coral_policy::http::inspect_lines(&policy) {
        let _ = writeln!(out, "{line}");
    }
    problems.extend(coral_policy::http::problems(name, &policy));
    let _ = writeln!(out, "enabled:      {}", config.plugin(name).enabled);
    let mut words: Vec<String> = commands.words().map(str::to_string).collect();
    words.sort();
    Ok(Described {
        text: out,
        problems,
        words,
    })
}

/// `coral plugin inspect FILE.wasm|NAME`: the plugin `name`, whose file (shown as `path`) read as `bytes`.
pub async fn inspect(
    runtime: &Runtime,
    path: &Path,
    name: &str,
    bytes: Result<Vec<u8>, String>,
    config: &Config,
) -> bool {
    match async { describe(runtime, bytes?, path, name, config).await }.await {
        Ok(Described { text, problems, .. }) => {
            print!("{text}");
            for p in &problems {
                println!("warning: {p}");
            }
            true
        }
        Err(e) => {
            eprintln!("error: {}: {e}", path.display());
            false
        }
    }
}

/// `coral check`: the config is already parsed (strictly) by the caller; check every plugin against it.
pub async fn check(runtime: &Runtime, config: &Config) -> bool {
    let mut ok = true;
    let listed = crate::folders::plugins(config, false).and_then(|dir| Ok((dir.list()?, dir)));
    let (files, dir) = match listed {
        Ok((listing, dir)) => {
            for (file, why) in &listing.refused {
                println!("error: {file}: {why}");
                ok = false;
            }
            (listing.plugins, dir)
        }
        Err(e) => {
            eprintln!(
                "error: cannot list plugin folder {}: {e:#}",
                config.host.plugin_dir.display()
            );
            return false;
        }
    };
    for name in config.plugins.keys() {
        if !files.iter().any(|n| n == name) {
            println!(
                "error: [plugins.{name}] is configured but there is no {name}.wasm in {}",
                config.host.plugin_dir.display()
            );
            ok = false;
        }
    }
    // Command words, by the first plugin (in load order) that declares each.
    let settings = config.host.command_settings();
    let mut owners: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    let max = config.host.max_plugin_mb << 20;
    for name in &files {
        let enabled = config.plugin(name).enabled;
        let described = match dir.read(name, max) {
            Ok(bytes) => describe(runtime, bytes, &dir.path().join(format!("{name}.wasm")), name, config).await,
            Err(e) => Err(e.to_string()),
        };
        match described {
            Ok(mut described) => {
                // A disabled plugin does not load, so it takes no word.
                for word in described.words.iter().filter(|_| enabled) {
                    match settings.clash(word, || owners.get(word).cloned()) {
                        Some(clash) => described
                            .problems
                            .push(format!("{name}: {clash}; {name} will not load")),
                        None => {
                            owners.entry(word.clone()).or_insert_with(|| name.clone());
                        }
                    }
                }
                if described.problems.is_empty() {
                    println!("ok: {name}");
                } else {
                    for p in described.problems {
                        println!("error: {p}");
                    }
                    ok = false;
                }
            }
            Err(e) => {
                println!("error: {name}: {e}");
                ok = false;
            }
        }
    }
    println!(
        "{}",
        if ok {
            "config and plugins are valid"
        } else {
            "problems found"
        }
    );
    ok
}

/// `coral audit`: the audit log of the data folder `data_dir` (shown as `path`) as a table, newest last.
pub fn audit(data_dir: &cap_fs::Dir, path: &Path, plugin: Option<&str>, action: Option<&str>, limit: usize) -> bool {
    // The rotated files (`audit.jsonl.N` … `.1`) first, then the live one: oldest first.
    let records = match AuditLog::read_all(data_dir, crate::folders::AUDIT_LOG) {
        Ok(records) => records,
        Err(e) => {
            eprintln!(
                "error: cannot read the audit log {}: {e}",
                path.join(crate::folders::AUDIT_LOG).display()
            );
            return false;
        }
    };
    // A call is written as `pending` before its frame leaves and again with its outcome: show the outcome (a
    // `pending` line without one means the host stopped before the platform answered).
    let completed: std::collections::HashSet<u64> = records
        .iter()
        .map(|r| &r.entry)
        .filter(|e| e.call != 0 && e.outcome != Outcome::Pending)
        .map(|e| e.call)
        .collect();
    let calls: Vec<&Record> = records
        .iter()
        .filter(|r| !(r.entry.outcome == Outcome::Pending && completed.contains(&r.entry.call)))
        .collect();
    let matching: Vec<&Record> = calls
        .iter()
        .copied()
        .filter(|r| plugin.is_none_or(|p| r.entry.plugin == p))
        .filter(|r| {
            let e = &r.entry;
            action.is_none_or(|a| e.action == a || e.capability.split('+').any(|c| c == a) || e.outcome.as_str() == a)
        })
        .collect();
    let shown = &matching[matching.len().saturating_sub(limit)..];
    println!(
        "{:<24} {:<14} {:<16} {:<10} {:<24} {:<22} {:<13} {:>7}  detail",
        "time (UTC)", "plugin", "hash", "bot", "action", "target", "outcome", "retcode"
    );
    // Every field but the time and retcode may hold text a plugin chose: shown escaped, never raw.
    let esc = |s: &str| coral_model::text::escape(s).into_owned();
    for r in shown {
        let e = &r.entry;
        // A coalesced run of identical refusals: the line stands for `repeated` more of the one before it.
        let count = if r.repeated > 0 {
            format!(" (×{})", r.repeated)
        } else {
            String::new()
        };
        println!(
            "{:<24} {:<14} {:<16} {:<10} {:<24} {:<22} {:<13} {:>7}  {}{count}",
            utc(e.time_ms),
            esc(&e.plugin),
            esc(&e.plugin_hash),
            esc(&e.bot),
            esc(&e.action),
            esc(&e.target),
            esc(e.outcome.as_str()),
            e.retcode,
            esc(&e.detail)
        );
    }
    let stands_for: u64 = matching.iter().map(|r| r.repeated.max(1)).sum();
    if stands_for > matching.len() as u64 {
        println!(
            "{} of {} entries ({} matching, standing for {stands_for} events with the coalesced repeats)",
            shown.len(),
            calls.len(),
            matching.len()
        );
    } else {
        println!("{} of {} entries", shown.len(), calls.len());
    }
    true
}

/// `YYYY-MM-DD HH:MM:SS.mmm` in UTC, without a date crate.
pub fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let rem = secs % 86400;
    let (year, month, day) = coral_ops::text::civil_from_days((secs / 86400) as i64);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00.000");
        assert_eq!(super::utc(1_718_000_000_123), "2024-06-10 06:13:20.123");
        assert_eq!(super::utc(951_782_400_000), "2000-02-29 00:00:00.000");
    }
}
