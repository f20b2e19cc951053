//! Fixture: drives `coral:bot/storage` and `coral:bot/schedule` from console lines addressed by its tag
//! (`[plugins.<name>.config] tag = "a"`, default `kv`), so two copies of the same wasm can be told apart.
//!
//! `<tag> set <key> <value>`, `get <key>`, `del <key>`, `list <prefix>`, `incr <key> <n>`,
//! `cas <key> <expected|-> <new|->`, `fill <n> <bytes>` (set `fill<i>` until the first error), `bench <n>`
//! (n/2 sets then n/2 gets), `remind <secs> <text>` (a one-shot job), `jobs`. Answers `<tag>: <op> ok <value>` or
//! `<tag>: <op> err <code> <retcode> <message>`. A fired job is sent privately to whoever asked, as
//! `<tag>: timer <name> <text>`. The config schema requires `tag` to be a short string.

use coral_sdk::prelude::*;
use coral_sdk::schedule::{self, When};
use coral_sdk::{TimerEvent, storage};

struct Kv {
    tag: String,
}

fn code(e: &Error) -> &'static str {
    match e.code {
        ErrorCode::InvalidArgument => "invalid-argument",
        ErrorCode::PermissionDenied => "permission-denied",
        ErrorCode::QuotaExceeded => "quota-exceeded",
        ErrorCode::RateLimited => "rate-limited",
        ErrorCode::Unsupported => "unsupported",
        _ => "other",
    }
}

fn show<T: std::fmt::Display>(op: &str, result: Result<T, Error>) -> String {
    match result {
        Ok(v) => format!("{op} ok {v}"),
        Err(e) => format!("{op} err {} {} {}", code(&e), e.retcode, e.message),
    }
}

fn opt(text: &str) -> Option<&[u8]> {
    (text != "-").then_some(text.as_bytes())
}

fn text(value: Option<Vec<u8>>) -> String {
    value.map_or("none".into(), |v| String::from_utf8_lossy(&v).into_owned())
}

impl Kv {
    fn run(&self, bot: &Bot, msg: &MessageEvent, line: &str) -> String {
        let mut words = line.splitn(3, ' ');
        let op = words.next().unwrap_or("");
        let a = words.next().unwrap_or("");
        let b = words.next().unwrap_or("");
        match op {
            "set" => show(op, storage::set(a, b.as_bytes(), None).map(|()| "stored")),
            "get" => show(op, storage::get(a).map(text)),
            "del" => show(op, storage::delete(a)),
            "list" => show(op, storage::list_keys(a).map(|k| format!("[{}]", k.join(",")))),
            "incr" => show(op, storage::increment(a, b.parse().unwrap_or(1))),
            "cas" => {
                let (expected, new) = b.split_once(' ').unwrap_or((b, "-"));
                show(op, storage::compare_and_swap(a, opt(expected), opt(new)))
            }
            "fill" => {
                let n: usize = a.parse().unwrap_or(0);
                let value = vec![b'x'; b.parse().unwrap_or(1)];
                for i in 0..n {
                    if let Err(e) = storage::set(&format!("fill{i}"), &value, None) {
                        return format!("fill stopped at {i}: err {} {} {}", code(&e), e.retcode, e.message);
                    }
                }
                format!("fill ok {n}")
            }
            "bench" => {
                let n: usize = a.parse().unwrap_or(0);
                let half = n / 2;
                for i in 0..half {
                    if let Err(e) = storage::set(&format!("bench{}", i % 1000), b"0123456789abcdef", None) {
                        return format!("bench err {}", e.message);
                    }
                }
                for i in 0..(n - half) {
                    if let Err(e) = storage::get(&format!("bench{}", i % 1000)) {
                        return format!("bench err {}", e.message);
                    }
                }
                format!("bench ok {n}")
            }
            "remind" => {
                let payload = serde_json::json!({"self_id": bot.self_id(), "user": msg.user_id, "text": b});
                let name = format!("remind-{a}");
                show(
                    op,
                    schedule::add(&name, When::AfterSecs(a.parse().unwrap_or(60)), &payload.to_string()).map(|()| name),
                )
            }
            "cron" => show(
                op,
                schedule::add(a, When::Cron(b.to_string()), "").map(|()| a.to_string()),
            ),
            "when" => show(
                op,
                schedule::list().map(|jobs| match jobs.iter().find(|j| j.name == a) {
                    // The job's line as stored, and the UTC time of day it next fires.
                    Some(j) => {
                        let minute = j.next_due_ms / 60_000 % 1440;
                        format!("{:?} utc={:02}:{:02}", j.when, minute / 60, minute % 60)
                    }
                    None => "none".into(),
                }),
            ),
            "jobs" => show(
                op,
                schedule::list().map(|jobs| {
                    format!(
                        "[{}]",
                        jobs.iter().map(|j| j.name.clone()).collect::<Vec<_>>().join(",")
                    )
                }),
            ),
            _ => format!("unknown command {op:?}"),
        }
    }
}

impl Plugin for Kv {
    fn metadata() -> Metadata {
        Metadata::new("kv", "0.1.0")
            .description("storage and schedule test fixture")
            .capabilities(["send", "storage", "schedule"])
            .events([EventCategory::Message, EventCategory::Timer])
            .config_schema(&serde_json::json!({
                "type": "object",
                "properties": {"tag": {"type": "string", "minLength": 1, "maxLength": 8}},
                "additionalProperties": false
            }))
    }

    fn init(config: Config) -> Result<Self, String> {
        Ok(Kv {
            tag: config.get("tag").unwrap_or_else(|| "kv".into()),
        })
    }

    fn on_message(&mut self, bot: &Bot, msg: &MessageEvent) -> HandlerResult {
        let Some(line) = msg.plain_text.strip_prefix(&format!("{} ", self.tag)) else {
            return Ok(());
        };
        let answer = self.run(bot, msg, line);
        bot.reply(msg, format!("{}: {answer}", self.tag))?;
        Ok(())
    }

    fn on_timer(&mut self, timer: &TimerEvent) -> HandlerResult {
        let payload: serde_json::Value = serde_json::from_str(&timer.payload)?;
        let bot = get_bot(payload["self_id"].as_str().unwrap_or_default());
        let user = payload["user"].as_str().unwrap_or_default();
        let text = payload["text"].as_str().unwrap_or_default();
        bot.send_private_message(user, format!("{}: timer {} {text}", self.tag, timer.name))?;
        Ok(())
    }
}

export_plugin!(Kv);
