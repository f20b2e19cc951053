//! Tests for `coral.toml` parsing: defaults, overrides, grants, limits and the errors that name a bad key.

use super::*;

#[test]
fn max_event_and_quarantine_default_and_never_undercut_the_wall_clock_limit() {
    let c = Config::parse(
        "[host]\nquarantine_secs = 2\n[plugins.a]\ncall_timeout_ms = 90000\n[plugins.b]\nmax_event_ms = 7000\n",
        Path::new("c.toml"),
    )
    .unwrap();
    assert_eq!(c.limits("x").max_event.as_millis(), DEFAULT_MAX_EVENT_MS as u128);
    assert_eq!(
        c.limits("a").max_event.as_millis(),
        90_000,
        "at least the wall-clock limit"
    );
    assert_eq!(c.limits("b").max_event.as_millis(), 7000);
    assert_eq!(c.limits("b").quarantine.as_secs(), 2);
    assert_eq!(
        Config::default().limits("x").quarantine.as_secs(),
        DEFAULT_QUARANTINE_SECS
    );
    assert!(Config::parse("[host]\nquarantine_secs = 0\n", Path::new("c.toml")).is_err());
    assert!(Config::parse("[plugins.a]\nmax_event_ms = 0\n", Path::new("c.toml")).is_err());
}

#[test]
fn unknown_key_is_rejected_with_its_name_and_line() {
    let err = Config::parse("[host]\nplugin_dir = \"p\"\nplugins_dir = \"x\"\n", Path::new("c.toml")).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("plugins_dir"), "{text}");
    assert!(text.contains("line 3"), "{text}");
}

#[test]
fn unknown_plugin_key_is_rejected() {
    let err = Config::parse("[plugins.ping]\nmemroy_mb = 3\n", Path::new("c.toml")).unwrap_err();
    assert!(err.to_string().contains("memroy_mb"), "{err}");
}

#[test]
fn defaults_and_overrides() {
    let c = Config::parse(
        "[host]\nmemory_mb = 16\n[plugins.ping]\ncpu_budget_ms = 50\n[plugins.ping.config]\nx = 1\n",
        Path::new("c.toml"),
    )
    .unwrap();
    assert!(
        !c.console.enabled,
        "a config file without [console] leaves the console off"
    );
    let l = c.limits("ping");
    assert_eq!(l.memory_bytes, 16 << 20);
    assert_eq!(l.cpu_budget.as_millis(), 50);
    assert_eq!(l.call_timeout.as_millis(), DEFAULT_CALL_TIMEOUT_MS as u128);
    assert_eq!(c.plugin("ping").config.get("x").and_then(|v| v.as_integer()), Some(1));
    assert!(c.plugin("other").enabled);
    assert!(Config::embedded_default().console.enabled);
}

#[test]
fn grants_scopes_and_rates_parse_and_unknown_capabilities_are_named() {
    let c = Config::parse(
        "[plugins.mod]\ngrants = [\"send\", \"kick\", \"call-api:get_group_notice\"]\ngroups = [1000001, \"1000002\"]\n\
         rate = { kick = \"3/min\" }\nscopes.kick = { groups = [1000001] }\n",
        Path::new("c.toml"),
    )
    .unwrap();
    let g = c.plugin("mod").grants("mod").unwrap();
    assert_eq!(g.grants.len(), 3);
    assert_eq!(g.scope.groups.as_ref().unwrap().len(), 2);
    assert_eq!(g.rates.values().next().unwrap().0, "3/min");
    let err = Config::parse("[plugins.mod]\ngrants = [\"kik\"]\n", Path::new("c.toml")).unwrap_err();
    assert!(
        err.to_string().contains("plugins.mod.grants[0]") && err.to_string().contains("kik"),
        "{err}"
    );
    let err = Config::parse("[plugins.mod]\nrate = { ban = \"5/fortnight\" }\n", Path::new("c.toml")).unwrap_err();
    assert!(err.to_string().contains("plugins.mod.rate.ban"), "{err}");
}

#[test]
fn ops_settings_parse_with_defaults_and_bad_retries_are_named() {
    let c = Config::parse(
        "[host]\nslow_call_ms = 200\n[plugins.a]\nslow_event_ms = 300\nretry = { attempts = 3 }\n\
         [metrics]\nenabled = true\n",
        Path::new("c.toml"),
    )
    .unwrap();
    let a = c.limits("a");
    assert_eq!((a.slow_call.as_millis(), a.slow_event.as_millis()), (200, 300));
    assert_eq!(
        a.retry,
        Some(RetryConfig {
            attempts: 3,
            backoff_ms: 100
        })
    );
    let b = c.limits("b");
    assert_eq!((b.slow_event.as_millis(), b.retry), (DEFAULT_SLOW_MS as u128, None));
    assert_eq!(c.metrics.listen, "127.0.0.1:9464");
    let err = Config::parse("[plugins.a]\nretry = { attempts = 9 }\n", Path::new("c.toml")).unwrap_err();
    assert!(err.to_string().contains("plugins.a.retry.attempts"), "{err}");
    let err = Config::parse("[plugins.a]\nretry = { attempt = 2 }\n", Path::new("c.toml")).unwrap_err();
    assert!(err.to_string().contains("attempt"), "{err}");
    let err = Config::parse("[metrics]\nenabled = true\nlisten = \"nowhere\"\n", Path::new("c.toml")).unwrap_err();
    assert!(err.to_string().contains("metrics.listen"), "{err}");
}

#[test]
fn storage_quotas_default_and_override() {
    let c = Config::parse(
        "[plugins.a]\nstorage = { max_keys = 5, max_mb = 2 }\n[plugins.b]\nstorage = { max_keys = 7 }\n",
        Path::new("c.toml"),
    )
    .unwrap();
    assert_eq!(c.limits("a").storage.max_keys, 5);
    assert_eq!(c.limits("a").storage.max_bytes, 2 << 20);
    assert_eq!(c.limits("b").storage.max_bytes, 16 << 20);
    assert_eq!(c.limits("other").storage.max_keys, 10_000);
    let err = Config::parse("[plugins.a]\nstorage = { max_keys = 0 }\n", Path::new("c.toml")).unwrap_err();
    assert!(err.to_string().contains("plugins.a.storage"), "{err}");
    let err = Config::parse("[plugins.a]\nstorage = { keys = 3 }\n", Path::new("c.toml")).unwrap_err();
    assert!(err.to_string().contains("keys"), "{err}");
}

#[test]
fn zero_limits_are_invalid() {
    let err = Config::parse("[plugins.ping]\nmemory_mb = 0\n", Path::new("c.toml")).unwrap_err();
    assert!(
        matches!(err, ConfigError::Invalid { ref key, .. } if key == "plugins.ping.memory_mb"),
        "{err}"
    );
}

#[test]
fn log_and_timer_rates_default_override_and_are_checked() {
    let c = Config::parse(
        "[plugins.a]\nlog_rate = \"10/s burst 50\"\ntimer_rate = \"2/s\"\n",
        Path::new("c.toml"),
    )
    .unwrap();
    let a = c.limits("a");
    assert_eq!(
        a.log_rate,
        LimitRate {
            micros: 100_000,
            burst: 50
        }
    );
    assert_eq!(
        a.timer_rate,
        LimitRate {
            micros: 500_000,
            burst: 2
        }
    );
    assert_eq!(a.log_rate.rate().per_sec, 10.0);
    let other = c.limits("b");
    assert_eq!(
        (other.log_rate, other.timer_rate),
        (DEFAULT_LOG_RATE, DEFAULT_TIMER_RATE)
    );
    let err = Config::parse("[plugins.a]\nlog_rate = \"lots\"\n", Path::new("c.toml")).unwrap_err();
    assert!(err.to_string().contains("plugins.a.log_rate"), "{err}");
    let err = Config::parse("[plugins.a]\ntimer_rate = \"0/s\"\n", Path::new("c.toml")).unwrap_err();
    assert!(err.to_string().contains("plugins.a.timer_rate"), "{err}");
}
