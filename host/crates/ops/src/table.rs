//! `coral status` as text: a table of plugins, one of their platform calls per action, and one of bots.

use super::{HistogramSnapshot, Snapshot};
use std::fmt::Write as _;

/// A duration bucket bound as text (`250µs`, `2.5ms`, `1s`); `-` when nothing was recorded, `>10s` beyond the
/// last bucket.
fn bound(seconds: Option<f64>, h: &HistogramSnapshot) -> String {
    match seconds {
        None if h.count == 0 => "-".into(),
        None => format!(">{}s", h.buckets.last().map_or(0.0, |b| b.0)),
        Some(s) if s < 1e-3 => format!("{}µs", (s * 1e6).round()),
        Some(s) if s < 1.0 => format!("{}ms", s * 1e3),
        Some(s) => format!("{s}s"),
    }
}

fn bytes(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1}MiB", n as f64 / f64::from(1 << 20))
    } else {
        format!("{}KiB", n >> 10)
    }
}

/// Columns padded to their widest cell, separated by two spaces. Cells are escaped: plugin names, action names and
/// bot ids may be text a plugin chose, and none of it reaches the terminal raw.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| crate::text::escape(cell).into_owned()).collect())
        .collect();
    let rows = &rows;
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            let _ = write!(text, "{cell:<w$}");
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

/// Unix time in ms as `YYYY-MM-DD HH:MM:SS`.
fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (y, m, d) = crate::text::civil_from_days((secs / 86_400) as i64);
    let t = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
}

/// `coral plugin list` as text: one row per plugin, then each one's problem (a load failure, a quarantine's
/// fault) on its own line.
pub fn render_plugins(rows: &[crate::PluginRow]) -> String {
    let list = |items: &[String]| {
        if items.is_empty() {
            "-".to_string()
        } else {
            items.join(",")
        }
    };
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.state.clone(),
                if p.version.is_empty() {
                    "-".into()
                } else {
                    p.version.clone()
                },
                if p.hash.is_empty() { "-".into() } else { p.hash.clone() },
                list(&p.requested),
                list(&p.granted),
                p.faults.to_string(),
                list(&p.off_in),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "plugin",
            "state",
            "version",
            "hash",
            "requested",
            "granted",
            "faults",
            "off in groups",
        ],
        &cells,
    );
    for p in rows {
        if let Some(problem) = &p.problem {
            let _ = writeln!(
                out,
                "{}: {}",
                crate::text::escape(&p.name),
                crate::text::escape(problem)
            );
        }
    }
    out
}

/// The whole status as text.
pub fn render(s: &Snapshot) -> String {
    let mut out = format!(
        "coral {}, up {}s, {} plugin(s), {} bot(s)\n\n",
        s.version,
        s.uptime_seconds.round(),
        s.plugins.len(),
        s.bots.len()
    );
    let rows: Vec<Vec<String>> = s
        .plugins
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.version.clone(),
                if p.quarantined { "quarantined" } else { "running" }.into(),
                p.received.to_string(),
                p.handled.to_string(),
                p.failed.to_string(),
                p.shed.to_string(),
                bound(p.handler.p50_seconds, &p.handler),
                bound(p.handler.p99_seconds, &p.handler),
                p.slow_events.to_string(),
                p.denied.to_string(),
                p.rate_limited.to_string(),
                p.traps.to_string(),
                p.timeouts.to_string(),
                p.restarts.to_string(),
                bytes(p.memory_peak_bytes),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "PLUGIN", "VERSION", "STATE", "RECEIVED", "HANDLED", "FAILED", "SHED", "P50", "P99", "SLOW", "DENIED",
            "LIMITED", "TRAPS", "TIMEOUTS", "RESTARTS", "MEM-PEAK",
        ],
        &rows,
    ));
    // Why each quarantined plugin is quarantined, and until when (UTC).
    for p in s.plugins.iter().filter(|p| p.quarantined) {
        let _ = writeln!(
            out,
            "quarantined: {} until {} UTC: {}",
            crate::text::escape(&p.name),
            p.quarantined_until_ms.map_or_else(|| "-".into(), utc),
            crate::text::escape(p.quarantine_reason.as_deref().unwrap_or("-"))
        );
    }
    let rows: Vec<Vec<String>> = s
        .plugins
        .iter()
        .flat_map(|p| {
            p.actions.iter().map(move |a| {
                vec![
                    p.name.clone(),
                    a.action.clone(),
                    a.ok.to_string(),
                    a.failed.to_string(),
                    a.denied.to_string(),
                    a.rate_limited.to_string(),
                    a.retries.to_string(),
                    bound(a.latency.p50_seconds, &a.latency),
                    bound(a.latency.p99_seconds, &a.latency),
                ]
            })
        })
        .collect();
    out.push('\n');
    out.push_str(&table(
        &[
            "PLUGIN", "ACTION", "OK", "FAILED", "DENIED", "LIMITED", "RETRIES", "P50", "P99",
        ],
        &rows,
    ));
    let rows: Vec<Vec<String>> = s
        .bots
        .iter()
        .map(|b| {
            vec![
                b.self_id.clone(),
                b.platform.clone(),
                if b.online { "online" } else { "offline" }.into(),
                b.reconnects.to_string(),
                b.api_calls.to_string(),
                b.api_failures.to_string(),
                bound(b.latency.p50_seconds, &b.latency),
                bound(b.latency.p99_seconds, &b.latency),
            ]
        })
        .collect();
    out.push('\n');
    out.push_str(&table(
        &[
            "BOT",
            "PLATFORM",
            "STATE",
            "RECONNECTS",
            "CALLS",
            "FAILURES",
            "P50",
            "P99",
        ],
        &rows,
    ));
    if !s.adapters.is_empty() {
        let rows: Vec<Vec<String>> = s
            .adapters
            .iter()
            .map(|a| {
                vec![
                    a.platform.clone(),
                    a.malformed_frames.to_string(),
                    a.unmatched_responses.to_string(),
                    a.duplicate_events.to_string(),
                ]
            })
            .collect();
        out.push('\n');
        out.push_str(&table(&["ADAPTER", "MALFORMED", "UNMATCHED", "DUPLICATES"], &rows));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_and_bounds_read_naturally() {
        let text = table(&["A", "LONGER"], &[vec!["wide cell".into(), "1".into()]]);
        assert_eq!(text, "A          LONGER\nwide cell  1\n");
        let h = HistogramSnapshot {
            count: 1,
            ..Default::default()
        };
        assert_eq!(bound(Some(0.00025), &h), "250µs");
        assert_eq!(bound(Some(0.0025), &h), "2.5ms");
        assert_eq!(bound(Some(2.5), &h), "2.5s");
        assert_eq!(bound(None, &HistogramSnapshot::default()), "-");
    }

    #[test]
    fn quarantine_ends_are_shown_in_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(1_800_000_000_999), "2027-01-15 08:00:00");
    }
}
