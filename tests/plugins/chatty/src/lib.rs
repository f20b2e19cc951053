//! Fixture: floods the log and the scheduler on console commands, to test the host's containment.
//!
//! `chatty flood <n>`: writes `n` short lines `chatty flood line <i>` to stdout (in 64 KiB writes), then answers
//! `chatty: flooded <n>`. `chatty say <text>`: one line through `coral:bot/log`. `chatty renew <k>`: adds `k`
//! zero-delay one-shot jobs, each of which adds itself again (after 0 s) from the timer handler. `chatty count`:
//! answers `chatty: count <timer events handled so far>`.

use coral_sdk::TimerEvent;
use coral_sdk::prelude::*;
use coral_sdk::schedule::{self, When};
use std::io::Write;

struct Chatty {
    timers: u64,
}

fn flood(n: u64) {
    let mut out = std::io::stdout().lock();
    let mut buf = String::with_capacity(70 * 1024);
    for i in 0..n {
        buf.push_str("chatty flood line ");
        buf.push_str(&i.to_string());
        buf.push('\n');
        if buf.len() >= 64 * 1024 {
            let _ = out.write_all(buf.as_bytes());
            buf.clear();
        }
    }
    let _ = out.write_all(buf.as_bytes());
    let _ = out.flush();
}

impl Plugin for Chatty {
    fn metadata() -> Metadata {
        Metadata::new("chatty", "0.1.0")
            .description("log and timer flood fixture")
            .capabilities(["send", "schedule"])
            .events([EventCategory::Message, EventCategory::Timer])
    }

    fn init(_config: Config) -> Result<Self, String> {
        Ok(Chatty { timers: 0 })
    }

    fn on_message(&mut self, bot: &Bot, msg: &MessageEvent) -> HandlerResult {
        let Some(line) = msg.plain_text.strip_prefix("chatty ") else {
            return Ok(());
        };
        let (op, arg) = line.split_once(' ').unwrap_or((line, ""));
        let answer = match op {
            "flood" => {
                let n = arg.parse().unwrap_or(0);
                flood(n);
                format!("flooded {n}")
            }
            "say" => {
                coral_sdk::log::info(arg);
                "said".to_string()
            }
            "renew" => {
                let k: u32 = arg.parse().unwrap_or(1);
                let mut added = 0;
                for i in 0..k {
                    if schedule::add(&format!("renew-{i}"), When::AfterSecs(0), "").is_ok() {
                        added += 1;
                    }
                }
                format!("renewing {added}")
            }
            "count" => format!("count {}", self.timers),
            _ => format!("unknown command {op:?}"),
        };
        bot.reply(msg, format!("chatty: {answer}"))?;
        Ok(())
    }

    fn on_timer(&mut self, timer: &TimerEvent) -> HandlerResult {
        self.timers += 1;
        schedule::add(&timer.name, When::AfterSecs(0), "")?;
        Ok(())
    }
}

export_plugin!(Chatty);
