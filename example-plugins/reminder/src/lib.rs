//! `reminder`: `remind me in 10m tea` (s, m, h or d) sends "reminder: tea" back to the same chat when the time
//! comes, even across restarts; `reminders` lists yours. Daily messages come from config, each on a cron
//! line in UTC:
//!
//! ```toml
//! [[plugins.reminder.config.daily]]
//! cron = "0 8 * * mon-fri"
//! group = "1000001"        # or user = "10000"
//! text = "stand-up in 15 minutes"
//! bot = "console"          # the bot that sends it (default "console")
//! ```
//!
//! At setup it (re)adds `daily:<n>` jobs from config and cancels daily jobs no longer there. Grants it asks for:
//! `schedule`, `send`.

use coral_sdk::TimerEvent;
use coral_sdk::prelude::*;
use coral_sdk::schedule::{self, When};
use serde_json::{Value, json};

struct Reminder;

/// `10m` → 600 seconds.
fn parse_delay(text: &str) -> Option<u64> {
    let unit = text.chars().last()?;
    let n: u64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    n.checked_mul(scale)
}

fn chat_json(chat: &Chat) -> Value {
    match chat {
        Chat::Group(g) => json!({"group": g}),
        Chat::Private(u) => json!({"user": u}),
    }
}

/// An id written as a string or a number.
fn id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn chat_of(v: &Value) -> Option<Chat> {
    if let Some(g) = id(&v["group"]) {
        return Some(Chat::Group(g));
    }
    id(&v["user"]).map(Chat::Private)
}

/// Replace the `daily:*` jobs with those in config.
fn sync_daily(config: &Config) -> Result<(), String> {
    let daily: Vec<Value> = config.get("daily").unwrap_or_default();
    let wanted: Vec<String> = (0..daily.len()).map(|i| format!("daily:{i}")).collect();
    let jobs = match schedule::list() {
        Ok(jobs) => jobs,
        // Without `schedule` nothing works, but with no daily entries that is not worth refusing to load.
        Err(e) if daily.is_empty() => {
            log::warn(format!("cannot list jobs: {}", e.message));
            return Ok(());
        }
        Err(e) => return Err(format!("cannot list jobs: {}", e.message)),
    };
    for job in jobs
        .iter()
        .filter(|j| j.name.starts_with("daily:") && !wanted.contains(&j.name))
    {
        schedule::cancel(&job.name).map_err(|e| format!("cannot cancel {}: {}", job.name, e.message))?;
    }
    for (name, entry) in wanted.iter().zip(&daily) {
        let cron = entry["cron"].as_str().unwrap_or_default();
        if chat_of(entry).is_none() {
            return Err(format!("daily entry {name}: give `group` or `user`"));
        }
        let payload = json!({
            "bot": entry["bot"].as_str().unwrap_or("console"),
            "chat": entry,
            "text": entry["text"].as_str().unwrap_or_default(),
        });
        schedule::add(name, When::Cron(cron.to_string()), &payload.to_string())
            .map_err(|e| format!("daily entry {name} ({cron:?}): {}", e.message))?;
    }
    Ok(())
}

impl Plugin for Reminder {
    fn metadata() -> Metadata {
        Metadata::new("reminder", env!("CARGO_PKG_VERSION"))
            .description("one-off reminders and daily messages, kept across restarts")
            .capabilities(["schedule", "send"])
            .events([EventCategory::Message, EventCategory::Timer])
            .config_schema(&json!({
                "type": "object",
                "properties": {
                    "daily": {
                        "type": "array",
                        "maxItems": 16,
                        "items": {
                            "type": "object",
                            "properties": {
                                "cron": {"type": "string", "minLength": 1},
                                "group": {"type": ["string", "integer"]},
                                "user": {"type": ["string", "integer"]},
                                "text": {"type": "string", "minLength": 1, "maxLength": 2000},
                                "bot": {"type": "string"}
                            },
                            "required": ["cron", "text"],
                            "additionalProperties": false
                        }
                    }
                },
                "additionalProperties": false
            }))
    }

    fn init(config: Config) -> Result<Self, String> {
        sync_daily(&config)?;
        Ok(Reminder)
    }

    fn on_message(&mut self, bot: &Bot, msg: &MessageEvent) -> HandlerResult {
        let text = msg.plain_text.trim();
        if text == "reminders" {
            let prefix = format!("once:{}:", msg.user_id);
            let mine: Vec<String> = schedule::list()?
                .into_iter()
                .filter(|j| j.name.starts_with(&prefix))
                .map(|j| {
                    let payload: Value = serde_json::from_str(&j.payload).unwrap_or_default();
                    payload["text"].as_str().unwrap_or_default().to_string()
                })
                .collect();
            let answer = if mine.is_empty() {
                "no reminders pending".to_string()
            } else {
                format!("{} pending: {}", mine.len(), mine.join(", "))
            };
            bot.reply(msg, answer)?;
            return Ok(());
        }
        let Some(rest) = text.strip_prefix("remind me in ") else {
            return Ok(());
        };
        let (delay, what) = rest.split_once(' ').unwrap_or((rest, ""));
        let (Some(secs), false) = (parse_delay(delay), what.trim().is_empty()) else {
            bot.reply(msg, "usage: remind me in <number><s|m|h|d> <text>")?;
            return Ok(());
        };
        let name = format!("once:{}:{}", msg.user_id, msg.message_id);
        let payload = json!({"bot": bot.self_id(), "chat": chat_json(&msg.chat()), "text": what.trim()});
        let answer = match schedule::add(&name, When::AfterSecs(secs), &payload.to_string()) {
            Ok(()) => format!("ok, in {delay}: {}", what.trim()),
            Err(e) => format!("cannot set that reminder: {}", e.message),
        };
        bot.reply(msg, answer)?;
        Ok(())
    }

    fn on_timer(&mut self, timer: &TimerEvent) -> HandlerResult {
        let payload: Value = serde_json::from_str(&timer.payload)?;
        let Some(chat) = chat_of(&payload["chat"]) else {
            return Err(format!("job {} has no chat", timer.name).into());
        };
        let bot = get_bot(payload["bot"].as_str().unwrap_or("console"));
        let text = payload["text"].as_str().unwrap_or_default();
        let text = if timer.name.starts_with("once:") {
            format!("reminder: {text}")
        } else {
            text.to_string()
        };
        bot.send_message(&chat, text)?;
        Ok(())
    }
}

export_plugin!(Reminder);
