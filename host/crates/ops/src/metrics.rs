//! The Prometheus text exposition format (0.0.4) of a [`Snapshot`], and the optional `GET /metrics` endpoint
//! (`[metrics] enabled = true`, `listen = "127.0.0.1:9464"` by default). Metric names are listed in the README.

use super::{HistogramSnapshot, Snapshot, Sources};
use std::fmt::Write as _;

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Escape a label value: backslash, double quote and line feed as the format says; any other control character
/// (a plugin may choose action names) becomes U+FFFD, so a scrape shown in a terminal cannot drive it.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A float as the format wants it (`+Inf`, `-Inf`, `NaN`, or Rust's shortest round-trip form).
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// A counter family of rows of type `R`: its name, its help text, and how to read it from a row.
type Counter<'a, R> = (&'a str, &'a str, fn(&R) -> u64);

struct Out {
    text: String,
}

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", escape_label(v));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", number(value));
    }

    /// Counter families, one per `(name, help, field)`, each with a sample per row labelled by `labels`.
    fn counters<R, const N: usize>(
        &mut self,
        families: &[Counter<'_, R>],
        rows: &[R],
        labels: impl Fn(&R) -> [(&'static str, &str); N],
    ) {
        for (name, help, field) in families {
            self.family(name, "counter", help);
            for row in rows {
                self.sample(name, &labels(row), field(row) as f64);
            }
        }
    }

    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &HistogramSnapshot) {
        let bucket = format!("{name}_bucket");
        for (bound, count) in &h.buckets {
            let le = number(*bound);
            let mut with_le = labels.to_vec();
            with_le.push(("le", le.as_str()));
            self.sample(&bucket, &with_le, *count as f64);
        }
        let mut with_le = labels.to_vec();
        with_le.push(("le", "+Inf"));
        self.sample(&bucket, &with_le, h.count as f64);
        self.sample(&format!("{name}_sum"), labels, h.sum_seconds);
        self.sample(&format!("{name}_count"), labels, h.count as f64);
    }
}

/// Render every figure of `s` in the text format: each family's `# HELP` and `# TYPE` first, then its samples.
pub fn render(s: &Snapshot) -> String {
    let mut out = Out { text: String::new() };
    out.family("coral_uptime_seconds", "gauge", "Seconds since the host started.");
    out.sample("coral_uptime_seconds", &[], s.uptime_seconds);

    let plugin_counters: [Counter<super::PluginSnapshot>; 9] = [
        (
            "coral_plugin_events_received_total",
            "Events queued for the plugin.",
            |p| p.received,
        ),
        (
            "coral_plugin_events_handled_total",
            "Events the plugin's handler completed.",
            |p| p.handled,
        ),
        (
            "coral_plugin_events_failed_total",
            "Events whose handler returned an error, trapped or timed out.",
            |p| p.failed,
        ),
        (
            "coral_plugin_events_shed_total",
            "Events dropped: full queue or quarantine.",
            |p| p.shed,
        ),
        (
            "coral_plugin_traps_total",
            "Traps (including CPU-budget and memory-cap faults).",
            |p| p.traps,
        ),
        (
            "coral_plugin_timeouts_total",
            "Handler calls cut off at the wall-clock limit.",
            |p| p.timeouts,
        ),
        (
            "coral_plugin_restarts_total",
            "Fresh instances made after a fault.",
            |p| p.restarts,
        ),
        (
            "coral_plugin_slow_events_total",
            "Handlers slower than slow_event_ms.",
            |p| p.slow_events,
        ),
        (
            "coral_plugin_denials_total",
            "Platform calls refused by the plugin's grants.",
            |p| p.denied,
        ),
    ];
    out.counters(&plugin_counters, &s.plugins, |p| [("plugin", p.name.as_str())]);
    let name = "coral_plugin_rate_limited_total";
    out.family(name, "counter", "Platform calls refused by the plugin's rate limits.");
    for p in &s.plugins {
        out.sample(name, &[("plugin", p.name.as_str())], p.rate_limited as f64);
    }
    let name = "coral_plugin_memory_peak_bytes";
    out.family(
        name,
        "gauge",
        "Highest linear memory any instance of the plugin reached.",
    );
    for p in &s.plugins {
        out.sample(name, &[("plugin", p.name.as_str())], p.memory_peak_bytes as f64);
    }
    let name = "coral_plugin_quarantined";
    out.family(name, "gauge", "1 while the plugin is quarantined.");
    for p in &s.plugins {
        out.sample(name, &[("plugin", p.name.as_str())], f64::from(u8::from(p.quarantined)));
    }
    let name = "coral_plugin_info";
    out.family(name, "gauge", "The running plugins and their versions (always 1).");
    for p in &s.plugins {
        out.sample(
            name,
            &[("plugin", p.name.as_str()), ("version", p.version.as_str())],
            1.0,
        );
    }
    let name = "coral_plugin_event_duration_seconds";
    out.family(name, "histogram", "Time in the plugin's event handler.");
    for p in &s.plugins {
        out.histogram(name, &[("plugin", p.name.as_str())], &p.handler);
    }
    let name = "coral_plugin_api_calls_total";
    out.family(
        name,
        "counter",
        "Platform calls by plugin, action and outcome (ok, failed, denied, rate_limited).",
    );
    for p in &s.plugins {
        for a in &p.actions {
            for (outcome, n) in [
                ("ok", a.ok),
                ("failed", a.failed),
                ("denied", a.denied),
                ("rate_limited", a.rate_limited),
            ] {
                out.sample(
                    name,
                    &[
                        ("plugin", p.name.as_str()),
                        ("action", a.action.as_str()),
                        ("outcome", outcome),
                    ],
                    n as f64,
                );
            }
        }
    }
    let name = "coral_plugin_api_retries_total";
    out.family(name, "counter", "Extra attempts made by the plugin's retry policy.");
    for p in &s.plugins {
        for a in &p.actions {
            out.sample(
                name,
                &[("plugin", p.name.as_str()), ("action", a.action.as_str())],
                a.retries as f64,
            );
        }
    }
    let name = "coral_plugin_api_call_duration_seconds";
    out.family(
        name,
        "histogram",
        "Latency of admitted platform calls (with retries and governor wait).",
    );
    for p in &s.plugins {
        for a in &p.actions {
            out.histogram(
                name,
                &[("plugin", p.name.as_str()), ("action", a.action.as_str())],
                &a.latency,
            );
        }
    }

    let name = "coral_bot_up";
    out.family(name, "gauge", "1 while the bot's connection is up.");
    for b in &s.bots {
        out.sample(
            name,
            &[("bot", b.self_id.as_str()), ("platform", b.platform.as_str())],
            f64::from(u8::from(b.online)),
        );
    }
    let bot_counters: [Counter<super::BotSnapshot>; 4] = [
        (
            "coral_bot_reconnects_total",
            "Connections to the bot after the first.",
            |b| b.reconnects,
        ),
        ("coral_bot_api_calls_total", "API calls made to the bot.", |b| {
            b.api_calls
        }),
        (
            "coral_bot_api_failures_total",
            "API calls to the bot that failed.",
            |b| b.api_failures,
        ),
        (
            "coral_bot_duplicate_events_total",
            "Message events delivered again shortly after the first delivery, and dropped.",
            |b| b.duplicate_events,
        ),
    ];
    out.counters(&bot_counters, &s.bots, |b| {
        [("bot", b.self_id.as_str()), ("platform", b.platform.as_str())]
    });
    let name = "coral_bot_api_call_duration_seconds";
    out.family(
        name,
        "histogram",
        "Latency of API calls to the bot (with the send governor's wait).",
    );
    for b in &s.bots {
        out.histogram(
            name,
            &[("bot", b.self_id.as_str()), ("platform", b.platform.as_str())],
            &b.latency,
        );
    }
    let adapter_counters: [Counter<super::AdapterSnapshot>; 3] = [
        (
            "coral_adapter_malformed_frames_total",
            "Frames the adapter could not use (not JSON, neither event nor response, an undecodable event).",
            |a| a.malformed_frames,
        ),
        (
            "coral_adapter_unmatched_responses_total",
            "Responses whose echo matched no pending call.",
            |a| a.unmatched_responses,
        ),
        (
            "coral_adapter_duplicate_events_total",
            "Message events dropped as duplicate deliveries (all bots).",
            |a| a.duplicate_events,
        ),
    ];
    out.counters(&adapter_counters, &s.adapters, |a| [("platform", a.platform.as_str())]);
    out.text
}

/// Serve `GET /metrics` on `listener` until the host exits.
pub fn serve(listener: tokio::net::TcpListener, sources: Sources) {
    use axum::http::header::CONTENT_TYPE as HEADER;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let text = render(&sources.snapshot());
            async move { ([(HEADER, CONTENT_TYPE)], text) }
        }),
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("the metrics endpoint stopped: {e}");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::super::{ActionSnapshot, BotSnapshot, Histogram, PluginSnapshot};
    use super::*;
    use std::time::Duration;

    fn plugin(name: &str) -> PluginSnapshot {
        let h = Histogram::default();
        h.record(Duration::from_micros(80));
        h.record(Duration::from_millis(3));
        PluginSnapshot {
            name: name.into(),
            version: "0.1.0".into(),
            quarantined: false,
            quarantine_reason: None,
            quarantined_until_ms: None,
            received: 7,
            handled: 6,
            failed: 1,
            shed: 0,
            traps: 0,
            timeouts: 0,
            restarts: 0,
            slow_events: 0,
            memory_peak_bytes: 1 << 20,
            denied: 2,
            rate_limited: 0,
            handler: h.snapshot(),
            actions: vec![ActionSnapshot {
                action: "send_msg".into(),
                ok: 5,
                failed: 0,
                denied: 2,
                rate_limited: 0,
                retries: 0,
                latency: Histogram::default().snapshot(),
            }],
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
        assert_eq!(escape_label("普通"), "普通");
        assert_eq!(escape_label("a\u{1b}[31m\r"), "a\u{fffd}[31m\u{fffd}");
    }

    #[test]
    fn rendering_has_types_before_samples_cumulative_buckets_and_escaped_labels() {
        let s = Snapshot {
            version: "0.1.0".into(),
            uptime_seconds: 1.5,
            plugins: vec![plugin("pi\"ng\\\n")],
            bots: vec![BotSnapshot {
                self_id: "10001".into(),
                platform: "onebot".into(),
                online: true,
                reconnects: 1,
                api_calls: 9,
                api_failures: 1,
                duplicate_events: 2,
                latency: Histogram::default().snapshot(),
            }],
            adapters: vec![super::super::AdapterSnapshot {
                platform: "onebot".into(),
                malformed_frames: 3,
                unmatched_responses: 4,
                duplicate_events: 2,
            }],
        };
        let text = render(&s);
        assert!(
            text.contains("coral_adapter_malformed_frames_total{platform=\"onebot\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("coral_adapter_unmatched_responses_total{platform=\"onebot\"} 4\n"),
            "{text}"
        );
        assert!(
            text.contains("coral_plugin_events_received_total{plugin=\"pi\\\"ng\\\\\\n\"} 7\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "coral_plugin_api_calls_total{plugin=\"pi\\\"ng\\\\\\n\",action=\"send_msg\",outcome=\"denied\"} 2\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("coral_plugin_event_duration_seconds_bucket{plugin=\"pi\\\"ng\\\\\\n\",le=\"0.0001\"} 1\n")
        );
        assert!(
            text.contains("coral_plugin_event_duration_seconds_bucket{plugin=\"pi\\\"ng\\\\\\n\",le=\"0.005\"} 2\n")
        );
        assert!(
            text.contains("coral_plugin_event_duration_seconds_bucket{plugin=\"pi\\\"ng\\\\\\n\",le=\"+Inf\"} 2\n")
        );
        assert!(text.contains("coral_plugin_event_duration_seconds_count{plugin=\"pi\\\"ng\\\\\\n\"} 2\n"));
        assert!(text.contains("coral_bot_up{bot=\"10001\",platform=\"onebot\"} 1\n"));
        assert!(text.contains("coral_bot_reconnects_total{bot=\"10001\",platform=\"onebot\"} 1\n"));
        assert!(text.contains("coral_bot_duplicate_events_total{bot=\"10001\",platform=\"onebot\"} 2\n"));
        // Every sample belongs to a family whose TYPE came before it; no family is declared twice.
        let mut declared = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap();
                assert!(declared.insert(name.to_string()), "{name} declared twice");
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s).filter(|f| declared.contains(*f)))
                    .unwrap_or(name);
                assert!(declared.contains(family), "{line}: no TYPE before it");
            }
        }
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn special_floats_use_the_formats_spelling() {
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(0.00005), "0.00005");
        assert_eq!(number(10.0), "10");
    }
}
