//! The host's recent log lines, kept for the web console's live tail: a `tracing` layer that formats each event
//! (level, target, message, fields) into a bounded ring shared by the whole process.

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::OnceLock;
use tracing::field::{Field, Visit};

/// Lines kept.
pub const KEPT: usize = 2000;
/// Longest line kept, bytes (a longer one is cut).
pub const MAX_LINE: usize = 2000;

/// One log line.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Line {
    /// Its number, counting from 1 since the host started.
    pub seq: u64,
    /// Unix time, ms.
    pub time_ms: u64,
    /// `ERROR`, `WARN`, `INFO`, `DEBUG`, `TRACE`.
    pub level: &'static str,
    /// The module that logged it.
    pub target: String,
    /// The message and its fields (`message k=v …`).
    pub text: String,
}

/// The ring of recent lines.
#[derive(Default)]
pub struct Ring {
    lines: Mutex<(u64, VecDeque<Line>)>,
}

impl Ring {
    /// The process's ring (what [`Layer`] writes).
    pub fn global() -> &'static Ring {
        static RING: OnceLock<Ring> = OnceLock::new();
        RING.get_or_init(Ring::default)
    }

    /// Keep a line.
    pub fn push(&self, level: &'static str, target: &str, mut text: String) {
        coral_model::text::cut(&mut text, MAX_LINE);
        let mut lines = self.lines.lock();
        lines.0 += 1;
        let seq = lines.0;
        if lines.1.len() >= KEPT {
            lines.1.pop_front();
        }
        lines.1.push_back(Line {
            seq,
            time_ms: coral_ops::audit::now_ms(),
            level,
            target: target.to_string(),
            text,
        });
    }

    /// The lines after `after` (at most `limit`, the newest), oldest first.
    pub fn after(&self, after: u64, limit: usize) -> Vec<Line> {
        let lines = self.lines.lock();
        let newer: Vec<&Line> = lines.1.iter().filter(|l| l.seq > after).collect();
        newer[newer.len().saturating_sub(limit)..]
            .iter()
            .map(|l| (*l).clone())
            .collect()
    }
}

/// The `tracing` layer that fills [`Ring::global`].
pub struct Layer;

/// An event's message and its other fields, as text.
#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        use std::fmt::Write as _;
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Layer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: tracing_subscriber::layer::Context<'_, S>) {
        let meta = event.metadata();
        let mut text = Text::default();
        event.record(&mut text);
        text.message.push_str(&text.fields);
        Ring::global().push(meta.level().as_str(), meta.target(), text.message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_lines_and_reads_after_a_number() {
        let ring = Ring::default();
        for i in 0..KEPT + 5 {
            ring.push("INFO", "t", format!("line {i}"));
        }
        let all = ring.after(0, usize::MAX);
        assert_eq!(all.len(), KEPT);
        assert_eq!(all[0].text, "line 5");
        let last = ring.after(all[KEPT - 2].seq, 10);
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].text, format!("line {}", KEPT + 4));
        assert_eq!(ring.after(0, 3).len(), 3, "the newest 3");
        ring.push("WARN", "t", "x".repeat(MAX_LINE * 2));
        assert!(ring.after(0, usize::MAX).last().unwrap().text.len() <= MAX_LINE + 4);
    }
}
