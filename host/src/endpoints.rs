//! Coral's own endpoints from the config ([`coral_endpoints`]): the listeners and OneBot implementations no
//! plugin's HTTP request may reach.

use crate::config::Config;
use coral_adapters::onebot::config::Transport;
use coral_policy::http::rules::{CoralEndpoint, CoralEndpoints};

/// Coral's own endpoints in `config`, which no plugin may reach: the OneBot listeners (`listen` of `ws-reverse` and
/// `http` entries), the OneBot implementations Coral connects to (`url`, `api_url`, `event_url`: their API is
/// Coral's alone), and the metrics listener when enabled. A listener on port 0 is added once bound.
pub fn coral_endpoints(config: &Config) -> CoralEndpoints {
    let mut own = CoralEndpoints::default();
    for (index, entry) in config.onebot.iter().enumerate() {
        let listens = matches!(entry.transport, Transport::WsReverse | Transport::Http);
        if listens && let Some(listen) = &entry.listen {
            own.extend(CoralEndpoint::listen(
                listen,
                format!("the OneBot listener onebot[{index}].listen"),
            ));
        }
        for (key, url) in [
            ("url", &entry.url),
            ("api_url", &entry.api_url),
            ("event_url", &entry.event_url),
        ] {
            if let Some(url) = url {
                own.extend(CoralEndpoint::url(
                    url,
                    format!("the OneBot implementation at onebot[{index}].{key}"),
                ));
            }
        }
    }
    if config.metrics.enabled {
        own.extend(CoralEndpoint::listen(
            &config.metrics.listen,
            "the metrics listener [metrics].listen",
        ));
    }
    own
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    #[test]
    fn coral_endpoints_come_from_the_onebot_entries_and_metrics() {
        let config = Config::parse(
            r#"
[[onebot]]
transport = "ws-reverse"
listen = "127.0.0.1:8080"
[[onebot]]
transport = "ws"
api_url = "ws://localhost:3001/api"
event_url = "ws://localhost:3002/event"
[[onebot]]
transport = "http"
url = "http://10.0.0.5:5700"
listen = "0.0.0.0:5701"
access_token = "t"
[[onebot]]
transport = "ws"
url = "wss://impl.example/onebot"
[[onebot]]
transport = "ws-reverse"
listen = "127.0.0.1:0"
[metrics]
enabled = true
listen = "127.0.0.1:9464"
"#,
            std::path::Path::new("c.toml"),
        )
        .unwrap();
        let listed: Vec<String> = coral_endpoints(&config)
            .iter()
            .map(|e| format!("{e} {}", e.what))
            .collect();
        assert_eq!(
            listed,
            [
                "127.0.0.1:8080 the OneBot listener onebot[0].listen",
                "localhost:3001 the OneBot implementation at onebot[1].api_url",
                "localhost:3002 the OneBot implementation at onebot[1].event_url",
                "0.0.0.0:5701 the OneBot listener onebot[2].listen",
                "10.0.0.5:5700 the OneBot implementation at onebot[2].url",
                "impl.example:443 the OneBot implementation at onebot[3].url",
                "127.0.0.1:9464 the metrics listener [metrics].listen",
            ]
        );
        let off = Config::parse(
            "[metrics]\nlisten = \"127.0.0.1:9464\"\n",
            std::path::Path::new("c.toml"),
        )
        .unwrap();
        assert_eq!(
            coral_endpoints(&off).iter().count(),
            0,
            "a disabled metrics listener is not there"
        );
    }

    #[test]
    fn the_sample_config_opens_no_path_to_anything_local() {
        let text = include_str!("../../example-plugins/coral.toml");
        let config = Config::parse(text, std::path::Path::new("example-plugins/coral.toml")).unwrap();
        let mut allowlists = 0;
        for (name, plugin) in &config.plugins {
            let rules = plugin.grants(name).unwrap().http;
            for local in [
                "127.0.0.1",
                "::1",
                "10.0.0.1",
                "172.17.0.1",
                "192.168.1.1",
                "169.254.169.254",
                "0.0.0.0",
            ] {
                let ip: IpAddr = local.parse().unwrap();
                assert!(
                    !rules.allow_private.iter().any(|c| c.contains(ip)),
                    "[plugins.{name}] may reach {local}"
                );
            }
            for host in ["localhost", "127.0.0.1", "[::1]"] {
                assert!(
                    !rules.hosts.iter().any(|e| e.host.matches(host)),
                    "[plugins.{name}] lists {host}"
                );
            }
            allowlists += usize::from(!rules.hosts.is_empty());
        }
        assert!(
            config.plugins["fetch"].http.iter().any(|h| h == "example.com"),
            "the sample still shows an allowlist"
        );
        assert_eq!(allowlists, 1);
    }

    #[test]
    fn a_port_0_allowlist_entry_is_a_config_error_naming_the_entry() {
        let err = Config::parse(
            "[plugins.f]\nhttp = [\"localhost:0\"]\n",
            std::path::Path::new("c.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("plugins.f.http[0]") && err.contains("localhost:0"),
            "{err}"
        );
    }
}
