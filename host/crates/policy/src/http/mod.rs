//! Outgoing HTTP rules: a plugin's allowlist and limits ([`HttpRules`], from `[plugins.<name>] http` and
//! `http_limits`), Coral's own endpoints no plugin may reach ([`OwnEndpoints`]), and what `coral plugin inspect`
//! and `coral check` say about them. The runtime's sender applies these after one DNS lookup.

pub mod rules;

use crate::{Capability, Policy, SettingError};
use parking_lot::RwLock;
use rules::{AllowEntry, Cidr, CoralEndpoint, CoralEndpoints};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// Default largest response body, KiB.
pub const DEFAULT_MAX_RESPONSE_KB: u64 = 1024;
/// Default time limit of one whole request (connect, send, response and body), ms.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Default requests one plugin may have in flight.
pub const DEFAULT_MAX_CONCURRENT: usize = 4;

/// `[plugins.<name>] http_limits = { … }` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpLimitsConfig {
    /// Largest response body, KiB (default 1024).
    pub max_response_kb: Option<u64>,
    /// Time limit of one whole request including its body, ms (default 10000).
    pub timeout_ms: Option<u64>,
    /// Requests in flight at once (default 4).
    pub max_concurrent: Option<usize>,
    /// Private, loopback or link-local addresses or CIDR blocks the plugin may reach anyway (default none).
    #[serde(default)]
    pub allow_private: Vec<String>,
}

/// A plugin's HTTP allowlist and limits, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRules {
    /// Hosts (and ports) it may reach.
    pub hosts: Vec<AllowEntry>,
    /// Largest response body, bytes.
    pub max_response_bytes: u64,
    /// Time limit of one whole request.
    pub timeout: Duration,
    /// Requests in flight at once.
    pub max_concurrent: usize,
    /// Non-public addresses it may reach anyway.
    pub allow_private: Vec<Cidr>,
}

impl Default for HttpRules {
    fn default() -> Self {
        HttpRules {
            hosts: Vec::new(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_KB << 10,
            timeout: Duration::from_millis(DEFAULT_TIMEOUT_MS),
            max_concurrent: DEFAULT_MAX_CONCURRENT,
            allow_private: Vec::new(),
        }
    }
}

impl HttpRules {
    /// Parse `[plugins.<name>] http` and `http_limits`; an error names the offending key.
    pub fn from_config(name: &str, hosts: &[String], limits: &HttpLimitsConfig) -> Result<HttpRules, SettingError> {
        let invalid = |key: String, reason: String| SettingError { key, reason };
        let hosts = hosts
            .iter()
            .enumerate()
            .map(|(i, text)| AllowEntry::parse(text).map_err(|r| invalid(format!("plugins.{name}.http[{i}]"), r)))
            .collect::<Result<Vec<_>, _>>()?;
        let allow_private = limits
            .allow_private
            .iter()
            .enumerate()
            .map(|(i, text)| {
                Cidr::parse(text).map_err(|r| invalid(format!("plugins.{name}.http_limits.allow_private[{i}]"), r))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let at_least_one = |key: &str, value: Option<u64>, default: u64| match value {
            Some(0) => Err(invalid(
                format!("plugins.{name}.http_limits.{key}"),
                "must be at least 1".into(),
            )),
            Some(v) => Ok(v),
            None => Ok(default),
        };
        let max_response_kb = at_least_one("max_response_kb", limits.max_response_kb, DEFAULT_MAX_RESPONSE_KB)?;
        let timeout_ms = at_least_one("timeout_ms", limits.timeout_ms, DEFAULT_TIMEOUT_MS)?;
        let max_concurrent = at_least_one(
            "max_concurrent",
            limits.max_concurrent.map(|n| n as u64),
            DEFAULT_MAX_CONCURRENT as u64,
        )?;
        Ok(HttpRules {
            hosts,
            max_response_bytes: max_response_kb.saturating_mul(1024),
            timeout: Duration::from_millis(timeout_ms),
            max_concurrent: max_concurrent as usize,
            allow_private,
        })
    }

    /// The limits on one line, for `coral plugin inspect`.
    pub fn limits_text(&self) -> String {
        let private = if self.allow_private.is_empty() {
            "none".to_string()
        } else {
            self.allow_private
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "max_response_kb={} timeout_ms={} max_concurrent={} allow_private={private}",
            self.max_response_bytes >> 10,
            self.timeout.as_millis(),
            self.max_concurrent
        )
    }
}

/// Coral's own endpoints as every plugin's sender sees them, shared by the whole host: set from the config at
/// start, extended with the real address of each listener once bound (for `:0`), and extended again with the
/// endpoints of a reloaded config. Nothing is ever removed: listeners and OneBot connections are only replaced by
/// a restart, so the endpoints of the config the host started with stay in use until then.
#[derive(Debug, Default)]
pub struct OwnEndpoints(RwLock<Arc<CoralEndpoints>>);

impl OwnEndpoints {
    /// The endpoints now.
    pub fn current(&self) -> Arc<CoralEndpoints> {
        self.0.read().clone()
    }

    /// Add endpoints (those already known are kept once).
    pub fn add(&self, more: impl IntoIterator<Item = CoralEndpoint>) {
        let mut guard = self.0.write();
        let mut next = CoralEndpoints::clone(&guard);
        next.extend(more);
        *guard = Arc::new(next);
    }
}

/// `coral plugin inspect` lines: whether `http` is in effect, the allowlist and the limits.
pub fn inspect_lines(policy: &Policy) -> Vec<String> {
    let http = Capability::Http;
    let state = match (policy.requested().contains(&http), policy.granted().contains(&http)) {
        (true, true) => "granted",
        (true, false) => "requested, not granted",
        (false, true) => "granted but not requested (no effect)",
        (false, false) => "not requested",
    };
    let rules = policy.http();
    let hosts = if rules.hosts.is_empty() {
        "none".to_string()
    } else {
        rules
            .hosts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![
        format!("http:         {state}; allowed hosts: {hosts}"),
        format!("http limits:  {}", rules.limits_text()),
    ]
}

/// Configuration mistakes `coral check` reports about a plugin's HTTP settings.
pub fn problems(name: &str, policy: &Policy) -> Vec<String> {
    let granted = policy.effective().contains(&Capability::Http);
    let listed = !policy.http().hosts.is_empty();
    match (granted, listed) {
        (true, false) => vec![format!(
            "{name}: `http` is granted but `[plugins.{name}] http` lists no hosts: every request will be refused"
        )],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_and_validate_with_the_key_named() {
        let rules = HttpRules::from_config("f", &["api.example.com".into()], &HttpLimitsConfig::default()).unwrap();
        assert_eq!(rules.max_response_bytes, 1024 * 1024);
        assert_eq!(rules.timeout, Duration::from_secs(10));
        assert_eq!(rules.max_concurrent, 4);
        let err = HttpRules::from_config("f", &["ok.example".into(), "https://x.org".into()], &Default::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("plugins.f.http[1]") && err.contains("without scheme"),
            "{err}"
        );
        let limits = HttpLimitsConfig {
            allow_private: vec!["127.0.0.1".into(), "10.0.0.0/33".into()],
            ..Default::default()
        };
        let err = HttpRules::from_config("f", &[], &limits).unwrap_err().to_string();
        assert!(err.contains("plugins.f.http_limits.allow_private[1]"), "{err}");
        let limits = HttpLimitsConfig {
            timeout_ms: Some(0),
            ..Default::default()
        };
        let err = HttpRules::from_config("f", &[], &limits).unwrap_err().to_string();
        assert!(err.contains("plugins.f.http_limits.timeout_ms"), "{err}");
    }

    #[test]
    fn entries_keep_their_ports_and_a_bad_port_names_the_entry() {
        let hosts = ["Example.com", "localhost:8080", "*.example.org:8443", "[::1]:8080"].map(String::from);
        let rules = HttpRules::from_config("f", &hosts, &HttpLimitsConfig::default()).unwrap();
        let ports: Vec<Option<u16>> = rules.hosts.iter().map(|e| e.port).collect();
        assert_eq!(ports, [None, Some(8080), Some(8443), Some(8080)]);
        let shown: Vec<String> = rules.hosts.iter().map(ToString::to_string).collect();
        assert_eq!(shown, hosts, "shown as written");
        let err = HttpRules::from_config(
            "f",
            &["example.com".into(), "localhost:99999".into()],
            &Default::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("plugins.f.http[1]") && err.contains("\"localhost:99999\"") && err.contains("port"),
            "{err}"
        );
    }

    #[test]
    fn own_endpoints_only_grow_and_snapshots_stay_as_taken() {
        let own = OwnEndpoints::default();
        let before = own.current();
        own.add(CoralEndpoint::listen("127.0.0.1:8080", "a"));
        own.add([
            CoralEndpoint::bound("127.0.0.1:41000".parse().unwrap(), "b"),
            CoralEndpoint::listen("127.0.0.1:8080", "a").unwrap(),
        ]);
        assert_eq!(before.iter().count(), 0);
        let now = own.current();
        assert_eq!(now.iter().count(), 2);
        assert!(now.covering("127.0.0.1:41000".parse().unwrap()).is_some());
    }
}
